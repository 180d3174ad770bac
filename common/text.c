/*
 * text.c - untrusted text for log lines, opaque words (see text.h)
 */
#include "autoconfig.h"

#include "text.h"

#include <string.h>

/* text_clean - printable ASCII only, cut short */
void text_clean(char *out, size_t outsize, const char *in, size_t inlen, size_t max, int flags)
{
    size_t reserve = (flags & TEXT_ELLIPSIS) ? 4 : 1;
    size_t i;
    size_t o = 0;

    if (outsize < reserve) {
        if (outsize > 0)
            out[0] = '\0';
        return;
    }
    for (i = 0; i < inlen && i < max && o + reserve < outsize; i++) {
        unsigned char c = (unsigned char)in[i];

        if (c == '\0' && (flags & TEXT_STOP_NUL))
            break;
        if ((c == '\r' || c == '\n' || c == '\t') && (flags & TEXT_WS_SPACE))
            c = ' ';
        out[o++] = (c >= ' ' && c < 0x7f) ? (char)c : '?';
    }
    if ((flags & TEXT_ELLIPSIS) && i < inlen) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
}

/* text_opaque_ok - 1 to max bytes, each '!' to '~' */
int text_opaque_ok(const char *s, size_t len, size_t max)
{
    size_t i;

    if (len == 0 || len > max)
        return 0;
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c <= ' ' || c >= 0x7f)
            return 0;
    }
    return 1;
}
