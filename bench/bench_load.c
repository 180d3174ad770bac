/*
 * bench_load.c - load generator for the daemon's socket
 *
 * Usage: bench_load -s SOCKET -a ACCOUNT[,ACCOUNT...] -c CLIENTS -d SECONDS [-r]
 *        bench_load -s SOCKET -a ACCOUNT --herd N
 *
 * Throughput: CLIENTS threads, each on its own connection (with -r, a new
 * connection per request, as the plugin does), ask "token ACCOUNT" in a
 * loop for SECONDS; prints requests per second and latency percentiles.
 * Every reply must be OK.
 *
 * Herd: N threads connect, wait at a barrier, and ask at the same instant;
 * prints how many got a token, how many distinct tokens they got (1: all
 * were served the same refresh) and how long the slowest waited.
 *
 * Output lines start with RESULT (see bench/run.py). No token is printed.
 */
#include "autoconfig.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_common.h"

#define REPLY_MAX 20000
#define MAX_LAT 2000000

static const char *sock_path;
static char **accounts;
static size_t n_accounts;
static int reconnect;
static atomic_int stop;
static atomic_long total_ok;
static atomic_long total_bad;
static double *lat;
static atomic_long n_lat;
static pthread_barrier_t barrier;

struct herd_result {
    int ok;
    unsigned long hash;
    double waited_us;
};

/* make_request - the netstring "token ACCOUNT" */
static int make_request(char *out, size_t outsize, const char *acct)
{
    return snprintf(out, outsize, "%zu:token %s,", strlen(acct) + 6, acct);
}

/* reply_ok - the reply is "n:OK ..." */
static int reply_ok(const char *buf)
{
    const char *colon = strchr(buf, ':');

    return colon != NULL && strncmp(colon + 1, "OK ", 3) == 0;
}

/* worker - ask in a loop until stop */
static void *worker(void *arg)
{
    size_t id = (size_t)arg;
    char *buf = malloc(REPLY_MAX);
    char req[400];
    int reqlen = make_request(req, sizeof(req), accounts[id % n_accounts]);
    int fd = -1;

    pthread_barrier_wait(&barrier);
    while (!atomic_load(&stop)) {
        double t0 = bench_now_us();
        long r;

        if (fd < 0)
            fd = bench_connect(sock_path);
        r = fd < 0 ? -1 : bench_ask(fd, req, (size_t)reqlen, buf, REPLY_MAX);
        if (r > 0)
            buf[r < REPLY_MAX ? r : REPLY_MAX - 1] = '\0';
        if (r < 0 || !reply_ok(buf)) {
            if (atomic_fetch_add(&total_bad, 1) < 3)
                fprintf(stderr, "bench_load: %s: %s\n",
                        fd < 0  ? "connect"
                        : r < 0 ? "exchange"
                                : "reply",
                        r < 0 ? strerror(errno) : "not OK");
            if (fd >= 0)
                close(fd);
            fd = -1;
            continue;
        }
        atomic_fetch_add(&total_ok, 1);
        {
            long k = atomic_fetch_add(&n_lat, 1);

            if (k < MAX_LAT)
                lat[k] = bench_now_us() - t0;
        }
        if (reconnect) {
            close(fd);
            fd = -1;
        }
    }
    if (fd >= 0)
        close(fd);
    explicit_bzero(buf, REPLY_MAX);
    free(buf);
    return NULL;
}

/* herd_worker - connect, wait for everyone, ask once */
static void *herd_worker(void *arg)
{
    struct herd_result *res = arg;
    char *buf = malloc(REPLY_MAX);
    char req[400];
    int reqlen = make_request(req, sizeof(req), accounts[0]);
    int fd = bench_connect(sock_path);
    double t0;
    long r;

    pthread_barrier_wait(&barrier);
    t0 = bench_now_us();
    r = fd < 0 ? -1 : bench_ask(fd, req, (size_t)reqlen, buf, REPLY_MAX);
    res->waited_us = bench_now_us() - t0;
    if (r > 0) {
        long i;

        buf[r < REPLY_MAX ? r : REPLY_MAX - 1] = '\0';
        res->ok = reply_ok(buf);
        res->hash = 5381;
        for (i = 0; i < r; i++)
            res->hash = res->hash * 33 + (unsigned char)buf[i];
    }
    if (fd >= 0)
        close(fd);
    explicit_bzero(buf, REPLY_MAX);
    free(buf);
    return NULL;
}

/* split_accounts - the comma-separated list */
static void split_accounts(char *list)
{
    char *save = NULL;
    char *w;

    accounts = calloc(1024, sizeof(*accounts));
    for (w = strtok_r(list, ",", &save); w != NULL && n_accounts < 1024;
         w = strtok_r(NULL, ",", &save))
        accounts[n_accounts++] = w;
}

/* run_herd - N callers at once */
static int run_herd(size_t n)
{
    pthread_t *th = calloc(n, sizeof(*th));
    struct herd_result *res = calloc(n, sizeof(*res));
    size_t i;
    size_t j;
    size_t ok = 0;
    size_t distinct = 0;
    double slowest = 0;

    pthread_barrier_init(&barrier, NULL, (unsigned)n);
    for (i = 0; i < n; i++)
        pthread_create(&th[i], NULL, herd_worker, &res[i]);
    for (i = 0; i < n; i++)
        pthread_join(th[i], NULL);
    for (i = 0; i < n; i++) {
        int seen = 0;

        ok += (size_t)res[i].ok;
        if (res[i].waited_us > slowest)
            slowest = res[i].waited_us;
        for (j = 0; j < i && !seen; j++)
            seen = res[j].ok && res[j].hash == res[i].hash;
        if (res[i].ok && !seen)
            distinct++;
    }
    printf("RESULT herd callers=%zu ok=%zu distinct_tokens=%zu slowest_ms=%.1f\n", n, ok, distinct,
           slowest / 1000);
    return ok == n ? 0 : 1;
}

int main(int argc, char **argv)
{
    size_t clients = 32;
    double seconds = 5;
    size_t herd = 0;
    pthread_t *th;
    double t0;
    double el;
    size_t i;
    long n;
    int opt;

    for (i = 1; i < (size_t)argc; i++)
        if (strcmp(argv[i], "--herd") == 0 && i + 1 < (size_t)argc) {
            herd = strtoul(argv[i + 1], NULL, 10);
            argv[i] = (char *)"-x";
        }
    opt = getopt(argc, argv, "s:a:c:d:rx");
    while (opt != -1) {
        switch (opt) {
        case 's':
            sock_path = optarg;
            break;
        case 'a':
            split_accounts(optarg);
            break;
        case 'c':
            clients = strtoul(optarg, NULL, 10);
            break;
        case 'd':
            seconds = strtod(optarg, NULL);
            break;
        case 'r':
            reconnect = 1;
            break;
        case 'x':
            optind++; /* --herd's value */
            break;
        default:
            return 2;
        }
        opt = getopt(argc, argv, "s:a:c:d:rx");
    }
    if (sock_path == NULL || n_accounts == 0 || clients == 0) {
        fprintf(stderr, "usage: bench_load -s SOCKET -a ACCOUNT[,...] -c CLIENTS -d SECONDS [-r]\n"
                        "       bench_load -s SOCKET -a ACCOUNT --herd N\n");
        return 2;
    }
    if (herd > 0)
        return run_herd(herd);
    lat = calloc(MAX_LAT, sizeof(*lat));
    th = calloc(clients, sizeof(*th));
    pthread_barrier_init(&barrier, NULL, (unsigned)clients + 1);
    for (i = 0; i < clients; i++)
        pthread_create(&th[i], NULL, worker, (void *)i);
    pthread_barrier_wait(&barrier);
    t0 = bench_now_us();
    usleep((useconds_t)(seconds * 1e6));
    atomic_store(&stop, 1);
    el = (bench_now_us() - t0) / 1e6;
    for (i = 0; i < clients; i++)
        pthread_join(th[i], NULL);
    n = atomic_load(&n_lat) < MAX_LAT ? atomic_load(&n_lat) : MAX_LAT;
    printf("RESULT throughput clients=%zu reconnect=%d seconds=%.1f ok=%ld bad=%ld rps=%.0f "
           "p50_us=%.1f p99_us=%.1f\n",
           clients, reconnect, el, atomic_load(&total_ok), atomic_load(&total_bad),
           (double)atomic_load(&total_ok) / el, bench_percentile(lat, (size_t)n, 50),
           bench_percentile(lat, (size_t)n, 99));
    return atomic_load(&total_bad) == 0 ? 0 : 1;
}
