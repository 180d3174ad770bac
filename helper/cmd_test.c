/*
 * cmd_test.c - oauth2-token-helper test: log in to an SMTP server as the relay
 *              would, or send through the local device relay as a printer would
 *
 * SYNOPSIS
 *     oauth2-token-helper [-c FILE] test ACCOUNT --smtp HOST[:PORT] [--to ADDR] [--cafile F]
 *     oauth2-token-helper [-c FILE] test ACCOUNT --relay HOST[:PORT] --to ADDR [--from ADDR]
 *         [--login USER [--password-file F]] [--maillog F] [--wait SECONDS] [--cafile F]
 *
 * DESCRIPTION
 *     --smtp: gets a token as "token" does, then runs smtptest.c's session.
 *
 *     --relay: says whether the daemon has a token for ACCOUNT (the relay's
 *     mailbox; asked as the plugin asks, no refresh here), submits a message to the relay as a
 * device (smtptest_submit), then follows the queue id of the relay's 250 reply through its log
 *     (relaylog.c) until the message was sent, deferred or bounced.
 *
 * DIAGNOSTICS
 *     A 4xx or a network failure is temporary (75), a 5xx needs a person
 *     (69), a bad HOST[:PORT] is a usage error (64). With --relay: sent is
 *     0, deferred or no log line in time 75, bounced 69.
 *
 * SECURITY
 *     The token is wiped after use; the session transcript omits it. The
 *     device's password comes from a file or standard input, never the
 *     command line, is never shown, and is wiped after use.
 */
#include "autoconfig.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "authorize.h"
#include "cli.h"
#include "clock.h"
#include "config.h"
#include "daemonclient.h"
#include "log.h"
#include "protocol.h"
#include "regfile.h"
#include "relaylog.h"
#include "smtptest.h"

/* The longest device password read. */
#define DEVICE_PASSWORD_MAX 512

/* The relay's mail log by default waits this long for a delivery line. */
#define RELAY_WAIT_DEFAULT 60

struct test_args {
    struct smtptest_opts o;
    struct smtptest_device d;
    const char *name;
    const char *password_file;
    const char *maillog;
    long wait_s;
    int wait_given;
};

/* parse_args - the options of "test"; 0, or -1 for a usage error */
static int parse_args(int argc, char **argv, struct test_args *a)
{
    int i;

    memset(a, 0, sizeof(*a));
    a->wait_s = RELAY_WAIT_DEFAULT;
    for (i = 0; i < argc; i++) {
        const char *opt = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;

        if (opt[0] != '-') {
            if (a->name != NULL)
                return -1;
            a->name = opt;
            continue;
        }
        if (val == NULL)
            return -1;
        i++;
        if (strcmp(opt, "--smtp") == 0)
            a->o.hostport = val;
        else if (strcmp(opt, "--relay") == 0)
            a->d.hostport = val;
        else if (strcmp(opt, "--to") == 0)
            a->o.to = val;
        else if (strcmp(opt, "--cafile") == 0)
            a->o.cafile = val;
        else if (strcmp(opt, "--from") == 0)
            a->d.from = val;
        else if (strcmp(opt, "--login") == 0)
            a->d.login = val;
        else if (strcmp(opt, "--password-file") == 0)
            a->password_file = val;
        else if (strcmp(opt, "--maillog") == 0)
            a->maillog = val;
        else if (strcmp(opt, "--wait") == 0) {
            a->wait_s = cli_parse_number(val, 1, 3600);
            a->wait_given = 1;
            if (a->wait_s < 0)
                return -1;
        } else
            return -1;
    }
    if (a->name == NULL || (a->o.hostport == NULL) == (a->d.hostport == NULL))
        return -1;
    /* The relay-only options make no sense with --smtp, and --relay needs a recipient. */
    if (a->o.hostport != NULL && (a->d.from != NULL || a->d.login != NULL ||
                                  a->password_file != NULL || a->maillog != NULL || a->wait_given))
        return -1;
    if (a->d.hostport != NULL && a->o.to == NULL)
        return -1;
    if (a->password_file != NULL && a->d.login == NULL)
        return -1;
    a->d.to = a->o.to;
    a->d.cafile = a->o.cafile;
    return 0;
}

/* read_password_file - the first line of file into buf; -1 with a message on stderr */
static int read_password_file(const char *file, char *buf, size_t size)
{
    char err[600];
    struct stat st;
    ssize_t n;
    size_t len = 0;
    int fd = regfile_open(file, &st, err, sizeof(err));

    if (fd < 0) {
        fprintf(stderr, "oauth2-token-helper: --password-file %s\n", err);
        return -1;
    }
    while (len + 1 < size) {
        n = read(fd, buf + len, size - 1 - len);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    buf[len] = '\0';
    buf[strcspn(buf, "\r\n")] = '\0';
    return 0;
}

/* device_password - the device's password from --password-file or standard input; malloc'd */
static char *device_password(const struct test_args *a)
{
    char *pw;

    if (a->password_file == NULL)
        return authz_read_line("password of the device login on the relay: ", DEVICE_PASSWORD_MAX);
    pw = calloc(1, DEVICE_PASSWORD_MAX + 1);
    if (pw == NULL)
        return NULL;
    if (read_password_file(a->password_file, pw, DEVICE_PASSWORD_MAX + 1) < 0) {
        free(pw);
        return NULL;
    }
    return pw;
}

/*
 * relay_token_check - say whether the daemon has a token for the account:
 * the relay's plugin asks it, never anything else, so no direct refresh here
 */
static void relay_token_check(struct config *cfg, const char *name, char *login, size_t loginsize)
{
    char *token = malloc(PROTOCOL_MAX_TOKEN + 1);
    struct daemon_reply reply;
    char err[512];
    char clean[300];
    long long expires;
    sockclient_result r;

    login[0] = '\0';
    if (token == NULL)
        return;
    printf("account %s: the relay's mailbox\n", name);
    r = daemonclient_ask(cfg, PROTOCOL_ACCOUNT, name, &reply, err, sizeof(err));
    if (r == SOCKCLIENT_OK && reply.status == SOCKETMAP_OK &&
        protocol_decode_account(reply.data, strlen(reply.data), login, loginsize, token,
                                PROTOCOL_MAX_TOKEN + 1, &expires) == 0) {
        printf("  the daemon has a token for %s, valid %lldm more: the relay can log in\n", login,
               (expires - clock_wall_s()) / 60);
    } else {
        login[0] = '\0';
        if (r != SOCKCLIENT_OK)
            log_clean(clean, sizeof(clean), err, strlen(err));
        else
            log_clean(clean, sizeof(clean), reply.data, strlen(reply.data));
        printf("  no token from the daemon now (%s): the relay defers mail until it has one\n",
               clean);
    }
    daemonclient_reply_free(&reply);
    explicit_bzero(token, PROTOCOL_MAX_TOKEN + 1);
    free(token);
}

/* relay_outcome - what the relay did, said and mapped to a result */
static helper_result relay_outcome(relaylog_status st, const char *qid, const char *log, int wait_s)
{
    switch (st) {
    case RELAYLOG_SENT:
        printf("result: the relay delivered %s to the next hop (status=sent)\n", qid);
        return RESULT_OK;
    case RELAYLOG_DEFERRED:
        printf("result: the relay deferred %s: it stays queued and is retried; the reason is "
               "in the line above\n",
               qid);
        return RESULT_TEMPORARY;
    case RELAYLOG_BOUNCED:
        printf("result: the relay bounced %s: the next hop refused it for good (the line "
               "above); the relay sends a bounce to the message's sender (the relay's mailbox, if "
               "it rewrites senders as conf/postfix/device-relay does)\n",
               qid);
        return RESULT_NEEDS_PERSON;
    default:
        printf("result: no delivery line for %s in %s within %ds: the relay may still be "
               "working on it (postqueue -p), or logs elsewhere (--maillog FILE)\n",
               qid, log, wait_s);
        return RESULT_TEMPORARY;
    }
}

/* test_relay - the --relay test: token check, device submission, the relay's log */
static helper_result test_relay(struct config *cfg, struct test_args *a)
{
    char login[PROTOCOL_MAX_LOGIN + 1];
    char qid[SMTPTEST_MAX_QUEUE_ID + 1];
    char err[700];
    struct relaylog rl;
    const char *log = a->maillog != NULL ? a->maillog : relaylog_default();
    char *password = NULL;
    helper_result rc;
    smtptest_result sr;

    if (relaylog_start(&rl, log, err, sizeof(err)) < 0) {
        fprintf(stderr, "oauth2-token-helper: %s\n", err);
        return RESULT_CONFIG;
    }
    if (a->d.login != NULL) {
        password = device_password(a);
        if (password == NULL) {
            fprintf(stderr,
                    "oauth2-token-helper: no password for the device login %s: give it "
                    "on standard input or with --password-file FILE\n",
                    a->d.login);
            return RESULT_USAGE;
        }
        a->d.password = password;
    }
    relay_token_check(cfg, a->name, login, sizeof(login));
    if (a->d.from == NULL)
        a->d.from = login[0] != '\0' ? login : a->name;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        rc = RESULT_TEMPORARY;
        goto out;
    }
    sr = smtptest_submit(&a->d, stdout, qid, sizeof(qid));
    curl_global_cleanup();
    rc = result_from_smtptest(sr);
    if (sr != SMTPTEST_OK)
        goto out;
    if (qid[0] == '\0') {
        printf("result: cannot follow the message: the relay's reply named no queue id\n");
        rc = RESULT_TEMPORARY;
        goto out;
    }
    printf("following %s in %s (up to %lds)\n", qid, log != NULL ? log : "the journal", a->wait_s);
    fflush(stdout);
    rc = relay_outcome(relaylog_watch(&rl, qid, (int)a->wait_s, stdout), qid,
                       log != NULL ? log : "the journal", (int)a->wait_s);
out:
    if (password != NULL) {
        explicit_bzero(password, strlen(password));
        free(password);
    }
    return rc;
}

/* test_smtp - the --smtp test: log in with the account's token, optionally send */
static helper_result test_smtp(struct config *cfg, struct test_args *a)
{
    char login[PROTOCOL_MAX_LOGIN + 1];
    char *token;
    long long expires;
    helper_result rc;

    token = malloc(PROTOCOL_MAX_TOKEN + 1);
    if (token == NULL)
        return RESULT_TEMPORARY;
    printf("account %s: getting a token\n", a->name);
    fflush(stdout);
    rc = cmd_token_get(cfg, a->name, login, sizeof(login), token, PROTOCOL_MAX_TOKEN + 1, &expires);
    if (rc == RESULT_OK) {
        printf("  token for %s, expires in %lldm\n", login, (expires - clock_wall_s()) / 60);
        a->o.login = login;
        a->o.token = token;
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
            rc = RESULT_TEMPORARY;
        } else {
            smtptest_result r = smtptest_run(&a->o, stdout);

            rc = result_from_smtptest(r);
        }
        curl_global_cleanup();
    }
    explicit_bzero(token, PROTOCOL_MAX_TOKEN + 1);
    free(token);
    return rc;
}

/* cmd_test - log in to an SMTP server as the relay would, or test the device relay */
helper_result cmd_test(const char *file, int argc, char **argv)
{
    struct test_args a;
    char host[512];
    char err[300];
    unsigned port;
    struct config *cfg;
    helper_result rc;

    if (parse_args(argc, argv, &a) < 0)
        return cli_usage();
    if (smtptest_target(a.o.hostport != NULL ? "--smtp" : "--relay",
                        a.o.hostport != NULL ? a.o.hostport : a.d.hostport, host, sizeof(host),
                        &port, err, sizeof(err)) < 0) {
        fprintf(stderr, "oauth2-token-helper: %s\n", err);
        return RESULT_USAGE;
    }
    cfg = cli_load_config(file);
    if (cfg == NULL)
        return RESULT_CONFIG;
    rc = a.o.hostport != NULL ? test_smtp(cfg, &a) : test_relay(cfg, &a);
    config_free(cfg);
    return rc;
}
