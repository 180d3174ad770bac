/*
 * http.c - one token-endpoint request over libcurl (see http.h)
 */
#include "autoconfig.h"

#include "http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HTTP_MAX_PARAMS 16

struct http_request {
    CURL *easy;
    char *form;
    size_t form_len;
    char *body;
    size_t body_len;
    int overflow;
    const volatile sig_atomic_t *abort_flag;
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

/* progress - curl's progress callback: non-zero aborts the transfer */
static int progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                    curl_off_t ulnow)
{
    const struct http_request *req = arg;

    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    return req->abort_flag != NULL && *req->abort_flag;
}

/* http_form_encode - "name=value&..." with every value URL-encoded */
char *http_form_encode(const struct http_param *params, size_t n, size_t *len)
{
    size_t cap = 1;
    size_t o = 0;
    size_t i;
    char *out;

    /* Escaping at most triples a value. */
    for (i = 0; i < n; i++)
        if (params[i].value != NULL)
            cap += strlen(params[i].name) + 2 + 3 * strlen(params[i].value);
    out = malloc(cap);
    if (out == NULL)
        return NULL;
    for (i = 0; i < n; i++) {
        char *esc;
        int w;

        if (params[i].value == NULL)
            continue;
        /* The handle is not used for escaping (documented since curl 7.82). */
        esc = curl_easy_escape(NULL, params[i].value, 0);
        if (esc == NULL) {
            explicit_bzero(out, cap);
            free(out);
            return NULL;
        }
        w = snprintf(out + o, cap - o, "%s%s=%s", o ? "&" : "", params[i].name, esc);
        explicit_bzero(esc, strlen(esc));
        curl_free(esc);
        if (w < 0 || (size_t)w >= cap - o) {
            explicit_bzero(out, cap);
            free(out);
            return NULL;
        }
        o += (size_t)w;
    }
    out[o] = '\0';
    *len = o;
    return out;
}

/* http_request_new - POST params to url */
struct http_request *http_request_new(const struct account_conf *acct, const char *url,
                                      const struct http_param *params, size_t n)
{
    struct http_request *req = calloc(1, sizeof(*req));

    if (req == NULL)
        return NULL;
    req->easy = curl_easy_init();
    req->form = http_form_encode(params, n, &req->form_len);
    req->body = malloc(HTTP_MAX_BODY + 1);
    if (req->easy == NULL || req->form == NULL || req->body == NULL)
        goto fail;
    curl_easy_setopt(req->easy, CURLOPT_URL, url);
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

/* http_request_token - grant_type, client_id, the grant's parameters, the credential */
struct http_request *http_request_token(const struct account_conf *acct, const char *grant_type,
                                        const struct http_param *params, size_t n,
                                        const struct clientauth *ca)
{
    struct http_param all[HTTP_MAX_PARAMS];
    size_t k = 0;
    size_t i;

    if (n + 5 > HTTP_MAX_PARAMS)
        return NULL;
    all[k++] = (struct http_param){"grant_type", grant_type};
    all[k++] = (struct http_param){"client_id", acct->client_id};
    for (i = 0; i < n; i++)
        all[k++] = params[i];
    if (ca != NULL && ca->assertion != NULL) {
        all[k++] = (struct http_param){"client_assertion_type",
                                       "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"};
        all[k++] = (struct http_param){"client_assertion", ca->assertion};
    } else if (ca != NULL && ca->secret != NULL) {
        all[k++] = (struct http_param){"client_secret", ca->secret};
    }
    return http_request_new(acct, acct->endpoint, all, k);
}

/* http_request_refresh - the daemon's renewal request */
struct http_request *http_request_refresh(const struct account_conf *acct,
                                          const char *refresh_token, const struct clientauth *ca)
{
    struct http_param p[2];

    if (acct->grant_type == GRANT_CLIENT_CREDENTIALS) {
        p[0] = (struct http_param){"scope", acct->scope};
        return http_request_token(acct, "client_credentials", p, 1, ca);
    }
    p[0] = (struct http_param){"refresh_token", refresh_token};
    p[1] = (struct http_param){"scope", acct->scope};
    return http_request_token(acct, "refresh_token", p, 2, ca);
}

/* http_request_abort_on - stop a synchronous transfer once *flag is set */
void http_request_abort_on(struct http_request *req, const volatile sig_atomic_t *flag)
{
    req->abort_flag = flag;
    curl_easy_setopt(req->easy, CURLOPT_XFERINFOFUNCTION, progress);
    curl_easy_setopt(req->easy, CURLOPT_XFERINFODATA, req);
    curl_easy_setopt(req->easy, CURLOPT_NOPROGRESS, 0L);
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

/*
 * transfer_failed - when the transfer itself failed, fill res (temporary
 * failure, naming the curl error and any HTTP status) and return 1
 */
static int transfer_failed(struct http_request *req, CURLcode code, long status, long retry_after,
                           struct token_result *res)
{
    char err[CURL_ERROR_SIZE + 64];

    if (code == CURLE_OK)
        return 0;
    if (req->overflow)
        snprintf(err, sizeof(err), "reply longer than %d bytes", HTTP_MAX_BODY);
    else if (code == CURLE_ABORTED_BY_CALLBACK)
        snprintf(err, sizeof(err), "interrupted");
    else
        snprintf(err, sizeof(err), "%s",
                 req->curl_error[0] ? req->curl_error : curl_easy_strerror(code));
    /* A partial reply (truncated body) is no reply. */
    tokenresp_parse(0, NULL, 0, err, retry_after, res);
    if (status != 0) {
        char tmp[sizeof(res->message)];

        snprintf(tmp, sizeof(tmp), "%s", res->message);
        snprintf(res->message, sizeof(res->message), "%.480s (after HTTP %ld)", tmp, status);
    }
    return 1;
}

/* http_request_result - classify the finished request */
void http_request_result(struct http_request *req, CURLcode code, struct token_result *res)
{
    long status = 0;
    curl_off_t retry_after = 0;

    curl_easy_getinfo(req->easy, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(req->easy, CURLINFO_RETRY_AFTER, &retry_after);
    if (retry_after < 0 || retry_after > 3600)
        retry_after = retry_after < 0 ? 0 : 3600;
    if (transfer_failed(req, code, status, (long)retry_after, res))
        return;
    tokenresp_parse(status, req->body, req->body_len, NULL, (long)retry_after, res);
}

/* http_request_device_result - classify a finished device authorization request */
void http_request_device_result(struct http_request *req, CURLcode code, struct device_auth *da,
                                struct token_result *res)
{
    long status = 0;

    memset(da, 0, sizeof(*da));
    curl_easy_getinfo(req->easy, CURLINFO_RESPONSE_CODE, &status);
    if (transfer_failed(req, code, status, 0, res))
        return;
    tokenresp_device(status, req->body, req->body_len, NULL, da, res);
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
