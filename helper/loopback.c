/*
 * loopback.c - the redirect listener of the browser flow (see loopback.h)
 */
#include "autoconfig.h"

#include "loopback.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"

/* listen_one - bind and listen on one loopback address; the fd, or -1 with errno set */
static int listen_one(int family, unsigned port)
{
    struct sockaddr_storage ss;
    socklen_t slen;
    int one = 1;
    int saved;
    int fd;

    memset(&ss, 0, sizeof(ss));
    if (family == AF_INET) {
        struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

        sin->sin_family = AF_INET;
        sin->sin_port = htons((unsigned short)port);
        sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        slen = sizeof(*sin);
    } else {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons((unsigned short)port);
        sin6->sin6_addr = in6addr_loopback;
        slen = sizeof(*sin6);
    }
    fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if ((family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0) ||
        bind(fd, (struct sockaddr *)&ss, slen) < 0 || listen(fd, 4) < 0) {
        saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

/* bound_port - the port a socket is bound to, 0 on error */
static unsigned bound_port(int fd)
{
    struct sockaddr_in sin;
    socklen_t slen = sizeof(sin);

    if (getsockname(fd, (struct sockaddr *)&sin, &slen) < 0)
        return 0;
    return ntohs(sin.sin_port);
}

/* loopback_close - close both listeners */
void loopback_close(struct loopback *lb)
{
    size_t i;

    for (i = 0; i < 2; i++) {
        if (lb->fd[i] >= 0)
            close(lb->fd[i]);
        lb->fd[i] = -1;
    }
}

/* loopback_listen - 127.0.0.1:port and [::1]:port, both ours */
int loopback_listen(unsigned port, struct loopback *lb, char *err, size_t errsize)
{
    int tries;

    lb->fd[0] = lb->fd[1] = -1;
    lb->port = 0;
    if (port > 65535) {
        snprintf(err, errsize, "port %u is not a TCP port", port);
        return -1;
    }
    for (tries = 0; tries < LOOPBACK_PORT_TRIES; tries++) {
        lb->fd[0] = listen_one(AF_INET, port);
        lb->port = lb->fd[0] >= 0 ? bound_port(lb->fd[0]) : 0;
        if (lb->port == 0) {
            snprintf(err, errsize, "cannot listen on 127.0.0.1:%u: %s%s", port, strerror(errno),
                     port != 0 ? " (choose another --port, or leave it out for any free port)"
                               : "");
            loopback_close(lb);
            return -1;
        }
        lb->fd[1] = listen_one(AF_INET6, lb->port);
        if (lb->fd[1] >= 0)
            return 0;
        /* No IPv6 or no ::1 here: nobody else can listen there either. */
        if (errno == EAFNOSUPPORT || errno == EADDRNOTAVAIL)
            return 0;
        if (errno != EADDRINUSE || port != 0) {
            snprintf(err, errsize,
                     "cannot listen on [::1]:%u: %s; another program holds that port there, and "
                     "a browser going to localhost could reach it instead (choose another "
                     "--port, or leave it out for any free port)",
                     lb->port, strerror(errno));
            loopback_close(lb);
            return -1;
        }
        /* Someone holds [::1] on the port the kernel gave us for 127.0.0.1: try another. */
        loopback_close(lb);
    }
    snprintf(err, errsize, "cannot find a port free on both 127.0.0.1 and [::1] after %d tries",
             LOOPBACK_PORT_TRIES);
    return -1;
}

/* wait_readable - poll fds for input until deadline; the index of a ready one, -1 timed out or
 * stopped */
static int wait_readable(const int *fds, size_t nfds, long long deadline_ms,
                         const volatile sig_atomic_t *stop)
{
    for (;;) {
        struct pollfd p[2];
        long long left = deadline_ms - clock_mono_ms();
        size_t n = 0;
        size_t i;
        int ready;

        if (left <= 0 || (stop != NULL && *stop))
            return -1;
        for (i = 0; i < nfds && n < 2; i++)
            p[n++] = (struct pollfd){.fd = fds[i], .events = POLLIN};
        ready = poll(p, (nfds_t)n, left > 1000 ? 1000 : (int)left);
        if (ready < 0 && errno != EINTR)
            return -1;
        for (i = 0; ready > 0 && i < n; i++)
            if (p[i].revents != 0)
                return (int)i;
    }
}

/* read_request - the request head, up to the blank line; its length, or -1 */
static ssize_t read_request(int cfd, char *buf, size_t size, const volatile sig_atomic_t *stop)
{
    long long deadline = clock_mono_ms() + LOOPBACK_CONN_MS;
    size_t len = 0;

    while (len + 1 < size) {
        ssize_t n;

        if (wait_readable(&cfd, 1, deadline, stop) < 0)
            return -1;
        n = recv(cfd, buf + len, size - 1 - len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        len += (size_t)n;
        buf[len] = '\0';
        if (strstr(buf, "\r\n\r\n") != NULL || strstr(buf, "\n\n") != NULL)
            return (ssize_t)len;
    }
    return -1;
}

/* loopback_respond - a short page, then close */
void loopback_respond(int cfd, int status, const char *title, const char *text)
{
    char body[1024];
    char head[512];
    int blen;
    int hlen;

    blen = snprintf(body, sizeof(body),
                    "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>%s</title></head>"
                    "<body><h1>%s</h1><p>%s</p></body></html>\n",
                    title, title, text);
    if (blen < 0 || (size_t)blen >= sizeof(body))
        blen = 0;
    hlen = snprintf(head, sizeof(head),
                    "HTTP/1.1 %d %s\r\nContent-Type: text/html; charset=utf-8\r\n"
                    "Content-Length: %d\r\nCache-Control: no-store\r\n"
                    "Referrer-Policy: no-referrer\r\nConnection: close\r\n\r\n",
                    status, status == 200 ? "OK" : "Error", blen);
    if (hlen > 0 && (size_t)hlen < sizeof(head) && send(cfd, head, (size_t)hlen, MSG_NOSIGNAL) >= 0)
        send(cfd, body, (size_t)blen, MSG_NOSIGNAL);
    shutdown(cfd, SHUT_WR);
    close(cfd);
}

/* loopback_accept - the next GET request's connection and target, from either listener */
int loopback_accept(const struct loopback *lb, long long deadline_ms,
                    const volatile sig_atomic_t *stop, char *target, size_t targetsize, char *err,
                    size_t errsize)
{
    char buf[LOOPBACK_MAX_REQUEST + 1];
    int fds[2];
    size_t nfds = 0;

    if (lb->fd[0] >= 0)
        fds[nfds++] = lb->fd[0];
    if (lb->fd[1] >= 0)
        fds[nfds++] = lb->fd[1];
    for (;;) {
        const char *sp;
        const char *end;
        ssize_t len;
        int ready;
        int cfd;

        ready = wait_readable(fds, nfds, deadline_ms, stop);
        if (ready < 0) {
            explicit_bzero(buf, sizeof(buf));
            snprintf(err, errsize, "%s",
                     stop != NULL && *stop ? "interrupted"
                                           : "timed out waiting for the "
                                             "browser's redirect");
            return -1;
        }
        cfd = accept4(fds[ready], NULL, NULL, SOCK_CLOEXEC);
        if (cfd < 0)
            continue;
        len = read_request(cfd, buf, sizeof(buf), stop);
        if (len < 0) {
            loopback_respond(cfd, 400, "Bad request", "The request was incomplete or too long.");
            continue;
        }
        if (strncmp(buf, "GET ", 4) != 0) {
            loopback_respond(cfd, 405, "Method not allowed", "Only GET is served here.");
            continue;
        }
        sp = buf + 4;
        end = strpbrk(sp, " \r\n");
        if (end == NULL || *end != ' ' || strncmp(end, " HTTP/1.", 8) != 0 ||
            (size_t)(end - sp) >= targetsize) {
            loopback_respond(cfd, 400, "Bad request", "The request line is malformed or too long.");
            continue;
        }
        memcpy(target, sp, (size_t)(end - sp));
        target[end - sp] = '\0';
        explicit_bzero(buf, sizeof(buf));
        return cfd;
    }
}
