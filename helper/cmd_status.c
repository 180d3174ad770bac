/*
 * cmd_status.c - oauth2-token-helper status and check: accounts' state, Nagios output
 *
 * SYNOPSIS
 *     oauth2-token-helper [-c FILE] status [ACCOUNT...] [--json]
 *     oauth2-token-helper [-c FILE] check [-w DAYS] [-c DAYS] [ACCOUNT...]
 *
 * DESCRIPTION
 *     collect_status() merges what the daemon says about each account
 *     with its state file (for accounts the daemon does not know, or when
 *     it does not run); status prints it, check judges it the way Nagios
 *     plugins do: one line with perfdata, exit 0/1/2/3.
 *
 * DIAGNOSTICS
 *     check writes even its own errors as one UNKNOWN line on stdout.
 *
 * SECURITY
 *     No token is printed; the daemon's replies are cleaned before they
 *     are shown.
 */
#include "autoconfig.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cache.h"
#include "cli.h"
#include "config.h"
#include "daemonclient.h"
#include "log.h"
#include "status.h"

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
    static char derr[600];
    int asked = 0;
    size_t i;
    int rc = 0;

    d->running = 1;
    d->pid = 0;
    d->socket = cfg->socket;
    d->error = derr;
    derr[0] = '\0';
    for (i = 0; i < (n > 0 ? (size_t)n : cfg->n_accounts); i++) {
        const char *name = n > 0 ? names[i] : cfg->accounts[i].name;
        socketmap_status status = SOCKETMAP_TEMP;
        sockclient_result r = SOCKCLIENT_UNREACHABLE;
        json_object *st = NULL;
        char err[512];
        int knows = -1;

        if (cli_find_account(cfg, name) == NULL) {
            rc = -1;
            break;
        }
        if (d->running == 1 && derr[0] == '\0') {
            struct daemon_reply reply;
            const char *data;

            r = daemonclient_ask(cfg, PROTOCOL_STATUS, name, &reply, err, sizeof(err));
            status = reply.status;
            data = reply.data;
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
                d->pid = daemonclient_pid(cfg->socket);
            asked = 1;
            daemonclient_reply_free(&reply);
        }
        if (st == NULL) {
            struct acct *a;

            if (c == NULL)
                c = cache_new(cfg, NULL);
            if (c == NULL) {
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
    return rc;
}

/* cmd_status_collect - every account's status object, for metrics (cmd_metrics.c) */
int cmd_status_collect(struct config *cfg, json_object *out, struct status_daemon *d)
{
    return collect_status(cfg, NULL, 0, out, d);
}

/* cmd_status - show every account's state */
helper_result cmd_status(const char *file, int argc, char **argv)
{
    struct config *cfg;
    json_object *all = json_object_new_array();
    char *names[argc + 1];
    int n = 0;
    int as_json = 0;
    struct status_daemon d;
    helper_result rc = RESULT_OK;
    int i;

    for (i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            as_json = 1;
        else if (argv[i][0] == '-')
            return cli_usage();
        else
            names[n++] = argv[i];
    }
    cfg = cli_load_config(file);
    if (cfg == NULL) {
        json_object_put(all);
        return RESULT_CONFIG;
    }
    if (collect_status(cfg, names, n, all, &d) < 0) {
        rc = RESULT_UNKNOWN_ACCOUNT;
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
    v = cli_parse_number(argv[i + 1], 0, 100000);
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
helper_result cmd_check(const char *file, int argc, char **argv)
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
                return RESULT_CHECK_UNKNOWN;
        } else if (strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--critical") == 0) {
            crit = check_days("-c", i++, argc, argv);
            if (crit < 0)
                return RESULT_CHECK_UNKNOWN;
        } else if (argv[i][0] == '-') {
            printf("OAUTH2 UNKNOWN - unknown option %.100s; usage: check [-w DAYS] [-c DAYS] "
                   "[ACCOUNT...] (see oauth2-token-helper help check)\n",
                   argv[i]);
            return RESULT_CHECK_UNKNOWN;
        } else {
            names[n++] = argv[i];
        }
    }
    if (warn < crit) {
        printf("OAUTH2 UNKNOWN - -w %ld is below -c %ld: the warning threshold must be at least "
               "the critical one (days left), e.g. -w 30 -c 7\n",
               warn, crit);
        return RESULT_CHECK_UNKNOWN;
    }
    cfg = config_load(file, err, sizeof(err));
    if (cfg == NULL) {
        for (i = 0; err[i] != '\0'; i++)
            if (err[i] == '\n')
                err[i] = ' '; /* one line, as Nagios reads it */
        printf("OAUTH2 UNKNOWN - %.700s (run oauth2-token-helper config-check)\n", err);
        return RESULT_CHECK_UNKNOWN;
    }
    all = json_object_new_array();
    for (i = 0; i < n; i++)
        if (config_find(cfg, names[i]) == NULL) {
            printf("OAUTH2 UNKNOWN - account %.200s is not in %.300s; check the name, or add an "
                   "[account %.200s] section and reload the daemon\n",
                   names[i], cfg->path, names[i]);
            json_object_put(all);
            config_free(cfg);
            return RESULT_CHECK_UNKNOWN;
        }
    if (collect_status(cfg, names, n, all, &d) < 0) {
        printf("OAUTH2 UNKNOWN - cannot read the accounts' status (out of memory)\n");
        json_object_put(all);
        config_free(cfg);
        return RESULT_CHECK_UNKNOWN;
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
    return result_from_check(worst);
}
