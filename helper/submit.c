/*
 * submit.c - sendmail-compatible submission (see submit.h)
 *
 * The message is read whole into memory (at most SUBMIT_MAX_MESSAGE):
 * -t needs its header before the first SMTP command, the size goes into
 * MAIL FROM (SIZE=), and an over-long message is refused before anything
 * is sent. Line ends become CRLF here, so that libcurl's dot-stuffing
 * (it escapes "\r\n." only) and the end-of-data marker are right whatever
 * the caller wrote.
 */
#include "autoconfig.h"

#include "submit.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "smtpclient.h"

#define READ_CHUNK 65536

/* Flags that take no value and are accepted in a cluster ("-ti"). */
#define FLAG_LETTERS "tivmnGU"

/* option_value - "-fVALUE" or "-f VALUE"; NULL when the value is missing */
static const char *option_value(int argc, char **argv, int *i)
{
    if (argv[*i][2] != '\0')
        return argv[*i] + 2;
    if (*i + 1 >= argc)
        return NULL;
    (*i)++;
    return argv[*i];
}

/* parse_sender - -f/-r/--sender-env (opt): strip <>; "" and "<>" are the null sender */
static int parse_sender(const char *opt, const char *v, struct submit_args *a, char *err,
                        size_t errsize)
{
    static char buf[SUBMIT_MAX_ADDRESS + 1];
    size_t len = strlen(v);

    if (len >= 2 && v[0] == '<' && v[len - 1] == '>') {
        v++;
        len -= 2;
    }
    if (len > SUBMIT_MAX_ADDRESS) {
        snprintf(err, errsize, "%s: the sender address is longer than %d bytes", opt,
                 SUBMIT_MAX_ADDRESS);
        return -1;
    }
    memcpy(buf, v, len);
    buf[len] = '\0';
    if (len > 0 && !submit_address_ok(buf)) {
        snprintf(err, errsize,
                 "%s: \"%.64s\" is not an address (no spaces, control characters, <, >, "
                 "commas or parentheses)",
                 opt, buf);
        return -1;
    }
    a->sender = buf;
    return 0;
}

/* submit_parse_args - the sendmail(1) options we act on, and those we accept and ignore */
int submit_parse_args(int argc, char **argv, struct submit_args *a, char *err, size_t errsize)
{
    const char *v;
    int i;

    memset(a, 0, sizeof(*a));
    for (i = 0; i < argc; i++) {
        const char *s = argv[i];

        if (strcmp(s, "--") == 0) {
            i++;
            break;
        }
        if (s[0] != '-' || s[1] == '\0')
            break;
        if (strcmp(s, "--account") == 0 || strncmp(s, "--account=", 10) == 0) {
            if (s[9] == '=')
                v = s + 10;
            else
                v = i + 1 < argc ? argv[++i] : NULL;
            if (v == NULL || v[0] == '\0') {
                snprintf(err, errsize, "--account needs an account name");
                return -1;
            }
            a->account = v;
            continue;
        }
        if (strcmp(s, "--sender-env") == 0 || strncmp(s, "--sender-env=", 13) == 0) {
            if (s[12] == '=')
                v = s + 13;
            else
                v = i + 1 < argc ? argv[++i] : NULL;
            if (v == NULL || v[0] == '\0') {
                snprintf(err, errsize,
                         "--sender-env needs the name of an environment variable (SENDER "
                         "in Exim's pipe transport)");
                return -1;
            }
            if (getenv(v) == NULL) {
                snprintf(err, errsize,
                         "--sender-env %.64s: the environment has no %.64s (Exim's pipe "
                         "transport sets SENDER); fix: give the sender with -f",
                         v, v);
                return -1;
            }
            if (parse_sender("--sender-env", getenv(v), a, err, errsize) < 0)
                return -1;
            continue;
        }
        if (s[1] == '-') {
            snprintf(err, errsize, "unknown option %.64s", s);
            return -1;
        }
        if (strspn(s + 1, FLAG_LETTERS) == strlen(s + 1)) {
            if (strchr(s + 1, 't') != NULL)
                a->extract = 1;
            if (strchr(s + 1, 'v') != NULL)
                a->verbose = 1;
            /* -i: a lone "." never ends the message (we read to the end anyway);
               -m, -n, -G, -U: meaningless without local delivery or aliases. */
            continue;
        }
        switch (s[1]) {
        case 'c':
        case 'f':
        case 'r':
        case 'F':
            v = option_value(argc, argv, &i);
            if (v == NULL) {
                snprintf(err, errsize, "-%c needs a value", s[1]);
                return -1;
            }
            if (s[1] == 'c')
                a->config = v;
            else if (s[1] == 'F')
                a->fullname = v;
            else if (parse_sender(s[1] == 'f' ? "-f" : "-r", v, a, err, errsize) < 0)
                return -1;
            break;
        case 'o':
            /* -oi, -oem, -oee, -odi, -odb, -oQDIR, ...: sendmail's options; we
               deliver at once and report by exit status, so none applies. */
            if (s[2] == '\0') {
                snprintf(err, errsize, "-o needs an option letter, such as -oi");
                return -1;
            }
            break;
        case 'e':
        case 'A':
            break; /* -em, -oem's short form; -Ac/-Am */
        case 'B':
        case 'N':
        case 'R':
        case 'V':
        case 'L':
        case 'h':
        case 'O':
        case 'X':
            /* body type, DSN notify/return/envid, log tag, hop count, option, traffic log */
            if (option_value(argc, argv, &i) == NULL) {
                snprintf(err, errsize, "-%c needs a value", s[1]);
                return -1;
            }
            break;
        case 'b':
            if (strcmp(s, "-bm") == 0)
                break;
            snprintf(err, errsize,
                     "%.16s is not supported: this sendmail only submits a message (-bm, the "
                     "default)",
                     s);
            return -1;
        case 'C':
            snprintf(err, errsize,
                     "-C is sendmail's configuration; give oauth2-token-helper's with -c FILE");
            return -1;
        default:
            snprintf(err, errsize, "unknown option %.64s", s);
            return -1;
        }
    }
    a->rcpts = argv + i;
    a->n_rcpts = argc - i;
    return 0;
}

/* submit_address_ok - an envelope address we may put in MAIL FROM or RCPT TO */
int submit_address_ok(const char *addr)
{
    size_t len = strlen(addr);
    size_t i;

    if (len == 0 || len > SUBMIT_MAX_ADDRESS)
        return 0;
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)addr[i];

        if (c <= ' ' || c == 0x7f || strchr("<>,()", c) != NULL)
            return 0;
    }
    return 1;
}

/* msg_reserve - room for n more bytes in a buffer growing by doubling; -1 on memory */
static int msg_reserve(char **buf, size_t *cap, size_t len, size_t n)
{
    size_t want = len + n;
    char *p;

    if (want <= *cap)
        return 0;
    if (*cap == 0)
        *cap = READ_CHUNK;
    while (*cap < want)
        *cap *= 2;
    p = realloc(*buf, *cap);
    if (p == NULL)
        return -1;
    *buf = p;
    return 0;
}

/* field_line - whether the line at p (len bytes, no CRLF) starts a header field "name:" */
static int field_line(const char *p, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)p[i];

        if (c == ':')
            return i > 0;
        if (c <= ' ' || c > '~')
            return 0;
    }
    return 0;
}

/*
 * find_header_end - where the header ends: just past its empty line, or,
 * when a line that is no header field comes first, at that line, where a
 * CRLF must go (*insert set)
 */
static size_t find_header_end(const char *d, size_t len, int *insert)
{
    size_t pos = 0;

    *insert = 0;
    while (pos < len) {
        const char *eol = memchr(d + pos, '\n', len - pos);
        size_t end = eol != NULL ? (size_t)(eol - d) + 1 : len;
        size_t linelen = end - pos;

        if (linelen >= 2 && d[end - 2] == '\r')
            linelen -= 2;
        else if (eol != NULL)
            linelen -= 1;
        if (linelen == 0)
            return end;
        if (!(pos > 0 && (d[pos] == ' ' || d[pos] == '\t')) && !field_line(d + pos, linelen)) {
            *insert = 1;
            return pos;
        }
        pos = end;
    }
    *insert = 1; /* a header and no body: the empty line is missing */
    return len;
}

/* submit_read - the whole message, CRLF line ends, with a header and an empty line after it */
int submit_read(int fd, size_t max, struct submit_msg *m, char *err, size_t errsize)
{
    char chunk[READ_CHUNK];
    char *buf = NULL;
    size_t cap = 0;
    size_t len = 0;
    int over = 0;
    int insert;
    size_t he;

    memset(m, 0, sizeof(*m));
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof(chunk));
        ssize_t i;

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            snprintf(err, errsize, "reading the message from standard input: %s", strerror(errno));
            free(buf);
            return -1;
        }
        if (n == 0)
            break;
        if (over)
            continue;                /* drain it, so that the caller's write does not fail first */
        if (len + (size_t)n > max) { /* CRs only add to it */
            over = 1;
            continue;
        }
        if (msg_reserve(&buf, &cap, len, 2 * (size_t)n + 4) < 0) {
            snprintf(err, errsize, "out of memory reading the message");
            free(buf);
            return -1;
        }
        for (i = 0; i < n; i++) {
            if (chunk[i] == '\n' && (len == 0 || buf[len - 1] != '\r'))
                buf[len++] = '\r';
            buf[len++] = chunk[i];
        }
        if (len > max)
            over = 1;
    }
    if (over) {
        free(buf);
        snprintf(err, errsize,
                 "the message is larger than %lu bytes (%lu MB, Exchange Online's "
                 "limit); send the file another way",
                 (unsigned long)max, (unsigned long)(max / (1024 * 1024)));
        return -2;
    }
    if (msg_reserve(&buf, &cap, len, 4) < 0) {
        snprintf(err, errsize, "out of memory reading the message");
        free(buf);
        return -1;
    }
    if (len > 0 && (len < 2 || buf[len - 2] != '\r' || buf[len - 1] != '\n')) {
        if (buf[len - 1] == '\r')
            len--;
        buf[len++] = '\r';
        buf[len++] = '\n';
    }
    if (len >= 5 && memcmp(buf, "From ", 5) == 0) {
        /* An mbox "From sender date" line (Exim's pipe default message_prefix): not
           part of the message, as sendmail and Postfix treat it. */
        char *eol = memchr(buf, '\n', len);
        size_t cut = eol != NULL ? (size_t)(eol - buf) + 1 : len;

        memmove(buf, buf + cut, len - cut);
        len -= cut;
    }
    he = find_header_end(buf, len, &insert);
    if (insert) {
        memmove(buf + he + 2, buf + he, len - he);
        buf[he] = '\r';
        buf[he + 1] = '\n';
        len += 2;
        he += 2;
    }
    m->data = buf;
    m->len = len;
    m->header_end = he;
    return 0;
}

/* submit_msg_free - release a message */
void submit_msg_free(struct submit_msg *m)
{
    free(m->data);
    memset(m, 0, sizeof(*m));
}

/* submit_rcpts_add - append a copy of addr unless it is there already; -1 with err */
int submit_rcpts_add(struct submit_rcpts *r, const char *addr, char *err, size_t errsize)
{
    char **v;
    size_t i;

    if (!submit_address_ok(addr)) {
        snprintf(err, errsize,
                 "recipient \"%.64s\" is not an address (no spaces, control characters, <, >, "
                 "commas or parentheses)",
                 addr);
        return -1;
    }
    for (i = 0; i < r->n; i++)
        if (strcasecmp(r->v[i], addr) == 0)
            return 0;
    if (r->n >= SUBMIT_MAX_RCPTS) {
        snprintf(err, errsize, "more than %d recipients; send the message in parts",
                 SUBMIT_MAX_RCPTS);
        return -1;
    }
    v = realloc(r->v, (r->n + 1) * sizeof(*v));
    if (v == NULL)
        goto oom;
    r->v = v;
    r->v[r->n] = strdup(addr);
    if (r->v[r->n] == NULL)
        goto oom;
    r->n++;
    return 0;
oom:
    snprintf(err, errsize, "out of memory");
    return -1;
}

/* submit_rcpts_free - release the list */
void submit_rcpts_free(struct submit_rcpts *r)
{
    size_t i;

    for (i = 0; i < r->n; i++)
        free(r->v[i]);
    free(r->v);
    r->v = NULL;
    r->n = 0;
}

/* emit_address - one element of an address list: the part in <>, else the bare text */
static int emit_address(char *addr, size_t len, struct submit_rcpts *r, char *err, size_t errsize)
{
    char *p = addr;
    char *colon;

    while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
        len--;
    while (len > 0 && (*p == ' ' || *p == '\t')) {
        p++;
        len--;
    }
    p[len] = '\0';
    if (len == 0)
        return 0; /* empty element, "<>", or a group with nobody in it */
    /* An obsolete source route <@a,@b:user@c>: the address is after the colon. */
    colon = strrchr(p, ':');
    if (p[0] == '@' && colon != NULL)
        p = colon + 1;
    return submit_rcpts_add(r, p, err, errsize);
}

/* addr_buf - the element of an address list being read */
struct addr_buf {
    char text[SUBMIT_MAX_ADDRESS + 2];
    size_t n;
    int overflow; /* more than fits: the element is refused, never cut short */
};

/* addr_keep - append c; remember an overflow */
static void addr_keep(struct addr_buf *b, char c)
{
    if (b->n + 1 < sizeof(b->text))
        b->text[b->n++] = c;
    else
        b->overflow = 1;
}

/* addr_reset - start over (after a display name or a group's name) */
static void addr_reset(struct addr_buf *b)
{
    b->n = 0;
    b->overflow = 0;
}

/* submit_address_list - RFC 5322 address-list: display names, groups, comments, quotes */
int submit_address_list(const char *value, size_t len, struct submit_rcpts *r, char *err,
                        size_t errsize)
{
    struct addr_buf b;
    int quoted = 0;
    int comment = 0;
    int angle = 0;
    int had_angle = 0;
    size_t i;

    addr_reset(&b);
    for (i = 0; i <= len; i++) {
        char c = i < len ? value[i] : ',';
        /* Inside <>, or with no <> in this element so far: part of the address. */
        int keep = !had_angle || angle;

        if (comment > 0) {
            if (c == '\\' && i + 1 < len)
                i++;
            else if (c == '(')
                comment++;
            else if (c == ')')
                comment--;
            if (i < len)
                continue;
            c = ','; /* an unclosed comment ends the list */
        }
        if (quoted && i < len) {
            if (c == '\\' && i + 1 < len) {
                if (keep) {
                    addr_keep(&b, c);
                    addr_keep(&b, value[i + 1]);
                }
                i++;
            } else {
                if (c == '"')
                    quoted = 0;
                if (keep)
                    addr_keep(&b, c);
            }
            continue;
        }
        quoted = 0; /* an unclosed quote ends the element at the end of the list */
        if (c == '(') {
            comment = 1;
        } else if (c == '"') {
            quoted = 1;
            if (keep)
                addr_keep(&b, c);
        } else if (c == '<' && !angle) {
            angle = 1;
            had_angle = 1;
            addr_reset(&b); /* what came before was the display name */
        } else if (c == '>' && angle) {
            angle = 0;
        } else if (c == ':' && !angle) {
            addr_reset(&b); /* "group name:" */
            had_angle = 0;
        } else if ((c == ',' || c == ';') && !angle) {
            if (b.overflow) {
                snprintf(err, errsize, "an address in the header is longer than %d bytes",
                         SUBMIT_MAX_ADDRESS);
                return -1;
            }
            if (emit_address(b.text, b.n, r, err, errsize) < 0)
                return -1;
            addr_reset(&b);
            had_angle = 0;
        } else if (keep) {
            addr_keep(&b, c);
        }
    }
    return 0;
}

/* field_is - whether the field at p (a header line) is called name */
static int field_is(const char *p, size_t len, const char *name)
{
    size_t nl = strlen(name);

    return len > nl && strncasecmp(p, name, nl) == 0 && p[nl] == ':';
}

/* field_end - where the field starting at pos ends (past its folded lines) */
static size_t field_end(const struct submit_msg *m, size_t pos)
{
    size_t limit = m->header_end >= 2 ? m->header_end - 2 : 0;

    while (pos < limit) {
        const char *eol = memchr(m->data + pos, '\n', limit - pos);

        pos = eol != NULL ? (size_t)(eol - m->data) + 1 : limit;
        if (pos >= limit || (m->data[pos] != ' ' && m->data[pos] != '\t'))
            break;
    }
    return pos;
}

/* submit_has_header - whether the header has a field called name */
int submit_has_header(const struct submit_msg *m, const char *name)
{
    size_t limit = m->header_end >= 2 ? m->header_end - 2 : 0;
    size_t pos = 0;

    while (pos < limit) {
        size_t end = field_end(m, pos);

        if (field_is(m->data + pos, end - pos, name))
            return 1;
        pos = end;
    }
    return 0;
}

/* submit_header_addresses - the addresses of every field called name */
int submit_header_addresses(const struct submit_msg *m, const char *name, struct submit_rcpts *r,
                            char *err, size_t errsize)
{
    size_t limit = m->header_end >= 2 ? m->header_end - 2 : 0;
    size_t skip = strlen(name) + 1;
    size_t pos = 0;

    while (pos < limit) {
        size_t end = field_end(m, pos);
        char *value;
        size_t vl = 0;
        size_t j;
        int rc;

        if (!field_is(m->data + pos, end - pos, name)) {
            pos = end;
            continue;
        }
        value = malloc(end - pos);
        if (value == NULL) {
            snprintf(err, errsize, "out of memory");
            return -1;
        }
        for (j = pos + skip; j < end; j++) /* unfold */
            if (m->data[j] != '\r' && m->data[j] != '\n')
                value[vl++] = m->data[j];
        rc = submit_address_list(value, vl, r, err, errsize);
        free(value);
        if (rc < 0) {
            size_t used = strlen(err);

            snprintf(err + used, errsize - used, " (in %s:)", name);
            return -1;
        }
        pos = end;
    }
    return 0;
}

/* submit_header_rcpts - the addresses of To, Cc and Bcc */
int submit_header_rcpts(const struct submit_msg *m, struct submit_rcpts *r, char *err,
                        size_t errsize)
{
    if (submit_header_addresses(m, "To", r, err, errsize) < 0 ||
        submit_header_addresses(m, "Cc", r, err, errsize) < 0 ||
        submit_header_addresses(m, "Bcc", r, err, errsize) < 0)
        return -1;
    return 0;
}

/* submit_strip_bcc - remove Bcc and Resent-Bcc fields */
void submit_strip_bcc(struct submit_msg *m)
{
    size_t pos = 0;

    while (m->header_end >= 2 && pos < m->header_end - 2) {
        size_t end = field_end(m, pos);

        if (field_is(m->data + pos, end - pos, "Bcc") ||
            field_is(m->data + pos, end - pos, "Resent-Bcc")) {
            memmove(m->data + pos, m->data + end, m->len - end);
            m->len -= end - pos;
            m->header_end -= end - pos;
            continue;
        }
        pos = end;
    }
}

/* submit_add_headers - From and Date when missing, as sendmail adds them */
int submit_add_headers(struct submit_msg *m, const char *sender, const char *fullname,
                       long long now)
{
    char add[SUBMIT_MAX_ADDRESS + 400];
    size_t n = 0;
    char *p;

    add[0] = '\0';
    if (!submit_has_header(m, "From") && sender != NULL && sender[0] != '\0') {
        if (fullname != NULL && fullname[0] != '\0') {
            char q[200];
            size_t k = 0;
            size_t i;

            for (i = 0; fullname[i] != '\0' && k + 3 < sizeof(q); i++) {
                unsigned char c = (unsigned char)fullname[i];

                if (c < ' ' || c == 0x7f)
                    return -1;
                if (c == '"' || c == '\\')
                    q[k++] = '\\';
                q[k++] = (char)c;
            }
            q[k] = '\0';
            n += (size_t)snprintf(add + n, sizeof(add) - n, "From: \"%s\" <%s>\r\n", q, sender);
        } else {
            n += (size_t)snprintf(add + n, sizeof(add) - n, "From: %s\r\n", sender);
        }
    }
    if (!submit_has_header(m, "Date") && n < sizeof(add)) {
        time_t t = (time_t)now;
        struct tm tm;

        localtime_r(&t, &tm);
        n += strftime(add + n, sizeof(add) - n, "Date: %a, %d %b %Y %H:%M:%S %z\r\n", &tm);
    }
    if (n == 0)
        return 0;
    if (n >= sizeof(add))
        return -1;
    p = realloc(m->data, m->len + n);
    if (p == NULL)
        return -1;
    memmove(p + n, p, m->len);
    memcpy(p, add, n);
    m->data = p;
    m->len += n;
    m->header_end += n;
    return 0;
}

/* submit_send - one SMTP transaction through smtpclient.c: STARTTLS, AUTH, MAIL, RCPT..., DATA */
submit_status submit_send(const struct submit_opts *o, const struct submit_msg *m,
                          const struct submit_rcpts *rcpts, struct submit_outcome *out)
{
    struct smtpclient_opts so;
    struct smtpclient_result r;

    memset(out, 0, sizeof(*out));
    memset(&so, 0, sizeof(so));
    so.host = o->host;
    so.port = o->port;
    so.tls = SMTPCLIENT_TLS_REQUIRED;
    so.ca_file = o->ca_file;
    so.auth = SMTPCLIENT_AUTH_BEARER;
    so.mechanism = o->mechanism;
    so.login = o->login;
    so.secret = o->token;
    so.sender = o->sender;
    so.rcpts = (const char *const *)rcpts->v;
    so.n_rcpts = rcpts->n;
    so.data = m->data;
    so.len = m->len;
    so.connect_timeout_s = 30;
    so.response_timeout_s = o->timeout_s;
    so.trace = o->verbose ? stderr : NULL;
    so.trace_prefix = "oauth2-token-helper: sendmail: ";
    smtpclient_send(&so, &r);
    /* A refusal of the login or relay is not this message's: it stays queued for a person. */
    out->status = r.status == SMTPCLIENT_OK        ? SUBMIT_OK
                  : r.status == SMTPCLIENT_REFUSED ? SUBMIT_PERMANENT
                                                   : SUBMIT_TEMPORARY;
    snprintf(out->reply, sizeof(out->reply), "%s", r.reply);
    snprintf(out->step, sizeof(out->step), "%s", r.step);
    snprintf(out->reason, sizeof(out->reason), "%s", r.reason);
    out->untrusted = r.untrusted;
    return out->status;
}
