/*
 * log.h - one line per event, to stderr or syslog, in Postfix's style
 *
 *     oauth2-token-helper[1234]: account=alice refreshed, expires in 74m
 *     oauth2-token-helper[1234]: warning: account=bob: refresh failed ...
 *
 * Security: callers never pass a token or secret; untrusted text (error
 * descriptions from the identity platform) goes through log_clean() first.
 */
#ifndef OAUTH2_LOG_H
#define OAUTH2_LOG_H

#include <stddef.h>

/* log_open - choose the destination; verbose enables log_debug */
void log_open(const char *ident, int use_syslog, int verbose);

/*
 * log_quiet - the command line's own messages say what went wrong; the
 * daemon-style event lines of the modules it calls are shown only with -v
 */
void log_quiet(int quiet);

void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* log_clean - copy untrusted text, printable ASCII only, cut to outsize-1 bytes */
void log_clean(char *out, size_t outsize, const char *in, size_t inlen);

#endif
