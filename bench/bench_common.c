/*
 * bench_common.c - helpers shared by the benchmark programs (see bench_common.h)
 */
#include "autoconfig.h"

#include "bench_common.h"

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* bench_now_us - monotonic microseconds */
double bench_now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* cmp_double - qsort order */
static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a;
    double y = *(const double *)b;

    return x < y ? -1 : x > y;
}

/* bench_percentile - the p-th percentile, nearest rank */
double bench_percentile(double *v, size_t n, double p)
{
    size_t k;

    if (n == 0)
        return 0;
    qsort(v, n, sizeof(*v), cmp_double);
    k = (size_t)(p / 100.0 * (double)n);
    if (k >= n)
        k = n - 1;
    return v[k];
}

/* bench_connect - a connected UNIX stream socket */
int bench_connect(const char *path)
{
    struct sockaddr_un sun;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0 || strlen(path) >= sizeof(sun.sun_path)) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    memcpy(sun.sun_path, path, strlen(path) + 1);
    if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* bench_ask - one request, one reply */
long bench_ask(int fd, const char *req, size_t reqlen, char *buf, size_t bufsize)
{
    size_t got = 0;
    size_t want = 0;
    size_t sent = 0;

    while (sent < reqlen) {
        ssize_t w = send(fd, req + sent, reqlen - sent, MSG_NOSIGNAL);

        if (w <= 0)
            return -1;
        sent += (size_t)w;
    }
    for (;;) {
        ssize_t r = recv(fd, buf + got, bufsize - got, 0);

        if (r <= 0)
            return -1;
        got += (size_t)r;
        if (want == 0) {
            char *colon = memchr(buf, ':', got);

            if (colon != NULL) {
                size_t len = 0;
                char *p;

                for (p = buf; p < colon; p++)
                    len = len * 10 + (size_t)(*p - '0');
                want = (size_t)(colon - buf) + 1 + len + 1;
                if (want > bufsize)
                    return -1;
            }
        }
        if (want != 0 && got >= want)
            return (long)got;
        if (got == bufsize)
            return -1;
    }
}
