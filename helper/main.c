/*
 * main.c - oauth2-token-helper: the command line
 *
 * SYNOPSIS
 *     oauth2-token-helper --help | --version | help [COMMAND] | COMMAND --help
 *     oauth2-token-helper [-c FILE] [-v] serve [--syslog]
 *     oauth2-token-helper [-c FILE] token ACCOUNT [--format raw|xoauth2|oauthbearer|json]
 *     oauth2-token-helper [-c FILE] authorize ACCOUNT [--device|--browser|--paste]
 *                                   [--port N] [--timeout SECONDS] [--no-open]
 *     oauth2-token-helper [-c FILE] import ACCOUNT    (refresh token on stdin)
 *     oauth2-token-helper [-c FILE] [-v] config-check
 *     oauth2-token-helper [-c FILE] status [ACCOUNT...] [--json]
 *     oauth2-token-helper [-c FILE] check [-w DAYS] [-c DAYS] [ACCOUNT...]
 *     oauth2-token-helper [-c FILE] revoke ACCOUNT
 *     oauth2-token-helper [-c FILE] test ACCOUNT --smtp HOST[:PORT] [--to ADDR] [--cafile F]
 *     oauth2-token-helper [-c FILE] help [COMMAND]
 *
 * DESCRIPTION
 *     Every command's synopsis, summary and options live in one table,
 *     commands[], which prints the usage, "help COMMAND" and
 *     "COMMAND --help", so the three cannot drift apart.
 *
 * DIAGNOSTICS
 *     Exit status follows sysexits(3), so MTAs and scripts can tell a
 *     temporary failure (75, retry later) from one that needs a person:
 *     0 success, 64 usage, 67 unknown account, 69 needs a person (refresh
 *     token revoked, bad secret, ...), 75 temporary, 78 configuration error.
 *
 * SECURITY
 *     Tokens are printed only by "token", on standard output. Refresh tokens
 *     are read from standard input, never from the command line.
 */
#include "autoconfig.h"

#include <ctype.h>
#include <errno.h>
#include <json-c/json.h>
#include <signal.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "authorize.h"
#include "cache.h"
#include "clientauth.h"
#include "config.h"
#include "log.h"
#include "netstring.h"
#include "privdrop.h"
#include "protocol.h"
#include "saslwire.h"
#include "server.h"
#include "sockclient.h"
#include "state.h"
#include "smtptest.h"
#include "status.h"

#define EX_OK_ 0
#define EX_USAGE_ 64
#define EX_NOUSER_ 67
#define EX_UNAVAILABLE_ 69
#define EX_TEMPFAIL_ 75
#define EX_CONFIG_ 78

#define DAEMON_TIMEOUT_MS 30000

/* -v before the command (serve and config-check use it) */
static int opt_verbose;

/* usage - a usage error: the synopsis of the command at hand; defined with the command table */
static int usage(void);

/* load_config - load or explain why not */
static struct config *load_config(const char *file)
{
    char err[1024];
    struct config *cfg = config_load(file, err, sizeof(err));

    if (cfg == NULL)
        fprintf(stderr, "oauth2-token-helper: %s\n", err);
    return cfg;
}

/* print_b64 - base64 of a SASL response, as typed into an SMTP session */
static void print_b64(const char *data, size_t len)
{
    size_t cap = 4 * ((len + 2) / 3) + 1;
    unsigned char *out = malloc(cap);

    if (out == NULL)
        return;
    EVP_EncodeBlock(out, (const unsigned char *)data, (int)len);
    printf("%s\n", out);
    explicit_bzero(out, cap);
    free(out);
}

/* print_token - write the token in the requested format */
static int print_token(const char *format, const char *account, const char *login,
                       const char *token, long long expires)
{
    char buf[SASLWIRE_MAX_TOKEN + 1024];
    size_t len;
    int rc = EX_OK_;

    if (strcmp(format, "raw") == 0) {
        printf("%s\n", token);
    } else if (strcmp(format, "xoauth2") == 0) {
        if (saslwire_xoauth2(login, token, buf, sizeof(buf), &len) == 0)
            print_b64(buf, len);
        else
            rc = EX_TEMPFAIL_;
    } else if (strcmp(format, "oauthbearer") == 0) {
        if (saslwire_oauthbearer(login, NULL, 0, token, buf, sizeof(buf), &len) == 0)
            print_b64(buf, len);
        else
            rc = EX_TEMPFAIL_;
    } else {
        json_object *o = json_object_new_object();
        const char *text;

        json_object_object_add(o, "account", json_object_new_string(account));
        json_object_object_add(o, "login", json_object_new_string(login));
        json_object_object_add(o, "access_token", json_object_new_string(token));
        json_object_object_add(o, "expires_at", json_object_new_int64(expires));
        json_object_object_add(o, "expires_in",
                               json_object_new_int64(expires - (long long)time(NULL)));
        text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
                                                     JSON_C_TO_STRING_NOSLASHESCAPE);
        printf("%s\n", text);
        explicit_bzero((char *)text, strlen(text));
        json_object_put(o);
    }
    explicit_bzero(buf, sizeof(buf));
    fflush(stdout);
    return rc;
}

/* token_direct - no daemon: refresh here, under the account's lock */
static int token_direct(struct config *cfg, const char *name, const char *daemon_err, char *login,
                        size_t loginsize, char *token, size_t tokensize, long long *expires)
{
    char why[1024];

    /* As root: the HTTPS and the reply's parsing run as the daemon's user. */
    if (privdrop_to_daemon_user(cfg, "refresh the token", why, sizeof(why)) < 0) {
        fprintf(stderr, "oauth2-token-helper: account %s: %s\n", name, why);
        return EX_CONFIG_;
    }
    if (access(cfg->state_dir, R_OK | W_OK | X_OK) < 0) {
        /* Not root nor the daemon's user (Exim, a script): only the daemon can help. */
        fprintf(stderr,
                "oauth2-token-helper: account %s: the token daemon is not running (%s), and "
                "this user cannot refresh tokens by itself (%s: %s); start the daemon\n",
                name, daemon_err, cfg->state_dir, strerror(errno));
        return EX_TEMPFAIL_;
    }
    struct cache *c = cache_new(cfg, NULL);
    struct acct *a;
    int rc = EX_OK_;

    if (c == NULL)
        return EX_TEMPFAIL_;
    a = cache_find(c, name);
    if (cache_refresh_sync(c, a) == 0 && a->st.access_token != NULL &&
        strlen(a->st.access_token) < tokensize && strlen(a->conf->login) < loginsize) {
        snprintf(token, tokensize, "%s", a->st.access_token);
        snprintf(login, loginsize, "%s", a->conf->login);
        *expires = a->st.expires_at;
    } else {
        fprintf(stderr, "oauth2-token-helper: account %s: %s\n", name,
                a->last_error[0] ? a->last_error : "no token");
        rc = a->last == LAST_PERMANENT ? EX_UNAVAILABLE_ : EX_TEMPFAIL_;
    }
    cache_free(c);
    return rc;
}

/* find_account - the named account, or a message and NULL */
static const struct account_conf *find_account(const struct config *cfg, const char *name)
{
    const struct account_conf *a = config_find(cfg, name);

    if (a == NULL)
        fprintf(stderr,
                "oauth2-token-helper: account %s is not in %s; add an [account %s] section "
                "first\n",
                name, cfg->path, name);
    return a;
}

/*
 * load_account - the config and its account name for a subcommand about one
 * account; on a problem, a message and the exit status (cfg is then NULL)
 */
static int load_account(const char *file, const char *name, struct config **cfg,
                        const struct account_conf **acct)
{
    const struct account_conf *a;

    *cfg = load_config(file);
    if (*cfg == NULL)
        return EX_CONFIG_;
    a = find_account(*cfg, name);
    if (a == NULL) {
        config_free(*cfg);
        *cfg = NULL;
        return EX_NOUSER_;
    }
    if (acct != NULL)
        *acct = a;
    return EX_OK_;
}

/*
 * get_token - an account's login and access token: from the daemon when it
 * runs, else refreshed here. Messages go to stderr; returns an exit status.
 */
static int get_token(struct config *cfg, const char *name, char *login, size_t loginsize,
                     char *token, size_t tokensize, long long *expires)
{
    socketmap_status status;
    char *data;
    char err[512];
    sockclient_result r;
    int rc;

    if (find_account(cfg, name) == NULL)
        return EX_NOUSER_;
    data = malloc(PROTOCOL_MAX_REPLY);
    if (data == NULL)
        return EX_TEMPFAIL_;
    r = sockclient_query(cfg->socket, NULL, PROTOCOL_ACCOUNT, name, DAEMON_TIMEOUT_MS, &status,
                         data, PROTOCOL_MAX_REPLY, err, sizeof(err));
    if (r == SOCKCLIENT_UNREACHABLE) {
        rc = token_direct(cfg, name, err, login, loginsize, token, tokensize, expires);
    } else if (r != SOCKCLIENT_OK) {
        fprintf(stderr, "oauth2-token-helper: account %s: %s\n", name, err);
        rc = EX_TEMPFAIL_;
    } else if (status == SOCKETMAP_OK) {
        rc = EX_OK_;
        if (protocol_decode_account(data, strlen(data), login, loginsize, token, tokensize,
                                    expires) < 0) {
            fprintf(stderr, "oauth2-token-helper: account %s: malformed reply from the daemon\n",
                    name);
            rc = EX_TEMPFAIL_;
        }
    } else {
        char clean[600];

        log_clean(clean, sizeof(clean), data, strlen(data));
        if (status == SOCKETMAP_NOTFOUND)
            fprintf(stderr,
                    "oauth2-token-helper: account %s: unknown to the running daemon; reload it "
                    "(SIGHUP) after editing %s\n",
                    name, cfg->path);
        else
            fprintf(stderr, "oauth2-token-helper: %s\n", clean);
        rc = status == SOCKETMAP_NOTFOUND ? EX_NOUSER_
             : status == SOCKETMAP_PERM   ? EX_UNAVAILABLE_
                                          : EX_TEMPFAIL_;
    }
    explicit_bzero(data, PROTOCOL_MAX_REPLY);
    free(data);
    return rc;
}

/* cmd_token - print a token, through the daemon when it runs */
static int cmd_token(const char *file, int argc, char **argv)
{
    const char *format = "raw";
    const char *name = NULL;
    char login[SASLWIRE_MAX_LOGIN + 1];
    char *token;
    struct config *cfg;
    long long expires = 0;
    int rc;
    int i;

    for (i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--format") == 0 && i + 1 < argc)
            format = argv[++i];
        else if (strncmp(argv[i], "--format=", 9) == 0)
            format = argv[i] + 9;
        else if (name == NULL && argv[i][0] != '-')
            name = argv[i];
        else
            return usage();
    }
    if (name == NULL)
        return usage();
    if (strcmp(format, "raw") != 0 && strcmp(format, "xoauth2") != 0 &&
        strcmp(format, "oauthbearer") != 0 && strcmp(format, "json") != 0) {
        fprintf(stderr, "oauth2-token-helper: --format must be raw, xoauth2, oauthbearer or json\n");
        return EX_USAGE_;
    }
    cfg = load_config(file);
    if (cfg == NULL)
        return EX_CONFIG_;
    token = malloc(SASLWIRE_MAX_TOKEN + 1);
    if (token == NULL) {
        config_free(cfg);
        return EX_TEMPFAIL_;
    }
    rc = get_token(cfg, name, login, sizeof(login), token, SASLWIRE_MAX_TOKEN + 1, &expires);
    if (rc == EX_OK_)
        rc = print_token(format, name, login, token, expires);
    explicit_bzero(token, SASLWIRE_MAX_TOKEN + 1);
    free(token);
    config_free(cfg);
    return rc;
}

/* notify_daemon - ask a running daemon to reread an account's state; says what happened */
static void notify_daemon(const struct config *cfg, const char *name)
{
    socketmap_status status;
    char reply[256];
    char err[512];
    sockclient_result r;

    r = sockclient_query(cfg->socket, NULL, PROTOCOL_RELOAD, name, DAEMON_TIMEOUT_MS, &status,
                         reply, sizeof(reply), err, sizeof(err));
    if (r == SOCKCLIENT_OK && status == SOCKETMAP_OK)
        printf("account %s: the running daemon picked it up\n", name);
    else if (r == SOCKCLIENT_OK && status == SOCKETMAP_NOTFOUND)
        printf("account %s: the running daemon does not know this account yet; reload it "
               "(systemctl reload oauth2-token-helper, or SIGHUP) to read %s\n",
               name, cfg->path);
    else if (r == SOCKCLIENT_UNREACHABLE)
        printf("account %s: the daemon is not running; it will use the token when it starts\n",
               name);
    else
        printf("account %s: could not tell the daemon (%s); it will notice at its next "
               "request\n",
               name, r == SOCKCLIENT_OK ? reply : err);
}

/*
 * store_grant - write an account's new state (refresh token, maybe an
 * access token) under its lock, and tell the daemon. Signals are held off
 * while the file is written, so an interrupt cannot leave half of it done.
 */
static int store_grant(const struct config *cfg, const char *name, struct account_state *st)
{
    sigset_t all;
    sigset_t old;
    char err[512];
    int rc = EX_OK_;
    int fd;

    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, &old);
    if (mkdir(cfg->state_dir, 0700) < 0 && errno != EEXIST) {
        fprintf(stderr, "oauth2-token-helper: cannot create state_dir %s: %s\n", cfg->state_dir,
                strerror(errno));
        rc = EX_CONFIG_;
        goto out;
    }
    if (cfg->run_uid != (uid_t)-1 && geteuid() == 0)
        if (chown(cfg->state_dir, cfg->run_uid, cfg->run_gid) < 0) {
            /* config-check reports a state_dir the daemon cannot use */
        }
    fd = state_lock(cfg->state_dir, name, 0, err, sizeof(err));
    if (fd < 0) {
        fprintf(stderr, "oauth2-token-helper: %s\n", err);
        rc = EX_TEMPFAIL_;
        goto out;
    }
    st->rt_stored = (long long)time(NULL);
    st->authorized = st->rt_stored;
    if (state_save(cfg->state_dir, name, st, NULL, err, sizeof(err)) < 0) {
        fprintf(stderr, "oauth2-token-helper: %s\n", err);
        rc = EX_TEMPFAIL_;
    }
    state_unlock(fd);
out:
    sigprocmask(SIG_SETMASK, &old, NULL);
    if (rc == EX_OK_) {
        printf("account %s: refresh token stored in %s/%s.state\n", name, cfg->state_dir, name);
        notify_daemon(cfg, name);
    }
    return rc;
}

/* cmd_import - store a refresh token read from standard input */
static int cmd_import(const char *file, int argc, char **argv)
{
    struct account_state st;
    struct config *cfg;
    char prompt[300];
    char err[1024];
    char *rt;
    int rc;

    if (argc != 1 || argv[0][0] == '-')
        return usage();
    rc = load_account(file, argv[0], &cfg, NULL);
    if (rc != EX_OK_)
        return rc;
    snprintf(prompt, sizeof(prompt), "Refresh token for %s: ", argv[0]);
    authz_catch_signals(); /* Ctrl-C at the prompt: the terminal gets its echo back */
    rt = authz_read_line(prompt, SASLWIRE_MAX_TOKEN);
    if (rt == NULL || rt[0] == '\0') {
        fprintf(stderr, "oauth2-token-helper: %s\n",
                authz_interrupted ? "interrupted; nothing stored"
                                  : "no refresh token on standard input");
        secret_free(rt);
        config_free(cfg);
        return authz_interrupted ? 130 : EX_USAGE_;
    }
    if (!tokenresp_opaque_ok(rt, SASLWIRE_MAX_TOKEN)) {
        fprintf(stderr, "oauth2-token-helper: that is not a refresh token (it holds spaces or "
                        "control characters, or is too long)\n");
        secret_free(rt);
        config_free(cfg);
        return EX_USAGE_;
    }
    memset(&st, 0, sizeof(st));
    st.refresh_token = rt;
    /* As root: the state file is written as the daemon's user, who must read it. */
    if (privdrop_to_daemon_user(cfg, NULL, err, sizeof(err)) < 0) {
        fprintf(stderr, "oauth2-token-helper: account %s: %s\n", argv[0], err);
        state_clear(&st);
        config_free(cfg);
        return EX_CONFIG_;
    }
    rc = store_grant(cfg, argv[0], &st);
    state_clear(&st);
    config_free(cfg);
    return rc;
}

/* parse_number - a decimal option value within [min, max]; -1 when it is not */
static long parse_number(const char *s, long min, long max)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
        return -1;
    return v;
}

/* authorize_options - parse authorize's options; the account name or NULL on a usage error */
static const char *authorize_options(int argc, char **argv, struct authz_options *opt)
{
    const char *name = NULL;
    int flows = 0;
    int i;

    memset(opt, 0, sizeof(*opt));
    opt->flow = authz_default_flow();
    opt->timeout_s = AUTHZ_DEFAULT_TIMEOUT_S;
    opt->open_browser = 1;
    for (i = 0; i < argc; i++) {
        long v;

        if (strcmp(argv[i], "--device") == 0) {
            opt->flow = AUTHZ_DEVICE;
            flows++;
        } else if (strcmp(argv[i], "--browser") == 0) {
            opt->flow = AUTHZ_BROWSER;
            flows++;
        } else if (strcmp(argv[i], "--paste") == 0) {
            opt->flow = AUTHZ_PASTE;
            flows++;
        } else if (strcmp(argv[i], "--no-open") == 0) {
            opt->open_browser = 0;
        } else if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
            v = parse_number(argv[++i], 0, 65535);
            if (v < 0)
                return NULL;
            opt->port = (unsigned)v;
        } else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc) {
            v = parse_number(argv[++i], 1, 86400);
            if (v < 0)
                return NULL;
            opt->timeout_s = v;
        } else if (name == NULL && argv[i][0] != '-') {
            name = argv[i];
        } else {
            return NULL;
        }
    }
    return flows > 1 ? NULL : name;
}

/* cmd_authorize - get a refresh token by signing in once, store it, tell the daemon */
static int cmd_authorize(const char *file, int argc, char **argv)
{
    struct authz_options opt;
    struct token_result res;
    struct account_state st;
    const struct account_conf *acct;
    struct config *cfg;
    const char *name = authorize_options(argc, argv, &opt);
    char err[1024];
    authz_result r;
    int rc;

    if (name == NULL)
        return usage();
    rc = load_account(file, name, &cfg, &acct);
    if (rc != EX_OK_)
        return rc;
    /* As root: the listener, the HTTPS and the parsing run as the daemon's user. */
    if (privdrop_to_daemon_user(cfg, "sign in", err, sizeof(err)) < 0) {
        fprintf(stderr, "oauth2-token-helper: account %s: %s\n", name, err);
        config_free(cfg);
        return EX_CONFIG_;
    }
    authz_catch_signals();
    r = authz_run(acct, &opt, &res, err, sizeof(err));
    if (r != AUTHZ_OK) {
        fprintf(stderr, "oauth2-token-helper: %s\n",
                r == AUTHZ_INTERRUPTED ? "interrupted; nothing stored" : err);
        config_free(cfg);
        return r == AUTHZ_INTERRUPTED ? 130
               : r == AUTHZ_TEMPORARY ? EX_TEMPFAIL_
               : r == AUTHZ_CONFIG    ? EX_CONFIG_
                                      : EX_UNAVAILABLE_;
    }
    memset(&st, 0, sizeof(st));
    st.refresh_token = res.refresh_token;
    st.access_token = res.access_token;
    st.obtained_at = (long long)time(NULL);
    st.expires_at = st.obtained_at + res.expires_in;
    res.refresh_token = NULL;
    res.access_token = NULL;
    printf("account %s: signed in; the identity platform granted a refresh token\n", name);
    rc = store_grant(cfg, name, &st);
    state_clear(&st);
    config_free(cfg);
    return rc;
}

/* daemon_pid - the pid of the process listening on path (SO_PEERCRED), 0 when unknown */
static long daemon_pid(const char *path)
{
    struct sockaddr_un sun;
    struct ucred cred;
    socklen_t len = sizeof(cred);
    long pid = 0;
    int fd;

    if (strlen(path) >= sizeof(sun.sun_path))
        return 0;
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    memcpy(sun.sun_path, path, strlen(path) + 1);
    if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0 &&
        getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0)
        pid = (long)cred.pid;
    close(fd);
    return pid;
}

/*
 * collect_status - status objects of the named accounts (all when none),
 * each with what the daemon said about it; -1 on a bad name. An account
 * the daemon does not know (added without a reload) is shown from its
 * state file, and the daemon still counts as running.
 */
static int collect_status(struct config *cfg, char **names, int n, json_object *out,
                          struct status_daemon *d)
{
    struct cache *c = NULL;
    char *data = malloc(SOCKETMAP_MAX_REPLY);
    static char derr[600];
    int asked = 0;
    size_t i;
    int rc = 0;

    d->running = 1;
    d->pid = 0;
    d->socket = cfg->socket;
    d->error = derr;
    derr[0] = '\0';
    if (data == NULL)
        return -1;
    for (i = 0; i < (n > 0 ? (size_t)n : cfg->n_accounts); i++) {
        const char *name = n > 0 ? names[i] : cfg->accounts[i].name;
        socketmap_status status = SOCKETMAP_TEMP;
        sockclient_result r = SOCKCLIENT_UNREACHABLE;
        json_object *st = NULL;
        char err[512];
        int knows = -1;

        if (find_account(cfg, name) == NULL) {
            rc = -1;
            break;
        }
        if (d->running == 1 && derr[0] == '\0') {
            r = sockclient_query(cfg->socket, NULL, PROTOCOL_STATUS, name, DAEMON_TIMEOUT_MS,
                                 &status, data, SOCKETMAP_MAX_REPLY, err, sizeof(err));
            if (r == SOCKCLIENT_OK && status == SOCKETMAP_OK) {
                st = json_tokener_parse(data);
                knows = 1;
            } else if (r == SOCKCLIENT_OK && status == SOCKETMAP_NOTFOUND) {
                knows = 0;
            } else if (r == SOCKCLIENT_OK) {
                log_clean(derr, sizeof(derr), data, strlen(data));
            } else if (r == SOCKCLIENT_UNREACHABLE) {
                d->running = 0;
                snprintf(derr, sizeof(derr), "%s", err);
            } else {
                d->running = r == SOCKCLIENT_DENIED ? -1 : 1;
                snprintf(derr, sizeof(derr), "%s", err);
            }
            if (!asked && d->running == 1 && derr[0] == '\0')
                d->pid = daemon_pid(cfg->socket);
            asked = 1;
        }
        if (st == NULL) {
            struct acct *a;

            if (c == NULL && (c = cache_new(cfg, NULL)) == NULL) {
                rc = -1;
                break;
            }
            a = cache_find(c, name);
            cache_load(a);
            st = status_json(a);
        }
        status_set_daemon(st, d, knows);
        json_object_array_add(out, st);
    }
    cache_free(c);
    free(data);
    return rc;
}

/* cmd_status - show every account's state */
static int cmd_status(const char *file, int argc, char **argv)
{
    struct config *cfg;
    json_object *all = json_object_new_array();
    char *names[argc + 1];
    int n = 0;
    int as_json = 0;
    struct status_daemon d;
    int rc = EX_OK_;
    int i;

    for (i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            as_json = 1;
        else if (argv[i][0] == '-')
            return usage();
        else
            names[n++] = argv[i];
    }
    cfg = load_config(file);
    if (cfg == NULL) {
        json_object_put(all);
        return EX_CONFIG_;
    }
    if (collect_status(cfg, names, n, all, &d) < 0) {
        rc = EX_NOUSER_;
    } else if (as_json) {
        printf("%s\n", json_object_to_json_string_ext(all, JSON_C_TO_STRING_PRETTY));
    } else {
        size_t k;

        if (d.running == 0)
            printf("The token daemon is not running (no answer on %s); showing the state "
                   "files.\n\n",
                   cfg->socket);
        else if (d.error[0] != '\0')
            printf("Could not ask the token daemon (%s); showing the state files.\n\n", d.error);
        for (k = 0; k < json_object_array_length(all); k++) {
            status_print(stdout, json_object_array_get_idx(all, k));
            printf("\n");
        }
    }
    json_object_put(all);
    config_free(cfg);
    return rc;
}

/*
 * check_days - the value of check's -w or -c: whole days; on a bad value,
 * one Nagios UNKNOWN line that says what is wrong and the fix, and -1
 */
static long check_days(const char *opt, int i, int argc, char **argv)
{
    long v;

    if (i + 1 >= argc) {
        printf("OAUTH2 UNKNOWN - %s needs a number of days, e.g. check -w 30 -c 7\n", opt);
        return -1;
    }
    v = parse_number(argv[i + 1], 0, 100000);
    if (v >= 0)
        return v;
    if (strcmp(opt, "-c") == 0 &&
        (strchr(argv[i + 1], '/') != NULL || access(argv[i + 1], F_OK) == 0))
        printf("OAUTH2 UNKNOWN - check -c takes the critical threshold in days, not a file; "
               "the config file option goes before the command: oauth2-token-helper -c %.200s "
               "check\n",
               argv[i + 1]);
    else
        printf("OAUTH2 UNKNOWN - %s takes a whole number of days (0 to 100000), not '%.100s'; "
               "e.g. check -w 30 -c 7\n",
               opt, argv[i + 1]);
    return -1;
}

/* cmd_check - Nagios plugin conventions: one line, perfdata, exit 0/1/2/3 */
static int cmd_check(const char *file, int argc, char **argv)
{
    static const char *words[] = {"OK", "WARNING", "CRITICAL", "UNKNOWN"};
    struct config *cfg;
    json_object *all;
    char *names[argc + 1];
    char lines[8192] = "";
    char summary[600] = "";
    char err[1024];
    long warn = 30;
    long crit = 7;
    long min_days = -1;
    int counts[4] = {0, 0, 0, 0};
    check_level worst = CHECK_OK;
    struct status_daemon d;
    int n = 0;
    size_t k;
    int i;

    for (i = 0; i < argc; i++) {
        if (strcmp(argv[i], "-w") == 0 || strcmp(argv[i], "--warning") == 0) {
            warn = check_days("-w", i++, argc, argv);
            if (warn < 0)
                return CHECK_UNKNOWN;
        } else if (strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--critical") == 0) {
            crit = check_days("-c", i++, argc, argv);
            if (crit < 0)
                return CHECK_UNKNOWN;
        } else if (argv[i][0] == '-') {
            printf("OAUTH2 UNKNOWN - unknown option %.100s; usage: check [-w DAYS] [-c DAYS] "
                   "[ACCOUNT...] (see oauth2-token-helper help check)\n",
                   argv[i]);
            return CHECK_UNKNOWN;
        } else {
            names[n++] = argv[i];
        }
    }
    if (warn < crit) {
        printf("OAUTH2 UNKNOWN - -w %ld is below -c %ld: the warning threshold must be at least "
               "the critical one (days left), e.g. -w 30 -c 7\n",
               warn, crit);
        return CHECK_UNKNOWN;
    }
    cfg = config_load(file, err, sizeof(err));
    if (cfg == NULL) {
        for (i = 0; err[i] != '\0'; i++)
            if (err[i] == '\n')
                err[i] = ' '; /* one line, as Nagios reads it */
        printf("OAUTH2 UNKNOWN - %.700s (run oauth2-token-helper config-check)\n", err);
        return CHECK_UNKNOWN;
    }
    all = json_object_new_array();
    for (i = 0; i < n; i++)
        if (config_find(cfg, names[i]) == NULL) {
            printf("OAUTH2 UNKNOWN - account %.200s is not in %.300s; check the name, or add an "
                   "[account %.200s] section and reload the daemon\n",
                   names[i], cfg->path, names[i]);
            json_object_put(all);
            config_free(cfg);
            return CHECK_UNKNOWN;
        }
    if (collect_status(cfg, names, n, all, &d) < 0) {
        printf("OAUTH2 UNKNOWN - cannot read the accounts' status (out of memory)\n");
        json_object_put(all);
        config_free(cfg);
        return CHECK_UNKNOWN;
    }
    for (k = 0; k < json_object_array_length(all); k++) {
        json_object *st = json_object_array_get_idx(all, k);
        char why[400];
        long days;
        check_level lv = status_check(st, warn, crit, why, sizeof(why), &days);
        size_t used = strlen(lines);

        counts[lv]++;
        if (days >= 0 && (min_days < 0 || days < min_days))
            min_days = days;
        snprintf(lines + used, sizeof(lines) - used, "%s: %s - %s\n",
                 json_object_get_string(json_object_object_get(st, "account")), words[lv], why);
        if (lv > worst || summary[0] == '\0') {
            if (lv > worst || lv != CHECK_OK)
                snprintf(summary, sizeof(summary), "%s: %s",
                         json_object_get_string(json_object_object_get(st, "account")), why);
            if (lv > worst)
                worst = lv;
        }
    }
    if (worst == CHECK_OK)
        snprintf(summary, sizeof(summary), "%zu account%s can get tokens",
                 json_object_array_length(all), json_object_array_length(all) == 1 ? "" : "s");
    printf("OAUTH2 %s - %s | accounts=%zu ok=%d warning=%d critical=%d", words[worst], summary,
           json_object_array_length(all), counts[0], counts[1], counts[2]);
    if (min_days >= 0)
        printf(" min_days_left=%ld;%ld;%ld", min_days, warn, crit);
    printf("\n%s", lines);
    json_object_put(all);
    config_free(cfg);
    return worst;
}

/* revoke_report - say what revoke did, and how to end the grant at the identity platform */
static void revoke_report(const struct config *cfg, const struct account_conf *a, int had_state)
{
    if (a->grant_type == GRANT_CLIENT_CREDENTIALS) {
        const char *cred = a->client_certificate_file != NULL && a->client_certificate_file[0]
                               ? "client_certificate_file"
                               : "client_secret_file";

        printf("account %s: %s\n"
               "\n"
               "This is an app-only account (grant = client_credentials): this host gets a new\n"
               "token at the next request from its credential (%s in %s).\n"
               "To stop it from sending as %s:\n"
               "  - remove %s from the [account %s] section and reload the daemon\n"
               "    (systemctl reload oauth2-token-helper), or remove the section;\n"
               "  - or in Microsoft Entra: App registrations > the app > Certificates & secrets:\n"
               "    delete the secret or certificate;\n"
               "  - or Enterprise applications > the app > Permissions: remove the admin consent\n"
               "    for SMTP.SendAsApp (or Remove-MailboxPermission for its service principal).\n",
               a->name,
               had_state ? "the cached access token was dropped"
                         : "no token was cached for it here; nothing was dropped",
               cred, cfg->path, a->login, cred, a->name);
        return;
    }
    if (!had_state) {
        printf("account %s: nothing was stored for it in %s (it was never authorized here, or "
               "is already revoked); nothing to do\n",
               a->name, cfg->state_dir);
        return;
    }
    printf("account %s: refresh token and access token removed from %s\n"
           "\n"
           "This host can no longer get tokens for it. The grant itself is still valid at\n"
           "the identity platform until you revoke it there:\n"
           "  - Microsoft Entra admin center > Users > the user > Revoke sessions\n"
           "    (or PowerShell: Revoke-MgUserSignInSession -UserId USER), which ends every\n"
           "    refresh token of that user;\n"
           "  - or Enterprise applications > the app > Permissions: remove the consent;\n"
           "  - for a client secret: App registrations > the app > Certificates & secrets:\n"
           "    delete the secret.\n",
           a->name, cfg->state_dir);
}

/* cmd_revoke - forget an account's tokens here, and say how to revoke the grant */
static int cmd_revoke(const char *file, int argc, char **argv)
{
    const struct account_conf *acct;
    struct config *cfg;
    socketmap_status status;
    char path[4096];
    char err[512];
    char reply[256];
    int had_state = 1;
    int fd;
    int rc = EX_OK_;

    if (argc != 1 || argv[0][0] == '-')
        return usage();
    rc = load_account(file, argv[0], &cfg, &acct);
    if (rc != EX_OK_)
        return rc;
    fd = state_lock(cfg->state_dir, argv[0], 0, err, sizeof(err));
    snprintf(path, sizeof(path), "%s/%s.state", cfg->state_dir, argv[0]);
    if (fd < 0 && access(path, F_OK) < 0 && errno == ENOENT) {
        had_state = 0; /* no state_dir, or nothing in it: never authorized */
    } else if (fd < 0) {
        fprintf(stderr, "oauth2-token-helper: cannot remove %s: %s\n", path, err);
        rc = EX_TEMPFAIL_;
    } else if (unlink(path) < 0) {
        had_state = 0;
        if (errno != ENOENT) {
            fprintf(stderr, "oauth2-token-helper: cannot remove %s: %s\n", path,
                    strerror(errno));
            rc = EX_TEMPFAIL_;
        }
    }
    state_unlock(fd);
    if (sockclient_query(cfg->socket, NULL, PROTOCOL_FORGET, argv[0], DAEMON_TIMEOUT_MS, &status,
                         reply, sizeof(reply), err, sizeof(err)) == SOCKCLIENT_OK) {
        if (status == SOCKETMAP_NOTFOUND) {
            /* Added to the config without a reload: the daemon holds nothing for it. */
        } else if (status != SOCKETMAP_OK) {
            fprintf(stderr, "oauth2-token-helper: the daemon refused: %s\n", reply);
            rc = EX_UNAVAILABLE_;
        } else if (had_state || acct->grant_type == GRANT_CLIENT_CREDENTIALS) {
            printf("account %s: the running daemon dropped its tokens\n", argv[0]);
            had_state = 1; /* it may have held a token in memory */
        }
    }
    if (rc == EX_OK_)
        revoke_report(cfg, acct, had_state);
    config_free(cfg);
    return rc;
}

/* cmd_test - log in to an SMTP server as the relay would, optionally send a message */
static int cmd_test(const char *file, int argc, char **argv)
{
    struct smtptest_opts o;
    char login[SASLWIRE_MAX_LOGIN + 1];
    char host[512];
    char err[300];
    unsigned port;
    struct config *cfg;
    const char *name = NULL;
    char *token;
    long long expires;
    int rc;
    int i;

    memset(&o, 0, sizeof(o));
    for (i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--smtp") == 0 && i + 1 < argc)
            o.hostport = argv[++i];
        else if (strcmp(argv[i], "--to") == 0 && i + 1 < argc)
            o.to = argv[++i];
        else if (strcmp(argv[i], "--cafile") == 0 && i + 1 < argc)
            o.cafile = argv[++i];
        else if (name == NULL && argv[i][0] != '-')
            name = argv[i];
        else
            return usage();
    }
    if (name == NULL || o.hostport == NULL)
        return usage();
    if (smtptest_target(o.hostport, host, sizeof(host), &port, err, sizeof(err)) < 0) {
        fprintf(stderr, "oauth2-token-helper: %s\n", err);
        return EX_USAGE_;
    }
    cfg = load_config(file);
    if (cfg == NULL)
        return EX_CONFIG_;
    token = malloc(SASLWIRE_MAX_TOKEN + 1);
    if (token == NULL) {
        config_free(cfg);
        return EX_TEMPFAIL_;
    }
    printf("account %s: getting a token\n", name);
    fflush(stdout);
    rc = get_token(cfg, name, login, sizeof(login), token, SASLWIRE_MAX_TOKEN + 1, &expires);
    if (rc == EX_OK_) {
        printf("  token for %s, expires in %lldm\n", login, (expires - (long long)time(NULL)) / 60);
        o.login = login;
        o.token = token;
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
            rc = EX_TEMPFAIL_;
        } else {
            smtptest_result r = smtptest_run(&o, stdout);

            rc = r == SMTPTEST_OK          ? EX_OK_
                 : r == SMTPTEST_BAD_INPUT ? EX_USAGE_
                 : r == SMTPTEST_TEMPORARY ? EX_TEMPFAIL_
                                           : EX_UNAVAILABLE_;
        }
        curl_global_cleanup();
    }
    explicit_bzero(token, SASLWIRE_MAX_TOKEN + 1);
    free(token);
    config_free(cfg);
    return rc;
}

/* report_problem - config-check's output line */
static void report_problem(const char *msg)
{
    fprintf(stderr, "oauth2-token-helper: %s\n", msg);
}

/* check_certificates - every certificate loads, matches its key and is current; problems found */
static int check_certificates(const struct config *cfg)
{
    int problems = 0;
    size_t i;

    for (i = 0; i < cfg->n_accounts; i++) {
        const struct account_conf *a = &cfg->accounts[i];
        long long not_after;
        char err[600];

        if (a->client_certificate_file[0] == '\0')
            continue;
        if (clientauth_check(a, &not_after, err, sizeof(err)) < 0) {
            report_problem(err);
            problems++;
        } else if (not_after != 0 && not_after - (long long)time(NULL) < 30 * 86400LL) {
            fprintf(stderr,
                    "oauth2-token-helper: warning: account %s: client_certificate_file %s "
                    "expires in %lld days; upload a new certificate before then\n",
                    a->name, a->client_certificate_file,
                    (not_after - (long long)time(NULL)) / 86400);
        }
    }
    return problems;
}

/* report_line - config-check's output for a config_report_fn */
static void report_line(void *ctx, const char *msg)
{
    (void)ctx;
    report_problem(msg);
}

/* cmd_config_check - validate the config and the files it names, reporting every problem */
static int cmd_config_check(const char *file, int verbose)
{
    int problems = 0;
    struct config *cfg = config_check_load(file, report_line, NULL, &problems);

    if (cfg == NULL)
        return EX_CONFIG_;
    problems += config_check_files(cfg, report_line, NULL);
    if (problems == 0)
        problems += check_certificates(cfg);
    if (verbose && problems == 0)
        config_dump(cfg, stdout);
    if (problems == 0)
        printf("%s: %zu account%s, no problems found\n", cfg->path, cfg->n_accounts,
               cfg->n_accounts == 1 ? "" : "s");
    else
        fprintf(stderr, "oauth2-token-helper: %s: %d problem%s found\n", cfg->path, problems,
                problems == 1 ? "" : "s");
    config_free(cfg);
    return problems ? EX_CONFIG_ : EX_OK_;
}

/* cmd_serve - run the daemon in the foreground */
static int cmd_serve(const char *file, int argc, char **argv)
{
    int use_syslog = 0;
    int i;

    for (i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--syslog") == 0)
            use_syslog = 1;
        else if (strcmp(argv[i], "-v") == 0)
            opt_verbose++;
        else
            return usage();
    }
    return server_run(file, opt_verbose, use_syslog);
}

/* run_config_check - config-check takes no arguments after its name */
static int run_config_check(const char *file, int argc, char **argv)
{
    (void)argv;
    if (argc != 0)
        return usage();
    return cmd_config_check(file, opt_verbose);
}

static int cmd_help(const char *file, int argc, char **argv);

/*
 * The commands. The global usage, "help COMMAND" and "COMMAND --help" are
 * all printed from this table, so they cannot disagree; tests/daemon/cli.py
 * holds the man page to it.
 */
static const struct command {
    const char *name;
    const char *synopsis; /* the arguments after the name */
    const char *summary;  /* one line for the global usage */
    const char *options;  /* "  OPTION  meaning" lines, or NULL when it has none */
    int (*run)(const char *file, int argc, char **argv);
} commands[] = {
    {"serve", "[--syslog]", "run the token daemon in the foreground",
     "  --syslog      log to syslog (facility mail) instead of standard error\n"
     "  -v            add debugging lines (also accepted before the command)\n",
     cmd_serve},
    {"token", "ACCOUNT [--format raw|xoauth2|oauthbearer|json]", "print an access token",
     "  --format raw          the token itself (the default)\n"
     "  --format xoauth2      the base64 SASL XOAUTH2 initial response\n"
     "  --format oauthbearer  the base64 SASL OAUTHBEARER initial response\n"
     "  --format json         account, login, access_token, expires_at, expires_in\n",
     cmd_token},
    {"authorize", "ACCOUNT [--device|--browser|--paste] [--port N] [--timeout SECONDS] [--no-open]",
     "sign in once and store the refresh token",
     "  --device            device-code flow: a code to enter in any browser (default\n"
     "                      without a display)\n"
     "  --browser           browser sign-in through a loopback listener (default with a\n"
     "                      display)\n"
     "  --paste             sign in elsewhere, paste the address the browser ends on\n"
     "  --port N            the loopback listener's port (default: any free one)\n"
     "  --timeout SECONDS   how long to wait for the sign-in (default 300)\n"
     "  --no-open           do not start a browser, only print the address\n",
     cmd_authorize},
    {"import", "ACCOUNT", "store a refresh token read from standard input", NULL, cmd_import},
    {"config-check", "", "check the configuration and the files it names",
     "  -v            (before the command) also print the effective configuration\n",
     run_config_check},
    {"status", "[ACCOUNT...] [--json]",
     "show each account's tokens, expiries, errors, and whether the daemon knows it",
     "  --json        the same as a JSON array, one object per account\n", cmd_status},
    {"check", "[-w DAYS] [-c DAYS] [ACCOUNT...]",
     "monitoring plugin: one line with perfdata, exit 0/1/2/3",
     "  -w DAYS, --warning DAYS    WARNING when something expires within DAYS (default 30)\n"
     "  -c DAYS, --critical DAYS   CRITICAL within DAYS (default 7); the config file's\n"
     "                             -c FILE goes before the command\n",
     cmd_check},
    {"revoke", "ACCOUNT", "forget an account's tokens here, and say how to revoke the grant", NULL,
     cmd_revoke},
    {"test", "ACCOUNT --smtp HOST[:PORT] [--to ADDRESS] [--cafile FILE]",
     "log in with XOAUTH2 as the relay would, optionally send a test message",
     "  --smtp HOST[:PORT]   the SMTP server (port 587 with STARTTLS by default; 465 is\n"
     "                       implicit TLS)\n"
     "  --to ADDRESS         also send a short test message to ADDRESS\n"
     "  --cafile FILE        trust the CA certificates in FILE instead of the system's\n",
     cmd_test},
    {"help", "[COMMAND]", "show this help, or one command's synopsis and options", NULL, cmd_help},
};

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

/* The command being run, for usage(); NULL before one is known. */
static const struct command *current;

/* find_command - the table entry named name, or NULL */
static const struct command *find_command(const char *name)
{
    size_t i;

    for (i = 0; i < N_COMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

/* print_synopsis - "oauth2-token-helper [-c FILE] NAME ARGS" */
static void print_synopsis(FILE *fp, const char *lead, const struct command *c)
{
    fprintf(fp, "%soauth2-token-helper [-c FILE]%s %s%s%s\n", lead,
            strcmp(c->name, "serve") == 0 || strcmp(c->name, "config-check") == 0 ? " [-v]" : "",
            c->name, c->synopsis[0] ? " " : "", c->synopsis);
}

/* print_usage - the global usage, from the table */
static void print_usage(FILE *fp)
{
    size_t i;

    fprintf(fp,
            "usage: oauth2-token-helper [-c FILE] [-v] COMMAND [ARGUMENTS]\n"
            "       oauth2-token-helper --help | --version\n"
            "       oauth2-token-helper COMMAND --help\n"
            "\n"
            "Keeps OAuth2 access tokens fresh for Postfix, Exim and scripts.\n"
            "\n"
            "options (before the command):\n"
            "  -c FILE       configuration file (default %s, or\n"
            "                $OAUTH2_TOKEN_HELPER_CONFIG)\n"
            "  -v            more detail (serve: debugging lines; config-check: the\n"
            "                effective configuration)\n"
            "  -h, --help    print this help and exit\n"
            "  --version     print the version and exit\n"
            "\n"
            "commands:\n",
            OAUTH2_CONFIG_FILE);
    for (i = 0; i < N_COMMANDS; i++) {
        fprintf(fp, "  %s%s%s\n", commands[i].name, commands[i].synopsis[0] ? " " : "",
                commands[i].synopsis);
        fprintf(fp, "      %s\n", commands[i].summary);
    }
    fprintf(fp, "\nRun oauth2-token-helper help COMMAND for a command's options; see "
                "oauth2-token-helper(8).\n"
                "Exit status: 0 ok, 64 usage, 67 unknown account, 69 needs a person, "
                "75 temporary, 78 configuration.\n");
}

/* print_command_help - one command's synopsis, summary and options */
static void print_command_help(FILE *fp, const struct command *c)
{
    print_synopsis(fp, "usage: ", c);
    fprintf(fp, "\n%c%s.\n", toupper((unsigned char)c->summary[0]), c->summary + 1);
    if (c->options != NULL)
        fprintf(fp, "\noptions:\n%s", c->options);
    fprintf(fp, "\nSee oauth2-token-helper(8).\n");
}

/* usage - a usage error: the synopsis of the command at hand (or all) on stderr; 64 */
static int usage(void)
{
    if (current != NULL && current->run != cmd_help) {
        print_synopsis(stderr, "usage: ", current);
        fprintf(stderr, "Run oauth2-token-helper help %s for its options.\n", current->name);
    } else {
        print_usage(stderr);
    }
    return EX_USAGE_;
}

/* cmd_help - "help" and "help COMMAND", on stdout */
static int cmd_help(const char *file, int argc, char **argv)
{
    const struct command *c;

    (void)file;
    if (argc == 0) {
        print_usage(stdout);
        return EX_OK_;
    }
    c = argc == 1 ? find_command(argv[0]) : NULL;
    if (c == NULL) {
        if (argc == 1)
            fprintf(stderr, "oauth2-token-helper: no command %s\n", argv[0]);
        return usage();
    }
    print_command_help(stdout, c);
    return EX_OK_;
}

/* wants_help - whether a command's arguments ask for its help */
static int wants_help(int argc, char **argv)
{
    int i;

    for (i = 0; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return 1;
    return 0;
}

int main(int argc, char **argv)
{
    const char *file = NULL;
    char err[512];
    int i = 1;

    /* Every command may hold a secret: none of them leaves a core dump. */
    if (privdrop_nodump(err, sizeof(err)) < 0) {
        fprintf(stderr, "oauth2-token-helper: %s\n", err);
        return EX_TEMPFAIL_;
    }

    while (i < argc && argv[i][0] == '-') {
        if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
            file = argv[i + 1];
            i += 2;
        } else if (strcmp(argv[i], "-v") == 0) {
            opt_verbose++;
            i++;
        } else if (strcmp(argv[i], "--version") == 0) {
            printf("%s %s\n", PACKAGE_NAME, PACKAGE_VERSION);
            return EX_OK_;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            print_usage(stdout);
            return EX_OK_;
        } else {
            fprintf(stderr, "oauth2-token-helper: unknown option %s%s\n", argv[i],
                    strcmp(argv[i], "-c") == 0 ? " (it needs a file name)" : "");
            return usage();
        }
    }
    if (i >= argc)
        return usage();
    current = find_command(argv[i]);
    if (current == NULL) {
        fprintf(stderr, "oauth2-token-helper: no command %s\n", argv[i]);
        return usage();
    }
    /* Before anything else: "COMMAND --help" must not run the command. */
    if (wants_help(argc - i - 1, argv + i + 1)) {
        print_command_help(stdout, current);
        return EX_OK_;
    }
    file = config_path(file);
    log_open("oauth2-token-helper", 0, opt_verbose);
    log_quiet(current->run != cmd_serve);
    return current->run(file, argc - i - 1, argv + i + 1);
}
