/*
 * cache.c - every account's tokens, and when to refresh them (see cache.h)
 */
#include "autoconfig.h"

#include "cache.h"

#include <errno.h>
#include <openssl/rand.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "assertion.h"
#include "clientauth.h"
#include "clock.h"
#include "http.h"
#include "log.h"
#include "secret.h"
#include "svcacct.h"
#include "tokenresp.h"

static const struct cache_clock system_clock = {clock_mono_ms, clock_wall_ms};
static const struct cache_clock *clock_now = &system_clock;

/* cache_set_clock - replace the clocks (tests); NULL restores the system's */
void cache_set_clock(const struct cache_clock *clk)
{
    clock_now = clk != NULL ? clk : &system_clock;
}

/* cache_now_ms - the monotonic clock in milliseconds */
long long cache_now_ms(void)
{
    return clock_now->mono_ms();
}

/* cache_wall_ms - the wall clock in milliseconds */
long long cache_wall_ms(void)
{
    return clock_now->wall_ms();
}

/* cache_min_remaining_s - seconds a handed-out token must still have */
long long cache_min_remaining_s(long long lifetime_s, long long refresh_ahead_s)
{
    if (lifetime_s <= 0)
        return refresh_ahead_s;
    return lifetime_s / 2 < refresh_ahead_s ? lifetime_s / 2 : refresh_ahead_s;
}

/* cache_refresh_after_s - when, after obtaining it, a token of this lifetime is refreshed */
long long cache_refresh_after_s(long long lifetime_s, long long refresh_ahead_s)
{
    long long window = lifetime_s - cache_min_remaining_s(lifetime_s, refresh_ahead_s);
    long long margin = window / 10 < 60 ? window / 10 : 60;

    return window - margin;
}

/* lifetime_s - the lifetime a's current token was issued with */
static long long lifetime_s(const struct acct *a)
{
    return (a->tok_expires_ms - a->tok_obtained_ms) / 1000;
}

/* cache_remaining_ms - how long a's token stays valid, by the monotonic clock; 0 without one */
long long cache_remaining_ms(const struct acct *a)
{
    long long left;

    if (a->st.access_token == NULL)
        return 0;
    left = a->tok_expires_ms - cache_now_ms();
    return left > 0 ? left : 0;
}

/* cache_expires_wall - a's token expiry as unix time, for people and the disk; 0 without one */
long long cache_expires_wall(const struct acct *a)
{
    if (a->st.access_token == NULL)
        return 0;
    return (cache_wall_ms() + (a->tok_expires_ms - cache_now_ms())) / 1000;
}

/* cache_servable - whether a's token may be handed out now */
int cache_servable(const struct acct *a)
{
    return a->st.access_token != NULL &&
           a->tok_expires_ms - cache_now_ms() >=
               cache_min_remaining_s(lifetime_s(a), a->cfg->refresh_ahead_s) * 1000;
}

/* usable - still valid, for use while refreshes fail */
static int usable(const struct acct *a)
{
    return a->st.access_token != NULL &&
           a->tok_expires_ms - cache_now_ms() > OAUTH2_TOKEN_MIN_REMAINING_S * 1000LL;
}

/* schedule_refresh - the timer for the next proactive refresh of a fresh token */
static void schedule_refresh(struct acct *a)
{
    long long lifetime = lifetime_s(a);

    if (a->st.access_token == NULL || lifetime <= 0) {
        a->timer_ms = 0;
        return;
    }
    a->timer_ms =
        a->tok_obtained_ms + cache_refresh_after_s(lifetime, a->cfg->refresh_ahead_s) * 1000;
}

/*
 * token_times_from_wall - place a token read from disk (wall-clock times)
 * on the monotonic clock, once, at load
 */
static void token_times_from_wall(const struct account_state *st, long long *obtained_ms,
                                  long long *expires_ms)
{
    long long mono = cache_now_ms();
    long long wall = cache_wall_ms();

    *obtained_ms = mono + (st->obtained_at * 1000 - wall);
    *expires_ms = mono + (st->expires_at * 1000 - wall);
}

/* sync_wall_times - the wall-clock view of a's token, for the state file and status */
static void sync_wall_times(struct acct *a)
{
    long long mono = cache_now_ms();
    long long wall = cache_wall_ms();

    if (a->st.access_token == NULL)
        return;
    a->st.expires_at = (wall + (a->tok_expires_ms - mono)) / 1000;
    a->st.obtained_at = (wall + (a->tok_obtained_ms - mono)) / 1000;
}

/* jitter_ms - a random number in [0, max) */
static long long jitter_ms(long long max)
{
    unsigned int r = 0;

    if (max <= 0)
        return 0;
    if (RAND_bytes((unsigned char *)&r, sizeof(r)) != 1)
        r = (unsigned int)random();
    return (long long)(r % (unsigned long long)max);
}

/* cache_backoff_ms - the wait after so many failures: exponential, capped, equal jitter */
long long cache_backoff_ms(int failures)
{
    long long d = CACHE_BACKOFF_BASE_S * 1000LL;
    int i;

    for (i = 1; i < failures && d < CACHE_BACKOFF_CAP_S * 1000LL; i++)
        d *= 2;
    if (d > CACHE_BACKOFF_CAP_S * 1000LL)
        d = CACHE_BACKOFF_CAP_S * 1000LL;
    return d / 2 + jitter_ms(d / 2);
}

/* same_secret - whether two secrets (either may be NULL) are equal */
static int same_secret(const char *x, const char *y)
{
    if (x == NULL || y == NULL)
        return x == y;
    return strcmp(x, y) == 0;
}

/*
 * load_state - (re)read a's state file. Returns 1 when the grant in it
 * (the refresh token) differs from the one in memory, 0 when it is the
 * same or there is no file, -1 when the file is unusable (a then needs a
 * person). An access token in memory that outlives the file's is kept. A
 * rotated refresh token that could not be written yet (save_pending) is
 * newer than the file we last read or wrote, and stays; it yields only to
 * a file someone else wrote since (import, authorize), which is newer still.
 */
static int load_state(struct acct *a)
{
    struct account_state st;
    struct state_stamp stamp;
    long long obtained_ms = 0;
    long long expires_ms = 0;
    char *swap;
    char err[512];
    int changed;
    int rc = state_load(a->cfg->state_dir, a->conf->name, &st, &stamp, err, sizeof(err));

    a->loaded = 1;
    if (rc < 0) {
        log_error("account=%s: %s", a->conf->name, err);
        snprintf(a->last_error, sizeof(a->last_error), "needs a person: %s", err);
        a->last = LAST_PERMANENT;
        a->load_failed = 1;
        return -1;
    }
    /* A file that could not be read before and now can is a new grant. */
    changed = a->load_failed;
    a->load_failed = 0;
    if (rc == 1) {
        memset(&a->stamp, 0, sizeof(a->stamp));
        return changed;
    }
    if (a->save_pending && state_stamp_same(&stamp, &a->stamp)) {
        /* Our unsaved rotated refresh token is newer than this file's. */
        swap = st.refresh_token;
        st.refresh_token = a->st.refresh_token;
        a->st.refresh_token = swap;
        st.rt_stored = a->st.rt_stored;
        st.last_success = a->st.last_success;
    } else if (a->save_pending) {
        log_warn("account=%s: %s/%s.state was replaced (import or authorize); its refresh token "
                 "supersedes the rotated one that could not be written",
                 a->conf->name, a->cfg->state_dir, a->conf->name);
        a->save_pending = 0;
        a->save_failures = 0;
        a->save_retry_ms = 0;
    }
    if (!same_secret(st.refresh_token, a->st.refresh_token))
        changed = 1;
    if (st.access_token != NULL)
        token_times_from_wall(&st, &obtained_ms, &expires_ms);
    /* Keep an in-memory token that is newer than the file's. */
    if (a->st.access_token != NULL && (st.access_token == NULL || a->tok_expires_ms > expires_ms)) {
        secret_free(st.access_token);
        st.access_token = a->st.access_token;
        a->st.access_token = NULL;
        obtained_ms = a->tok_obtained_ms;
        expires_ms = a->tok_expires_ms;
    }
    state_clear(&a->st);
    a->st = st;
    a->stamp = stamp;
    a->tok_obtained_ms = obtained_ms;
    a->tok_expires_ms = expires_ms;
    sync_wall_times(a);
    return changed;
}

/* stamp_file - fold one file's identity into a fingerprint; absent files count too */
static unsigned long long stamp_file(unsigned long long h, const char *path)
{
    struct stat sb;
    unsigned long long v[5] = {0, 0, 0, 0, 0};
    size_t i;

    if (path != NULL && stat(path, &sb) == 0) {
        v[0] = (unsigned long long)sb.st_dev;
        v[1] = (unsigned long long)sb.st_ino;
        v[2] = (unsigned long long)sb.st_size;
        v[3] = (unsigned long long)sb.st_mtim.tv_sec;
        v[4] = (unsigned long long)sb.st_mtim.tv_nsec;
    }
    for (i = 0; i < 5; i++)
        h = (h ^ v[i]) * 1099511628211ULL; /* FNV-1a over the fields */
    return h;
}

/* credential_stamp - a fingerprint of the files holding a's client credential */
static unsigned long long credential_stamp(const struct acct *a)
{
    unsigned long long h = 14695981039346656037ULL;

    h = stamp_file(h, a->conf->client_secret_file);
    h = stamp_file(h, a->conf->client_certificate_file);
    h = stamp_file(h, a->conf->client_key_file);
    h = stamp_file(h, a->conf->client_key_passphrase_file);
    h = stamp_file(h, a->conf->service_account_file);
    h = stamp_file(h, a->conf->client_assertion_file);
    h = stamp_file(h, a->conf->next_client_certificate_file);
    h = stamp_file(h, a->conf->next_client_key_file);
    return h;
}

/* can_refresh - whether a has what a refresh needs: a refresh token, or none at all (app-only) */
static int can_refresh(const struct acct *a)
{
    return config_app_only(a->conf) || a->st.refresh_token != NULL;
}

/* acct_init - set up one account */
static void acct_init(struct acct *a, const struct config *cfg, const struct account_conf *conf)
{
    memset(a, 0, sizeof(*a));
    a->cfg = cfg;
    a->conf = conf;
    a->lock_fd = -1;
}

/* acct_release_transfer - abort a transfer in flight and release its lock */
static void acct_release_transfer(struct cache *c, struct acct *a)
{
    if (a->req != NULL) {
        if (c->multi != NULL)
            curl_multi_remove_handle(c->multi, http_request_easy(a->req));
        http_request_free(a->req);
        a->req = NULL;
    }
    state_unlock(a->lock_fd);
    a->lock_fd = -1;
    a->refreshing = 0;
}

/* acct_release - abort any transfer, unlock, wipe */
static void acct_release(struct cache *c, struct acct *a)
{
    acct_release_transfer(c, a);
    state_clear(&a->st);
}

/* start_timers - first refresh times after start-up, spread a little */
static void start_timers(struct cache *c)
{
    long long now = cache_now_ms();
    size_t i;

    for (i = 0; i < c->n; i++) {
        struct acct *a = &c->accts[i];

        if (!a->loaded)
            load_state(a);
        if (a->last == LAST_PERMANENT || !can_refresh(a))
            continue;
        schedule_refresh(a);
        if (a->timer_ms == 0 || a->timer_ms < now)
            a->timer_ms = now + (long long)(i % 1000) * 20;
    }
}

/* cache_new - one acct per account */
struct cache *cache_new(const struct config *cfg, CURLM *multi)
{
    struct cache *c = calloc(1, sizeof(*c));
    size_t i;

    if (c == NULL)
        return NULL;
    c->cfg = cfg;
    c->multi = multi;
    c->n = cfg->n_accounts;
    c->accts = calloc(c->n ? c->n : 1, sizeof(*c->accts));
    if (c->accts == NULL) {
        free(c);
        return NULL;
    }
    for (i = 0; i < c->n; i++)
        acct_init(&c->accts[i], cfg, &cfg->accounts[i]);
    if (multi != NULL)
        start_timers(c);
    return c;
}

static void last_save(struct acct *a);

/* same_grant - whether two account definitions get the same tokens */
static int same_grant(const struct account_conf *x, const struct account_conf *y)
{
    return x->grant_type == y->grant_type && strcmp(x->endpoint, y->endpoint) == 0 &&
           strcmp(x->client_id, y->client_id) == 0 && strcmp(x->scope, y->scope) == 0;
}

/* cache_reload - move to a new config */
void cache_reload(struct cache *c, const struct config *cfg)
{
    struct acct *fresh = calloc(cfg->n_accounts ? cfg->n_accounts : 1, sizeof(*fresh));
    size_t i;

    if (fresh == NULL) {
        log_error("cannot reload: out of memory");
        return;
    }
    for (i = 0; i < cfg->n_accounts; i++) {
        struct acct *old = cache_find(c, cfg->accounts[i].name);

        acct_init(&fresh[i], cfg, &cfg->accounts[i]);
        if (old != NULL && same_grant(old->conf, &cfg->accounts[i])) {
            /* Keep tokens, and a rotated refresh token not yet on disk (a
             * refresh in flight starts again); forget failures, since the
             * config may have fixed them. */
            acct_release_transfer(c, old);
            fresh[i].st = old->st;
            fresh[i].stamp = old->stamp;
            fresh[i].loaded = old->loaded;
            fresh[i].load_failed = old->load_failed;
            fresh[i].tok_obtained_ms = old->tok_obtained_ms;
            fresh[i].tok_expires_ms = old->tok_expires_ms;
            fresh[i].last_refresh = old->last_refresh;
            fresh[i].save_pending = old->save_pending;
            fresh[i].save_retry_ms = old->save_pending ? cache_now_ms() : 0;
            memset(&old->st, 0, sizeof(old->st));
            old->save_pending = 0;
        }
    }
    for (i = 0; i < c->n; i++) {
        acct_release_transfer(c, &c->accts[i]);
        last_save(&c->accts[i]); /* an account that went away or changed its grant */
        acct_release(c, &c->accts[i]);
    }
    free(c->accts);
    c->accts = fresh;
    c->n = cfg->n_accounts;
    c->cfg = cfg;
    start_timers(c);
}

/* cache_free - wipe and free */
void cache_free(struct cache *c)
{
    size_t i;

    if (c == NULL)
        return;
    for (i = 0; i < c->n; i++) {
        acct_release_transfer(c, &c->accts[i]);
        last_save(&c->accts[i]);
        acct_release(c, &c->accts[i]);
    }
    free(c->accts);
    free(c);
}

/* cache_find - the acct named name */
struct acct *cache_find(struct cache *c, const char *name)
{
    size_t i;

    for (i = 0; i < c->n; i++)
        if (strcmp(c->accts[i].conf->name, name) == 0)
            return &c->accts[i];
    return NULL;
}

/* note_failure - remember a failure for status, beyond the next success */
static void note_failure(struct acct *a, const char *msg, long code)
{
    a->last_failure = cache_wall_ms() / 1000;
    a->last_code = code;
    snprintf(a->last_failure_msg, sizeof(a->last_failure_msg), "%s", msg);
}

/* fail_permanent - record a failure that needs a person */
static void fail_permanent(struct acct *a, const char *msg, long code)
{
    note_failure(a, msg, code);
    a->last = LAST_PERMANENT;
    a->timer_ms = 0;
    a->next_try_ms = 0;
    snprintf(a->last_error, sizeof(a->last_error), "%s", msg);
    log_error("account=%s: %s", a->conf->name, msg);
}

/* finish_without_transfer - end a refresh that did not need the network */
static void finish_without_transfer(struct acct *a)
{
    state_unlock(a->lock_fd);
    a->lock_fd = -1;
    a->refreshing = 0;
}

/* begin_jwt_bearer - begin's request for a Google service account (svcacct.h) */
static struct http_request *begin_jwt_bearer(struct acct *a)
{
    struct http_request *req;
    char err[600];
    char msg[700];

    req = svcacct_request(a->conf, clock_wall_s(), err, sizeof(err));
    if (req == NULL) {
        finish_without_transfer(a);
        snprintf(msg, sizeof(msg), "needs a person: %s", err);
        fail_permanent(a, msg, 0);
        return NULL;
    }
    log_debug("account=%s: asking for a token as %s", a->conf->name, a->conf->login);
    return req;
}

/* pair_name - a certificate pair as the config names it */
static const char *pair_name(int pair)
{
    return pair ? "next_client_certificate_file" : "client_certificate_file";
}

/*
 * load_credential - the client credential for this attempt. During a
 * certificate rollover: the pair that worked last (at first the newest
 * usable one), or the other when it no longer loads. 0, or -1 with err.
 */
static int load_credential(struct acct *a, struct clientauth *ca, char *err, size_t errsize)
{
    char err2[512];

    if (!clientauth_has_next(a->conf))
        return clientauth_load(a->conf, ca, err, errsize);
    if (!a->cert_pair_known) {
        a->cert_pair = clientauth_pick_pair(a->conf, cache_wall_ms() / 1000);
        a->cert_pair_known = 1;
    }
    if (clientauth_load_pair(a->conf, a->cert_pair, ca, err, errsize) == 0)
        return 0;
    if (clientauth_load_pair(a->conf, !a->cert_pair, ca, err2, sizeof(err2)) < 0)
        return -1;
    log_warn("account=%s: %s; signing with %s instead", a->conf->name, err,
             pair_name(!a->cert_pair));
    a->cert_pair = !a->cert_pair;
    return 0;
}

/* fail_assertion_file - the external token cannot be used now: its issuer may replace it soon */
static void fail_assertion_file(struct acct *a, const char *err)
{
    long long delay = cache_backoff_ms(++a->failures);

    a->last = LAST_TRANSIENT;
    note_failure(a, err, 0);
    a->next_try_ms = cache_now_ms() + delay;
    a->timer_ms = a->next_try_ms;
    snprintf(a->last_error, sizeof(a->last_error), "refresh failing: %s", err);
    log_warn("account=%s: %s; retrying in %llds%s", a->conf->name, err, (delay + 999) / 1000,
             usable(a) ? "; still serving the current token" : "");
}

/*
 * rollover_retry - Entra refused the certificate (AADSTS700027: not
 * registered, or a bad signature) and the other pair was not tried in this
 * refresh: switch pairs and release the lock so that the caller starts
 * again at once, without a deferral. 1 when it switched.
 */
static int rollover_retry(struct acct *a, const struct token_result *res)
{
    if (res->verdict != TOKEN_PERMANENT || res->aadsts != 700027 || !clientauth_has_next(a->conf) ||
        a->rollover_retried)
        return 0;
    log_warn("account=%s: Entra refused the certificate of %s (AADSTS700027: not registered for "
             "the app); trying %s at once",
             a->conf->name, pair_name(a->cert_pair), pair_name(!a->cert_pair));
    a->cert_pair = !a->cert_pair;
    a->cert_pair_known = 1;
    a->rollover_retried = 1;
    state_unlock(a->lock_fd);
    a->lock_fd = -1;
    a->refreshing = 0;
    return 1;
}

/*
 * begin - first half of a refresh: lock, reread the state file, read the
 * secret, build the request. Returns the request, or NULL when the refresh
 * ended here (a->refreshing cleared) or must wait for the lock.
 */
static struct http_request *begin(struct acct *a, int nonblock)
{
    struct http_request *req;
    struct clientauth ca;
    char err[512];
    char msg[600];

    a->refreshing = 1;
    a->lock_fd = state_lock(a->cfg->state_dir, a->conf->name, nonblock, err, sizeof(err));
    if (a->lock_fd < 0) {
        if (errno == EWOULDBLOCK) {
            a->timer_ms = cache_now_ms() + CACHE_LOCK_RETRY_MS; /* a CLI holds it */
            return NULL;
        }
        a->refreshing = 0;
        fail_permanent(a, err, 0);
        return NULL;
    }
    if (!a->loaded || state_stamp_changed(a->cfg->state_dir, a->conf->name, &a->stamp)) {
        a->last = LAST_NONE;
        if (load_state(a) < 0) {
            finish_without_transfer(a);
            return NULL;
        }
        if (cache_servable(a)) {
            /* Someone else (the CLI) refreshed it meanwhile. */
            schedule_refresh(a);
            finish_without_transfer(a);
            return NULL;
        }
    }
    if (!can_refresh(a)) {
        snprintf(msg, sizeof(msg),
                 "no refresh token yet; needs a person: run oauth2-token-helper authorize %s "
                 "(or import %s)",
                 a->conf->name, a->conf->name);
        finish_without_transfer(a);
        fail_permanent(a, msg, 0);
        return NULL;
    }
    a->cred_stamp = credential_stamp(a);
    if (a->conf->grant_type == GRANT_JWT_BEARER)
        return begin_jwt_bearer(a);
    if (load_credential(a, &ca, err, sizeof(err)) < 0) {
        finish_without_transfer(a);
        if (a->conf->client_assertion_file[0] != '\0') {
            fail_assertion_file(a, err);
            return NULL;
        }
        snprintf(msg, sizeof(msg), "needs a person: %s", err);
        fail_permanent(a, msg, 0);
        return NULL;
    }
    req = http_request_refresh(a->conf, a->st.refresh_token, &ca);
    clientauth_clear(&ca);
    if (req == NULL) {
        finish_without_transfer(a);
        a->last = LAST_TRANSIENT;
        a->next_try_ms = cache_now_ms() + cache_backoff_ms(++a->failures);
        a->timer_ms = a->next_try_ms;
        snprintf(a->last_error, sizeof(a->last_error), "out of memory");
        return NULL;
    }
    log_debug("account=%s: refreshing at %s", a->conf->name, a->conf->endpoint);
    return req;
}

/* cache_complete - second half: apply the outcome to a's state, persist, unlock */
void cache_complete(struct acct *a, struct token_result *res)
{
    long long now = cache_now_ms();
    long long wall_s = cache_wall_ms() / 1000;
    char err[512];

    a->last_refresh = wall_s;
    a->rollover_retried = 0;
    /* An expired external token is replaced by its issuer's agent: retry, with backoff. */
    if (a->conf->client_assertion_file[0] != '\0' && res->verdict == TOKEN_PERMANENT &&
        res->aadsts == 700024)
        res->verdict = TOKEN_TRANSIENT;
    if (res->verdict == TOKEN_OK) {
        secret_free(a->st.access_token);
        a->st.access_token = res->access_token;
        res->access_token = NULL;
        a->tok_obtained_ms = now;
        a->tok_expires_ms = now + res->expires_in * 1000LL;
        a->st.obtained_at = wall_s;
        a->st.expires_at = wall_s + res->expires_in;
        a->st.last_success = wall_s;
        if (res->refresh_token != NULL) {
            secret_free(a->st.refresh_token);
            a->st.refresh_token = res->refresh_token;
            res->refresh_token = NULL;
            a->st.rt_stored = wall_s;
            a->save_pending = 1;
        }
        if (state_save(a->cfg->state_dir, a->conf->name, &a->st, &a->stamp, err, sizeof(err)) < 0) {
            /* The old refresh token stays on disk; keep the new one in memory
             * and write it as soon as the disk lets us (save_retry). */
            log_error("account=%s: %s", a->conf->name, err);
            if (a->save_pending) {
                a->save_retry_ms = now + cache_backoff_ms(++a->save_failures);
                log_warn("account=%s: the rotated refresh token is kept in memory; writing it "
                         "again in %llds",
                         a->conf->name, (a->save_retry_ms - now + 999) / 1000);
            }
        } else {
            a->save_pending = 0;
            a->save_failures = 0;
            a->save_retry_ms = 0;
        }
        a->last = LAST_OK;
        a->failures = 0;
        a->next_try_ms = 0;
        a->last_error[0] = '\0';
        schedule_refresh(a);
        if (res->expires_in < 120)
            log_info("account=%s refreshed, expires in %lds", a->conf->name, res->expires_in);
        else
            log_info("account=%s refreshed, expires in %ldm", a->conf->name,
                     (res->expires_in + 30) / 60);
    } else if (res->verdict == TOKEN_TRANSIENT) {
        long long delay = cache_backoff_ms(++a->failures);

        if (res->retry_after * 1000 > delay)
            delay = res->retry_after * 1000;
        a->last = LAST_TRANSIENT;
        note_failure(a, res->message, res->aadsts);
        a->next_try_ms = now + delay;
        a->timer_ms = a->next_try_ms;
        snprintf(a->last_error, sizeof(a->last_error), "refresh failing: %s", res->message);
        log_warn("account=%s: refresh failed (attempt %d): %s; retrying in %llds%s", a->conf->name,
                 a->failures, res->message, (delay + 999) / 1000,
                 usable(a) ? "; still serving the current token" : "");
    } else {
        char msg[1024];

        if (a->conf->client_assertion_file[0] != '\0' && assertion_hint(res->aadsts) != NULL)
            snprintf(msg, sizeof(msg),
                     "refresh refused, the federated credential's token in "
                     "client_assertion_file %s (AADSTS%ld): %s; %s",
                     a->conf->client_assertion_file, res->aadsts, assertion_hint(res->aadsts),
                     res->message);
        else if (a->conf->client_assertion_file[0] != '\0')
            snprintf(msg, sizeof(msg),
                     "refresh refused, the federated credential's token in "
                     "client_assertion_file %s: %s",
                     a->conf->client_assertion_file, res->message);
        else if (clientauth_has_next(a->conf))
            snprintf(msg, sizeof(msg), "refresh refused: %s (neither %s nor %s was accepted)",
                     res->message, a->conf->client_certificate_file,
                     a->conf->next_client_certificate_file);
        else
            snprintf(msg, sizeof(msg), "refresh refused: %s", res->message);
        fail_permanent(a, msg, res->aadsts);
    }
    state_unlock(a->lock_fd);
    a->lock_fd = -1;
    a->refreshing = 0;
}

/* cache_start - begin an asynchronous refresh on the multi handle */
static void cache_start(struct cache *c, struct acct *a)
{
    struct http_request *req;

    if (a->refreshing && a->lock_fd >= 0)
        return;
    a->timer_ms = 0;
    req = begin(a, 1);
    if (req == NULL)
        return;
    a->req = req;
    a->req_started_ms = cache_now_ms();
    if (curl_multi_add_handle(c->multi, http_request_easy(req)) != CURLM_OK) {
        struct token_result res;

        a->req = NULL;
        http_request_free(req);
        tokenresp_parse(0, NULL, 0, "cannot start the HTTP transfer", 0, &res);
        cache_complete(a, &res);
    }
}

/* cache_finish - a transfer completed */
void cache_finish(struct cache *c, CURL *easy, CURLcode code)
{
    struct token_result res;
    size_t i;

    for (i = 0; i < c->n; i++) {
        struct acct *a = &c->accts[i];

        if (a->req == NULL || http_request_easy(a->req) != easy)
            continue;
        curl_multi_remove_handle(c->multi, easy);
        http_request_result(a->req, code, &res);
        http_request_free(a->req);
        a->req = NULL;
        if (rollover_retry(a, &res)) {
            token_result_clear(&res);
            cache_start(c, a);
            return;
        }
        cache_complete(a, &res);
        token_result_clear(&res);
        return;
    }
}

/* cache_refresh_sync - the CLI's path */
int cache_refresh_sync(struct cache *c, struct acct *a)
{
    struct http_request *req;
    struct token_result res;

    (void)c;
    for (;;) {
        req = begin(a, 0);
        if (req == NULL)
            return a->last == LAST_PERMANENT ? -1 : 0;
        http_request_result(req, http_request_perform(req), &res);
        http_request_free(req);
        if (!rollover_retry(a, &res))
            break;
        token_result_clear(&res);
    }
    cache_complete(a, &res);
    token_result_clear(&res);
    return a->last == LAST_OK ? 0 : -1;
}

/*
 * cache_refresh_token - the CLI's direct refresh of the account named
 * name: its login, access token and expiry copied out; 0, or -1 (may pass
 * by itself) or -2 (needs a person) with err saying why
 */
int cache_refresh_token(struct cache *c, const char *name, char *login, size_t loginsize,
                        char *token, size_t tokensize, long long *expires, char *err,
                        size_t errsize)
{
    struct acct *a = cache_find(c, name);

    if (a == NULL) {
        snprintf(err, errsize, "no token");
        return -1;
    }
    if (cache_refresh_sync(c, a) == 0 && a->st.access_token != NULL &&
        strlen(a->st.access_token) < tokensize && strlen(a->conf->login) < loginsize) {
        snprintf(token, tokensize, "%s", a->st.access_token);
        snprintf(login, loginsize, "%s", a->conf->login);
        *expires = a->st.expires_at;
        return 0;
    }
    snprintf(err, errsize, "%s", a->last_error[0] ? a->last_error : "no token");
    return a->last == LAST_PERMANENT ? -2 : -1;
}

/*
 * cache_state_changed - someone may have stored a new grant (import,
 * authorize): reread a's state. Only a grant that really changed (another
 * refresh token in the file, or other client credential files) ends a
 * backoff or a needs-a-person state, and then a refresh starts at once;
 * otherwise both stand, so asking for a reload cannot bypass them.
 */
void cache_state_changed(struct cache *c, struct acct *a)
{
    int changed = 0;
    unsigned long long cred;
    long long obtained_before = a->tok_obtained_ms;

    (void)c;
    if (a->refreshing)
        return; /* begin() rereads the file under the lock */
    cred = credential_stamp(a);
    if (a->cred_stamp != 0 && cred != a->cred_stamp)
        changed = 1;
    if (!a->loaded || state_stamp_changed(a->cfg->state_dir, a->conf->name, &a->stamp)) {
        int rc = load_state(a);

        if (rc < 0)
            return;
        if (rc > 0)
            changed = 1;
    }
    if (!changed) {
        log_debug("account=%s: reload: no new grant; the backoff and state stand", a->conf->name);
        return;
    }
    log_info("account=%s: a new grant was stored; trying it now", a->conf->name);
    a->cred_stamp = 0;
    a->last = LAST_NONE;
    a->failures = 0;
    a->next_try_ms = 0;
    a->last_error[0] = '\0';
    /* Try a new refresh token at once, so that a person importing it learns
     * now whether it works; a sign-in that stored a new access token with it
     * is served from that, and refreshed on the usual schedule. */
    if (can_refresh(a) && !(usable(a) && a->tok_obtained_ms != obtained_before))
        a->timer_ms = cache_now_ms();
    else
        schedule_refresh(a);
}

/* cache_load - read a's state file if not done yet */
void cache_load(struct acct *a)
{
    if (!a->loaded)
        load_state(a);
    a->last_refresh = a->st.last_success;
}

/* cache_forget - drop a's tokens at once */
void cache_forget(struct cache *c, struct acct *a)
{
    char msg[300];

    if (a->req != NULL) {
        curl_multi_remove_handle(c->multi, http_request_easy(a->req));
        http_request_free(a->req);
        a->req = NULL;
    }
    state_unlock(a->lock_fd);
    a->lock_fd = -1;
    a->refreshing = 0;
    state_clear(&a->st);
    memset(&a->stamp, 0, sizeof(a->stamp));
    a->loaded = 1;
    /* A rotated refresh token not yet written goes too: nothing is left to save. */
    a->save_pending = 0;
    a->save_failures = 0;
    a->save_retry_ms = 0;
    if (can_refresh(a)) {
        /* App-only: its credential is the secret or certificate in the config. */
        snprintf(msg, sizeof(msg),
                 "cached token dropped; this app-only account gets a new one from its "
                 "credentials in %s",
                 a->cfg->path);
        log_info("account=%s: %s", a->conf->name, msg);
        return;
    }
    snprintf(msg, sizeof(msg),
             "tokens revoked here; needs a person: run oauth2-token-helper authorize (or "
             "import) %s",
             a->conf->name);
    fail_permanent(a, msg, 0);
}

/* reply_token - a's token, login and expiry as the result */
static void reply_token(const struct acct *a, struct protocol_token_result *res)
{
    res->status = SOCKETMAP_OK;
    res->login = a->conf->login;
    res->expires = cache_expires_wall(a);
    res->token = a->st.access_token;
    res->reason[0] = '\0';
}

/* reply_status - a TEMP or PERM result; the reason is formatted like printf */
static void reply_status(struct protocol_token_result *res, socketmap_status status,
                         const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void reply_status(struct protocol_token_result *res, socketmap_status status,
                         const char *fmt, ...)
{
    va_list ap;

    res->status = status;
    res->login = NULL;
    res->expires = 0;
    res->token = NULL;
    va_start(ap, fmt);
    vsnprintf(res->reason, sizeof(res->reason), fmt, ap);
    va_end(ap);
}

/* cache_answer - answer now, or return 0 to wait for a refresh */
int cache_answer(struct cache *c, struct acct *a, struct protocol_token_result *res)
{
    long long now = cache_now_ms();

    if (!a->loaded)
        load_state(a);
    if (cache_servable(a)) {
        reply_token(a, res);
        return 1;
    }
    if (a->refreshing) {
        /* A refresh that takes this long is stuck (a hung identity platform
         * holds it until the HTTP timeout): serve the still-valid token
         * rather than keep callers waiting. */
        if (a->req != NULL && now - a->req_started_ms >= CACHE_REFRESH_PATIENCE_MS && usable(a)) {
            reply_token(a, res);
            return 1;
        }
        return 0;
    }
    if (a->last == LAST_PERMANENT &&
        state_stamp_changed(a->cfg->state_dir, a->conf->name, &a->stamp))
        cache_state_changed(c, a);
    if (a->last == LAST_PERMANENT) {
        reply_status(res, SOCKETMAP_PERM, "account %s: %s", a->conf->name, a->last_error);
        return 1;
    }
    if (a->next_try_ms > now) {
        if (usable(a)) {
            reply_token(a, res);
            return 1;
        }
        reply_status(res, SOCKETMAP_TEMP, "account %s: %s; next attempt in %llds", a->conf->name,
                     a->last_error, (a->next_try_ms - now + 999) / 1000);
        return 1;
    }
    cache_start(c, a);
    if (a->refreshing)
        return 0;
    return cache_answer(c, a, res);
}

/*
 * write_pending - write a rotated refresh token that an earlier save could
 * not (full disk, I/O error), so that a crash or a restart does not fall
 * back to the superseded one on disk. The token in memory is the newest
 * unless someone else replaced the file since (import): then that file
 * wins and is read. Returns 0 when nothing is pending any more, -1 with
 * err when the write failed, 1 when the lock is busy.
 */
static int write_pending(struct acct *a, char *err, size_t errsize)
{
    int fd = state_lock(a->cfg->state_dir, a->conf->name, 1, err, errsize);
    int rc = 0;

    if (fd < 0)
        return errno == EWOULDBLOCK ? 1 : -1;
    if (state_stamp_changed(a->cfg->state_dir, a->conf->name, &a->stamp)) {
        load_state(a); /* drops save_pending: the file is newer */
    } else {
        sync_wall_times(a);
        if (state_save(a->cfg->state_dir, a->conf->name, &a->st, &a->stamp, err, errsize) < 0) {
            rc = -1;
        } else {
            log_info("account=%s: the rotated refresh token is now on disk", a->conf->name);
            a->save_pending = 0;
        }
    }
    if (rc == 0) {
        a->save_failures = 0;
        a->save_retry_ms = 0;
    }
    state_unlock(fd);
    return rc;
}

/* save_retry - the timer's attempt at write_pending, backing off while it fails */
static void save_retry(struct acct *a)
{
    long long now = cache_now_ms();
    char err[512];
    int rc = write_pending(a, err, sizeof(err));

    if (rc == 1) {
        a->save_retry_ms = now + CACHE_LOCK_RETRY_MS;
    } else if (rc < 0) {
        a->save_retry_ms = now + cache_backoff_ms(++a->save_failures);
        log_error("account=%s: %s; the rotated refresh token stays in memory, trying again in "
                  "%llds",
                  a->conf->name, err, (a->save_retry_ms - now + 999) / 1000);
    }
}

/*
 * last_save - before a's tokens are dropped (exit, or its config changed):
 * one last attempt to write a pending rotated refresh token, waiting a
 * little for the lock, and a clear error if it is lost
 */
static void last_save(struct acct *a)
{
    char err[512] = "";
    int tries;
    int rc = 1;

    if (!a->save_pending)
        return;
    for (tries = 0; tries < CACHE_LAST_SAVE_TRIES; tries++) {
        rc = write_pending(a, err, sizeof(err));
        if (rc != 1)
            break;
        usleep(100 * 1000);
    }
    if (rc == 0)
        return;
    log_error("account=%s: the rotated refresh token could not be written to %s/%s.state (%s) "
              "and is lost; that file keeps the previous one: if the identity platform revoked "
              "it, run oauth2-token-helper authorize %s",
              a->conf->name, a->cfg->state_dir, a->conf->name,
              rc == 1 ? "its lock stayed busy" : err, a->conf->name);
}

/* cache_run_timers - start the refreshes that are due */
void cache_run_timers(struct cache *c)
{
    long long now = cache_now_ms();
    size_t i;

    for (i = 0; i < c->n; i++) {
        struct acct *a = &c->accts[i];

        if (a->save_pending && a->save_retry_ms != 0 && a->save_retry_ms <= now && !a->refreshing &&
            a->req == NULL)
            save_retry(a);
        if (a->timer_ms == 0 || a->timer_ms > now || a->req != NULL)
            continue;
        if (a->last == LAST_PERMANENT) {
            a->timer_ms = 0;
            continue;
        }
        a->refreshing = 0;
        cache_start(c, a);
    }
}

/* cache_next_timer_ms - the earliest timer */
long long cache_next_timer_ms(const struct cache *c)
{
    long long now = cache_now_ms();
    long long next = 0;
    size_t i;

    for (i = 0; i < c->n; i++) {
        const struct acct *a = &c->accts[i];
        long long patience = a->req_started_ms + CACHE_REFRESH_PATIENCE_MS;

        /* Wake waiting callers when their patience with a stuck refresh ends. */
        if (a->req != NULL && patience > now && usable(a) && (next == 0 || patience < next))
            next = patience;
        if (a->timer_ms != 0 && a->req == NULL && (next == 0 || a->timer_ms < next))
            next = a->timer_ms;
        if (a->save_pending && a->save_retry_ms != 0 && !a->refreshing && a->req == NULL &&
            (next == 0 || a->save_retry_ms < next))
            next = a->save_retry_ms;
    }
    return next;
}
