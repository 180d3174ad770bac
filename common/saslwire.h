/*
 * saslwire.h - XOAUTH2 and OAUTHBEARER client responses, and the daemon's
 *              "account" reply that feeds them
 *
 * XOAUTH2:     "user=" login "\1auth=Bearer " token "\1\1"
 * OAUTHBEARER: "n,a=" login ",\1" ["host=" h "\1"] ["port=" p "\1"]
 *              "auth=Bearer " token "\1\1"                       (RFC 7628)
 * The SASL library (or the caller) base64-encodes these.
 *
 * The daemon answers "account NAME" with
 *     OK login=<login> expires=<unix time> token=<access token>
 * and the plugin and CLI decode it with saslwire_parse_account().
 *
 * Security: output buffers hold an access token; callers wipe them with
 * explicit_bzero() when done. Logins and tokens are checked for the
 * characters their grammar allows, so a hostile daemon reply or config
 * value cannot inject a \1 separator or a comma into the gs2 header.
 */
#ifndef OAUTH2_SASLWIRE_H
#define OAUTH2_SASLWIRE_H

#include <stddef.h>

/* Longest access token we accept (Entra's are 1,200-2,500 characters). */
#define SASLWIRE_MAX_TOKEN 16384
#define SASLWIRE_MAX_LOGIN 320

/* saslwire_token_ok - token is a non-empty RFC 6750 b64token */
int saslwire_token_ok(const char *token, size_t len);

/* saslwire_login_ok - login is printable ASCII without space, comma, '=' or controls */
int saslwire_login_ok(const char *login, size_t len);

/* saslwire_xoauth2 - build the XOAUTH2 initial response; -1 if it does not fit or input is bad */
int saslwire_xoauth2(const char *login, const char *token, char *out, size_t outsize,
                     size_t *outlen);

/* saslwire_oauthbearer - build the OAUTHBEARER initial response; host may be NULL, port 0 */
int saslwire_oauthbearer(const char *login, const char *host, unsigned port, const char *token,
                         char *out, size_t outsize, size_t *outlen);

/* saslwire_parse_account - decode an "account" reply's data; -1 when malformed */
int saslwire_parse_account(const char *data, size_t len, char *login, size_t loginsize,
                           char *token, size_t tokensize, long long *expires);

#endif
