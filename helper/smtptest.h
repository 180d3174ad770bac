/*
 * smtptest.h - "oauth2-token-helper test": log in to an SMTP server with
 *              XOAUTH2 the way the relay will, and say what each step did
 *
 * Connects (smtp:// with STARTTLS required, or smtps:// on port 465),
 * authenticates with XOAUTH2, and optionally sends a short test message;
 * or (smtptest_submit) submits a message to a local relay as a printer
 * would, with a relay-only login or none. The session is smtpclient.c's
 * (its trace shows server replies cut short and our commands by name,
 * never the token or password); this module words the outcome. The final
 * reply is explained (meaning and fix) from explain.c's table of the
 * replies Exchange Online and Gmail give for OAuth and setup problems.
 */
#ifndef OAUTH2_SMTPTEST_H
#define OAUTH2_SMTPTEST_H

#include <stdio.h>

#include "smtpclient.h"

struct smtptest_opts {
    const char *hostport; /* HOST[:PORT], port 587 by default */
    const char *to;       /* recipient of a test message, or NULL: log in only */
    const char *cafile;   /* CA bundle for the server, or NULL: the system's */
    const char *login;
    const char *token;
};

/* The longest queue id smtptest_submit gives back. */
#define SMTPTEST_MAX_QUEUE_ID SMTPCLIENT_MAX_QUEUE_ID

/*
 * A device's submission to a local relay (test --relay): STARTTLS when
 * offered (required with a login), an optional relay-only login (PLAIN or
 * LOGIN), one message from "from" to "to".
 */
struct smtptest_device {
    const char *hostport; /* HOST[:PORT] of the relay, port 587 by default */
    const char *from;     /* envelope and header sender, as the device sends it */
    const char *to;       /* the recipient */
    const char *cafile;   /* verify the relay's certificate against it, or NULL: do not verify */
    const char *login;    /* the device's relay-only user name, or NULL: no login */
    const char *password; /* its password (never shown), with login */
};

/* What became of the test, for the exit status. */
typedef enum {
    SMTPTEST_OK,        /* the server accepted */
    SMTPTEST_BAD_INPUT, /* hostport cannot be used: a usage error */
    SMTPTEST_TEMPORARY, /* may pass by itself: connect, DNS, timeouts, a 4xx reply */
    SMTPTEST_PERMANENT, /* needs a person: a 5xx reply, an untrusted certificate, no STARTTLS */
} smtptest_result;

/*
 * smtptest_target - host and port of "HOST[:PORT]" ("[v6]:PORT" too), port
 * 587 when none is given; -1 with err naming the problem, the option it
 * came with (opt: "--smtp", "--relay") and the fix
 */
int smtptest_target(const char *opt, const char *hostport, char *host, size_t hostsize,
                    unsigned *port, char *err, size_t errsize);

/* smtptest_run - run the test, reporting to out */
smtptest_result smtptest_run(const struct smtptest_opts *o, FILE *out);

/*
 * smtptest_submit - submit one message as a device would, reporting to out;
 * on acceptance the relay's queue id goes to queue_id (empty when the reply
 * names none)
 */
smtptest_result smtptest_submit(const struct smtptest_device *d, FILE *out, char *queue_id,
                                size_t queue_id_size);

/* smtptest_challenge - the text of a "334 <base64>" error challenge, cleaned; 0 when none */
int smtptest_challenge(const char *reply, char *out, size_t outsize);

#endif
