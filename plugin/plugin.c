/*
 * plugin.c - Cyrus SASL client plugin: XOAUTH2 and OAUTHBEARER with access
 *            tokens from the oauth2-token-helper daemon
 *
 * SYNOPSIS
 *	Installed in libsasl2's plugin directory (liboauth2helper.so). The
 *	only exported symbol is sasl_client_plug_init().
 *
 * DESCRIPTION
 *	Per authentication, the plugin takes the SASL authname (Postfix: the
 *	user part of the smtp_sasl_password_maps value), asks the daemon for
 *	"account <authname>" over its UNIX socket (socketmap protocol), and
 *	sends the server an XOAUTH2 or OAUTHBEARER initial response for the
 *	login and access token the daemon returned. It never talks HTTP and
 *	never sees a refresh token or a client secret.
 *
 *	The SASL password is not a secret here and is normally ignored. One
 *	form has a meaning: "account=NAME" asks the daemon for account NAME
 *	and authenticates as the authname (a shared mailbox, sent as by the
 *	delegate NAME whose token has the right to it).
 *
 *	Configuration: sasl_client_plug_init() runs in Postfix's pre-jail
 *	init, as root, with the queue directory as working directory; it
 *	reads the global "socket" key of the helper's config file (the
 *	OAUTH2_TOKEN_HELPER_CONFIG environment variable, else the built-in
 *	path) with the daemon's lexer (common/ini.c), uses the daemon's
 *	built-in socket when the file sets none or cannot be read, and
 *	remembers the socket's path relative to the working directory too,
 *	so that a chrooted smtp(8) still reaches it.
 *
 *	A daemon restart: each process keeps, for up to eight accounts (the
 *	oldest makes way), the last token the daemon gave, while that token
 *	has more than OAUTH2_TOKEN_MIN_REMAINING_S (tokenlife.h) left: the
 *	rule the daemon serves by. It is used only when the daemon cannot be
 *	reached (no socket, nobody listening, or no answer in time); every
 *	answer of the daemon wins, and one without a token (TEMP, PERM,
 *	NOTFOUND) drops what was kept. The daemon's wall-clock expiry becomes
 *	a CLOCK_MONOTONIC deadline when the reply arrives. Postfix's smtp(8)
 *	serves many logins per process, so a restart of a few seconds costs
 *	no login in a process that has logged in before.
 *
 *	Error challenge: after our initial response, Gmail and Dovecot report
 *	a bad token with a 334 challenge (base64 JSON) and wait for an answer
 *	before their final 535: an empty response for XOAUTH2, a single \1
 *	for OAUTHBEARER (RFC 7628). Office 365 answers 535 at once. Because
 *	such a challenge may follow, the plugin never sets oparams->doneflag.
 *
 * DIAGNOSTICS
 *	Every failure logs one line through the application's log callback
 *	(SASL_LOG_ERR; Postfix shows "warning: SASL authentication problem:")
 *	and sets the same text for sasl_errdetail(). The line names the
 *	account and ends with "temporary, mail stays queued" or "needs a
 *	person: <what to fix>". Return codes: SASL_TRYAGAIN (temporary),
 *	SASL_FAIL (needs a person), SASL_BADPROT (the server broke the
 *	exchange), SASL_NOMEM. Postfix defers the mail (4.7.0) for any of
 *	them; none of them is SASL_INTERACT, which Postfix cannot serve.
 *	A login served by a kept token logs one SASL_LOG_WARN line ("using
 *	the token this process got from it earlier"), not an error: Postfix
 *	shows SASL_LOG_NOTE lines only when smtp(8) runs with -v.
 *
 * SECURITY
 *	The plugin runs inside someone else's process: it returns SASL_*
 *	codes and never exits, aborts or writes to stdio, and keeps no
 *	global mutable state (its tables live in memory handed to libsasl).
 *	Buffers holding a token are wiped with explicit_bzero() before they
 *	are freed. Neither the token nor the SASL password is ever logged.
 *	A kept token is wiped when replaced, when the daemon answers without
 *	one, at the first login after its deadline, on eviction, and when
 *	libsasl frees the plugin; the kept table is guarded by libsasl's
 *	mutex callbacks for threaded applications.
 *	The server's challenge and the daemon's reasons are untrusted text:
 *	they are cut short and reduced to printable ASCII before logging.
 */
#include "autoconfig.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include <sasl/sasl.h>
#include <sasl/saslplug.h>

#include "clock.h"
#include "ini.h"
#include "netstring.h"
#include "paths.h"
#include "protocol.h"
#include "saslwire.h"
#include "sockclient.h"
#include "text.h"
#include "tokenlife.h"

/* How long one daemon query may take, connect to last byte. */
#define OAUTH2_QUERY_TIMEOUT_MS 30000

/* A sun_path, the limit for both socket paths. */
#define OAUTH2_SOCKET_MAX sizeof(((struct sockaddr_un *)0)->sun_path)

/* The daemon's "account" reply: "login=L expires=N token=T". */
#define OAUTH2_REPLY_MAX PROTOCOL_MAX_REPLY

/* An initial response: the token, a login, a host name and the framing. */
#define OAUTH2_RESPONSE_MAX (SASLWIRE_MAX_TOKEN + SASLWIRE_MAX_LOGIN + 512)

/* How much of a server challenge, or of a daemon reason, reaches the log. */
#define OAUTH2_CHALLENGE_SHOW 100
#define OAUTH2_REASON_SHOW 200

/* Longest diagnostic line. */
#define OAUTH2_MSG_MAX 1536

#define OAUTH2_TEMPORARY "temporary, mail stays queued"

/* Accounts whose last token one process keeps for a daemon outage; the oldest makes way. */
#define OAUTH2_KEEP_ACCOUNTS 8

/* A kept token is never used longer than this, whatever expiry the daemon gave. */
#define OAUTH2_KEEP_MAX_S 86400

/* The two mechanisms share everything but their wire format. */
typedef enum {
    OAUTH2_MECH_XOAUTH2,
    OAUTH2_MECH_OAUTHBEARER,
    OAUTH2_MECH_COUNT,
} oauth2_mech;

typedef struct oauth2_plugin oauth2_plugin;

/*
 * oauth2_kept - the last token the daemon gave for one account, kept for
 * the logins that find the daemon unreachable (a restart). Deadlines are
 * on CLOCK_MONOTONIC: a clock step cannot stretch a token's use.
 */
typedef struct {
    char account[SASLWIRE_MAX_LOGIN + 1]; /* the account asked of the daemon; "" = free */
    char login[SASLWIRE_MAX_LOGIN + 1];   /* the daemon's login for it */
    char *token;                          /* utils->malloc; wiped before reuse or free */
    size_t token_size;                    /* bytes allocated at token */
    long long usable_until_ms;            /* monotonic: not used from then on */
    unsigned long long seq;               /* when stored (a count), to evict the oldest */
} oauth2_kept;

/* oauth2_mech_glob - one mechanism table entry's glob_context */
typedef struct {
    oauth2_plugin *plugin; /* the block this entry lives in */
    oauth2_mech mech;      /* which wire format */
} oauth2_mech_glob;

/*
 * oauth2_plugin - everything sasl_client_plug_init() hands to libsasl, in
 * one utils->malloc block: the mechanism table libsasl keeps pointers
 * into, each entry's glob_context, and the socket settings read at init.
 * libsasl calls mech_free once per table entry, so the block counts its
 * entries and the last mech_free frees it. One block per init means a
 * second initialisation (or a second copy of the plugin on SASL_PATH)
 * never shares or double-frees state.
 */
struct oauth2_plugin {
    unsigned refs;                               /* table entries not yet freed */
    sasl_client_plug_t table[OAUTH2_MECH_COUNT]; /* handed to libsasl */
    oauth2_mech_glob globs[OAUTH2_MECH_COUNT];   /* table[i].glob_context */
    char socket_path[OAUTH2_SOCKET_MAX];         /* the daemon's socket */
    char alt_path[OAUTH2_SOCKET_MAX];            /* same, relative to the cwd at init; "" if none */
    char source[512];                            /* where socket_path came from, for messages */
    int from_config;                             /* socket_path was read from the config */
    void *lock;                                  /* utils->mutex_alloc; guards kept[] */
    oauth2_kept kept[OAUTH2_KEEP_ACCOUNTS];      /* tokens for a daemon outage (see above) */
    unsigned long long kept_seq;                 /* tokens stored so far: kept[].seq */
};

/* Where one authentication stands; every step switches on it. */
typedef enum {
    OAUTH2_STATE_START,      /* nothing sent: fetch a token, send the initial response */
    OAUTH2_STATE_SENT,       /* initial response sent: a challenge now reports an error */
    OAUTH2_STATE_RESENT,     /* initial response sent again after an empty challenge */
    OAUTH2_STATE_ERROR_SENT, /* error challenge answered: the server must end the exchange */
    OAUTH2_STATE_FAILED,     /* a step failed: nothing more to do */
} oauth2_state;

/* oauth2_context - one authentication (mech_new to mech_dispose) */
typedef struct {
    oauth2_state state;
    const oauth2_mech_glob *glob;
    char account[SASLWIRE_MAX_LOGIN + 1];  /* the account asked of the daemon */
    char authname[SASLWIRE_MAX_LOGIN + 1]; /* the SASL authname */
    char login[SASLWIRE_MAX_LOGIN + 1];    /* the login sent to the server */
    int delegate;                          /* password was "account=NAME" */
    char *response;                        /* initial response; holds a token, wiped */
    size_t response_size;
    size_t response_len;
} oauth2_context;

/* oauth2_mech_name - the mechanism's name, for messages */
static const char *oauth2_mech_name(oauth2_mech mech)
{
    return mech == OAUTH2_MECH_OAUTHBEARER ? "OAUTHBEARER" : "XOAUTH2";
}

/*
 * oauth2_vreport - one diagnostic line: logged at SASL_LOG_ERR and kept
 * for sasl_errdetail(). The text never holds a token or the password:
 * callers pass only names, paths and sanitised reasons.
 */
__attribute__((format(printf, 2, 0))) static void oauth2_vreport(const sasl_utils_t *utils,
                                                                 const char *fmt, va_list ap)
{
    char msg[OAUTH2_MSG_MAX];

    vsnprintf(msg, sizeof(msg), fmt, ap);
    /* libsasl's own formatter knows only a few conversions: hand it a finished string. */
    utils->log(utils->conn, SASL_LOG_ERR, "%s", msg);
    /* SASL_NOLOG: seterror would log the line again, at SASL_LOG_FAIL. */
    utils->seterror(utils->conn, SASL_NOLOG, "%s", msg);
}

/* oauth2_report - report a failure that the exchange carries on from */
__attribute__((format(printf, 2, 3))) static void oauth2_report(const sasl_utils_t *utils,
                                                                const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    oauth2_vreport(utils, fmt, ap);
    va_end(ap);
}

/* oauth2_fail - report a failure and return its code */
__attribute__((format(printf, 3, 4))) static int oauth2_fail(const sasl_utils_t *utils, int code,
                                                             const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    oauth2_vreport(utils, fmt, ap);
    va_end(ap);
    return code;
}

/* oauth2_who - "account A" or "account A (sending as B)", for message prefixes */
static void oauth2_who(const oauth2_context *ctx, char *out, size_t outsize)
{
    if (ctx->delegate)
        snprintf(out, outsize, "account %s (sending as %s)", ctx->account, ctx->authname);
    else
        snprintf(out, outsize, "account %s", ctx->account);
}

/*
 * oauth2_reach_reason - why the socket could not be reached, for "... at PATH (REASON)"
 *
 * The errno text alone when connect failed: the relative path names the
 * same socket, so which of the two was tried last does not matter to the
 * reader; sockclient's whole message otherwise.
 */
static void oauth2_reach_reason(const oauth2_plugin *plugin, const struct sockclient_reply *r,
                                char *out, size_t outsize)
{
    char source[sizeof(plugin->source) + 4] = "";

    if (!plugin->from_config)
        snprintf(source, sizeof(source), "; %s", plugin->source);
    snprintf(out, outsize, "%s%s", r->connect_errno != 0 ? strerror(r->connect_errno) : r->err,
             source);
}

/* oauth2_kept_lock - take the lock on plugin->kept; 0 when there is none (nothing is kept) */
static int oauth2_kept_lock(const sasl_utils_t *utils, oauth2_plugin *plugin)
{
    return plugin->lock != NULL && utils->mutex_lock(plugin->lock) == SASL_OK;
}

/* oauth2_kept_unlock - release the lock taken by oauth2_kept_lock */
static void oauth2_kept_unlock(const sasl_utils_t *utils, oauth2_plugin *plugin)
{
    utils->mutex_unlock(plugin->lock);
}

/* oauth2_kept_clear - wipe one slot and free its token */
static void oauth2_kept_clear(const sasl_utils_t *utils, oauth2_kept *k)
{
    if (k->token != NULL) {
        explicit_bzero(k->token, k->token_size);
        utils->free(k->token);
    }
    explicit_bzero(k, sizeof(*k));
}

/* oauth2_kept_sweep - drop every kept token whose time is up; the caller holds the lock */
static void oauth2_kept_sweep(const sasl_utils_t *utils, oauth2_plugin *plugin, long long now_ms)
{
    int i;

    for (i = 0; i < OAUTH2_KEEP_ACCOUNTS; i++) {
        if (plugin->kept[i].account[0] != '\0' && now_ms >= plugin->kept[i].usable_until_ms)
            oauth2_kept_clear(utils, &plugin->kept[i]);
    }
}

/* oauth2_kept_find - the slot kept for account, or NULL; the caller holds the lock */
static oauth2_kept *oauth2_kept_find(oauth2_plugin *plugin, const char *account)
{
    int i;

    for (i = 0; i < OAUTH2_KEEP_ACCOUNTS; i++) {
        if (plugin->kept[i].account[0] != '\0' && strcmp(plugin->kept[i].account, account) == 0)
            return &plugin->kept[i];
    }
    return NULL;
}

/* oauth2_kept_slot - a free slot, else the one kept longest ago; the caller holds the lock */
static oauth2_kept *oauth2_kept_slot(oauth2_plugin *plugin)
{
    oauth2_kept *oldest = &plugin->kept[0];
    int i;

    for (i = 0; i < OAUTH2_KEEP_ACCOUNTS; i++) {
        if (plugin->kept[i].account[0] == '\0')
            return &plugin->kept[i];
        if (plugin->kept[i].seq < oldest->seq)
            oldest = &plugin->kept[i];
    }
    return oldest;
}

/*
 * oauth2_keep - remember the token the daemon just gave for account
 *
 * Only while it has more than OAUTH2_TOKEN_MIN_REMAINING_S left, the
 * daemon's own rule. The daemon's expiry is wall-clock time; it becomes a
 * monotonic deadline here, once. Best effort: without memory or a lock,
 * nothing is kept and a daemon outage defers mail as it always did.
 */
static void oauth2_keep(const sasl_utils_t *utils, oauth2_plugin *plugin, const char *account,
                        const char *login, const char *token, long long expires)
{
    long long now_ms = clock_mono_ms();
    long long left_s = expires - clock_wall_s();
    size_t len = strlen(token);
    oauth2_kept *k;

#ifdef OAUTH2_NO_KEEP
    /* bench/ builds the plugin this way too, to measure a login without keeping. */
    return;
#endif
    if (!oauth2_kept_lock(utils, plugin))
        return;
    oauth2_kept_sweep(utils, plugin, now_ms);
    k = oauth2_kept_find(plugin, account);
    if (left_s <= OAUTH2_TOKEN_MIN_REMAINING_S) {
        if (k != NULL)
            oauth2_kept_clear(utils, k);
        goto out;
    }
    if (left_s > OAUTH2_KEEP_MAX_S)
        left_s = OAUTH2_KEEP_MAX_S;
    if (k == NULL) {
        k = oauth2_kept_slot(plugin);
        oauth2_kept_clear(utils, k);
    }
    if (k->token != NULL && k->token_size > len) {
        explicit_bzero(k->token, k->token_size);
    } else {
        oauth2_kept_clear(utils, k);
        k->token = utils->malloc(len + 1);
        if (k->token == NULL)
            goto out;
        k->token_size = len + 1;
    }
    memcpy(k->token, token, len + 1);
    snprintf(k->account, sizeof(k->account), "%s", account);
    snprintf(k->login, sizeof(k->login), "%s", login);
    k->usable_until_ms = now_ms + (left_s - OAUTH2_TOKEN_MIN_REMAINING_S) * 1000;
    k->seq = ++plugin->kept_seq;
out:
    oauth2_kept_unlock(utils, plugin);
}

/* oauth2_forget - the daemon answered account without a token: drop what was kept for it */
static void oauth2_forget(const sasl_utils_t *utils, oauth2_plugin *plugin, const char *account)
{
    oauth2_kept *k;

    if (!oauth2_kept_lock(utils, plugin))
        return;
    k = oauth2_kept_find(plugin, account);
    if (k != NULL)
        oauth2_kept_clear(utils, k);
    oauth2_kept_unlock(utils, plugin);
}

/*
 * oauth2_kept_take - copy the token kept for account into login and token
 * while it may still be used; returns the seconds it may still be used
 * for, or -1 (nothing copied)
 */
static long long oauth2_kept_take(const sasl_utils_t *utils, oauth2_plugin *plugin,
                                  const char *account, char *login, size_t loginsize, char *token,
                                  size_t tokensize)
{
    long long now_ms = clock_mono_ms();
    long long left = -1;
    oauth2_kept *k;

    if (!oauth2_kept_lock(utils, plugin))
        return -1;
    oauth2_kept_sweep(utils, plugin, now_ms);
    k = oauth2_kept_find(plugin, account);
    if (k != NULL && k->token_size <= tokensize && strlen(k->login) < loginsize) {
        memcpy(token, k->token, k->token_size);
        snprintf(login, loginsize, "%s", k->login);
        left = (k->usable_until_ms - now_ms) / 1000;
    }
    oauth2_kept_unlock(utils, plugin);
    return left;
}

/*
 * oauth2_get_authname - the SASL authname, from the application's callback
 *
 * Postfix passes no prompt array, so a callback that wants interaction
 * (a NULL proc) counts as no authname: this plugin never returns
 * SASL_INTERACT.
 */
static int oauth2_get_authname(const sasl_utils_t *utils, const char **name, unsigned *len)
{
    sasl_getsimple_t *getsimple = NULL;
    void *context = NULL;
    int rc;

    *name = NULL;
    *len = 0;
    rc =
        utils->getcallback(utils->conn, SASL_CB_AUTHNAME, (sasl_callback_ft *)&getsimple, &context);
    if (rc == SASL_INTERACT)
        return oauth2_fail(utils, SASL_FAIL,
                           "oauth2-token-helper: the application wants to prompt for the SASL "
                           "user name (authname), which this plugin does not do; needs a person: "
                           "give the user name in smtp_sasl_password_maps (ACCOUNT:x)");
    if (rc == SASL_OK && getsimple != NULL)
        rc = getsimple(context, SASL_CB_AUTHNAME, name, len);
    if (rc != SASL_OK || getsimple == NULL || *name == NULL)
        return oauth2_fail(utils, SASL_FAIL,
                           "oauth2-token-helper: no SASL user name (authname) to look up; needs a "
                           "person: give the user name in smtp_sasl_password_maps (ACCOUNT:x)");
    return SASL_OK;
}

/*
 * oauth2_get_password - the SASL password, or NULL when there is none
 *
 * The password is not a secret for this plugin, but it is never logged:
 * only its "account=" form is read. The application owns the result.
 */
static sasl_secret_t *oauth2_get_password(const sasl_utils_t *utils)
{
    sasl_getsecret_t *getsecret = NULL;
    sasl_secret_t *secret = NULL;
    void *context = NULL;

    if (utils->getcallback(utils->conn, SASL_CB_PASS, (sasl_callback_ft *)&getsecret, &context) !=
            SASL_OK ||
        getsecret == NULL)
        return NULL;
    if (getsecret(utils->conn, context, SASL_CB_PASS, &secret) != SASL_OK)
        return NULL;
    return secret;
}

/* oauth2_identify - fill ctx->authname, ctx->account and ctx->delegate from the callbacks */
static int oauth2_identify(oauth2_context *ctx, const sasl_utils_t *utils)
{
    static const char delegate_prefix[] = "account=";
    const size_t prefixlen = sizeof(delegate_prefix) - 1;
    const sasl_secret_t *secret;
    const char *name;
    unsigned len;
    int rc;

    rc = oauth2_get_authname(utils, &name, &len);
    if (rc != SASL_OK)
        return rc;
    /* Some callbacks leave the length unset. */
    if (len == 0)
        len = (unsigned)strnlen(name, SASLWIRE_MAX_LOGIN + 1);
    if (!text_opaque_ok(name, len, SASLWIRE_MAX_LOGIN)) {
        char shown[80];

        text_clean(shown, sizeof(shown), name, len, 64, TEXT_ELLIPSIS);
        return oauth2_fail(utils, SASL_FAIL,
                           "oauth2-token-helper: account \"%s\": not a usable account name "
                           "(empty, over %d bytes, or with spaces or control characters); needs a "
                           "person: fix the user name in smtp_sasl_password_maps",
                           shown, SASLWIRE_MAX_LOGIN);
    }
    memcpy(ctx->authname, name, len);
    ctx->authname[len] = '\0';
    memcpy(ctx->account, ctx->authname, len + 1);

    /*
     * SASL_CB_USER (the authzid, which Postfix sends only with
     * send_cyrus_sasl_authzid = yes, and then equal to the authname) is not
     * asked for: XOAUTH2 has no field for it, and OAUTHBEARER's a= must
     * carry the login the token belongs to, which servers compare with
     * the token's subject. Acting for another identity is done with the
     * "account=" password form instead, so SASL_FEAT_ALLOWS_PROXY is not
     * declared.
     */
    secret = oauth2_get_password(utils);
    if (secret == NULL || secret->len < prefixlen ||
        memcmp(secret->data, delegate_prefix, prefixlen) != 0)
        return SASL_OK;
    if (!text_opaque_ok((const char *)secret->data + prefixlen, secret->len - prefixlen,
                        SASLWIRE_MAX_LOGIN))
        return oauth2_fail(utils, SASL_FAIL,
                           "oauth2-token-helper: account %s: the password field starts with "
                           "\"account=\" but the rest is not a usable account name; needs a "
                           "person: fix smtp_sasl_password_maps (SHARED:account=DELEGATE)",
                           ctx->authname);
    memcpy(ctx->account, secret->data + prefixlen, secret->len - prefixlen);
    ctx->account[secret->len - prefixlen] = '\0';
    ctx->delegate = 1;
    return SASL_OK;
}

/*
 * oauth2_query - ask the daemon for ctx->account; on SASL_OK, login and
 * token hold its answer (token must be wiped by the caller)
 */
static int oauth2_query(oauth2_context *ctx, const sasl_utils_t *utils, char *login,
                        size_t loginsize, char *token, size_t tokensize)
{
    oauth2_plugin *plugin = ctx->glob->plugin;
    char who[2 * SASLWIRE_MAX_LOGIN + 40];
    struct sockclient_reply r;
    char reason[1200];
    long long expires;
    long long left;
    char *reply;
    int rc;

    oauth2_who(ctx, who, sizeof(who));
    reply = utils->malloc(OAUTH2_REPLY_MAX);
    if (reply == NULL)
        return oauth2_fail(utils, SASL_NOMEM,
                           "oauth2-token-helper: %s: out of memory; " OAUTH2_TEMPORARY, who);
    sockclient_ask(plugin->socket_path, plugin->alt_path[0] != '\0' ? plugin->alt_path : NULL,
                   PROTOCOL_ACCOUNT, ctx->account, OAUTH2_QUERY_TIMEOUT_MS, &r, reply,
                   OAUTH2_REPLY_MAX);
    switch (r.result) {
    case SOCKCLIENT_OK:
        break;
    case SOCKCLIENT_UNREACHABLE:
        oauth2_reach_reason(plugin, &r, reason, sizeof(reason));
        left = oauth2_kept_take(utils, plugin, ctx->account, login, loginsize, token, tokensize);
        if (left >= 0) {
            /* WARN, not NOTE: Postfix logs SASL_LOG_NOTE only when smtp(8) runs with -v. */
            utils->log(utils->conn, SASL_LOG_WARN,
                       "oauth2-token-helper: %s: cannot reach the token daemon at %s (%s); "
                       "using the token this process got from it earlier (usable for %llds more)",
                       who, plugin->socket_path, reason, left);
            rc = SASL_OK;
            goto out;
        }
        rc = oauth2_fail(
            utils, SASL_TRYAGAIN,
            "oauth2-token-helper: %s: cannot reach the token daemon at %s (%s); " OAUTH2_TEMPORARY,
            who, plugin->socket_path, reason);
        goto out;
    case SOCKCLIENT_DENIED:
        oauth2_reach_reason(plugin, &r, reason, sizeof(reason));
        rc = oauth2_fail(utils, SASL_FAIL,
                         "oauth2-token-helper: %s: the token daemon's socket %s refused uid %u "
                         "(%s); needs a person: let this user reach the socket (its group and "
                         "mode)",
                         who, plugin->socket_path, (unsigned)geteuid(), reason);
        goto out;
    case SOCKCLIENT_TIMEOUT:
        left = oauth2_kept_take(utils, plugin, ctx->account, login, loginsize, token, tokensize);
        if (left >= 0) {
            utils->log(utils->conn, SASL_LOG_WARN,
                       "oauth2-token-helper: %s: the token daemon at %s did not answer within "
                       "%d s; using the token this process got from it earlier (usable for %llds "
                       "more)",
                       who, plugin->socket_path, OAUTH2_QUERY_TIMEOUT_MS / 1000, left);
            rc = SASL_OK;
            goto out;
        }
        rc = oauth2_fail(utils, SASL_TRYAGAIN,
                         "oauth2-token-helper: %s: the token daemon at %s did not answer within "
                         "%d s; " OAUTH2_TEMPORARY,
                         who, plugin->socket_path, OAUTH2_QUERY_TIMEOUT_MS / 1000);
        goto out;
    case SOCKCLIENT_PROTOCOL:
    default:
        rc = oauth2_fail(utils, SASL_FAIL,
                         "oauth2-token-helper: %s: unusable reply from the token daemon (%s); "
                         "needs a person: check that the daemon and this plugin are the same "
                         "version",
                         who, r.err);
        goto out;
    }
    switch (r.status) {
    case SOCKETMAP_OK:
        if (protocol_decode_account(reply, strlen(reply), login, loginsize, token, tokensize,
                                    &expires) < 0) {
            explicit_bzero(token, tokensize);
            rc = oauth2_fail(utils, SASL_FAIL,
                             "oauth2-token-helper: %s: the token daemon's reply is malformed; "
                             "needs a person: check that the daemon and this plugin are the "
                             "same version",
                             who);
            goto out;
        }
        oauth2_keep(utils, plugin, ctx->account, login, token, expires);
        rc = SASL_OK;
        goto out;
    case SOCKETMAP_NOTFOUND:
        oauth2_forget(utils, plugin, ctx->account);
        rc = oauth2_fail(utils, SASL_FAIL,
                         "oauth2-token-helper: %s: unknown to the token daemon; needs a person: "
                         "add an [account %s] section or fix smtp_sasl_password_maps",
                         who, ctx->account);
        goto out;
    case SOCKETMAP_TEMP:
    case SOCKETMAP_TIMEOUT:
        oauth2_forget(utils, plugin, ctx->account);
        text_clean(reason, sizeof(reason), reply, strlen(reply), OAUTH2_REASON_SHOW, TEXT_ELLIPSIS);
        rc = oauth2_fail(
            utils, SASL_TRYAGAIN,
            "oauth2-token-helper: %s: the token daemon has no token now (%s); " OAUTH2_TEMPORARY,
            who, reason[0] != '\0' ? reason : "no reason given");
        goto out;
    case SOCKETMAP_PERM:
    default:
        oauth2_forget(utils, plugin, ctx->account);
        text_clean(reason, sizeof(reason), reply, strlen(reply), OAUTH2_REASON_SHOW, TEXT_ELLIPSIS);
        rc = oauth2_fail(utils, SASL_FAIL,
                         "oauth2-token-helper: %s: the token daemon cannot get a token (%s); "
                         "needs a person: see the token daemon's log",
                         who, reason[0] != '\0' ? reason : "no reason given");
        goto out;
    }
out:
    explicit_bzero(reply, OAUTH2_REPLY_MAX);
    utils->free(reply);
    return rc;
}

/* oauth2_host - the server name for OAUTHBEARER's host=, or NULL when unknown or unusable */
static const char *oauth2_host(sasl_client_params_t *params, char *out, size_t outsize)
{
    size_t len;

    if (params->serverFQDN == NULL || params->slen == 0)
        return NULL;
    len = strnlen(params->serverFQDN, params->slen);
    /* host= is optional: a name that cannot go on the wire is left out, not an error. */
    if (len >= outsize || len > 255 || !saslwire_login_ok(params->serverFQDN, len))
        return NULL;
    memcpy(out, params->serverFQDN, len);
    out[len] = '\0';
    return out;
}

/* oauth2_step_start - fetch a token and build the initial response */
static int oauth2_step_start(oauth2_context *ctx, sasl_client_params_t *params,
                             const char **clientout, unsigned *clientoutlen,
                             sasl_out_params_t *oparams)
{
    const sasl_utils_t *utils = params->utils;
    oauth2_mech mech = ctx->glob->mech;
    char daemon_login[SASLWIRE_MAX_LOGIN + 1];
    char who[2 * SASLWIRE_MAX_LOGIN + 40];
    char hostbuf[256];
    char *token = NULL;
    int built;
    int rc;

    rc = oauth2_identify(ctx, utils);
    if (rc != SASL_OK)
        return rc;
    oauth2_who(ctx, who, sizeof(who));
    token = utils->malloc(SASLWIRE_MAX_TOKEN + 1);
    if (ctx->response == NULL) {
        ctx->response = utils->malloc(OAUTH2_RESPONSE_MAX);
        ctx->response_size = ctx->response != NULL ? OAUTH2_RESPONSE_MAX : 0;
    }
    if (token == NULL || ctx->response == NULL) {
        rc = oauth2_fail(utils, SASL_NOMEM,
                         "oauth2-token-helper: %s: out of memory; " OAUTH2_TEMPORARY, who);
        goto out;
    }
    rc =
        oauth2_query(ctx, utils, daemon_login, sizeof(daemon_login), token, SASLWIRE_MAX_TOKEN + 1);
    if (rc != SASL_OK)
        goto out;
    /* A delegate's token is used to send as the shared mailbox, the authname. */
    snprintf(ctx->login, sizeof(ctx->login), "%s", ctx->delegate ? ctx->authname : daemon_login);
    if (mech == OAUTH2_MECH_OAUTHBEARER)
        built = saslwire_oauthbearer(ctx->login, oauth2_host(params, hostbuf, sizeof(hostbuf)), 0,
                                     token, ctx->response, ctx->response_size, &ctx->response_len);
    else
        built = saslwire_xoauth2(ctx->login, token, ctx->response, ctx->response_size,
                                 &ctx->response_len);
    if (built < 0) {
        rc = oauth2_fail(utils, SASL_FAIL,
                         "oauth2-token-helper: %s: cannot send login %s with %s (a login must be "
                         "printable ASCII without spaces, ',' or '='); needs a person: fix "
                         "smtp_sasl_password_maps or the account's login",
                         who, ctx->login, oauth2_mech_name(mech));
        goto out;
    }
    rc = params->canon_user(utils->conn, ctx->login, 0, SASL_CU_AUTHID | SASL_CU_AUTHZID, oparams);
    if (rc != SASL_OK) {
        rc = oauth2_fail(utils, rc,
                         "oauth2-token-helper: %s: the SASL library refused login %s as a user "
                         "name; needs a person: fix the account's login",
                         who, ctx->login);
        goto out;
    }
    /* No security layer; doneflag stays 0 because an error challenge may follow. */
    oparams->mech_ssf = 0;
    oparams->maxoutbuf = 0;
    oparams->encode_context = NULL;
    oparams->encode = NULL;
    oparams->decode_context = NULL;
    oparams->decode = NULL;
    oparams->param_version = 0;
    *clientout = ctx->response;
    *clientoutlen = (unsigned)ctx->response_len;
    ctx->state = OAUTH2_STATE_SENT;
    rc = SASL_OK;
out:
    if (token != NULL) {
        explicit_bzero(token, SASLWIRE_MAX_TOKEN + 1);
        utils->free(token);
    }
    return rc;
}

/* oauth2_step_error - answer the server's error challenge so that it can end the exchange */
static int oauth2_step_error(oauth2_context *ctx, sasl_client_params_t *params,
                             const char *serverin, unsigned serverinlen, const char **clientout,
                             unsigned *clientoutlen)
{
    const sasl_utils_t *utils = params->utils;
    oauth2_mech mech = ctx->glob->mech;
    char shown[OAUTH2_CHALLENGE_SHOW + 8];
    char who[2 * SASLWIRE_MAX_LOGIN + 40];

    oauth2_who(ctx, who, sizeof(who));
    text_clean(shown, sizeof(shown), serverin, serverinlen, OAUTH2_CHALLENGE_SHOW, TEXT_ELLIPSIS);
    oauth2_report(utils,
                  "oauth2-token-helper: %s: the server rejected %s for login %s: %s; needs a "
                  "person if this repeats: check the login, the token's scope and that SMTP "
                  "AUTH is enabled for the mailbox",
                  who, oauth2_mech_name(mech), ctx->login, shown);
    /* The token has served; the server's final reply needs nothing more from it. */
    explicit_bzero(ctx->response, ctx->response_size);
    ctx->response_len = 0;
    if (mech == OAUTH2_MECH_OAUTHBEARER) {
        *clientout = "\001";
        *clientoutlen = 1;
    } else {
        *clientout = "";
        *clientoutlen = 0;
    }
    ctx->state = OAUTH2_STATE_ERROR_SENT;
    return SASL_CONTINUE;
}

/* oauth2_mech_new - start one authentication */
static int oauth2_mech_new(void *glob_context, sasl_client_params_t *params, void **conn_context)
{
    oauth2_context *ctx;

    ctx = params->utils->malloc(sizeof(*ctx));
    if (ctx == NULL)
        return oauth2_fail(params->utils, SASL_NOMEM,
                           "oauth2-token-helper: out of memory; " OAUTH2_TEMPORARY);
    memset(ctx, 0, sizeof(*ctx));
    ctx->state = OAUTH2_STATE_START;
    ctx->glob = glob_context;
    *conn_context = ctx;
    return SASL_OK;
}

/* oauth2_mech_step - one step of the exchange */
static int oauth2_mech_step(void *conn_context, sasl_client_params_t *params, const char *serverin,
                            unsigned serverinlen, sasl_interact_t **prompt_need,
                            const char **clientout, unsigned *clientoutlen,
                            sasl_out_params_t *oparams)
{
    oauth2_context *ctx = conn_context;
    const sasl_utils_t *utils = params->utils;
    char who[2 * SASLWIRE_MAX_LOGIN + 40];
    int rc;

    *clientout = NULL;
    *clientoutlen = 0;
    switch (ctx->state) {
    case OAUTH2_STATE_START:
        /* A server-first exchange (no initial response) lands here too; its empty challenge says
         * nothing. */
        rc = oauth2_step_start(ctx, params, clientout, clientoutlen, oparams);
        if (rc != SASL_OK)
            ctx->state = OAUTH2_STATE_FAILED;
        return rc;
    case OAUTH2_STATE_SENT:
        /*
         * An empty challenge means the application sent "AUTH <mech>" alone
         * and the server now asks for the response we built: send it again,
         * once. Error reports (RFC 7628, Gmail) are never empty.
         */
        if (serverinlen == 0) {
            *clientout = ctx->response;
            *clientoutlen = (unsigned)ctx->response_len;
            ctx->state = OAUTH2_STATE_RESENT;
            return SASL_CONTINUE;
        }
        return oauth2_step_error(ctx, params, serverin, serverinlen, clientout, clientoutlen);
    case OAUTH2_STATE_RESENT:
        return oauth2_step_error(ctx, params, serverin, serverinlen, clientout, clientoutlen);
    case OAUTH2_STATE_ERROR_SENT:
        oauth2_who(ctx, who, sizeof(who));
        ctx->state = OAUTH2_STATE_FAILED;
        return oauth2_fail(utils, SASL_BADPROT,
                           "oauth2-token-helper: %s: the server sent another challenge after "
                           "rejecting %s instead of ending the exchange; needs a person if this "
                           "repeats",
                           who, oauth2_mech_name(ctx->glob->mech));
    case OAUTH2_STATE_FAILED:
        return oauth2_fail(utils, SASL_FAIL,
                           "oauth2-token-helper: %s step called again after a failure",
                           oauth2_mech_name(ctx->glob->mech));
    default:
        return oauth2_fail(utils, SASL_FAIL, "oauth2-token-helper: %s: internal error: state %d",
                           oauth2_mech_name(ctx->glob->mech), (int)ctx->state);
    }
}

/* oauth2_mech_dispose - end one authentication; wipes the token it held */
static void oauth2_mech_dispose(void *conn_context, const sasl_utils_t *utils)
{
    oauth2_context *ctx = conn_context;

    if (ctx == NULL)
        return;
    if (ctx->response != NULL) {
        explicit_bzero(ctx->response, ctx->response_size);
        utils->free(ctx->response);
    }
    explicit_bzero(ctx, sizeof(*ctx));
    utils->free(ctx);
}

/* oauth2_mech_free - libsasl is done with one table entry; the last one frees the block */
static void oauth2_mech_free(void *glob_context, const sasl_utils_t *utils)
{
    oauth2_mech_glob *glob = glob_context;
    oauth2_plugin *plugin;
    int i;

    if (glob == NULL)
        return;
    plugin = glob->plugin;
    if (plugin->refs > 1) {
        plugin->refs--;
        return;
    }
    for (i = 0; i < OAUTH2_KEEP_ACCOUNTS; i++)
        oauth2_kept_clear(utils, &plugin->kept[i]);
    if (plugin->lock != NULL)
        utils->mutex_free(plugin->lock);
    explicit_bzero(plugin, sizeof(*plugin));
    utils->free(plugin);
}

/* Postfix supplies the authname and the password; only the authname is required. */
static const unsigned long oauth2_required_prompts[] = {SASL_CB_AUTHNAME, SASL_CB_LIST_END};

/*
 * Security flags. NOANONYMOUS: the server learns who we are. NOPLAINTEXT:
 * the long-term credentials (refresh token, client secret) never cross the
 * wire; what does is a bearer token that expires within 60-90 minutes and
 * is scoped to sending mail - replayable while it lives, so use TLS.
 * Postfix's default smtp_sasl_security_options (noplaintext, noanonymous)
 * rule out any mechanism without it, and libsasl's mech_compare() ranks a
 * plugin with NOPLAINTEXT above one without for the same mechanism name:
 * that is what makes this XOAUTH2 win over Debian's libkdexoauth2.so
 * (NOANONYMOUS | PASS_CREDENTIALS) whatever the load order.
 * NODICTIONARY: a token is not derived from a password, so capturing one
 * gives nothing to guess offline. PASS_CREDENTIALS: the server receives a
 * credential it could reuse until it expires.
 */
#define OAUTH2_SECURITY_FLAGS                                                                      \
    (SASL_SEC_NOANONYMOUS | SASL_SEC_NOPLAINTEXT | SASL_SEC_NODICTIONARY |                         \
     SASL_SEC_PASS_CREDENTIALS)

/* The mechanisms, copied into each oauth2_plugin block by sasl_client_plug_init(). */
static const sasl_client_plug_t oauth2_table_template[OAUTH2_MECH_COUNT] = {
    [OAUTH2_MECH_XOAUTH2] =
        {
            "XOAUTH2",                   /* mech_name */
            0,                           /* max_ssf: no security layer */
            OAUTH2_SECURITY_FLAGS,       /* security_flags: see above */
            SASL_FEAT_WANT_CLIENT_FIRST, /* features: initial response; no proxy (see
                                            oauth2_identify) */
            oauth2_required_prompts,     /* required_prompts */
            NULL,                        /* glob_context: set per block at init */
            oauth2_mech_new,             /* mech_new */
            oauth2_mech_step,            /* mech_step */
            oauth2_mech_dispose,         /* mech_dispose */
            oauth2_mech_free,            /* mech_free */
            NULL,                        /* idle: nothing to precompute */
            NULL,                        /* spare_fptr1 */
            NULL,                        /* spare_fptr2 */
        },
    [OAUTH2_MECH_OAUTHBEARER] =
        {
            "OAUTHBEARER",               /* mech_name (RFC 7628) */
            0,                           /* max_ssf: no security layer */
            OAUTH2_SECURITY_FLAGS,       /* security_flags: see above */
            SASL_FEAT_WANT_CLIENT_FIRST, /* features: initial response; host= is optional, so no
                                            NEEDSERVERFQDN */
            oauth2_required_prompts,     /* required_prompts */
            NULL,                        /* glob_context: set per block at init */
            oauth2_mech_new,             /* mech_new */
            oauth2_mech_step,            /* mech_step */
            oauth2_mech_dispose,         /* mech_dispose */
            oauth2_mech_free,            /* mech_free */
            NULL,                        /* idle: nothing to precompute */
            NULL,                        /* spare_fptr1 */
            NULL,                        /* spare_fptr2 */
        },
};

/* oauth2_config_key - ini handler: keep the global "socket" key, ignore everything else */
static int oauth2_config_key(void *ctx, int line, const char *section, const char *name,
                             const char *key, const char *value, char *err, size_t errsize)
{
    oauth2_plugin *plugin = ctx;

    (void)line;
    (void)name;
    if (key == NULL || section[0] != '\0' || strcmp(key, "socket") != 0)
        return 0;
    _Static_assert(OAUTH2_SOCKET_PATH_MAX <= OAUTH2_SOCKET_MAX, "socket path fits socket_path");
    /* The daemon's rule (ini_socket_ok), so both agree on which values are a socket. */
    if (ini_socket_ok(value, err, errsize) < 0)
        return -1;
    snprintf(plugin->socket_path, sizeof(plugin->socket_path), "%s", value);
    plugin->from_config = 1;
    return 0;
}

/*
 * oauth2_alt_path - the socket's path relative to the working directory
 *
 * Postfix runs smtp(8) with the queue directory as working directory, and
 * chrooted there by default: /var/spool/postfix/private/x then no longer
 * exists, but private/x still names the socket.
 */
static void oauth2_alt_path(oauth2_plugin *plugin)
{
    char cwd[PATH_MAX];
    const char *rest;
    size_t n;

    plugin->alt_path[0] = '\0';
    if (plugin->socket_path[0] != '/' || getcwd(cwd, sizeof(cwd)) == NULL)
        return;
    n = strlen(cwd);
    if (n <= 1 || strncmp(plugin->socket_path, cwd, n) != 0 || plugin->socket_path[n] != '/')
        return;
    rest = plugin->socket_path + n;
    while (*rest == '/')
        rest++;
    if (*rest != '\0')
        snprintf(plugin->alt_path, sizeof(plugin->alt_path), "%s", rest);
}

/*
 * oauth2_configure - read the socket setting; runs once per init, before any chroot
 *
 * The same lexer and the same default as the daemon (OAUTH2_DEFAULT_SOCKET
 * in paths.h): a file without a socket line means the default on both
 * sides. A file that cannot be read or parsed also leaves the default.
 */
static void oauth2_configure(const sasl_utils_t *utils, oauth2_plugin *plugin)
{
    const char *file = ini_config_path(NULL); /* the daemon's rule, config_path() */
    char err[600];

    err[0] = '\0';
    snprintf(plugin->socket_path, sizeof(plugin->socket_path), "%s", OAUTH2_DEFAULT_SOCKET);
    if (ini_parse_file(file, oauth2_config_key, plugin, err, sizeof(err)) < 0 &&
        !plugin->from_config) {
        snprintf(plugin->socket_path, sizeof(plugin->socket_path), "%s", OAUTH2_DEFAULT_SOCKET);
        snprintf(plugin->source, sizeof(plugin->source), "built-in socket path; config %s", err);
        /*
         * Every program that loads libsasl2 client plugins runs this, most
         * of them not as root, so this is a debug line; the socket path and
         * this reason reappear in any failure to reach the daemon.
         */
        utils->log(utils->conn, SASL_LOG_DEBUG, "oauth2-token-helper: using socket %s (%s)",
                   plugin->socket_path, err);
    } else if (!plugin->from_config) {
        snprintf(plugin->source, sizeof(plugin->source), "built-in socket path; %s sets none",
                 file);
    } else {
        snprintf(plugin->source, sizeof(plugin->source), "socket set in %s", file);
    }
    oauth2_alt_path(plugin);
}

/* sasl_client_plug_init - libsasl2's entry point: register XOAUTH2 and OAUTHBEARER */
__attribute__((visibility("default"))) int sasl_client_plug_init(const sasl_utils_t *utils,
                                                                 int maxversion, int *out_version,
                                                                 sasl_client_plug_t **pluglist,
                                                                 int *plugcount);

int sasl_client_plug_init(const sasl_utils_t *utils, int maxversion, int *out_version,
                          sasl_client_plug_t **pluglist, int *plugcount)
{
    oauth2_plugin *plugin;
    int i;

    if (maxversion < SASL_CLIENT_PLUG_VERSION) {
        utils->log(utils->conn, SASL_LOG_ERR,
                   "oauth2-token-helper: libsasl2 is too old (client plugin API %d, need %d)",
                   maxversion, SASL_CLIENT_PLUG_VERSION);
        return SASL_BADVERS;
    }
    plugin = utils->malloc(sizeof(*plugin));
    if (plugin == NULL)
        return SASL_NOMEM;
    memset(plugin, 0, sizeof(*plugin));
    /* Without a lock nothing is kept: a daemon outage then defers mail, as it always did. */
    plugin->lock = utils->mutex_alloc();
    oauth2_configure(utils, plugin);
    plugin->refs = OAUTH2_MECH_COUNT;
    for (i = 0; i < OAUTH2_MECH_COUNT; i++) {
        plugin->table[i] = oauth2_table_template[i];
        plugin->globs[i].plugin = plugin;
        plugin->globs[i].mech = (oauth2_mech)i;
        plugin->table[i].glob_context = &plugin->globs[i];
    }
    *out_version = SASL_CLIENT_PLUG_VERSION;
    *pluglist = plugin->table;
    *plugcount = OAUTH2_MECH_COUNT;
    return SASL_OK;
}
