/*
 * test_cache.c - the refresh policy of helper/cache.c on an injected clock
 *
 * When a token of a given lifetime is first refreshed, how the backoff grows
 * and where it is capped; that a step of the wall clock changes neither the
 * remaining lifetime of the token served nor whether it is served (issue 9
 * item 7: the monotonic clock decides, the wall clock is only for the disk
 * and for people); that "reload ACCOUNT" ends a backoff or a needs-a-person
 * state only when the grant changed (item 4); and that a rotated refresh
 * token not yet on disk survives a reload, yielding only to a newer file
 * (item 5). No network: every token comes from a state file.
 *
 * The policy itself (issue 10 item 5), on a second account fed outcomes
 * through cache_complete as the HTTP completion path feeds them: when the
 * first refresh of a token of each lifetime is due and until when it is
 * served; the backoff after each transient failure, its cap and
 * Retry-After; what a request gets during an outage (the token while it
 * has more than OAUTH2_TOKEN_MIN_REMAINING_S left, then TEMP with the
 * reason); what a permanent failure does (PERM, no timer, no retry until a
 * new grant); that a reload cannot end a backoff without a new grant; and
 * that a wall-clock step moves none of it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cache.h"
#include "cfgload.h"
#include "secret.h"
#include "tap.h"
#include "tokenlife.h"
#include "tokenresp.h"

#define ACCOUNT "alice@contoso.test"
#define POLICY "bob@contoso.test"

static long long fake_mono = 1000000;         /* an arbitrary boot-relative origin */
static long long fake_wall = 1790000000000LL; /* late 2026, in ms */

static long long mono_ms(void)
{
    return fake_mono;
}

static long long wall_ms(void)
{
    return fake_wall;
}

static const struct cache_clock fake_clock = {mono_ms, wall_ms};
static char state_dir[4200];

/* write_state_for - a state file of account name as import or the daemon would leave it */
static void write_state_for(const char *name, const char *rt, const char *at, long long obtained,
                            long long expires)
{
    char p[4400];
    char tmp[4400];
    FILE *fp;

    snprintf(p, sizeof(p), "%s/%s.state", state_dir, name);
    snprintf(tmp, sizeof(tmp), "%s.tmp", p);
    fp = fopen(tmp, "w");
    if (fp == NULL)
        return;
    fprintf(fp, "{\"version\":1,\"refresh_token\":\"%s\"", rt);
    if (at != NULL)
        fprintf(fp, ",\"access_token\":\"%s\",\"obtained_at\":%lld,\"expires_at\":%lld", at,
                obtained, expires);
    fprintf(fp, "}\n");
    fclose(fp);
    rename(tmp, p); /* a new inode, as state_save and import make */
}

/* write_state - ACCOUNT's state file (no access token when at is NULL) */
static void write_state(const char *rt, const char *at, long long obtained, long long expires)
{
    write_state_for(ACCOUNT, rt, at, obtained, expires);
}

/* served_expires - ask for an account reply; its expires= value, or -1 when not served */
static long long served_expires(struct cache *c, struct acct *a)
{
    struct protocol_token_result res;

    if (!cache_answer(c, a, &res) || res.status != SOCKETMAP_OK)
        return -1;
    return res.expires;
}

static void test_policy(void)
{
    int f;
    int i;
    int in_range = 1;
    int capped = 1;

    ok(cache_refresh_after_s(3600, 600) == 2940,
       "a 60-minute token is refreshed after 49 minutes (600 s ahead, 60 s margin)");
    ok(cache_refresh_after_s(4435, 600) == 4435 - 600 - 60, "an Entra 74-minute token likewise");
    ok(cache_min_remaining_s(600, 600) == 300 && cache_refresh_after_s(600, 600) == 270,
       "a 10-minute token is served down to half its life and refreshed 30 s before that");
    ok(cache_min_remaining_s(60, 600) == 30 && cache_refresh_after_s(60, 600) == 27,
       "a one-minute token is refreshed after 27 s");
    for (f = 1; f <= 12; f++) {
        long long d = 5000LL << (f - 1);

        if (d > 300000)
            d = 300000;
        for (i = 0; i < 50; i++) {
            long long b = cache_backoff_ms(f);

            if (b < d / 2 || b >= d)
                in_range = 0;
            if (b > 300000)
                capped = 0;
        }
    }
    ok(in_range, "backoff doubles from 5 s per failure, jittered within [d/2, d)");
    ok(capped, "and never exceeds the 300 s cap");
    ok(cache_backoff_ms(30) >= 150000, "after many failures it stays at the cap");
}

static void test_wall_clock_step(struct cache *c, struct acct *a)
{
    long long wall_s = fake_wall / 1000;
    long long remaining;
    long long e;

    write_state("rt-1", "at-1", wall_s, wall_s + 3600);
    e = served_expires(c, a);
    remaining = cache_remaining_ms(a);
    ok(e == wall_s + 3600 && remaining == 3600 * 1000LL, "the stored token is served, 3600 s left");

    fake_wall -= 600 * 1000LL; /* the wall clock is stepped back ten minutes */
    e = served_expires(c, a);
    ok(cache_remaining_ms(a) == remaining, "after stepping the wall clock back, 3600 s left still");
    ok(e == fake_wall / 1000 + 3600, "and expires= is 3600 s from the (new) wall time");

    fake_wall += 3400 * 1000LL; /* and now far forward: the wall clock says 200 s are left */
    e = served_expires(c, a);
    ok(e > 0 && cache_remaining_ms(a) == remaining,
       "stepping it forward neither stops serving nor shortens the lifetime");
    fake_wall -= 2800 * 1000LL;

    /* The identity platform's clock (monotonic time here) runs on: 10 s left. */
    fake_mono += 3590 * 1000LL;
    fake_wall -= 600 * 1000LL;
    ok(cache_remaining_ms(a) == 10 * 1000LL && !cache_servable(a),
       "with 10 s left by the monotonic clock, the token is not served, however far the wall "
       "clock was stepped back");
    fake_wall += 600 * 1000LL;
}

static void test_reload(struct cache *c, struct acct *a)
{
    long long wall_s = fake_wall / 1000;
    long long now = cache_now_ms();

    write_state("rt-1", "at-2", wall_s, wall_s + 3600);
    cache_state_changed(c, a);
    ok(a->st.access_token != NULL && strcmp(a->st.access_token, "at-2") == 0,
       "reload reads a new access token from the file");

    /* A failing identity platform: backoff. */
    a->last = LAST_TRANSIENT;
    a->failures = 4;
    a->next_try_ms = now + 40000;
    cache_state_changed(c, a);
    ok(a->last == LAST_TRANSIENT && a->failures == 4 && a->next_try_ms == now + 40000,
       "reload with the same file keeps the backoff");
    write_state("rt-1", "at-2", wall_s, wall_s + 3600);
    cache_state_changed(c, a);
    ok(a->last == LAST_TRANSIENT && a->failures == 4 && a->next_try_ms == now + 40000,
       "a rewritten file with the same refresh token keeps it too");

    /* A revoked grant: needs a person. */
    a->last = LAST_PERMANENT;
    snprintf(a->last_error, sizeof(a->last_error), "refresh refused: revoked");
    cache_state_changed(c, a);
    ok(a->last == LAST_PERMANENT, "reload with the same grant leaves needs-a-person standing");
    write_state("rt-2", NULL, 0, 0);
    cache_state_changed(c, a);
    ok(a->last == LAST_NONE && a->failures == 0 && a->next_try_ms == 0 &&
           strcmp(a->st.refresh_token, "rt-2") == 0,
       "a newly imported refresh token ends it");
    ok(a->timer_ms != 0 && a->timer_ms <= cache_now_ms() + 1,
       "and the refresh with it is due at once (the access token kept is %s)",
       cache_servable(a) ? "servable" : "not servable");
}

static void test_unsaved_rotation(struct cache *c, struct acct *a)
{
    long long wall_s = fake_wall / 1000;

    write_state("rt-old", "at-3", wall_s, wall_s + 3600);
    cache_state_changed(c, a);
    /* A refresh rotated the token, and the disk was full: only memory has it. */
    secret_free(a->st.refresh_token);
    a->st.refresh_token = strdup("rt-rotated");
    a->save_pending = 1;
    cache_state_changed(c, a);
    ok(a->st.refresh_token != NULL && strcmp(a->st.refresh_token, "rt-rotated") == 0 &&
           a->save_pending,
       "reload keeps the rotated refresh token that is not on disk yet");
    write_state("rt-imported", NULL, 0, 0);
    cache_state_changed(c, a);
    ok(a->st.refresh_token != NULL && strcmp(a->st.refresh_token, "rt-imported") == 0 &&
           !a->save_pending,
       "a file imported since wins over it");
    secret_free(a->st.refresh_token);
    a->st.refresh_token = strdup("rt-rotated-2");
    a->save_pending = 1;
    cache_forget(c, a);
    ok(!a->save_pending && a->st.refresh_token == NULL && a->last == LAST_PERMANENT,
       "forget (revoke) drops a pending rotated token too, leaving nothing to write back");
}

/* succeed - a refresh returned an access token of this lifetime (and maybe a rotated refresh token)
 */
static void succeed(struct acct *a, long lifetime, const char *rt)
{
    struct token_result res;

    memset(&res, 0, sizeof(res));
    res.verdict = TOKEN_OK;
    res.access_token = strdup("at-policy");
    res.refresh_token = rt != NULL ? strdup(rt) : NULL;
    res.expires_in = lifetime;
    snprintf(res.message, sizeof(res.message), "expires in %ldm", lifetime / 60);
    cache_complete(a, &res);
    token_result_clear(&res);
}

/* fail - a refresh failed with this verdict, message and Retry-After */
static void fail(struct acct *a, token_verdict verdict, long retry_after, const char *msg)
{
    struct token_result res;

    memset(&res, 0, sizeof(res));
    res.verdict = verdict;
    res.retry_after = retry_after;
    snprintf(res.message, sizeof(res.message), "%s", msg);
    cache_complete(a, &res);
    token_result_clear(&res);
}

/*
 * answer - ask for a's token: the status, with the reply text in data (the
 * token, or the reason); -1 when the caller must wait
 */
static int answer(struct cache *c, struct acct *a, char *data, size_t datasize)
{
    struct protocol_token_result res;

    data[0] = '\0';
    if (!cache_answer(c, a, &res))
        return -1;
    snprintf(data, datasize, "%s", res.status == SOCKETMAP_OK ? res.token : res.reason);
    return (int)res.status;
}

/* served - whether a request for a's token is answered with it */
static int served(struct cache *c, struct acct *a)
{
    char data[4096];
    int st = answer(c, a, data, sizeof(data));
    int yes = st == SOCKETMAP_OK && strcmp(data, "at-policy") == 0;

    explicit_bzero(data, sizeof(data));
    return yes;
}

static void test_first_refresh(struct cache *c, struct acct *a)
{
    static const struct {
        long lifetime;
        long long refresh_after;  /* seconds after it was obtained */
        long long served_down_to; /* seconds left when it stops being served */
        const char *what;
    } cases[] = {
        {3600, 2940, 600,
         "a 60-minute token: refresh_ahead (600 s) before expiry, less a 60 s margin"},
        {4435, 3775, 600, "an Entra 74-minute token: likewise"},
        {1200, 540, 600, "a 20-minute token: half its life, less a tenth of that"},
        {600, 270, 300, "a 10-minute token: half its life, less a tenth of that"},
        {60, 27, OAUTH2_TOKEN_MIN_REMAINING_S, "a one-minute token: half its life, the minimum"},
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        long long t0 = fake_mono;
        long long expiry = t0 + cases[i].lifetime * 1000LL;
        int before;
        int after;

        succeed(a, cases[i].lifetime, NULL);
        ok(a->last == LAST_OK && a->failures == 0 && a->next_try_ms == 0 &&
               a->timer_ms == t0 + cases[i].refresh_after * 1000 &&
               cache_next_timer_ms(c) == a->timer_ms,
           "%s: the first refresh is due %lld s after it was obtained", cases[i].what,
           cases[i].refresh_after);
        fake_mono = a->timer_ms;
        ok(served(c, a) && cache_remaining_ms(a) > cases[i].served_down_to * 1000,
           "%s: when it is due, the token is still served", cases[i].what);
        fake_mono = expiry - cases[i].served_down_to * 1000;
        before = cache_servable(a);
        fake_mono++;
        after = cache_servable(a);
        ok(before && !after, "%s: it is handed out down to %lld s left, not below", cases[i].what,
           cases[i].served_down_to);
        fake_mono = expiry + 1000;
    }
}

static void test_backoff(struct cache *c, struct acct *a)
{
    int f;
    int grows = 1;
    long long d = 0;
    long long longest = 0;
    long long t0;

    (void)c;
    succeed(a, 3600, NULL);
    for (f = 1; f <= 10; f++) {
        long long now = fake_mono;
        long long delay;

        fail(a, TOKEN_TRANSIENT, 0, "HTTP 503");
        delay = a->next_try_ms - now;
        d = 5000LL << (f - 1);
        if (d > CACHE_BACKOFF_CAP_S * 1000LL)
            d = CACHE_BACKOFF_CAP_S * 1000LL;
        if (a->failures != f || a->last != LAST_TRANSIENT || a->timer_ms != a->next_try_ms ||
            delay < d / 2 || delay >= d)
            grows = 0;
        if (delay > longest)
            longest = delay;
        fake_mono = a->next_try_ms;
    }
    ok(grows, "each transient failure waits 5 s doubling per failure, with equal jitter in "
              "[d/2, d), and the retry timer is the end of the wait");
    ok(d == CACHE_BACKOFF_CAP_S * 1000LL && longest < CACHE_BACKOFF_CAP_S * 1000LL,
       "from the seventh failure on the wait is capped at 300 s (longest: %lld ms)", longest);
    t0 = fake_mono;
    fail(a, TOKEN_TRANSIENT, 1000, "HTTP 429");
    ok(a->next_try_ms == t0 + 1000 * 1000LL && a->failures == 11,
       "a Retry-After longer than the backoff is honoured exactly");
    fake_mono = a->next_try_ms;
    succeed(a, 3600, NULL);
    ok(a->failures == 0 && a->next_try_ms == 0 && a->last == LAST_OK && a->last_error[0] == '\0',
       "a success ends the backoff and resets the count");
    t0 = fake_mono;
    fail(a, TOKEN_TRANSIENT, 0, "HTTP 503");
    ok(a->failures == 1 && a->next_try_ms - t0 >= 2500 && a->next_try_ms - t0 < 5000,
       "so the next failure waits 5 s (jittered) again");
    t0 = fake_mono;
    fail(a, TOKEN_TRANSIENT, 120, "HTTP 429");
    ok(a->next_try_ms == t0 + 120 * 1000LL,
       "Retry-After: 120 after the second failure waits 120 s");
    t0 = fake_mono;
    fail(a, TOKEN_TRANSIENT, 1, "HTTP 429");
    ok(a->next_try_ms - t0 >= 10000 && a->next_try_ms - t0 < 20000,
       "a Retry-After shorter than the backoff does not shorten it");
    fake_mono = a->next_try_ms;
    succeed(a, 3600, NULL);
}

static void test_outage(struct cache *c, struct acct *a)
{
    char data[4096];
    long long expiry;
    long long next_try;
    int st;

    succeed(a, 3600, NULL);
    expiry = fake_mono + 3600 * 1000LL;
    fake_mono = a->timer_ms; /* the first refresh is due, and fails */
    fail(a, TOKEN_TRANSIENT, 3600, "temporary failure (HTTP 503)");
    next_try = a->next_try_ms;
    ok(served(c, a), "an outage while the token is servable: it is served");
    fake_mono = expiry - 599 * 1000LL;
    ok(!cache_servable(a) && served(c, a) && !a->refreshing,
       "below refresh_ahead, during the backoff, the still-valid token is served without a "
       "refresh");
    cache_run_timers(c);
    ok(a->timer_ms == next_try && !a->refreshing && a->req == NULL,
       "the timers start no refresh before the backoff ends");
    fake_mono = expiry - (OAUTH2_TOKEN_MIN_REMAINING_S + 1) * 1000LL;
    ok(served(c, a), "with %d s left it is still served", OAUTH2_TOKEN_MIN_REMAINING_S + 1);
    fake_mono = expiry - OAUTH2_TOKEN_MIN_REMAINING_S * 1000LL;
    st = answer(c, a, data, sizeof(data));
    ok(st == SOCKETMAP_TEMP && strstr(data, "account " POLICY) != NULL &&
           strstr(data, "refresh failing: temporary failure (HTTP 503)") != NULL &&
           strstr(data, "next attempt in") != NULL && strstr(data, "at-policy") == NULL,
       "with %d s left (OAUTH2_TOKEN_MIN_REMAINING_S) it is not: TEMP with the reason and the "
       "wait (\"%s\")",
       OAUTH2_TOKEN_MIN_REMAINING_S, st == SOCKETMAP_TEMP ? data : "not TEMP");
    fake_mono = expiry + 600 * 1000LL;
    st = answer(c, a, data, sizeof(data));
    ok(st == SOCKETMAP_TEMP && strstr(data, "at-policy") == NULL,
       "after expiry, still TEMP while the backoff lasts");

    /* A wall-clock step in the middle of the outage moves nothing. */
    fake_wall += 86400 * 1000LL;
    st = answer(c, a, data, sizeof(data));
    ok(st == SOCKETMAP_TEMP && a->next_try_ms == next_try && a->timer_ms == next_try &&
           cache_next_timer_ms(c) == next_try,
       "stepping the wall clock a day forward moves neither the backoff nor the timer");
    fake_wall -= 2 * 86400 * 1000LL;
    ok(answer(c, a, data, sizeof(data)) == SOCKETMAP_TEMP && a->next_try_ms == next_try,
       "nor does stepping it a day back");
    fake_wall += 86400 * 1000LL;

    /* reload cannot bypass the backoff; a new grant can. */
    cache_state_changed(c, a);
    ok(a->last == LAST_TRANSIENT && a->next_try_ms == next_try && a->failures == 1,
       "reload without a new grant keeps the backoff");
    ok(answer(c, a, data, sizeof(data)) == SOCKETMAP_TEMP, "and the TEMP answer");
    write_state_for(POLICY, "rt-policy-2", NULL, 0, 0);
    cache_state_changed(c, a);
    ok(a->last == LAST_NONE && a->failures == 0 && a->next_try_ms == 0 && a->timer_ms == fake_mono,
       "a new refresh token in the file ends the backoff, with a refresh due at once");
    explicit_bzero(data, sizeof(data));
}

static void test_permanent(struct cache *c, struct acct *a)
{
    char data[4096];
    long long expiry;
    int st;

    succeed(a, 3600, "rt-policy-3");
    expiry = fake_mono + 3600 * 1000LL;
    fake_mono = a->timer_ms;
    fail(a, TOKEN_PERMANENT, 0, "invalid_grant: AADSTS50173 the grant was revoked");
    ok(a->last == LAST_PERMANENT && a->timer_ms == 0 && a->next_try_ms == 0 &&
           cache_next_timer_ms(c) == 0,
       "a permanent failure needs a person: no timer, no retry");
    ok(served(c, a), "a token still servable is still handed out");
    fake_mono = expiry - 599 * 1000LL;
    st = answer(c, a, data, sizeof(data));
    ok(st == SOCKETMAP_PERM && strstr(data, "account " POLICY) != NULL &&
           strstr(data, "refresh refused: invalid_grant") != NULL &&
           strstr(data, "at-policy") == NULL && !a->refreshing,
       "below refresh_ahead it is not, even though still valid: PERM with the reason (\"%s\")",
       st == SOCKETMAP_PERM ? data : "not PERM");
    fake_mono += 86400 * 1000LL;
    cache_run_timers(c);
    ok(!a->refreshing && a->timer_ms == 0 && a->last == LAST_PERMANENT &&
           answer(c, a, data, sizeof(data)) == SOCKETMAP_PERM,
       "a day later nothing has been retried and the answer is still PERM");
    cache_state_changed(c, a);
    ok(a->last == LAST_PERMANENT && a->timer_ms == 0,
       "reload with the same grant leaves it standing");
    write_state_for(POLICY, "rt-policy-4", NULL, 0, 0);
    cache_state_changed(c, a);
    ok(a->last == LAST_NONE && a->timer_ms == fake_mono && a->last_error[0] == '\0',
       "a new grant ends it, with a refresh due at once");
    explicit_bzero(data, sizeof(data));
}

/* test_policy_account - the policy on its own account and cache */
static void test_policy_account(void)
{
    char conf[8192];
    struct config *cfg;
    struct cache *c;
    struct acct *a;
    char p[4400];

    snprintf(conf, sizeof(conf),
             "socket = %s/o2.sock\nstate_dir = %s\nallow_users = root\nrefresh_ahead = 600\n"
             "[account " POLICY
             "]\ntenant = contoso.test\nclient_id = 3f2504e0-4f89-11d3-9a0c-0305e82c3301\n",
             dir, state_dir);
    cfg = load(conf);
    ok(cfg != NULL, "the policy test's config loads (%s)", err);
    c = cfg != NULL ? cache_new(cfg, NULL) : NULL;
    a = c != NULL ? cache_find(c, POLICY) : NULL;
    if (a != NULL) {
        write_state_for(POLICY, "rt-policy-1", NULL, 0, 0);
        cache_load(a);
        test_first_refresh(c, a);
        test_backoff(c, a);
        test_outage(c, a);
        test_permanent(c, a);
    }
    cache_free(c);
    config_free(cfg);
    snprintf(p, sizeof(p), "%s/%s.state", state_dir, POLICY);
    unlink(p);
    snprintf(p, sizeof(p), "%s/%s.lock", state_dir, POLICY);
    unlink(p);
}

int main(void)
{
    char conf[8192];
    struct config *cfg;
    struct cache *c;
    struct acct *a;

    cache_set_clock(&fake_clock);
    test_policy();
    if (cfgload_setup() < 0) {
        ok(0, "cannot make a temporary directory");
        return done_testing();
    }
    snprintf(state_dir, sizeof(state_dir), "%s/state", dir);
    mkdir(state_dir, 0700);
    test_policy_account();
    snprintf(conf, sizeof(conf),
             "socket = %s/o2.sock\nstate_dir = %s\nallow_users = root\nrefresh_ahead = 600\n"
             "[account " ACCOUNT
             "]\ntenant = contoso.test\nclient_id = 3f2504e0-4f89-11d3-9a0c-0305e82c3301\n",
             dir, state_dir);
    cfg = load(conf);
    ok(cfg != NULL, "the test config loads (%s)", err);
    c = cfg != NULL ? cache_new(cfg, NULL) : NULL;
    a = c != NULL ? cache_find(c, ACCOUNT) : NULL;
    if (a != NULL) {
        test_wall_clock_step(c, a);
        test_reload(c, a);
        test_unsaved_rotation(c, a);
    }
    cache_free(c);
    config_free(cfg);
    {
        char p[4400];

        snprintf(p, sizeof(p), "%s/%s.state", state_dir, ACCOUNT);
        unlink(p);
        snprintf(p, sizeof(p), "%s/%s.lock", state_dir, ACCOUNT);
        unlink(p);
        rmdir(state_dir);
    }
    cfgload_cleanup();
    return done_testing();
}
