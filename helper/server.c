/*
 * server.c - the daemon's event loop (see server.h)
 */
#include "autoconfig.h"

#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "cache.h"
#include "clock.h"
#include "config.h"
#include "log.h"
#include "loglimit.h"
#include "netstring.h"
#include "privdrop.h"
#include "protocol.h"
#include "status.h"

#define MAX_CLIENTS 4096
/* Descriptors kept for libcurl's connections, state and lock files, syslog. */
#define FD_RESERVE 64
/* After EMFILE with nobody to evict, accept() is tried again this much later. */
#define ACCEPT_RETRY_MS 1000
/* Connections taken per turn of the loop, so that hang-ups are seen between. */
#define ACCEPT_BATCH 64
/* At most one "cannot take more clients" warning this often. */
#define ACCEPT_WARN_MS 60000
#define CLIENT_IDLE_MS 60000
/* A reply not read this long after it was made: the peer is not reading. */
#define CLIENT_WRITE_MS 5000
/* A new connection is not evicted as idle this soon: its request may be on the way. */
#define CLIENT_GRACE_MS 1000
#define CLIENT_WAIT_MS 30000

struct client {
    int fd;
    uid_t uid;
    gid_t gid;
    char in[SOCKETMAP_MAX_REQUEST + 16];
    size_t in_len;
    char *out; /* pending reply, wiped when sent */
    size_t out_len;
    size_t out_off;
    struct acct *waiting;               /* waiting for this account's refresh */
    const struct protocol_request *req; /* the token request waiting */
    long long deadline_ms;              /* idle, wait or write timeout */
    long long since_ms;                 /* connected at */
    int close_after;                    /* close when the reply is sent */
    int denied;                         /* peer not allowed: refuse its first request */
    int kind;                           /* the request being answered, for the counts */
    struct status_replies *replies;     /* the server's reply counts */
};

struct server {
    struct config *cfg;
    struct cache *cache;
    CURLM *multi;
    int listen_fd;
    int activated;       /* listen_fd came from systemd: it owns the socket file */
    struct stat sock_id; /* device and inode of the socket file we created */
    struct client *clients;
    size_t n_clients;
    size_t cap_clients;
    struct curl_waitfd *wfds;
    size_t cap_wfds;
    size_t max_clients;         /* MAX_CLIENTS, or fewer under a low RLIMIT_NOFILE */
    int accept_paused;          /* listening socket not polled: table full or EMFILE */
    long long accept_resume_ms; /* when to try accept() again; 0: when a client goes */
    long long accept_warned_ms; /* last warning about it */
    uid_t *uids;                /* scratch for evict_hog, max_clients + 1 */
    /* What any peer can make us log, a few lines at a time (loglimit.h). */
    struct loglimit log_refused;   /* uid not allowed */
    struct loglimit log_malformed; /* broken netstrings and requests */
    struct loglimit log_unknown;   /* unknown accounts */
    struct loglimit log_evicted;   /* busy connections closed to make room */
    struct loglimit log_reload;    /* reload requests, which any allowed uid may send */
    struct status_replies replies; /* what we answered, for status (metrics) */
};

static int sig_pipe[2] = {-1, -1};

/* on_signal - note the signal for the event loop */
static void on_signal(int sig)
{
    unsigned char b = (unsigned char)sig;
    int saved = errno;

    if (write(sig_pipe[1], &b, 1) < 0) {
        /* Pipe full: a signal is already pending. */
    }
    errno = saved;
}

/* setup_signals - TERM/INT stop, HUP reloads, PIPE is ignored */
static int setup_signals(void)
{
    struct sigaction sa;

    if (pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
        return -1;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
    return 0;
}

/* sock_tmpname - a fresh name for the socket's private directory: .BASE.XXXXXXXX */
static void sock_tmpname(char *out, size_t outsize, const char *base)
{
    static const char chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    unsigned char rnd[8];
    char suffix[sizeof(rnd) + 1];
    size_t i;

    if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
        unsigned long long x =
            (unsigned long long)clock_mono_ms() ^ ((unsigned long long)getpid() << 20);

        for (i = 0; i < sizeof(rnd); i++, x >>= 6)
            rnd[i] = (unsigned char)x;
    }
    for (i = 0; i < sizeof(rnd); i++)
        suffix[i] = chars[rnd[i] % (sizeof(chars) - 1)];
    suffix[sizeof(rnd)] = '\0';
    snprintf(out, outsize, ".%.64s.%s", base, suffix);
}

/*
 * sock_private_dir - make a directory only we can write, next to the socket;
 * returns its descriptor (name in tmp), or -1
 *
 * Someone who can write the socket's directory may rename our directory and
 * put a link or their own directory in its place before we open it: the open
 * refuses links, and what we opened must be ours and closed to others.
 */
static int sock_private_dir(int parent_fd, const char *dir, const char *base, char *tmp,
                            size_t tmpsize)
{
    int tries;

    for (tries = 0; tries < 16; tries++) {
        struct stat sb;
        int fd;

        sock_tmpname(tmp, tmpsize, base);
        if (mkdirat(parent_fd, tmp, 0700) < 0) {
            if (errno == EEXIST)
                continue;
            log_error("cannot create a directory in %s for the socket: %s", dir, strerror(errno));
            return -1;
        }
        fd = openat(parent_fd, tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
            continue;
        if (fstat(fd, &sb) == 0 && S_ISDIR(sb.st_mode) && sb.st_uid == geteuid() &&
            (sb.st_mode & 0077) == 0)
            return fd;
        close(fd);
    }
    log_error("cannot create a private directory in %s for the socket: someone keeps replacing "
              "it; check who can write %s",
              dir, dir);
    return -1;
}

/*
 * sock_in_use - a daemon already listens on the socket at path (it accepts
 * a connection, or its listen queue is full)
 */
static int sock_in_use(const char *path)
{
    struct sockaddr_un sun;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int live;

    if (fd < 0)
        return 0;
    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
    live = connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0 || errno == EAGAIN;
    close(fd);
    return live;
}

/*
 * sock_bind_in - bind fd to name in the directory dir_fd (bind() takes no
 * directory descriptor: change into it and back)
 */
static int sock_bind_in(int fd, int dir_fd, const char *name)
{
    struct sockaddr_un sun;
    int cwd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
    int rc = -1;
    int saved;

    if (cwd < 0)
        return -1;
    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", name);
    if (fchdir(dir_fd) == 0) {
        rc = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
        saved = errno;
        if (fchdir(cwd) < 0) {
            log_error("cannot return to the working directory: %s", strerror(errno));
            rc = -1;
        }
        errno = saved;
    }
    saved = errno;
    close(cwd);
    errno = saved;
    return rc;
}

/*
 * listen_socket - create the socket with its owner and mode; its device and
 * inode go to *sock_id, so that we remove only our own socket on exit
 *
 * Security: the socket's directory may be writable by another user
 * (Postfix's private/ belongs to postfix). Nothing here follows a name in it:
 * the socket is bound in a fresh 0700 directory of our own next to it,
 * reached through its descriptor, given its owner and mode there (no one
 * else can replace it in that directory), and renamed into place. rename()
 * replaces a stale socket, or a link put there since we looked, without
 * following it.
 */
static int listen_socket(const struct config *cfg, struct stat *sock_id)
{
    char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
    char tmp[96];
    const char *base;
    const char *slash = strrchr(cfg->socket, '/');
    struct stat sb;
    int parent_fd = -1;
    int dir_fd = -1;
    int fd = -1;
    int bound = 0;
    mode_t old;

    /* config.c guarantees an absolute path shorter than sun_path. */
    if (slash == NULL || slash[1] == '\0' || strlen(slash + 1) > 64) {
        log_error("socket %s: the file name must be 1 to 64 characters long", cfg->socket);
        return -1;
    }
    base = slash + 1;
    snprintf(dir, sizeof(dir), "%.*s", slash == cfg->socket ? 1 : (int)(slash - cfg->socket),
             cfg->socket);
    parent_fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (parent_fd < 0) {
        log_error("cannot open the socket's directory %s: %s", dir, strerror(errno));
        goto fail;
    }
    if (fstatat(parent_fd, base, &sb, AT_SYMLINK_NOFOLLOW) == 0) {
        if (!S_ISSOCK(sb.st_mode)) {
            log_error("%s exists and is not a socket; remove it or change socket", cfg->socket);
            goto fail;
        }
        if (sock_in_use(cfg->socket)) {
            log_error("another daemon is already listening on %s; stop it first", cfg->socket);
            goto fail;
        }
    }
    dir_fd = sock_private_dir(parent_fd, dir, base, tmp, sizeof(tmp));
    if (dir_fd < 0)
        goto fail;
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        log_error("socket: %s", strerror(errno));
        goto fail;
    }
    old = umask(0177);
    bound = sock_bind_in(fd, dir_fd, base) == 0;
    umask(old);
    if (!bound) {
        log_error("cannot bind %s: %s", cfg->socket, strerror(errno));
        goto fail;
    }
    if ((cfg->run_uid != (uid_t)-1 || cfg->sock_gid != (gid_t)-1) &&
        fchownat(dir_fd, base, cfg->run_uid, cfg->sock_gid, AT_SYMLINK_NOFOLLOW) < 0) {
        log_error("cannot chown %s: %s", cfg->socket, strerror(errno));
        goto fail;
    }
    if (fchmodat(dir_fd, base, cfg->sock_mode, 0) < 0 ||
        fstatat(dir_fd, base, sock_id, AT_SYMLINK_NOFOLLOW) < 0 || listen(fd, 512) < 0) {
        log_error("cannot set up %s: %s", cfg->socket, strerror(errno));
        goto fail;
    }
    if (renameat(dir_fd, base, parent_fd, base) < 0) {
        log_error("cannot move the socket into place as %s: %s", cfg->socket, strerror(errno));
        goto fail;
    }
    bound = 0;
    goto out;
fail:
    if (fd >= 0)
        close(fd);
    fd = -1;
out:
    if (dir_fd >= 0) {
        struct stat ours;

        if (bound)
            unlinkat(dir_fd, base, 0);
        /* Remove our directory by name only while the name is still ours. */
        if (fstat(dir_fd, &ours) == 0 && fstatat(parent_fd, tmp, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
            sb.st_dev == ours.st_dev && sb.st_ino == ours.st_ino)
            unlinkat(parent_fd, tmp, AT_REMOVEDIR);
        close(dir_fd);
    }
    if (parent_fd >= 0)
        close(parent_fd);
    return fd;
}

/*
 * activated_socket - the listening socket systemd passed us (socket
 * activation: LISTEN_PID and LISTEN_FDS, the first fd is 3), or -1
 */
static int activated_socket(const struct config *cfg)
{
    const char *pid = getenv("LISTEN_PID");
    const char *fds = getenv("LISTEN_FDS");
    struct sockaddr_un sun;
    socklen_t len = sizeof(sun);
    struct stat sb;
    char *end;
    long n;

    if (pid == NULL || fds == NULL)
        return -1;
    n = strtol(pid, &end, 10);
    if (*end != '\0' || n != (long)getpid())
        return -1;
    n = strtol(fds, &end, 10);
    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDS");
    unsetenv("LISTEN_FDNAMES");
    if (*end != '\0' || n < 1 || fstat(3, &sb) < 0 || !S_ISSOCK(sb.st_mode))
        return -1;
    if (fcntl(3, F_SETFL, fcntl(3, F_GETFL) | O_NONBLOCK) < 0 || fcntl(3, F_SETFD, FD_CLOEXEC) < 0)
        return -1;
    memset(&sun, 0, sizeof(sun));
    if (getsockname(3, (struct sockaddr *)&sun, &len) == 0 && sun.sun_family == AF_UNIX &&
        strcmp(sun.sun_path, cfg->socket) != 0)
        log_warn("systemd passed socket %s but %s says socket = %s; the SASL plugin and the CLI "
                 "use the latter",
                 sun.sun_path, cfg->path, cfg->socket);
    log_info("using the socket passed by systemd");
    return 3;
}

/* drop_privileges - become the configured user, for good */
static int drop_privileges(const struct config *cfg)
{
    char err[256];

    if (cfg->run_uid == (uid_t)-1 || geteuid() == cfg->run_uid)
        return 0;
    if (geteuid() != 0) {
        log_error("user = %s needs the daemon to start as root", cfg->user);
        return -1;
    }
    if (setgroups(0, NULL) < 0 || initgroups(cfg->user, cfg->run_gid) < 0 ||
        setgid(cfg->run_gid) < 0 || setuid(cfg->run_uid) < 0) {
        log_error("cannot become user %s: %s", cfg->user, strerror(errno));
        return -1;
    }
    if (setuid(0) == 0) {
        log_error("privileges could be regained after dropping them to %s", cfg->user);
        return -1;
    }
    /* setuid() reset the dumpable flag to fs.suid_dumpable: clear it again. */
    if (privdrop_nodump(err, sizeof(err)) < 0) {
        log_error("%s", err);
        return -1;
    }
    return 0;
}

/* peer_allowed - the SO_PEERCRED check */
static int peer_allowed(const struct server *s, uid_t uid, gid_t gid)
{
    size_t i;

    if (uid == 0 || uid == geteuid())
        return 1;
    for (i = 0; i < s->cfg->n_allow_uids; i++)
        if (s->cfg->allow_uids[i] == uid)
            return 1;
    for (i = 0; i < s->cfg->n_allow_gids; i++)
        if (s->cfg->allow_gids[i] == gid)
            return 1;
    return 0;
}

/* client_reply - queue a socketmap reply */
static void client_reply(struct client *cl, socketmap_status status, const char *data)
{
    size_t cap = strlen(data) + strlen(socketmap_status_name(status)) + 32;
    char *out = malloc(cap);
    size_t out_len;

    if (out == NULL) {
        cl->close_after = 1;
        cl->deadline_ms = 0;
        return;
    }
    if (protocol_encode_reply(status, data, out, cap, &out_len) < 0) {
        explicit_bzero(out, cap);
        free(out);
        cl->close_after = 1;
        cl->deadline_ms = 0;
        return;
    }
    if (cl->out != NULL) {
        explicit_bzero(cl->out, cl->out_len);
        free(cl->out);
    }
    if (cl->replies != NULL)
        status_count_reply(cl->replies, cl->kind, status);
    cl->out = out;
    cl->out_len = out_len;
    cl->out_off = 0;
    cl->deadline_ms = clock_mono_ms() + CLIENT_WRITE_MS;
}

/* answer - try to answer a waiting or new token request; 0 when it must keep waiting */
static int answer(struct server *s, struct client *cl)
{
    struct protocol_token_result res;
    char *data;

    if (!cache_answer(s->cache, cl->waiting, &res))
        return 0;
    cl->waiting = NULL;
    if (res.status != SOCKETMAP_OK) {
        client_reply(cl, res.status, res.reason);
        return 1;
    }
    data = malloc(PROTOCOL_MAX_REPLY);
    if (data == NULL) {
        client_reply(cl, SOCKETMAP_TEMP, "out of memory");
        return 1;
    }
    if (protocol_format_token(cl->req->shape, &res, data, PROTOCOL_MAX_REPLY) < 0)
        client_reply(cl, SOCKETMAP_TEMP, "token too long to send");
    else
        client_reply(cl, SOCKETMAP_OK, data);
    explicit_bzero(data, PROTOCOL_MAX_REPLY);
    free(data);
    return 1;
}

/* handle_token - token, account: answer now or wait for a refresh */
static void handle_token(struct server *s, struct client *cl, const struct protocol_request *req,
                         struct acct *a)
{
    cl->req = req;
    cl->waiting = a;
    cl->deadline_ms = clock_mono_ms() + CLIENT_WAIT_MS;
    answer(s, cl);
}

/* handle_status - status: the account's state as JSON */
static void handle_status(struct server *s, struct client *cl, const struct protocol_request *req,
                          struct acct *a)
{
    json_object *st = status_json(a);

    (void)req;
    if (st == NULL) {
        client_reply(cl, SOCKETMAP_TEMP, "out of memory");
        return;
    }
    status_set_replies(st, &s->replies);
    client_reply(cl, SOCKETMAP_OK, json_object_to_json_string_ext(st, JSON_C_TO_STRING_PLAIN));
    json_object_put(st);
}

/* handle_reload - reload: reread the account's state file */
static void handle_reload(struct server *s, struct client *cl, const struct protocol_request *req,
                          struct acct *a)
{
    cache_state_changed(s->cache, a);
    loglimit(&s->log_reload, "account=%s: state reloaded", a->conf->name);
    client_reply(cl, SOCKETMAP_OK, req->reply_word);
}

/* handle_forget - forget: drop the account's tokens */
static void handle_forget(struct server *s, struct client *cl, const struct protocol_request *req,
                          struct acct *a)
{
    cache_forget(s->cache, a);
    log_info("account=%s: tokens revoked by uid %u", a->conf->name, (unsigned)cl->uid);
    client_reply(cl, SOCKETMAP_OK, req->reply_word);
}

typedef void request_handler(struct server *, struct client *, const struct protocol_request *,
                             struct acct *);

/* handlers - the daemon's handler of each request of protocol_requests[] */
static request_handler *const handlers[PROTOCOL_N_REQUESTS] = {
    [PROTOCOL_TOKEN] = handle_token,   [PROTOCOL_ACCOUNT] = handle_token,
    [PROTOCOL_STATUS] = handle_status, [PROTOCOL_RELOAD] = handle_reload,
    [PROTOCOL_FORGET] = handle_forget,
};

/* handle_request - one decoded request */
static void handle_request(struct server *s, struct client *cl, const char *payload, size_t len)
{
    char name[16];
    char key[SOCKETMAP_MAX_REQUEST];
    const struct protocol_request *req;
    struct acct *a;

    cl->kind = STATUS_REPLY_OTHER;
    if (cl->denied) {
        char msg[128];

        snprintf(msg, sizeof(msg), "access denied for uid %u: not in allow_users or allow_groups",
                 (unsigned)cl->uid);
        client_reply(cl, SOCKETMAP_PERM, msg);
        cl->close_after = 1;
        return;
    }
    if (socketmap_parse_request(payload, len, name, sizeof(name), key, sizeof(key)) < 0) {
        loglimit(&s->log_malformed,
                 "uid %u sent a malformed request (not \"NAME KEY\"); closing the connection",
                 (unsigned)cl->uid);
        client_reply(cl, SOCKETMAP_PERM, "malformed request: expected \"NAME KEY\"");
        cl->close_after = 1;
        return;
    }
    req = protocol_find(name);
    if (req == NULL) {
        char msg[160];

        snprintf(msg, sizeof(msg), "unknown request: use %s", protocol_request_list());
        client_reply(cl, SOCKETMAP_PERM, msg);
        return;
    }
    cl->kind = (int)req->kind;
    a = cache_find(s->cache, key);
    if (a == NULL) {
        char clean[80];

        log_clean(clean, sizeof(clean), key, strlen(key));
        loglimit(&s->log_unknown, "account=%s: unknown account requested by uid %u", clean,
                 (unsigned)cl->uid);
        client_reply(cl, SOCKETMAP_NOTFOUND, "");
        return;
    }
    if (req->caller == PROTOCOL_ADMIN_ONLY && cl->uid != 0 && cl->uid != geteuid()) {
        client_reply(cl, SOCKETMAP_PERM, "only root or the daemon's user may revoke");
        return;
    }
    handlers[req->kind](s, cl, req, a);
}

/* client_close - forget a client */
static void client_close(struct server *s, size_t i)
{
    struct client *cl = &s->clients[i];

    close(cl->fd);
    if (cl->out != NULL) {
        explicit_bzero(cl->out, cl->out_len);
        free(cl->out);
    }
    explicit_bzero(cl->in, sizeof(cl->in));
    s->clients[i] = s->clients[s->n_clients - 1];
    s->n_clients--;
    /* A slot and a descriptor are free again. */
    s->accept_paused = 0;
}

/* client_busy - one of the client's requests is being answered */
static int client_busy(const struct client *cl)
{
    return cl->waiting != NULL || cl->out != NULL || cl->close_after;
}

/*
 * evict_idle - close the client idle longest (no request being answered); 0
 * when none is
 *
 * A caller connected less than CLIENT_GRACE_MS ago may not have sent its
 * request yet: a flood of connections must not push it out before it could.
 */
static int evict_idle(struct server *s)
{
    size_t victim = s->n_clients;
    long long now = clock_mono_ms();
    size_t i;

    for (i = 0; i < s->n_clients; i++) {
        const struct client *cl = &s->clients[i];

        if (client_busy(cl) || now - cl->since_ms < CLIENT_GRACE_MS)
            continue;
        if (victim == s->n_clients || cl->deadline_ms < s->clients[victim].deadline_ms)
            victim = i;
    }
    if (victim == s->n_clients)
        return 0;
    client_close(s, victim);
    return 1;
}

/* uid_cmp - qsort order of uids */
static int uid_cmp(const void *a, const void *b)
{
    uid_t x = *(const uid_t *)a;
    uid_t y = *(const uid_t *)b;

    return x < y ? -1 : x > y;
}

/*
 * evict_hog - close the oldest connection of the uid holding the most,
 * counting a newcomer of uid newcomer ((uid_t)-1: none); 0 when there is none
 *
 * With every connection busy (waiting for a refresh, or a reply unread), one
 * uid must not keep the others out: whoever holds the most gives way.
 */
static int evict_hog(struct server *s, uid_t newcomer)
{
    size_t n = 0;
    size_t i;
    size_t run = 0;
    size_t best = 0;
    uid_t hog = (uid_t)-1;
    size_t victim = s->n_clients;

    if (s->n_clients == 0 || s->uids == NULL)
        return 0;
    for (i = 0; i < s->n_clients && n < s->max_clients; i++)
        s->uids[n++] = s->clients[i].uid;
    if (newcomer != (uid_t)-1)
        s->uids[n++] = newcomer;
    qsort(s->uids, n, sizeof(*s->uids), uid_cmp);
    for (i = 0; i < n; i++) {
        run = (i > 0 && s->uids[i] == s->uids[i - 1]) ? run + 1 : 1;
        if (run > best) {
            best = run;
            hog = s->uids[i];
        }
    }
    for (i = 0; i < s->n_clients; i++)
        if (s->clients[i].uid == hog &&
            (victim == s->n_clients || s->clients[i].since_ms < s->clients[victim].since_ms))
            victim = i;
    if (victim == s->n_clients)
        return 0;
    loglimit(&s->log_evicted,
             "%zu connections, every one busy: closed the oldest of uid %u, which holds %zu of "
             "them",
             s->n_clients, (unsigned)hog, best - (newcomer == hog));
    client_close(s, victim);
    return 1;
}

/* pause_accept - stop polling the listening socket; retry_ms 0 waits for a client to go */
static void pause_accept(struct server *s, const char *why, long long retry_ms)
{
    long long now = clock_mono_ms();

    s->accept_paused = 1;
    s->accept_resume_ms = retry_ms > 0 ? now + retry_ms : 0;
    if (s->accept_warned_ms == 0 || now - s->accept_warned_ms >= ACCEPT_WARN_MS) {
        s->accept_warned_ms = now;
        log_warn("not accepting connections for now: %s (%zu clients, every one busy); new "
                 "callers wait in the listen queue",
                 why, s->n_clients);
    }
}

static int client_pump(struct server *s, struct client *cl);

/*
 * accept_clients - take every pending connection
 *
 * With the client table full, or no descriptor left (EMFILE), the client
 * idle longest makes room; when every client is busy, the oldest
 * connection of the uid holding the most does (evict_hog), so that one
 * peer cannot keep the others out. Only when nothing can make room does
 * accepting pause (the listening socket is not polled) until a client
 * goes, so that the loop does not spin. At most ACCEPT_BATCH per turn:
 * callers that come and go fast must not keep the loop here while their
 * hang-ups pile up. FD_RESERVE leaves the descriptor for a newcomer
 * accepted while the table is full.
 */
static void accept_clients(struct server *s)
{
    int batch;

    for (batch = 0; batch < ACCEPT_BATCH; batch++) {
        struct ucred cred;
        socklen_t clen = sizeof(cred);
        struct client *cl;
        int full;
        int fd;

        full = s->n_clients >= s->max_clients && !evict_idle(s);
        if (full && s->n_clients == 0) {
            pause_accept(s, "the client table is full", 0);
            return;
        }
        fd = accept4(s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            int e = errno;

            if (e == EAGAIN || e == EINTR || e == ECONNABORTED)
                return;
            if ((e == EMFILE || e == ENFILE) && (evict_idle(s) || evict_hog(s, (uid_t)-1)))
                continue;
            pause_accept(s, strerror(e), ACCEPT_RETRY_MS);
            return;
        }
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) < 0) {
            close(fd);
            continue;
        }
        if (full && !evict_hog(s, cred.uid)) {
            close(fd);
            pause_accept(s, "the client table is full", 0);
            return;
        }
        if (s->n_clients == s->cap_clients) {
            size_t ncap = s->cap_clients ? s->cap_clients * 2 : 64;
            struct client *grown = realloc(s->clients, ncap * sizeof(*grown));

            if (grown == NULL) {
                close(fd);
                pause_accept(s, "out of memory", ACCEPT_RETRY_MS);
                return;
            }
            s->clients = grown;
            s->cap_clients = ncap;
        }
        cl = &s->clients[s->n_clients++];
        memset(cl, 0, sizeof(*cl));
        cl->fd = fd;
        cl->uid = cred.uid;
        cl->gid = cred.gid;
        cl->since_ms = clock_mono_ms();
        cl->deadline_ms = cl->since_ms + CLIENT_IDLE_MS;
        cl->kind = STATUS_REPLY_OTHER;
        cl->replies = &s->replies;
        if (!peer_allowed(s, cred.uid, cred.gid)) {
            /* Answer its first request with the reason, then hang up. */
            loglimit(&s->log_refused,
                     "refused a connection from uid %u gid %u: not in allow_users or "
                     "allow_groups of %s",
                     (unsigned)cred.uid, (unsigned)cred.gid, s->cfg->path);
            cl->denied = 1;
            /* It gets one reply: no reason to keep its slot for long. */
            cl->deadline_ms = cl->since_ms + CLIENT_WRITE_MS;
        }
        /* The request usually comes with the connection: answer it now, not
         * one more turn of the loop later. */
        if (client_pump(s, cl) < 0)
            client_close(s, s->n_clients - 1);
    }
}

/*
 * client_read - read, and handle requests one at a time; -1 to close
 *
 * A client is read even while one of its requests is being answered, so
 * that a hang-up is noticed (libcurl's poll reports no POLLHUP on its own:
 * an unread hang-up would wake the loop for ever). What it sends ahead is
 * kept for later, up to the input buffer; more than that is abuse.
 */
static int client_read(struct server *s, struct client *cl)
{
    for (;;) {
        ssize_t n;

        if (!client_busy(cl) && cl->in_len > 0) {
            const char *payload;
            size_t plen;
            size_t used;
            netstring_status ns =
                netstring_decode(cl->in, cl->in_len, SOCKETMAP_MAX_REQUEST, &payload, &plen, &used);

            if (ns == NETSTRING_ERROR) {
                loglimit(&s->log_malformed,
                         "uid %u sent a malformed or oversized netstring; closing the connection",
                         (unsigned)cl->uid);
                return -1;
            }
            if (ns == NETSTRING_OK) {
                char req[SOCKETMAP_MAX_REQUEST + 1];

                memcpy(req, payload, plen);
                req[plen] = '\0';
                memmove(cl->in, cl->in + used, cl->in_len - used);
                cl->in_len -= used;
                handle_request(s, cl, req, plen);
                continue;
            }
        }
        if (cl->in_len == sizeof(cl->in)) {
            loglimit(&s->log_malformed,
                     "uid %u sent more than %zu bytes ahead of our replies; closing the "
                     "connection",
                     (unsigned)cl->uid, sizeof(cl->in));
            return -1;
        }
        n = recv(cl->fd, cl->in + cl->in_len, sizeof(cl->in) - cl->in_len, 0);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return 0;
        if (n <= 0)
            return -1;
        cl->in_len += (size_t)n;
        if (!client_busy(cl))
            cl->deadline_ms = clock_mono_ms() + CLIENT_IDLE_MS;
    }
}

/* client_write - flush the pending reply; -1 to close */
static int client_write(struct client *cl)
{
    int sent = cl->out != NULL;

    while (cl->out != NULL && cl->out_off < cl->out_len) {
        ssize_t n = send(cl->fd, cl->out + cl->out_off, cl->out_len - cl->out_off, MSG_NOSIGNAL);

        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return 0;
        if (n < 0)
            return -1;
        cl->out_off += (size_t)n;
    }
    if (cl->out != NULL) {
        explicit_bzero(cl->out, cl->out_len);
        free(cl->out);
        cl->out = NULL;
        cl->out_len = cl->out_off = 0;
        if (cl->close_after)
            return -1;
    }
    if (sent && cl->waiting == NULL)
        cl->deadline_ms = clock_mono_ms() + CLIENT_IDLE_MS;
    return 0;
}

/*
 * client_pump - read, answer and write while the peer keeps up; -1 to close
 *
 * A reply written at once may leave requests read ahead: nothing would wake
 * the loop for them (their bytes are already read), so they are answered
 * here, until a reply has to wait (for a refresh, or for the peer to read).
 */
static int client_pump(struct server *s, struct client *cl)
{
    int turns;

    for (turns = 0; turns < 64; turns++) {
        if (client_read(s, cl) < 0)
            return -1;
        if (cl->out == NULL)
            return 0;
        if (client_write(cl) < 0)
            return -1;
        if (client_busy(cl) || cl->in_len == 0)
            return 0;
    }
    return 0;
}

/* reload - SIGHUP: new config, keeping tokens; the old one stays on error */
static void reload(struct server *s, const char *config_file)
{
    char err[1024];
    struct config *cfg = config_load(config_file, err, sizeof(err));
    size_t i;

    if (cfg == NULL) {
        log_error("reload failed, keeping the running configuration: %s", err);
        return;
    }
    if (strcmp(cfg->socket, s->cfg->socket) != 0)
        log_warn("socket changed in %s; restart the daemon to move it", config_file);
    /* Clients waiting on accounts point into the old cache: answer them after. */
    for (i = 0; i < s->n_clients; i++)
        if (s->clients[i].waiting != NULL) {
            client_reply(&s->clients[i], SOCKETMAP_TEMP, "configuration reloaded; retry");
            s->clients[i].waiting = NULL;
        }
    cache_reload(s->cache, cfg);
    config_free(s->cfg);
    s->cfg = cfg;
    log_info("reloaded %s: %zu accounts", config_file, cfg->n_accounts);
}

/* build_waitfds - the descriptors curl_multi_poll watches for us */
static struct curl_waitfd *build_waitfds(struct server *s, unsigned *n)
{
    size_t need = s->n_clients + 2;
    size_t i;

    if (need > s->cap_wfds) {
        struct curl_waitfd *grown = realloc(s->wfds, need * 2 * sizeof(*grown));

        if (grown == NULL)
            return NULL;
        s->wfds = grown;
        s->cap_wfds = need * 2;
    }
    s->wfds[0] = (struct curl_waitfd){.fd = sig_pipe[0], .events = CURL_WAIT_POLLIN};
    s->wfds[1] =
        (struct curl_waitfd){.fd = s->listen_fd, .events = s->accept_paused ? 0 : CURL_WAIT_POLLIN};
    for (i = 0; i < s->n_clients; i++) {
        struct client *cl = &s->clients[i];
        short ev = CURL_WAIT_POLLIN;

        if (cl->out != NULL)
            ev |= CURL_WAIT_POLLOUT;
        s->wfds[i + 2] = (struct curl_waitfd){.fd = cl->fd, .events = ev};
    }
    *n = (unsigned)need;
    return s->wfds;
}

/* poll_timeout - milliseconds until the next timer, client deadline or curl timeout */
static int poll_timeout(struct server *s)
{
    long long now = clock_mono_ms();
    long long next = cache_next_timer_ms(s->cache);
    long curl_ms = -1;
    const struct loglimit *limits[] = {&s->log_refused, &s->log_malformed, &s->log_unknown,
                                       &s->log_evicted, &s->log_reload};
    long long t;
    size_t i;

    for (i = 0; i < s->n_clients; i++)
        if (next == 0 || s->clients[i].deadline_ms < next)
            next = s->clients[i].deadline_ms;
    if (s->accept_paused && s->accept_resume_ms != 0 && (next == 0 || s->accept_resume_ms < next))
        next = s->accept_resume_ms;
    t = next == 0 ? 3600000 : next - now;
    if (t < 0)
        t = 0;
    for (i = 0; i < sizeof(limits) / sizeof(limits[0]); i++) {
        long long due = loglimit_due_ms(limits[i]);

        if (due >= 0 && due < t)
            t = due;
    }
    curl_multi_timeout(s->multi, &curl_ms);
    if (curl_ms >= 0 && curl_ms < t)
        t = curl_ms;
    if (t > 3600000)
        t = 3600000;
    return (int)t;
}

/* serve_loop - until SIGTERM */
static int serve_loop(struct server *s, const char *config_file)
{
    int running;

    for (;;) {
        unsigned nfds = 0;
        struct curl_waitfd *wfds = build_waitfds(s, &nfds);
        long long now;
        size_t i;
        CURLMsg *msg;
        int left;

        if (wfds == NULL) {
            log_error("out of memory");
            return 1;
        }
        if (curl_multi_poll(s->multi, wfds, nfds, poll_timeout(s), NULL) != CURLM_OK) {
            log_error("curl_multi_poll failed");
            return 1;
        }
        if (wfds[0].revents & CURL_WAIT_POLLIN) {
            unsigned char sig;
            int stop = 0;
            int hup = 0;

            while (read(sig_pipe[0], &sig, 1) == 1) {
                if (sig == SIGHUP)
                    hup = 1;
                else
                    stop = 1;
            }
            if (stop) {
                log_info("stopping on signal");
                return 0;
            }
            if (hup)
                reload(s, config_file);
        }
        curl_multi_perform(s->multi, &running);
        msg = curl_multi_info_read(s->multi, &left);
        while (msg != NULL) {
            if (msg->msg == CURLMSG_DONE)
                cache_finish(s->cache, msg->easy_handle, msg->data.result);
            msg = curl_multi_info_read(s->multi, &left);
        }
        cache_run_timers(s->cache);
        loglimit_flush(&s->log_refused);
        loglimit_flush(&s->log_malformed);
        loglimit_flush(&s->log_unknown);
        loglimit_flush(&s->log_evicted);
        loglimit_flush(&s->log_reload);
        /* Client events: walk backwards so closing (swap with last) is safe.
         * wfds[i + 2] matches clients[i] as they were when polled. */
        for (i = nfds - 2; i-- > 0;) {
            struct client *cl;
            short rev;

            if (i >= s->n_clients)
                continue;
            cl = &s->clients[i];
            rev = wfds[i + 2].revents;
            if (wfds[i + 2].fd != cl->fd)
                continue;
            /* A reply just finished may leave a request read ahead to handle. */
            if (((rev & CURL_WAIT_POLLOUT) && client_write(cl) < 0) ||
                (((rev & CURL_WAIT_POLLIN) || (!client_busy(cl) && cl->in_len > 0)) &&
                 client_pump(s, cl) < 0)) {
                client_close(s, i);
                continue;
            }
        }
        now = clock_mono_ms();
        if (s->accept_paused && s->accept_resume_ms != 0 && s->accept_resume_ms <= now)
            s->accept_paused = 0;
        if ((wfds[1].revents & CURL_WAIT_POLLIN) && !s->accept_paused)
            accept_clients(s);
        /* Waiters whose refresh ended; replies written at once when possible. */
        for (i = s->n_clients; i-- > 0;) {
            struct client *cl = &s->clients[i];

            if (cl->waiting != NULL && !answer(s, cl)) {
                if (cl->deadline_ms > now)
                    continue;
                client_reply(cl, SOCKETMAP_TEMP, "timed out waiting for a token refresh");
                cl->waiting = NULL;
            } else if (cl->waiting == NULL && cl->deadline_ms <= now) {
                /* Idle too long, or a reply the peer has not read for as long. */
                client_close(s, i);
                continue;
            }
            if (cl->out != NULL && (client_write(cl) < 0 || client_pump(s, cl) < 0))
                client_close(s, i);
        }
    }
}

/*
 * raise_fd_limit - lift the soft RLIMIT_NOFILE towards the hard limit, as far
 * as MAX_CLIENTS needs; returns how many clients fit in what we have
 */
static size_t raise_fd_limit(void)
{
    struct rlimit rl;
    rlim_t want = MAX_CLIENTS + FD_RESERVE + 16;
    size_t fit;

    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return MAX_CLIENTS;
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
        struct rlimit raised = rl;

        raised.rlim_cur = (rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want) ? want : rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &raised) == 0)
            rl = raised;
    }
    if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= (rlim_t)MAX_CLIENTS + FD_RESERVE)
        return MAX_CLIENTS;
    fit = rl.rlim_cur > 2 * FD_RESERVE ? (size_t)rl.rlim_cur - FD_RESERVE : (size_t)rl.rlim_cur / 2;
    if (fit == 0)
        fit = 1;
    log_warn("RLIMIT_NOFILE allows only %llu open files: serving at most %zu clients at once "
             "(raise the hard limit, e.g. LimitNOFILE=%d in the systemd unit)",
             (unsigned long long)rl.rlim_cur, fit, MAX_CLIENTS + FD_RESERVE + 16);
    return fit;
}

/* server_run - bind, drop privileges, serve until SIGTERM */
int server_run(const char *config_file, int verbose, int use_syslog)
{
    struct server s;
    char err[1024];
    int rc = 1;

    memset(&s, 0, sizeof(s));
    s.listen_fd = -1;
    s.replies.started_at = clock_wall_s();
    log_open("oauth2-token-helper", use_syslog, verbose);
    s.cfg = config_load(config_file, err, sizeof(err));
    if (s.cfg == NULL) {
        log_error("%s", err);
        return 1;
    }
    s.max_clients = raise_fd_limit();
    s.uids = malloc((s.max_clients + 1) * sizeof(*s.uids));
    s.log_refused.level = LOGLIMIT_WARN;
    s.log_malformed.level = LOGLIMIT_WARN;
    s.log_unknown.level = LOGLIMIT_INFO;
    s.log_evicted.level = LOGLIMIT_WARN;
    s.log_reload.level = LOGLIMIT_INFO;
    if (setup_signals() < 0)
        goto out;
    if (state_prepare_dir(s.cfg, s.cfg->run_uid, s.cfg->run_gid, err, sizeof(err)) < 0) {
        log_error("%s", err);
        goto out;
    }
    s.listen_fd = activated_socket(s.cfg);
    if (s.listen_fd >= 0)
        s.activated = 1;
    else
        s.listen_fd = listen_socket(s.cfg, &s.sock_id);
    if (s.listen_fd < 0 || drop_privileges(s.cfg) < 0)
        goto out;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        log_error("cannot initialise libcurl");
        goto out;
    }
    s.multi = curl_multi_init();
    if (s.multi == NULL)
        goto out;
    curl_multi_setopt(s.multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, 16L);
    s.cache = cache_new(s.cfg, s.multi);
    if (s.cache == NULL)
        goto out;
    log_info("listening on %s for %zu account%s", s.cfg->socket, s.cfg->n_accounts,
             s.cfg->n_accounts == 1 ? "" : "s");
    rc = serve_loop(&s, config_file);
out:
    while (s.n_clients > 0)
        client_close(&s, s.n_clients - 1);
    free(s.clients);
    free(s.wfds);
    free(s.uids);
    cache_free(s.cache);
    if (s.multi != NULL)
        curl_multi_cleanup(s.multi);
    if (s.listen_fd >= 0) {
        struct stat sb;

        close(s.listen_fd);
        /* Only the socket we made: its name may have been given to something else since. */
        if (s.cfg != NULL && !s.activated && lstat(s.cfg->socket, &sb) == 0 &&
            sb.st_dev == s.sock_id.st_dev && sb.st_ino == s.sock_id.st_ino)
            unlink(s.cfg->socket);
    }
    config_free(s.cfg);
    curl_global_cleanup();
    return rc;
}
