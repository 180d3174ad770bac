/*
 * cmd_sendmail.c - oauth2-token-helper sendmail: submit a message through the account's relay
 *
 * SYNOPSIS
 *     oauth2-token-helper [-c FILE] sendmail [--account NAME] [-f SENDER] [-t] [-i | -oi]
 *                                   [--] [RECIPIENT...]
 *
 * DESCRIPTION
 *     A sendmail(1)-compatible submission command for hosts without an MTA
 *     (cron, PHP mail(), scripts) and for Exim's pipe transport: the
 *     message on standard input, delivered at once to the account's relay
 *     (relay, relay_ca_file) with STARTTLS and AUTH XOAUTH2, the token
 *     from the daemon as "token" gets it (cmd_token_get). submit.c does
 *     the parsing and the SMTP transaction.
 *
 * DIAGNOSTICS
 *     The exit status says what became of the message (sysexits(3)): 0 only
 *     once the relay answered 250 to the end of DATA; 75 when it may pass by
 *     itself and the message must stay queued (no token now, daemon down,
 *     network, TLS, an untrusted certificate, a 4xx, a 5xx to the login, a
 *     dropped connection); 69 for a 5xx to the message (MAIL, RCPT, DATA);
 *     65 for a message over the size limit; 64 usage; 67 unknown account;
 *     78 configuration. Each failure is one line on stderr naming the
 *     account and the relay, with the server's reply when there is one.
 *
 * SECURITY
 *     The token is wiped after the transaction; the message body is never
 *     logged; -v shows commands by name, never the AUTH response.
 */
#include "autoconfig.h"

#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cli.h"
#include "clock.h"
#include "config.h"
#include "explain.h"
#include "log.h"
#include "protocol.h"
#include "submit.h"

/* How long to wait for each server reply, and for a stalled transfer (RFC 5321 4.5.3.2). */
#define SENDMAIL_TIMEOUT_S 600L

#define PREFIX "oauth2-token-helper: sendmail: "

/* account_for - the account whose login or name is addr, or NULL */
static const struct account_conf *account_for(const struct config *cfg, const char *addr)
{
    size_t i;

    for (i = 0; i < cfg->n_accounts; i++)
        if (strcasecmp(cfg->accounts[i].login, addr) == 0 ||
            strcasecmp(cfg->accounts[i].name, addr) == 0)
            return &cfg->accounts[i];
    return NULL;
}

/*
 * pick_account - --account; else the account whose login or name is the
 * sender (-f), or, with no -f, the address of the message's From:; else
 * the only one
 */
static helper_result pick_account(const struct config *cfg, const struct submit_args *a,
                                  const struct submit_msg *m, const struct account_conf **acct)
{
    if (a->account != NULL) {
        *acct = cli_find_account(cfg, a->account);
        return *acct != NULL ? RESULT_OK : RESULT_UNKNOWN_ACCOUNT;
    }
    *acct = NULL;
    if (a->sender != NULL && a->sender[0] != '\0') {
        *acct = account_for(cfg, a->sender);
    } else if (a->sender == NULL) {
        struct submit_rcpts from = {NULL, 0};
        char err[400];

        /* The header's sender, as sendmail -t takes recipients from it: one From: address. */
        if (submit_header_addresses(m, "From", &from, err, sizeof(err)) == 0 && from.n == 1)
            *acct = account_for(cfg, from.v[0]);
        submit_rcpts_free(&from);
    }
    if (*acct != NULL)
        return RESULT_OK;
    if (cfg->n_accounts == 1) {
        *acct = &cfg->accounts[0];
        return RESULT_OK;
    }
    if (cfg->n_accounts == 0) {
        fprintf(stderr, PREFIX "%s has no [account NAME] section; fix: add one\n", cfg->path);
        return RESULT_CONFIG;
    }
    if (a->sender != NULL && a->sender[0] != '\0')
        fprintf(stderr,
                PREFIX "no account in %s has login or name %s, and there are %zu; fix: give "
                       "--account NAME, or -f with an account's login\n",
                cfg->path, a->sender, cfg->n_accounts);
    else
        fprintf(stderr,
                PREFIX "%s has %zu accounts and the message's From: names none of them: say "
                       "which one sends; fix: give --account NAME, or -f with an account's login\n",
                cfg->path, cfg->n_accounts);
    return RESULT_USAGE;
}

/* collect_rcpts - the recipient arguments, and with -t those of To, Cc and Bcc */
static helper_result collect_rcpts(const struct submit_args *a, const struct submit_msg *m,
                                   struct submit_rcpts *r)
{
    char err[400];
    int i;

    for (i = 0; i < a->n_rcpts; i++) {
        const char *arg = a->rcpts[i];
        size_t len = strlen(arg);

        /* "a@b, c@d" or "Name <a@b>" in one argument: parse it as a header would. */
        if (submit_address_list(arg, len, r, err, sizeof(err)) < 0) {
            fprintf(stderr, PREFIX "%s\n", err);
            return RESULT_USAGE;
        }
    }
    if (a->extract && submit_header_rcpts(m, r, err, sizeof(err)) < 0) {
        fprintf(stderr, PREFIX "%s; the message was not sent\n", err);
        return RESULT_DATA_ERROR;
    }
    if (r->n > 0)
        return RESULT_OK;
    if (a->extract) {
        fprintf(stderr, PREFIX "-t: no recipient in the To, Cc or Bcc header, nor as an "
                               "argument; the message was not sent\n");
        return RESULT_DATA_ERROR;
    }
    fprintf(stderr, PREFIX "no recipients: give them as arguments, or -t to take them from "
                           "the header\n");
    return RESULT_USAGE;
}

/* report - one line on stderr: what became of the message, and why */
static helper_result report(const struct account_conf *acct, const struct submit_outcome *out)
{
    const char *name = acct->name;
    const char *relay = acct->relay;

    if (out->status == SUBMIT_OK)
        return RESULT_OK;
    if (out->untrusted) {
        fprintf(stderr,
                PREFIX "account %s: relay %s: its certificate is not trusted (%s); the "
                       "message stays queued (exit 75) until a person fixes relay_ca_file or the "
                       "relay's certificate\n",
                name, relay, out->reason);
        return RESULT_TEMPORARY;
    }
    if (out->reply[0] == '4' || out->reply[0] == '5') {
        /* Exchange's known replies get their meaning and fix (explain.c), on the same line. */
        const struct explain *e = explain_smtp(out->reply);

        fprintf(stderr, PREFIX "%s said: %s (account %s, after %s)%s%s%s\n", relay, out->reply,
                name, out->step,
                out->status == SUBMIT_PERMANENT ? ""
                : out->reply[0] == '5'          ? "; not about this message: it stays queued "
                                                  "until a person fixes the login or relay"
                                                : "; the message stays queued",
                e != NULL ? "; " : "", e != NULL ? e->text : "");
        return out->status == SUBMIT_PERMANENT ? RESULT_NEEDS_PERSON : RESULT_TEMPORARY;
    }
    fprintf(stderr, PREFIX "account %s: relay %s: %s (during %s); the message stays queued\n", name,
            relay, out->reason, out->step);
    return RESULT_TEMPORARY;
}

/*
 * log_outcome - one line in the mail log (syslog, facility mail) per
 * message, as an MTA logs it: cron's and PHP's standard error often goes
 * nowhere. Addresses and the server's reply; never the body or the token.
 */
static void log_outcome(const struct account_conf *acct, const char *sender,
                        const struct submit_rcpts *rcpts, size_t size,
                        const struct submit_outcome *out)
{
    const char *status = out->status == SUBMIT_OK          ? "sent"
                         : out->status == SUBMIT_PERMANENT ? "bounced"
                                                           : "deferred";
    const char *why = out->reply[0] != '\0' ? out->reply : out->reason;

    log_open("oauth2-token-helper", 1, 0);
    log_quiet(0);
    if (out->status == SUBMIT_OK)
        log_info("account=%s relay=%s from=<%s> nrcpt=%zu size=%zu status=%s (%s)", acct->name,
                 acct->relay, sender, rcpts->n, size, status, why);
    else
        log_warn("account=%s relay=%s from=<%s> nrcpt=%zu size=%zu status=%s (after %s: %s)",
                 acct->name, acct->relay, sender, rcpts->n, size, status, out->step, why);
}

/* token_result - what a failure to get a token means for the message */
static helper_result token_result(helper_result rc, const struct account_conf *acct)
{
    if (rc == RESULT_UNKNOWN_ACCOUNT || rc == RESULT_CONFIG)
        return rc;
    fprintf(stderr,
            PREFIX "account %s: relay %s: no token now; the message stays queued (exit 75)\n",
            acct->name, acct->relay);
    return RESULT_TEMPORARY;
}

/* cmd_sendmail - read a message and deliver it through the account's relay */
helper_result cmd_sendmail(const char *file, int argc, char **argv)
{
    struct submit_args a;
    struct submit_msg m;
    struct submit_rcpts rcpts = {NULL, 0};
    struct submit_outcome out;
    struct submit_opts o;
    const struct account_conf *acct = NULL;
    struct config *cfg = NULL;
    char login[PROTOCOL_MAX_LOGIN + 1];
    char host[256];
    char err[512];
    char *token = NULL;
    long long expires;
    helper_result rc;
    int r;

    memset(&m, 0, sizeof(m));
    /* A relay that goes away mid-write must give an exit status, not kill us. */
    signal(SIGPIPE, SIG_IGN);
    if (submit_parse_args(argc, argv, &a, err, sizeof(err)) < 0) {
        fprintf(stderr, PREFIX "%s\n", err);
        return cli_usage();
    }
    r = submit_read(STDIN_FILENO, SUBMIT_MAX_MESSAGE, &m, err, sizeof(err));
    if (r < 0) {
        fprintf(stderr, PREFIX "%s; the message was not sent\n", err);
        return r == -2 ? RESULT_DATA_ERROR : RESULT_TEMPORARY;
    }
    cfg = cli_load_config(a.config != NULL ? config_path(a.config) : file);
    if (cfg == NULL) {
        rc = RESULT_CONFIG;
        goto out;
    }
    rc = pick_account(cfg, &a, &m, &acct);
    if (rc != RESULT_OK)
        goto out;
    if (acct->relay == NULL || acct->relay[0] == '\0') {
        fprintf(stderr,
                PREFIX "account %s: relay is not set (provider %s has no preset); fix: add "
                       "relay = HOST:PORT to [account %s] in %s\n",
                acct->name, acct->provider, acct->name, cfg->path);
        rc = RESULT_CONFIG;
        goto out;
    }
    if (config_relay_parse(acct->relay, host, sizeof(host), &o.port, err, sizeof(err)) < 0) {
        fprintf(stderr, PREFIX "account %s: relay %s; fix: relay = HOST:PORT in %s\n", acct->name,
                err, cfg->path);
        rc = RESULT_CONFIG;
        goto out;
    }
    rc = collect_rcpts(&a, &m, &rcpts);
    if (rc != RESULT_OK)
        goto out;
    submit_strip_bcc(&m);
    o.sender = a.sender != NULL ? a.sender : acct->login;
    if (submit_add_headers(&m, o.sender, a.fullname, clock_wall_s()) < 0) {
        fprintf(stderr, PREFIX "-F: the full name may not hold control characters\n");
        rc = RESULT_USAGE;
        goto out;
    }
    token = malloc(PROTOCOL_MAX_TOKEN + 1);
    if (token == NULL) {
        rc = RESULT_TEMPORARY;
        goto out;
    }
    rc = cmd_token_get(cfg, acct->name, login, sizeof(login), token, PROTOCOL_MAX_TOKEN + 1,
                       &expires);
    if (rc != RESULT_OK) {
        rc = token_result(rc, acct);
        memset(&out, 0, sizeof(out));
        out.status = SUBMIT_TEMPORARY;
        snprintf(out.step, sizeof(out.step), "token");
        snprintf(out.reason, sizeof(out.reason), "no token from the daemon");
        log_outcome(acct, o.sender, &rcpts, m.len, &out);
        goto out;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, PREFIX "libcurl could not start; the message stays queued\n");
        rc = RESULT_TEMPORARY;
        goto out;
    }
    o.host = host;
    o.ca_file = acct->relay_ca_file;
    o.login = login;
    o.token = token;
    o.mechanism = "XOAUTH2";
    o.timeout_s = SENDMAIL_TIMEOUT_S;
    o.verbose = a.verbose;
    submit_send(&o, &m, &rcpts, &out);
    curl_global_cleanup();
    rc = report(acct, &out);
    log_outcome(acct, o.sender, &rcpts, m.len, &out);
out:
    if (token != NULL) {
        explicit_bzero(token, PROTOCOL_MAX_TOKEN + 1);
        free(token);
    }
    submit_rcpts_free(&rcpts);
    submit_msg_free(&m);
    config_free(cfg);
    return rc;
}
