/*
 * test_plugin.c - the SASL client plugin, loaded through the real libsasl2 client API
 *
 * A temporary directory holds a symlink to the built plugin (and to
 * Debian's libkdexoauth2.so when installed, to check that ours wins),
 * SASL_PATH points there, and OAUTH2_TOKEN_HELPER_CONFIG points at a config
 * whose socket is served by a fake daemon thread answering canned
 * socketmap replies. The working directory at sasl_client_init is the
 * directory that holds private/, as Postfix's queue directory does, so the
 * chroot fallback (the socket's path relative to it) can be tested by
 * renaming that directory.
 *
 * The plugin is found through $top_builddir (exported by tests/Makefile.am)
 * or, when run by hand, the TOP_BUILDDIR the test was built with.
 */
#include "autoconfig.h"

#include <errno.h>
#include <glob.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <sasl/sasl.h>
#include <sasl/saslplug.h>

#include "netstring.h"
#include "paths.h"
#include "tap.h"
#include "tokenlife.h"

#define TOKEN "SECRETtoken.eyJ0eXAi-_abc~+/xyz=="
#define PASSWORD "P4ssw0rd-never-logged"
#define REPLY_MAX 20000

/* A callback in sasl_callback_t's generic type (through void (*)(void), which any function type
 * casts to). */
#define TEST_CALLBACK(f) ((sasl_callback_ft)(void (*)(void))(f))

/* fake - a socketmap server in a thread: one canned reply, the last request kept */
static struct {
    pthread_mutex_t lock;
    pthread_t thread;
    int listen_fd;
    int running;
    char reply[REPLY_MAX];
    char request[1100];
    int requests;
} fake = {.lock = PTHREAD_MUTEX_INITIALIZER, .listen_fd = -1};

/* log_lines - what the plugin logged at SASL_LOG_ERR through the application's callback */
static struct {
    int count;
    char last[4096];
} log_lines;

/* warn_lines - the same for SASL_LOG_WARN (a kept token used) */
static struct {
    int count;
    char last[4096];
} warn_lines;

static char socket_path[200];

/* fake_set_reply - the next reply's payload, e.g. "OK login=... expires=... token=..." */
static void fake_set_reply(const char *payload)
{
    pthread_mutex_lock(&fake.lock);
    snprintf(fake.reply, sizeof(fake.reply), "%s", payload);
    fake.request[0] = '\0';
    fake.requests = 0;
    pthread_mutex_unlock(&fake.lock);
}

/* fake_serve_one - read one netstring request, answer it */
static void fake_serve_one(int fd)
{
    char buf[2048];
    size_t len = 0;
    char out[REPLY_MAX + 32];
    size_t outlen;
    const char *payload;
    size_t plen;
    size_t consumed;

    for (;;) {
        ssize_t n = read(fd, buf + len, sizeof(buf) - len);
        netstring_status st;

        if (n <= 0)
            return;
        len += (size_t)n;
        st = netstring_decode(buf, len, SOCKETMAP_MAX_REQUEST, &payload, &plen, &consumed);
        if (st == NETSTRING_ERROR)
            return;
        if (st == NETSTRING_OK)
            break;
    }
    pthread_mutex_lock(&fake.lock);
    snprintf(fake.request, sizeof(fake.request), "%.*s", (int)plen, payload);
    fake.requests++;
    if (netstring_encode(out, sizeof(out), fake.reply, strlen(fake.reply), &outlen) < 0)
        outlen = 0;
    pthread_mutex_unlock(&fake.lock);
    if (outlen > 0 && write(fd, out, outlen) != (ssize_t)outlen)
        return;
}

/* fake_main - accept until the listening socket is shut down */
static void *fake_main(void *arg)
{
    for (;;) {
        int fd = accept(fake.listen_fd, NULL, NULL);

        if (fd < 0) {
            if (errno == EINTR)
                continue;
            return NULL;
        }
        fake_serve_one(fd);
        close(fd);
    }
}

/* fake_start - listen on socket_path and serve in a thread */
static int fake_start(void)
{
    struct sockaddr_un sun;

    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", socket_path);
    unlink(socket_path);
    fake.listen_fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fake.listen_fd < 0 || bind(fake.listen_fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
        listen(fake.listen_fd, 8) < 0)
        return -1;
    if (pthread_create(&fake.thread, NULL, fake_main, NULL) != 0)
        return -1;
    fake.running = 1;
    return 0;
}

/* fake_stop - stop serving and remove the socket: "daemon not running" */
static void fake_stop(const char *path)
{
    if (!fake.running)
        return;
    shutdown(fake.listen_fd, SHUT_RDWR);
    pthread_join(fake.thread, NULL);
    close(fake.listen_fd);
    fake.listen_fd = -1;
    fake.running = 0;
    unlink(path);
}

/* test_log - the application's log callback: keep SASL_LOG_ERR lines */
static int test_log(void *context, int level, const char *message)
{
    if (level == SASL_LOG_ERR) {
        log_lines.count++;
        snprintf(log_lines.last, sizeof(log_lines.last), "%s", message);
    } else if (level == SASL_LOG_WARN) {
        warn_lines.count++;
        snprintf(warn_lines.last, sizeof(warn_lines.last), "%s", message);
    }
    return SASL_OK;
}

/* creds - what the application's per-connection callbacks answer */
typedef struct {
    const char *authname;
    const char *password;
    sasl_secret_t *secret;
} creds;

/* get_authname - SASL_CB_AUTHNAME */
static int get_authname(void *context, int id, const char **result, unsigned *len)
{
    creds *c = context;

    if (id != SASL_CB_AUTHNAME || c->authname == NULL)
        return SASL_FAIL;
    *result = c->authname;
    if (len != NULL)
        *len = (unsigned)strlen(c->authname);
    return SASL_OK;
}

/* get_password - SASL_CB_PASS, as Postfix does it: a counted copy owned by the application */
static int get_password(sasl_conn_t *conn, void *context, int id, sasl_secret_t **psecret)
{
    creds *c = context;
    size_t len;

    if (id != SASL_CB_PASS || c->password == NULL)
        return SASL_FAIL;
    len = strlen(c->password);
    free(c->secret);
    c->secret = malloc(sizeof(sasl_secret_t) + len);
    if (c->secret == NULL)
        return SASL_NOMEM;
    c->secret->len = len;
    memcpy(c->secret->data, c->password, len + 1);
    *psecret = c->secret;
    return SASL_OK;
}

/* session - one sasl_conn_t with its callbacks */
typedef struct {
    creds creds;
    sasl_callback_t callbacks[3];
    sasl_conn_t *conn;
    const char *out;
    unsigned outlen;
    const char *mech;
    int rc;
} session;

/* session_start - sasl_client_new + sasl_client_start; the result lands in s */
static int session_start(session *s, const char *authname, const char *password, const char *fqdn,
                         const char *mechlist, unsigned secflags)
{
    sasl_security_properties_t props;
    int n = 0;

    memset(s, 0, sizeof(*s));
    s->creds.authname = authname;
    s->creds.password = password;
    if (authname != NULL)
        s->callbacks[n++] =
            (sasl_callback_t){SASL_CB_AUTHNAME, TEST_CALLBACK(get_authname), &s->creds};
    s->callbacks[n++] = (sasl_callback_t){SASL_CB_PASS, TEST_CALLBACK(get_password), &s->creds};
    s->callbacks[n] = (sasl_callback_t){SASL_CB_LIST_END, NULL, NULL};
    log_lines.count = 0;
    log_lines.last[0] = '\0';
    warn_lines.count = 0;
    warn_lines.last[0] = '\0';
    s->rc = sasl_client_new("smtp", fqdn, NULL, NULL, s->callbacks, 0, &s->conn);
    if (s->rc != SASL_OK)
        return s->rc;
    memset(&props, 0, sizeof(props));
    props.security_flags = secflags;
    sasl_setprop(s->conn, SASL_SEC_PROPS, &props);
    s->rc = sasl_client_start(s->conn, mechlist, NULL, &s->out, &s->outlen, &s->mech);
    return s->rc;
}

/* session_end - dispose of the connection and the password copy */
static void session_end(session *s)
{
    if (s->conn != NULL)
        sasl_dispose(&s->conn);
    free(s->creds.secret);
    s->creds.secret = NULL;
}

/* out_is - the last client output is exactly want (len bytes) */
static int out_is(const session *s, const char *want, size_t len)
{
    return s->out != NULL && s->outlen == len && memcmp(s->out, want, len) == 0;
}

/* plugin_source - the name of the plugin libsasl picked for this connection */
static const char *plugin_source(sasl_conn_t *conn)
{
    const void *value = NULL;

    if (sasl_getprop(conn, SASL_AUTHSOURCE, &value) != SASL_OK || value == NULL)
        return "";
    return value;
}

/* fake_request_is - the fake daemon's last request */
static int fake_request_is(const char *want)
{
    int same;

    pthread_mutex_lock(&fake.lock);
    same = fake.requests == 1 && strcmp(fake.request, want) == 0;
    pthread_mutex_unlock(&fake.lock);
    return same;
}

static void test_xoauth2(void)
{
    static const char want[] = "user=alice@contoso.com\001auth=Bearer " TOKEN "\001\001";
    session s;
    const void *user = NULL;

    fake_set_reply("OK login=alice@contoso.com expires=1700000000 token=" TOKEN);
    session_start(&s, "alice", PASSWORD, "smtp.office365.com", "XOAUTH2", 0);
    ok(s.rc == SASL_OK, "XOAUTH2: sasl_client_start returns SASL_OK (%d: %s)", s.rc,
       s.rc == SASL_OK ? "" : sasl_errdetail(s.conn));
    ok(out_is(&s, want, sizeof(want) - 1),
       "XOAUTH2: initial response is user=<daemon's login>^Aauth=Bearer <token>^A^A");
    ok(s.mech != NULL && strcmp(s.mech, "XOAUTH2") == 0, "XOAUTH2: mechanism XOAUTH2 chosen");
    ok(strcmp(plugin_source(s.conn), "oauth2helper") == 0, "XOAUTH2: from our plugin (%s)",
       plugin_source(s.conn));
    ok(fake_request_is("account alice"), "XOAUTH2: the daemon was asked for \"account alice\"");
    ok(sasl_getprop(s.conn, SASL_USERNAME, &user) == SASL_OK && user != NULL &&
           strcmp(user, "alice@contoso.com") == 0,
       "XOAUTH2: canon_user was called with the login");
    ok(log_lines.count == 0, "XOAUTH2: nothing logged on success");
    session_end(&s);
}

static void test_oauthbearer(void)
{
    static const char want_host[] =
        "n,a=alice@contoso.com,\001host=mx.example.org\001auth=Bearer " TOKEN "\001\001";
    static const char want_bare[] = "n,a=alice@contoso.com,\001auth=Bearer " TOKEN "\001\001";
    session s;

    fake_set_reply("OK login=alice@contoso.com expires=1700000000 token=" TOKEN);
    session_start(&s, "alice", PASSWORD, "mx.example.org", "OAUTHBEARER", 0);
    ok(s.rc == SASL_OK && out_is(&s, want_host, sizeof(want_host) - 1),
       "OAUTHBEARER: n,a=<login>,^Ahost=<server>^Aauth=Bearer <token>^A^A");
    session_end(&s);
    session_start(&s, "alice", PASSWORD, NULL, "OAUTHBEARER", 0);
    ok(s.rc == SASL_OK && out_is(&s, want_bare, sizeof(want_bare) - 1),
       "OAUTHBEARER: no host= when the server name is unknown");
    session_end(&s);
}

static void test_long_token(void)
{
    char token[2001];
    char reply[2200];
    char want[2200];
    size_t wantlen;
    session s;
    size_t i;

    for (i = 0; i < sizeof(token) - 1; i++)
        token[i] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/"[i % 68];
    token[sizeof(token) - 1] = '\0';
    snprintf(reply, sizeof(reply), "OK login=alice@contoso.com expires=1700000000 token=%s", token);
    wantlen = (size_t)snprintf(want, sizeof(want),
                               "user=alice@contoso.com\001auth=Bearer %s\001\001", token);
    fake_set_reply(reply);
    session_start(&s, "alice", PASSWORD, "smtp.office365.com", "XOAUTH2", 0);
    ok(s.rc == SASL_OK && out_is(&s, want, wantlen),
       "a 2,000-character token is sent whole (%u bytes)", s.outlen);
    session_end(&s);
}

static void test_delegate(void)
{
    static const char want[] = "user=shared@contoso.com\001auth=Bearer " TOKEN "\001\001";
    static const char want_ob[] = "n,a=shared@contoso.com,\001auth=Bearer " TOKEN "\001\001";
    session s;

    fake_set_reply("OK login=delegate@contoso.com expires=1700000000 token=" TOKEN);
    session_start(&s, "shared@contoso.com", "account=delegate@contoso.com", NULL, "XOAUTH2", 0);
    ok(fake_request_is("account delegate@contoso.com"),
       "account=NAME: the daemon is asked for account NAME");
    ok(s.rc == SASL_OK && out_is(&s, want, sizeof(want) - 1),
       "account=NAME: the login sent is the authname (the shared mailbox)");
    session_end(&s);
    session_start(&s, "shared@contoso.com", "account=delegate@contoso.com", NULL, "OAUTHBEARER", 0);
    ok(s.rc == SASL_OK && out_is(&s, want_ob, sizeof(want_ob) - 1),
       "account=NAME: OAUTHBEARER's a= is the authname too");
    session_end(&s);

    session_start(&s, "shared@contoso.com", "account=", NULL, "XOAUTH2", 0);
    ok(s.rc == SASL_FAIL && log_lines.count == 1 &&
           strstr(sasl_errdetail(s.conn), "needs a person") != NULL,
       "account= with no name fails, needing a person: %s", log_lines.last);
    session_end(&s);

    fake_set_reply("OK login=alice@contoso.com expires=1700000000 token=" TOKEN);
    session_start(&s, "alice", "Account=bob", NULL, "XOAUTH2", 0);
    ok(s.rc == SASL_OK && fake_request_is("account alice"),
       "any other password is ignored (the form is case-sensitive)");
    session_end(&s);
}

static void test_error_challenge(void)
{
    static const char json[] = "{\"status\":\"401\",\"schemes\":\"bearer\",\"scope\":\"mail\"}";
    char hostile[400];
    session s;
    int rc;

    fake_set_reply("OK login=alice@contoso.com expires=1700000000 token=" TOKEN);
    session_start(&s, "alice", PASSWORD, "smtp.gmail.com", "XOAUTH2", 0);
    rc = sasl_client_step(s.conn, json, sizeof(json) - 1, NULL, &s.out, &s.outlen);
    ok(rc == SASL_CONTINUE && s.out != NULL && s.outlen == 0,
       "XOAUTH2: the error challenge is answered with an empty response");
    ok(log_lines.count == 1 && strstr(log_lines.last, "\"status\":\"401\"") != NULL &&
           strstr(log_lines.last, "account alice") != NULL && strstr(log_lines.last, TOKEN) == NULL,
       "XOAUTH2: one line logs the server's status: %s", log_lines.last);
    rc = sasl_client_step(s.conn, "x", 1, NULL, &s.out, &s.outlen);
    ok(rc == SASL_BADPROT && strstr(sasl_errdetail(s.conn), "account alice") != NULL,
       "XOAUTH2: a further challenge fails: %s", sasl_errdetail(s.conn));
    session_end(&s);

    session_start(&s, "alice", PASSWORD, "mx.example.org", "OAUTHBEARER", 0);
    rc = sasl_client_step(s.conn, json, sizeof(json) - 1, NULL, &s.out, &s.outlen);
    ok(rc == SASL_CONTINUE && out_is(&s, "\001", 1),
       "OAUTHBEARER: the error challenge is answered with ^A");
    rc = sasl_client_step(s.conn, "", 0, NULL, &s.out, &s.outlen);
    ok(rc == SASL_BADPROT, "OAUTHBEARER: a further step fails");
    session_end(&s);

    /* A hostile challenge: control characters, and far too long to log. */
    memset(hostile, 'B', sizeof(hostile));
    memcpy(hostile, "{\"status\":\"400\"\r\n\033[1m", 22);
    session_start(&s, "alice", PASSWORD, NULL, "XOAUTH2", 0);
    rc = sasl_client_step(s.conn, hostile, sizeof(hostile), NULL, &s.out, &s.outlen);
    ok(rc == SASL_CONTINUE && strchr(log_lines.last, '\r') == NULL &&
           strchr(log_lines.last, '\n') == NULL && strchr(log_lines.last, '\033') == NULL &&
           strstr(log_lines.last, "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB"
                                  "BBBBBBBBBBBBBBBBB") == NULL &&
           strstr(log_lines.last, "\"status\":\"400\"") != NULL,
       "the challenge is logged printable and cut short: %s", log_lines.last);
    session_end(&s);

    /* Two-step initial response driven through the library: an empty challenge asks again. */
    session_start(&s, "alice", PASSWORD, NULL, "XOAUTH2", 0);
    rc = sasl_client_step(s.conn, "", 0, NULL, &s.out, &s.outlen);
    ok(rc == SASL_CONTINUE && s.outlen > 20 && memcmp(s.out, "user=alice@contoso.com\001", 23) == 0,
       "an empty challenge after the initial response gets the response again");
    session_end(&s);
}

/* check_failure - the start failed with code, one log line naming the account, no secrets */
static void check_failure(const char *what, session *s, int code, const char *account,
                          const char *kind)
{
    const char *detail = s->conn != NULL ? sasl_errdetail(s->conn) : "";
    char named[200];

    snprintf(named, sizeof(named), "account %s", account);
    ok(s->rc == code, "%s: fails with %d (got %d)", what, code, s->rc);
    ok(log_lines.count == 1 && strstr(detail, log_lines.last) != NULL,
       "%s: exactly one log line, also in sasl_errdetail: %s", what, log_lines.last);
    ok(strstr(detail, named) != NULL && strstr(detail, kind) != NULL,
       "%s: message names the %s and says \"%s\"", what, named, kind);
    ok(strstr(detail, TOKEN) == NULL && strstr(detail, "SECRETtoken") == NULL &&
           strstr(detail, PASSWORD) == NULL,
       "%s: message holds neither the token nor the password", what);
}

static void test_daemon_replies(void)
{
    session s;

    fake_set_reply("NOTFOUND ");
    session_start(&s, "bob@x.example", PASSWORD, NULL, "XOAUTH2", 0);
    check_failure("NOTFOUND", &s, SASL_FAIL, "bob@x.example", "needs a person");
    ok(strstr(sasl_errdetail(s.conn), "unknown to the token daemon") != NULL &&
           strstr(sasl_errdetail(s.conn), "[account bob@x.example]") != NULL,
       "NOTFOUND: says the account is unknown and how to add it");
    session_end(&s);

    fake_set_reply("TEMP token endpoint unreachable (HTTP 503), retrying");
    session_start(&s, "alice", PASSWORD, NULL, "XOAUTH2", 0);
    check_failure("TEMP", &s, SASL_TRYAGAIN, "alice", "temporary, mail stays queued");
    ok(strstr(sasl_errdetail(s.conn), "HTTP 503") != NULL, "TEMP: carries the daemon's reason");
    session_end(&s);

    fake_set_reply("PERM refresh token expired (AADSTS700082): run oauth2-token-helper authorize");
    session_start(&s, "alice", PASSWORD, NULL, "OAUTHBEARER", 0);
    check_failure("PERM", &s, SASL_FAIL, "alice", "needs a person");
    ok(strstr(sasl_errdetail(s.conn), "AADSTS700082") != NULL, "PERM: carries the daemon's reason");
    session_end(&s);

    fake_set_reply("OK login=bad,login expires=1700000000 token=" TOKEN);
    session_start(&s, "alice", PASSWORD, NULL, "XOAUTH2", 0);
    check_failure("malformed OK", &s, SASL_FAIL, "alice", "needs a person");
    session_end(&s);

    fake_set_reply("NOTFOUND ");
    session_start(&s, "shared@contoso.com", "account=nobody@contoso.com", NULL, "XOAUTH2", 0);
    check_failure("NOTFOUND for a delegate", &s, SASL_FAIL, "nobody@contoso.com", "needs a person");
    session_end(&s);
}

static void test_no_authname(void)
{
    char *user = getenv("USER") ? strdup(getenv("USER")) : NULL;
    char *username = getenv("USERNAME") ? strdup(getenv("USERNAME")) : NULL;
    session s;

    /* Without an AUTHNAME callback libsasl falls back to $USER, then $USERNAME. */
    unsetenv("USER");
    unsetenv("USERNAME");
    fake_set_reply("OK login=alice@contoso.com expires=1700000000 token=" TOKEN);
    session_start(&s, NULL, PASSWORD, NULL, "XOAUTH2", 0);
    ok(s.rc == SASL_FAIL && log_lines.count == 1 &&
           strstr(sasl_errdetail(s.conn), "no SASL user name") != NULL &&
           strstr(sasl_errdetail(s.conn), "needs a person") != NULL,
       "no authname: fails with a clear message: %s", log_lines.last);
    session_end(&s);
    if (user != NULL)
        setenv("USER", user, 1);
    if (username != NULL)
        setenv("USERNAME", username, 1);
    free(user);
    free(username);
}

/* count_mech - sasl_client_plugin_info callback: count plugins per name */
static void count_mech(client_sasl_mechanism_t *m, sasl_info_callback_stage_t stage, void *rock)
{
    int *counts = rock;

    if (stage != SASL_INFO_LIST_MECH || m == NULL || m->plug == NULL)
        return;
    if (strcmp(m->plug->mech_name, "XOAUTH2") == 0) {
        if (strcmp(m->plugname, "oauth2helper") == 0)
            counts[0]++;
        else if (strcmp(m->plugname, "kdexoauth2") == 0)
            counts[1]++;
    }
}

static void test_selection(int have_kde)
{
    static const char want[] = "user=alice@contoso.com\001auth=Bearer " TOKEN "\001\001";
    int counts[2] = {0, 0};
    session s;

    sasl_client_plugin_info("XOAUTH2", count_mech, counts);
    if (have_kde)
        ok(counts[0] == 1 && counts[1] == 1, "both XOAUTH2 plugins are loaded (ours %d, KDE %d)",
           counts[0], counts[1]);
    else
        skip_check("both XOAUTH2 plugins are loaded",
                   "libkdexoauth2.so not installed (Debian package libsasl2-modules-kdexoauth2)");

    fake_set_reply("OK login=alice@contoso.com expires=1700000000 token=" TOKEN);
    session_start(&s, "alice", PASSWORD, "smtp.office365.com", "PLAIN LOGIN XOAUTH2",
                  SASL_SEC_NOPLAINTEXT | SASL_SEC_NOANONYMOUS);
    ok(s.rc == SASL_OK && s.mech != NULL && strcmp(s.mech, "XOAUTH2") == 0 &&
           out_is(&s, want, sizeof(want) - 1) && strcmp(plugin_source(s.conn), "oauth2helper") == 0,
       "noplaintext, noanonymous and \"PLAIN LOGIN XOAUTH2\": our XOAUTH2 is chosen");
    session_end(&s);

    session_start(&s, "alice", PASSWORD, "smtp.office365.com", "LOGIN XOAUTH2", 0);
    ok(s.rc == SASL_OK && out_is(&s, want, sizeof(want) - 1) &&
           strcmp(plugin_source(s.conn), "oauth2helper") == 0 && (have_kde || !tap_in_ci()),
       "no security options: our XOAUTH2 still ranks first%s",
       have_kde      ? ""
       : tap_in_ci() ? " (not shown: libkdexoauth2.so not installed, CI=true)"
                     : " # SKIP libkdexoauth2.so not installed");
    session_end(&s);
}

/* Kept tokens (a daemon restart): tokens of 4,000 characters, as Entra's can be. */
#define KEPT_TOKEN_LEN 4000

/* kept_token - a 4,000-character token that differs by seed; "SECRETtoken" leads it */
static void kept_token(char *out, size_t outsize, unsigned seed)
{
    static const char chars[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/";
    size_t i;

    snprintf(out, outsize, "SECRETtoken%u.", seed);
    for (i = strlen(out); i < KEPT_TOKEN_LEN && i + 1 < outsize; i++)
        out[i] = chars[(i * 7 + seed * 13) % (sizeof(chars) - 1)];
    out[i] = '\0';
}

/* kept_reply - the daemon's OK reply for login with token, expiring in_s seconds from now */
static void kept_reply(const char *login, const char *token, long long in_s)
{
    static char reply[KEPT_TOKEN_LEN + 600];

    snprintf(reply, sizeof(reply), "OK login=%s expires=%lld token=%s", login,
             (long long)time(NULL) + in_s, token);
    fake_set_reply(reply);
}

/* kept_login - one login for authname (and password); whether it sent login with token */
static int kept_login(session *s, const char *authname, const char *password, const char *login,
                      const char *token)
{
    static char want[KEPT_TOKEN_LEN + 600];
    int wantlen;

    wantlen = snprintf(want, sizeof(want), "user=%s\001auth=Bearer %s\001\001", login, token);
    session_start(s, authname, password, NULL, "XOAUTH2", 0);
    return s->rc == SASL_OK && out_is(s, want, (size_t)wantlen);
}

/* kept_deferred - the login failed as temporary because the daemon could not be reached */
static int kept_deferred(session *s)
{
    return s->rc == SASL_TRYAGAIN && log_lines.count == 1 &&
           strstr(log_lines.last, "cannot reach the token daemon") != NULL &&
           strstr(log_lines.last, "SECRETtoken") == NULL && warn_lines.count == 0;
}

/* daemon_away - the daemon stops: its socket is gone (stale: left but nobody listening) */
static void daemon_away(int stale)
{
    struct sockaddr_un sun;
    int fd;

    fake_stop(socket_path);
    if (!stale)
        return;
    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", socket_path);
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    /* Bound, never listening: connect() gets ECONNREFUSED, as after a daemon crash. */
    if (fd >= 0 && bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0)
        close(fd);
}

/* daemon_hung - the daemon's socket listens but nobody accepts or answers; returns its fd */
static int daemon_hung(void)
{
    struct sockaddr_un sun;
    int fd;

    fake_stop(socket_path);
    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", socket_path);
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd >= 0 && (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 || listen(fd, 8) < 0)) {
        close(fd);
        fd = -1;
    }
    return fd;
}

/* daemon_back - the daemon serves again */
static void daemon_back(void)
{
    if (fake_start() < 0)
        printf("Bail out! cannot restart the fake daemon: %s\n", strerror(errno));
}

static void test_kept_used(void)
{
    static char a[KEPT_TOKEN_LEN + 1];
    static char b[KEPT_TOKEN_LEN + 1];
    session s;
    int hung;

    kept_token(a, sizeof(a), 1);
    kept_token(b, sizeof(b), 2);
    kept_reply("carol@contoso.com", a, 3600);
    ok(kept_login(&s, "carol", PASSWORD, "carol@contoso.com", a),
       "kept: the daemon answers carol with a 4,000-character token");
    session_end(&s);

    daemon_away(0);
    ok(kept_login(&s, "carol", PASSWORD, "carol@contoso.com", a),
       "kept: daemon gone (no socket): the token the daemon gave earlier is sent whole");
    ok(log_lines.count == 0 && warn_lines.count == 1 &&
           strstr(warn_lines.last, "account carol:") != NULL &&
           strstr(warn_lines.last, "cannot reach the token daemon") != NULL &&
           strstr(warn_lines.last, "using the token this process got from it earlier") != NULL,
       "kept: one warning line says so: %s", warn_lines.last);
    ok(strstr(warn_lines.last, "SECRETtoken") == NULL && strstr(warn_lines.last, PASSWORD) == NULL,
       "kept: the line holds neither the token nor the password");
    session_end(&s);

    daemon_away(1);
    ok(kept_login(&s, "carol", PASSWORD, "carol@contoso.com", a) && warn_lines.count == 1,
       "kept: daemon gone, its socket left behind (connection refused): used too");
    session_end(&s);

    daemon_back();
    kept_reply("carol@contoso.com", b, 3600);
    ok(kept_login(&s, "carol", PASSWORD, "carol@contoso.com", b) && warn_lines.count == 0,
       "kept: the daemon is back and wins: its new token is sent");
    session_end(&s);
    daemon_away(0);
    ok(kept_login(&s, "carol", PASSWORD, "carol@contoso.com", b),
       "kept: the newer token replaced the older one");
    session_end(&s);

    /* A daemon that takes the connection but never answers: the plugin's 30 s timeout. */
    hung = daemon_hung();
    ok(kept_login(&s, "carol", PASSWORD, "carol@contoso.com", b) && log_lines.count == 0 &&
           warn_lines.count == 1 && strstr(warn_lines.last, "did not answer within 30 s") != NULL,
       "kept: daemon hung: used after the 30 s timeout: %s", warn_lines.last);
    session_end(&s);
    if (hung >= 0)
        close(hung);
    unlink(socket_path);
    daemon_back();

    /* A delegate's token is kept under the delegate's account and sent as the shared mailbox. */
    kept_reply("delegate@contoso.com", a, 3600);
    ok(kept_login(&s, "shared@contoso.com", "account=delegate@contoso.com", "shared@contoso.com",
                  a),
       "kept: a delegate's token for a shared mailbox");
    session_end(&s);
    daemon_away(0);
    ok(kept_login(&s, "shared@contoso.com", "account=delegate@contoso.com", "shared@contoso.com",
                  a) &&
           strstr(warn_lines.last,
                  "account delegate@contoso.com (sending as shared@contoso.com)") != NULL,
       "kept: used for the shared mailbox while the daemon is gone");
    session_end(&s);
    session_start(&s, "shared@contoso.com", PASSWORD, NULL, "XOAUTH2", 0);
    ok(kept_deferred(&s), "kept: not for the shared mailbox's own account (%d: %s)", s.rc,
       log_lines.last);
    session_end(&s);
    daemon_back();
}

static void test_kept_lifetime(void)
{
    static char a[KEPT_TOKEN_LEN + 1];
    session s;

    kept_token(a, sizeof(a), 3);
    /* Exactly the minimum left: the daemon itself would not serve it any more. */
    kept_reply("frank@contoso.com", a, OAUTH2_TOKEN_MIN_REMAINING_S);
    ok(kept_login(&s, "frank", PASSWORD, "frank@contoso.com", a),
       "lifetime: the daemon answers with a token %d s from expiry", OAUTH2_TOKEN_MIN_REMAINING_S);
    session_end(&s);
    daemon_away(0);
    session_start(&s, "frank", PASSWORD, NULL, "XOAUTH2", 0);
    ok(kept_deferred(&s), "lifetime: not kept with only the minimum left: deferred (%d: %s)", s.rc,
       log_lines.last);
    session_end(&s);
    daemon_back();

    /* Three seconds above the minimum: used now, not once those have passed. */
    kept_reply("frank@contoso.com", a, OAUTH2_TOKEN_MIN_REMAINING_S + 3);
    ok(kept_login(&s, "frank", PASSWORD, "frank@contoso.com", a),
       "lifetime: the daemon answers with a token %d s from expiry",
       OAUTH2_TOKEN_MIN_REMAINING_S + 3);
    session_end(&s);
    daemon_away(0);
    ok(kept_login(&s, "frank", PASSWORD, "frank@contoso.com", a),
       "lifetime: used at once while the daemon is gone");
    session_end(&s);
    usleep(3200 * 1000);
    session_start(&s, "frank", PASSWORD, NULL, "XOAUTH2", 0);
    ok(kept_deferred(&s), "lifetime: 3.2 s later, at the minimum: not used, deferred (%d: %s)",
       s.rc, log_lines.last);
    session_end(&s);
    daemon_back();
}

/* kept_after - keep a token, let the daemon answer payload, then go away: must defer */
static void kept_after(const char *payload, const char *what, int code)
{
    static char a[KEPT_TOKEN_LEN + 1];
    session s;

    kept_token(a, sizeof(a), 4);
    kept_reply("grace@contoso.com", a, 3600);
    ok(kept_login(&s, "grace", PASSWORD, "grace@contoso.com", a), "%s: token kept first", what);
    session_end(&s);
    fake_set_reply(payload);
    session_start(&s, "grace", PASSWORD, NULL, "XOAUTH2", 0);
    ok(s.rc == code && warn_lines.count == 0,
       "%s: the daemon's answer stands (%d), the kept token is not used", what, s.rc);
    session_end(&s);
    daemon_away(0);
    session_start(&s, "grace", PASSWORD, NULL, "XOAUTH2", 0);
    ok(kept_deferred(&s), "%s: then the daemon goes away: the kept token is gone, deferred (%d)",
       what, s.rc);
    session_end(&s);
    daemon_back();
}

static void test_kept_daemon_answers(void)
{
    kept_after("TEMP token endpoint unreachable (HTTP 503), retrying", "TEMP", SASL_TRYAGAIN);
    kept_after("NOTFOUND ", "NOTFOUND", SASL_FAIL);
    kept_after("PERM refresh token revoked (AADSTS50173)", "PERM", SASL_FAIL);
}

static void test_kept_accounts(void)
{
    static char d[KEPT_TOKEN_LEN + 1];
    static char e[KEPT_TOKEN_LEN + 1];
    static char t[9][KEPT_TOKEN_LEN + 1];
    char name[9][40];
    char login[9][60];
    session s;
    int all = 1;
    int i;

    kept_token(d, sizeof(d), 5);
    kept_token(e, sizeof(e), 6);
    kept_reply("dave@contoso.com", d, 3600);
    ok(kept_login(&s, "dave", PASSWORD, "dave@contoso.com", d), "accounts: dave's token");
    session_end(&s);
    kept_reply("erin@contoso.com", e, 3600);
    ok(kept_login(&s, "erin", PASSWORD, "erin@contoso.com", e), "accounts: erin's token");
    session_end(&s);
    daemon_away(0);
    ok(kept_login(&s, "dave", PASSWORD, "dave@contoso.com", d),
       "accounts: daemon gone: dave gets dave's login and token");
    session_end(&s);
    ok(kept_login(&s, "erin", PASSWORD, "erin@contoso.com", e),
       "accounts: daemon gone: erin gets erin's login and token");
    session_end(&s);
    session_start(&s, "heidi", PASSWORD, NULL, "XOAUTH2", 0);
    ok(kept_deferred(&s), "accounts: an account never served gets nothing kept for another (%d)",
       s.rc);
    session_end(&s);
    daemon_back();

    /* Nine more accounts: the table holds eight, the oldest makes way. */
    for (i = 0; i < 9; i++) {
        snprintf(name[i], sizeof(name[i]), "bulk%d", i);
        snprintf(login[i], sizeof(login[i]), "bulk%d@contoso.com", i);
        kept_token(t[i], sizeof(t[i]), 10 + (unsigned)i);
        kept_reply(login[i], t[i], 3600);
        all = all && kept_login(&s, name[i], PASSWORD, login[i], t[i]);
        session_end(&s);
    }
    ok(all, "accounts: nine more accounts served");
    daemon_away(0);
    session_start(&s, name[0], PASSWORD, NULL, "XOAUTH2", 0);
    ok(kept_deferred(&s), "accounts: the oldest of nine was evicted (%d)", s.rc);
    session_end(&s);
    session_start(&s, "dave", PASSWORD, NULL, "XOAUTH2", 0);
    ok(kept_deferred(&s), "accounts: and the older ones before it (%d)", s.rc);
    session_end(&s);
    for (all = 1, i = 1; i < 9; i++) {
        all = all && kept_login(&s, name[i], PASSWORD, login[i], t[i]);
        session_end(&s);
    }
    ok(all, "accounts: the eight newest are kept, each with its own token");
    daemon_back();
}

static void test_chroot_path(const char *base)
{
    static const char want[] = "user=alice@contoso.com\001auth=Bearer " TOKEN "\001\001";
    char from[300];
    char to[300];
    session s;

    /* Renaming the working directory makes the absolute path vanish, as a chroot does. */
    snprintf(from, sizeof(from), "%s/q", base);
    snprintf(to, sizeof(to), "%s/q-moved", base);
    if (rename(from, to) < 0) {
        ok(0, "rename %s: %s", from, strerror(errno));
        return;
    }
    fake_set_reply("OK login=alice@contoso.com expires=1700000000 token=" TOKEN);
    session_start(&s, "alice", PASSWORD, NULL, "XOAUTH2", 0);
    ok(s.rc == SASL_OK && out_is(&s, want, sizeof(want) - 1),
       "the socket is reached through its path relative to the working directory");
    session_end(&s);
    snprintf(socket_path, sizeof(socket_path), "%s/private/oauth2-token-helper", to);
}

static void test_daemon_down(const char *configured)
{
    session s;
    char want[300];

    fake_stop(socket_path);
    snprintf(want, sizeof(want),
             "cannot reach the token daemon at %s (No such file or directory); temporary, mail "
             "stays queued",
             configured);
    session_start(&s, "alice@contoso.com", PASSWORD, NULL, "XOAUTH2", 0);
    check_failure("daemon not running", &s, SASL_TRYAGAIN, "alice@contoso.com",
                  "temporary, mail stays queued");
    ok(strstr(sasl_errdetail(s.conn), want) != NULL, "daemon not running: %s",
       sasl_errdetail(s.conn));
    session_end(&s);
}

/*
 * test_default_socket - a config with no socket line (the shipped sample):
 * the plugin uses the daemon's built-in socket, not an empty path
 */
static void test_default_socket(const char *conf, const sasl_callback_t *callbacks)
{
    const char *detail;
    char want[300];
    session s;
    FILE *fp;

    sasl_client_done();
    fp = fopen(conf, "w");
    if (fp == NULL) {
        ok(0, "%s: %s", conf, strerror(errno));
        return;
    }
    fputs("# the sample config: socket commented out\n#socket = /elsewhere\n"
          "[account alice@contoso.com]\nclient_id = x\n",
          fp);
    fclose(fp);
    ok(sasl_client_init(callbacks) == SASL_OK, "sasl_client_init again, no socket line");
    snprintf(want, sizeof(want), "cannot reach the token daemon at %s (", OAUTH2_DEFAULT_SOCKET);
    session_start(&s, "alice@contoso.com", PASSWORD, NULL, "XOAUTH2", 0);
    detail = sasl_errdetail(s.conn);
    if (access(OAUTH2_DEFAULT_SOCKET, F_OK) == 0)
        /* Some daemon listens there (another test): reaching it is the proof. */
        ok(strstr(detail, "cannot reach") == NULL && strstr(detail, "at  (") == NULL,
           "no socket line: the daemon's built-in socket %s answered: %s", OAUTH2_DEFAULT_SOCKET,
           detail);
    else
        ok(s.rc != SASL_OK && strstr(detail, want) != NULL &&
               strstr(detail, "built-in socket path") != NULL,
           "no socket line: the daemon's built-in socket: %s", detail);
    session_end(&s);
}

/*
 * test_relative_socket - a socket line the daemon refuses (not an absolute
 * path): the plugin refuses it by the same rule, ini_socket_ok(), and uses
 * the built-in socket, naming the rule and its fix
 */
static void test_relative_socket(const char *conf, const sasl_callback_t *callbacks)
{
    const char *detail;
    session s;
    FILE *fp;

    sasl_client_done();
    fp = fopen(conf, "w");
    if (fp == NULL) {
        ok(0, "%s: %s", conf, strerror(errno));
        return;
    }
    fputs("socket = private/oauth2-token-helper\n[account alice@contoso.com]\nclient_id = x\n", fp);
    fclose(fp);
    ok(sasl_client_init(callbacks) == SASL_OK, "sasl_client_init again, a relative socket");
    session_start(&s, "alice@contoso.com", PASSWORD, NULL, "XOAUTH2", 0);
    detail = sasl_errdetail(s.conn);
    if (access(OAUTH2_DEFAULT_SOCKET, F_OK) == 0)
        ok(strstr(detail, "private/oauth2-token-helper (") == NULL ||
               strstr(detail, OAUTH2_DEFAULT_SOCKET " (") != NULL,
           "a relative socket is not used: %s", detail);
    else
        ok(s.rc != SASL_OK && strstr(detail, "at " OAUTH2_DEFAULT_SOCKET " (") != NULL &&
               strstr(detail, "must be an absolute path") != NULL,
           "a relative socket is refused by the daemon's rule, the built-in one used: %s", detail);
    session_end(&s);
}

/* find_kde - Debian's other XOAUTH2 client plugin, if installed */
static int find_kde(char *out, size_t outsize)
{
    static const char *patterns[] = {"/usr/lib/*/sasl2/libkdexoauth2.so",
                                     "/usr/lib/sasl2/libkdexoauth2.so",
                                     "/usr/lib64/sasl2/libkdexoauth2.so", NULL};
    const char *env = getenv("KDE_XOAUTH2_PLUGIN");
    int i;

    if (env != NULL && *env != '\0') {
        snprintf(out, outsize, "%s", env);
        return access(out, R_OK) == 0;
    }
    for (i = 0; patterns[i] != NULL; i++) {
        glob_t g;

        if (glob(patterns[i], 0, NULL, &g) == 0 && g.gl_pathc > 0) {
            snprintf(out, outsize, "%s", g.gl_pathv[0]);
            globfree(&g);
            return 1;
        }
        globfree(&g);
    }
    return 0;
}

/* remove_tree - rm -r for the few files this test makes */
static void remove_tree(const char *base)
{
    static const char *files[] = {"plugins/liboauth2helper.so",
                                  "plugins/libkdexoauth2.so",
                                  "oauth2.conf",
                                  "q/private",
                                  "q",
                                  "q-moved/private",
                                  "q-moved",
                                  "plugins",
                                  NULL};
    char path[400];
    int i;

    for (i = 0; files[i] != NULL; i++) {
        snprintf(path, sizeof(path), "%s/%s", base, files[i]);
        if (unlink(path) < 0)
            rmdir(path);
    }
    rmdir(base);
}

int main(void)
{
    static const sasl_callback_t global_callbacks[] = {
        {SASL_CB_LOG, TEST_CALLBACK(test_log), NULL},
        {SASL_CB_LIST_END, NULL, NULL},
    };
    const char *builddir = getenv("top_builddir");
    char base[] = "/tmp/test_plugin.XXXXXX";
    char plugin[600];
    char kde[600];
    char path[400];
    char configured[300];
    FILE *fp;
    int have_kde;
    int rc;

    if (builddir == NULL || *builddir == '\0')
        builddir = TOP_BUILDDIR;
    snprintf(plugin, sizeof(plugin), "%s/plugin/.libs/liboauth2helper.so", builddir);
    if (access(plugin, R_OK) < 0) {
        printf("Bail out! plugin not built: %s\n", plugin);
        return 1;
    }
    if (mkdtemp(base) == NULL) {
        printf("Bail out! mkdtemp: %s\n", strerror(errno));
        return 1;
    }
    snprintf(path, sizeof(path), "%s/plugins", base);
    mkdir(path, 0700);
    snprintf(path, sizeof(path), "%s/plugins/liboauth2helper.so", base);
    ok(symlink(plugin, path) == 0, "plugin linked into %s/plugins", base);
    have_kde = find_kde(kde, sizeof(kde));
    if (have_kde) {
        snprintf(path, sizeof(path), "%s/plugins/libkdexoauth2.so", base);
        have_kde = symlink(kde, path) == 0;
    }
    snprintf(path, sizeof(path), "%s/q", base);
    mkdir(path, 0700);
    snprintf(path, sizeof(path), "%s/q/private", base);
    mkdir(path, 0700);
    snprintf(socket_path, sizeof(socket_path), "%s/q/private/oauth2-token-helper", base);
    snprintf(configured, sizeof(configured), "%s", socket_path);

    /* Only the global socket key counts; the rest belongs to the helper. */
    snprintf(path, sizeof(path), "%s/oauth2.conf", base);
    fp = fopen(path, "w");
    if (fp == NULL) {
        printf("Bail out! %s: %s\n", path, strerror(errno));
        return 1;
    }
    fprintf(fp,
            "# test config\nstate_dir = /nonexistent\nsocket = %s   # a comment, as in "
            "conf/exim/\n\n"
            "[account alice]\nsocket = /wrong/section/socket\nclient_id = x\n",
            socket_path);
    fclose(fp);
    setenv("OAUTH2_TOKEN_HELPER_CONFIG", path, 1);
    snprintf(path, sizeof(path), "%s/plugins", base);
    setenv("SASL_PATH", path, 1);

    /* Postfix's working directory is the queue directory when it initialises SASL. */
    snprintf(path, sizeof(path), "%s/q", base);
    if (chdir(path) < 0 || fake_start() < 0) {
        printf("Bail out! setup in %s: %s\n", path, strerror(errno));
        return 1;
    }
    rc = sasl_client_init(global_callbacks);
    ok(rc == SASL_OK, "sasl_client_init with SASL_PATH=%s/plugins (%d)", base, rc);
    if (rc != SASL_OK)
        return done_testing();

    test_xoauth2();
    test_oauthbearer();
    test_long_token();
    test_delegate();
    test_error_challenge();
    test_daemon_replies();
    test_no_authname();
    test_selection(have_kde);
    test_kept_used();
    test_kept_lifetime();
    test_kept_daemon_answers();
    test_kept_accounts();
    test_chroot_path(base);
    test_daemon_down(configured);
    snprintf(path, sizeof(path), "%s/oauth2.conf", base);
    test_default_socket(path, global_callbacks);
    test_relative_socket(path, global_callbacks);

    sasl_client_done();
    if (chdir("/") < 0)
        perror("chdir /");
    remove_tree(base);
    return done_testing();
}
