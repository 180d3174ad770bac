/*
 * server.h - the daemon: socketmap server on a UNIX socket, one event loop
 *
 * One thread runs everything: the listening socket, every client, the
 * token refreshes (libcurl's multi interface) and the refresh timers, all
 * through curl_multi_poll(). It sleeps until a client speaks, a transfer
 * progresses or a timer is due; there is no polling loop.
 *
 * Requests (netstrings, Postfix socketmap_table(5)): the table in
 * protocol.h (token, account, status, reload, forget), each answered by
 * its handler in server.c; the cache gives a token or a failure as a typed
 * result and server.c encodes it (protocol.c). Errors: NOTFOUND (no such
 * account), TEMP <why> (will pass: retry later), PERM <why> (needs a
 * person). Clients may send several requests on one connection.
 *
 * Security: a peer whose uid (SO_PEERCRED) is not root, the daemon's own,
 * or in allow_users, and whose gid is not in allow_groups, gets one PERM
 * reply and is disconnected. Requests are capped at SOCKETMAP_MAX_REQUEST;
 * malformed ones end the connection. Idle connections time out after 60 s,
 * a reply left unread after 5 s; with the client table full, the idle
 * connection idle longest goes, or else the oldest connection of the uid
 * holding the most, so that one peer cannot keep the others out. What any
 * peer can make the daemon log (refusals, malformed requests, unknown
 * accounts) is rate-limited (loglimit.h). Started as root, the daemon
 * creates the socket without following a link in its directory, which may
 * belong to another user (see listen_socket()). docs/SECURITY.md.
 */
#ifndef OAUTH2_SERVER_H
#define OAUTH2_SERVER_H

/* server_run - bind, drop privileges, serve until SIGTERM; returns the exit status */
int server_run(const char *config_file, int verbose, int use_syslog);

#endif
