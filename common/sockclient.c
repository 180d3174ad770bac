/*
 * sockclient.c - ask the daemon one socketmap question (see sockclient.h)
 */
#include "autoconfig.h"

#include "sockclient.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "clock.h"

/*
 * connect_one - connect a non-blocking UNIX stream socket before deadline; -1 with errno
 *
 * A UNIX-socket connect completes or fails at once, except that a full
 * listen queue (a daemon too busy to accept) makes a blocking connect wait
 * with no limit and a non-blocking one fail with EAGAIN: that is retried
 * every few milliseconds until the deadline, then reported as ETIMEDOUT.
 */
static int connect_one(const char *path, long long deadline)
{
    struct sockaddr_un sun;
    int fd;

    if (strlen(path) >= sizeof(sun.sun_path)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    memcpy(sun.sun_path, path, strlen(path) + 1);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    while (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
        int saved = errno;

        if ((saved == EAGAIN || saved == EINTR) && clock_mono_ms() < deadline) {
            poll(NULL, 0, 5);
            continue;
        }
        close(fd);
        errno = saved == EAGAIN ? ETIMEDOUT : saved;
        return -1;
    }
    return fd;
}

static sockclient_result sockclient_query_errno(const char *path, const char *alt_path,
                                                const char *name, const char *key, int timeout_ms,
                                                socketmap_status *status, char *data,
                                                size_t datasize, char *err, size_t errsize,
                                                int *connect_errno);

/* wait_fd - poll one fd for events until deadline; 1 ready, 0 timeout, -1 error */
static int wait_fd(int fd, short events, long long deadline)
{
    struct pollfd pfd = {.fd = fd, .events = events};
    int rc;

    for (;;) {
        long long left = deadline - clock_mono_ms();

        if (left <= 0)
            return 0;
        rc = poll(&pfd, 1, (int)left);
        if (rc < 0 && errno == EINTR)
            continue;
        return rc < 0 ? -1 : rc;
    }
}

/* sockclient_query - send the request kind for key, wait for the reply */
sockclient_result sockclient_query(const char *path, const char *alt_path, protocol_kind kind,
                                   const char *key, int timeout_ms, socketmap_status *status,
                                   char *data, size_t datasize, char *err, size_t errsize)
{
    return sockclient_query_errno(path, alt_path, protocol_requests[kind].name, key, timeout_ms,
                                  status, data, datasize, err, errsize, NULL);
}

/* sockclient_ask - send one request of the protocol's table, wait for the typed reply */
void sockclient_ask(const char *path, const char *alt_path, protocol_kind kind, const char *key,
                    int timeout_ms, struct sockclient_reply *reply, char *data, size_t datasize)
{
    reply->result = sockclient_query_errno(path, alt_path, protocol_requests[kind].name, key,
                                           timeout_ms, &reply->status, data, datasize, reply->err,
                                           sizeof(reply->err), &reply->connect_errno);
}

/* sockclient_query_errno - sockclient_query, and the errno of a failed connect */
static sockclient_result sockclient_query_errno(const char *path, const char *alt_path,
                                                const char *name, const char *key, int timeout_ms,
                                                socketmap_status *status, char *data,
                                                size_t datasize, char *err, size_t errsize,
                                                int *connect_errno)
{
    long long deadline = clock_mono_ms() + timeout_ms;
    char req[SOCKETMAP_MAX_REQUEST + 16];
    char reqbody[SOCKETMAP_MAX_REQUEST + 1];
    char *buf = NULL;
    size_t buflen = 0;
    size_t bufsize = 0;
    size_t reqlen;
    size_t sent = 0;
    sockclient_result result = SOCKCLIENT_PROTOCOL;
    const char *used = path;
    int fd;
    int n;

    *status = SOCKETMAP_PERM;
    if (connect_errno != NULL)
        *connect_errno = 0;
    if (datasize > 0)
        data[0] = '\0';
    if (errsize > 0)
        err[0] = '\0';
    fd = connect_one(path, deadline);
    if (fd < 0 && (errno == ENOENT || errno == ENOTDIR) && alt_path != NULL) {
        used = alt_path;
        fd = connect_one(alt_path, deadline);
    }
    if (fd < 0) {
        int e = errno;

        if (connect_errno != NULL)
            *connect_errno = e;
        snprintf(err, errsize, "cannot connect to %s: %s", used, strerror(e));
        if (e == ETIMEDOUT)
            return SOCKCLIENT_TIMEOUT;
        return (e == EACCES || e == EPERM) ? SOCKCLIENT_DENIED : SOCKCLIENT_UNREACHABLE;
    }
    n = snprintf(reqbody, sizeof(reqbody), "%s %s", name, key);
    if (n < 0 || (size_t)n >= sizeof(reqbody) ||
        netstring_encode(req, sizeof(req), reqbody, (size_t)n, &reqlen) < 0) {
        snprintf(err, errsize, "request too long for %s", used);
        close(fd);
        return SOCKCLIENT_PROTOCOL;
    }
    while (sent < reqlen) {
        /* A fresh connection takes a short request at once: wait only when it does not. */
        ssize_t w = send(fd, req + sent, reqlen - sent, MSG_NOSIGNAL);

        if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
            if (wait_fd(fd, POLLOUT, deadline) <= 0) {
                snprintf(err, errsize, "timed out writing to %s", used);
                result = SOCKCLIENT_TIMEOUT;
                goto out;
            }
            continue;
        }
        if (w < 0) {
            snprintf(err, errsize, "cannot write to %s: %s", used, strerror(errno));
            result = SOCKCLIENT_UNREACHABLE;
            goto out;
        }
        sent += (size_t)w;
    }
    for (;;) {
        const char *payload;
        size_t plen;
        size_t consumed;
        netstring_status ns;
        ssize_t r;
        int ready;

        if (buflen == bufsize) {
            size_t nsize = bufsize ? bufsize * 2 : 4096;
            char *nbuf;

            if (nsize > SOCKETMAP_MAX_REPLY + 16)
                nsize = SOCKETMAP_MAX_REPLY + 16;
            if (nsize <= bufsize) {
                snprintf(err, errsize, "reply from %s too long", used);
                goto out;
            }
            nbuf = malloc(nsize);
            if (nbuf == NULL) {
                snprintf(err, errsize, "out of memory reading %s", used);
                goto out;
            }
            if (buf != NULL) {
                memcpy(nbuf, buf, buflen);
                explicit_bzero(buf, buflen);
                free(buf);
            }
            buf = nbuf;
            bufsize = nsize;
        }
        ready = wait_fd(fd, POLLIN, deadline);
        if (ready <= 0) {
            snprintf(err, errsize, "no reply from %s within %d ms", used, timeout_ms);
            result = SOCKCLIENT_TIMEOUT;
            goto out;
        }
        r = recv(fd, buf + buflen, bufsize - buflen, 0);
        if (r < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (r <= 0) {
            snprintf(err, errsize, "%s closed the connection before replying", used);
            result = SOCKCLIENT_UNREACHABLE;
            goto out;
        }
        buflen += (size_t)r;
        ns = netstring_decode(buf, buflen, SOCKETMAP_MAX_REPLY, &payload, &plen, &consumed);
        if (ns == NETSTRING_MORE)
            continue;
        if (ns == NETSTRING_ERROR) {
            snprintf(err, errsize, "malformed reply from %s", used);
            goto out;
        } else {
            const char *d;
            size_t dlen;

            /* No NUL inside: callers take the data as a C string (and wipe that much). */
            if (socketmap_parse_reply(payload, plen, status, &d, &dlen) < 0 ||
                memchr(d, '\0', dlen) != NULL) {
                snprintf(err, errsize, "malformed reply from %s", used);
                goto out;
            }
            if (dlen >= datasize) {
                snprintf(err, errsize, "reply from %s too long", used);
                goto out;
            }
            memcpy(data, d, dlen);
            data[dlen] = '\0';
            result = SOCKCLIENT_OK;
            goto out;
        }
    }
out:
    if (buf != NULL) {
        explicit_bzero(buf, buflen);
        free(buf);
    }
    close(fd);
    return result;
}
