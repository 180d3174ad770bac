/*
 * assertion.h - a federated credential: the external JWT named by
 *               client_assertion_file, read and checked at each use
 *
 * SYNOPSIS
 *     rc = assertion_read(acct, now, &jwt, &info, err, sizeof(err));
 *
 * DESCRIPTION
 *     Entra's workload identity federation: the app registration trusts an
 *     external issuer (a Kubernetes cluster's service-account issuer,
 *     GitHub Actions, any OIDC issuer) and accepts that issuer's short-lived
 *     JWT as client_assertion in the client-credentials grant. The issuer's
 *     agent (kubelet) replaces the file before the token expires, so the
 *     file is read afresh for every token request and nothing is kept.
 *
 *     Before it is sent, the token must parse as a JWT (three base64url
 *     parts, a JSON header with "alg" and a JSON payload), carry an integer
 *     "exp" with more than ASSERTION_MIN_LEFT_S seconds left, a "nbf" (if
 *     any) not in the future beyond ASSERTION_SKEW_S, and assertion_audience
 *     in "aud" (a string or an array of strings). The signature is Entra's
 *     to check: only the issuer's key can verify it.
 *
 *     assertion_stale() says when the file seems no longer refreshed: less
 *     than ASSERTION_STALE_PCT percent of its lifetime (iat, else the
 *     file's mtime, to exp) is left, and at most ASSERTION_STALE_MIN_S
 *     seconds. kubelet replaces a projected token once 80% of its lifetime
 *     has passed, so a healthy file never gets there.
 *
 * DIAGNOSTICS
 *     -1 with a message naming the account, the file, what is wrong
 *     (missing, unreadable, not a JWT, expired, wrong audience) and the fix.
 *
 * SECURITY
 *     The token is a bearer credential for the app: read through
 *     config_secret_file_read() (a regular file, closed to group and
 *     others), wiped when freed, never logged nor shown; messages quote no
 *     part of it but the audience and the dates.
 */
#ifndef OAUTH2_ASSERTION_H
#define OAUTH2_ASSERTION_H

#include <stddef.h>

#include "config.h"

#define ASSERTION_MAX (16 * 1024) /* the file's size limit */
#define ASSERTION_MIN_LEFT_S 30   /* less than this left: it would expire on the way */
#define ASSERTION_SKEW_S 300      /* clock skew allowed for nbf, as Entra's */
#define ASSERTION_STALE_PCT 15    /* warn when less of the lifetime is left */
#define ASSERTION_STALE_MIN_S 60  /* ... and at least this much */

struct assertion_info {
    long long exp;   /* the token's expiry, unix time; 0 when unknown */
    long long iat;   /* issued at: iat, else the file's mtime; 0 when unknown */
    long long mtime; /* the file's last change, 0 when unknown */
};

/*
 * assertion_read - read and check acct's client_assertion_file at now.
 * jwt may be NULL (check only); else *jwt is the token, malloc'd, to free
 * with secret_free(). info may be NULL; it is filled as far as the file
 * could be read. 0, or -1 with err.
 */
int assertion_read(const struct account_conf *acct, long long now, char **jwt,
                   struct assertion_info *info, char *err, size_t errsize);

/*
 * assertion_hint - the fix for Entra's refusal of a federated assertion
 * (AADSTS70021, 700211, 700212, 700213, 700024, 700027), NULL for others
 */
const char *assertion_hint(long aadsts);

/* assertion_stale - whether info's token is close to expiry without having been replaced */
int assertion_stale(const struct assertion_info *info, long long now);

#endif
