/*
 * cmd_config.c - oauth2-token-helper config-check: check the configuration
 *
 * SYNOPSIS
 *     oauth2-token-helper [-c FILE] [-v] config-check
 *
 * DESCRIPTION
 *     Reports every problem of the config file and the files it names
 *     (config.c), and certificates that do not load or expire soon; -v
 *     also prints the effective configuration.
 *
 * DIAGNOSTICS
 *     One line per problem on stderr; exit 78 when there is any.
 *
 * SECURITY
 *     Secrets are never printed, not even with -v.
 */
#include "autoconfig.h"

#include <stdio.h>
#include <string.h>

#include "assertion.h"
#include "cli.h"
#include "clientauth.h"
#include "clock.h"
#include "config.h"
#include "log.h"
#include "svcacct.h"

/* report_problem - config-check's output line */
static void report_problem(const char *msg)
{
    fprintf(stderr, "oauth2-token-helper: %s\n", msg);
}

/*
 * check_federated - the next certificate pair loads, matches and is current,
 * and the federated credential's token file is usable now; problems found
 * (a stale token file or an expiring pair is only a warning)
 */
static int check_federated(const struct account_conf *a)
{
    struct assertion_info info;
    long long not_after;
    long long now = clock_wall_s();
    char err[800];
    int problems = 0;

    if (clientauth_has_next(a)) {
        if (clientauth_check_next(a, &not_after, err, sizeof(err)) < 0) {
            report_problem(err);
            problems++;
        } else if (not_after != 0 && not_after - now < 30 * 86400LL) {
            fprintf(stderr,
                    "oauth2-token-helper: warning: account %s: next_client_certificate_file %s "
                    "expires in %lld days; make another pair (oauth2-token-helper "
                    "new-certificate %s --force) and upload it\n",
                    a->name, a->next_client_certificate_file, (not_after - now) / 86400, a->name);
        }
    }
    if (a->client_assertion_file[0] == '\0')
        return problems;
    /* config_check_files has reported a token file that cannot be used. */
    if (assertion_read(a, now, NULL, &info, err, sizeof(err)) == 0 && assertion_stale(&info, now)) {
        fprintf(stderr,
                "oauth2-token-helper: warning: account %s: client_assertion_file %s expires in "
                "%lld seconds and has not been replaced; check that its issuer (kubelet) still "
                "refreshes it\n",
                a->name, a->client_assertion_file, info.exp - now);
    }
    return problems;
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

        problems += check_federated(a);
        if (a->client_certificate_file[0] == '\0')
            continue;
        if (clientauth_check(a, &not_after, err, sizeof(err)) < 0) {
            report_problem(err);
            problems++;
        } else if (not_after != 0 && not_after - clock_wall_s() < 30 * 86400LL) {
            fprintf(stderr,
                    "oauth2-token-helper: warning: account %s: client_certificate_file %s "
                    "expires in %lld days; upload a new certificate before then\n",
                    a->name, a->client_certificate_file, (not_after - clock_wall_s()) / 86400);
        }
    }
    return problems;
}

/*
 * check_service_accounts - every service account key file loads and signs
 * (grant = jwt_bearer); shows which client ID the Workspace admin must
 * delegate to; problems found
 */
static int check_service_accounts(const struct config *cfg)
{
    int problems = 0;
    size_t i;

    for (i = 0; i < cfg->n_accounts; i++) {
        const struct account_conf *a = &cfg->accounts[i];
        struct svcacct_info info;
        char email[256];
        char id[64];
        char err[700];

        if (a->grant_type != GRANT_JWT_BEARER)
            continue;
        if (svcacct_check(a, &info, err, sizeof(err)) < 0) {
            report_problem(err);
            problems++;
            continue;
        }
        log_clean(email, sizeof(email), info.client_email, strlen(info.client_email));
        log_clean(id, sizeof(id), info.client_id, strlen(info.client_id));
        printf("account %s: service account %s sends as %s through %s; domain-wide delegation "
               "must list client ID %s with scope %s\n",
               a->name, email, a->login, info.token_url, id[0] ? id : "(none in the key file)",
               a->scope);
    }
    return problems;
}

/* report_line - config-check's output for a config_report_fn */
static void report_line(void *ctx, const char *msg)
{
    (void)ctx;
    report_problem(msg);
}

/* run_checks - validate the config and the files it names, reporting every problem */
static helper_result run_checks(const char *file, int verbose)
{
    int problems = 0;
    struct config *cfg = config_check_load(file, report_line, NULL, &problems);

    if (cfg == NULL)
        return RESULT_CONFIG;
    problems += config_check_files(cfg, report_line, NULL);
    if (problems == 0)
        problems += check_certificates(cfg);
    if (problems == 0)
        problems += check_service_accounts(cfg);
    if (verbose && problems == 0)
        config_dump(cfg, stdout);
    if (problems == 0)
        printf("%s: %zu account%s, no problems found\n", cfg->path, cfg->n_accounts,
               cfg->n_accounts == 1 ? "" : "s");
    else
        fprintf(stderr, "oauth2-token-helper: %s: %d problem%s found\n", cfg->path, problems,
                problems == 1 ? "" : "s");
    config_free(cfg);
    return problems ? RESULT_CONFIG : RESULT_OK;
}

/* cmd_config_check - config-check takes no arguments after its name */
helper_result cmd_config_check(const char *file, int argc, char **argv)
{
    (void)argv;
    if (argc != 0)
        return cli_usage();
    return run_checks(file, cli_verbose);
}
