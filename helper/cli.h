/*
 * cli.h - oauth2-token-helper's command line: what the commands share
 *
 * SYNOPSIS
 *     #include "cli.h"
 *
 * DESCRIPTION
 *     cli.c holds main(), the command table and the help; each command
 *     (cmd_*.c) returns a helper_result, which main() turns into the exit
 *     status (result.h). The cli_* functions are what several commands use.
 *
 * DIAGNOSTICS
 *     The cli_* functions print their message on stderr themselves.
 *
 * SECURITY
 *     CLI-only: nothing here runs inside the daemon.
 */
#ifndef OAUTH2_CLI_H
#define OAUTH2_CLI_H

#include <stddef.h>

#include "config.h"
#include "result.h"

/* -v before the command (serve and config-check use it) */
extern int cli_verbose;

/* cli_usage - a usage error: the synopsis of the command at hand (or all) on stderr */
helper_result cli_usage(void);

/* cli_load_config - load or explain why not */
struct config *cli_load_config(const char *file);

/* cli_find_account - the named account, or a message and NULL */
const struct account_conf *cli_find_account(const struct config *cfg, const char *name);

/*
 * cli_load_account - the config and its account for a command about one
 * account; on a problem, a message and the result (cfg is then NULL)
 */
helper_result cli_load_account(const char *file, const char *name, struct config **cfg,
                               const struct account_conf **acct);

/* cli_parse_number - a decimal option value within [min, max]; -1 when it is not */
long cli_parse_number(const char *s, long min, long max);

/*
 * cmd_token_get - an account's login and access token: from the daemon
 * when it runs, else refreshed here (cmd_token.c)
 */
helper_result cmd_token_get(struct config *cfg, const char *name, char *login, size_t loginsize,
                            char *token, size_t tokensize, long long *expires);

struct json_object;
struct status_daemon;

/*
 * cmd_status_collect - the status object of every account, as status
 * --json shows them, into the array out; what the daemon said in d
 * (cmd_status.c); -1 out of memory
 */
int cmd_status_collect(struct config *cfg, struct json_object *out, struct status_daemon *d);

/* The commands, one file each (or per family); see the table in cli.c. */
helper_result cmd_serve(const char *file, int argc, char **argv);
helper_result cmd_token(const char *file, int argc, char **argv);
helper_result cmd_authorize(const char *file, int argc, char **argv);
helper_result cmd_import(const char *file, int argc, char **argv);
helper_result cmd_config_check(const char *file, int argc, char **argv);
helper_result cmd_status(const char *file, int argc, char **argv);
helper_result cmd_check(const char *file, int argc, char **argv);
helper_result cmd_revoke(const char *file, int argc, char **argv);
helper_result cmd_test(const char *file, int argc, char **argv);
helper_result cmd_sendmail(const char *file, int argc, char **argv);
helper_result cmd_help(const char *file, int argc, char **argv);
helper_result cmd_metrics(const char *file, int argc, char **argv);
helper_result cmd_migrate(const char *file, int argc, char **argv);
helper_result cmd_new_certificate(const char *file, int argc, char **argv);

#endif
