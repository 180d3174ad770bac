/*
 * test_submit.c - sendmail's command line, the message as read, -t's
 * recipients from the header, Bcc removal and the headers sendmail adds
 * (helper/submit.c), and the relay settings (helper/config.c)
 */
#define _GNU_SOURCE /* memmem */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "submit.h"
#include "tap.h"

/* parse - submit_parse_args over a NULL-terminated list; the status */
static int parse(struct submit_args *a, char *err, size_t errsize, ...)
{
    static char *argv[32];
    int argc = 0;
    va_list ap;
    char *s;

    va_start(ap, errsize);
    for (s = va_arg(ap, char *); s != NULL && argc < 31; s = va_arg(ap, char *))
        argv[argc++] = s;
    va_end(ap);
    argv[argc] = NULL;
    err[0] = '\0';
    return submit_parse_args(argc, argv, a, err, errsize);
}

/* test_args - what cron, PHP and mailx pass, and what is refused */
static void test_args(void)
{
    struct submit_args a;
    char err[300];
    int rc;

    rc = parse(&a, err, sizeof(err), "-t", "-i", "-f", "relay@contoso.com", "--", "x@example.net",
               NULL);
    ok(rc == 0 && a.extract && a.sender != NULL && strcmp(a.sender, "relay@contoso.com") == 0 &&
           a.n_rcpts == 1 && strcmp(a.rcpts[0], "x@example.net") == 0,
       "-t -i -f SENDER -- RCPT");
    rc = parse(&a, err, sizeof(err), "-FCronDaemon", "-i", "-B8BITMIME", "-oem", "-odi", "-oi",
               "-N", "never", "-frelay@contoso.com", "root", NULL);
    ok(rc == 0 && !a.extract && a.fullname != NULL && strcmp(a.fullname, "CronDaemon") == 0 &&
           strcmp(a.sender, "relay@contoso.com") == 0 && a.n_rcpts == 1,
       "cron's flags (-FCronDaemon -i -B8BITMIME -oem), -odi, -N never, -fSENDER: accepted");
    rc = parse(&a, err, sizeof(err), "-ti", NULL);
    ok(rc == 0 && a.extract && a.n_rcpts == 0, "-ti: a cluster of flags");
    rc = parse(&a, err, sizeof(err), "-f", "<>", "x@example.net", NULL);
    ok(rc == 0 && a.sender != NULL && a.sender[0] == '\0', "-f <>: the null sender");
    rc = parse(&a, err, sizeof(err), "-r", "<relay@contoso.com>", "x@example.net", NULL);
    ok(rc == 0 && strcmp(a.sender, "relay@contoso.com") == 0, "-r <SENDER>: brackets dropped");
    rc = parse(&a, err, sizeof(err), "--account", "relay", "-c", "/etc/x.conf", "-v", "a@b", NULL);
    ok(rc == 0 && strcmp(a.account, "relay") == 0 && strcmp(a.config, "/etc/x.conf") == 0 &&
           a.verbose && a.n_rcpts == 1,
       "--account NAME, -c FILE, -v");
    rc = parse(&a, err, sizeof(err), "--account=relay", "-bm", "a@b", NULL);
    ok(rc == 0 && strcmp(a.account, "relay") == 0, "--account=NAME, -bm");
    rc = parse(&a, err, sizeof(err), "a@b", "-t", NULL);
    ok(rc == 0 && !a.extract && a.n_rcpts == 2, "options end at the first recipient");
    ok(parse(&a, err, sizeof(err), "-bp", NULL) < 0 && strstr(err, "-bm") != NULL,
       "-bp (list the queue): refused, naming -bm");
    ok(parse(&a, err, sizeof(err), "-q", NULL) < 0, "-q: refused");
    ok(parse(&a, err, sizeof(err), "-C", "/etc/mail/sendmail.cf", NULL) < 0 &&
           strstr(err, "-c FILE") != NULL,
       "-C (sendmail's config): refused, naming -c");
    ok(parse(&a, err, sizeof(err), "--bogus", NULL) < 0, "an unknown long option: refused");
    ok(parse(&a, err, sizeof(err), "-f", NULL) < 0 && strstr(err, "-f needs") != NULL,
       "-f without a value: refused");
    ok(parse(&a, err, sizeof(err), "-f", "a b@c", NULL) < 0, "-f with a space: refused");
    ok(parse(&a, err, sizeof(err), "-f", "a@b\r\nRCPT TO:<x@y>", NULL) < 0,
       "-f with CRLF (SMTP command injection): refused");
    ok(parse(&a, err, sizeof(err), "--account", NULL) < 0, "--account without a name: refused");

    /* --sender-env: Exim's pipe transport puts the envelope sender in SENDER. */
    setenv("SENDER", "bob@contoso.com", 1);
    rc = parse(&a, err, sizeof(err), "--sender-env", "SENDER", "--", "x@example.net", NULL);
    ok(rc == 0 && a.sender != NULL && strcmp(a.sender, "bob@contoso.com") == 0 && a.n_rcpts == 1,
       "--sender-env SENDER: the sender from the environment");
    setenv("SENDER", "", 1);
    rc = parse(&a, err, sizeof(err), "--sender-env=SENDER", "x@example.net", NULL);
    ok(rc == 0 && a.sender != NULL && a.sender[0] == '\0',
       "--sender-env=SENDER, empty (a bounce): the null sender");
    setenv("SENDER", "a b@c", 1);
    ok(parse(&a, err, sizeof(err), "--sender-env", "SENDER", "x@example.net", NULL) < 0 &&
           strstr(err, "--sender-env") != NULL,
       "--sender-env with a space in the value: refused, naming the option");
    unsetenv("SENDER");
    ok(parse(&a, err, sizeof(err), "--sender-env", "SENDER", "x@example.net", NULL) < 0 &&
           strstr(err, "-f") != NULL,
       "--sender-env naming an unset variable: refused, pointing to -f");
    ok(parse(&a, err, sizeof(err), "--sender-env", NULL) < 0,
       "--sender-env without a name: refused");
}

/* read_string - submit_read over a pipe holding s */
static int read_string(const char *s, size_t max, struct submit_msg *m)
{
    char err[300];
    int fds[2];
    int rc;

    if (pipe(fds) < 0)
        return -9;
    if (write(fds[1], s, strlen(s)) != (ssize_t)strlen(s))
        return -9;
    close(fds[1]);
    rc = submit_read(fds[0], max, m, err, sizeof(err));
    close(fds[0]);
    return rc;
}

/* is - whether the message is exactly want */
static int is(const struct submit_msg *m, const char *want)
{
    return m->len == strlen(want) && memcmp(m->data, want, m->len) == 0;
}

/* has - whether the message (not a C string) holds needle */
static int has(const struct submit_msg *m, const char *needle)
{
    return memmem(m->data, m->len, needle, strlen(needle)) != NULL;
}

/* test_read - line ends, the end, the header's end */
static void test_read(void)
{
    struct submit_msg m;

    ok(read_string("Subject: x\n\nbody\n.\nmore", 1000, &m) == 0 &&
           is(&m, "Subject: x\r\n\r\nbody\r\n.\r\nmore\r\n") && m.header_end == 14,
       "LF becomes CRLF, a last line gets its CRLF, a lone '.' stays a line of the body");
    submit_msg_free(&m);
    ok(read_string("Subject: x\r\n\r\nbody\r\n", 1000, &m) == 0 &&
           is(&m, "Subject: x\r\n\r\nbody\r\n"),
       "CRLF stays CRLF");
    submit_msg_free(&m);
    ok(read_string("Subject: only a header\n", 1000, &m) == 0 &&
           is(&m, "Subject: only a header\r\n\r\n") && m.header_end == m.len,
       "a header and no body: the empty line is added");
    submit_msg_free(&m);
    ok(read_string("just a body line\n", 1000, &m) == 0 && is(&m, "\r\njust a body line\r\n") &&
           m.header_end == 2,
       "no header at all: an empty header before the body");
    submit_msg_free(&m);
    ok(read_string("To: a@b\nnot a header\n", 1000, &m) == 0 &&
           is(&m, "To: a@b\r\n\r\nnot a header\r\n") && m.header_end == 11,
       "a line that is no header field ends the header");
    submit_msg_free(&m);
    ok(read_string("To: a@b,\n c@d\nSubject: s\n\nx\n", 1000, &m) == 0 && m.header_end == 30,
       "a folded field stays in the header");
    submit_msg_free(&m);
    ok(read_string("From relay@contoso.com Sun Nov 29 21:00:00 2026\nSubject: x\n\nFrom here\n",
                   1000, &m) == 0 &&
           is(&m, "Subject: x\r\n\r\nFrom here\r\n"),
       "a leading mbox From_ line is dropped (not one in the body)");
    submit_msg_free(&m);
    ok(read_string("", 1000, &m) == 0 && m.len == 2 && m.header_end == 2,
       "an empty message: an empty header");
    submit_msg_free(&m);
    ok(read_string("Subject: x\n\n0123456789012345678901234567890123456789\n", 40, &m) == -2,
       "over the size limit: -2");
    ok(read_string("Subject: x\n\n0123456789\n", 40, &m) == 0, "under it: read");
    submit_msg_free(&m);
}

/* rcpts_are - the list, joined by spaces, is want */
static int rcpts_are(const struct submit_rcpts *r, const char *want)
{
    char buf[1000] = "";
    size_t n = 0;
    size_t i;

    for (i = 0; i < r->n; i++)
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%s", i ? " " : "", r->v[i]);
    if (strcmp(buf, want) != 0)
        printf("# got \"%s\", want \"%s\"\n", buf, want);
    return strcmp(buf, want) == 0;
}

/* list - submit_address_list of s into a fresh list; the status */
static int list(const char *s, struct submit_rcpts *r)
{
    char err[300];

    r->v = NULL;
    r->n = 0;
    return submit_address_list(s, strlen(s), r, err, sizeof(err));
}

/* test_address_list - RFC 5322 address lists as headers write them */
static void test_address_list(void)
{
    struct submit_rcpts r;

    ok(list("a@example.net", &r) == 0 && rcpts_are(&r, "a@example.net"), "a bare address");
    submit_rcpts_free(&r);
    ok(list("\"Doe, Jane\" <jane@example.net>, John <john@example.net>", &r) == 0 &&
           rcpts_are(&r, "jane@example.net john@example.net"),
       "display names, one quoted with a comma");
    submit_rcpts_free(&r);
    ok(list(" (the boss) boss@example.net (comment, with comma), x@example.net", &r) == 0 &&
           rcpts_are(&r, "boss@example.net x@example.net"),
       "comments, one holding a comma");
    submit_rcpts_free(&r);
    ok(list("Team: a@example.net, B <b@example.net>;, c@example.net", &r) == 0 &&
           rcpts_are(&r, "a@example.net b@example.net c@example.net"),
       "a group and an address after it");
    submit_rcpts_free(&r);
    ok(list("undisclosed-recipients:;", &r) == 0 && r.n == 0, "an empty group: nobody");
    submit_rcpts_free(&r);
    ok(list("a@example.net, A@EXAMPLE.NET, , <>", &r) == 0 && rcpts_are(&r, "a@example.net"),
       "duplicates (case ignored), empty elements and <> dropped");
    submit_rcpts_free(&r);
    ok(list("<@relay.example:x@example.net>", &r) == 0 && rcpts_are(&r, "x@example.net"),
       "an obsolete source route: the address after the colon");
    submit_rcpts_free(&r);
    {
        char buf[1400];
        char local[401];

        memset(local, 'x', 400);
        local[400] = '\0';
        snprintf(buf, sizeof(buf), "\"%s\" <a@example.net>, %s (%s) <b@example.net>", local, local,
                 local);
        ok(list(buf, &r) == 0 && rcpts_are(&r, "a@example.net b@example.net"),
           "display names and comments longer than an address: fine");
        submit_rcpts_free(&r);
        snprintf(buf, sizeof(buf), "<\"%s\"@example.net>", local);
        ok(list(buf, &r) < 0, "a quoted local part over 320 bytes: refused, not cut short");
        submit_rcpts_free(&r);
        snprintf(buf, sizeof(buf), "%s@example.net, c@example.net", local);
        ok(list(buf, &r) < 0, "a bare address over 320 bytes: refused, not cut short");
        submit_rcpts_free(&r);
    }
    ok(list("Jane Doe jane@example.net", &r) < 0, "words without <>: refused, not guessed");
    submit_rcpts_free(&r);
    ok(list("<a@b\r\nRSET>", &r) < 0, "CRLF inside <>: refused");
    submit_rcpts_free(&r);
}

/* test_header - -t's recipients, Bcc removal, added From and Date */
static void test_header(void)
{
    struct submit_msg m;
    struct submit_rcpts r = {NULL, 0};
    char err[300];

    read_string("From: Cron <relay@contoso.com>\n"
                "To: \"Some One\" <one@example.net>,\n"
                "\ttwo@example.net\n"
                "cc: three@example.net\n"
                "Bcc: hidden@example.net,\n"
                " hidden2@example.net\n"
                "Subject: Bcc: is not a field here\n"
                "X-To: not-a-recipient@example.net\n"
                "\n"
                "To: body@example.net\n"
                "Bcc: body-too@example.net\n",
                100000, &m);
    ok(submit_header_rcpts(&m, &r, err, sizeof(err)) == 0 &&
           rcpts_are(&r, "one@example.net two@example.net three@example.net hidden@example.net "
                         "hidden2@example.net"),
       "-t: To (folded), cc (any case) and Bcc (folded); not X-To, not the body");
    submit_rcpts_free(&r);
    ok(submit_header_addresses(&m, "From", &r, err, sizeof(err)) == 0 &&
           rcpts_are(&r, "relay@contoso.com"),
       "From: the sender's address, for picking the account");
    submit_rcpts_free(&r);
    submit_strip_bcc(&m);
    ok(!has(&m, "hidden") && has(&m, "Subject: Bcc: is not") &&
           has(&m, "\r\nBcc: body-too@example.net\r\n"),
       "Bcc removed with its folded line; the body and other fields untouched");
    ok(m.header_end > 0 && memcmp(m.data + m.header_end - 4, "\r\n\r\n", 4) == 0,
       "the header's end moved with it");
    ok(submit_add_headers(&m, "relay@contoso.com", "Cron", 1790000000LL) == 0 &&
           !has(&m, "From: \"Cron\"") && strncmp(m.data, "Date: ", 6) == 0,
       "a message with From gets only Date");
    submit_msg_free(&m);

    read_string("Subject: no sender\n\nx\n", 1000, &m);
    ok(submit_add_headers(&m, "relay@contoso.com", "The \"Cron\" Daemon", 1790000000LL) == 0 &&
           strncmp(m.data, "From: \"The \\\"Cron\\\" Daemon\" <relay@contoso.com>\r\nDate: ", 55) ==
               0 &&
           submit_has_header(&m, "Subject"),
       "From from -F and -f (quoted), and Date, added when missing");
    submit_msg_free(&m);
    read_string("Subject: no sender\n\nx\n", 1000, &m);
    ok(submit_add_headers(&m, "", NULL, 1790000000LL) == 0 && !submit_has_header(&m, "From"),
       "the null sender: no From added");
    ok(submit_add_headers(&m, "a@b", "bad\nname", 1790000000LL) < 0,
       "-F with a newline: refused (no header injection)");
    submit_msg_free(&m);

    read_string("To: a b@example.net\n\nx\n", 1000, &m);
    ok(submit_header_rcpts(&m, &r, err, sizeof(err)) < 0 && strstr(err, "To:") != NULL,
       "an unusable header address: refused, naming the field");
    submit_rcpts_free(&r);
    submit_msg_free(&m);
}

/* load_text - a config from text; NULL with msg */
static struct config *load_text(const char *text, char *msg, size_t msgsize)
{
    FILE *fp = fmemopen((void *)text, strlen(text), "r");
    struct config *cfg;

    if (fp == NULL)
        return NULL;
    cfg = config_load_stream(fp, "relay.conf", msg, msgsize);
    fclose(fp);
    return cfg;
}

/* test_relay - relay: the provider's preset, HOST:PORT and [IPv6]:PORT, refused otherwise */
static void test_relay(void)
{
    static const char accounts[] =
        "allow_users = root\n"
        "[account a@contoso.com]\ntenant = contoso.com\n"
        "client_id = 6731de76-14a6-49ae-97bc-6eba6914391e\n"
        "[account gov@contoso.us]\nprovider = microsoft-usgov\ntenant = contoso.us\n"
        "client_id = 6731de76-14a6-49ae-97bc-6eba6914391e\n"
        "[account cn@contoso.cn]\nprovider = microsoft-china\ntenant = contoso.cn\n"
        "client_id = 6731de76-14a6-49ae-97bc-6eba6914391e\n"
        "[account g@gmail.com]\nprovider = google\nclient_id = 1-x.apps.googleusercontent.com\n"
        "[account c@example.org]\nprovider = custom\nclient_id = c\nscope = mail\n"
        "token_endpoint = https://idp.example.org/token\n"
        "[account r@example.org]\nprovider = custom\nclient_id = c\nscope = mail\n"
        "token_endpoint = https://idp.example.org/token\nrelay = [2001:db8::25]:2525\n"
        "relay_ca_file = /etc/ssl/certs/ca-certificates.crt\n";
    char msg[1024];
    char host[256];
    unsigned port = 0;
    struct config *cfg = load_text(accounts, msg, sizeof(msg));

    if (!ok(cfg != NULL, "a config with relay settings loads (%s)", cfg ? "" : msg))
        return;
    ok(strcmp(config_find(cfg, "a@contoso.com")->relay, "smtp.office365.com:587") == 0 &&
           strcmp(config_find(cfg, "gov@contoso.us")->relay, "smtp.office365.us:587") == 0 &&
           strcmp(config_find(cfg, "cn@contoso.cn")->relay, "smtp.partner.outlook.cn:587") == 0 &&
           strcmp(config_find(cfg, "g@gmail.com")->relay, "smtp.gmail.com:587") == 0,
       "relay: each provider's preset");
    ok(config_find(cfg, "c@example.org")->relay == NULL, "relay: none for provider custom");
    ok(strcmp(config_find(cfg, "r@example.org")->relay_ca_file,
              "/etc/ssl/certs/ca-certificates.crt") == 0 &&
           strcmp(config_find(cfg, "a@contoso.com")->relay_ca_file, "") == 0,
       "relay_ca_file: as set; empty (the system's CAs) by default");
    ok(config_relay_parse(config_find(cfg, "r@example.org")->relay, host, sizeof(host), &port, msg,
                          sizeof(msg)) == 0 &&
           strcmp(host, "[2001:db8::25]") == 0 && port == 2525,
       "relay = [IPv6]:PORT");
    config_free(cfg);
    ok(config_relay_parse("smtp.office365.com:587", host, sizeof(host), &port, msg, sizeof(msg)) ==
               0 &&
           strcmp(host, "smtp.office365.com") == 0 && port == 587,
       "relay = HOST:PORT");
    ok(config_relay_parse("smtp.office365.com", host, sizeof(host), &port, msg, sizeof(msg)) < 0,
       "relay without a port: refused");
    ok(config_relay_parse("smtp.example.com:0", host, sizeof(host), &port, msg, sizeof(msg)) < 0 &&
           config_relay_parse("smtp.example.com:65536", host, sizeof(host), &port, msg,
                              sizeof(msg)) < 0,
       "relay port 0 or over 65535: refused");
    ok(config_relay_parse("2001:db8::25:587", host, sizeof(host), &port, msg, sizeof(msg)) < 0 &&
           strstr(msg, "brackets") != NULL,
       "an IPv6 relay without brackets: refused, saying how");
    ok(config_relay_parse("smtp/x:587", host, sizeof(host), &port, msg, sizeof(msg)) < 0,
       "a relay host with a slash (a URL path): refused");
    cfg = load_text("allow_users = root\n[account a@contoso.com]\ntenant = contoso.com\n"
                    "client_id = 6731de76-14a6-49ae-97bc-6eba6914391e\nrelay = smtp:x\n",
                    msg, sizeof(msg));
    ok(cfg == NULL && strstr(msg, "relay") != NULL && strstr(msg, "HOST:PORT") != NULL,
       "a bad relay: the config is refused, naming the key and the fix (%s)", msg);
    config_free(cfg);
}

int main(void)
{
    test_args();
    test_read();
    test_address_list();
    test_header();
    test_relay();
    return done_testing();
}
