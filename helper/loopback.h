/*
 * loopback.h - the tiny HTTP listener that receives the browser's
 *              redirect after an authorization (RFC 8252 7.3)
 *
 * Listens on 127.0.0.1 and [::1], on the same port: "localhost" in the
 * redirect URI may resolve to either, and a port held on one address only
 * would let another local user take the other one and catch the code
 * (with IPv6 absent, nobody can listen on ::1, and 127.0.0.1 alone is
 * enough). One connection at a time: read at most
 * LOOPBACK_MAX_REQUEST bytes of one request within LOOPBACK_CONN_MS, hand
 * the request target of a GET to the caller, who answers with
 * loopback_respond(). Anything else (other methods, oversized or slow
 * requests) gets an error status and the connection is closed. Nothing is
 * logged: the request target holds the authorization code.
 *
 * Security: bounded in size and time, no keep-alive, no threads; the
 * caller checks the "state" parameter before trusting the code.
 */
#ifndef OAUTH2_LOOPBACK_H
#define OAUTH2_LOOPBACK_H

#include <signal.h>
#include <stddef.h>

#define LOOPBACK_MAX_REQUEST 8192
#define LOOPBACK_CONN_MS 10000
#define LOOPBACK_PORT_TRIES 20

/* The listeners: one port on both loopback addresses. */
struct loopback {
    int fd[2];     /* 127.0.0.1, [::1] (-1 when the host has no IPv6 loopback) */
    unsigned port; /* the port, the same on both */
};

/*
 * loopback_listen - listen on 127.0.0.1:port and [::1]:port (port 0: one
 * that is free on both); -1 with err when either is taken
 */
int loopback_listen(unsigned port, struct loopback *lb, char *err, size_t errsize);

/* loopback_close - close the listeners */
void loopback_close(struct loopback *lb);

/*
 * loopback_accept - wait for the next GET request on either address until
 * deadline_ms (clock_mono_ms time) or until *stop is set; the connection's
 * fd with the request target in target. -1 with err on timeout,
 * interruption or error.
 */
int loopback_accept(const struct loopback *lb, long long deadline_ms,
                    const volatile sig_atomic_t *stop, char *target, size_t targetsize, char *err,
                    size_t errsize);

/* loopback_respond - send a short HTML page with status and close the connection */
void loopback_respond(int cfd, int status, const char *title, const char *text);

#endif
