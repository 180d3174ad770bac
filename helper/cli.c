/*
 * cli.c - oauth2-token-helper: the command line
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
 *     oauth2-token-helper [-c FILE] sendmail [--account NAME] [-f SENDER | --sender-env VAR]
 *                                   [-t] [-i] [RCPT...]
 *     oauth2-token-helper [-c FILE] test ACCOUNT --smtp HOST[:PORT] | --relay HOST[:PORT]
 *                                   [--to ADDR] [--from ADDR] [--login USER [--password-file F]]
 *                                   [--maillog F] [--wait S] [--cafile F]
 *     oauth2-token-helper [-c FILE] metrics [--output FILE]
 *     oauth2-token-helper [-c FILE] migrate [-C DIR] [--client-id ID] [--host HOST]
 *                                   [--backup-dir DIR] [--dry-run|--apply|--rollback [BACKUP]]
 *     oauth2-token-helper [-c FILE] help [COMMAND]
 *
 * DESCRIPTION
 *     Every command's synopsis, summary and options live in one table,
 *     commands[], which prints the usage, "help COMMAND" and
 *     "COMMAND --help", so the three cannot drift apart.
 *
 *     Each command lives in its own file (cmd_token.c, cmd_grant.c for
 *     authorize and import, cmd_status.c for status and check, ...) and
 *     returns a helper_result; main() turns it into the exit status with
 *     result_exit() (result.h). What the commands ask the daemon goes
 *     through daemonclient.c.
 *
 * DIAGNOSTICS
 *     Exit status follows sysexits(3), so MTAs and scripts can tell a
 *     temporary failure (75, retry later) from one that needs a person:
 *     0 success, 64 usage, 67 unknown account, 69 needs a person (refresh
 *     token revoked, bad secret, ...), 75 temporary, 78 configuration error;
 *     result.c holds the one mapping from outcomes to these codes.
 *
 * SECURITY
 *     Tokens are printed only by "token", on standard output. Refresh tokens
 *     are read from standard input, never from the command line.
 */
#include "autoconfig.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "config.h"
#include "log.h"
#include "privdrop.h"

/* -v before the command (serve and config-check use it) */
int cli_verbose;

/* cli_load_config - load or explain why not */
struct config *cli_load_config(const char *file)
{
    char err[1024];
    struct config *cfg = config_load(file, err, sizeof(err));

    if (cfg == NULL)
        fprintf(stderr, "oauth2-token-helper: %s\n", err);
    return cfg;
}

/* cli_find_account - the named account, or a message and NULL */
const struct account_conf *cli_find_account(const struct config *cfg, const char *name)
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
 * cli_load_account - the config and its account name for a subcommand about one
 * account; on a problem, a message and the exit status (cfg is then NULL)
 */
helper_result cli_load_account(const char *file, const char *name, struct config **cfg,
                               const struct account_conf **acct)
{
    const struct account_conf *a;

    *cfg = cli_load_config(file);
    if (*cfg == NULL)
        return RESULT_CONFIG;
    a = cli_find_account(*cfg, name);
    if (a == NULL) {
        config_free(*cfg);
        *cfg = NULL;
        return RESULT_UNKNOWN_ACCOUNT;
    }
    if (acct != NULL)
        *acct = a;
    return RESULT_OK;
}

/* cli_parse_number - a decimal option value within [min, max]; -1 when it is not */
long cli_parse_number(const char *s, long min, long max)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
        return -1;
    return v;
}

helper_result cmd_help(const char *file, int argc, char **argv);

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
    helper_result (*run)(const char *file, int argc, char **argv);
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
     cmd_config_check},
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
    {"test",
     "ACCOUNT --smtp HOST[:PORT] | --relay HOST[:PORT] [--to ADDRESS] [--from ADDRESS] "
     "[--login USER [--password-file FILE]] [--maillog FILE] [--wait SECONDS] [--cafile FILE]",
     "log in with XOAUTH2 as the relay would, or send through a device relay as a printer would",
     "  --smtp HOST[:PORT]   the SMTP server (port 587 with STARTTLS by default; 465 is\n"
     "                       implicit TLS)\n"
     "  --to ADDRESS         also send a short test message to ADDRESS (required with\n"
     "                       --relay)\n"
     "  --cafile FILE        trust the CA certificates in FILE instead of the system's\n"
     "                       (--relay: verify the relay's certificate, unchecked without)\n"
     "  --relay HOST[:PORT]  submit to this device relay as a device would, then follow\n"
     "                       the message in the relay's log until it is sent, deferred or\n"
     "                       bounced\n"
     "  --from ADDRESS       the device's sender (default: the account's login)\n"
     "  --login USER         log in to the relay with this device login (STARTTLS\n"
     "                       required); the password is read from standard input\n"
     "  --password-file FILE read the device's password from FILE's first line instead\n"
     "  --maillog FILE       the relay's log (default /var/log/mail.log, else the journal)\n"
     "  --wait SECONDS       how long to wait for the delivery line (default 60)\n",
     cmd_test},
    {"sendmail",
     "[--account NAME] [-f SENDER | --sender-env VAR] [-F NAME] [-t] [-i | -oi] [-v] [--] "
     "[RECIPIENT...]",
     "send the message on standard input through the account's relay (sendmail-compatible)",
     "  --account NAME   the account to send with (default: the one whose login or name\n"
     "                   is the sender (-f, else the From: address), else the only one)\n"
     "  -f SENDER        the envelope sender (default: the account's login); -r too\n"
     "  --sender-env VAR the envelope sender from environment variable VAR (SENDER in\n"
     "                   Exim's pipe transport; empty: the null sender)\n"
     "  -F NAME          the full name in a From: header added when the message has none\n"
     "  -t               also send to the To, Cc and Bcc addresses of the header\n"
     "  -i, -oi          a line with a lone dot does not end the message (always so here)\n"
     "  -v               show the SMTP dialogue on standard error (never the token)\n"
     "  -c FILE          the configuration file, as before the command\n"
     "  -odi, -oem, -B 8BITMIME, -N ..., other sendmail options: accepted and ignored\n"
     "exit: 0 sent, 75 not now (stays queued), 69 refused by the relay (5xx), 65 too\n"
     "large, 64 usage, 67 unknown account, 78 configuration\n",
     cmd_sendmail},
    {"metrics", "[--output FILE]",
     "Prometheus metrics of the daemon and every account (text format)",
     "  --output FILE   write them atomically to FILE (for node_exporter's textfile\n"
     "                  collector) instead of standard output\n",
     cmd_metrics},
    {"migrate",
     "[-C DIR] [--client-id ID] [--host HOST] [--backup-dir DIR] [--dry-run|--apply|--rollback "
     "[BACKUP]]",
     "move Postfix's password logins to Office 365 or Gmail over to OAuth2",
     "  -C DIR             Postfix's configuration directory (default: postconf's\n"
     "                     config_directory, /etc/postfix)\n"
     "  --dry-run          show the diff of every file it would change (the default)\n"
     "  --apply            back up, write the changes, postmap, config-check\n"
     "  --rollback [BACKUP]  restore a backup (default: the newest for this Postfix)\n"
     "  --client-id ID     the app registration's Application (client) ID for new\n"
     "                     Microsoft accounts\n"
     "  --host HOST        also move logins to HOST, a relay name that reaches Office 365\n"
     "  --backup-dir DIR   where the dated backups go (default "
     "/var/backups/oauth2-token-helper)\n",
     cmd_migrate},
    {"new-certificate", "ACCOUNT [--days DAYS] [--bits 2048|3072] [--force]",
     "make the next certificate and key for a rollover, and say what to upload",
     "  --days DAYS    the certificate's lifetime (default 365, at most 1095)\n"
     "  --bits N       the RSA key's size, 2048 (the default) or 3072\n"
     "  --force        replace files that exist already\n",
     cmd_new_certificate},
    {"help", "[COMMAND]", "show this help, or one command's synopsis and options", NULL, cmd_help},
};

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

/* The command being run, for cli_usage(); NULL before one is known. */
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

/* cli_usage - a usage error: the synopsis of the command at hand (or all) on stderr; 64 */
helper_result cli_usage(void)
{
    if (current != NULL && current->run != cmd_help) {
        print_synopsis(stderr, "usage: ", current);
        fprintf(stderr, "Run oauth2-token-helper help %s for its options.\n", current->name);
    } else {
        print_usage(stderr);
    }
    return RESULT_USAGE;
}

/* cmd_help - "help" and "help COMMAND", on stdout */
helper_result cmd_help(const char *file, int argc, char **argv)
{
    const struct command *c;

    (void)file;
    if (argc == 0) {
        print_usage(stdout);
        return RESULT_OK;
    }
    c = argc == 1 ? find_command(argv[0]) : NULL;
    if (c == NULL) {
        if (argc == 1)
            fprintf(stderr, "oauth2-token-helper: no command %s\n", argv[0]);
        return cli_usage();
    }
    print_command_help(stdout, c);
    return RESULT_OK;
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

/* invoked_as_sendmail - whether the program's name (argv[0]'s last part) is "sendmail" */
static int invoked_as_sendmail(const char *argv0)
{
    const char *slash = strrchr(argv0, '/');

    return strcmp(slash != NULL ? slash + 1 : argv0, "sendmail") == 0;
}

int main(int argc, char **argv)
{
    const char *file = NULL;
    char err[512];
    int i = 1;

    /* Every command may hold a secret: none of them leaves a core dump. */
    if (privdrop_nodump(err, sizeof(err)) < 0) {
        fprintf(stderr, "oauth2-token-helper: %s\n", err);
        return result_exit(RESULT_TEMPORARY);
    }

    /* Linked as /usr/sbin/sendmail (cron and mailx call that name): the sendmail command. */
    if (argc > 0 && invoked_as_sendmail(argv[0])) {
        current = find_command("sendmail");
        log_open("oauth2-token-helper", 0, 0);
        log_quiet(1);
        return result_exit(cmd_sendmail(config_path(NULL), argc - 1, argv + 1));
    }

    while (i < argc && argv[i][0] == '-') {
        if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
            file = argv[i + 1];
            i += 2;
        } else if (strcmp(argv[i], "-v") == 0) {
            cli_verbose++;
            i++;
        } else if (strcmp(argv[i], "--version") == 0) {
            printf("%s %s\n", PACKAGE_NAME, PACKAGE_VERSION);
            return result_exit(RESULT_OK);
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            print_usage(stdout);
            return result_exit(RESULT_OK);
        } else {
            fprintf(stderr, "oauth2-token-helper: unknown option %s%s\n", argv[i],
                    strcmp(argv[i], "-c") == 0 ? " (it needs a file name)" : "");
            return result_exit(cli_usage());
        }
    }
    if (i >= argc)
        return result_exit(cli_usage());
    current = find_command(argv[i]);
    if (current == NULL) {
        fprintf(stderr, "oauth2-token-helper: no command %s\n", argv[i]);
        return result_exit(cli_usage());
    }
    /* Before anything else: "COMMAND --help" must not run the command. */
    if (wants_help(argc - i - 1, argv + i + 1)) {
        print_command_help(stdout, current);
        return result_exit(RESULT_OK);
    }
    file = config_path(file);
    log_open("oauth2-token-helper", 0, cli_verbose);
    log_quiet(current->run != cmd_serve);
    return result_exit(current->run(file, argc - i - 1, argv + i + 1));
}
