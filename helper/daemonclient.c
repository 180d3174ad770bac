/*
 * daemonclient.c - what the command line asks the running daemon
 *
 * SYNOPSIS
 *     See daemonclient.h.
 *
 * DESCRIPTION
 *     A thin layer over sockclient_query() with one table of the requests
 *     the CLI makes and the size of each one's reply: an "account" reply
 *     carries a token, a "status" reply an account's JSON, the others a
 *     short word or message.
 *
 * DIAGNOSTICS
 *     An unknown verb is a programming error; it is refused with err.
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
#include "saslwire.h"

/* The requests, each with the most its reply may hold. */
static const struct {
    const char *verb;
    size_t reply_size;
} requests[] = {
    {"account", SASLWIRE_MAX_TOKEN + 1024}, /* "login=... token=... expires=..." */
    {"status", SOCKETMAP_MAX_REPLY},        /* an account's status as JSON */
    {"reload", 256},                        /* a word, or why not */
    {"forget", 256},                        /* a word, or why not */
};

/* daemonclient_ask - send "verb name", wait for the reply */
sockclient_result daemonclient_ask(const struct config *cfg, const char *verb, const char *name,
                                   struct daemon_reply *reply, char *err, size_t errsize)
{
    size_t i;

    memset(reply, 0, sizeof(*reply));
    reply->status = SOCKETMAP_TEMP;
    for (i = 0; i < sizeof(requests) / sizeof(requests[0]); i++)
        if (strcmp(requests[i].verb, verb) == 0)
            break;
    if (i == sizeof(requests) / sizeof(requests[0])) {
        snprintf(err, errsize, "internal error: no daemon request %s", verb);
        return SOCKCLIENT_PROTOCOL;
    }
    reply->data = calloc(1, requests[i].reply_size);
    if (reply->data == NULL) {
        snprintf(err, errsize, "out of memory");
        return SOCKCLIENT_PROTOCOL;
    }
    reply->size = requests[i].reply_size;
    return sockclient_query(cfg->socket, NULL, verb, name, DAEMONCLIENT_TIMEOUT_MS, &reply->status,
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
