/*
 * state.c - per-account token state, written atomically (see state.h)
 */
#include "autoconfig.h"

#include "state.h"

#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "config.h"
#include "jsonwipe.h"
#include "secret.h"

/* state_clear - wipe and free the tokens */
void state_clear(struct account_state *st)
{
    secret_free(st->refresh_token);
    secret_free(st->access_token);
    memset(st, 0, sizeof(*st));
}

/* file_path - dir/name.suffix */
static int file_path(char *out, size_t outsize, const char *dir, const char *name,
                     const char *suffix)
{
    int n = snprintf(out, outsize, "%s/%s%s", dir, name, suffix);

    return (n < 0 || (size_t)n >= outsize) ? -1 : 0;
}

/* state_path - STATE_DIR/NAME.state */
int state_path(char *out, size_t outsize, const char *dir, const char *name)
{
    return file_path(out, outsize, dir, name, ".state");
}

/* stamp_of - fill a stamp from stat */
static void stamp_of(const struct stat *sb, struct state_stamp *stamp)
{
    stamp->dev = sb->st_dev;
    stamp->ino = sb->st_ino;
    stamp->mtime = sb->st_mtim;
}

/*
 * json_secret - a string member copied out, or NULL; *bad is set when it
 * holds an embedded NUL ("\u0000"), which strdup would silently cut
 */
static char *json_secret(json_object *obj, const char *key, int *bad)
{
    json_object *v;
    char *copy;

    if (!json_object_object_get_ex(obj, key, &v) || !json_object_is_type(v, json_type_string) ||
        json_object_get_string_len(v) == 0)
        return NULL;
    if ((size_t)json_object_get_string_len(v) != strlen(json_object_get_string(v))) {
        explicit_bzero((char *)json_object_get_string(v), (size_t)json_object_get_string_len(v));
        *bad = 1;
        return NULL;
    }
    copy = strdup(json_object_get_string(v));
    explicit_bzero((char *)json_object_get_string(v), (size_t)json_object_get_string_len(v));
    return copy;
}

/* json_time - an integer member, 0 when absent */
static long long json_time(json_object *obj, const char *key)
{
    json_object *v;

    if (!json_object_object_get_ex(obj, key, &v) || !json_object_is_type(v, json_type_int))
        return 0;
    return (long long)json_object_get_int64(v);
}

/* state_load - read NAME.state */
int state_load(const char *dir, const char *name, struct account_state *st,
               struct state_stamp *stamp, char *err, size_t errsize)
{
    char path[4096];
    char *buf = NULL;
    struct stat sb;
    json_object *obj = NULL;
    ssize_t n;
    size_t len = 0;
    int rc = -1;
    int bad = 0;
    int fd;

    memset(st, 0, sizeof(*st));
    if (stamp != NULL)
        memset(stamp, 0, sizeof(*stamp));
    if (state_path(path, sizeof(path), dir, name) < 0) {
        snprintf(err, errsize, "state file name too long for account %s", name);
        return -1;
    }
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        if (errno == ENOENT)
            return 1;
        snprintf(err, errsize, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode) || sb.st_size > STATE_MAX_FILE) {
        snprintf(err, errsize, "%s is not a regular file under %d bytes", path, STATE_MAX_FILE);
        goto out;
    }
    if (stamp != NULL)
        stamp_of(&sb, stamp);
    buf = malloc(STATE_MAX_FILE + 1);
    if (buf == NULL) {
        snprintf(err, errsize, "out of memory reading %s", path);
        goto out;
    }
    while (len < STATE_MAX_FILE) {
        n = read(fd, buf + len, STATE_MAX_FILE - len);
        if (n == 0)
            break;
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            snprintf(err, errsize, "cannot read %s: %s", path, strerror(errno));
            goto out;
        }
        len += (size_t)n;
    }
    buf[len] = '\0';
    obj = jsonwipe_parse(buf, len);
    if (obj == NULL || !json_object_is_type(obj, json_type_object)) {
        snprintf(err, errsize, "%s is not valid JSON; restore it or import the refresh token again",
                 path);
        goto out;
    }
    st->refresh_token = json_secret(obj, "refresh_token", &bad);
    st->access_token = json_secret(obj, "access_token", &bad);
    if (bad) {
        snprintf(err, errsize,
                 "%s holds a token with an embedded NUL (\\u0000); import the refresh token "
                 "again",
                 path);
        goto out;
    }
    st->expires_at = json_time(obj, "expires_at");
    st->obtained_at = json_time(obj, "obtained_at");
    st->rt_stored = json_time(obj, "refresh_token_stored");
    st->authorized = json_time(obj, "authorized");
    st->last_success = json_time(obj, "last_success");
    if (st->access_token == NULL)
        st->expires_at = 0;
    rc = 0;
out:
    jsonwipe_put(obj);
    if (buf != NULL) {
        explicit_bzero(buf, len);
        free(buf);
    }
    close(fd);
    if (rc < 0)
        state_clear(st);
    return rc;
}

/* write_all - write everything or fail */
static int write_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

/* give_to_dir_owner - root's new files in state_dir belong to the directory's owner */
static int give_to_dir_owner(int fd, const char *dir)
{
    struct stat dsb;

    if (geteuid() != 0)
        return 0;
    if (stat(dir, &dsb) < 0)
        return -1;
    if (dsb.st_uid == 0)
        return 0;
    return fchown(fd, dsb.st_uid, dsb.st_gid);
}

/* state_save - write NAME.state atomically */
int state_save(const char *dir, const char *name, const struct account_state *st,
               struct state_stamp *stamp, char *err, size_t errsize)
{
    char path[4096];
    char tmp[4096] = "";
    json_object *obj = json_object_new_object();
    const char *text;
    size_t text_len;
    struct stat sb;
    int fd = -1;
    int dfd = -1;
    int rc = -1;

    if (obj == NULL || state_path(path, sizeof(path), dir, name) < 0 ||
        file_path(tmp, sizeof(tmp), dir, name, ".state.tmp") < 0) {
        snprintf(err, errsize, "cannot save state for account %s: out of memory", name);
        goto out;
    }
    json_object_object_add(obj, "version", json_object_new_int(1));
    if (st->refresh_token != NULL)
        json_object_object_add(obj, "refresh_token", json_object_new_string(st->refresh_token));
    if (st->access_token != NULL) {
        json_object_object_add(obj, "access_token", json_object_new_string(st->access_token));
        json_object_object_add(obj, "expires_at", json_object_new_int64(st->expires_at));
        json_object_object_add(obj, "obtained_at", json_object_new_int64(st->obtained_at));
    }
    json_object_object_add(obj, "refresh_token_stored", json_object_new_int64(st->rt_stored));
    json_object_object_add(obj, "authorized", json_object_new_int64(st->authorized));
    json_object_object_add(obj, "last_success", json_object_new_int64(st->last_success));
    text = json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PRETTY);
    text_len = strlen(text);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        snprintf(err, errsize, "cannot create %s: %s", tmp, strerror(errno));
        goto out;
    }
    if (write_all(fd, text, text_len) < 0 || write_all(fd, "\n", 1) < 0 || fsync(fd) < 0) {
        snprintf(err, errsize, "cannot write %s: %s; kept the previous %s", tmp, strerror(errno),
                 path);
        goto out;
    }
    if (give_to_dir_owner(fd, dir) < 0) {
        snprintf(err, errsize, "cannot chown %s: %s", tmp, strerror(errno));
        goto out;
    }
    if (fstat(fd, &sb) < 0 || close(fd) < 0) {
        fd = -1;
        snprintf(err, errsize, "cannot write %s: %s; kept the previous %s", tmp, strerror(errno),
                 path);
        goto out;
    }
    fd = -1;
    if (rename(tmp, path) < 0) {
        snprintf(err, errsize, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
        goto out;
    }
    dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || fsync(dfd) < 0) {
        snprintf(err, errsize, "cannot fsync directory %s: %s", dir, strerror(errno));
        goto out;
    }
    if (stamp != NULL)
        stamp_of(&sb, stamp);
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    if (rc < 0 && tmp[0] != '\0')
        unlink(tmp);
    if (dfd >= 0)
        close(dfd);
    if (obj != NULL) {
        /* Wipe the serialised copy, then the string objects' own copies. */
        text = json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PRETTY);
        explicit_bzero((char *)text, strlen(text));
        jsonwipe_put(obj);
    }
    return rc;
}

/* state_stamp_changed - whether NAME.state is another file than stamp says */
int state_stamp_changed(const char *dir, const char *name, const struct state_stamp *stamp)
{
    char path[4096];
    struct stat sb;

    if (state_path(path, sizeof(path), dir, name) < 0)
        return 0;
    if (stat(path, &sb) < 0)
        return stamp->ino != 0;
    return sb.st_dev != stamp->dev || sb.st_ino != stamp->ino ||
           sb.st_mtim.tv_sec != stamp->mtime.tv_sec || sb.st_mtim.tv_nsec != stamp->mtime.tv_nsec;
}

/* state_stamp_same - whether two stamps name the same version of a file */
int state_stamp_same(const struct state_stamp *x, const struct state_stamp *y)
{
    return x->dev == y->dev && x->ino == y->ino && x->mtime.tv_sec == y->mtime.tv_sec &&
           x->mtime.tv_nsec == y->mtime.tv_nsec;
}

/* state_lock - flock NAME.lock */
int state_lock(const char *dir, const char *name, int nonblock, char *err, size_t errsize)
{
    char path[4096];
    int fd;

    if (file_path(path, sizeof(path), dir, name, ".lock") < 0) {
        snprintf(err, errsize, "lock file name too long for account %s", name);
        errno = ENAMETOOLONG;
        return -1;
    }
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        snprintf(err, errsize, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    if (give_to_dir_owner(fd, dir) < 0) {
        snprintf(err, errsize, "cannot chown %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    while (flock(fd, LOCK_EX | (nonblock ? LOCK_NB : 0)) < 0) {
        int saved = errno;

        if (saved == EINTR)
            continue;
        snprintf(err, errsize, "cannot lock %s: %s", path, strerror(saved));
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

/* state_unlock - release */
void state_unlock(int fd)
{
    if (fd >= 0)
        close(fd);
}

/*
 * state_prepare_dir - create state_dir 0700 for uid:gid (the daemon's
 * user; (uid_t)-1: leave the owner as it is), or say why it cannot be
 * used: not a directory, owned by someone else, open to group or others.
 * The daemon (as root, before it drops privileges), the CLI storing a
 * grant and the CLI about to become the daemon's user (privdrop.c) all go
 * through here. The checks and the fchown work on the open directory, so
 * nothing can swap the path in between.
 */
int state_prepare_dir(const struct config *cfg, uid_t uid, gid_t gid, char *err, size_t errsize)
{
    struct stat sb;
    int rc = -1;
    int fd;

    if (mkdir(cfg->state_dir, 0700) < 0 && errno != EEXIST) {
        snprintf(err, errsize, "cannot create state_dir %s: %s", cfg->state_dir, strerror(errno));
        return -1;
    }
    fd = open(cfg->state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 && errno == ENOTDIR) {
        snprintf(err, errsize, "state_dir %s is not a directory", cfg->state_dir);
        return -1;
    }
    if (fd < 0 || fstat(fd, &sb) < 0) {
        snprintf(err, errsize, "cannot open state_dir %s: %s", cfg->state_dir, strerror(errno));
        goto out;
    }
    /* Without user =, files made here would go to the directory's owner. */
    if (config_state_dir_owner(cfg, uid != (uid_t)-1 ? uid : geteuid(), &sb, err, errsize) < 0)
        goto out;
    if (uid != (uid_t)-1 && sb.st_uid != uid && fchown(fd, uid, gid) < 0) {
        snprintf(err, errsize, "cannot chown state_dir %s to uid %u: %s", cfg->state_dir,
                 (unsigned)uid, strerror(errno));
        goto out;
    }
    if ((sb.st_mode & 0077) != 0) {
        snprintf(err, errsize,
                 "state_dir %s is open to group or others (mode %04o); fix: chmod 700 %s",
                 cfg->state_dir, (unsigned)(sb.st_mode & 07777), cfg->state_dir);
        goto out;
    }
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    return rc;
}

/*
 * state_store_grant - write an account's new grant under its lock, in a
 * state_dir checked by state_prepare_dir(). Signals are held off while the
 * file is written, so an interrupt cannot leave half of it done.
 */
int state_store_grant(const struct config *cfg, const char *name, struct account_state *st,
                      char *err, size_t errsize)
{
    sigset_t all;
    sigset_t old;
    int rc = 0;
    int fd;

    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, &old);
    if (state_prepare_dir(cfg, cfg->run_uid, cfg->run_gid, err, errsize) < 0) {
        rc = STATE_STORE_DIR;
        goto out;
    }
    fd = state_lock(cfg->state_dir, name, 0, err, errsize);
    if (fd < 0) {
        rc = STATE_STORE_FAILED;
        goto out;
    }
    st->rt_stored = clock_wall_s();
    st->authorized = st->rt_stored;
    if (state_save(cfg->state_dir, name, st, NULL, err, errsize) < 0)
        rc = STATE_STORE_FAILED;
    state_unlock(fd);
out:
    sigprocmask(SIG_SETMASK, &old, NULL);
    return rc;
}
