/*
 * test_saslwire.c - XOAUTH2 / OAUTHBEARER encodings and the "account" reply
 */
#include <stdlib.h>
#include <string.h>

#include "saslwire.h"
#include "tap.h"

static void test_xoauth2(void)
{
    char out[4096];
    size_t len;

    ok(saslwire_xoauth2("alice@contoso.com", "eyJ0.abc-_", out, sizeof(out), &len) == 0 &&
           len == strlen("user=alice@contoso.com\001auth=Bearer eyJ0.abc-_\001\001") &&
           memcmp(out, "user=alice@contoso.com\001auth=Bearer eyJ0.abc-_\001\001", len) == 0,
       "XOAUTH2 response matches the documented layout");
    ok(saslwire_xoauth2("alice", "a b", out, sizeof(out), &len) < 0,
       "a token with a space is refused");
    ok(saslwire_xoauth2("al\001ice", "abc", out, sizeof(out), &len) < 0,
       "a login with \\1 is refused");
    ok(saslwire_xoauth2("alice", "abc", out, 10, &len) < 0, "a short buffer is refused");
}

static void test_oauthbearer(void)
{
    char out[4096];
    size_t len;
    const char *want = "n,a=bob@example.org,\001host=mx.example.org\001port=587\001"
                       "auth=Bearer tok==\001\001";
    const char *bare = "n,a=bob@example.org,\001auth=Bearer tok\001\001";

    ok(saslwire_oauthbearer("bob@example.org", "mx.example.org", 587, "tok==", out, sizeof(out),
                            &len) == 0 &&
           len == strlen(want) && memcmp(out, want, len) == 0,
       "OAUTHBEARER with host and port (RFC 7628)");
    ok(saslwire_oauthbearer("bob@example.org", NULL, 0, "tok", out, sizeof(out), &len) == 0 &&
           len == strlen(bare) && memcmp(out, bare, len) == 0,
       "OAUTHBEARER without host and port");
    ok(saslwire_oauthbearer("bob,x", NULL, 0, "tok", out, sizeof(out), &len) < 0,
       "a comma in the login cannot break the gs2 header");
}

static void test_long_token(void)
{
    size_t n = 2000;
    char *tok = malloc(n + 1);
    char out[8192];
    size_t len;
    size_t i;

    for (i = 0; i < n; i++)
        tok[i] = "ABCxyz019-_."[i % 12];
    tok[n] = '\0';
    ok(saslwire_xoauth2("alice@contoso.com", tok, out, sizeof(out), &len) == 0 && len > n,
       "a 2,000-character token fits");
    free(tok);
}

static void test_token_ok(void)
{
    ok(saslwire_token_ok("abc==", 5), "padding at the end is allowed");
    ok(!saslwire_token_ok("ab=c", 4), "padding in the middle is not");
    ok(!saslwire_token_ok("=", 1), "padding alone is not a token");
    ok(!saslwire_token_ok("", 0), "empty is not a token");
    ok(!saslwire_token_ok("ab\0c", 4), "NUL is not allowed");
}

static void test_account(void)
{
    char login[64];
    char token[64];
    long long exp;
    const char *r = "login=alice@contoso.com expires=1700000000 token=abc.def";

    ok(protocol_decode_account(r, strlen(r), login, sizeof(login), token, sizeof(token), &exp) ==
               0 &&
           strcmp(login, "alice@contoso.com") == 0 && strcmp(token, "abc.def") == 0 &&
           exp == 1700000000LL,
       "parse an account reply");
    r = "login=alice expires=17x token=abc";
    ok(protocol_decode_account(r, strlen(r), login, sizeof(login), token, sizeof(token), &exp) < 0,
       "a bad expiry is refused");
    r = "login=alice expires=1";
    ok(protocol_decode_account(r, strlen(r), login, sizeof(login), token, sizeof(token), &exp) <
               0 &&
           token[0] == '\0',
       "a missing token is refused");
    r = "login=alice expires=1 token=abc";
    ok(protocol_decode_account(r, strlen(r), login, sizeof(login), token, 3, &exp) < 0,
       "a token longer than the buffer is refused");
}

int main(void)
{
    test_xoauth2();
    test_oauthbearer();
    test_long_token();
    test_token_ok();
    test_account();
    return done_testing();
}
