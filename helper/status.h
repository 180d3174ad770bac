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
 * token_expires_at, last_refresh, last_result (ok, temporary,
 * needs-person, none), last_error, last_error_code, last_error_hint,
 * last_failure_at, refresh_token_last_used, refresh_token_lapses_at,
 * client_secret_expires_at, certificate_expires_at (0 when unknown or
 * not applicable). Never a token.
 */
#ifndef OAUTH2_STATUS_H
#define OAUTH2_STATUS_H

#include <json-c/json.h>
#include <stdio.h>

#include "cache.h"

/* Entra revokes a refresh token unused for 90 days. */
#define STATUS_RT_INACTIVITY_S (90LL * 86400)

/* status_json - the status object of one account; the caller puts it */
json_object *status_json(const struct acct *a);

/* status_print - human-readable lines for one status object */
void status_print(FILE *fp, json_object *st, int daemon_running);

typedef enum { CHECK_OK = 0, CHECK_WARNING = 1, CHECK_CRITICAL = 2, CHECK_UNKNOWN = 3 } check_level;

/*
 * status_check - judge one account: level, a short reason, and the days
 * left before its earliest expiry (secret, certificate, refresh token
 * inactivity), or -1 when nothing expires.
 */
check_level status_check(json_object *st, long warn_days, long crit_days, char *why,
                         size_t whysize, long *days_left);

#endif
