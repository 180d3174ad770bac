/*
 * clock.c - the monotonic and wall clocks (see clock.h)
 */
#include "autoconfig.h"

#include "clock.h"

#include <time.h>

/* clock_mono_ms - CLOCK_MONOTONIC in milliseconds */
long long clock_mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* clock_wall_ms - CLOCK_REALTIME in milliseconds */
long long clock_wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* clock_wall_s - CLOCK_REALTIME in seconds */
long long clock_wall_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec;
}
