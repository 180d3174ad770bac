/*
 * log.c - one line per event, to stderr or syslog (see log.h)
 *
 * Under systemd, stderr is a stream into the journal: systemd sets
 * JOURNAL_STREAM to that stream's "device:inode". When it names our stderr,
 * each line starts with its sd-daemon(3) priority ("<3>" error, "<4>"
 * warning, "<6>" info, "<7>" debug) so that "journalctl -p err" and the
 * unit's SyslogFacility= see real priorities; journald adds the identifier
 * and pid itself. A stderr redirected elsewhere (a file, a pipe) gets no
 * prefix, even with JOURNAL_STREAM inherited.
 */
#include "autoconfig.h"

#include "log.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "text.h"

static const char *log_ident = "oauth2-token-helper";
static int log_syslog;
static int log_verbose;
static int log_muted;
static int log_journal;

/* log_parse_id - a decimal number ending at stop (JOURNAL_STREAM); -1 if none or too big */
static int log_parse_id(const char **p, char stop, unsigned long long *out)
{
    unsigned long long v = 0;
    const char *s = *p;

    if (*s < '0' || *s > '9')
        return -1;
    while (*s >= '0' && *s <= '9') {
        if (v > (~0ULL - 9) / 10)
            return -1;
        v = v * 10 + (unsigned)(*s - '0');
        s++;
    }
    if (*s != stop)
        return -1;
    *out = v;
    *p = s + (stop != '\0');
    return 0;
}

/* log_stderr_is_journal - JOURNAL_STREAM ("dev:ino") names our stderr (sd-daemon(3)) */
static int log_stderr_is_journal(void)
{
    const char *env = getenv("JOURNAL_STREAM");
    unsigned long long dev;
    unsigned long long ino;
    struct stat st;

    if (env == NULL || log_parse_id(&env, ':', &dev) < 0 || log_parse_id(&env, '\0', &ino) < 0)
        return 0;
    if (fstat(STDERR_FILENO, &st) < 0)
        return 0;
    return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

/* log_open - choose the destination */
void log_open(const char *ident, int use_syslog, int verbose)
{
    log_ident = ident;
    log_syslog = use_syslog;
    log_verbose = verbose;
    log_journal = !use_syslog && log_stderr_is_journal();
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
    if (log_journal)
        fprintf(stderr, "<%d>%s%s\n", prio, word, line);
    else
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

/* log_clean - printable ASCII only, cut short: text_clean for a log line */
void log_clean(char *out, size_t outsize, const char *in, size_t inlen)
{
    text_clean(out, outsize, in, inlen, SIZE_MAX, TEXT_WS_SPACE | TEXT_STOP_NUL);
}
