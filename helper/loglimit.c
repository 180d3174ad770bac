/*
 * loglimit.c - rate-limited log lines (see loglimit.h)
 */
#include "autoconfig.h"

#include "loglimit.h"

#include <stdarg.h>
#include <stdio.h>

#include "clock.h"
#include "log.h"

/* loglimit_now - monotonic milliseconds, never 0 */
static long long loglimit_now(void)
{
    return clock_mono_ms() + 1;
}

/* loglimit_emit - one line at the kind's level */
static void loglimit_emit(const struct loglimit *ll, const char *line)
{
    if (ll->level == LOGLIMIT_WARN)
        log_warn("%s", line);
    else
        log_info("%s", line);
}

/* loglimit_flush - the summary of a window that has ended */
void loglimit_flush(struct loglimit *ll)
{
    char line[LOGLIMIT_LINE + 96];

    if (ll->window_start == 0 || loglimit_now() - ll->window_start < LOGLIMIT_WINDOW_MS)
        return;
    if (ll->suppressed > 0) {
        snprintf(line, sizeof(line), "%lu similar messages suppressed in %d s; the last: %s",
                 ll->suppressed, LOGLIMIT_WINDOW_MS / 1000, ll->last);
        loglimit_emit(ll, line);
    }
    ll->window_start = 0;
    ll->count = 0;
    ll->suppressed = 0;
}

/* loglimit - log a line of this kind unless too many came in the window */
void loglimit(struct loglimit *ll, const char *fmt, ...)
{
    char line[LOGLIMIT_LINE];
    va_list ap;

    loglimit_flush(ll);
    if (ll->window_start == 0)
        ll->window_start = loglimit_now();
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (ll->count < LOGLIMIT_BURST) {
        ll->count++;
        loglimit_emit(ll, line);
        return;
    }
    ll->suppressed++;
    snprintf(ll->last, sizeof(ll->last), "%s", line);
}

/* loglimit_due_ms - milliseconds until a summary is due; -1 when none is */
long long loglimit_due_ms(const struct loglimit *ll)
{
    long long left;

    if (ll->window_start == 0 || ll->suppressed == 0)
        return -1;
    left = ll->window_start + LOGLIMIT_WINDOW_MS - loglimit_now();
    return left > 0 ? left : 0;
}
