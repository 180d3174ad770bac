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

#include "cache.h"

/* loopback_listen - listen on 127.0.0.1:port */
int loopback_listen(unsigned port, unsigned *bound, char *err, size_t errsize)
{
    struct sockaddr_in sin;
    socklen_t slen = sizeof(sin);
    int one = 1;
    int fd;

    if (port > 65535) {
        snprintf(err, errsize, "port %u is not a TCP port", port);
        return -1;
    }
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errsize, "socket: %s", strerror(errno));
        return -1;
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons((unsigned short)port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 || listen(fd, 4) < 0 ||
        getsockname(fd, (struct sockaddr *)&sin, &slen) < 0) {
        snprintf(err, errsize, "cannot listen on 127.0.0.1:%u: %s%s", port, strerror(errno),
                 port != 0 ? " (choose another --port, or leave it out for any free port)" : "");
        close(fd);
        return -1;
    }
    *bound = ntohs(sin.sin_port);
    return fd;
}

/* wait_readable - poll one fd for input until deadline; 1 ready, 0 timed out or stopped */
static int wait_readable(int fd, long long deadline_ms, const volatile sig_atomic_t *stop)
{
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        long long left = deadline_ms - cache_now_ms();
        int n;

        if (left <= 0 || (stop != NULL && *stop))
            return 0;
        n = poll(&p, 1, left > 1000 ? 1000 : (int)left);
        if (n > 0)
            return 1;
        if (n < 0 && errno != EINTR)
            return 0;
    }
}

/* read_request - the request head, up to the blank line; its length, or -1 */
static ssize_t read_request(int cfd, char *buf, size_t size, const volatile sig_atomic_t *stop)
{
    long long deadline = cache_now_ms() + LOOPBACK_CONN_MS;
    size_t len = 0;

    while (len + 1 < size) {
        ssize_t n;

        if (!wait_readable(cfd, deadline, stop))
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

/* loopback_accept - the next GET request's connection and target */
int loopback_accept(int lfd, long long deadline_ms, const volatile sig_atomic_t *stop, char *target,
                    size_t targetsize, char *err, size_t errsize)
{
    char buf[LOOPBACK_MAX_REQUEST + 1];

    for (;;) {
        const char *sp;
        const char *end;
        ssize_t len;
        int cfd;

        if (!wait_readable(lfd, deadline_ms, stop)) {
            explicit_bzero(buf, sizeof(buf));
            snprintf(err, errsize, "%s",
                     stop != NULL && *stop ? "interrupted"
                                           : "timed out waiting for the "
                                             "browser's redirect");
            return -1;
        }
        cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
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
