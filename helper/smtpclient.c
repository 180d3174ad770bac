/*
 * smtpclient.c - one SMTP client session over libcurl (see smtpclient.h)
 *
 * Every session logs in without an initial response (CURLOPT_SASL_IR 0):
 * "AUTH XOAUTH2" alone, the response after the server's 334, so that a
 * 16,384-character token never meets a command-line limit (RFC 4954's
 * 12,288 bytes, Exchange's and Postfix's own), and the trace knows that
 * every line we send until the final reply to AUTH is a credential.
 */
#include "autoconfig.h"

#include "smtpclient.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "explain.h"
#include "log.h"

/* The commands we name in the trace and whose replies we keep as the step. */
static const char *const smtpclient_verbs[] = {"EHLO",    "HELO", "STARTTLS", "AUTH", "MAIL FROM",
                                               "RCPT TO", "DATA", "QUIT",     "RSET", "NOOP"};

#define N_VERBS (sizeof(smtpclient_verbs) / sizeof(smtpclient_verbs[0]))

/* The step after the server's 354: its reply is the verdict on the message. */
#define STEP_END_OF_DATA "end of data"

/* smtpclient_queue_id - the id of a "250 ... queued as ID" line */
int smtpclient_queue_id(const char *line, char *id, size_t idsize)
{
    const char *p = strstr(line, "queued as ");
    size_t n;

    if (idsize > 0)
        id[0] = '\0';
    if (strncmp(line, "250", 3) != 0 || p == NULL)
        return 0;
    p += strlen("queued as ");
    n = strspn(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789");
    if (n == 0 || n > SMTPCLIENT_MAX_QUEUE_ID || n >= idsize)
        return 0;
    memcpy(id, p, n);
    id[n] = '\0';
    return 1;
}

/* smtpclient_trace_init - an empty trace */
void smtpclient_trace_init(struct smtpclient_trace *t, FILE *out, const char *prefix)
{
    memset(t, 0, sizeof(*t));
    t->out = out;
    t->prefix = prefix != NULL ? prefix : "";
    snprintf(t->step, sizeof(t->step), "greeting");
}

/* message_step - whether a 5xx at this step is about this message, not the login or relay */
static int message_step(const char *step)
{
    return strcmp(step, "MAIL FROM") == 0 || strcmp(step, "RCPT TO") == 0 ||
           strcmp(step, "DATA") == 0 || strcmp(step, STEP_END_OF_DATA) == 0;
}

/* trace_reply - a server line: shown, and kept as the reply unless a refusal came first */
static void trace_reply(struct smtpclient_trace *t, const char *data, size_t size)
{
    char line[512];
    char id[SMTPCLIENT_MAX_QUEUE_ID + 1];

    log_clean(line, sizeof(line), data, size);
    if (t->out != NULL)
        fprintf(t->out, "%s<- %s\n", t->prefix, line);
    if (size < 3 || !isdigit((unsigned char)data[0]))
        return;
    if (strncmp(line, "235", 3) == 0)
        t->authenticated = 1;
    if (strncmp(line, "334", 3) != 0)
        t->in_auth = 0;
    /* After a refusal, or QUIT's 221, the reply that explains the session is kept. */
    if (t->refused || (strncmp(line, "221", 3) == 0 && t->reply[0] != '\0'))
        return;
    snprintf(t->reply, sizeof(t->reply), "%s", line);
    if (smtpclient_queue_id(line, id, sizeof(id)))
        snprintf(t->queue_id, sizeof(t->queue_id), "%s", id);
    if ((data[0] == '4' || data[0] == '5') && (size < 4 || data[3] != '-'))
        t->refused = 1;
    if (strcmp(t->step, STEP_END_OF_DATA) == 0 && data[0] == '2' && (size < 4 || data[3] != '-'))
        t->accepted = 1;
    if (strcmp(t->step, "DATA") == 0 && strncmp(line, "354", 3) == 0)
        snprintf(t->step, sizeof(t->step), STEP_END_OF_DATA);
}

/* verb_of - the index of the command data starts with, or N_VERBS */
static size_t verb_of(const char *data, size_t size)
{
    size_t i;

    for (i = 0; i < N_VERBS; i++) {
        size_t vl = strlen(smtpclient_verbs[i]);

        if (size >= vl && strncasecmp(data, smtpclient_verbs[i], vl) == 0 &&
            (size == vl || strchr(" :\r\n", data[vl]) != NULL))
            return i;
    }
    return N_VERBS;
}

/* trace_command - a line we send: its command's name, never its arguments or a credential */
static void trace_command(struct smtpclient_trace *t, const char *data, size_t size)
{
    size_t v;

    if (t->in_auth) {
        /* After AUTH every line is a credential: the token, PLAIN's or LOGIN's base64.
           A token's length tells where a line limit bit; a password's would tell too much. */
        if (t->out != NULL && t->auth_token)
            fprintf(t->out, "%s-> (SASL response hidden, %zu bytes)\n", t->prefix, size);
        else if (t->out != NULL)
            fprintf(t->out, "%s-> (SASL response hidden)\n", t->prefix);
        return;
    }
    v = verb_of(data, size);
    if (v == N_VERBS) {
        if (t->out != NULL)
            fprintf(t->out, "%s-> (a command, hidden)\n", t->prefix);
        return;
    }
    if (strcmp(smtpclient_verbs[v], "QUIT") != 0 && !t->refused)
        snprintf(t->step, sizeof(t->step), "%s", smtpclient_verbs[v]);
    if (strcmp(smtpclient_verbs[v], "AUTH") == 0) {
        const char *mech = data + 4;
        size_t n;

        t->in_auth = 1;
        while ((size_t)(mech - data) < size && *mech == ' ')
            mech++;
        n = strspn(mech, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_");
        if ((size_t)(mech - data) + n > size || n > 20)
            n = 0;
        t->auth_token = (n == 7 && strncmp(mech, "XOAUTH2", 7) == 0) ||
                        (n == 11 && strncmp(mech, "OAUTHBEARER", 11) == 0);
        if (t->out != NULL)
            fprintf(t->out, "%s-> AUTH %.*s (%s hidden)\n", t->prefix, (int)n, mech,
                    t->auth_token ? "token" : "credentials");
        return;
    }
    if (t->out != NULL)
        fprintf(t->out, "%s-> %s%s\n", t->prefix, smtpclient_verbs[v],
                strcmp(smtpclient_verbs[v], "MAIL FROM") == 0 ||
                        strcmp(smtpclient_verbs[v], "RCPT TO") == 0
                    ? " ..."
                    : "");
}

/* smtpclient_trace_event - one piece of libcurl's debug output */
void smtpclient_trace_event(struct smtpclient_trace *t, curl_infotype type, const char *data,
                            size_t size)
{
    char line[256];

    while (size > 0 && (data[size - 1] == '\n' || data[size - 1] == '\r'))
        size--;
    if (type == CURLINFO_HEADER_IN) {
        trace_reply(t, data, size);
    } else if (type == CURLINFO_HEADER_OUT) {
        trace_command(t, data, size);
    } else if (type == CURLINFO_TEXT && t->out != NULL) {
        log_clean(line, sizeof(line), data, size);
        if (strstr(line, "SSL connection using") != NULL || strstr(line, "Connected to") != NULL)
            fprintf(t->out, "%s.. %s\n", t->prefix, line);
    }
}

/* on_debug - libcurl's debug callback: the trace, nothing else */
static int on_debug(CURL *h, curl_infotype type, char *data, size_t size, void *arg)
{
    (void)h;
    smtpclient_trace_event(arg, type, data, size);
    return 0;
}

/* reader - the message for libcurl */
struct reader {
    const char *data;
    size_t len;
    size_t off;
};

/* on_read - feed the message to libcurl */
static size_t on_read(char *buf, size_t size, size_t nmemb, void *arg)
{
    struct reader *rd = arg;
    size_t n = size * nmemb;

    if (n > rd->len - rd->off)
        n = rd->len - rd->off;
    memcpy(buf, rd->data + rd->off, n);
    rd->off += n;
    return n;
}

/* smtpclient_classify - temporary, the setup's fault, or this message refused */
smtpclient_status smtpclient_classify(CURLcode rc, const char *reply, const char *step)
{
    int untrusted = rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT_BADFILE;

    if (rc == CURLE_OK)
        return SMTPCLIENT_OK;
    if (!untrusted && reply[0] == '4') {
        /* A 4xx that no retry cures (430 4.2.0 STOREDRV) needs a person. */
        const struct explain *e = explain_smtp(reply);

        return e != NULL && !e->transient ? SMTPCLIENT_SETUP : SMTPCLIENT_TEMPORARY;
    }
    if (!untrusted && reply[0] == '5')
        return message_step(step) ? SMTPCLIENT_REFUSED : SMTPCLIENT_SETUP;
    switch (rc) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_SSL_CONNECT_ERROR: /* the handshake failed or timed out */
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_OUT_OF_MEMORY: /* our own set-up failed: not the server's fault */
    case CURLE_FAILED_INIT:
        return SMTPCLIENT_TEMPORARY;
    default:
        return SMTPCLIENT_SETUP; /* untrusted certificate, no STARTTLS, login refused, ... */
    }
}

/* failure_reason - libcurl's own words for the failure, with the OS's reason when it has one */
static void failure_reason(CURL *h, CURLcode rc, const char *errbuf, char *out, size_t size)
{
    char words[CURL_ERROR_SIZE + 64];
    long oserr = 0;

    snprintf(words, sizeof(words), "%s", errbuf[0] != '\0' ? errbuf : curl_easy_strerror(rc));
    if (curl_easy_getinfo(h, CURLINFO_OS_ERRNO, &oserr) == CURLE_OK && oserr != 0 &&
        strstr(words, strerror((int)oserr)) == NULL) {
        size_t used = strlen(words);

        snprintf(words + used, sizeof(words) - used, " (%s)", strerror((int)oserr));
    }
    log_clean(out, size, words, strlen(words));
}

/* set_login - the AUTH settings: bearer, password or none, never an initial response */
static void set_login(CURL *h, const struct smtpclient_opts *o, char *opts, size_t optsize)
{
    if (o->auth == SMTPCLIENT_AUTH_BEARER) {
        snprintf(opts, optsize, "AUTH=%s", o->mechanism != NULL ? o->mechanism : "XOAUTH2");
        curl_easy_setopt(h, CURLOPT_LOGIN_OPTIONS, opts);
        curl_easy_setopt(h, CURLOPT_USERNAME, o->login);
        curl_easy_setopt(h, CURLOPT_XOAUTH2_BEARER, o->secret);
    } else if (o->auth == SMTPCLIENT_AUTH_PASSWORD) {
        curl_easy_setopt(h, CURLOPT_USERNAME, o->login);
        curl_easy_setopt(h, CURLOPT_PASSWORD, o->secret != NULL ? o->secret : "");
    }
    curl_easy_setopt(h, CURLOPT_SASL_IR, 0L);
}

/* set_tls - STARTTLS required or if offered, and how the certificate is checked */
static void set_tls(CURL *h, const struct smtpclient_opts *o)
{
    curl_easy_setopt(h, CURLOPT_USE_SSL,
                     o->tls == SMTPCLIENT_TLS_IF_OFFERED ? (long)CURLUSESSL_TRY
                                                         : (long)CURLUSESSL_ALL);
    if (o->no_verify) {
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    } else {
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    }
    if (o->ca_file != NULL && o->ca_file[0] != '\0')
        curl_easy_setopt(h, CURLOPT_CAINFO, o->ca_file);
}

/* set_timeouts - connecting, the whole session, each reply and a stalled transfer */
static void set_timeouts(CURL *h, const struct smtpclient_opts *o)
{
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, o->connect_timeout_s);
    if (o->timeout_s > 0)
        curl_easy_setopt(h, CURLOPT_TIMEOUT, o->timeout_s);
    if (o->response_timeout_s > 0) {
        curl_easy_setopt(h, CURLOPT_SERVER_RESPONSE_TIMEOUT, o->response_timeout_s);
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, o->response_timeout_s);
    }
}

/* rcpt_list - "<addr>" for each recipient; NULL on memory */
static struct curl_slist *rcpt_list(const struct smtpclient_opts *o)
{
    struct curl_slist *list = NULL;
    size_t i;

    for (i = 0; i < o->n_rcpts; i++) {
        char to[400];
        struct curl_slist *l;

        snprintf(to, sizeof(to), "<%s>", o->rcpts[i]);
        l = curl_slist_append(list, to);
        if (l == NULL) {
            curl_slist_free_all(list);
            return NULL;
        }
        list = l;
    }
    return list;
}

/* smtpclient_send - one session: STARTTLS, AUTH, then NOOP or MAIL, RCPT..., DATA */
smtpclient_status smtpclient_send(const struct smtpclient_opts *o, struct smtpclient_result *r)
{
    struct smtpclient_trace t;
    struct reader rd = {o->data, o->len, 0};
    struct curl_slist *list = NULL;
    char url[600];
    char from[400];
    char opts[32];
    char errbuf[CURL_ERROR_SIZE];
    CURL *h = NULL;

    memset(r, 0, sizeof(*r));
    smtpclient_trace_init(&t, o->trace, o->trace_prefix);
    errbuf[0] = '\0';
    r->code = CURLE_FAILED_INIT;
    if (o->sender != NULL) {
        list = rcpt_list(o);
        if (list == NULL && o->n_rcpts > 0) {
            r->code = CURLE_OUT_OF_MEMORY;
            snprintf(r->reason, sizeof(r->reason), "out of memory");
            goto out;
        }
    }
    h = curl_easy_init();
    if (h == NULL) {
        snprintf(r->reason, sizeof(r->reason), "libcurl could not start");
        goto out;
    }
    snprintf(url, sizeof(url), "%s://%s:%u", o->port == 465 ? "smtps" : "smtp", o->host, o->port);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    set_tls(h, o);
    set_login(h, o, opts, sizeof(opts));
    set_timeouts(h, o);
    if (o->sender != NULL) {
        snprintf(from, sizeof(from), "<%s>", o->sender);
        curl_easy_setopt(h, CURLOPT_MAIL_FROM, from);
        curl_easy_setopt(h, CURLOPT_MAIL_RCPT, list);
        curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)o->len);
        curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(h, CURLOPT_READDATA, &rd);
    } else {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "NOOP");
    }
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_VERBOSE, 1L);
    curl_easy_setopt(h, CURLOPT_DEBUGFUNCTION, on_debug);
    curl_easy_setopt(h, CURLOPT_DEBUGDATA, &t);
    r->code = curl_easy_perform(h);
    if (r->code != CURLE_OK)
        failure_reason(h, r->code, errbuf, r->reason, sizeof(r->reason));
out:
    curl_easy_cleanup(h);
    curl_slist_free_all(list);
    snprintf(r->reply, sizeof(r->reply), "%s", t.reply);
    snprintf(r->step, sizeof(r->step), "%s", t.step);
    snprintf(r->queue_id, sizeof(r->queue_id), "%s", t.queue_id);
    r->authenticated = t.authenticated;
    r->untrusted = r->code == CURLE_PEER_FAILED_VERIFICATION || r->code == CURLE_SSL_CACERT_BADFILE;
    /* The relay took responsibility at the end of DATA: what came after (QUIT) does not matter. */
    if (t.accepted)
        r->status = SMTPCLIENT_OK;
    else
        r->status = smtpclient_classify(r->code, r->reply, r->step);
    return r->status;
}
