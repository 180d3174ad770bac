/*
 * status.h - what an admin or a monitoring system needs to know about
 *            each account, as one JSON object
 *
 * The daemon answers "status ACCOUNT" with status_json() of its live
 * cache; when no daemon runs, the CLI builds the same object from the
 * state files. The CLI renders it as text (status), JSON (status --json)
 * or a Nagios-style verdict (check), so all three agree.
 *
 * Fields: account, login, grant, authorized, authorized_at,
 * token_expires_at, token_obtained_at, last_refresh, last_result (ok,
 * temporary, needs-person, none), last_error, last_error_code,
 * last_error_hint, last_failure_at, refresh_token_last_used,
 * refresh_token_lapses_at, refresh_token_stored_at, failures (refreshes
 * failed in a row; the daemon's memory, 0 from the state files),
 * needs_person, client_secret_expires_at, certificate_expires_at (times 0
 * when unknown or not applicable). The daemon's reply adds
 * daemon_started_at and daemon_replies (status_set_replies). The CLI adds
 * "daemon": {running, knows_account, pid, socket, error}, so that a
 * daemon that runs but was not reloaded after an account was added is not
 * mistaken for one that is down. Never a token.
 */
#ifndef OAUTH2_STATUS_H
#define OAUTH2_STATUS_H

#include <json-c/json.h>
#include <stdio.h>

#include "cache.h"
#include "netstring.h"
#include "protocol.h"

/* Entra revokes a refresh token unused for 90 days. */
#define STATUS_RT_INACTIVITY_S (90LL * 86400)

/*
 * Replies the daemon sent since it started, by request (protocol_kind;
 * STATUS_REPLY_OTHER: one it could not take, malformed, unknown or from a
 * refused peer) and by status (OK, NOTFOUND, TEMP, PERM).
 */
#define STATUS_REPLY_OTHER PROTOCOL_N_REQUESTS
#define STATUS_REPLY_RESULTS 4
struct status_replies {
    long long started_at; /* the daemon's start, unix time */
    unsigned long long n[PROTOCOL_N_REQUESTS + 1][STATUS_REPLY_RESULTS];
};

/* status_count_reply - count one reply of status to a request of kind */
void status_count_reply(struct status_replies *r, int kind, socketmap_status status);

/*
 * status_set_replies - add "daemon_started_at" and "daemon_replies"
 * ({"token": {"OK": n, "NOTFOUND": n, "TEMP": n, "PERM": n}, ...,
 * "other": {...}}) to a status object
 */
void status_set_replies(json_object *st, const struct status_replies *r);

/* status_needs_person - a's tokens stop until someone acts (authorize, a new secret...) */
int status_needs_person(const struct acct *a);

/* status_json - the status object of one account; the caller puts it */
json_object *status_json(const struct acct *a);

/* What the CLI learnt from the daemon's socket, for the "daemon" member. */
struct status_daemon {
    int running;        /* something answered on the socket */
    long pid;           /* the daemon's pid (SO_PEERCRED), 0 when unknown */
    const char *socket; /* the socket asked */
    const char *error;  /* why it could not be asked, "" when it answered */
};

/*
 * status_set_daemon - add the "daemon" member to st: knows is 1 when the
 * daemon answered for this account, 0 when it said the account is
 * unknown to it, -1 when it could not be asked
 */
void status_set_daemon(json_object *st, const struct status_daemon *d, int knows);

/* status_reload_hint - how to make a running daemon reread its config */
const char *status_reload_hint(json_object *st, char *buf, size_t size);

/* status_print - human-readable lines for one status object */
void status_print(FILE *fp, json_object *st);

typedef enum { CHECK_OK = 0, CHECK_WARNING = 1, CHECK_CRITICAL = 2, CHECK_UNKNOWN = 3 } check_level;

/*
 * status_check - judge one account: level, a short reason, and the days
 * left before its earliest expiry (secret, certificate, refresh token
 * inactivity), or -1 when nothing expires.
 */
check_level status_check(json_object *st, long warn_days, long crit_days, char *why, size_t whysize,
                         long *days_left);

#endif
