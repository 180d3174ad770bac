/*
 * assertion.c - read and check a federated credential's external JWT (see assertion.h)
 */
#include "autoconfig.h"

#include "assertion.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "b64.h"
#include "secret.h"

/* day_time - "2026-11-24 03:12 UTC" for a message */
static const char *day_time(long long t, char *buf, size_t size)
{
    time_t tt = (time_t)t;
    struct tm tm;

    gmtime_r(&tt, &tm);
    strftime(buf, size, "%Y-%m-%d %H:%M:%S UTC", &tm);
    return buf;
}

/* decode_part - one base64url part of a JWT as a JSON object; NULL when it is not one */
static json_object *decode_part(const char *part, size_t len)
{
    unsigned char *text = NULL;
    size_t n = 0;
    json_tokener *tok = NULL;
    json_object *obj = NULL;

    if (b64_url_decode(part, len, &text, &n) < 0 || n == 0 || memchr(text, '\0', n) != NULL)
        goto out;
    tok = json_tokener_new();
    if (tok == NULL)
        goto out;
    obj = json_tokener_parse_ex(tok, (const char *)text, (int)n);
    if (obj == NULL || json_tokener_get_error(tok) != json_tokener_success ||
        json_tokener_get_parse_end(tok) != n || !json_object_is_type(obj, json_type_object)) {
        json_object_put(obj);
        obj = NULL;
    }
out:
    if (tok != NULL) /* json-c 0.16's json_tokener_free does not take NULL */
        json_tokener_free(tok);
    if (text != NULL) {
        explicit_bzero(text, n);
        free(text);
    }
    return obj;
}

/* get_time - an integer claim (a NumericDate), 0 when absent; -1 when of another type */
static long long get_time(json_object *claims, const char *name)
{
    json_object *v;

    if (!json_object_object_get_ex(claims, name, &v))
        return 0;
    if (!json_object_is_type(v, json_type_int) && !json_object_is_type(v, json_type_double))
        return -1;
    if (json_object_get_int64(v) <= 0)
        return -1;
    return (long long)json_object_get_int64(v);
}

/* has_audience - aud is want, or an array holding want */
static int has_audience(json_object *claims, const char *want, char *seen, size_t seensize)
{
    json_object *aud;
    size_t i;

    snprintf(seen, seensize, "none");
    if (!json_object_object_get_ex(claims, "aud", &aud))
        return 0;
    if (json_object_is_type(aud, json_type_string)) {
        snprintf(seen, seensize, "\"%.100s\"", json_object_get_string(aud));
        return strcmp(json_object_get_string(aud), want) == 0;
    }
    if (!json_object_is_type(aud, json_type_array))
        return 0;
    seen[0] = '\0';
    for (i = 0; i < json_object_array_length(aud); i++) {
        json_object *one = json_object_array_get_idx(aud, i);
        size_t used = strlen(seen);

        if (!json_object_is_type(one, json_type_string))
            continue;
        if (strcmp(json_object_get_string(one), want) == 0)
            return 1;
        if (used + 4 < seensize)
            snprintf(seen + used, seensize - used, "%s\"%.60s\"", used ? ", " : "",
                     json_object_get_string(one));
    }
    if (seen[0] == '\0')
        snprintf(seen, seensize, "none");
    return 0;
}

/* check_jwt - the token's form, times and audience; -1 with err */
static int check_jwt(const struct account_conf *acct, const char *jwt, long long now,
                     struct assertion_info *info, char *err, size_t errsize)
{
    const char *dot1 = strchr(jwt, '.');
    const char *dot2 = dot1 != NULL ? strchr(dot1 + 1, '.') : NULL;
    json_object *hdr = NULL;
    json_object *claims = NULL;
    json_object *alg;
    const char *file = acct->client_assertion_file;
    long long nbf;
    char seen[200];
    char b1[40];
    int rc = -1;

    if (dot1 == NULL || dot2 == NULL || strchr(dot2 + 1, '.') != NULL || dot2[1] == '\0') {
        snprintf(err, errsize,
                 "account %s: client_assertion_file %s does not hold a JWT (three base64url "
                 "parts joined by dots); fix: point it at the token file the issuer writes (for "
                 "Kubernetes, the path of the projected serviceAccountToken)",
                 acct->name, file);
        goto out;
    }
    hdr = decode_part(jwt, (size_t)(dot1 - jwt));
    claims = decode_part(dot1 + 1, (size_t)(dot2 - dot1 - 1));
    if (hdr == NULL || claims == NULL || !json_object_object_get_ex(hdr, "alg", &alg) ||
        !json_object_is_type(alg, json_type_string)) {
        snprintf(err, errsize,
                 "account %s: client_assertion_file %s does not hold a JWT: its %s is not "
                 "base64url JSON%s; fix: point it at the token file the issuer writes",
                 acct->name, file,
                 hdr == NULL      ? "header"
                 : claims == NULL ? "payload"
                                  : "header",
                 hdr != NULL && claims != NULL ? " with \"alg\"" : "");
        goto out;
    }
    info->exp = get_time(claims, "exp");
    if (info->exp <= 0) {
        info->exp = 0;
        snprintf(err, errsize,
                 "account %s: client_assertion_file %s: the token has no expiry (exp); Entra "
                 "accepts only short-lived tokens; fix: have the issuer set exp (Kubernetes: "
                 "expirationSeconds of the projected token)",
                 acct->name, file);
        goto out;
    }
    if (get_time(claims, "iat") > 0)
        info->iat = get_time(claims, "iat");
    if (info->exp <= now + ASSERTION_MIN_LEFT_S) {
        snprintf(err, errsize,
                 "account %s: client_assertion_file %s: the token %s %s and the file has not been "
                 "replaced since %s; fix: check that the issuer's agent still refreshes it "
                 "(kubelet and the projected serviceAccountToken volume; a token is replaced "
                 "when 80%% of its life has passed)",
                 acct->name, file, info->exp <= now ? "expired" : "expires",
                 day_time(info->exp, b1, sizeof(b1)),
                 info->mtime ? day_time(info->mtime, seen, sizeof(seen)) : "(unknown)");
        goto out;
    }
    nbf = get_time(claims, "nbf");
    if (nbf > now + ASSERTION_SKEW_S) {
        snprintf(err, errsize,
                 "account %s: client_assertion_file %s: the token is not valid before %s; fix: "
                 "check this host's clock (NTP) and the issuer's",
                 acct->name, file, day_time(nbf, b1, sizeof(b1)));
        goto out;
    }
    if (!has_audience(claims, acct->assertion_audience, seen, sizeof(seen))) {
        snprintf(err, errsize,
                 "account %s: client_assertion_file %s: the token's audience (aud) is %s, not "
                 "assertion_audience %s; fix: issue it for that audience (Kubernetes: audience: "
                 "%s in the projected serviceAccountToken), or set assertion_audience to the "
                 "audience of the app's federated credential",
                 acct->name, file, seen, acct->assertion_audience, acct->assertion_audience);
        goto out;
    }
    rc = 0;
out:
    json_object_put(hdr);
    json_object_put(claims);
    return rc;
}

/* assertion_read - read and check the external JWT */
int assertion_read(const struct account_conf *acct, long long now, char **jwt,
                   struct assertion_info *info, char *err, size_t errsize)
{
    struct assertion_info local;
    struct stat st;
    char *text = NULL;
    int rc = -1;

    if (jwt != NULL)
        *jwt = NULL;
    if (info == NULL)
        info = &local;
    memset(info, 0, sizeof(*info));
    if (acct->client_assertion_file[0] == '\0') {
        snprintf(err, errsize, "account %s: no client_assertion_file", acct->name);
        return -1;
    }
    if (stat(acct->client_assertion_file, &st) < 0) {
        if (errno == ENOENT)
            snprintf(err, errsize,
                     "account %s: client_assertion_file %s is missing; fix: mount the issuer's "
                     "token there (Kubernetes: a projected serviceAccountToken volume) or set "
                     "client_assertion_file to where it is",
                     acct->name, acct->client_assertion_file);
        else
            snprintf(err, errsize,
                     "account %s: client_assertion_file %s is unreadable: %s; fix: let the "
                     "daemon's user reach it",
                     acct->name, acct->client_assertion_file, strerror(errno));
        return -1;
    }
    info->mtime = (long long)st.st_mtim.tv_sec;
    if (config_secret_file_read(acct, "client_assertion_file", acct->client_assertion_file,
                                ASSERTION_MAX, 1, &text, err, errsize) < 0)
        goto out;
    if (check_jwt(acct, text, now, info, err, errsize) < 0)
        goto out;
    if (info->iat == 0)
        info->iat = info->mtime;
    if (jwt != NULL) {
        *jwt = text;
        text = NULL;
    }
    rc = 0;
out:
    secret_free(text);
    return rc;
}

/* assertion_stale - little life left and the file not replaced */
int assertion_stale(const struct assertion_info *info, long long now)
{
    long long life;
    long long margin;

    if (info->exp == 0)
        return 0;
    life = info->iat > 0 && info->iat < info->exp ? info->exp - info->iat : 0;
    margin = life * ASSERTION_STALE_PCT / 100;
    if (margin < ASSERTION_STALE_MIN_S)
        margin = ASSERTION_STALE_MIN_S;
    return info->exp - now < margin;
}

/* Entra's refusals of an external token, and what fixes each (REFERENCE.md). */
static const struct {
    long code;
    const char *hint;
} federated_hints[] = {
    {70021, "no federated credential of the app matches the token: compare its issuer, subject "
            "and audience with the app's Certificates & secrets > Federated credentials"},
    {700211, "no federated credential of the app has the token's issuer: add one with the "
             "cluster's service-account issuer URL (kubectl get --raw "
             "/.well-known/openid-configuration)"},
    {700212, "no federated credential of the app has the token's audience: make the audience "
             "of the projected token, assertion_audience and the credential's audience the "
             "same (default api://AzureADTokenExchange)"},
    {700213, "no federated credential of the app has the token's subject (compared "
             "case-sensitively): set the credential's subject to "
             "system:serviceaccount:NAMESPACE:SERVICEACCOUNT of the pod"},
    {700024, "the token is expired or not yet valid: check that the token file is still "
             "refreshed and this host's clock (NTP)"},
    {700027, "the token's signature does not verify with the issuer's published keys: check "
             "the issuer URL of the federated credential (the cluster's keys may have been "
             "rotated)"},
};

/* assertion_hint - the fix for a refused federated assertion */
const char *assertion_hint(long aadsts)
{
    size_t i;

    for (i = 0; i < sizeof(federated_hints) / sizeof(federated_hints[0]); i++)
        if (federated_hints[i].code == aadsts)
            return federated_hints[i].hint;
    return NULL;
}
