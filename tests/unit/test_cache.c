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
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cache.h"
#include "cfgload.h"
#include "tap.h"

#define ACCOUNT "alice@contoso.test"

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

/* write_state - a state file as import or the daemon would leave it (no token when at is NULL) */
static void write_state(const char *rt, const char *at, long long obtained, long long expires)
{
    char p[4400];
    char tmp[4400];
    FILE *fp;

    snprintf(p, sizeof(p), "%s/%s.state", state_dir, ACCOUNT);
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
