/*
 * log.c - one line per event, to stderr or syslog (see log.h)
 */
#include "autoconfig.h"

#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

static const char *log_ident = "oauth2-token-helper";
static int log_syslog;
static int log_verbose;
static int log_muted;

/* log_open - choose the destination */
void log_open(const char *ident, int use_syslog, int verbose)
{
    log_ident = ident;
    log_syslog = use_syslog;
    log_verbose = verbose;
    if (use_syslog)
        openlog(ident, LOG_PID | LOG_NDELAY, LOG_MAIL);
}

/* log_quiet - mute event lines (the CLI) unless verbose */
void log_quiet(int quiet)
{
    log_muted = quiet;
}

/* log_emit - write one line with an optional severity word */
__attribute__((format(printf, 3, 0))) static void log_emit(int prio, const char *word,
                                                           const char *fmt, va_list ap)
{
    char line[1024];

    if (log_muted && !log_verbose)
        return;
    vsnprintf(line, sizeof(line), fmt, ap);
    if (log_syslog) {
        syslog(prio, "%s%s", word, line);
        return;
    }
    fprintf(stderr, "%s[%ld]: %s%s\n", log_ident, (long)getpid(), word, line);
    fflush(stderr);
}

void log_info(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    log_emit(LOG_INFO, "", fmt, ap);
    va_end(ap);
}

void log_warn(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    log_emit(LOG_WARNING, "warning: ", fmt, ap);
    va_end(ap);
}

void log_error(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    log_emit(LOG_ERR, "error: ", fmt, ap);
    va_end(ap);
}

void log_debug(const char *fmt, ...)
{
    va_list ap;

    if (!log_verbose)
        return;
    va_start(ap, fmt);
    log_emit(LOG_DEBUG, "", fmt, ap);
    va_end(ap);
}

/* log_clean - printable ASCII only, cut short */
void log_clean(char *out, size_t outsize, const char *in, size_t inlen)
{
    size_t i;
    size_t o = 0;

    if (outsize == 0)
        return;
    for (i = 0; i < inlen && in[i] != '\0' && o + 1 < outsize; i++) {
        unsigned char c = (unsigned char)in[i];

        if (c == '\r' || c == '\n' || c == '\t')
            c = ' ';
        out[o++] = (c >= ' ' && c < 0x7f) ? (char)c : '?';
    }
    out[o] = '\0';
}
