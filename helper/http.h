/*
 * http.h - one token-endpoint request over libcurl
 *
 * http_request_new() prepares an easy handle: POST of a form whose every
 * value is URL-encoded, HTTPS only, no redirects, the account's ca_file,
 * bounded time, and a reply capped at HTTP_MAX_BODY. The daemon adds the
 * handle to its multi handle; the CLI runs it with http_request_perform().
 * http_request_result() turns the outcome into a token_result,
 * http_request_device_result() into a device authorization.
 *
 * Token requests are built in one place, http_request_token(): grant_type,
 * client_id, the grant's own parameters, then the client's credential
 * (client_secret, or client_assertion_type + client_assertion).
 * http_request_refresh() is what the daemon sends to renew a token: the
 * refresh_token grant, or client_credentials for app-only accounts.
 *
 * Security: the form holds refresh tokens, codes, secrets and assertions;
 * it is wiped when the request is freed, and so is the reply body.
 */
#ifndef OAUTH2_HTTP_H
#define OAUTH2_HTTP_H

#include <curl/curl.h>
#include <signal.h>

#include "clientauth.h"
#include "config.h"
#include "tokenresp.h"

#define HTTP_MAX_BODY (64 * 1024)
#define HTTP_TIMEOUT_S 20

struct http_request;

/* One form field; a NULL value leaves the field out. */
struct http_param {
    const char *name;
    const char *value;
};

/*
 * http_form_encode - "name=value&..." of the params with a value, every
 * value URL-encoded (form bodies and query strings alike); *len its
 * length. Malloc'd; wipe it before freeing when a value is secret. NULL on
 * out of memory.
 */
char *http_form_encode(const struct http_param *params, size_t n, size_t *len);

/* http_request_new - POST params to url for acct (its ca_file); NULL on out of memory */
struct http_request *http_request_new(const struct account_conf *acct, const char *url,
                                      const struct http_param *params, size_t n);

/*
 * http_request_token - a request to acct's token endpoint: grant_type,
 * client_id, params, and ca's credential (ca may be NULL). NULL on out of
 * memory.
 */
struct http_request *http_request_token(const struct account_conf *acct, const char *grant_type,
                                        const struct http_param *params, size_t n,
                                        const struct clientauth *ca);

/*
 * http_request_refresh - renew acct's access token: client_credentials, or
 * the refresh_token grant with refresh_token. NULL on out of memory.
 */
struct http_request *http_request_refresh(const struct account_conf *acct,
                                          const char *refresh_token, const struct clientauth *ca);

/* http_request_abort_on - make a synchronous transfer stop once *flag is set (Ctrl-C) */
void http_request_abort_on(struct http_request *req, const volatile sig_atomic_t *flag);

/* http_request_easy - the curl handle, for a multi handle */
CURL *http_request_easy(struct http_request *req);

/* http_request_perform - run it to completion (CLI) */
CURLcode http_request_perform(struct http_request *req);

/* http_request_result - classify the finished request; code is the transfer's result */
void http_request_result(struct http_request *req, CURLcode code, struct token_result *res);

/* http_request_device_result - classify a finished device authorization request */
void http_request_device_result(struct http_request *req, CURLcode code, struct device_auth *da,
                                struct token_result *res);

/* http_request_free - wipe and free; NULL is fine */
void http_request_free(struct http_request *req);

#endif
