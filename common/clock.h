/*
 * clock.h - the clocks: monotonic for deadlines and lifetimes, wall for what is stored
 *
 * Every deadline, timeout, backoff and token lifetime is measured on
 * CLOCK_MONOTONIC, so stepping the wall clock (NTP, an admin, a VM resume)
 * moves none of them. The wall clock is read only for what is written to
 * disk or shown to a person (an expiry as unix time, a timestamp).
 *
 * The token cache reads these through its own injectable clock
 * (cache_set_clock) so its refresh policy can be unit-tested; nobody else
 * needs to include cache.h for a clock.
 */
#ifndef OAUTH2_CLOCK_H
#define OAUTH2_CLOCK_H

/* clock_mono_ms - CLOCK_MONOTONIC in milliseconds: deadlines and lifetimes */
long long clock_mono_ms(void);

/* clock_wall_ms - CLOCK_REALTIME in milliseconds (unix time): only what is stored or shown */
long long clock_wall_ms(void);

/* clock_wall_s - CLOCK_REALTIME in seconds (unix time): only what is stored or shown */
long long clock_wall_s(void);

#endif
