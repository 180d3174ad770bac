/*
 * http.h - one token-endpoint request over libcurl
 *
 * http_request_new() prepares an easy handle: POST of a form whose every
 * value is URL-encoded, HTTPS only, no redirects, the account's ca_file,
 * bounded time, and a reply capped at HTTP_MAX_BODY. The daemon adds the
 * handle to its multi handle; the CLI runs it with http_request_perform().
 * http_request_result() turns the outcome into a token_result.
 *
 * Security: the form holds the refresh token and client secret; it is
 * wiped when the request is freed, and so is the reply body.
 */
#ifndef OAUTH2_HTTP_H
#define OAUTH2_HTTP_H

#include <curl/curl.h>

#include "config.h"
#include "tokenresp.h"

#define HTTP_MAX_BODY (64 * 1024)
#define HTTP_TIMEOUT_S 20

struct http_request;

/*
 * http_request_new - a refresh_token grant for acct; secret may be NULL.
 * NULL on out of memory.
 */
struct http_request *http_request_new(const struct account_conf *acct, const char *refresh_token,
                                      const char *secret);

/* http_request_easy - the curl handle, for a multi handle */
CURL *http_request_easy(struct http_request *req);

/* http_request_perform - run it to completion (CLI) */
CURLcode http_request_perform(struct http_request *req);

/* http_request_result - classify the finished request; code is the transfer's result */
void http_request_result(struct http_request *req, CURLcode code, struct token_result *res);

/* http_request_free - wipe and free; NULL is fine */
void http_request_free(struct http_request *req);

#endif
