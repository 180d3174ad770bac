/*
 * result.c - the command line's outcomes and their exit statuses
 *
 * SYNOPSIS
 *     See result.h.
 *
 * DESCRIPTION
 *     One table maps every outcome to its sysexits(3) status and a message,
 *     so the commands cannot disagree about what, say, a revoked refresh
 *     token exits with. The documented statuses (oauth2-token-helper(8)):
 *     0 ok, 64 usage, 67 unknown account, 69 needs a person, 75 temporary,
 *     78 configuration; check exits 0..3 as Nagios plugins do.
 *
 * DIAGNOSTICS
 *     An out-of-range value is a programming error: it exits 70 (EX_SOFTWARE).
 *
 * SECURITY
 *     Nothing secret passes through here.
 */
#include "autoconfig.h"

#include <stddef.h>
#include <sysexits.h>

#include "result.h"

/* The table, indexed by helper_result. */
static const struct {
    int code;
    const char *message;
} results[] = {
    [RESULT_OK] = {EX_OK, "ok"},
    [RESULT_USAGE] = {EX_USAGE, "usage error"},
    [RESULT_UNKNOWN_ACCOUNT] = {EX_NOUSER, "unknown account"},
    [RESULT_NEEDS_PERSON] = {EX_UNAVAILABLE, "needs a person"},
    [RESULT_TEMPORARY] = {EX_TEMPFAIL, "temporary failure; retry later"},
    [RESULT_CONFIG] = {EX_CONFIG, "configuration error"},
    [RESULT_INTERRUPTED] = {128 + 2, "interrupted"},
    [RESULT_SERVE_FAILED] = {1, "the daemon failed"},
    [RESULT_CHECK_WARNING] = {CHECK_WARNING, "check: warning"},
    [RESULT_CHECK_CRITICAL] = {CHECK_CRITICAL, "check: critical"},
    [RESULT_CHECK_UNKNOWN] = {CHECK_UNKNOWN, "check: unknown"},
    [RESULT_DATA_ERROR] = {EX_DATAERR, "the message cannot be sent as it is"},
};

#define N_RESULTS (sizeof(results) / sizeof(results[0]))

/* result_exit - the exit status of r */
int result_exit(helper_result r)
{
    if ((size_t)r >= N_RESULTS)
        return EX_SOFTWARE;
    return results[r].code;
}

/* result_message - a short description of r */
const char *result_message(helper_result r)
{
    if ((size_t)r >= N_RESULTS)
        return "internal error";
    return results[r].message;
}

/* result_from_socketmap - a daemon reply's status as a result */
helper_result result_from_socketmap(socketmap_status status)
{
    switch (status) {
    case SOCKETMAP_OK:
        return RESULT_OK;
    case SOCKETMAP_NOTFOUND:
        return RESULT_UNKNOWN_ACCOUNT;
    case SOCKETMAP_PERM:
        return RESULT_NEEDS_PERSON;
    default:
        return RESULT_TEMPORARY;
    }
}

/* result_from_authz - how a sign-in flow ended */
helper_result result_from_authz(authz_result r)
{
    switch (r) {
    case AUTHZ_OK:
        return RESULT_OK;
    case AUTHZ_INTERRUPTED:
        return RESULT_INTERRUPTED;
    case AUTHZ_TEMPORARY:
        return RESULT_TEMPORARY;
    case AUTHZ_CONFIG:
        return RESULT_CONFIG;
    default:
        return RESULT_NEEDS_PERSON;
    }
}

/* result_from_smtptest - how an SMTP test ended */
helper_result result_from_smtptest(smtptest_result r)
{
    switch (r) {
    case SMTPTEST_OK:
        return RESULT_OK;
    case SMTPTEST_BAD_INPUT:
        return RESULT_USAGE;
    case SMTPTEST_TEMPORARY:
        return RESULT_TEMPORARY;
    default:
        return RESULT_NEEDS_PERSON;
    }
}

/* result_from_check - a Nagios level */
helper_result result_from_check(check_level lv)
{
    switch (lv) {
    case CHECK_OK:
        return RESULT_OK;
    case CHECK_WARNING:
        return RESULT_CHECK_WARNING;
    case CHECK_CRITICAL:
        return RESULT_CHECK_CRITICAL;
    default:
        return RESULT_CHECK_UNKNOWN;
    }
}
