/*
 * daemonclient.h - what the command line asks the running daemon
 *
 * SYNOPSIS
 *     #include "daemonclient.h"
 *
 *     r = daemonclient_ask(cfg, "account", name, &reply, err, sizeof(err));
 *     ... reply.status, reply.data ...
 *     daemonclient_reply_free(&reply);
 *
 * DESCRIPTION
 *     Every request the CLI sends to the daemon's socket (cfg->socket)
 *     goes through here: "account" (a token), "reload" (reread a state
 *     file), "forget" (revoke), "status". This is the one place that knows
 *     how long each reply may be and how long to wait for it.
 *
 * DIAGNOSTICS
 *     SOCKCLIENT_UNREACHABLE means no daemon runs; other failures come
 *     with err.
 *
 * SECURITY
 *     An "account" reply holds a token: reply.data is wiped when freed.
 */
#ifndef OAUTH2_DAEMONCLIENT_H
#define OAUTH2_DAEMONCLIENT_H

#include <stddef.h>

#include "config.h"
#include "netstring.h"
#include "protocol.h"
#include "sockclient.h"

/* How long the CLI waits for the daemon, which may be refreshing a token. */
#define DAEMONCLIENT_TIMEOUT_MS 30000

/* daemon_reply - a reply: its status and its text (NUL-terminated, malloc'd) */
struct daemon_reply {
    socketmap_status status;
    char *data;
    size_t size; /* of data: protocol_reply_max() of the request */
};

/*
 * daemonclient_ask - send request kind for name to the daemon and wait for the reply;
 * on SOCKCLIENT_OK, reply holds it. reply is always to be freed.
 */
sockclient_result daemonclient_ask(const struct config *cfg, protocol_kind kind, const char *name,
                                   struct daemon_reply *reply, char *err, size_t errsize);

/* daemonclient_reply_free - wipe and free a reply's text; NULL data is fine */
void daemonclient_reply_free(struct daemon_reply *reply);

/* daemonclient_pid - the pid of the process listening on path (SO_PEERCRED), 0 when unknown */
long daemonclient_pid(const char *path);

#endif
