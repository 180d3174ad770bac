/*
 * smtpclient.h - one SMTP client session over libcurl, for "test" and "sendmail"
 *
 * SYNOPSIS
 *     #include "smtpclient.h"
 *
 *     smtpclient_send(&opts, &result);
 *     smtpclient_classify(rc, reply, step);
 *     smtpclient_queue_id(line, id, sizeof(id));
 *     smtpclient_trace_init(&t, out, prefix); smtpclient_trace_event(&t, type, data, size);
 *
 * DESCRIPTION
 *     The one place that talks SMTP: the URL (smtp:// with STARTTLS
 *     required or only if offered, smtps:// on port 465), the TLS and CA
 *     settings, the timeouts, the login (XOAUTH2/OAUTHBEARER with a bearer
 *     token, a user and password for PLAIN or LOGIN, or none; never an
 *     initial response, so the response goes after the server's 334 and
 *     no line limit can bite), one message from memory or only NOOP, and
 *     a trace of the dialogue that shows server lines and our commands by
 *     name only. The caller gets the server's last reply, the step it
 *     answered, the queue id of a "250 ... queued as ID" and one verdict:
 *     accepted, temporary, the setup needs a person, or this message was
 *     refused. smtptest.c and submit.c word the outcome for their command.
 *
 * SECURITY
 *     The token or password goes to libcurl only. The trace hides the AUTH
 *     line's arguments and every line we send until the server's final
 *     reply to AUTH (PLAIN's and LOGIN's base64 continuations included),
 *     whatever those lines look like. Server lines are cleaned and cut
 *     short before they are shown or kept.
 */
#ifndef OAUTH2_SMTPCLIENT_H
#define OAUTH2_SMTPCLIENT_H

#include <curl/curl.h>
#include <stddef.h>
#include <stdio.h>

/* The longest queue id taken from a "250 ... queued as ID" reply (Postfix's long ids: 16-20). */
#define SMTPCLIENT_MAX_QUEUE_ID 32

/* smtpclient_tls - whether the session must be encrypted */
typedef enum {
    SMTPCLIENT_TLS_REQUIRED,   /* STARTTLS or implicit TLS, else no session */
    SMTPCLIENT_TLS_IF_OFFERED, /* STARTTLS when the server offers it (a device on port 25) */
} smtpclient_tls;

/* smtpclient_auth - how we log in */
typedef enum {
    SMTPCLIENT_AUTH_NONE,     /* no AUTH */
    SMTPCLIENT_AUTH_BEARER,   /* mechanism (XOAUTH2, OAUTHBEARER) with login and a token */
    SMTPCLIENT_AUTH_PASSWORD, /* login and password; libcurl picks PLAIN or LOGIN as offered */
} smtpclient_auth;

/* smtpclient_opts - one session; every string may be freed after smtpclient_send */
struct smtpclient_opts {
    const char *host;         /* a name, or an IPv6 address in brackets */
    unsigned port;            /* 465: implicit TLS (smtps://); otherwise smtp:// and STARTTLS */
    smtpclient_tls tls;       /* STARTTLS required or only if offered (port 465: always TLS) */
    const char *ca_file;      /* CA bundle, NULL or "": the system's */
    int no_verify;            /* do not verify the certificate (a local relay's, as devices do) */
    smtpclient_auth auth;     /* what follows is used only for its kind */
    const char *mechanism;    /* AUTH_BEARER: "XOAUTH2" or "OAUTHBEARER" */
    const char *login;        /* AUTH_BEARER, AUTH_PASSWORD: the user name */
    const char *secret;       /* the token or the password: never shown, never kept */
    const char *sender;       /* MAIL FROM address without <> ("": the null sender); NULL: NOOP */
    const char *const *rcpts; /* with sender: the recipients, without <> */
    size_t n_rcpts;
    const char *data; /* with sender: the message, CRLF line ends (SIZE= is announced) */
    size_t len;
    long connect_timeout_s;   /* to connect, TLS included */
    long timeout_s;           /* the whole session, 0: no limit */
    long response_timeout_s;  /* each reply and a stalled transfer, 0: libcurl's default */
    FILE *trace;              /* the dialogue goes here, or NULL: not shown */
    const char *trace_prefix; /* each trace line starts with it */
};

/* smtpclient_status - how a session ended */
typedef enum {
    SMTPCLIENT_OK,        /* logged in (NOOP answered), or 2xx to the end of DATA */
    SMTPCLIENT_TEMPORARY, /* may pass by itself: 4xx, network, timeout, a dropped connection */
    SMTPCLIENT_SETUP,     /* a person must fix the login, TLS or relay: not about this message */
    SMTPCLIENT_REFUSED,   /* a 5xx to MAIL, RCPT, DATA or the end of DATA: this message */
} smtpclient_status;

/* smtpclient_trace - what the debug callback saw; only server lines and command names */
struct smtpclient_trace {
    FILE *out;                                  /* NULL: nothing shown */
    const char *prefix;                         /* before each line shown */
    char reply[512];                            /* the last reply line, or the first refusal */
    char step[32];                              /* what it answered: "greeting", "AUTH", ... */
    char queue_id[SMTPCLIENT_MAX_QUEUE_ID + 1]; /* from "250 ... queued as ID", or empty */
    int authenticated;                          /* a 235 came */
    int accepted;                               /* a 2xx to the end of DATA came */
    int refused;                                /* a 4xx or 5xx came: reply and step kept */
    int in_auth;    /* AUTH sent, no final reply yet: whatever we send is a credential */
    int auth_token; /* that AUTH sends a token (XOAUTH2, OAUTHBEARER), not a password */
};

/* smtpclient_result - what the session did, for the caller's wording */
struct smtpclient_result {
    smtpclient_status status;
    CURLcode code;                              /* libcurl's result */
    char reply[512];                            /* the server's last reply, cleaned, "" if none */
    char step[32];                              /* the step it answered, or failed at */
    char reason[CURL_ERROR_SIZE + 64];          /* libcurl's words, with the OS's reason */
    char queue_id[SMTPCLIENT_MAX_QUEUE_ID + 1]; /* the relay's queue id, or empty */
    int authenticated;                          /* the login succeeded */
    int untrusted;                              /* the certificate was not trusted */
};

/* smtpclient_send - run one session; the result says how it went */
smtpclient_status smtpclient_send(const struct smtpclient_opts *o, struct smtpclient_result *r);

/*
 * smtpclient_classify - the verdict on a failed session from libcurl's
 * code, the server's last reply ("" if none) and the step it answered
 */
smtpclient_status smtpclient_classify(CURLcode rc, const char *reply, const char *step);

/* smtpclient_queue_id - the id of a "250 ... queued as ID" line into id; 0 when none */
int smtpclient_queue_id(const char *line, char *id, size_t idsize);

/* smtpclient_trace_init - an empty trace showing the dialogue on out (NULL: not shown) */
void smtpclient_trace_init(struct smtpclient_trace *t, FILE *out, const char *prefix);

/* smtpclient_trace_event - one piece of libcurl's debug output (CURLOPT_DEBUGFUNCTION's) */
void smtpclient_trace_event(struct smtpclient_trace *t, curl_infotype type, const char *data,
                            size_t size);

#endif
