/*
 * svcacct.h - Google service accounts with domain-wide delegation: the
 *             RFC 7523 JWT bearer grant (grant = jwt_bearer)
 *
 * SYNOPSIS
 *     struct http_request *svcacct_request(acct, now, err, errsize);
 *     int svcacct_check(acct, info, err, errsize);
 *
 * DESCRIPTION
 *     service_account_file is Google's JSON key file for a service
 *     account ("type": "service_account", client_email, private_key as
 *     PEM, private_key_id, client_id, token_uri). For each token the
 *     daemon signs a fresh JWT with that key (RS256, clientauth_jwt()):
 *
 *         header  {"alg":"RS256","typ":"JWT","kid":PRIVATE_KEY_ID}
 *         claims  {"iss":CLIENT_EMAIL,"sub":LOGIN,"aud":TOKEN_URL,
 *                  "scope":SCOPE,"iat":NOW,"exp":NOW+3600}
 *
 *     and POSTs grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer and
 *     assertion=JWT to the token URL. sub is the mailbox the account sends
 *     as (login): Google issues a token for it only when the Workspace
 *     admin delegated the scope to the service account's client ID. There
 *     is no refresh token: like client_credentials, a new token is asked
 *     for before the old one expires.
 *
 *     The token URL: token_endpoint when the config sets it; otherwise
 *     the key file's token_uri when it is https on a Google host
 *     (oauth2.googleapis.com, accounts.google.com, www.googleapis.com);
 *     otherwise, or with no token_uri, the preset
 *     https://oauth2.googleapis.com/token. A key file that names any
 *     other host is refused: whoever could write one would otherwise
 *     receive assertions signed with the key.
 *
 * SECURITY
 *     The key file is read through config_secret_file_read() (regular
 *     file, closed to group and others, owned by root or the daemon's
 *     user), parsed with jsonwipe, and every copy of the key (file text,
 *     JSON strings, the PEM, OpenSSL's key) is wiped when done. Messages
 *     name the account, the file and the fix, never key material.
 */
#ifndef OAUTH2_SVCACCT_H
#define OAUTH2_SVCACCT_H

#include <stddef.h>

#include "config.h"
#include "http.h"

#define SVCACCT_GRANT "urn:ietf:params:oauth:grant-type:jwt-bearer"
#define SVCACCT_LIFETIME_S 3600 /* Google's maximum for the assertion */
#define SVCACCT_TOKEN_URL "https://oauth2.googleapis.com/token"

/* What config-check shows of a key file (nothing secret). */
struct svcacct_info {
    char client_email[256];
    char client_id[64];
    char key_id[64];
    char token_url[512];
};

/*
 * svcacct_request - the token request for acct at wall time now: a fresh
 * assertion, POST to the token URL; NULL with err naming the file and fix
 */
struct http_request *svcacct_request(const struct account_conf *acct, long long now, char *err,
                                     size_t errsize);

/*
 * svcacct_check - for config-check: the key file reads, is a service
 * account key with an RSA private key, and signs; info filled in; -1 with
 * err naming the file and the fix
 */
int svcacct_check(const struct account_conf *acct, struct svcacct_info *info, char *err,
                  size_t errsize);

/* svcacct_assertion - the signed JWT for acct at now and the URL it is for; both malloc'd */
int svcacct_assertion(const struct account_conf *acct, long long now, char **jwt, char **url,
                      char *err, size_t errsize);

#endif
