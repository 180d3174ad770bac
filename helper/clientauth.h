/*
 * clientauth.h - how the app registration proves itself at the token
 *                endpoint: not at all (public client), with a client
 *                secret, or with a certificate
 *
 * With a certificate the client sends a JWT client assertion (RFC 7523,
 * Entra's "certificate credential") instead of a secret:
 *
 *     header  {"alg":"PS256"|"RS256","typ":"JWT","x5t#S256":b64url(SHA-256(cert DER))}
 *     claims  {"aud":TOKEN_ENDPOINT,"iss":CLIENT_ID,"sub":CLIENT_ID,
 *              "jti":GUID,"nbf":NOW,"iat":NOW,"exp":NOW+CLIENTAUTH_LIFETIME_S}
 *
 * signed with the private key (RSASSA-PSS with SHA-256 and a 32-byte salt,
 * or PKCS#1 v1.5 with SHA-256). A fresh assertion is made for every
 * request, so nothing of it is kept. The certificate itself is public;
 * the key and its passphrase are read through config_secret_file_read(),
 * which refuses files open to group or others.
 *
 * Security: the secret, the key's PEM text, the passphrase and the signed
 * assertion are wiped when freed. OpenSSL is never allowed to prompt for a
 * passphrase on the terminal. Messages name the account, the file and the
 * fix, never key material.
 */
#ifndef OAUTH2_CLIENTAUTH_H
#define OAUTH2_CLIENTAUTH_H

#include <json-c/json.h>
#include <openssl/evp.h>
#include <stddef.h>

#include "config.h"

/* Entra accepts assertions valid for at most 10 minutes. */
#define CLIENTAUTH_LIFETIME_S 300

struct clientauth {
    char *secret;    /* client_secret, or NULL */
    char *assertion; /* signed JWT for client_assertion, or NULL */
};

/*
 * clientauth_load - the account's credential for one token request: its
 * secret, a fresh assertion, or neither (public client). -1 with err.
 */
int clientauth_load(const struct account_conf *acct, struct clientauth *ca, char *err,
                    size_t errsize);

/* clientauth_clear - wipe and free; a cleared struct may be cleared again */
void clientauth_clear(struct clientauth *ca);

/* clientauth_assertion - sign an assertion for acct issued at now; *jwt malloc'd; -1 with err */
int clientauth_assertion(const struct account_conf *acct, long long now, char **jwt, char *err,
                         size_t errsize);

/*
 * clientauth_check - for config-check: the certificate and key load, belong
 * together and the certificate is current; *not_after is its expiry (unix
 * time). 0 when the account has no certificate; -1 with err.
 */
int clientauth_check(const struct account_conf *acct, long long *not_after, char *err,
                     size_t errsize);

/* clientauth_cert_expiry - notAfter of client_certificate_file; 0 when none or unreadable */
long long clientauth_cert_expiry(const struct account_conf *acct);

/*
 * clientauth_jwt - a JWT of header and claims signed with key (alg PS256 or
 * RS256): the one JWT signer, also used by svcacct.c for Google's JWT
 * bearer grant. *jwt malloc'd (wipe it with secret_free); -1 on failure.
 */
int clientauth_jwt(const char *alg, EVP_PKEY *key, json_object *header, json_object *claims,
                   char **jwt);

/*
 * Certificate rollover: next_client_certificate_file and
 * next_client_key_file name a second pair. Both are registered with the
 * app during a rollover; the newest usable one (the later notBefore) is
 * tried first, and the cache falls back to the other at once when Entra
 * answers AADSTS700027 (not registered), remembering which one worked.
 */

/* clientauth_has_next - whether acct names a next certificate pair (and a current one) */
int clientauth_has_next(const struct account_conf *acct);

/* clientauth_pick_pair - 1 when the next pair is usable and newer than the current, else 0 */
int clientauth_pick_pair(const struct account_conf *acct, long long now);

/* clientauth_load_pair - a fresh assertion signed with pair 0 (current) or 1 (next); -1 with err */
int clientauth_load_pair(const struct account_conf *acct, int pair, struct clientauth *ca,
                         char *err, size_t errsize);

/* clientauth_next_cert_expiry - notAfter of next_client_certificate_file; 0 when none or unreadable
 */
long long clientauth_next_cert_expiry(const struct account_conf *acct);

/* clientauth_check_next - clientauth_check for the next pair; 0 when there is none */
int clientauth_check_next(const struct account_conf *acct, long long *not_after, char *err,
                          size_t errsize);

#endif
