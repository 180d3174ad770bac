/*
 * cache.h - every account's tokens, and when and how to refresh them
 *
 * The daemon keeps one struct acct per configured account. A token is
 * handed out while it has at least min(refresh_ahead, lifetime/2) seconds
 * left; a timer refreshes it a little before that. One refresh per account
 * is in flight at a time, however many callers wait on it. Failures that
 * may pass (network, 5xx, 429, throttling) back off exponentially with
 * jitter, capped, honouring Retry-After, and meanwhile a token that is
 * still valid keeps being served. Failures that need a person stop the
 * retries until a new grant is stored (import, authorize: another refresh
 * token in the state file, or other credential files) or the config is
 * reloaded (SIGHUP). A "reload ACCOUNT" request rereads the state file but
 * ends a backoff or a needs-a-person state only when the grant changed.
 *
 * A rotated refresh token that could not be written (full disk) is the
 * newest and stays in memory: a reload does not replace it with the older
 * one on disk (only a file written by someone else since, an import, wins),
 * a timer retries the write, and at exit one last attempt is made; if that
 * fails, an error names the file and the account.
 *
 * Clocks: deadlines, timers and the remaining lifetime of tokens run on
 * CLOCK_MONOTONIC, so stepping the wall clock moves none of them; wall
 * time is used only for what is stored (state files, converted once at
 * load) and shown (status, the "expires=" of the account reply). Tests
 * replace both clocks with cache_set_clock.
 *
 * The daemon runs refreshes through its curl multi handle (cache_start,
 * cache_finish); the CLI runs the same steps synchronously
 * (cache_refresh_sync). Both end in cache_complete, which applies the
 * outcome (a token and its lifetime, a transient or a permanent failure)
 * to the account; tests call it directly.
 *
 * An account's refresh state machine. There is no state variable: the
 * state is read from "last" (LAST_NONE/OK/TRANSIENT/PERMANENT),
 * "refreshing", "next_try_ms" and "timer_ms" together.
 *
 *  IDLE (last NONE or OK; timer_ms is when a refresh is due, 0 = none)
 *      timer due, or a request finds no servable token -> REFRESHING.
 *  REFRESHING (refreshing = 1; req set in the daemon)
 *      The lock is taken and the state file reread (begin). If someone
 *      else refreshed meanwhile -> IDLE; if the lock is busy, the timer
 *      retries in CACHE_LOCK_RETRY_MS; no refresh token or an unreadable
 *      file or credential -> NEEDS_PERSON. Callers wait, except that a
 *      usable token is served once the refresh has taken
 *      CACHE_REFRESH_PATIENCE_MS.
 *      success with lifetime L (cache_complete) -> IDLE: failures = 0, the
 *        timer set to cache_refresh_after_s(L) after now;
 *      transient failure -> BACKOFF: failures + 1, next_try_ms = now +
 *        max(cache_backoff_ms(failures), Retry-After), timer = next_try_ms;
 *      permanent failure -> NEEDS_PERSON.
 *  BACKOFF (last TRANSIENT, next_try_ms > now)
 *      A request is answered with the token while it is usable (more than
 *      OAUTH2_TOKEN_MIN_REMAINING_S left), else TEMP with the reason and
 *      the seconds until the next attempt. "reload ACCOUNT" changes
 *      nothing unless the grant changed -> IDLE with a refresh due now.
 *      next_try_ms reached (timer, or a request) -> REFRESHING.
 *  NEEDS_PERSON (last PERMANENT; timer_ms = next_try_ms = 0)
 *      A servable token is still handed out; otherwise PERM with the
 *      reason. No timer, no retry. A new grant (another refresh token in
 *      the state file, other credential files: reload, a request noticing
 *      the file changed, import, authorize) -> IDLE with a refresh due now;
 *      a config reload (SIGHUP) that keeps the grant -> IDLE too.
 *  cache_forget (revoke) drops the tokens: -> NEEDS_PERSON, or for an
 *      app-only account, IDLE with nothing to serve.
 * The monotonic clock drives every transition; a wall-clock step changes
 * none of them.
 */
#ifndef OAUTH2_CACHE_H
#define OAUTH2_CACHE_H

#include <curl/curl.h>
#include <stddef.h>

#include "config.h"
#include "netstring.h"
#include "protocol.h"
#include "state.h"
#include "tokenlife.h"

#define CACHE_BACKOFF_BASE_S 5
#define CACHE_BACKOFF_CAP_S 300
#define CACHE_LOCK_RETRY_MS 500
/* How long callers wait for a refresh in flight while a usable token exists. */
#define CACHE_REFRESH_PATIENCE_MS 3000
/* At exit, attempts (100 ms apart) to take the lock for a last write of a rotated refresh token. */
#define CACHE_LAST_SAVE_TRIES 20

typedef enum { LAST_NONE, LAST_OK, LAST_TRANSIENT, LAST_PERMANENT } last_result;

struct http_request;
struct token_result;

struct acct {
    const struct account_conf *conf;
    const struct config *cfg;
    struct account_state st;
    struct state_stamp stamp;
    int loaded;                    /* state read from disk at least once */
    int load_failed;               /* the last read of the state file failed */
    long long tok_obtained_ms;     /* st.access_token obtained, monotonic clock */
    long long tok_expires_ms;      /* st.access_token expires, monotonic clock */
    unsigned long long cred_stamp; /* credential files at the last attempt; 0 = unknown */
    int refreshing;                /* a refresh is under way (or waiting for the lock) */
    struct http_request *req;
    long long req_started_ms; /* when req was started */
    int lock_fd;
    long long timer_ms;    /* when to (re)start a refresh (monotonic); 0 = none */
    long long next_try_ms; /* backoff: no attempt before this (monotonic); 0 = none */
    int failures;
    last_result last;
    char last_error[512];
    long long last_refresh;     /* unix time of the last completed attempt */
    long last_code;             /* AADSTS code of the last failure, 0 if none */
    long long last_failure;     /* unix time of the last failure, 0 if none */
    char last_failure_msg[512]; /* kept after a later success, for status */
    int save_pending;           /* a rotated refresh token is not on disk yet */
    int save_failures;          /* failed attempts to write it, for the retry backoff */
    long long save_retry_ms;    /* when to try writing it again; 0 = not scheduled */
    int cert_pair;              /* certificate rollover: 0 the current pair, 1 the next */
    int cert_pair_known;        /* cert_pair chosen (newest usable, or the one that worked) */
    int rollover_retried;       /* this refresh already switched pairs after AADSTS700027 */
};

struct cache {
    const struct config *cfg;
    struct acct *accts;
    size_t n;
    CURLM *multi; /* NULL in the CLI */
};

/* The clocks cache.c reads; tests substitute their own. */
struct cache_clock {
    long long (*mono_ms)(void); /* never steps: deadlines, timers, lifetimes */
    long long (*wall_ms)(void); /* unix time in ms: only what is stored or shown */
};

/* cache_set_clock - use clk from now on; NULL restores the system clocks */
void cache_set_clock(const struct cache_clock *clk);

/* cache_now_ms - the monotonic clock in milliseconds, for deadlines */
long long cache_now_ms(void);

/* cache_wall_ms - the wall clock in milliseconds (unix time) */
long long cache_wall_ms(void);

/* cache_min_remaining_s - seconds a token of this lifetime must still have to be handed out */
long long cache_min_remaining_s(long long lifetime_s, long long refresh_ahead_s);

/* cache_refresh_after_s - seconds after obtaining a token of this lifetime that it is refreshed */
long long cache_refresh_after_s(long long lifetime_s, long long refresh_ahead_s);

/* cache_backoff_ms - the wait after this many consecutive failures (jittered, capped) */
long long cache_backoff_ms(int failures);

/* cache_remaining_ms - how long a's token stays valid (monotonic); 0 without one */
long long cache_remaining_ms(const struct acct *a);

/* cache_expires_wall - a's token expiry as unix time, for people and the disk; 0 without one */
long long cache_expires_wall(const struct acct *a);

/* cache_new - one acct per account in cfg; multi may be NULL */
struct cache *cache_new(const struct config *cfg, CURLM *multi);

/* cache_reload - move to a new config, keeping tokens of accounts that stay the same */
void cache_reload(struct cache *c, const struct config *cfg);

/*
 * cache_free - wipe and free, aborting transfers in flight, after a last
 * attempt to write a rotated refresh token still pending; NULL is fine
 */
void cache_free(struct cache *c);

/* cache_find - the acct named name, or NULL */
struct acct *cache_find(struct cache *c, const char *name);

/*
 * cache_answer - a token request's result for a now (a token with its
 * login and expiry, borrowed from a until the event loop runs again, or
 * TEMP/PERM with a reason), or 0 when the caller must wait for a refresh
 * (started if needed). The caller (server.c) encodes it for the wire.
 */
int cache_answer(struct cache *c, struct acct *a, struct protocol_token_result *res);

/*
 * cache_state_changed - a new grant may have been stored (import,
 * authorize): reread a's state; a backoff or needs-a-person state ends,
 * and a refresh starts at once, only if the grant really changed
 */
void cache_state_changed(struct cache *c, struct acct *a);

/*
 * cache_complete - apply the outcome of a refresh to a (see the state
 * machine above), write the state file, release a's lock; takes the tokens
 * out of res. The HTTP completion paths call it; tests call it directly.
 */
void cache_complete(struct acct *a, struct token_result *res);

/* cache_finish - a transfer of the multi handle completed */
void cache_finish(struct cache *c, CURL *easy, CURLcode code);

/* cache_run_timers - start the refreshes that are due */
void cache_run_timers(struct cache *c);

/* cache_next_timer_ms - the earliest timer, or 0 when there is none */
long long cache_next_timer_ms(const struct cache *c);

/* cache_refresh_sync - the CLI's path: refresh a now under its lock, unless a token is servable */
int cache_refresh_sync(struct cache *c, struct acct *a);

/*
 * cache_refresh_token - the CLI's direct refresh by account name: login,
 * token and expiry copied out; 0, -1 temporary or -2 needs a person (err)
 */
int cache_refresh_token(struct cache *c, const char *name, char *login, size_t loginsize,
                        char *token, size_t tokensize, long long *expires, char *err,
                        size_t errsize);

/* cache_load - read a's state file if not done yet (the CLI's view without a daemon) */
void cache_load(struct acct *a);

/* cache_forget - drop a's tokens at once (revoke); it needs a new grant to work again */
void cache_forget(struct cache *c, struct acct *a);

/* cache_servable - whether a's token may be handed out now */
int cache_servable(const struct acct *a);

#endif
