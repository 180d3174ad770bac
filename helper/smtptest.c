/*
 * smtptest.c - log in to an SMTP server with XOAUTH2 and report (see smtptest.h)
 */
#include "autoconfig.h"

#include "smtptest.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "explain.h"
#include "log.h"
#include "smtpclient.h"

/* test_message - a short test message from "from" to "to" into buf; its length */
static size_t test_message(char *buf, size_t size, const char *from, const char *to,
                           const char *how)
{
    time_t now = (time_t)clock_wall_s();
    char date[64];
    struct tm tm;
    int n;

    gmtime_r(&now, &tm);
    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
    n = snprintf(buf, size,
                 "Date: %s\r\nFrom: %s\r\nTo: %s\r\n"
                 "Subject: oauth2-token-helper test message\r\n"
                 "Message-ID: <%ld.%ld@oauth2-token-helper>\r\n\r\n"
                 "This message was sent by oauth2-token-helper test,\r\n"
                 "%s.\r\n",
                 date, from, to, (long)now, (long)getpid(), how);
    if (n < 0)
        return 0;
    return (size_t)n >= size ? size - 1 : (size_t)n;
}

/* test_status - the test's verdict: a refusal of any kind needs a person */
static smtptest_result test_status(smtpclient_status st)
{
    switch (st) {
    case SMTPCLIENT_OK:
        return SMTPTEST_OK;
    case SMTPCLIENT_TEMPORARY:
        return SMTPTEST_TEMPORARY;
    default:
        return SMTPTEST_PERMANENT;
    }
}

/* smtptest_challenge - the text of a "334 <base64>" error challenge, cleaned; 0 when none */
int smtptest_challenge(const char *reply, char *out, size_t outsize)
{
    /* Gmail and Dovecot put the verdict in a base64 JSON error challenge. */
    unsigned char json[200];
    size_t b64;
    int n;

    if (outsize > 0)
        out[0] = '\0';
    if (strncmp(reply, "334 ", 4) != 0 || reply[4] == ' ')
        return 0;
    b64 = strcspn(reply + 4, " ");
    if (b64 > 4 * ((sizeof(json) - 1) / 3))
        b64 = 4 * ((sizeof(json) - 1) / 3);
    n = EVP_DecodeBlock(json, (const unsigned char *)reply + 4, (int)b64);
    if (n <= 0)
        return 0;
    log_clean(out, outsize, (const char *)json, (size_t)n);
    return 1;
}

/* port_given - whether "HOST[:PORT]" names a port */
static int port_given(const char *hostport)
{
    const char *colon = strrchr(hostport, ':');

    return colon != NULL && strchr(colon, ']') == NULL &&
           (hostport[0] != '[' || colon > strchr(hostport, ']'));
}

/* smtptest_target - host and port of "HOST[:PORT]" given with option opt */
int smtptest_target(const char *opt, const char *hostport, char *host, size_t hostsize,
                    unsigned *port, char *err, size_t errsize)
{
    const char *colon = strrchr(hostport, ':');
    size_t hostlen = strlen(hostport);

    *port = 587;
    if (port_given(hostport)) {
        char *end;
        unsigned long p;

        errno = 0;
        p = strtoul(colon + 1, &end, 10);
        if (colon[1] < '0' || colon[1] > '9' || *end != '\0' || errno != 0 || p == 0 || p > 65535) {
            snprintf(err, errsize, "bad port in %s %.200s: give HOST or HOST:PORT, PORT 1 to 65535",
                     opt, hostport);
            return -1;
        }
        *port = (unsigned)p;
        hostlen = (size_t)(colon - hostport);
    }
    if (hostlen == 0 || hostlen >= hostsize) {
        snprintf(err, errsize, "%s host in %s %.200s: give HOST or HOST:PORT",
                 hostlen == 0 ? "no" : "too long a", opt, hostport);
        return -1;
    }
    if (hostport[0] != '[' && memchr(hostport, ':', hostlen) != NULL) {
        snprintf(err, errsize, "write an IPv6 address in %s in brackets: [%.200s]:587", opt,
                 hostport);
        return -1;
    }
    memcpy(host, hostport, hostlen);
    host[hostlen] = '\0';
    return 0;
}

/* smtptest_run - run the test */
smtptest_result smtptest_run(const struct smtptest_opts *o, FILE *out)
{
    struct smtpclient_opts so;
    struct smtpclient_result r;
    char text[1024];
    char host[512];
    char err[300];
    unsigned port = 587;
    smtptest_result result;

    if (smtptest_target("--smtp", o->hostport, host, sizeof(host), &port, err, sizeof(err)) < 0) {
        fprintf(out, "test: %s\n", err);
        return SMTPTEST_BAD_INPUT;
    }
    memset(&so, 0, sizeof(so));
    so.host = host;
    so.port = port;
    so.tls = SMTPCLIENT_TLS_REQUIRED;
    so.ca_file = o->cafile;
    so.auth = SMTPCLIENT_AUTH_BEARER;
    so.mechanism = "XOAUTH2";
    so.login = o->login;
    so.secret = o->token;
    if (o->to != NULL) {
        so.sender = o->login;
        so.rcpts = &o->to;
        so.n_rcpts = 1;
        so.data = text;
        so.len = test_message(text, sizeof(text), o->login, o->to, "authenticated with XOAUTH2");
    }
    so.connect_timeout_s = 15;
    so.timeout_s = 60;
    so.trace = out;
    so.trace_prefix = "  ";
    if (port_given(o->hostport))
        fprintf(out, "connecting to %s (%s)\n", o->hostport,
                port == 465 ? "implicit TLS" : "STARTTLS");
    else
        fprintf(out, "connecting to %s, port %u (%s)\n", o->hostport, port,
                port == 465 ? "implicit TLS" : "STARTTLS");
    result = test_status(smtpclient_send(&so, &r));
    if (result == SMTPTEST_OK) {
        fprintf(out, "result: %s as %s\n",
                o->to ? "test message accepted" : "logged in with XOAUTH2", o->login);
        return SMTPTEST_OK;
    }
    fprintf(out, "result: FAILED %s: %s\n",
            r.authenticated ? "after logging in" : "before or while logging in", r.reason);
    if (r.reply[0] != '\0') {
        const struct explain *e = explain_smtp(r.reply);

        fprintf(out, "last reply: %s\n", r.reply);
        if (strncmp(r.reply, "334 ", 4) == 0 && r.reply[4] != ' ') {
            char clean[200];

            if (smtptest_challenge(r.reply, clean, sizeof(clean)))
                fprintf(out, "the server's error challenge: %s\n", clean);
            e = explain_smtp("535");
        }
        if (e != NULL)
            fprintf(out, "meaning: %s\nfix: %s\n", e->what, e->fix);
    }
    fprintf(out, "%s\n",
            result == SMTPTEST_TEMPORARY
                ? "this looks temporary (the server or the network): try again later"
                : "this needs a person: fix the cause above, then run the test again");
    return result;
}

/* smtptest_submit - submit one message as a device would */
smtptest_result smtptest_submit(const struct smtptest_device *d, FILE *out, char *queue_id,
                                size_t queue_id_size)
{
    struct smtpclient_opts so;
    struct smtpclient_result r;
    char text[1024];
    char host[512];
    char err[300];
    unsigned port = 587;
    smtptest_result result;

    if (queue_id_size > 0)
        queue_id[0] = '\0';
    if (smtptest_target("--relay", d->hostport, host, sizeof(host), &port, err, sizeof(err)) < 0) {
        fprintf(out, "test: %s\n", err);
        return SMTPTEST_BAD_INPUT;
    }
    memset(&so, 0, sizeof(so));
    so.host = host;
    so.port = port;
    /* A password only ever over TLS; without one, STARTTLS when offered (port 25 devices). */
    so.tls = d->login != NULL ? SMTPCLIENT_TLS_REQUIRED : SMTPCLIENT_TLS_IF_OFFERED;
    so.ca_file = d->cafile;
    /* As the devices do: a local relay's certificate is often self-signed. */
    so.no_verify = d->cafile == NULL;
    so.auth = d->login != NULL ? SMTPCLIENT_AUTH_PASSWORD : SMTPCLIENT_AUTH_NONE;
    so.login = d->login;
    so.secret = d->password;
    so.sender = d->from;
    so.rcpts = &d->to;
    so.n_rcpts = 1;
    so.data = text;
    so.len = test_message(text, sizeof(text), d->from, d->to,
                          "submitted to the relay as a device would");
    so.connect_timeout_s = 15;
    so.timeout_s = 60;
    so.trace = out;
    so.trace_prefix = "  ";
    fprintf(out, "submitting to the relay %s as %s, %s, from %s to %s\n", d->hostport,
            d->login != NULL ? "a device that logs in" : "a device that does not log in",
            d->login != NULL ? "STARTTLS required" : "STARTTLS if offered", d->from, d->to);
    if (d->login != NULL)
        fprintf(out, "  login %s (password hidden)\n", d->login);
    if (d->cafile == NULL)
        fprintf(out, "  the relay's certificate is not verified (as devices do; --cafile FILE "
                     "verifies it)\n");
    result = test_status(smtpclient_send(&so, &r));
    if (result == SMTPTEST_OK) {
        snprintf(queue_id, queue_id_size, "%s", r.queue_id);
        fprintf(out, "result: the relay accepted the message%s%s\n",
                r.queue_id[0] != '\0' ? ", queue id " : " (no queue id in its reply)", r.queue_id);
        return SMTPTEST_OK;
    }
    fprintf(out, "result: FAILED: the relay did not take the message: %s\n", r.reason);
    if (r.reply[0] != '\0')
        fprintf(out, "last reply: %s\n", r.reply);
    if (strncmp(r.reply, "554 5.7.1", 9) == 0 || strncmp(r.reply, "535", 3) == 0)
        fprintf(out, "meaning: the relay refused this device: list its address in mynetworks "
                     "(device_networks), or log in with --login USER and a password from the "
                     "relay's Dovecot passwd-file\n");
    fprintf(out, "%s\n",
            result == SMTPTEST_TEMPORARY
                ? "this looks temporary (the relay or the network): try again later"
                : "this needs a person: fix the cause above, then run the test again");
    return result;
}
