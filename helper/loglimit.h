/*
 * loglimit.h - at most a few lines a second of one kind, then a summary
 *
 *     static struct loglimit refused = LOGLIMIT_INIT(LOGLIMIT_WARN);
 *     loglimit(&refused, "refused a connection from uid %u ...", uid);
 *     ...
 *     loglimit_flush(&refused);         (from the event loop's timer)
 *
 * Anyone who can connect to the socket can make the daemon log a line (a
 * refused uid, a malformed request): each kind is logged at most
 * LOGLIMIT_BURST times per LOGLIMIT_WINDOW_MS. The first lines of a window
 * are logged as they come, so the cause is seen; the others are counted, and
 * when the window ends one line says how many were left out and repeats the
 * last of them. Windows run on CLOCK_MONOTONIC.
 */
#ifndef OAUTH2_LOGLIMIT_H
#define OAUTH2_LOGLIMIT_H

#define LOGLIMIT_BURST 5
#define LOGLIMIT_WINDOW_MS 10000
#define LOGLIMIT_LINE 256

enum loglimit_level { LOGLIMIT_INFO, LOGLIMIT_WARN };

struct loglimit {
    enum loglimit_level level;
    long long window_start;   /* monotonic ms; 0: no window open */
    unsigned count;           /* lines of this kind in the window */
    unsigned long suppressed; /* of them, not logged */
    char last[LOGLIMIT_LINE]; /* the last one not logged */
};

#define LOGLIMIT_INIT(lvl)                                                                         \
    {                                                                                              \
        .level = (lvl)                                                                             \
    }

/* loglimit - log a line of this kind unless too many came in the window */
void loglimit(struct loglimit *ll, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* loglimit_flush - the summary of a window that has ended */
void loglimit_flush(struct loglimit *ll);

/* loglimit_due_ms - milliseconds until a summary is due; -1 when none is */
long long loglimit_due_ms(const struct loglimit *ll);

#endif
