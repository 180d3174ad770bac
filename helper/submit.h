/*
 * submit.h - sendmail-compatible submission: arguments, the message, delivery over SMTP
 *
 * SYNOPSIS
 *     #include "submit.h"
 *
 *     submit_parse_args(argc, argv, &args, err, sizeof(err));
 *     submit_read(fd, SUBMIT_MAX_MESSAGE, &msg, err, sizeof(err));
 *     submit_header_rcpts(&msg, &rcpts, err, sizeof(err));
 *     submit_strip_bcc(&msg);
 *     submit_send(&opts, &msg, &rcpts, &outcome);
 *
 * DESCRIPTION
 *     The parts of "oauth2-token-helper sendmail" that need no daemon and
 *     no configuration, so that the unit tests can drive them: the
 *     sendmail(1) command line, reading the message (line ends made CRLF),
 *     the recipients of To, Cc and Bcc (-t), removing Bcc, the From and
 *     Date headers a message lacks, and one SMTP transaction through
 *     smtpclient.c (STARTTLS required, the certificate verified, AUTH
 *     XOAUTH2 with the response after the server's 334, SIZE announced)
 *     that reports the server's last reply and at which step.
 *
 * DIAGNOSTICS
 *     Functions return -1 (or a submit_status) with a one-line reason.
 *
 * SECURITY
 *     The token is handed to smtpclient.c only, whose trace keeps server
 *     lines and command names, never what follows AUTH or a 334. The
 *     message body is never logged. Recipients and senders are checked for
 *     control characters and angle brackets before they reach an SMTP
 *     command.
 */
#ifndef OAUTH2_SUBMIT_H
#define OAUTH2_SUBMIT_H

#include <stddef.h>

/*
 * The largest message accepted, after line ends are made CRLF: Exchange
 * Online's largest message (35 MB, counted after MIME encoding, which a
 * message on standard input already is). Larger ones exit EX_DATAERR.
 */
#define SUBMIT_MAX_MESSAGE (35UL * 1024 * 1024)
#define SUBMIT_MAX_RCPTS 1000  /* recipients in one transaction (Exchange: 500 by default) */
#define SUBMIT_MAX_ADDRESS 320 /* an address, as PROTOCOL_MAX_LOGIN */

/* submit_args - what the command line asked for; strings point into argv */
struct submit_args {
    const char *config;   /* -c FILE after the command, NULL if none */
    const char *account;  /* --account NAME, NULL if none */
    const char *sender;   /* -f / -r, NULL if none; "" is the null sender <> */
    const char *fullname; /* -F NAME, NULL if none */
    int extract;          /* -t: recipients from To, Cc and Bcc */
    int verbose;          /* -v: the SMTP dialogue (commands by name only) on stderr */
    char **rcpts;         /* the recipient arguments (argv) */
    int n_rcpts;
};

/*
 * submit_parse_args - the sendmail(1) options (see oauth2-token-helper(8)):
 * -1 with err on a usage error
 */
int submit_parse_args(int argc, char **argv, struct submit_args *a, char *err, size_t errsize);

/* submit_address_ok - an envelope address we may put in MAIL FROM or RCPT TO */
int submit_address_ok(const char *addr);

/* submit_msg - a message in memory, CRLF line ends; header_end: offset of the body */
struct submit_msg {
    char *data; /* malloc'd */
    size_t len;
    size_t header_end; /* just past the empty line ending the header, or 0 if none */
};

/*
 * submit_read - read the message from fd to its end, making every line end
 * CRLF and the message end with one. -1: read error; -2: over max bytes.
 */
int submit_read(int fd, size_t max, struct submit_msg *m, char *err, size_t errsize);

/* submit_msg_free - release a message; NULL data is fine */
void submit_msg_free(struct submit_msg *m);

/* submit_rcpts - a list of malloc'd addresses */
struct submit_rcpts {
    char **v;
    size_t n;
};

/* submit_rcpts_add - append a copy of addr (checked by submit_address_ok); -1 with err */
int submit_rcpts_add(struct submit_rcpts *r, const char *addr, char *err, size_t errsize);

/* submit_rcpts_free - release the list */
void submit_rcpts_free(struct submit_rcpts *r);

/*
 * submit_header_rcpts - the addresses of the message's To, Cc and Bcc
 * fields (RFC 5322 address lists: display names, groups, comments,
 * quoted strings), appended to r; -1 with err for an address that cannot be used
 */
int submit_header_rcpts(const struct submit_msg *m, struct submit_rcpts *r, char *err,
                        size_t errsize);

/* submit_header_addresses - the addresses of every field called name, appended to r */
int submit_header_addresses(const struct submit_msg *m, const char *name, struct submit_rcpts *r,
                            char *err, size_t errsize);

/* submit_address_list - the addresses of one field's value, appended to r; -1 with err */
int submit_address_list(const char *value, size_t len, struct submit_rcpts *r, char *err,
                        size_t errsize);

/* submit_strip_bcc - remove Bcc and Resent-Bcc fields (with their folded lines) */
void submit_strip_bcc(struct submit_msg *m);

/* submit_has_header - whether the header has a field called name */
int submit_has_header(const struct submit_msg *m, const char *name);

/*
 * submit_add_headers - add "From:" (fullname, sender) and "Date:" when the
 * message lacks them, as sendmail does; -1 on memory or an unusable name
 */
int submit_add_headers(struct submit_msg *m, const char *sender, const char *fullname,
                       long long now);

/* submit_status - how a transaction ended */
typedef enum {
    SUBMIT_OK,        /* the relay answered 2xx to the end of DATA */
    SUBMIT_TEMPORARY, /* 4xx, network, TLS, timeout, dropped: the message stays queued */
    SUBMIT_PERMANENT, /* a 5xx to MAIL, RCPT, DATA or the end of DATA */
} submit_status;

/* submit_opts - one transaction */
struct submit_opts {
    const char *host;    /* name or [IPv6] */
    unsigned port;       /* 465: implicit TLS; otherwise STARTTLS, required */
    const char *ca_file; /* NULL or "": the system's CAs */
    const char *login;
    const char *token;     /* the access token, for AUTH XOAUTH2 */
    const char *mechanism; /* "XOAUTH2" or "OAUTHBEARER" */
    const char *sender;    /* "" is the null sender */
    long timeout_s;        /* for each server reply and for a stalled transfer */
    int verbose;           /* the dialogue on stderr, commands by name only */
};

/* submit_outcome - what happened, for the message on stderr */
struct submit_outcome {
    submit_status status;
    char reply[512];  /* the server's last reply line, cleaned, "" if none */
    char step[32];    /* what it answered: "greeting", "EHLO", "AUTH", "MAIL FROM", ... */
    char reason[512]; /* libcurl's words, when the failure is not a reply */
    int untrusted;    /* the certificate was not verified */
};

/* submit_send - deliver m to rcpts; the outcome says how it went */
submit_status submit_send(const struct submit_opts *o, const struct submit_msg *m,
                          const struct submit_rcpts *rcpts, struct submit_outcome *out);

#endif
