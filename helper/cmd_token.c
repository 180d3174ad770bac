/*
 * cmd_token.c - oauth2-token-helper token: print an access token
 *
 * SYNOPSIS
 *     oauth2-token-helper [-c FILE] token ACCOUNT [--format raw|xoauth2|oauthbearer|json]
 *
 * DESCRIPTION
 *     Asks the running daemon for the account's token (daemonclient.c);
 *     when no daemon answers, refreshes here under the account's lock
 *     (cache_refresh_token), as the daemon's user. cmd_token_get() is
 *     shared with "test".
 *
 * DIAGNOSTICS
 *     Messages on stderr name the account and the fix; the result says
 *     whether to retry (result.h).
 *
 * SECURITY
 *     The token is printed only here, on standard output, and wiped from
 *     memory afterwards. The direct refresh drops root first.
 */
#include "autoconfig.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "b64.h"
#include "cache.h"
#include "cli.h"
#include "clock.h"
#include "config.h"
#include "daemonclient.h"
#include "log.h"
#include "privdrop.h"
#include "protocol.h"
#include "saslwire.h"
#include "secret.h"

/* print_b64 - base64 of a SASL response, as typed into an SMTP session */
static void print_b64(const char *data, size_t len)
{
    char *out = b64_std((const unsigned char *)data, len);

    if (out == NULL)
        return;
    printf("%s\n", out);
    secret_free(out);
}

/* print_token - write the token in the requested format */
static helper_result print_token(const char *format, const char *account, const char *login,
                                 const char *token, long long expires)
{
    char buf[PROTOCOL_MAX_REPLY];
    size_t len;
    helper_result rc = RESULT_OK;

    if (strcmp(format, "raw") == 0) {
        printf("%s\n", token);
    } else if (strcmp(format, "xoauth2") == 0) {
        if (saslwire_xoauth2(login, token, buf, sizeof(buf), &len) == 0)
            print_b64(buf, len);
        else
            rc = RESULT_TEMPORARY;
    } else if (strcmp(format, "oauthbearer") == 0) {
        if (saslwire_oauthbearer(login, NULL, 0, token, buf, sizeof(buf), &len) == 0)
            print_b64(buf, len);
        else
            rc = RESULT_TEMPORARY;
    } else {
        json_object *o = json_object_new_object();
        const char *text;

        json_object_object_add(o, "account", json_object_new_string(account));
        json_object_object_add(o, "login", json_object_new_string(login));
        json_object_object_add(o, "access_token", json_object_new_string(token));
        json_object_object_add(o, "expires_at", json_object_new_int64(expires));
        json_object_object_add(o, "expires_in", json_object_new_int64(expires - clock_wall_s()));
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
static helper_result token_direct(struct config *cfg, const char *name, const char *daemon_err,
                                  char *login, size_t loginsize, char *token, size_t tokensize,
                                  long long *expires)
{
    char why[1024];

    /* As root: the HTTPS and the reply's parsing run as the daemon's user. */
    if (privdrop_to_daemon_user(cfg, "refresh the token", why, sizeof(why)) < 0) {
        fprintf(stderr, "oauth2-token-helper: account %s: %s\n", name, why);
        return RESULT_CONFIG;
    }
    if (access(cfg->state_dir, R_OK | W_OK | X_OK) < 0) {
        /* Not root nor the daemon's user (Exim, a script): only the daemon can help. */
        fprintf(stderr,
                "oauth2-token-helper: account %s: the token daemon is not running (%s), and "
                "this user cannot refresh tokens by itself (%s: %s); start the daemon\n",
                name, daemon_err, cfg->state_dir, strerror(errno));
        return RESULT_TEMPORARY;
    }
    struct cache *c = cache_new(cfg, NULL);
    helper_result rc = RESULT_OK;
    int r;

    if (c == NULL)
        return RESULT_TEMPORARY;
    r = cache_refresh_token(c, name, login, loginsize, token, tokensize, expires, why, sizeof(why));
    if (r < 0) {
        fprintf(stderr, "oauth2-token-helper: account %s: %s\n", name, why);
        rc = r == -2 ? RESULT_NEEDS_PERSON : RESULT_TEMPORARY;
    }
    cache_free(c);
    return rc;
}

/*
 * cmd_token_get - an account's login and access token: from the daemon when it
 * runs, else refreshed here. Messages go to stderr; returns an exit status.
 */
helper_result cmd_token_get(struct config *cfg, const char *name, char *login, size_t loginsize,
                            char *token, size_t tokensize, long long *expires)
{
    struct daemon_reply reply;
    socketmap_status status;
    char *data;
    char err[512];
    sockclient_result r;
    helper_result rc;

    if (cli_find_account(cfg, name) == NULL)
        return RESULT_UNKNOWN_ACCOUNT;
    r = daemonclient_ask(cfg, PROTOCOL_ACCOUNT, name, &reply, err, sizeof(err));
    status = reply.status;
    data = reply.data;
    if (r == SOCKCLIENT_UNREACHABLE) {
        rc = token_direct(cfg, name, err, login, loginsize, token, tokensize, expires);
    } else if (r != SOCKCLIENT_OK) {
        fprintf(stderr, "oauth2-token-helper: account %s: %s\n", name, err);
        rc = RESULT_TEMPORARY;
    } else if (status == SOCKETMAP_OK) {
        rc = RESULT_OK;
        if (protocol_decode_account(data, strlen(data), login, loginsize, token, tokensize,
                                    expires) < 0) {
            fprintf(stderr, "oauth2-token-helper: account %s: malformed reply from the daemon\n",
                    name);
            rc = RESULT_TEMPORARY;
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
        rc = result_from_socketmap(status);
    }
    daemonclient_reply_free(&reply);
    return rc;
}

/* cmd_token - print a token, through the daemon when it runs */
helper_result cmd_token(const char *file, int argc, char **argv)
{
    const char *format = "raw";
    const char *name = NULL;
    char login[PROTOCOL_MAX_LOGIN + 1];
    char *token;
    struct config *cfg;
    long long expires = 0;
    helper_result rc;
    int i;

    for (i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--format") == 0 && i + 1 < argc)
            format = argv[++i];
        else if (strncmp(argv[i], "--format=", 9) == 0)
            format = argv[i] + 9;
        else if (name == NULL && argv[i][0] != '-')
            name = argv[i];
        else
            return cli_usage();
    }
    if (name == NULL)
        return cli_usage();
    if (strcmp(format, "raw") != 0 && strcmp(format, "xoauth2") != 0 &&
        strcmp(format, "oauthbearer") != 0 && strcmp(format, "json") != 0) {
        fprintf(stderr,
                "oauth2-token-helper: --format must be raw, xoauth2, oauthbearer or json\n");
        return RESULT_USAGE;
    }
    cfg = cli_load_config(file);
    if (cfg == NULL)
        return RESULT_CONFIG;
    token = malloc(PROTOCOL_MAX_TOKEN + 1);
    if (token == NULL) {
        config_free(cfg);
        return RESULT_TEMPORARY;
    }
    rc = cmd_token_get(cfg, name, login, sizeof(login), token, PROTOCOL_MAX_TOKEN + 1, &expires);
    if (rc == RESULT_OK)
        rc = print_token(format, name, login, token, expires);
    explicit_bzero(token, PROTOCOL_MAX_TOKEN + 1);
    free(token);
    config_free(cfg);
    return rc;
}
