/*
 * sockclient.h - ask the daemon one socketmap question over its UNIX socket
 *
 * Used by the SASL plugin (inside Postfix's smtp process) and by the CLI.
 * Blocking, with one overall deadline; never raises SIGPIPE and never
 * touches process-wide state, because the plugin lives in someone else's
 * process.
 *
 * When path cannot be reached (ENOENT, ENOTDIR) and alt_path is given, it
 * is tried too: Postfix's chrooted smtp sees the queue directory as "/",
 * while its working directory is the queue directory in either case, so
 * the plugin passes the socket's path relative to it as alt_path.
 */
#ifndef OAUTH2_SOCKCLIENT_H
#define OAUTH2_SOCKCLIENT_H

#include <stddef.h>

#include "netstring.h"
#include "protocol.h"

typedef enum {
    SOCKCLIENT_OK,          /* a reply arrived; see *status */
    SOCKCLIENT_UNREACHABLE, /* no socket, or nobody listening: daemon not running */
    SOCKCLIENT_DENIED,      /* the socket's permissions refused us */
    SOCKCLIENT_TIMEOUT, /* no complete reply before the deadline, or the listen queue stayed full */
    SOCKCLIENT_PROTOCOL, /* the daemon sent something that is not a socketmap reply */
} sockclient_result;

/*
 * sockclient_query - send the request kind (protocol.h) for key, wait for the reply
 *
 * On SOCKCLIENT_OK, data (NUL-terminated, at most datasize-1 bytes) holds
 * the reply's text; otherwise err says what went wrong, naming the socket.
 * The caller wipes data when it may hold a token.
 */
sockclient_result sockclient_query(const char *path, const char *alt_path, protocol_kind kind,
                                   const char *key, int timeout_ms, socketmap_status *status,
                                   char *data, size_t datasize, char *err, size_t errsize);

/* A typed reply: what happened, the daemon's status, and why not when it failed. */
struct sockclient_reply {
    sockclient_result result;
    socketmap_status status; /* SOCKCLIENT_OK: the daemon's answer */
    int connect_errno; /* the errno of a failed connect (UNREACHABLE, DENIED, TIMEOUT), else 0 */
    char err[600];     /* not SOCKCLIENT_OK: what went wrong, naming the socket */
};

/*
 * sockclient_ask - send the request kind (protocol.h) for key and wait for
 * the reply; data as for sockclient_query. The plugin and the CLI use this
 * instead of parsing err: connect_errno says why the socket was not reached.
 */
void sockclient_ask(const char *path, const char *alt_path, protocol_kind kind, const char *key,
                    int timeout_ms, struct sockclient_reply *reply, char *data, size_t datasize);

#endif
