/*
 * test_netstring.c - the socketmap codec: encoding, incremental decoding,
 * hostile input, request and reply parsing
 */
#include <string.h>

#include "netstring.h"
#include "tap.h"

static void test_encode(void)
{
    char out[32];
    size_t len;

    ok(netstring_encode(out, sizeof(out), "token alice", 11, &len) == 0 &&
           strcmp(out, "11:token alice,") == 0 && len == 15,
       "encode a request");
    ok(netstring_encode(out, 8, "token alice", 11, &len) < 0, "encode refuses a short buffer");
    ok(netstring_encode(out, sizeof(out), "", 0, &len) == 0 && strcmp(out, "0:,") == 0,
       "encode the empty string");
}

static void test_decode(void)
{
    const char *p;
    size_t plen;
    size_t used;

    ok(netstring_decode("5:hello,", 8, 100, &p, &plen, &used) == NETSTRING_OK && plen == 5 &&
           memcmp(p, "hello", 5) == 0 && used == 8,
       "decode a whole netstring");
    ok(netstring_decode("5:hello,3:abc,", 14, 100, &p, &plen, &used) == NETSTRING_OK && used == 8,
       "decode stops after the first of two");
    ok(netstring_decode("5:hel", 5, 100, &p, &plen, &used) == NETSTRING_MORE,
       "a prefix asks for more");
    ok(netstring_decode("12", 2, 100, &p, &plen, &used) == NETSTRING_MORE,
       "a bare length asks for more");
    ok(netstring_decode("5:hello;", 8, 100, &p, &plen, &used) == NETSTRING_ERROR,
       "a missing comma is an error");
    ok(netstring_decode("05:hello,", 9, 100, &p, &plen, &used) == NETSTRING_ERROR,
       "a leading zero is an error");
    ok(netstring_decode(":x,", 3, 100, &p, &plen, &used) == NETSTRING_ERROR,
       "a missing length is an error");
    ok(netstring_decode("x:", 2, 100, &p, &plen, &used) == NETSTRING_ERROR,
       "a non-digit length is an error");
    ok(netstring_decode("101:", 4, 100, &p, &plen, &used) == NETSTRING_ERROR,
       "a length over the maximum is refused before reading the payload");
    ok(netstring_decode("99999999999999999999:", 21, 1u << 30, &p, &plen, &used) == NETSTRING_ERROR,
       "an absurd length does not overflow");
    ok(netstring_decode("0:,", 3, 100, &p, &plen, &used) == NETSTRING_OK && plen == 0,
       "the empty netstring decodes");
}

static void test_request(void)
{
    char name[16];
    char key[64];

    ok(socketmap_parse_request("token alice@contoso.com", 23, name, sizeof(name), key,
                               sizeof(key)) == 0 &&
           strcmp(name, "token") == 0 && strcmp(key, "alice@contoso.com") == 0,
       "split name and key");
    ok(socketmap_parse_request("token", 5, name, sizeof(name), key, sizeof(key)) < 0,
       "a request without a key is refused");
    ok(socketmap_parse_request(" alice", 6, name, sizeof(name), key, sizeof(key)) < 0,
       "a request without a name is refused");
    ok(socketmap_parse_request("token a\0b", 9, name, sizeof(name), key, sizeof(key)) < 0,
       "a NUL byte is refused");
    ok(socketmap_parse_request("averyveryverylongname x", 23, name, sizeof(name), key,
                               sizeof(key)) < 0,
       "an oversized name is refused");
}

static void test_reply(void)
{
    socketmap_status st;
    const char *d;
    size_t dl;

    ok(socketmap_parse_reply("OK abc", 6, &st, &d, &dl) == 0 && st == SOCKETMAP_OK && dl == 3 &&
           memcmp(d, "abc", 3) == 0,
       "OK reply");
    ok(socketmap_parse_reply("NOTFOUND ", 9, &st, &d, &dl) == 0 && st == SOCKETMAP_NOTFOUND &&
           dl == 0,
       "NOTFOUND reply");
    ok(socketmap_parse_reply("TEMP refresh failing", 20, &st, &d, &dl) == 0 &&
           st == SOCKETMAP_TEMP && dl == 15,
       "TEMP reply");
    ok(socketmap_parse_reply("PERM revoked", 12, &st, &d, &dl) == 0 && st == SOCKETMAP_PERM,
       "PERM reply");
    ok(socketmap_parse_reply("MAYBE x", 7, &st, &d, &dl) < 0, "unknown status refused");
    ok(socketmap_parse_reply("OKabc", 5, &st, &d, &dl) < 0, "status without space refused");
    ok(strcmp(socketmap_status_name(SOCKETMAP_TEMP), "TEMP") == 0, "status names");
}

int main(void)
{
    test_encode();
    test_decode();
    test_request();
    test_reply();
    return done_testing();
}
