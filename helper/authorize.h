/*
 * authorize.h - get an account's first refresh token the way an admin
 *               does it, once: device code, browser, or paste
 *
 * SYNOPSIS
 *     oauth2-token-helper authorize ACCOUNT [--device | --browser | --paste]
 *                                   [--port N] [--timeout SECONDS] [--no-open]
 *
 * DESCRIPTION
 *     device   RFC 8628: ask the device-code endpoint for a user code, show
 *              the verification URL and the code, poll the token endpoint
 *              every "interval" seconds; authorization_pending waits,
 *              slow_down adds 5 s, authorization_declined / access_denied,
 *              expired_token and bad_verification_code end the flow.
 *     browser  authorization code with PKCE (S256) and a random state; the
 *              redirect goes to http://localhost:PORT, served by the
 *              loopback listener (loopback.h, on 127.0.0.1 and [::1])
 *              until --timeout. A redirect without the request's state
 *              gets an error page and is ignored: any local user can
 *              reach the listener, and must not be able to end the flow.
 *     paste    the same authorization URL with redirect http://localhost;
 *              the admin pastes the address the browser ended on (or only
 *              its code) on standard input.
 *     Every flow asks for a refresh token (offline_access, or Google's
 *     access_type=offline) and fails plainly when none comes back. Errors
 *     from the identity platform carry the AADSTS hint (tokenresp.h).
 *
 * SECURITY
 *     The PKCE verifier and state come from RAND_bytes. Codes, verifiers,
 *     device codes and tokens are wiped after use and never printed; only
 *     the user code and the URLs are shown. A SIGINT, SIGTERM or SIGHUP
 *     stops a flow between steps (authz_interrupted) and nothing is stored.
 */
#ifndef OAUTH2_AUTHORIZE_H
#define OAUTH2_AUTHORIZE_H

#include <signal.h>
#include <stddef.h>
#include <stdio.h>

#include "config.h"
#include "tokenresp.h"

#define AUTHZ_DEFAULT_TIMEOUT_S 300
#define AUTHZ_MAX_CODE 4096

typedef enum { AUTHZ_DEVICE, AUTHZ_BROWSER, AUTHZ_PASTE } authz_flow;

/* authz_result - how a flow ended */
typedef enum {
    AUTHZ_OK,          /* res holds an access token and a refresh token */
    AUTHZ_REFUSED,     /* declined, expired, an error needing a person: err says which */
    AUTHZ_TEMPORARY,   /* network or server trouble: err says which */
    AUTHZ_INTERRUPTED, /* a signal stopped it */
    AUTHZ_CONFIG,      /* the account lacks what the flow needs */
} authz_result;

struct authz_options {
    authz_flow flow;
    unsigned port;    /* browser: the listener's port, 0 for any free one */
    long timeout_s;   /* browser: how long to wait for the redirect */
    int open_browser; /* browser: try xdg-open (only with a display) */
};

/* Set by the signal handler that authz_catch_signals installs. */
extern volatile sig_atomic_t authz_interrupted;

/* authz_catch_signals - SIGINT, SIGTERM, SIGHUP set authz_interrupted and interrupt system calls */
void authz_catch_signals(void);

/* authz_default_flow - device without a display ($DISPLAY, $WAYLAND_DISPLAY), else browser */
authz_flow authz_default_flow(void);

/* authz_run - run a flow for acct; on AUTHZ_OK res holds the tokens (token_result_clear them) */
authz_result authz_run(const struct account_conf *acct, const struct authz_options *opt,
                       struct token_result *res, char *err, size_t errsize);

/* authz_read_line - a line of standard input, no echo on a terminal; NULL at EOF or interrupt */
char *authz_read_line(const char *prompt, size_t max);

/* The pieces below are exported for the unit tests. */

/* authz_pkce_challenge - base64url(SHA-256(verifier)); -1 when it does not fit */
int authz_pkce_challenge(const char *verifier, char *out, size_t outsize);

/* authz_scope - the scope a flow asks for: acct's scope plus offline_access where that is how */
char *authz_scope(const struct account_conf *acct);

/* authz_url - the authorization URL, every value URL-encoded; malloc'd, NULL on out of memory */
char *authz_url(const struct account_conf *acct, const char *redirect_uri, const char *state,
                const char *challenge);

/* What a redirect back from the authorization endpoint carries. */
struct authz_reply {
    char code[AUTHZ_MAX_CODE]; /* the authorization code: wipe with authz_reply_clear */
    char state[256];
    char error[64]; /* OAuth error code, "" when none */
    char desc[512]; /* error_description, untrusted text */
    long aadsts;    /* Entra's code from error_uri (".../error?code=N"), 0 when none */
};

/*
 * authz_parse_reply - pick code, state and error out of a redirect: a full
 * URL, a request target ("/?code=..."), a query string, or a bare code.
 * Returns 0 with what was found (empty strings for what was not), -1 when
 * the input is malformed, a parameter is repeated, or a value is too long
 * or has bad characters.
 */
int authz_parse_reply(const char *in, struct authz_reply *r);

/* authz_reply_clear - wipe a reply */
void authz_reply_clear(struct authz_reply *r);

#endif
