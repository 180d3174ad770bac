/*
 * smtptest.c - log in to an SMTP server with XOAUTH2 and report (see smtptest.h)
 */
#include "autoconfig.h"

#include "smtptest.h"

#include <curl/curl.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "explain.h"
#include "log.h"

struct trace {
    FILE *out;
    char last_reply[256];                     /* last complete server line */
    char queue_id[SMTPTEST_MAX_QUEUE_ID + 1]; /* from "250 ... queued as ID", or empty */
    int authenticated;
    int in_auth; /* AUTH sent, no final reply yet: what we send is a credential */
};

/* note_queue_id - keep the queue id of a "250 ... queued as ID" reply */
static void note_queue_id(struct trace *t, const char *line)
{
    const char *p = strstr(line, "queued as ");
    size_t n;

    if (strncmp(line, "250", 3) != 0 || p == NULL)
        return;
    p += strlen("queued as ");
    n = strspn(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789");
    if (n == 0 || n > SMTPTEST_MAX_QUEUE_ID)
        return;
    memcpy(t->queue_id, p, n);
    t->queue_id[n] = '\0';
}

/* show_auth - "AUTH MECH" without its initial response; the rest of the exchange hidden */
static void show_auth(struct trace *t, const char *data, size_t size)
{
    const char *mech = data + 4;
    size_t n;

    while ((size_t)(mech - data) < size && *mech == ' ')
        mech++;
    n = strspn(mech, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_");
    if ((size_t)(mech - data) + n > size || n > 20)
        n = 0;
    fprintf(t->out, "  -> AUTH %.*s (%s hidden)\n", (int)n, mech,
            n == 7 && strncmp(mech, "XOAUTH2", 7) == 0 ? "token" : "credentials");
    t->in_auth = 1;
}

/* on_debug - show server lines and the names of our commands, never their arguments */
static int on_debug(CURL *h, curl_infotype type, char *data, size_t size, void *arg)
{
    struct trace *t = arg;
    char line[256];

    (void)h;
    if (type == CURLINFO_HEADER_IN) {
        log_clean(line, sizeof(line), data, size);
        fprintf(t->out, "  <- %s\n", line);
        /* QUIT's 221 after a failure would hide the reply that explains it. */
        if (strncmp(line, "221", 3) != 0 || t->last_reply[0] == '\0')
            snprintf(t->last_reply, sizeof(t->last_reply), "%s", line);
        if (strncmp(line, "235", 3) == 0)
            t->authenticated = 1;
        if (strncmp(line, "334", 3) != 0)
            t->in_auth = 0;
        note_queue_id(t, line);
    } else if (type == CURLINFO_HEADER_OUT) {
        size_t n = strcspn(data, " \r\n");

        if (n > size)
            n = size;
        /* After AUTH, every line we send is a credential (LOGIN's user and password). */
        if (t->in_auth)
            fprintf(t->out, "  -> (SASL response hidden)\n");
        else if (n >= 4 && strncmp(data, "AUTH", 4) == 0)
            show_auth(t, data, size);
        else if (n > 0 && n < 16 && data[0] >= 'A' && data[0] <= 'Z')
            fprintf(t->out, "  -> %.*s%s\n", (int)n, data,
                    strncmp(data, "MAIL", 4) == 0 || strncmp(data, "RCPT", 4) == 0 ? " ..." : "");
    } else if (type == CURLINFO_TEXT) {
        log_clean(line, sizeof(line), data, size);
        if (strstr(line, "SSL connection using") != NULL || strstr(line, "Connected to") != NULL)
            fprintf(t->out, "  .. %s\n", line);
    }
    return 0;
}

struct message {
    char text[1024];
    size_t len;
    size_t off;
};

/* on_read - feed the test message to libcurl */
static size_t on_read(char *buf, size_t size, size_t nmemb, void *arg)
{
    struct message *m = arg;
    size_t n = size * nmemb;

    if (n > m->len - m->off)
        n = m->len - m->off;
    memcpy(buf, m->text + m->off, n);
    m->off += n;
    return n;
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

/* classify - whether a failed transfer may pass by itself */
static smtptest_result classify(CURLcode rc, long reply)
{
    if (reply >= 400 && reply < 500)
        return SMTPTEST_TEMPORARY;
    if (reply >= 500)
        return SMTPTEST_PERMANENT;
    switch (rc) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_SSL_CONNECT_ERROR: /* the handshake failed or timed out */
    case CURLE_WEIRD_SERVER_REPLY:
        return SMTPTEST_TEMPORARY;
    default:
        return SMTPTEST_PERMANENT; /* untrusted certificate, no STARTTLS, login refused, ... */
    }
}

/* failure_reason - curl's own words for the failure, with the OS's reason when it has one */
static void failure_reason(CURL *h, CURLcode rc, const char *errbuf, char *out, size_t size)
{
    long oserr = 0;

    snprintf(out, size, "%s", errbuf[0] != '\0' ? errbuf : curl_easy_strerror(rc));
    if (curl_easy_getinfo(h, CURLINFO_OS_ERRNO, &oserr) == CURLE_OK && oserr != 0 &&
        strstr(out, strerror((int)oserr)) == NULL) {
        size_t used = strlen(out);

        snprintf(out + used, size - used, " (%s)", strerror((int)oserr));
    }
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
    struct trace t;
    struct message msg;
    struct curl_slist *rcpt = NULL;
    char url[600];
    char from[400];
    char date[64];
    char host[512];
    char errbuf[CURL_ERROR_SIZE];
    char reason[CURL_ERROR_SIZE + 64];
    unsigned port = 587;
    time_t now = (time_t)clock_wall_s();
    struct tm tm;
    smtptest_result result;
    long reply = 0;
    CURLcode rc;
    CURL *h;

    memset(&t, 0, sizeof(t));
    t.out = out;
    errbuf[0] = '\0';
    if (smtptest_target("--smtp", o->hostport, host, sizeof(host), &port, reason, sizeof(reason)) <
        0) {
        fprintf(out, "test: %s\n", reason);
        return SMTPTEST_BAD_INPUT;
    }
    snprintf(url, sizeof(url), "%s://%s:%u/%s", port == 465 ? "smtps" : "smtp", host, port,
             "oauth2-token-helper.test");
    h = curl_easy_init();
    if (h == NULL)
        return SMTPTEST_TEMPORARY;
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
    if (o->cafile != NULL)
        curl_easy_setopt(h, CURLOPT_CAINFO, o->cafile);
    curl_easy_setopt(h, CURLOPT_LOGIN_OPTIONS, "AUTH=XOAUTH2");
    curl_easy_setopt(h, CURLOPT_USERNAME, o->login);
    curl_easy_setopt(h, CURLOPT_XOAUTH2_BEARER, o->token);
    curl_easy_setopt(h, CURLOPT_SASL_IR, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 15L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_VERBOSE, 1L);
    curl_easy_setopt(h, CURLOPT_DEBUGFUNCTION, on_debug);
    curl_easy_setopt(h, CURLOPT_DEBUGDATA, &t);
    snprintf(from, sizeof(from), "<%s>", o->login);
    if (o->to != NULL) {
        char to[400];

        snprintf(to, sizeof(to), "<%s>", o->to);
        rcpt = curl_slist_append(NULL, to);
        gmtime_r(&now, &tm);
        strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
        msg.len = (size_t)snprintf(msg.text, sizeof(msg.text),
                                   "Date: %s\r\nFrom: %s\r\nTo: %s\r\n"
                                   "Subject: oauth2-token-helper test message\r\n"
                                   "Message-ID: <%ld.%ld@oauth2-token-helper>\r\n\r\n"
                                   "This message was sent by oauth2-token-helper test,\r\n"
                                   "authenticated with XOAUTH2.\r\n",
                                   date, o->login, o->to, (long)now, (long)getpid());
        if (msg.len >= sizeof(msg.text))
            msg.len = sizeof(msg.text) - 1;
        msg.off = 0;
        curl_easy_setopt(h, CURLOPT_MAIL_FROM, from);
        curl_easy_setopt(h, CURLOPT_MAIL_RCPT, rcpt);
        curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(h, CURLOPT_READDATA, &msg);
        curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
    } else {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "NOOP");
    }
    if (port_given(o->hostport))
        fprintf(out, "connecting to %s (%s)\n", o->hostport,
                port == 465 ? "implicit TLS" : "STARTTLS");
    else
        fprintf(out, "connecting to %s, port %u (%s)\n", o->hostport, port,
                port == 465 ? "implicit TLS" : "STARTTLS");
    rc = curl_easy_perform(h);
    if (rc != CURLE_OK) {
        failure_reason(h, rc, errbuf, reason, sizeof(reason));
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &reply);
    }
    curl_easy_cleanup(h);
    curl_slist_free_all(rcpt);
    if (rc == CURLE_OK) {
        fprintf(out, "result: %s as %s\n",
                o->to ? "test message accepted" : "logged in with XOAUTH2", o->login);
        return SMTPTEST_OK;
    }
    if (reply == 0 && t.last_reply[0] >= '1' && t.last_reply[0] <= '5')
        reply = strtol(t.last_reply, NULL, 10);
    result = classify(rc, reply);
    fprintf(out, "result: FAILED %s: %s\n",
            t.authenticated ? "after logging in" : "before or while logging in", reason);
    if (t.last_reply[0] != '\0') {
        const struct explain *e = explain_smtp(t.last_reply);

        fprintf(out, "last reply: %s\n", t.last_reply);
        if (strncmp(t.last_reply, "334 ", 4) == 0 && t.last_reply[4] != ' ') {
            char clean[200];

            if (smtptest_challenge(t.last_reply, clean, sizeof(clean)))
                fprintf(out, "the server's error challenge: %s\n", clean);
            e = explain_smtp("535");
        }
        if (e != NULL) {
            fprintf(out, "meaning: %s\nfix: %s\n", e->what, e->fix);
            /* A 4xx that no retry cures (430 4.2.0 STOREDRV) still needs a person. */
            if (!e->transient && result == SMTPTEST_TEMPORARY && reply >= 400)
                result = SMTPTEST_PERMANENT;
        }
    }
    fprintf(out, "%s\n",
            result == SMTPTEST_TEMPORARY
                ? "this looks temporary (the server or the network): try again later"
                : "this needs a person: fix the cause above, then run the test again");
    return result;
}

/* set_message - a short test message from "from" to "to", for on_read */
static void set_message(struct message *m, const char *from, const char *to, const char *how)
{
    time_t now = (time_t)clock_wall_s();
    char date[64];
    struct tm tm;
    int n;

    gmtime_r(&now, &tm);
    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
    n = snprintf(m->text, sizeof(m->text),
                 "Date: %s\r\nFrom: %s\r\nTo: %s\r\n"
                 "Subject: oauth2-token-helper test message\r\n"
                 "Message-ID: <%ld.%ld@oauth2-token-helper>\r\n\r\n"
                 "This message was sent by oauth2-token-helper test,\r\n"
                 "%s.\r\n",
                 date, from, to, (long)now, (long)getpid(), how);
    m->len = n < 0 ? 0 : (size_t)n;
    if (m->len >= sizeof(m->text))
        m->len = sizeof(m->text) - 1;
    m->off = 0;
}

/* smtptest_submit - submit one message as a device would */
smtptest_result smtptest_submit(const struct smtptest_device *d, FILE *out, char *queue_id,
                                size_t queue_id_size)
{
    struct trace t;
    struct message msg;
    struct curl_slist *rcpt = NULL;
    char url[600];
    char from[400];
    char to[400];
    char host[512];
    char errbuf[CURL_ERROR_SIZE];
    char reason[CURL_ERROR_SIZE + 64];
    unsigned port = 587;
    smtptest_result result;
    long reply = 0;
    CURLcode rc;
    CURL *h;

    if (queue_id_size > 0)
        queue_id[0] = '\0';
    memset(&t, 0, sizeof(t));
    t.out = out;
    errbuf[0] = '\0';
    if (smtptest_target("--relay", d->hostport, host, sizeof(host), &port, reason, sizeof(reason)) <
        0) {
        fprintf(out, "test: %s\n", reason);
        return SMTPTEST_BAD_INPUT;
    }
    snprintf(url, sizeof(url), "%s://%s:%u/%s", port == 465 ? "smtps" : "smtp", host, port,
             "oauth2-token-helper.test");
    h = curl_easy_init();
    if (h == NULL)
        return SMTPTEST_TEMPORARY;
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    /* A password only ever over TLS; without one, STARTTLS when offered (port 25 devices). */
    curl_easy_setopt(h, CURLOPT_USE_SSL,
                     d->login != NULL ? (long)CURLUSESSL_ALL : (long)CURLUSESSL_TRY);
    if (d->cafile != NULL) {
        curl_easy_setopt(h, CURLOPT_CAINFO, d->cafile);
    } else {
        /* As the devices do: a local relay's certificate is often self-signed. */
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (d->login != NULL) {
        curl_easy_setopt(h, CURLOPT_USERNAME, d->login);
        curl_easy_setopt(h, CURLOPT_PASSWORD, d->password != NULL ? d->password : "");
    }
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 15L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_VERBOSE, 1L);
    curl_easy_setopt(h, CURLOPT_DEBUGFUNCTION, on_debug);
    curl_easy_setopt(h, CURLOPT_DEBUGDATA, &t);
    snprintf(from, sizeof(from), "<%s>", d->from);
    snprintf(to, sizeof(to), "<%s>", d->to);
    rcpt = curl_slist_append(NULL, to);
    set_message(&msg, d->from, d->to, "submitted to the relay as a device would");
    curl_easy_setopt(h, CURLOPT_MAIL_FROM, from);
    curl_easy_setopt(h, CURLOPT_MAIL_RCPT, rcpt);
    curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(h, CURLOPT_READDATA, &msg);
    curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
    fprintf(out, "submitting to the relay %s as %s, %s, from %s to %s\n", d->hostport,
            d->login != NULL ? "a device that logs in" : "a device that does not log in",
            d->login != NULL ? "STARTTLS required" : "STARTTLS if offered", d->from, d->to);
    if (d->login != NULL)
        fprintf(out, "  login %s (password hidden)\n", d->login);
    if (d->cafile == NULL)
        fprintf(out, "  the relay's certificate is not verified (as devices do; --cafile FILE "
                     "verifies it)\n");
    rc = curl_easy_perform(h);
    if (rc != CURLE_OK) {
        failure_reason(h, rc, errbuf, reason, sizeof(reason));
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &reply);
    }
    curl_easy_cleanup(h);
    curl_slist_free_all(rcpt);
    if (rc == CURLE_OK) {
        snprintf(queue_id, queue_id_size, "%s", t.queue_id);
        fprintf(out, "result: the relay accepted the message%s%s\n",
                t.queue_id[0] != '\0' ? ", queue id " : " (no queue id in its reply)", t.queue_id);
        return SMTPTEST_OK;
    }
    if (reply == 0 && t.last_reply[0] >= '1' && t.last_reply[0] <= '5')
        reply = strtol(t.last_reply, NULL, 10);
    result = classify(rc, reply);
    fprintf(out, "result: FAILED: the relay did not take the message: %s\n", reason);
    if (t.last_reply[0] != '\0')
        fprintf(out, "last reply: %s\n", t.last_reply);
    if (strncmp(t.last_reply, "554 5.7.1", 9) == 0 || strncmp(t.last_reply, "535", 3) == 0)
        fprintf(out, "meaning: the relay refused this device: list its address in mynetworks "
                     "(device_networks), or log in with --login USER and a password from the "
                     "relay's Dovecot passwd-file\n");
    fprintf(out, "%s\n",
            result == SMTPTEST_TEMPORARY
                ? "this looks temporary (the relay or the network): try again later"
                : "this needs a person: fix the cause above, then run the test again");
    return result;
}
