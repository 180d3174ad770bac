/*
 * state.h - the refresh token and current access token of each account,
 *           one file per account in state_dir
 *
 * File: state_dir/NAME.state, JSON, mode 0600, owned by the daemon's user.
 * A save writes NAME.state.tmp, fsyncs it, renames it over NAME.state and
 * fsyncs the directory, so a crash or a full disk leaves the old file or
 * the new one, never a torn one. NAME.lock (flock) serialises the daemon
 * and a CLI that refreshes by itself or imports a new refresh token.
 *
 * Security: everything here is secret. The file's bytes, json-c's parse
 * buffer and string objects (jsonwipe.h) and the serialised text are
 * wiped; not reachable are copies json-c's serializer leaves in freed
 * memory when its buffer grows, which is why no process of ours may dump
 * core (privdrop.h). The directory must be closed to group and others.
 */
#ifndef OAUTH2_STATE_H
#define OAUTH2_STATE_H

#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#define STATE_MAX_FILE (64 * 1024)

struct account_state {
    char *refresh_token;    /* malloc'd or NULL */
    char *access_token;     /* malloc'd or NULL */
    long long expires_at;   /* of access_token, unix time */
    long long obtained_at;  /* of access_token */
    long long rt_stored;    /* when refresh_token was last written */
    long long authorized;   /* when a person last imported or authorized it */
    long long last_success; /* last successful refresh: the refresh token's last use */
};

/* A file's identity, to notice that someone else replaced it. */
struct state_stamp {
    dev_t dev;
    ino_t ino;
    struct timespec mtime;
};

/* state_path - the path of NAME.state in dir; -1 when it does not fit outsize */
int state_path(char *out, size_t outsize, const char *dir, const char *name);

/* state_load - read NAME.state; 0 loaded, 1 no file yet, -1 error (err says which file and why) */
int state_load(const char *dir, const char *name, struct account_state *st,
               struct state_stamp *stamp, char *err, size_t errsize);

/*
 * state_save - write NAME.state atomically; -1 with err. When run by root
 * (import, or the CLI refreshing by itself), new files are given to the
 * owner of state_dir, the daemon's user.
 */
int state_save(const char *dir, const char *name, const struct account_state *st,
               struct state_stamp *stamp, char *err, size_t errsize);

/* state_stamp_changed - whether NAME.state differs from stamp (or appeared, or vanished) */
int state_stamp_changed(const char *dir, const char *name, const struct state_stamp *stamp);

/* state_stamp_same - whether two stamps name the same version of a file */
int state_stamp_same(const struct state_stamp *x, const struct state_stamp *y);

/* state_lock - flock NAME.lock; the fd, or -1 (errno EWOULDBLOCK when busy and nonblock) */
int state_lock(const char *dir, const char *name, int nonblock, char *err, size_t errsize);

/* state_unlock - release a lock from state_lock; -1 is fine */
void state_unlock(int fd);

struct config;

/*
 * state_prepare_dir - create state_dir 0700 and give it to uid:gid, the
 * daemon's user ((uid_t)-1: keep its owner); -1 with err when it is not a
 * directory, has another owner or is open to others
 */
int state_prepare_dir(const struct config *cfg, uid_t uid, gid_t gid, char *err, size_t errsize);

/* state_store_grant's failures: the state_dir cannot be used (a config fix), or the write failed */
#define STATE_STORE_DIR (-2)
#define STATE_STORE_FAILED (-1)

/*
 * state_store_grant - write a new grant (authorize, import) under the
 * account's lock, stamping when it was stored; 0, or a STATE_STORE_* with err
 */
int state_store_grant(const struct config *cfg, const char *name, struct account_state *st,
                      char *err, size_t errsize);

/* state_clear - wipe and free the tokens */
void state_clear(struct account_state *st);

#endif
