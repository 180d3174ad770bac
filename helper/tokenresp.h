/*
 * tokenresp.h - decode an identity platform's token-endpoint reply
 *
 * Success (RFC 6749 5.1): access_token, token_type "Bearer", expires_in,
 * optional refresh_token (rotated: store it) and scope. Failure (5.2, with
 * Entra's additions): error, error_description, error_codes [AADSTS n].
 * The verdict is TRANSIENT (retry with backoff: network, 5xx, 429,
 * temporarily_unavailable, throttling, an unreadable reply) or PERMANENT
 * (needs a person: revoked grant, wrong secret, missing consent, ...).
 * Decisions use "error" and "error_codes", never description text; the
 * message carries explain.c's meaning and fix for a known failure.
 *
 * Security: the body is untrusted and capped by the HTTP layer; every
 * field is type-checked, tokens must be b64token characters, expires_in is
 * range-checked. A reply with a string holding an embedded NUL ("\u0000")
 * anywhere is refused, so no token is ever cut short. The body is parsed
 * with jsonwipe_parse() and released with jsonwipe_put(): json-c's scratch
 * buffer and every string object are wiped before they are freed (the
 * caller wipes the body, http.c does). Messages never contain a token.
 */
#ifndef OAUTH2_TOKENRESP_H
#define OAUTH2_TOKENRESP_H

#include <stddef.h>

typedef enum {
    TOKEN_OK,
    TOKEN_TRANSIENT,
    TOKEN_PERMANENT,
} token_verdict;

struct token_result {
    token_verdict verdict;
    char *access_token;  /* TOKEN_OK: malloc'd, wipe with token_result_clear */
    char *refresh_token; /* TOKEN_OK: rotated refresh token, or NULL */
    long expires_in;     /* TOKEN_OK: seconds */
    long retry_after;    /* seconds the server asked us to wait, 0 if none */
    long aadsts;         /* first of error_codes, 0 if none */
    char error[64];      /* OAuth error code ("invalid_grant"), or "" */
    char message[512];   /* one line for logs and replies; names the fix when known */
};

/*
 * tokenresp_parse - classify an HTTP reply
 *
 * http_status is 0 when no reply arrived (curl_error then says why);
 * body may be NULL.
 */
void tokenresp_parse(long http_status, const char *body, size_t len, const char *curl_error,
                     long retry_after, struct token_result *res);

/* token_result_clear - wipe and free what a result holds */
void token_result_clear(struct token_result *res);

/* Device authorization (RFC 8628 3.2): what the person is shown, what the client polls with. */
#define TOKENRESP_DEVICE_INTERVAL 5

struct device_auth {
    char *device_code;          /* malloc'd, wipe with tokenresp_device_clear */
    char user_code[64];         /* shown to the person */
    char verification_uri[512]; /* https URL the person opens */
    long expires_in;            /* seconds the codes are valid */
    long interval;              /* seconds between polls, 1 to 60 */
};

/*
 * tokenresp_device - classify a device authorization reply; on TOKEN_OK
 * da is filled in, otherwise res says why (with the AADSTS hint).
 */
void tokenresp_device(long http_status, const char *body, size_t len, const char *curl_error,
                      struct device_auth *da, struct token_result *res);

/* tokenresp_device_clear - wipe and free what da holds */
void tokenresp_device_clear(struct device_auth *da);

/*
 * tokenresp_opaque_ok - whether s may be an opaque credential (refresh
 * token, device code, authorization code, state): 1 to max characters of
 * printable ASCII, no spaces
 */
int tokenresp_opaque_ok(const char *s, size_t max);

#endif
