/*
 * bench_latency.c - token latency seen by the plugin, loaded through
 *                   libsasl2 as Postfix loads it, beside the physical floor
 *
 * Usage: bench_latency -c CONFIG -s SOCKET -a ACCOUNT -p PLUGIN_SO [-n N] [-d] [-F]
 *
 * Ours: sasl_client_init() once (the plugin reads CONFIG, named by
 * OAUTH2_TOKEN_HELPER_CONFIG, for the socket), then per authentication
 * sasl_client_new + sasl_client_start("XOAUTH2") + sasl_dispose, with
 * the plugin alone in SASL_PATH and the daemon holding a cached token.
 * Timed: sasl_client_start (the token request and the initial response),
 * and the three calls together.
 *
 * With -F, the floor is not measured. With -d, then the same logins with the daemon unreachable
 * (its socket renamed away for the while, the daemon still running): each is served by the token
 * the plugin kept from the logins before (a daemon restart).
 *
 * Floor: a child process that answers every request on its own UNIX
 * socket with a canned reply as long as the daemon's, timed the way the
 * plugin talks to the daemon (connect, request, reply, close) and on one
 * connection kept open. Nothing can answer faster than that.
 *
 * Output, one line per measurement, microseconds:
 *     RESULT name n=N p50=... p99=... mean=...
 */
#include "autoconfig.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sasl/sasl.h>
#include <sasl/saslplug.h>

#include "bench_common.h"

#define REPLY_MAX 20000

static const char *account;

/* get_simple - the SASL authname, as Postfix passes it */
static int get_simple(void *context, int id, const char **result, unsigned *len)
{
    (void)context;
    if (id != SASL_CB_AUTHNAME && id != SASL_CB_USER)
        return SASL_FAIL;
    *result = account;
    if (len != NULL)
        *len = (unsigned)strlen(account);
    return SASL_OK;
}

/* get_secret - Postfix's password field (unused by the plugin) */
static int get_secret(sasl_conn_t *conn, void *context, int id, sasl_secret_t **psecret)
{
    static union {
        sasl_secret_t s;
        unsigned char bytes[sizeof(sasl_secret_t) + 16];
    } secret;

    (void)conn;
    (void)context;
    (void)id;
    secret.s.len = 6;
    memcpy(secret.s.data, "unused", 7);
    *psecret = &secret.s;
    return SASL_OK;
}

/* report - print percentiles of n samples */
static void report(const char *name, double *v, size_t n)
{
    double sum = 0;
    size_t i;

    for (i = 0; i < n; i++)
        sum += v[i];
    printf("RESULT %s n=%zu p50=%.1f p99=%.1f mean=%.1f\n", name, n, bench_percentile(v, n, 50),
           bench_percentile(v, n, 99), sum / (double)n);
    fflush(stdout);
}

/* floor_server - the child: answer every request with the canned reply */
static void floor_server(int lfd, const char *reply, size_t replylen)
{
    for (;;) {
        char buf[4096];
        int fd = accept(lfd, NULL, NULL);

        if (fd < 0)
            continue;
        for (;;) {
            ssize_t r = recv(fd, buf, sizeof(buf), 0);

            if (r <= 0 || send(fd, reply, replylen, MSG_NOSIGNAL) < 0)
                break;
        }
        close(fd);
    }
}

/* measure_floor - raw UNIX-socket round trips with a reply of replylen bytes */
static int measure_floor(const char *req, size_t reqlen, size_t replylen, size_t n, double *v)
{
    char dir[] = "/tmp/bench-floor.XXXXXX";
    char path[100];
    char *reply = malloc(replylen);
    char *buf = malloc(REPLY_MAX);
    struct sockaddr_un sun;
    size_t i;
    pid_t pid;
    int lfd;
    int fd;
    int n_digits;

    if (reply == NULL || buf == NULL || mkdtemp(dir) == NULL)
        return -1;
    /* A netstring of exactly replylen bytes. */
    n_digits = snprintf(reply, replylen, "%zu", replylen);
    n_digits = snprintf(reply, replylen, "%zu:", replylen - (size_t)n_digits - 2);
    memset(reply + n_digits, 'x', replylen - (size_t)n_digits - 1);
    reply[replylen - 1] = ',';
    snprintf(path, sizeof(path), "%s/floor", dir);
    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    memcpy(sun.sun_path, path, strlen(path) + 1);
    lfd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&sun, sizeof(sun)) < 0 || listen(lfd, 64) < 0)
        return -1;
    pid = fork();
    if (pid == 0) {
        floor_server(lfd, reply, replylen);
        _exit(0);
    }
    close(lfd);
    for (i = 0; i < n + n / 10; i++) {
        double t0 = bench_now_us();

        fd = bench_connect(path);
        if (fd < 0 || bench_ask(fd, req, reqlen, buf, REPLY_MAX) != (long)replylen)
            return -1;
        close(fd);
        if (i >= n / 10)
            v[i - n / 10] = bench_now_us() - t0;
    }
    report("floor_connect_per_request", v, n);
    fd = bench_connect(path);
    for (i = 0; i < n + n / 10; i++) {
        double t0 = bench_now_us();

        if (bench_ask(fd, req, reqlen, buf, REPLY_MAX) != (long)replylen)
            return -1;
        if (i >= n / 10)
            v[i - n / 10] = bench_now_us() - t0;
    }
    close(fd);
    report("floor_kept_connection", v, n);
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    unlink(path);
    rmdir(dir);
    free(reply);
    free(buf);
    return 0;
}

/* one_start - sasl_client_new + timed sasl_client_start + sasl_dispose; -1 on failure */
static int one_start(sasl_callback_t *callbacks, double *start_us, double *total_us)
{
    sasl_conn_t *conn = NULL;
    const char *out = NULL;
    const char *mech = NULL;
    unsigned outlen = 0;
    double t0 = bench_now_us();
    double t1;
    double t2;
    int rc;

    if (sasl_client_new("smtp", "smtp.example.net", NULL, NULL, callbacks, 0, &conn) != SASL_OK)
        return -1;
    t1 = bench_now_us();
    rc = sasl_client_start(conn, "XOAUTH2", NULL, &out, &outlen, &mech);
    t2 = bench_now_us();
    if ((rc != SASL_OK && rc != SASL_CONTINUE) || outlen < 100 || strcmp(mech, "XOAUTH2")) {
        fprintf(stderr, "sasl_client_start: %s\n", sasl_errdetail(conn));
        sasl_dispose(&conn);
        return -1;
    }
    sasl_dispose(&conn);
    *start_us = t2 - t1;
    *total_us = bench_now_us() - t0;
    return 0;
}

/*
 * measure_plugin - sasl_client_new/start/dispose through libsasl2; with
 * away (the daemon's socket path), then the same with the socket renamed
 */
static int measure_plugin(const char *plugin, size_t n, double *start_us, double *total_us,
                          const char *away)
{
    static sasl_callback_t callbacks[] = {
        {SASL_CB_AUTHNAME, (sasl_callback_ft)(void (*)(void))get_simple, NULL},
        {SASL_CB_PASS, (sasl_callback_ft)(void (*)(void))get_secret, NULL},
        {SASL_CB_LIST_END, NULL, NULL},
    };
    char dir[] = "/tmp/bench-sasl.XXXXXX";
    char link[200];
    size_t i;

    if (mkdtemp(dir) == NULL)
        return -1;
    snprintf(link, sizeof(link), "%s/liboauth2helper.so", dir);
    if (symlink(plugin, link) < 0)
        return -1;
    setenv("SASL_PATH", dir, 1);
    if (sasl_client_init(NULL) != SASL_OK) {
        fprintf(stderr, "sasl_client_init failed\n");
        return -1;
    }
    for (i = 0; i < n + n / 10; i++) {
        double s_us;
        double t_us;

        if (one_start(callbacks, &s_us, &t_us) < 0)
            return -1;
        if (i >= n / 10) {
            start_us[i - n / 10] = s_us;
            total_us[i - n / 10] = t_us;
        }
    }
    report("plugin_sasl_client_start", start_us, n);
    report("plugin_new_start_dispose", total_us, n);
    if (away != NULL) {
        char moved[200];
        int failed = 0;

        snprintf(moved, sizeof(moved), "%s.away", away);
        if (rename(away, moved) < 0) {
            perror(away);
            return -1;
        }
        for (i = 0; i < n && !failed; i++)
            failed = one_start(callbacks, &start_us[i], &total_us[i]) < 0;
        if (rename(moved, away) < 0 || failed)
            return -1;
        report("plugin_kept_daemon_away", start_us, n);
    }
    sasl_client_done();
    unlink(link);
    rmdir(dir);
    return 0;
}

int main(int argc, char **argv)
{
    const char *config = NULL;
    const char *sock = NULL;
    const char *plugin = NULL;
    int away = 0;
    int floor = 1;
    size_t n = 20000;
    char req[400];
    char *buf = malloc(REPLY_MAX);
    double *v1 = NULL;
    double *v2 = NULL;
    long replylen;
    int reqlen;
    int opt;
    int fd;

    opt = getopt(argc, argv, "c:s:a:p:n:dF");
    while (opt != -1) {
        switch (opt) {
        case 'c':
            config = optarg;
            break;
        case 's':
            sock = optarg;
            break;
        case 'a':
            account = optarg;
            break;
        case 'p':
            plugin = optarg;
            break;
        case 'n':
            n = strtoul(optarg, NULL, 10);
            break;
        case 'd':
            away = 1;
            break;
        case 'F':
            floor = 0;
            break;
        default:
            return 2;
        }
        opt = getopt(argc, argv, "c:s:a:p:n:dF");
    }
    if (config == NULL || sock == NULL || account == NULL || plugin == NULL || n == 0 ||
        buf == NULL) {
        fprintf(
            stderr,
            "usage: bench_latency -c CONFIG -s SOCKET -a ACCOUNT -p PLUGIN_SO [-n N] [-d] [-F]\n");
        return 2;
    }
    setenv("OAUTH2_TOKEN_HELPER_CONFIG", config, 1);
    v1 = calloc(n, sizeof(*v1));
    v2 = calloc(n, sizeof(*v2));
    reqlen = snprintf(req, sizeof(req), "%zu:account %s,", strlen(account) + 8, account);
    fd = bench_connect(sock);
    replylen = -1;
    if (v1 != NULL && v2 != NULL && fd >= 0)
        replylen = bench_ask(fd, req, (size_t)reqlen, buf, REPLY_MAX);
    if (replylen < 0 || strncmp(strchr(buf, ':') + 1, "OK ", 3) != 0) {
        fprintf(stderr, "bench_latency: the daemon at %s does not serve %s\n", sock, account);
        return 1;
    }
    close(fd);
    printf("INFO reply_bytes=%ld\n", replylen);
    if (floor && measure_floor(req, (size_t)reqlen, (size_t)replylen, n, v1) < 0) {
        fprintf(stderr, "bench_latency: floor measurement failed\n");
        return 1;
    }
    if (measure_plugin(plugin, n, v1, v2, away ? sock : NULL) < 0) {
        fprintf(stderr, "bench_latency: plugin measurement failed\n");
        return 1;
    }
    explicit_bzero(buf, REPLY_MAX);
    free(buf);
    free(v1);
    free(v2);
    return 0;
}
