/*
 * test_protocol.c - the socket protocol's table, its replies, and the man
 *                   page's protocol section agree
 *
 * Every request in protocol_requests[] is documented in
 * oauth2-token-helper(8), THE SOCKET PROTOCOL, and every request documented
 * there is in the table. The account reply round-trips through its encoder
 * and decoder at the largest token the protocol admits, and the socket
 * client reports why it could not connect as an errno, not as text.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol.h"
#include "sockclient.h"
#include "tap.h"

#define MAX_DOCUMENTED 32

/* man_requests - the request names of the man page's protocol section; -1 when unreadable */
static int man_requests(char names[][32], int max)
{
    const char *top = getenv("top_srcdir");
    char path[4096];
    char line[1024];
    int in_section = 0;
    int after_tp = 0;
    int n = 0;
    FILE *fp;

    snprintf(path, sizeof(path), "%s/man/oauth2-token-helper.8", top ? top : "..");
    fp = fopen(path, "r");
    if (fp == NULL)
        return -1;
    while (fgets(line, sizeof(line), fp) != NULL) {
        if (strncmp(line, ".SH ", 4) == 0) {
            in_section = strncmp(line, ".SH THE SOCKET PROTOCOL", 23) == 0;
            after_tp = 0;
            continue;
        }
        if (!in_section)
            continue;
        if (strncmp(line, ".TP", 3) == 0) {
            after_tp = 1;
            continue;
        }
        if (after_tp && strncmp(line, ".BI \"", 5) == 0 && n < max) {
            size_t len = strcspn(line + 5, " \"");

            if (len > 0 && len < 32) {
                memcpy(names[n], line + 5, len);
                names[n][len] = '\0';
                n++;
            }
        }
        after_tp = 0;
    }
    fclose(fp);
    return n;
}

static void test_man_page(void)
{
    char names[MAX_DOCUMENTED][32];
    int n = man_requests(names, MAX_DOCUMENTED);
    int i;
    size_t k;

    ok(n > 0, "the man page's protocol section lists requests (%d)", n);
    for (k = 0; k < PROTOCOL_N_REQUESTS; k++) {
        int found = 0;

        for (i = 0; i < n; i++)
            found |= strcmp(names[i], protocol_requests[k].name) == 0;
        ok(found, "request %s of the table is documented in oauth2-token-helper(8)",
           protocol_requests[k].name);
    }
    for (i = 0; i < n; i++)
        ok(protocol_find(names[i]) != NULL,
           "request %s documented in oauth2-token-helper(8) is in the table", names[i]);
}

static void test_table(void)
{
    size_t k;
    int indexed = 1;

    for (k = 0; k < PROTOCOL_N_REQUESTS; k++)
        indexed &= protocol_requests[k].kind == (protocol_kind)k &&
                   protocol_find(protocol_requests[k].name) == &protocol_requests[k];
    ok(indexed, "the table is indexed by request kind, and every name is found");
    ok(protocol_find("frobnicate") == NULL, "an unknown name is not found");
    ok(strcmp(protocol_request_list(), "token, account, status, reload or forget") == 0,
       "the list of names for messages: %s", protocol_request_list());
    ok(protocol_requests[PROTOCOL_FORGET].caller == PROTOCOL_ADMIN_ONLY &&
           protocol_requests[PROTOCOL_ACCOUNT].caller == PROTOCOL_ANY_ALLOWED,
       "forget is for root and the daemon's user only");
}

static void test_replies(void)
{
    static char token[PROTOCOL_MAX_TOKEN + 1];
    static char data[PROTOCOL_MAX_REPLY];
    static char back[PROTOCOL_MAX_TOKEN + 1];
    static char login[PROTOCOL_MAX_LOGIN + 1];
    struct protocol_token_result r = {.status = SOCKETMAP_OK};
    char out[64];
    size_t outlen;
    long long expires;

    memset(token, 'A', PROTOCOL_MAX_TOKEN);
    memset(login, 'l', PROTOCOL_MAX_LOGIN);
    r.login = login;
    r.token = token;
    r.expires = 1234567890123LL;
    ok(PROTOCOL_MAX_TOKEN >= 16384, "the protocol admits tokens of 16,384 characters");
    ok(protocol_format_token(PROTOCOL_SHAPE_ACCOUNT, &r, data, sizeof(data)) == 0 &&
           strncmp(data, "login=lll", 9) == 0,
       "an account reply with the longest login and token fits the one reply size");
    ok(protocol_decode_account(data, strlen(data), login, sizeof(login), back, sizeof(back),
                               &expires) == 0 &&
           strcmp(back, token) == 0 && expires == 1234567890123LL,
       "and decodes back to the same login, expiry and token");
    ok(protocol_format_token(PROTOCOL_SHAPE_TOKEN, &r, data, sizeof(data)) == 0 &&
           strcmp(data, token) == 0,
       "a token reply is the token alone");
    ok(protocol_format_token(PROTOCOL_SHAPE_ACCOUNT, &r, data, 100) < 0 && data[0] == '\0',
       "a reply that does not fit is refused and wiped");
    ok(protocol_encode_reply(SOCKETMAP_TEMP, "why", out, sizeof(out), &outlen) == 0 &&
           outlen == 11 && memcmp(out, "8:TEMP why,", 11) == 0,
       "a TEMP reply on the wire: 8:TEMP why,");
    ok(protocol_encode_reply(SOCKETMAP_NOTFOUND, "", out, sizeof(out), &outlen) == 0 &&
           outlen == 12 && memcmp(out, "9:NOTFOUND ,", 12) == 0,
       "a NOTFOUND reply on the wire: 9:NOTFOUND ,");
    explicit_bzero(data, sizeof(data));
}

static void test_client_errno(void)
{
    struct sockclient_reply r;
    char data[64];

    sockclient_ask("/nonexistent/oauth2-token-helper.sock", NULL, PROTOCOL_TOKEN, "alice", 300, &r,
                   data, sizeof(data));
    ok(r.result == SOCKCLIENT_UNREACHABLE && r.connect_errno == ENOENT,
       "no socket: the client says unreachable with ENOENT (%d, %d)", (int)r.result,
       r.connect_errno);
}

int main(void)
{
    test_table();
    test_man_page();
    test_replies();
    test_client_errno();
    return done_testing();
}
