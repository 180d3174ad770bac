/*
 * tap.h - a minimal Test Anything Protocol emitter for the unit tests
 *
 * ok(cond, fmt, ...) prints "ok N - ..." or "not ok N - ..."; done_testing()
 * prints the plan and returns the exit status for main(). skip_check()
 * marks a check that cannot run here: a skip, or a failure under CI=true,
 * where scripts/test has installed every package the tests use;
 * skip_by_design() one that does not apply to this build, a skip everywhere.
 */
#ifndef OAUTH2_TAP_H
#define OAUTH2_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tap_count;
static int tap_failed;

__attribute__((format(printf, 2, 3))) static int ok(int cond, const char *fmt, ...)
{
    va_list ap;

    tap_count++;
    printf("%sok %d - ", cond ? "" : "not ", tap_count);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    if (!cond)
        tap_failed++;
    fflush(stdout);
    return cond;
}

/* tap_in_ci - CI=true: a missing tool fails a check instead of skipping it */
__attribute__((unused)) static int tap_in_ci(void)
{
    const char *ci = getenv("CI");

    return ci != NULL && strcmp(ci, "true") == 0;
}

/* skip_check - the check "what" cannot run here because of "why" */
__attribute__((unused)) static int skip_check(const char *what, const char *why)
{
    if (tap_in_ci())
        return ok(0, "%s: cannot run: %s (CI=true)", what, why);
    return ok(1, "%s # SKIP %s", what, why);
}

/* skip_by_design - the check "what" does not apply to this build (e.g. a sanitizer build) */
__attribute__((unused)) static int skip_by_design(const char *what, const char *why)
{
    return ok(1, "%s # SKIP %s", what, why);
}

static int done_testing(void)
{
    printf("1..%d\n", tap_count);
    return tap_failed ? 1 : 0;
}

#endif
