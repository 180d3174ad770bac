/*
 * fuzz_netstring.c - libFuzzer target: the socketmap codec (netstring_decode,
 * socketmap_parse_request, socketmap_parse_reply, netstring_encode)
 *
 * Input: one byte picks the length limit (the daemon's request limit, the
 * clients' reply limit, or a small one), the rest is a byte stream decoded
 * as the daemon decodes a client's: netstring after netstring. Checks:
 * every payload lies inside the input, a decoded request splits into a
 * name and key that hold no NUL and fit their buffers, a reply's data lies
 * inside its payload, and encode then decode gives back the payload.
 */
#include "autoconfig.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "netstring.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* check_request - split a payload the way the daemon does */
static void check_request(const char *payload, size_t len)
{
    char name[16];
    char key[SOCKETMAP_MAX_REQUEST];

    if (socketmap_parse_request(payload, len, name, sizeof(name), key, sizeof(key)) == 0) {
        if (strlen(name) + 1 + strlen(key) != len || name[0] == '\0' || key[0] == '\0')
            abort();
        if (memcmp(payload, name, strlen(name)) != 0 || payload[strlen(name)] != ' ')
            abort();
    } else if (name[0] != '\0' || key[0] != '\0') {
        abort(); /* outputs are cleared on failure */
    }
}

/* check_reply - classify a payload the way the plugin does */
static void check_reply(const char *payload, size_t len)
{
    socketmap_status st;
    const char *d;
    size_t dl;

    if (socketmap_parse_reply(payload, len, &st, &d, &dl) == 0) {
        if (d < payload || d + dl > payload + len)
            abort();
        if (strcmp(socketmap_status_name(st), "PERM") != 0 && st == SOCKETMAP_PERM)
            abort();
    }
}

/* check_roundtrip - encode the payload and decode it again */
static void check_roundtrip(const char *payload, size_t len)
{
    static char out[SOCKETMAP_MAX_REPLY + 32];
    const char *p;
    size_t pl;
    size_t used;
    size_t outlen;

    if (netstring_encode(out, sizeof(out), payload, len, &outlen) < 0)
        abort();
    if (netstring_decode(out, outlen, SOCKETMAP_MAX_REPLY, &p, &pl, &used) != NETSTRING_OK ||
        pl != len || used != outlen || memcmp(p, payload, len) != 0)
        abort();
}

/* LLVMFuzzerTestOneInput - one stream */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t limits[] = {SOCKETMAP_MAX_REQUEST, SOCKETMAP_MAX_REPLY, 16, 0};
    const char *buf;
    size_t len;
    size_t maxlen;

    if (size < 1)
        return 0;
    maxlen = limits[data[0] % 4];
    buf = (const char *)data + 1;
    len = size - 1;
    for (;;) {
        const char *payload;
        size_t plen;
        size_t used;
        netstring_status ns = netstring_decode(buf, len, maxlen, &payload, &plen, &used);

        if (ns != NETSTRING_OK) {
            if (ns != NETSTRING_MORE && ns != NETSTRING_ERROR)
                abort();
            break;
        }
        if (plen > maxlen || used > len || used == 0 || payload < buf ||
            payload + plen > buf + len || payload[plen] != ',')
            abort();
        check_request(payload, plen);
        check_reply(payload, plen);
        check_roundtrip(payload, plen);
        buf += used;
        len -= used;
    }
    check_reply((const char *)data, size);
    return 0;
}
