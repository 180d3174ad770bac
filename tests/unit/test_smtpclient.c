/*
 * test_smtpclient.c - the SMTP session's pure parts: the verdict from
 * (libcurl's code, the last reply, the step), the queue id of a 250, and
 * the trace, fed libcurl's debug output by hand: no token or password, nor
 * its base64, survives in what it shows (XOAUTH2, PLAIN, LOGIN)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "b64.h"
#include "smtpclient.h"
#include "tap.h"

/* A token of the longest size we serve, and a device's password. */
#define TOKEN_LEN 16384
static const char password[] = "Pr1nter-Passw0rd!";
static const char user[] = "scanner@contoso.test";

/* in - a server line, as libcurl reports it */
static void in(struct smtpclient_trace *t, const char *line)
{
    smtpclient_trace_event(t, CURLINFO_HEADER_IN, line, strlen(line));
}

/* out - a line we send, as libcurl reports it */
static void out(struct smtpclient_trace *t, const char *line)
{
    smtpclient_trace_event(t, CURLINFO_HEADER_OUT, line, strlen(line));
}

/* line_of - "PREFIX" + b64 + "\r\n", malloc'd */
static char *line_of(const char *prefix, const char *b64)
{
    size_t n = strlen(prefix) + strlen(b64) + 3;
    char *s = malloc(n);

    if (s != NULL)
        snprintf(s, n, "%s%s\r\n", prefix, b64);
    return s;
}

/* test_classify - the verdict on a failed session */
static void test_classify(void)
{
    ok(smtpclient_classify(CURLE_OK, "250 2.0.0 OK", "end of data") == SMTPCLIENT_OK,
       "libcurl's OK: accepted");
    ok(smtpclient_classify(CURLE_COULDNT_CONNECT, "", "greeting") == SMTPCLIENT_TEMPORARY &&
           smtpclient_classify(CURLE_OPERATION_TIMEDOUT, "", "DATA") == SMTPCLIENT_TEMPORARY &&
           smtpclient_classify(CURLE_COULDNT_RESOLVE_HOST, "", "greeting") ==
               SMTPCLIENT_TEMPORARY &&
           smtpclient_classify(CURLE_RECV_ERROR, "354 go ahead", "end of data") ==
               SMTPCLIENT_TEMPORARY,
       "no connection, a timeout, a dropped connection: temporary");
    ok(smtpclient_classify(CURLE_RECV_ERROR, "421 4.3.2 Service not available", "greeting") ==
               SMTPCLIENT_TEMPORARY &&
           smtpclient_classify(CURLE_SEND_ERROR, "451 4.3.0 try again", "end of data") ==
               SMTPCLIENT_TEMPORARY,
       "a 4xx: temporary");
    ok(smtpclient_classify(CURLE_RECV_ERROR, "430 4.2.0 STOREDRV; mailbox logon failure",
                           "MAIL FROM") == SMTPCLIENT_SETUP,
       "430 4.2.0 STOREDRV, a 4xx no retry cures: the setup needs a person");
    ok(smtpclient_classify(CURLE_LOGIN_DENIED,
                           "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is "
                           "disabled",
                           "AUTH") == SMTPCLIENT_SETUP &&
           smtpclient_classify(CURLE_RECV_ERROR, "554 5.7.1 go away", "greeting") ==
               SMTPCLIENT_SETUP &&
           smtpclient_classify(CURLE_LOGIN_DENIED, "334 eyJzdGF0dXMiOiI0MDAifQ==", "AUTH") ==
               SMTPCLIENT_SETUP,
       "a 5xx to the greeting or AUTH, an error challenge: the setup, not the message");
    ok(smtpclient_classify(CURLE_RECV_ERROR, "550 5.7.60 SendAsDenied", "MAIL FROM") ==
               SMTPCLIENT_REFUSED &&
           smtpclient_classify(CURLE_RECV_ERROR, "550 5.1.1 unknown", "RCPT TO") ==
               SMTPCLIENT_REFUSED &&
           smtpclient_classify(CURLE_RECV_ERROR, "554 5.6.0 no", "DATA") == SMTPCLIENT_REFUSED &&
           smtpclient_classify(CURLE_RECV_ERROR, "550 5.7.1 spam", "end of data") ==
               SMTPCLIENT_REFUSED,
       "a 5xx to MAIL, RCPT, DATA or the end of DATA: this message refused");
    ok(smtpclient_classify(CURLE_PEER_FAILED_VERIFICATION, "", "STARTTLS") == SMTPCLIENT_SETUP &&
           smtpclient_classify(CURLE_SSL_CACERT_BADFILE, "", "STARTTLS") == SMTPCLIENT_SETUP &&
           smtpclient_classify(CURLE_USE_SSL_FAILED, "250 SIZE 1000", "EHLO") == SMTPCLIENT_SETUP,
       "an untrusted certificate, no STARTTLS: the setup");
}

/* test_queue_id - the id of "250 ... queued as ID" */
static void test_queue_id(void)
{
    char id[SMTPCLIENT_MAX_QUEUE_ID + 1];
    char small[4];
    char longid[100];

    ok(smtpclient_queue_id("250 2.0.0 Ok: queued as 4dGx7T2pZqz9vKl", id, sizeof(id)) == 1 &&
           strcmp(id, "4dGx7T2pZqz9vKl") == 0,
       "Postfix's long queue id");
    ok(smtpclient_queue_id("250 2.0.0 Ok: queued as ABC123 (more)", id, sizeof(id)) == 1 &&
           strcmp(id, "ABC123") == 0,
       "the id ends at the first character no id holds");
    ok(smtpclient_queue_id("250 2.0.0 OK", id, sizeof(id)) == 0 && id[0] == '\0',
       "a 250 naming no id: none");
    ok(smtpclient_queue_id("550 5.0.0 queued as ABC", id, sizeof(id)) == 0 && id[0] == '\0',
       "not a 250: none");
    ok(smtpclient_queue_id("250 queued as ;rm", id, sizeof(id)) == 0, "an empty id: none");
    snprintf(longid, sizeof(longid), "250 queued as %040d", 7);
    ok(smtpclient_queue_id(longid, id, sizeof(id)) == 0 && id[0] == '\0',
       "an id over %d characters: none", SMTPCLIENT_MAX_QUEUE_ID);
    ok(smtpclient_queue_id("250 queued as ABCDEF", small, sizeof(small)) == 0 && small[0] == '\0',
       "an id longer than the caller's buffer: none, not cut");
}

/* shown - what a trace wrote, malloc'd */
struct shown {
    char *text;
    size_t len;
    FILE *fp;
};

/* test_trace_bearer - XOAUTH2 after the 334, and with an initial response: the token hidden */
static void test_trace_bearer(void)
{
    struct smtpclient_trace t;
    struct shown s = {NULL, 0, NULL};
    char *token = malloc(TOKEN_LEN + 1);
    char *sasl = malloc(TOKEN_LEN + 200);
    char *b64 = NULL;
    char *line = NULL;
    char *ir = NULL;
    int n;

    if (token == NULL || sasl == NULL)
        goto out;
    memset(token, 'k', TOKEN_LEN);
    memcpy(token, "eyJ0eXAi.SECRET", 15);
    token[TOKEN_LEN] = '\0';
    n = snprintf(sasl, TOKEN_LEN + 200, "user=%s\001auth=Bearer %s\001\001", user, token);
    b64 = b64_std((const unsigned char *)sasl, (size_t)n);
    line = b64 != NULL ? line_of("", b64) : NULL;
    ir = b64 != NULL ? line_of("AUTH XOAUTH2 ", b64) : NULL;
    s.fp = open_memstream(&s.text, &s.len);
    if (line == NULL || ir == NULL || s.fp == NULL)
        goto out;
    smtpclient_trace_init(&t, s.fp, "  ");
    in(&t, "220 relay.test ESMTP\r\n");
    out(&t, "EHLO client.test\r\n");
    in(&t, "250-relay.test\r\n");
    in(&t, "250 AUTH XOAUTH2 OAUTHBEARER\r\n");
    out(&t, "AUTH XOAUTH2\r\n");
    in(&t, "334 \r\n");
    out(&t, line);
    in(&t, "235 2.7.0 Authentication successful\r\n");
    ok(t.authenticated && strcmp(t.step, "AUTH") == 0 && strncmp(t.reply, "235 ", 4) == 0,
       "the 235 is kept as AUTH's reply");
    /* The same with an initial response on the AUTH line, as a client with SASL-IR sends it. */
    out(&t, "RSET\r\n");
    in(&t, "250 2.0.0 OK\r\n");
    out(&t, ir);
    in(&t, "535 5.7.8 Authentication failed\r\n");
    out(&t, "QUIT\r\n");
    in(&t, "221 2.0.0 Bye\r\n");
    fflush(s.fp);
    ok(strstr(s.text, "-> AUTH XOAUTH2 (token hidden)") != NULL &&
           strstr(s.text, "-> (SASL response hidden, ") != NULL,
       "AUTH is shown by its mechanism, the token's response by its length");
    ok(strstr(s.text, "SECRET") == NULL && strstr(s.text, b64) == NULL &&
           strstr(s.text, "dXNlcj") == NULL && strstr(s.text, "Bearer") == NULL,
       "neither the token nor its base64 is shown (%zu bytes shown)", s.len);
    ok(strcmp(t.reply, "535 5.7.8 Authentication failed") == 0 && strcmp(t.step, "AUTH") == 0,
       "the refusal and its step are kept, not QUIT's 221");
out:
    if (s.fp != NULL)
        fclose(s.fp);
    free(s.text);
    free(token);
    free(sasl);
    free(b64);
    free(line);
    free(ir);
}

/* test_trace_password - PLAIN and LOGIN: user and password, and their base64, hidden */
static void test_trace_password(void)
{
    struct smtpclient_trace t;
    struct shown s = {NULL, 0, NULL};
    unsigned char plain[200];
    size_t pl = 0;
    char *b64_plain;
    char *b64_user = b64_std((const unsigned char *)user, strlen(user));
    char *b64_pw = b64_std((const unsigned char *)password, strlen(password));
    char *l_plain = NULL;
    char *l_ir = NULL;
    char *l_user = NULL;
    char *l_pw = NULL;

    plain[pl++] = '\0';
    memcpy(plain + pl, user, strlen(user));
    pl += strlen(user);
    plain[pl++] = '\0';
    memcpy(plain + pl, password, strlen(password));
    pl += strlen(password);
    b64_plain = b64_std(plain, pl);
    if (b64_plain == NULL || b64_user == NULL || b64_pw == NULL)
        goto out;
    l_plain = line_of("", b64_plain);
    l_ir = line_of("AUTH PLAIN ", b64_plain);
    l_user = line_of("", b64_user);
    l_pw = line_of("", b64_pw);
    s.fp = open_memstream(&s.text, &s.len);
    if (l_plain == NULL || l_ir == NULL || l_user == NULL || l_pw == NULL || s.fp == NULL)
        goto out;
    smtpclient_trace_init(&t, s.fp, "");
    in(&t, "220 relay.test ESMTP\r\n");
    out(&t, "AUTH PLAIN\r\n");
    in(&t, "334 \r\n");
    out(&t, l_plain);
    in(&t, "535 5.7.8 Error: authentication failed\r\n");
    t.refused = 0; /* go on as a new session would */
    out(&t, l_ir);
    in(&t, "235 2.7.0 OK\r\n");
    out(&t, "AUTH LOGIN\r\n");
    in(&t, "334 VXNlcm5hbWU6\r\n");
    out(&t, l_user);
    in(&t, "334 UGFzc3dvcmQ6\r\n");
    /* A credential that looks like a command is still a credential. */
    out(&t, "DATA Pr1nter-Passw0rd!\r\n");
    out(&t, l_pw);
    ok(strcmp(t.step, "AUTH") == 0, "a credential that looks like DATA does not move the step");
    in(&t, "235 2.7.0 Authentication successful\r\n");
    out(&t, "MAIL FROM:<scanner@contoso.test> SIZE=100\r\n");
    in(&t, "250 2.1.0 Ok\r\n");
    out(&t, "RCPT TO:<someone@example.net>\r\n");
    in(&t, "250 2.1.5 Ok\r\n");
    out(&t, "DATA\r\n");
    in(&t, "354 End data with <CR><LF>.<CR><LF>\r\n");
    in(&t, "250 2.0.0 Ok: queued as 4dGx7T2pZq\r\n");
    out(&t, "QUIT\r\n");
    in(&t, "221 2.0.0 Bye\r\n");
    fflush(s.fp);
    ok(strstr(s.text, "-> AUTH PLAIN (credentials hidden)") != NULL &&
           strstr(s.text, "-> AUTH LOGIN (credentials hidden)") != NULL,
       "AUTH PLAIN and AUTH LOGIN shown by mechanism only");
    ok(strstr(s.text, password) == NULL && strstr(s.text, b64_pw) == NULL &&
           strstr(s.text, b64_plain) == NULL && strstr(s.text, "Pr1nter") == NULL,
       "neither the password nor PLAIN's or LOGIN's base64 is shown");
    ok(strstr(s.text, "-> (SASL response hidden)\n") != NULL && strstr(s.text, "bytes)") == NULL,
       "a password's response is hidden, not even its length shown");
    ok(strstr(s.text, b64_user) == NULL && strstr(s.text, "scanner@") == NULL,
       "nor the user name (LOGIN's continuation, MAIL FROM's argument)");
    ok(strstr(s.text, "-> MAIL FROM ...") != NULL && strstr(s.text, "-> RCPT TO ...") != NULL &&
           strstr(s.text, "<- 354 End data") != NULL,
       "commands by name, server lines whole");
    ok(t.accepted && strcmp(t.step, "end of data") == 0 && strcmp(t.queue_id, "4dGx7T2pZq") == 0 &&
           strcmp(t.reply, "250 2.0.0 Ok: queued as 4dGx7T2pZq") == 0,
       "the 250 to the end of DATA: accepted, its queue id and reply kept, not QUIT's");
out:
    if (s.fp != NULL)
        fclose(s.fp);
    free(s.text);
    free(b64_plain);
    free(b64_user);
    free(b64_pw);
    free(l_plain);
    free(l_ir);
    free(l_user);
    free(l_pw);
}

/* test_trace_refusal - the first refusal and its step stay, whatever follows */
static void test_trace_refusal(void)
{
    struct smtpclient_trace t;

    smtpclient_trace_init(&t, NULL, NULL);
    ok(strcmp(t.step, "greeting") == 0, "a new trace is at the greeting");
    in(&t, "220 relay.test ESMTP\r\n");
    out(&t, "MAIL FROM:<a@b.test>\r\n");
    in(&t, "250 2.1.0 Ok\r\n");
    out(&t, "RCPT TO:<x@y.test>\r\n");
    in(&t, "550-5.1.1 unknown\r\n");
    in(&t, "550 5.1.1 user\r\n");
    out(&t, "RSET\r\n");
    in(&t, "250 2.0.0 Ok\r\n");
    ok(t.refused && strcmp(t.step, "RCPT TO") == 0 && strcmp(t.reply, "550 5.1.1 user") == 0 &&
           !t.accepted,
       "a multi-line 550 to RCPT: kept with its step, RSET's 250 ignored");
}

int main(void)
{
    test_classify();
    test_queue_id();
    test_trace_bearer();
    test_trace_password();
    test_trace_refusal();
    return done_testing();
}
