/*
 * daemonclient.c - what the command line asks the running daemon
 *
 * SYNOPSIS
 *     See daemonclient.h.
 *
 * DESCRIPTION
 *     A thin layer over sockclient_query(): the request kinds and the size
 *     of each one's reply come from the protocol's table (protocol.h): an
 *     "account" reply carries a token, a "status" reply an account's JSON,
 *     the others a short word or message.
 *
 * SECURITY
 *     Replies are wiped when freed: an "account" reply holds a token.
 */
#include "autoconfig.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "daemonclient.h"
#include "protocol.h"

/* daemonclient_ask - send the request kind for name, wait for the reply */
sockclient_result daemonclient_ask(const struct config *cfg, protocol_kind kind, const char *name,
                                   struct daemon_reply *reply, char *err, size_t errsize)
{
    memset(reply, 0, sizeof(*reply));
    reply->status = SOCKETMAP_TEMP;
    reply->size = protocol_reply_max(kind);
    reply->data = calloc(1, reply->size);
    if (reply->data == NULL) {
        reply->size = 0;
        snprintf(err, errsize, "out of memory");
        return SOCKCLIENT_PROTOCOL;
    }
    return sockclient_query(cfg->socket, NULL, kind, name, DAEMONCLIENT_TIMEOUT_MS, &reply->status,
                            reply->data, reply->size, err, errsize);
}

/* daemonclient_reply_free - wipe and free a reply's text */
void daemonclient_reply_free(struct daemon_reply *reply)
{
    if (reply->data != NULL) {
        explicit_bzero(reply->data, reply->size);
        free(reply->data);
    }
    reply->data = NULL;
    reply->size = 0;
}

/* daemonclient_pid - the pid of the process listening on path (SO_PEERCRED), 0 when unknown */
long daemonclient_pid(const char *path)
{
    struct sockaddr_un sun;
    struct ucred cred;
    socklen_t len = sizeof(cred);
    long pid = 0;
    int fd;

    if (strlen(path) >= sizeof(sun.sun_path))
        return 0;
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    memcpy(sun.sun_path, path, strlen(path) + 1);
    if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0 &&
        getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0)
        pid = (long)cred.pid;
    close(fd);
    return pid;
}
