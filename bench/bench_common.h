/*
 * bench_common.h - small helpers shared by the benchmark programs
 *
 * Monotonic time, percentiles, and a blocking socketmap exchange over a
 * UNIX socket, written for measuring: no retries, no timeouts beyond the
 * socket's own. Benchmarks only; the product's client is common/sockclient.c.
 */
#ifndef OAUTH2_BENCH_COMMON_H
#define OAUTH2_BENCH_COMMON_H

#include <stddef.h>

/* bench_now_us - monotonic microseconds */
double bench_now_us(void);

/* bench_percentile - the p-th percentile (0-100) of n samples, sorting them in place */
double bench_percentile(double *v, size_t n, double p);

/* bench_connect - a connected UNIX stream socket, or -1 */
int bench_connect(const char *path);

/* bench_ask - send one netstring request, read one netstring reply into buf; its length, or -1 */
long bench_ask(int fd, const char *req, size_t reqlen, char *buf, size_t bufsize);

#endif
