/*
 * cmd_test.c - oauth2-token-helper test: log in to an SMTP server as the relay would
 *
 * SYNOPSIS
 *     oauth2-token-helper [-c FILE] test ACCOUNT --smtp HOST[:PORT] [--to ADDR] [--cafile F]
 *
 * DESCRIPTION
 *     Gets a token as "token" does, then runs smtptest.c's session.
 *
 * DIAGNOSTICS
 *     A 4xx or a network failure is temporary (75), a 5xx needs a person
 *     (69), a bad HOST[:PORT] is a usage error (64).
 *
 * SECURITY
 *     The token is wiped after use; the session transcript omits it.
 */
#include "autoconfig.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "clock.h"
#include "config.h"
#include "protocol.h"
#include "smtptest.h"

/* cmd_test - log in to an SMTP server as the relay would, optionally send a message */
helper_result cmd_test(const char *file, int argc, char **argv)
{
    struct smtptest_opts o;
    char login[PROTOCOL_MAX_LOGIN + 1];
    char host[512];
    char err[300];
    unsigned port;
    struct config *cfg;
    const char *name = NULL;
    char *token;
    long long expires;
    helper_result rc;
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
            return cli_usage();
    }
    if (name == NULL || o.hostport == NULL)
        return cli_usage();
    if (smtptest_target(o.hostport, host, sizeof(host), &port, err, sizeof(err)) < 0) {
        fprintf(stderr, "oauth2-token-helper: %s\n", err);
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
    printf("account %s: getting a token\n", name);
    fflush(stdout);
    rc = cmd_token_get(cfg, name, login, sizeof(login), token, PROTOCOL_MAX_TOKEN + 1, &expires);
    if (rc == RESULT_OK) {
        printf("  token for %s, expires in %lldm\n", login, (expires - clock_wall_s()) / 60);
        o.login = login;
        o.token = token;
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
            rc = RESULT_TEMPORARY;
        } else {
            smtptest_result r = smtptest_run(&o, stdout);

            rc = result_from_smtptest(r);
        }
        curl_global_cleanup();
    }
    explicit_bzero(token, PROTOCOL_MAX_TOKEN + 1);
    free(token);
    config_free(cfg);
    return rc;
}
