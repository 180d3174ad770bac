/*
 * result.h - the command line's outcomes and their exit statuses
 *
 * SYNOPSIS
 *     #include "result.h"
 *
 *     int result_exit(helper_result r);
 *     const char *result_message(helper_result r);
 *
 * DESCRIPTION
 *     Every command returns a helper_result; main() turns it into the exit
 *     status with result_exit(), the one place that maps outcomes to
 *     sysexits(3) codes (and check's Nagios levels to 0..3). The
 *     result_from_* functions translate a module's own result.
 *
 * DIAGNOSTICS
 *     None: every value has an exit status and a message.
 *
 * SECURITY
 *     Nothing secret passes through here.
 */
#ifndef OAUTH2_RESULT_H
#define OAUTH2_RESULT_H

#include "authorize.h"
#include "netstring.h"
#include "smtptest.h"
#include "status.h"

/* helper_result - how a command ended; result_exit() gives its exit status */
typedef enum {
    RESULT_OK,              /* done: 0 */
    RESULT_USAGE,           /* bad arguments: 64 */
    RESULT_UNKNOWN_ACCOUNT, /* the account is not configured (or not loaded): 67 */
    RESULT_NEEDS_PERSON,    /* revoked grant, bad secret, 5xx: retrying will not help: 69 */
    RESULT_TEMPORARY,       /* may pass by itself: retry later: 75 */
    RESULT_CONFIG,          /* the configuration or the environment is wrong: 78 */
    RESULT_INTERRUPTED,     /* a signal stopped an interactive command: 130 */
    RESULT_SERVE_FAILED,    /* the daemon could not start or stopped on an error: 1 */
    RESULT_CHECK_WARNING,   /* check: Nagios WARNING, 1 */
    RESULT_CHECK_CRITICAL,  /* check: Nagios CRITICAL, 2 */
    RESULT_CHECK_UNKNOWN,   /* check: Nagios UNKNOWN, 3 */
    RESULT_DATA_ERROR,      /* sendmail: the message cannot be sent as it is (too large): 65 */
} helper_result;

/* result_exit - the exit status of r */
int result_exit(helper_result r);

/* result_message - a short description of r, e.g. for logs */
const char *result_message(helper_result r);

/* result_from_socketmap - a daemon reply's status (other than OK) as a result */
helper_result result_from_socketmap(socketmap_status status);

/* result_from_authz - how a sign-in flow ended, as a result */
helper_result result_from_authz(authz_result r);

/* result_from_smtptest - how an SMTP test ended, as a result */
helper_result result_from_smtptest(smtptest_result r);

/* result_from_check - a Nagios level as a result */
helper_result result_from_check(check_level lv);

#endif
