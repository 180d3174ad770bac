/*
 * saslwire.h - XOAUTH2 and OAUTHBEARER client responses
 *
 * XOAUTH2:     "user=" login "\1auth=Bearer " token "\1\1"
 * OAUTHBEARER: "n,a=" login ",\1" ["host=" h "\1"] ["port=" p "\1"]
 *              "auth=Bearer " token "\1\1"                       (RFC 7628)
 * The SASL library (or the caller) base64-encodes these.
 *
 * The daemon's "account" reply that feeds them is decoded by
 * protocol_decode_account() (protocol.h).
 *
 * Security: output buffers hold an access token; callers wipe them with
 * explicit_bzero() when done. Logins and tokens are checked for the
 * characters their grammar allows, so a hostile daemon reply or config
 * value cannot inject a \1 separator or a comma into the gs2 header.
 */
#ifndef OAUTH2_SASLWIRE_H
#define OAUTH2_SASLWIRE_H

#include <stddef.h>

#include "protocol.h"

/* Longest access token and login accepted: the socket protocol's (protocol.h). */
#define SASLWIRE_MAX_TOKEN PROTOCOL_MAX_TOKEN
#define SASLWIRE_MAX_LOGIN PROTOCOL_MAX_LOGIN

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

#endif
