/*
 * test_common.c - the one-of-each helpers: the clocks, wiped secrets, the
 * printable-text filter in its log and plugin forms, the opaque-word check,
 * and base64/base64url
 */
#include <stdlib.h>
#include <string.h>

#include "b64.h"
#include "clock.h"
#include "log.h"
#include "secret.h"
#include "tap.h"
#include "text.h"

/* test_clock - monotonic never goes back; wall is unix time */
static void test_clock(void)
{
    long long a = clock_mono_ms();
    long long b = clock_mono_ms();

    ok(b >= a, "the monotonic clock does not go back");
    ok(clock_wall_s() > 1700000000LL && clock_wall_ms() / 1000 >= clock_wall_s() - 1,
       "the wall clock is unix time, in seconds and milliseconds");
}

/* test_secret - secret_free takes NULL and a malloc'd string */
static void test_secret(void)
{
    char *s = strdup("not-a-real-secret");

    secret_free(NULL);
    secret_free(s);
    ok(1, "secret_free accepts NULL and a malloc'd string");
}

/* test_clean - the log form and the plugin form of text_clean */
static void test_clean(void)
{
    char out[16];
    char tiny[4];

    log_clean(out, sizeof(out), "a\tb\r\nc\x01\x7f", 8);
    ok(strcmp(out, "a b  c??") == 0, "log_clean: white space becomes a space, controls '?'");
    log_clean(out, sizeof(out), "ab\0cd", 5);
    ok(strcmp(out, "ab") == 0, "log_clean: a NUL ends the text");
    log_clean(out, sizeof(out), "0123456789abcdefghij", 20);
    ok(strcmp(out, "0123456789abcde") == 0, "log_clean: cut to the buffer, no ellipsis");
    text_clean(out, sizeof(out), "a\tb\0c", 5, 64, TEXT_ELLIPSIS);
    ok(strcmp(out, "a?b?c") == 0, "plugin form: tab and NUL show as '?'");
    text_clean(out, sizeof(out), "0123456789", 10, 4, TEXT_ELLIPSIS);
    ok(strcmp(out, "0123...") == 0, "plugin form: cut after max, marked with ...");
    text_clean(out, sizeof(out), "0123456789abcdefghij", 20, 64, TEXT_ELLIPSIS);
    ok(strcmp(out, "0123456789ab...") == 0, "plugin form: room is kept for the ellipsis");
    text_clean(tiny, sizeof(tiny), "abc", 3, 64, TEXT_ELLIPSIS);
    ok(strcmp(tiny, "...") == 0, "plugin form: a 4-byte buffer holds only the ellipsis");
    text_clean(tiny, 3, "abc", 3, 64, TEXT_ELLIPSIS);
    ok(tiny[0] == '\0', "plugin form: a buffer under 4 bytes is left empty");
}

/* test_opaque - account names and tokens: printable ASCII without spaces */
static void test_opaque(void)
{
    ok(text_opaque_ok("alice@example.com", 17, 64), "a plain name is opaque-ok");
    ok(!text_opaque_ok("", 0, 64), "empty is refused");
    ok(!text_opaque_ok("a b", 3, 64), "a space is refused");
    ok(!text_opaque_ok("a\x7f", 2, 64), "DEL is refused");
    ok(!text_opaque_ok("a\xc3\xa9", 3, 64), "non-ASCII is refused");
    ok(!text_opaque_ok("abcde", 5, 4), "longer than max is refused");
    ok(text_opaque_ok("abcd", 4, 4), "exactly max is fine");
}

/* test_b64 - RFC 4648 test vectors, standard and url */
static void test_b64(void)
{
    static const unsigned char bin[] = {0xfb, 0xff, 0xfe};
    char *s;

    s = b64_std((const unsigned char *)"foob", 4);
    ok(s != NULL && strcmp(s, "Zm9vYg==") == 0, "b64_std pads (RFC 4648 vector)");
    free(s);
    s = b64_std((const unsigned char *)"", 0);
    ok(s != NULL && strcmp(s, "") == 0, "b64_std of nothing is empty");
    free(s);
    s = b64_url((const unsigned char *)"foob", 4);
    ok(s != NULL && strcmp(s, "Zm9vYg") == 0, "b64_url drops the padding");
    free(s);
    s = b64_std(bin, sizeof(bin));
    ok(s != NULL && strcmp(s, "+//+") == 0, "b64_std uses + and /");
    free(s);
    s = b64_url(bin, sizeof(bin));
    ok(s != NULL && strcmp(s, "-__-") == 0, "b64_url uses - and _");
    free(s);
}

int main(void)
{
    test_clock();
    test_secret();
    test_clean();
    test_opaque();
    test_b64();
    return done_testing();
}
