/*
 * text.h - untrusted text made safe for a log line or a message
 *
 * Text from a peer (an identity platform's error, an SMTP challenge, a
 * config value, a socket request) is copied through text_clean() before it
 * reaches a log line: printable ASCII only, everything else shown as '?',
 * cut short. Callers pick how white space, a NUL and a cut are shown.
 *
 * text_opaque_ok() is the one check for an opaque word: an account name, a
 * refresh token, an authorization code or state. All of them are printable
 * ASCII without spaces (RFC 6749's VSCHAR minus space); only the maximum
 * length differs, so it is a parameter.
 */
#ifndef OAUTH2_TEXT_H
#define OAUTH2_TEXT_H

#include <stddef.h>

#define TEXT_WS_SPACE 1 /* CR, LF and TAB become a space, not '?' */
#define TEXT_STOP_NUL 2 /* a NUL ends the input, rather than showing as '?' */
#define TEXT_ELLIPSIS 4 /* a cut shows as "..." (room for it is kept) */

/*
 * text_clean - copy at most max of inlen bytes of in to out (outsize bytes,
 * always NUL-terminated when outsize > 0): printable ASCII, '?' for the rest
 */
void text_clean(char *out, size_t outsize, const char *in, size_t inlen, size_t max, int flags);

/* text_opaque_ok - s[0..len) is 1 to max bytes of printable ASCII without spaces */
int text_opaque_ok(const char *s, size_t len, size_t max);

#endif
