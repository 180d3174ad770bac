/*
 * cmd_grant.c - oauth2-token-helper authorize and import: get and store a grant
 *
 * SYNOPSIS
 *     oauth2-token-helper [-c FILE] authorize ACCOUNT [--device|--browser|--paste]
 *                                   [--port N] [--timeout SECONDS] [--no-open]
 *     oauth2-token-helper [-c FILE] import ACCOUNT    (refresh token on stdin)
 *
 * DESCRIPTION
 *     Both end in store_grant(): the new state is written by
 *     state_store_grant() (state.c, the same state_dir checks as the
 *     daemon's) and the running daemon is told to reread it.
 *
 * DIAGNOSTICS
 *     Ctrl-C ends either with nothing stored (exit 130).
 *
 * SECURITY
 *     Refresh tokens come from standard input or the identity platform,
 *     never from the command line. Root is dropped before any network I/O
 *     or parsing; the state file belongs to the daemon's user.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authorize.h"
#include "cli.h"
#include "clock.h"
#include "config.h"
#include "daemonclient.h"
#include "privdrop.h"
#include "protocol.h"
#include "secret.h"
#include "state.h"
#include "tokenresp.h"

/* notify_daemon - ask a running daemon to reread an account's state; says what happened */
static void notify_daemon(const struct config *cfg, const char *name)
{
    struct daemon_reply reply;
    socketmap_status status;
    char err[512];
    sockclient_result r;

    r = daemonclient_ask(cfg, PROTOCOL_RELOAD, name, &reply, err, sizeof(err));
    status = reply.status;
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
               name, r == SOCKCLIENT_OK ? reply.data : err);
    daemonclient_reply_free(&reply);
}

/*
 * store_grant - write an account's new state (refresh token, maybe an
 * access token) with state_store_grant(), and tell the daemon
 */
static helper_result store_grant(const struct config *cfg, const char *name,
                                 struct account_state *st)
{
    char err[600];
    char path[4096];
    helper_result rc = RESULT_OK;
    int r = state_store_grant(cfg, name, st, err, sizeof(err));

    if (r < 0) {
        fprintf(stderr, "oauth2-token-helper: %s\n", err);
        rc = r == STATE_STORE_DIR ? RESULT_CONFIG : RESULT_TEMPORARY;
    }
    if (rc == RESULT_OK) {
        if (state_path(path, sizeof(path), cfg->state_dir, name) == 0)
            printf("account %s: refresh token stored in %s\n", name, path);
        notify_daemon(cfg, name);
    }
    return rc;
}

/* cmd_import - store a refresh token read from standard input */
helper_result cmd_import(const char *file, int argc, char **argv)
{
    struct account_state st;
    struct config *cfg;
    char prompt[300];
    char err[1024];
    char *rt;
    helper_result rc;

    if (argc != 1 || argv[0][0] == '-')
        return cli_usage();
    rc = cli_load_account(file, argv[0], &cfg, NULL);
    if (rc != RESULT_OK)
        return rc;
    snprintf(prompt, sizeof(prompt), "Refresh token for %s: ", argv[0]);
    authz_catch_signals(); /* Ctrl-C at the prompt: the terminal gets its echo back */
    rt = authz_read_line(prompt, PROTOCOL_MAX_TOKEN);
    if (rt == NULL || rt[0] == '\0') {
        fprintf(stderr, "oauth2-token-helper: %s\n",
                authz_interrupted ? "interrupted; nothing stored"
                                  : "no refresh token on standard input");
        secret_free(rt);
        config_free(cfg);
        return authz_interrupted ? RESULT_INTERRUPTED : RESULT_USAGE;
    }
    if (!tokenresp_opaque_ok(rt, PROTOCOL_MAX_TOKEN)) {
        fprintf(stderr, "oauth2-token-helper: that is not a refresh token (it holds spaces or "
                        "control characters, or is too long)\n");
        secret_free(rt);
        config_free(cfg);
        return RESULT_USAGE;
    }
    memset(&st, 0, sizeof(st));
    st.refresh_token = rt;
    /* As root: the state file is written as the daemon's user, who must read it. */
    if (privdrop_to_daemon_user(cfg, NULL, err, sizeof(err)) < 0) {
        fprintf(stderr, "oauth2-token-helper: account %s: %s\n", argv[0], err);
        state_clear(&st);
        config_free(cfg);
        return RESULT_CONFIG;
    }
    rc = store_grant(cfg, argv[0], &st);
    state_clear(&st);
    config_free(cfg);
    return rc;
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
            v = cli_parse_number(argv[++i], 0, 65535);
            if (v < 0)
                return NULL;
            opt->port = (unsigned)v;
        } else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc) {
            v = cli_parse_number(argv[++i], 1, 86400);
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
helper_result cmd_authorize(const char *file, int argc, char **argv)
{
    struct authz_options opt;
    struct token_result res;
    struct account_state st;
    const struct account_conf *acct;
    struct config *cfg;
    const char *name = authorize_options(argc, argv, &opt);
    char err[1024];
    authz_result r;
    helper_result rc;

    if (name == NULL)
        return cli_usage();
    rc = cli_load_account(file, name, &cfg, &acct);
    if (rc != RESULT_OK)
        return rc;
    /* As root: the listener, the HTTPS and the parsing run as the daemon's user. */
    if (privdrop_to_daemon_user(cfg, "sign in", err, sizeof(err)) < 0) {
        fprintf(stderr, "oauth2-token-helper: account %s: %s\n", name, err);
        config_free(cfg);
        return RESULT_CONFIG;
    }
    authz_catch_signals();
    r = authz_run(acct, &opt, &res, err, sizeof(err));
    if (r != AUTHZ_OK) {
        fprintf(stderr, "oauth2-token-helper: %s\n",
                r == AUTHZ_INTERRUPTED ? "interrupted; nothing stored" : err);
        config_free(cfg);
        return result_from_authz(r);
    }
    memset(&st, 0, sizeof(st));
    st.refresh_token = res.refresh_token;
    st.access_token = res.access_token;
    st.obtained_at = clock_wall_s();
    st.expires_at = st.obtained_at + res.expires_in;
    res.refresh_token = NULL;
    res.access_token = NULL;
    printf("account %s: signed in; the identity platform granted a refresh token\n", name);
    rc = store_grant(cfg, name, &st);
    state_clear(&st);
    config_free(cfg);
    return rc;
}
