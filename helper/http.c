/*
 * http.c - one token-endpoint request over libcurl (see http.h)
 */
#include "autoconfig.h"

#include "http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct http_request {
    CURL *easy;
    char *form;
    size_t form_len;
    char *body;
    size_t body_len;
    int overflow;
    char curl_error[CURL_ERROR_SIZE];
};

/* body_write - curl's write callback: keep at most HTTP_MAX_BODY bytes */
static size_t body_write(char *data, size_t size, size_t nmemb, void *arg)
{
    struct http_request *req = arg;
    size_t n = size * nmemb;

    if (req->body_len + n > HTTP_MAX_BODY) {
        req->overflow = 1;
        return 0; /* makes curl fail the transfer */
    }
    memcpy(req->body + req->body_len, data, n);
    req->body_len += n;
    return n;
}

/* form_add - append "&name=escaped(value)" */
static int form_add(struct http_request *req, size_t cap, const char *name, const char *value)
{
    char *esc = curl_easy_escape(req->easy, value, 0);
    int n;

    if (esc == NULL)
        return -1;
    n = snprintf(req->form + req->form_len, cap - req->form_len, "%s%s=%s",
                 req->form_len ? "&" : "", name, esc);
    explicit_bzero(esc, strlen(esc));
    curl_free(esc);
    if (n < 0 || (size_t)n >= cap - req->form_len)
        return -1;
    req->form_len += (size_t)n;
    return 0;
}

/* http_request_new - a refresh_token grant for acct */
struct http_request *http_request_new(const struct account_conf *acct, const char *refresh_token,
                                      const char *secret)
{
    struct http_request *req = calloc(1, sizeof(*req));
    size_t cap;

    if (req == NULL)
        return NULL;
    cap = 3 * (strlen(refresh_token) + strlen(acct->client_id) + strlen(acct->scope) +
               (secret ? strlen(secret) : 0)) +
          128;
    req->easy = curl_easy_init();
    req->form = calloc(1, cap);
    req->body = malloc(HTTP_MAX_BODY + 1);
    if (req->easy == NULL || req->form == NULL || req->body == NULL)
        goto fail;
    if (form_add(req, cap, "grant_type", "refresh_token") < 0 ||
        form_add(req, cap, "client_id", acct->client_id) < 0 ||
        form_add(req, cap, "refresh_token", refresh_token) < 0 ||
        form_add(req, cap, "scope", acct->scope) < 0 ||
        (secret != NULL && form_add(req, cap, "client_secret", secret) < 0))
        goto fail;
    curl_easy_setopt(req->easy, CURLOPT_URL, acct->endpoint);
    curl_easy_setopt(req->easy, CURLOPT_POSTFIELDS, req->form);
    curl_easy_setopt(req->easy, CURLOPT_POSTFIELDSIZE, (long)req->form_len);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(req->easy, CURLOPT_PROTOCOLS_STR, "https");
#else
    curl_easy_setopt(req->easy, CURLOPT_PROTOCOLS, (long)CURLPROTO_HTTPS);
#endif
    curl_easy_setopt(req->easy, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(req->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(req->easy, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(req->easy, CURLOPT_TIMEOUT, (long)HTTP_TIMEOUT_S);
    curl_easy_setopt(req->easy, CURLOPT_USERAGENT, PACKAGE_NAME "/" PACKAGE_VERSION);
    curl_easy_setopt(req->easy, CURLOPT_WRITEFUNCTION, body_write);
    curl_easy_setopt(req->easy, CURLOPT_WRITEDATA, req);
    curl_easy_setopt(req->easy, CURLOPT_ERRORBUFFER, req->curl_error);
    curl_easy_setopt(req->easy, CURLOPT_PRIVATE, req);
    if (acct->ca_file[0] != '\0')
        curl_easy_setopt(req->easy, CURLOPT_CAINFO, acct->ca_file);
    return req;
fail:
    http_request_free(req);
    return NULL;
}

/* http_request_easy - the curl handle */
CURL *http_request_easy(struct http_request *req)
{
    return req->easy;
}

/* http_request_perform - run it to completion */
CURLcode http_request_perform(struct http_request *req)
{
    return curl_easy_perform(req->easy);
}

/* http_request_result - classify the finished request */
void http_request_result(struct http_request *req, CURLcode code, struct token_result *res)
{
    long status = 0;
    curl_off_t retry_after = 0;
    char err[CURL_ERROR_SIZE + 64];

    curl_easy_getinfo(req->easy, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(req->easy, CURLINFO_RETRY_AFTER, &retry_after);
    if (retry_after < 0 || retry_after > 3600)
        retry_after = retry_after < 0 ? 0 : 3600;
    if (code != CURLE_OK) {
        if (req->overflow)
            snprintf(err, sizeof(err), "reply longer than %d bytes", HTTP_MAX_BODY);
        else
            snprintf(err, sizeof(err), "%s", req->curl_error[0] ? req->curl_error
                                                                 : curl_easy_strerror(code));
        /* A partial reply (truncated body) is no reply. */
        tokenresp_parse(0, NULL, 0, err, (long)retry_after, res);
        if (status != 0) {
            char tmp[sizeof(res->message)];

            snprintf(tmp, sizeof(tmp), "%s", res->message);
            snprintf(res->message, sizeof(res->message), "%.480s (after HTTP %ld)", tmp, status);
        }
        return;
    }
    tokenresp_parse(status, req->body, req->body_len, NULL, (long)retry_after, res);
}

/* http_request_free - wipe and free */
void http_request_free(struct http_request *req)
{
    if (req == NULL)
        return;
    if (req->easy != NULL)
        curl_easy_cleanup(req->easy);
    if (req->form != NULL) {
        explicit_bzero(req->form, req->form_len);
        free(req->form);
    }
    if (req->body != NULL) {
        explicit_bzero(req->body, req->body_len);
        free(req->body);
    }
    free(req);
}
