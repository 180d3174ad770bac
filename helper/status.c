/*
 * status.c - per-account status for status and check (see status.h)
 */
#include "autoconfig.h"

#include "status.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "assertion.h"
#include "clientauth.h"
#include "explain.h"
#include "clock.h"
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

/*
 * status_needs_person - nothing will change until someone acts: a refresh
 * failed for good, or no grant was ever stored (an app-only account's
 * credential is in the config)
 */
int status_needs_person(const struct acct *a)
{
    if (a->last == LAST_PERMANENT)
        return 1;
    return !config_app_only(a->conf) && a->st.refresh_token == NULL;
}

/*
 * status_add_federated - the rollover's next certificate and the federated
 * credential's external token: when they expire, and (for the token) what
 * is wrong with its file, never the token itself
 */
static void status_add_federated(json_object *o, const struct acct *a)
{
    struct assertion_info info;
    char err[600];
    long long now = clock_wall_s();
    int pair;

    if (clientauth_has_next(a->conf)) {
        pair = a->cert_pair_known ? a->cert_pair : clientauth_pick_pair(a->conf, now);
        json_object_object_add(o, "next_certificate_configured", json_object_new_boolean(1));
        add_int(o, "next_certificate_expires_at", clientauth_next_cert_expiry(a->conf));
        json_object_object_add(o, "certificate_in_use",
                               json_object_new_string(pair ? "next" : "current"));
    }
    if (a->conf->client_assertion_file[0] == '\0')
        return;
    err[0] = '\0';
    if (assertion_read(a->conf, now, NULL, &info, err, sizeof(err)) == 0 &&
        assertion_stale(&info, now))
        snprintf(err, sizeof(err),
                 "account %s: client_assertion_file %s: the token expires within %lld seconds "
                 "and the file has not been replaced; fix: check that the issuer's agent "
                 "(kubelet, the projected serviceAccountToken volume) still refreshes it",
                 a->conf->name, a->conf->client_assertion_file, info.exp - now);
    json_object_object_add(o, "assertion_file",
                           json_object_new_string(a->conf->client_assertion_file));
    add_int(o, "assertion_expires_at", info.exp);
    add_int(o, "assertion_issued_at", info.iat);
    add_int(o, "assertion_file_changed_at", info.mtime);
    json_object_object_add(o, "assertion_problem", json_object_new_string(err));
}

/* status_json - the status object of one account */
json_object *status_json(const struct acct *a)
{
    json_object *o = json_object_new_object();
    long long used = a->st.last_success ? a->st.last_success : a->st.authorized;
    const struct explain *hint = explain_aadsts(a->last_code);

    if (o == NULL)
        return NULL;
    json_object_object_add(o, "account", json_object_new_string(a->conf->name));
    json_object_object_add(o, "login", json_object_new_string(a->conf->login));
    json_object_object_add(o, "grant", json_object_new_string(a->conf->grant));
    /* An app-only account needs nobody's authorization: its credential is in the config. */
    json_object_object_add(
        o, "authorized",
        json_object_new_boolean(config_app_only(a->conf) || a->st.refresh_token != NULL));
    add_int(o, "authorized_at", a->st.authorized);
    add_int(o, "token_expires_at", cache_expires_wall(a));
    add_int(o, "token_obtained_at", a->st.access_token ? a->st.obtained_at : 0);
    add_int(o, "last_refresh", a->last_refresh);
    json_object_object_add(o, "last_result", json_object_new_string(last_result_name(a->last)));
    json_object_object_add(o, "last_error",
                           json_object_new_string(a->last == LAST_OK ? "" : a->last_error));
    add_int(o, "last_error_code", a->last_code);
    json_object_object_add(o, "last_error_hint", json_object_new_string(hint ? hint->text : ""));
    add_int(o, "last_failure_at", a->last_failure);
    add_int(o, "refresh_token_last_used", a->st.last_success);
    add_int(o, "refresh_token_lapses_at",
            a->st.refresh_token && used ? used + STATUS_RT_INACTIVITY_S : 0);
    add_int(o, "refresh_token_stored_at", a->st.refresh_token ? a->st.rt_stored : 0);
    add_int(o, "failures", a->failures);
    json_object_object_add(o, "needs_person", json_object_new_boolean(status_needs_person(a)));
    add_int(o, "client_secret_expires_at", a->conf->secret_expires);
    add_int(o, "certificate_expires_at", clientauth_cert_expiry(a->conf));
    status_add_federated(o, a);
    return o;
}

/* reply_index - the column of a reply status in status_replies */
static int reply_index(socketmap_status status)
{
    switch (status) {
    case SOCKETMAP_OK:
        return 0;
    case SOCKETMAP_NOTFOUND:
        return 1;
    case SOCKETMAP_PERM:
        return 3;
    case SOCKETMAP_TEMP:
    case SOCKETMAP_TIMEOUT:
        break;
    }
    return 2;
}

/* status_count_reply - count one reply */
void status_count_reply(struct status_replies *r, int kind, socketmap_status status)
{
    if (kind < 0 || kind > STATUS_REPLY_OTHER)
        kind = STATUS_REPLY_OTHER;
    r->n[kind][reply_index(status)]++;
}

/* status_set_replies - the daemon's start and its reply counts */
void status_set_replies(json_object *st, const struct status_replies *r)
{
    static const socketmap_status cols[STATUS_REPLY_RESULTS] = {SOCKETMAP_OK, SOCKETMAP_NOTFOUND,
                                                                SOCKETMAP_TEMP, SOCKETMAP_PERM};
    json_object *all = json_object_new_object();
    int k;
    int c;

    if (all == NULL)
        return;
    for (k = 0; k <= STATUS_REPLY_OTHER; k++) {
        json_object *row = json_object_new_object();

        if (row == NULL)
            break;
        for (c = 0; c < STATUS_REPLY_RESULTS; c++)
            add_int(row, socketmap_status_name(cols[c]), (long long)r->n[k][c]);
        json_object_object_add(all, k == STATUS_REPLY_OTHER ? "other" : protocol_requests[k].name,
                               row);
    }
    add_int(st, "daemon_started_at", r->started_at);
    json_object_object_add(st, "daemon_replies", all);
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

/* span - a duration in words: "45 seconds", "1 minute", "3 hours 5 minutes", "12 days" */
static void span(long long s, char *buf, size_t size)
{
    if (s < 60)
        snprintf(buf, size, "%lld second%s", s, s == 1 ? "" : "s");
    else if (s < 3600)
        snprintf(buf, size, "%lld minute%s", s / 60, s / 60 == 1 ? "" : "s");
    else if (s < 2 * 86400 && (s % 3600) / 60 != 0)
        snprintf(buf, size, "%lld hour%s %lld minute%s", s / 3600, s / 3600 == 1 ? "" : "s",
                 (s % 3600) / 60, (s % 3600) / 60 == 1 ? "" : "s");
    else if (s < 2 * 86400)
        snprintf(buf, size, "%lld hour%s", s / 3600, s / 3600 == 1 ? "" : "s");
    else
        snprintf(buf, size, "%lld days", s / 86400);
}

/*
 * when - "2026-11-24 03:12 UTC (in 54 minutes)" or "(12 minutes ago)";
 * past says the event has happened (a refresh, a failure), so a clock
 * a second ahead of ours still reads "just now", never "in 0 seconds"
 */
static const char *when(long long t, int past, char *buf, size_t size)
{
    long long d = t - clock_wall_s();
    char rel[64];
    char dur[48];
    struct tm tm;
    time_t tt = (time_t)t;

    if (t == 0) {
        snprintf(buf, size, "never");
        return buf;
    }
    if (d == 0 || (past && d > 0)) {
        snprintf(rel, sizeof(rel), "just now");
    } else if (d < 0) {
        span(-d, dur, sizeof(dur));
        snprintf(rel, sizeof(rel), "%s ago", dur);
    } else {
        span(d, dur, sizeof(dur));
        snprintf(rel, sizeof(rel), "in %s", dur);
    }
    gmtime_r(&tt, &tm);
    snprintf(buf, size, "%04d-%02d-%02d %02d:%02d UTC (%s)", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, rel);
    return buf;
}

/* add_null_or_bool - a boolean member, or null when unknown (-1) */
static void add_null_or_bool(json_object *o, const char *key, int v)
{
    json_object_object_add(o, key, v < 0 ? NULL : json_object_new_boolean(v));
}

/* status_set_daemon - add the "daemon" member */
void status_set_daemon(json_object *st, const struct status_daemon *d, int knows)
{
    json_object *o = json_object_new_object();

    if (o == NULL)
        return;
    add_null_or_bool(o, "running", d->running);
    add_null_or_bool(o, "knows_account", knows);
    add_int(o, "pid", d->pid);
    json_object_object_add(o, "socket", json_object_new_string(d->socket));
    json_object_object_add(o, "error", json_object_new_string(d->error));
    json_object_object_add(st, "daemon", o);
}

/* daemon_state - -1 unknown, 0 false, 1 true: a member of the "daemon" object */
static int daemon_state(json_object *st, const char *key)
{
    json_object *d;
    json_object *v;

    if (!json_object_object_get_ex(st, "daemon", &d) || !json_object_object_get_ex(d, key, &v) ||
        !json_object_is_type(v, json_type_boolean))
        return -1;
    return json_object_get_boolean(v);
}

/* daemon_str - a string member of the "daemon" object, "" when absent */
static const char *daemon_str(json_object *st, const char *key)
{
    json_object *d;

    if (!json_object_object_get_ex(st, "daemon", &d))
        return "";
    return get_str(d, key);
}

/* status_reload_hint - how to make a running daemon reread its config */
const char *status_reload_hint(json_object *st, char *buf, size_t size)
{
    json_object *d;
    long long pid = 0;

    if (json_object_object_get_ex(st, "daemon", &d))
        pid = get_ll(d, "pid");
    if (pid > 0)
        snprintf(buf, size, "systemctl reload oauth2-token-helper, or kill -HUP %lld", pid);
    else
        snprintf(buf, size, "systemctl reload oauth2-token-helper, or kill -HUP the daemon");
    return buf;
}

/* without_prefix - an error text without the "refresh failing: " the cache puts first */
static const char *without_prefix(const char *msg)
{
    static const char prefix[] = "refresh failing: ";

    if (strncmp(msg, prefix, sizeof(prefix) - 1) == 0)
        return msg + sizeof(prefix) - 1;
    return msg;
}

/* when_in_use - when(t) with ", in use" after it when in_use */
static const char *when_in_use(long long t, int in_use, char *buf, size_t size)
{
    char w[96];

    snprintf(buf, size, "%s%s", when(t, 0, w, sizeof(w)), in_use ? ", in use" : "");
    return buf;
}

/* status_print - human-readable lines */
void status_print(FILE *fp, json_object *st)
{
    char b1[96];
    char b2[96];
    char hint[128];
    long long code = get_ll(st, "last_error_code");
    long long expires = get_ll(st, "token_expires_at");
    long long obtained = get_ll(st, "token_obtained_at");
    long long refreshed = get_ll(st, "last_refresh");
    int running = daemon_state(st, "running");
    int knows = daemon_state(st, "knows_account");

    fprintf(fp, "account %s\n", get_str(st, "account"));
    fprintf(fp, "  login:            %s\n", get_str(st, "login"));
    fprintf(fp, "  grant:            %s, %s\n", get_str(st, "grant"),
            json_object_get_boolean(json_object_object_get(st, "authorized"))
                ? "authorized"
                : "NOT authorized (run: oauth2-token-helper authorize ACCOUNT)");
    if (running == 1 && knows == 0)
        fprintf(fp,
                "  daemon:           running, but it does not know this account (added to the "
                "config after it started): reload it (%s); shown from the state file\n",
                status_reload_hint(st, hint, sizeof(hint)));
    else if (running == 0)
        fprintf(fp, "  daemon:           not running; shown from the state file\n");
    else if (knows < 0 && daemon_str(st, "error")[0] != '\0')
        fprintf(fp, "  daemon:           could not be asked (%s); shown from the state file\n",
                daemon_str(st, "error"));
    if (get_ll(st, "authorized_at"))
        fprintf(fp, "  authorized:       %s\n",
                when(get_ll(st, "authorized_at"), 1, b1, sizeof(b1)));
    if (expires == 0)
        fprintf(fp, "  access token:     none held\n");
    else if (obtained != 0)
        fprintf(fp, "  access token:     %s %s, obtained %s\n",
                expires > clock_wall_s() ? "expires" : "expired", when(expires, 0, b1, sizeof(b1)),
                when(obtained, 1, b2, sizeof(b2)));
    else
        fprintf(fp, "  access token:     %s %s\n", expires > clock_wall_s() ? "expires" : "expired",
                when(expires, 0, b1, sizeof(b1)));
    if (refreshed != 0)
        fprintf(fp, "  last refresh:     %s, %s\n", when(refreshed, 1, b1, sizeof(b1)),
                get_str(st, "last_result"));
    else if (expires != 0 && obtained != 0)
        fprintf(fp, "  last refresh:     none recorded; the token held was obtained %s\n",
                when(obtained, 1, b1, sizeof(b1)));
    else if (expires != 0)
        fprintf(fp, "  last refresh:     none recorded; a token is held\n");
    else
        fprintf(fp, "  last refresh:     never\n");
    if (get_ll(st, "refresh_token_lapses_at"))
        fprintf(fp, "  refresh token:    lapses after 90 days unused: %s\n",
                when(get_ll(st, "refresh_token_lapses_at"), 0, b1, sizeof(b1)));
    if (get_ll(st, "client_secret_expires_at"))
        fprintf(fp, "  client secret:    expires %s\n",
                when(get_ll(st, "client_secret_expires_at"), 0, b1, sizeof(b1)));
    if (get_ll(st, "certificate_expires_at"))
        fprintf(fp, "  certificate:      expires %s%s\n",
                when(get_ll(st, "certificate_expires_at"), 0, b1, sizeof(b1)),
                strcmp(get_str(st, "certificate_in_use"), "current") == 0 ? ", in use" : "");
    if (json_object_get_boolean(json_object_object_get(st, "next_certificate_configured")) &&
        get_ll(st, "certificate_expires_at") == 0)
        fprintf(fp, "  certificate:      missing or unreadable (client_certificate_file)\n");
    if (json_object_get_boolean(json_object_object_get(st, "next_certificate_configured")))
        fprintf(fp, "  next certificate: %s%s\n",
                get_ll(st, "next_certificate_expires_at")
                    ? "expires "
                    : "missing or unreadable (make it: oauth2-token-helper new-certificate "
                      "ACCOUNT)",
                get_ll(st, "next_certificate_expires_at")
                    ? when_in_use(get_ll(st, "next_certificate_expires_at"),
                                  strcmp(get_str(st, "certificate_in_use"), "next") == 0, b2,
                                  sizeof(b2))
                    : "");
    if (get_str(st, "assertion_file")[0] != '\0') {
        fprintf(fp, "  external token:   %s, %s %s\n", get_str(st, "assertion_file"),
                get_ll(st, "assertion_expires_at") > clock_wall_s() ? "expires" : "expired",
                get_ll(st, "assertion_expires_at")
                    ? when(get_ll(st, "assertion_expires_at"), 0, b1, sizeof(b1))
                    : "(unknown)");
        if (get_ll(st, "assertion_file_changed_at"))
            fprintf(fp, "                    file last replaced %s\n",
                    when(get_ll(st, "assertion_file_changed_at"), 1, b1, sizeof(b1)));
        if (get_str(st, "assertion_problem")[0] != '\0')
            fprintf(fp, "                    PROBLEM: %s\n", get_str(st, "assertion_problem"));
    }
    if (get_ll(st, "last_failure_at")) {
        fprintf(fp, "  last error:       %s: %s\n",
                when(get_ll(st, "last_failure_at"), 1, b1, sizeof(b1)),
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
    long long now = clock_wall_s();
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

/*
 * check_rollover - two certificate pairs: mail stops only when both have
 * expired, so the later expiry is the one judged; while only one of them is
 * valid (the other missing, unreadable or expired) it is a warning
 */
static void check_rollover(json_object *st, long warn_days, long crit_days, check_level *level,
                           char *why, size_t whysize, long *days_left)
{
    long long now = clock_wall_s();
    long long cur = get_ll(st, "certificate_expires_at");
    long long next = get_ll(st, "next_certificate_expires_at");
    int valid = (cur > now) + (next > now);

    consider(cur > next ? cur : next, "certificate (the later of the two)", warn_days, crit_days,
             level, why, whysize, days_left);
    if (valid == 1 && *level < CHECK_WARNING) {
        *level = CHECK_WARNING;
        snprintf(why, whysize,
                 "only one certificate is valid: %s is %s; fix: make the next pair "
                 "(oauth2-token-helper new-certificate ACCOUNT) and upload it, or remove the "
                 "next_* settings once the rollover is over",
                 next > now ? "client_certificate_file" : "next_client_certificate_file",
                 (next > now ? cur : next) == 0 ? "missing or unreadable" : "expired");
    }
}

/* check_assertion - the federated credential's token file: unusable is critical, stale a warning */
static void check_assertion(json_object *st, check_level *level, char *why, size_t whysize)
{
    long long exp = get_ll(st, "assertion_expires_at");
    const char *problem = get_str(st, "assertion_problem");

    if (get_str(st, "assertion_file")[0] == '\0' || problem[0] == '\0')
        return;
    if (exp > clock_wall_s() + ASSERTION_MIN_LEFT_S) {
        if (*level < CHECK_WARNING) {
            *level = CHECK_WARNING;
            snprintf(why, whysize, "%.400s", problem);
        }
    } else if (*level < CHECK_CRITICAL) {
        *level = CHECK_CRITICAL;
        snprintf(why, whysize, "%.400s", problem);
    }
}

/* status_check - judge one account */
check_level status_check(json_object *st, long warn_days, long crit_days, char *why, size_t whysize,
                         long *days_left)
{
    check_level level = CHECK_OK;
    const char *last = get_str(st, "last_result");
    long long tok = get_ll(st, "token_expires_at");

    *days_left = -1;
    snprintf(why, whysize, "ok");
    if (daemon_state(st, "running") == 0) {
        snprintf(why, whysize,
                 "the token daemon is not running (no answer on %.200s); start it "
                 "(systemctl start oauth2-token-helper)",
                 daemon_str(st, "socket"));
        level = CHECK_CRITICAL;
    } else if (daemon_state(st, "running") == 1 && daemon_state(st, "knows_account") == 0) {
        char hint[128];

        snprintf(why, whysize,
                 "the running token daemon does not know this account (added after it "
                 "started); reload it (%s)",
                 status_reload_hint(st, hint, sizeof(hint)));
        level = CHECK_CRITICAL;
    } else if (daemon_state(st, "knows_account") < 0 && daemon_str(st, "error")[0] != '\0') {
        snprintf(why, whysize, "cannot ask the token daemon: %.300s", daemon_str(st, "error"));
        level = CHECK_UNKNOWN;
    } else if (!json_object_get_boolean(json_object_object_get(st, "authorized"))) {
        snprintf(why, whysize, "not authorized: import or authorize a refresh token");
        level = CHECK_CRITICAL;
    } else if (strcmp(last, "needs-person") == 0) {
        snprintf(why, whysize, "cannot get a token: %.200s", get_str(st, "last_error"));
        level = CHECK_CRITICAL;
    } else if (strcmp(last, "temporary") == 0) {
        if (tok > clock_wall_s()) {
            snprintf(why, whysize, "refresh failing, current token still valid: %.200s",
                     without_prefix(get_str(st, "last_error")));
            level = CHECK_WARNING;
        } else {
            snprintf(why, whysize, "no valid token, refresh failing: %.200s",
                     without_prefix(get_str(st, "last_error")));
            level = CHECK_CRITICAL;
        }
    }
    consider(get_ll(st, "client_secret_expires_at"), "client secret", warn_days, crit_days, &level,
             why, whysize, days_left);
    if (json_object_get_boolean(json_object_object_get(st, "next_certificate_configured")))
        check_rollover(st, warn_days, crit_days, &level, why, whysize, days_left);
    else
        consider(get_ll(st, "certificate_expires_at"), "certificate", warn_days, crit_days, &level,
                 why, whysize, days_left);
    check_assertion(st, &level, why, whysize);
    consider(get_ll(st, "refresh_token_lapses_at"), "refresh token (90 days unused)", warn_days,
             crit_days, &level, why, whysize, days_left);
    return level;
}
