/*
 * status.c - per-account status for status and check (see status.h)
 */
#include "autoconfig.h"

#include "status.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "clientauth.h"
#include "tokenresp.h"

/* last_result_name - the wire word for a last_result */
static const char *last_result_name(last_result r)
{
    switch (r) {
    case LAST_OK:
        return "ok";
    case LAST_TRANSIENT:
        return "temporary";
    case LAST_PERMANENT:
        return "needs-person";
    case LAST_NONE:
        return "none";
    }
    return "none";
}

/* add_int - add an integer member */
static void add_int(json_object *o, const char *key, long long v)
{
    json_object_object_add(o, key, json_object_new_int64(v));
}

/* status_json - the status object of one account */
json_object *status_json(const struct acct *a)
{
    json_object *o = json_object_new_object();
    long long used = a->st.last_success ? a->st.last_success : a->st.authorized;
    const char *hint = tokenresp_hint(a->last_code);

    if (o == NULL)
        return NULL;
    json_object_object_add(o, "account", json_object_new_string(a->conf->name));
    json_object_object_add(o, "login", json_object_new_string(a->conf->login));
    json_object_object_add(o, "grant", json_object_new_string(a->conf->grant));
    /* An app-only account needs nobody's authorization: its credential is in the config. */
    json_object_object_add(o, "authorized",
                           json_object_new_boolean(a->conf->grant_type == GRANT_CLIENT_CREDENTIALS ||
                                                   a->st.refresh_token != NULL));
    add_int(o, "authorized_at", a->st.authorized);
    add_int(o, "token_expires_at", cache_expires_wall(a));
    add_int(o, "last_refresh", a->last_refresh);
    json_object_object_add(o, "last_result", json_object_new_string(last_result_name(a->last)));
    json_object_object_add(o, "last_error",
                           json_object_new_string(a->last == LAST_OK ? "" : a->last_error));
    add_int(o, "last_error_code", a->last_code);
    json_object_object_add(o, "last_error_hint", json_object_new_string(hint ? hint : ""));
    add_int(o, "last_failure_at", a->last_failure);
    add_int(o, "refresh_token_last_used", a->st.last_success);
    add_int(o, "refresh_token_lapses_at",
            a->st.refresh_token && used ? used + STATUS_RT_INACTIVITY_S : 0);
    add_int(o, "client_secret_expires_at", a->conf->secret_expires);
    add_int(o, "certificate_expires_at", clientauth_cert_expiry(a->conf));
    return o;
}

/* get_ll - an integer member, 0 when absent */
static long long get_ll(json_object *o, const char *key)
{
    json_object *v;

    if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int))
        return 0;
    return (long long)json_object_get_int64(v);
}

/* get_str - a string member, "" when absent */
static const char *get_str(json_object *o, const char *key)
{
    json_object *v;

    if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
        return "";
    return json_object_get_string(v);
}

/* when - "2026-11-24 03:12 UTC (in 54m)" */
static const char *when(long long t, char *buf, size_t size)
{
    long long d = t - (long long)time(NULL);
    long long ad = d < 0 ? -d : d;
    char rel[48];
    struct tm tm;
    time_t tt = (time_t)t;

    if (t == 0) {
        snprintf(buf, size, "never");
        return buf;
    }
    if (ad < 60)
        snprintf(rel, sizeof(rel), "%llds", ad);
    else if (ad < 3600)
        snprintf(rel, sizeof(rel), "%lldm", ad / 60);
    else if (ad < 2 * 86400)
        snprintf(rel, sizeof(rel), "%lldh%02lldm", ad / 3600, (ad % 3600) / 60);
    else
        snprintf(rel, sizeof(rel), "%lld days", ad / 86400);
    gmtime_r(&tt, &tm);
    snprintf(buf, size, "%04d-%02d-%02d %02d:%02d UTC (%s%s%s)", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, d < 0 ? "" : "in ", rel,
             d < 0 ? " ago" : "");
    return buf;
}

/* status_print - human-readable lines */
void status_print(FILE *fp, json_object *st, int daemon_running)
{
    char b1[96];
    long long code = get_ll(st, "last_error_code");

    fprintf(fp, "account %s\n", get_str(st, "account"));
    fprintf(fp, "  login:            %s\n", get_str(st, "login"));
    fprintf(fp, "  grant:            %s, %s\n", get_str(st, "grant"),
            json_object_get_boolean(json_object_object_get(st, "authorized"))
                ? "authorized"
                : "NOT authorized (run: oauth2-token-helper authorize ACCOUNT)");
    if (get_ll(st, "authorized_at"))
        fprintf(fp, "  authorized:       %s\n", when(get_ll(st, "authorized_at"), b1, sizeof(b1)));
    fprintf(fp, "  access token:     %s\n",
            get_ll(st, "token_expires_at") ? when(get_ll(st, "token_expires_at"), b1, sizeof(b1))
                                           : "none held");
    fprintf(fp, "  last refresh:     %s, %s%s\n", when(get_ll(st, "last_refresh"), b1, sizeof(b1)),
            get_str(st, "last_result"), daemon_running ? "" : " (daemon not running)");
    if (get_ll(st, "refresh_token_lapses_at"))
        fprintf(fp, "  refresh token:    lapses after 90 days unused: %s\n",
                when(get_ll(st, "refresh_token_lapses_at"), b1, sizeof(b1)));
    if (get_ll(st, "client_secret_expires_at"))
        fprintf(fp, "  client secret:    expires %s\n",
                when(get_ll(st, "client_secret_expires_at"), b1, sizeof(b1)));
    if (get_ll(st, "certificate_expires_at"))
        fprintf(fp, "  certificate:      expires %s\n",
                when(get_ll(st, "certificate_expires_at"), b1, sizeof(b1)));
    if (get_ll(st, "last_failure_at")) {
        fprintf(fp, "  last error:       %s: %s\n", when(get_ll(st, "last_failure_at"), b1, sizeof(b1)),
                get_str(st, "last_error")[0] ? get_str(st, "last_error") : "(since recovered)");
        if (code != 0)
            fprintf(fp, "                    AADSTS%lld: %s\n", code,
                    get_str(st, "last_error_hint")[0] ? get_str(st, "last_error_hint")
                                                      : "see Microsoft's AADSTS reference");
    }
}

/* consider - fold one expiry date into the verdict */
static void consider(long long at, const char *what, long warn_days, long crit_days,
                     check_level *level, char *why, size_t whysize, long *days_left)
{
    long long now = (long long)time(NULL);
    long days;

    if (at == 0)
        return;
    days = (long)((at - now) / 86400);
    if (at < now)
        days = -1 - (long)((now - at) / 86400);
    if (*days_left < 0 || days < *days_left)
        *days_left = days < 0 ? 0 : days;
    if (days < crit_days && *level < CHECK_CRITICAL) {
        *level = CHECK_CRITICAL;
        if (at < now)
            snprintf(why, whysize, "%s expired", what);
        else
            snprintf(why, whysize, "%s expires in %ld days", what, days);
    } else if (days < warn_days && *level < CHECK_WARNING) {
        *level = CHECK_WARNING;
        snprintf(why, whysize, "%s expires in %ld days", what, days);
    }
}

/* status_check - judge one account */
check_level status_check(json_object *st, long warn_days, long crit_days, char *why,
                         size_t whysize, long *days_left)
{
    check_level level = CHECK_OK;
    const char *last = get_str(st, "last_result");
    long long tok = get_ll(st, "token_expires_at");

    *days_left = -1;
    snprintf(why, whysize, "ok");
    if (!json_object_get_boolean(json_object_object_get(st, "authorized"))) {
        snprintf(why, whysize, "not authorized: import or authorize a refresh token");
        level = CHECK_CRITICAL;
    } else if (strcmp(last, "needs-person") == 0) {
        snprintf(why, whysize, "cannot get a token: %.200s", get_str(st, "last_error"));
        level = CHECK_CRITICAL;
    } else if (strcmp(last, "temporary") == 0) {
        if (tok > (long long)time(NULL)) {
            snprintf(why, whysize, "refresh failing, current token still valid: %.200s",
                     get_str(st, "last_error"));
            level = CHECK_WARNING;
        } else {
            snprintf(why, whysize, "no valid token, refresh failing: %.200s",
                     get_str(st, "last_error"));
            level = CHECK_CRITICAL;
        }
    }
    consider(get_ll(st, "client_secret_expires_at"), "client secret", warn_days, crit_days,
             &level, why, whysize, days_left);
    consider(get_ll(st, "certificate_expires_at"), "certificate", warn_days, crit_days, &level,
             why, whysize, days_left);
    consider(get_ll(st, "refresh_token_lapses_at"), "refresh token (90 days unused)", warn_days,
             crit_days, &level, why, whysize, days_left);
    return level;
}
