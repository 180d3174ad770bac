/*
 * loopback.h - the tiny HTTP listener that receives the browser's
 *              redirect after an authorization (RFC 8252 7.3)
 *
 * Listens on 127.0.0.1 only. One connection at a time: read at most
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

/* loopback_listen - listen on 127.0.0.1:port (0: any free one); the fd and *bound, or -1 with err
 */
int loopback_listen(unsigned port, unsigned *bound, char *err, size_t errsize);

/*
 * loopback_accept - wait for the next GET request until deadline_ms (unix
 * time in ms) or until *stop is set; the connection's fd with the request
 * target in target. -1 with err on timeout, interruption or error.
 */
int loopback_accept(int lfd, long long deadline_ms, const volatile sig_atomic_t *stop, char *target,
                    size_t targetsize, char *err, size_t errsize);

/* loopback_respond - send a short HTML page with status and close the connection */
void loopback_respond(int cfd, int status, const char *title, const char *text);

#endif
