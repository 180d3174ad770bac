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

typedef enum {
    SOCKCLIENT_OK,          /* a reply arrived; see *status */
    SOCKCLIENT_UNREACHABLE, /* no socket, or nobody listening: daemon not running */
    SOCKCLIENT_DENIED,      /* the socket's permissions refused us */
    SOCKCLIENT_TIMEOUT,     /* no complete reply before the deadline, or the listen queue stayed full */
    SOCKCLIENT_PROTOCOL,    /* the daemon sent something that is not a socketmap reply */
} sockclient_result;

/*
 * sockclient_query - send "name key", wait for the reply
 *
 * On SOCKCLIENT_OK, data (NUL-terminated, at most datasize-1 bytes) holds
 * the reply's text; otherwise err says what went wrong, naming the socket.
 * The caller wipes data when it may hold a token.
 */
sockclient_result sockclient_query(const char *path, const char *alt_path, const char *name,
                                   const char *key, int timeout_ms, socketmap_status *status,
                                   char *data, size_t datasize, char *err, size_t errsize);

#endif
