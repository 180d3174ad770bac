/*
 * test_jsonwipe.c - parsing secrets with json-c, copies wiped (helper/jsonwipe.h)
 */
#include "autoconfig.h"

#include <fcntl.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jsonwipe.h"
#include "tap.h"

/* all_zero - whether n bytes are zero */
static int all_zero(const char *p, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (p[i] != '\0')
            return 0;
    return 1;
}

static void test_parse(void)
{
    static const char good[] = "{\"a\":\"x\",\"b\":[1,\"y\",{\"c\":\"z\"}]}\r\n \t";
    static const char nul[] = "{\"a\":\"x\"}\0{}";
    json_object *o = jsonwipe_parse(good, strlen(good));

    ok(o != NULL && json_object_is_type(o, json_type_object), "an object, trailing spaces: parsed");
    jsonwipe_put(o);
    ok(jsonwipe_parse("{\"a\":1} x", 9) == NULL, "trailing garbage: refused");
    ok(jsonwipe_parse("{\"a\":1}{}", 9) == NULL, "a second value: refused");
    ok(jsonwipe_parse(nul, sizeof(nul) - 1) == NULL, "a NUL in the text: refused");
    ok(jsonwipe_parse("{\"a\":", 5) == NULL, "cut short: refused");
    ok(jsonwipe_parse("", 0) == NULL && jsonwipe_parse(NULL, 3) == NULL, "nothing: refused");
    o = jsonwipe_parse("[\"\\u00e9\\n\"]", 12);
    ok(o != NULL &&
           strcmp(json_object_get_string(json_object_array_get_idx(o, 0)), "\xc3\xa9\n") == 0,
       "escapes decoded");
    jsonwipe_put(o);
    jsonwipe_put(NULL);
}

static void test_long_string(void)
{
    size_t n = 200000;
    char *text = malloc(n + 3);
    json_object *o;

    if (text == NULL)
        return;
    text[0] = '"';
    memset(text + 1, 'k', n);
    text[n + 1] = '"';
    text[n + 2] = '\0';
    o = jsonwipe_parse(text, n + 2);
    ok(o != NULL && (size_t)json_object_get_string_len(o) == n,
       "a string as long as the text itself parses (the scratch buffer holds it)");
    jsonwipe_put(o);
    free(text);
}

static void test_clear(void)
{
    static const char text[] =
        "{\"access_token\":\"eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.secret-part\","
        "\"nested\":{\"refresh_token\":\"0.AAAA-rotated-refresh-token-value\"},"
        "\"list\":[\"one-secret\",[\"two-secret\"]],\"n\":3600}";
    json_object *o = jsonwipe_parse(text, strlen(text));
    json_object *at = NULL;
    json_object *rt = NULL;
    json_object *one;
    json_object *two;
    const char *p1;
    const char *p2;
    const char *p3;
    const char *p4;
    size_t l1;
    size_t l2;
    size_t l3;
    size_t l4;

    if (!ok(o != NULL, "a token reply parses"))
        return;
    json_object_object_get_ex(o, "access_token", &at);
    json_object_object_get_ex(json_object_object_get(o, "nested"), "refresh_token", &rt);
    one = json_object_array_get_idx(json_object_object_get(o, "list"), 0);
    two = json_object_array_get_idx(json_object_array_get_idx(json_object_object_get(o, "list"), 1),
                                    0);
    p1 = json_object_get_string(at);
    l1 = (size_t)json_object_get_string_len(at);
    p2 = json_object_get_string(rt);
    l2 = (size_t)json_object_get_string_len(rt);
    p3 = json_object_get_string(one);
    l3 = (size_t)json_object_get_string_len(one);
    p4 = json_object_get_string(two);
    l4 = (size_t)json_object_get_string_len(two);
    jsonwipe_clear(o);
    ok(l1 > 0 && all_zero(p1, l1) && all_zero(p2, l2) && all_zero(p3, l3) && all_zero(p4, l4),
       "jsonwipe_clear zeroes every string value, nested ones too, in json-c's own storage");
    ok(json_object_get_int(json_object_object_get(o, "n")) == 3600, "numbers are left alone");
    jsonwipe_put(o);
}

/*
 * heap_copies - how often needle occurs in the heap and anonymous writable
 * mappings; reads /proc/self/maps without malloc, which would reuse (and
 * overwrite) the very chunks being looked at
 */
static int heap_copies(const char *needle)
{
    static char maps[1 << 16];
    size_t nlen = strlen(needle);
    size_t len = 0;
    ssize_t got;
    char *line;
    int hits = 0;
    int fd = open("/proc/self/maps", O_RDONLY);

    if (fd < 0)
        return -1;
    while (len + 1 < sizeof(maps)) {
        got = read(fd, maps + len, sizeof(maps) - 1 - len);
        if (got <= 0)
            break;
        len += (size_t)got;
    }
    close(fd);
    maps[len] = '\0';
    for (line = maps; *line != '\0';) {
        char *nl = strchr(line, '\n');
        char *end;
        unsigned long lo;
        unsigned long hi;
        const char *p;

        if (nl != NULL)
            *nl = '\0';
        lo = strtoul(line, &end, 16);
        hi = *end == '-' ? strtoul(end + 1, &end, 16) : 0;
        /* rw-p, and the heap or an anonymous mapping (large mallocs), not the stack */
        if (hi > lo && strncmp(end, " rw", 3) == 0 && strstr(line, "[stack]") == NULL &&
            (strstr(line, "[heap]") != NULL || strchr(line, '/') == NULL))
            for (p = (const char *)lo; p + nlen <= (const char *)hi; p++)
                if (*p == needle[0] && memcmp(p, needle, nlen) == 0)
                    hits++;
        if (nl == NULL)
            break;
        line = nl + 1;
    }
    return hits;
}

/*
 * test_no_copy_left - after parse and put, the token is nowhere in memory: plain
 * json-c leaves it in its tokener's scratch buffer and in the freed string object
 */
static void test_no_copy_left(void)
{
    size_t n = 3000; /* longer than json-c's first scratch buffer: it would have grown */
    char *text = malloc(n + 64);
    char needle[24];
    json_object *o;
    int alive;
    int after;
    size_t i;
    int len;

    if (text == NULL)
        return;
    /* Freed memory stays mapped (no trimming), as it would in a daemon's busy heap. */
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
    memcpy(text, "{\"access_token\":\"", 17);
    for (i = 0; i < n; i++)
        text[17 + i] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"[(i * 7 + 3) % 26];
    /* In the middle: free() writes its list pointers over a chunk's first bytes. */
    memcpy(text + 17 + n / 2, "jsonwipe-MARK", 13);
    len = 17 + (int)n + snprintf(text + 17 + n, 64, "\",\"n\":1}");
    /* The needle is built on the stack, which the scan skips. */
    memcpy(needle, text + 17 + n / 2, sizeof(needle) - 1);
    needle[sizeof(needle) - 1] = '\0';
    o = jsonwipe_parse(text, (size_t)len);
    explicit_bzero(text, (size_t)len);
    free(text);
    alive = heap_copies(needle);
    jsonwipe_put(o);
    after = heap_copies(needle);
    ok(o != NULL && alive >= 1, "the scan sees the parsed token while its object lives (%d)",
       alive);
    ok(after == 0, "after jsonwipe_put no copy is left in the heap (%d)", after);
}

int main(void)
{
    test_parse();
    test_long_string();
    test_clear();
    /* The heap scan reads freed memory on purpose, which AddressSanitizer
     * rightly forbids; valgrind (memcheck.py) and the plain build run it. */
    if (getenv("OAUTH2_SANITIZERS") != NULL) {
        skip_by_design("the heap scan for copies of a parsed token", "sanitizer build");
        skip_by_design("after jsonwipe_put no copy is left in the heap", "sanitizer build");
    } else {
        test_no_copy_left();
    }
    return done_testing();
}
