/*
 * tokenresp.c - decode an identity platform's token-endpoint reply (see tokenresp.h)
 */
#include "autoconfig.h"

#include "tokenresp.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "explain.h"
#include "jsonwipe.h"
#include "log.h"
#include "saslwire.h"
#include "text.h"

#define EXPIRES_MAX (7 * 86400L)

/* aadsts_transient - whether an AADSTS code is worth retrying (explain.c's table) */
static int aadsts_transient(long aadsts)
{
    const struct explain *e = explain_aadsts(aadsts);

    return e != NULL && e->transient;
}

/* wipe_string - clear a json-c string in place before its object is released */
static void wipe_string(json_object *o)
{
    if (o != NULL && json_object_is_type(o, json_type_string))
        explicit_bzero((char *)json_object_get_string(o), (size_t)json_object_get_string_len(o));
}

/* get_string - a string member, or NULL when absent or of another type */
static const char *get_string(json_object *obj, const char *key, json_object **out)
{
    json_object *v = NULL;

    *out = NULL;
    if (!json_object_object_get_ex(obj, key, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    *out = v;
    return json_object_get_string(v);
}

/* get_seconds - expires_in as a number or a numeric string; -1 when absent or bad */
static long get_seconds(json_object *obj, const char *key)
{
    json_object *v = NULL;
    long n;

    if (!json_object_object_get_ex(obj, key, &v))
        return -1;
    if (json_object_is_type(v, json_type_int)) {
        int64_t i = json_object_get_int64(v);

        return (i < 0 || i > EXPIRES_MAX) ? -1 : (long)i;
    }
    if (json_object_is_type(v, json_type_string)) {
        const char *s = json_object_get_string(v);
        char *end;

        n = strtol(s, &end, 10);
        if (end == s || *end != '\0' || n < 0 || n > EXPIRES_MAX)
            return -1;
        return n;
    }
    return -1;
}

/* parse_error - fill verdict and message from an OAuth error object */
static void parse_error(long http_status, json_object *obj, struct token_result *res)
{
    json_object *v = NULL;
    json_object *codes = NULL;
    const char *error = get_string(obj, "error", &v);
    const char *desc = get_string(obj, "error_description", &v);
    const struct explain *hint;
    char clean_desc[160] = "";

    if (error != NULL)
        log_clean(res->error, sizeof(res->error), error, strlen(error));
    if (json_object_object_get_ex(obj, "error_codes", &codes) &&
        json_object_is_type(codes, json_type_array) && json_object_array_length(codes) > 0) {
        json_object *c = json_object_array_get_idx(codes, 0);

        if (json_object_is_type(c, json_type_int))
            res->aadsts = (long)json_object_get_int64(c);
    }
    if (desc != NULL) {
        /* Keep the first line only: the rest is trace and correlation IDs. */
        log_clean(clean_desc, sizeof(clean_desc), desc, strcspn(desc, "\r\n"));
    }
    if (http_status == 429 || http_status >= 500 ||
        strcmp(res->error, "temporarily_unavailable") == 0 || aadsts_transient(res->aadsts))
        res->verdict = TOKEN_TRANSIENT;
    else
        res->verdict = TOKEN_PERMANENT;
    hint = explain_aadsts(res->aadsts);
    if (hint == NULL && res->aadsts == 0)
        hint = explain_oauth(res->error, desc);
    if (hint != NULL && res->aadsts != 0)
        snprintf(res->message, sizeof(res->message), "%s (HTTP %ld, %s, AADSTS%ld): %s",
                 res->verdict == TOKEN_TRANSIENT ? "temporary failure" : "needs a person",
                 http_status, res->error[0] ? res->error : "error", res->aadsts, hint->text);
    else if (hint != NULL)
        snprintf(res->message, sizeof(res->message), "%s (HTTP %ld, %s: %s): %s",
                 res->verdict == TOKEN_TRANSIENT ? "temporary failure" : "needs a person",
                 http_status, res->error, clean_desc[0] ? clean_desc : "no description",
                 hint->text);
    else
        snprintf(res->message, sizeof(res->message), "%s (HTTP %ld, %s): %s",
                 res->verdict == TOKEN_TRANSIENT ? "temporary failure" : "needs a person",
                 http_status, res->error[0] ? res->error : "error",
                 clean_desc[0] ? clean_desc : "no description");
}

/* tokenresp_opaque_ok - printable ASCII without spaces, 1 to max characters (text_opaque_ok) */
int tokenresp_opaque_ok(const char *s, size_t max)
{
    return text_opaque_ok(s, strlen(s), max);
}

/*
 * find_embedded_nul - the first string in o (members and array elements, at
 * any depth) whose json-c length differs from its strlen: a "\u0000" in it,
 * which strlen() and strdup() would silently cut. Returns 1 and the key of
 * the enclosing member in where (or "" at the top), 0 when there is none;
 * the offending string is wiped, since it may be a token.
 */
static int find_embedded_nul(json_object *o, const char *key, const char **where)
{
    size_t i;

    switch (json_object_get_type(o)) {
    case json_type_string:
        if ((size_t)json_object_get_string_len(o) != strlen(json_object_get_string(o))) {
            wipe_string(o);
            *where = key;
            return 1;
        }
        return 0;
    case json_type_array:
        for (i = 0; i < json_object_array_length(o); i++)
            if (find_embedded_nul(json_object_array_get_idx(o, i), key, where))
                return 1;
        return 0;
    case json_type_object: {
        json_object_object_foreach(o, k, v)
        {
            if (find_embedded_nul(v, k, where))
                return 1;
        }
        return 0;
    }
    default:
        return 0;
    }
}

/*
 * reply_object - the JSON object of a successful reply, or NULL with res
 * final: no reply, not a JSON object, or an OAuth error object. The caller
 * puts the object.
 */
static json_object *reply_object(long http_status, const char *body, size_t len,
                                 const char *curl_error, long retry_after, struct token_result *res)
{
    json_object *obj = NULL;
    json_object *tmp;
    const char *where = "";

    memset(res, 0, sizeof(*res));
    res->retry_after = retry_after;
    res->verdict = TOKEN_TRANSIENT;
    if (http_status == 0) {
        snprintf(res->message, sizeof(res->message), "temporary failure: %s",
                 curl_error != NULL ? curl_error : "no reply");
        return NULL;
    }
    if (body != NULL)
        obj = jsonwipe_parse(body, len); /* NULL too with a NUL or trailing garbage */
    if (obj == NULL || !json_object_is_type(obj, json_type_object)) {
        if (http_status == 429 || http_status >= 500 || http_status == 200)
            res->verdict = TOKEN_TRANSIENT;
        else
            res->verdict = http_status >= 400 ? TOKEN_PERMANENT : TOKEN_TRANSIENT;
        snprintf(res->message, sizeof(res->message),
                 "%s (HTTP %ld): the reply is not a JSON object (%zu bytes)",
                 res->verdict == TOKEN_TRANSIENT ? "temporary failure" : "needs a person",
                 http_status, len);
        jsonwipe_put(obj);
        return NULL;
    }
    if (find_embedded_nul(obj, "", &where)) {
        char clean_key[64];

        /* Never a token's prefix in place of the token: refuse the reply. */
        log_clean(clean_key, sizeof(clean_key), where, strlen(where));
        if (http_status == 429 || http_status >= 500 || http_status == 200)
            res->verdict = TOKEN_TRANSIENT;
        else
            res->verdict = TOKEN_PERMANENT;
        snprintf(res->message, sizeof(res->message),
                 "%s (HTTP %ld): the reply's member \"%s\" holds a string with an embedded "
                 "NUL (\\u0000); refused rather than cut short",
                 res->verdict == TOKEN_TRANSIENT ? "temporary failure" : "needs a person",
                 http_status, clean_key[0] ? clean_key : "(top level)");
        jsonwipe_put(obj);
        return NULL;
    }
    if (http_status != 200 || json_object_object_get_ex(obj, "error", &tmp)) {
        parse_error(http_status, obj, res);
        jsonwipe_put(obj);
        return NULL;
    }
    return obj;
}

/* tokenresp_parse - classify an HTTP reply */
void tokenresp_parse(long http_status, const char *body, size_t len, const char *curl_error,
                     long retry_after, struct token_result *res)
{
    json_object *obj;
    json_object *at_obj = NULL;
    json_object *rt_obj = NULL;
    const char *at;
    const char *rt;
    const char *type;
    json_object *tmp;

    obj = reply_object(http_status, body, len, curl_error, retry_after, res);
    if (obj == NULL)
        return;
    at = get_string(obj, "access_token", &at_obj);
    rt = get_string(obj, "refresh_token", &rt_obj);
    type = get_string(obj, "token_type", &tmp);
    res->expires_in = get_seconds(obj, "expires_in");
    if (at == NULL || !saslwire_token_ok(at, strlen(at))) {
        snprintf(res->message, sizeof(res->message),
                 "temporary failure (HTTP 200): access_token missing or not a bearer token");
        goto out;
    }
    if (type == NULL || strcasecmp(type, "Bearer") != 0) {
        snprintf(res->message, sizeof(res->message),
                 "temporary failure (HTTP 200): token_type is not Bearer");
        goto out;
    }
    if (res->expires_in <= 0) {
        snprintf(res->message, sizeof(res->message),
                 "temporary failure (HTTP 200): expires_in missing or out of range");
        goto out;
    }
    /* Refresh tokens are opaque; refuse only control characters and spaces. */
    if (rt != NULL && rt[0] != '\0' && !tokenresp_opaque_ok(rt, SASLWIRE_MAX_TOKEN)) {
        snprintf(res->message, sizeof(res->message),
                 "temporary failure (HTTP 200): refresh_token has invalid characters");
        goto out;
    }
    res->access_token = strdup(at);
    res->refresh_token = (rt != NULL && rt[0] != '\0') ? strdup(rt) : NULL;
    if (res->access_token == NULL || (rt != NULL && rt[0] != '\0' && res->refresh_token == NULL)) {
        token_result_clear(res);
        res->verdict = TOKEN_TRANSIENT;
        snprintf(res->message, sizeof(res->message), "temporary failure: out of memory");
        goto out;
    }
    res->verdict = TOKEN_OK;
    snprintf(res->message, sizeof(res->message), "expires in %ldm", res->expires_in / 60);
out:
    wipe_string(at_obj);
    wipe_string(rt_obj);
    jsonwipe_put(obj);
}

/* copy_checked - a printable string member into out; 0 when absent, bad or too long */
static int copy_checked(json_object *obj, const char *key, char *out, size_t outsize)
{
    json_object *v;
    const char *s = get_string(obj, key, &v);

    out[0] = '\0';
    if (s == NULL || !tokenresp_opaque_ok(s, outsize - 1))
        return 0;
    snprintf(out, outsize, "%s", s);
    return 1;
}

/* tokenresp_device - classify a device authorization reply */
void tokenresp_device(long http_status, const char *body, size_t len, const char *curl_error,
                      struct device_auth *da, struct token_result *res)
{
    json_object *obj;
    json_object *dc_obj = NULL;
    const char *dc;

    memset(da, 0, sizeof(*da));
    obj = reply_object(http_status, body, len, curl_error, 0, res);
    if (obj == NULL)
        return;
    dc = get_string(obj, "device_code", &dc_obj);
    /* RFC 8628 says verification_uri; Google says verification_url. */
    if (!copy_checked(obj, "verification_uri", da->verification_uri, sizeof(da->verification_uri)))
        copy_checked(obj, "verification_url", da->verification_uri, sizeof(da->verification_uri));
    da->expires_in = get_seconds(obj, "expires_in");
    da->interval = get_seconds(obj, "interval");
    if (da->interval <= 0)
        da->interval = TOKENRESP_DEVICE_INTERVAL;
    if (da->interval > 60)
        da->interval = 60;
    if (dc == NULL || !tokenresp_opaque_ok(dc, SASLWIRE_MAX_TOKEN) ||
        !copy_checked(obj, "user_code", da->user_code, sizeof(da->user_code)) ||
        strncmp(da->verification_uri, "https://", 8) != 0 || da->expires_in <= 0) {
        snprintf(res->message, sizeof(res->message),
                 "needs a person (HTTP 200): the device authorization reply lacks a valid "
                 "device_code, user_code, verification_uri or expires_in");
        res->verdict = TOKEN_PERMANENT;
        goto out;
    }
    da->device_code = strdup(dc);
    if (da->device_code == NULL) {
        snprintf(res->message, sizeof(res->message), "temporary failure: out of memory");
        goto out;
    }
    res->verdict = TOKEN_OK;
    res->message[0] = '\0';
out:
    wipe_string(dc_obj);
    jsonwipe_put(obj);
}

/* tokenresp_device_clear - wipe and free the device code */
void tokenresp_device_clear(struct device_auth *da)
{
    if (da->device_code != NULL) {
        explicit_bzero(da->device_code, strlen(da->device_code));
        free(da->device_code);
    }
    memset(da, 0, sizeof(*da));
}

/* token_result_clear - wipe and free */
void token_result_clear(struct token_result *res)
{
    if (res->access_token != NULL) {
        explicit_bzero(res->access_token, strlen(res->access_token));
        free(res->access_token);
        res->access_token = NULL;
    }
    if (res->refresh_token != NULL) {
        explicit_bzero(res->refresh_token, strlen(res->refresh_token));
        free(res->refresh_token);
        res->refresh_token = NULL;
    }
}
