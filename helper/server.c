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
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "cache.h"
#include "config.h"
#include "log.h"
#include "netstring.h"
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
#define CLIENT_WAIT_MS 30000
#define REPLY_MAX (SASLWIRE_MAX_TOKEN + 1024)

#include "saslwire.h"

struct client {
    int fd;
    uid_t uid;
    gid_t gid;
    char in[SOCKETMAP_MAX_REQUEST + 16];
    size_t in_len;
    char *out; /* pending reply, wiped when sent */
    size_t out_len;
    size_t out_off;
    struct acct *waiting; /* waiting for this account's refresh */
    char kind[16];
    long long deadline_ms; /* idle or wait timeout */
    int close_after;       /* close when the reply is sent */
    int denied;            /* peer not allowed: refuse its first request */
};

struct server {
    struct config *cfg;
    struct cache *cache;
    CURLM *multi;
    int listen_fd;
    int activated; /* listen_fd came from systemd: it owns the socket file */
    struct client *clients;
    size_t n_clients;
    size_t cap_clients;
    struct curl_waitfd *wfds;
    size_t cap_wfds;
    size_t max_clients;         /* MAX_CLIENTS, or fewer under a low RLIMIT_NOFILE */
    int accept_paused;          /* listening socket not polled: table full or EMFILE */
    long long accept_resume_ms; /* when to try accept() again; 0: when a client goes */
    long long accept_warned_ms; /* last warning about it */
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

/* listen_socket - create the socket with its owner and mode */
static int listen_socket(const struct config *cfg)
{
    struct sockaddr_un sun;
    struct stat sb;
    int fd;
    mode_t old;

    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", cfg->socket);
    if (lstat(cfg->socket, &sb) == 0) {
        if (!S_ISSOCK(sb.st_mode)) {
            log_error("%s exists and is not a socket; remove it or change socket", cfg->socket);
            return -1;
        }
        unlink(cfg->socket);
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        log_error("socket: %s", strerror(errno));
        return -1;
    }
    old = umask(0177);
    if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
        umask(old);
        log_error("cannot bind %s: %s", cfg->socket, strerror(errno));
        close(fd);
        return -1;
    }
    umask(old);
    if ((cfg->run_uid != (uid_t)-1 || cfg->sock_gid != (gid_t)-1) &&
        chown(cfg->socket, cfg->run_uid, cfg->sock_gid) < 0) {
        log_error("cannot chown %s: %s", cfg->socket, strerror(errno));
        close(fd);
        return -1;
    }
    if (chmod(cfg->socket, cfg->sock_mode) < 0 || listen(fd, 512) < 0) {
        log_error("cannot set up %s: %s", cfg->socket, strerror(errno));
        close(fd);
        return -1;
    }
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
    if (fcntl(3, F_SETFL, fcntl(3, F_GETFL) | O_NONBLOCK) < 0 ||
        fcntl(3, F_SETFD, FD_CLOEXEC) < 0)
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

/* prepare_state_dir - create state_dir 0700 for the daemon's user */
static int prepare_state_dir(const struct config *cfg)
{
    struct stat sb;
    char err[600];

    if (mkdir(cfg->state_dir, 0700) < 0 && errno != EEXIST) {
        log_error("cannot create state_dir %s: %s", cfg->state_dir, strerror(errno));
        return -1;
    }
    if (stat(cfg->state_dir, &sb) < 0 || !S_ISDIR(sb.st_mode)) {
        log_error("state_dir %s is not a directory", cfg->state_dir);
        return -1;
    }
    /* Without user =, files made here would go to the directory's owner. */
    if (config_state_dir_owner(cfg, cfg->run_uid != (uid_t)-1 ? cfg->run_uid : geteuid(), &sb, err,
                               sizeof(err)) < 0) {
        log_error("%s", err);
        return -1;
    }
    if (cfg->run_uid != (uid_t)-1 && sb.st_uid != cfg->run_uid &&
        chown(cfg->state_dir, cfg->run_uid, cfg->run_gid) < 0) {
        log_error("cannot chown state_dir %s: %s", cfg->state_dir, strerror(errno));
        return -1;
    }
    if ((sb.st_mode & 0077) != 0) {
        log_error("state_dir %s is open to group or others (mode %04o); fix: chmod 700 %s",
                  cfg->state_dir, (unsigned)(sb.st_mode & 07777), cfg->state_dir);
        return -1;
    }
    return 0;
}

/* drop_privileges - become the configured user, for good */
static int drop_privileges(const struct config *cfg)
{
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
    size_t dlen = strlen(data);
    size_t wlen = strlen(socketmap_status_name(status));
    size_t cap = dlen + wlen + 32;
    char *body = malloc(dlen + wlen + 2);
    char *out = malloc(cap);
    size_t out_len;

    if (body == NULL || out == NULL) {
        free(body);
        free(out);
        cl->close_after = 1;
        cl->deadline_ms = 0;
        return;
    }
    memcpy(body, socketmap_status_name(status), wlen);
    body[wlen] = ' ';
    memcpy(body + wlen + 1, data, dlen + 1);
    if (netstring_encode(out, cap, body, wlen + 1 + dlen, &out_len) < 0)
        out_len = 0;
    explicit_bzero(body, dlen + wlen + 2);
    free(body);
    if (cl->out != NULL) {
        explicit_bzero(cl->out, cl->out_len);
        free(cl->out);
    }
    cl->out = out;
    cl->out_len = out_len;
    cl->out_off = 0;
    cl->deadline_ms = cache_now_ms() + CLIENT_IDLE_MS;
}

/* answer - try to answer a waiting or new request; 0 when it must keep waiting */
static int answer(struct server *s, struct client *cl)
{
    char *data = malloc(REPLY_MAX);
    socketmap_status status;

    if (data == NULL) {
        client_reply(cl, SOCKETMAP_TEMP, "out of memory");
        cl->waiting = NULL;
        return 1;
    }
    if (!cache_answer(s->cache, cl->waiting, cl->kind, &status, data, REPLY_MAX)) {
        free(data);
        return 0;
    }
    client_reply(cl, status, data);
    explicit_bzero(data, REPLY_MAX);
    free(data);
    cl->waiting = NULL;
    return 1;
}

/* handle_request - one decoded request */
static void handle_request(struct server *s, struct client *cl, const char *payload, size_t len)
{
    char name[16];
    char key[SOCKETMAP_MAX_REQUEST];
    struct acct *a;

    if (cl->denied) {
        char msg[128];

        snprintf(msg, sizeof(msg), "access denied for uid %u: not in allow_users or allow_groups",
                 (unsigned)cl->uid);
        client_reply(cl, SOCKETMAP_PERM, msg);
        cl->close_after = 1;
        return;
    }
    if (socketmap_parse_request(payload, len, name, sizeof(name), key, sizeof(key)) < 0) {
        client_reply(cl, SOCKETMAP_PERM, "malformed request: expected \"NAME KEY\"");
        cl->close_after = 1;
        return;
    }
    if (strcmp(name, "token") != 0 && strcmp(name, "account") != 0 &&
        strcmp(name, "reload") != 0 && strcmp(name, "status") != 0 &&
        strcmp(name, "forget") != 0) {
        client_reply(cl, SOCKETMAP_PERM,
                     "unknown request: use token, account, status, reload or forget");
        return;
    }
    a = cache_find(s->cache, key);
    if (a == NULL) {
        char clean[80];

        log_clean(clean, sizeof(clean), key, strlen(key));
        log_info("account=%s: unknown account requested by uid %u", clean, (unsigned)cl->uid);
        client_reply(cl, SOCKETMAP_NOTFOUND, "");
        return;
    }
    if (strcmp(name, "reload") == 0) {
        cache_state_changed(s->cache, a);
        log_info("account=%s: state reloaded", a->conf->name);
        client_reply(cl, SOCKETMAP_OK, "reloaded");
        return;
    }
    if (strcmp(name, "status") == 0) {
        json_object *st = status_json(a);

        if (st == NULL) {
            client_reply(cl, SOCKETMAP_TEMP, "out of memory");
            return;
        }
        client_reply(cl, SOCKETMAP_OK, json_object_to_json_string_ext(st, JSON_C_TO_STRING_PLAIN));
        json_object_put(st);
        return;
    }
    if (strcmp(name, "forget") == 0) {
        if (cl->uid != 0 && cl->uid != geteuid()) {
            client_reply(cl, SOCKETMAP_PERM, "only root or the daemon's user may revoke");
            return;
        }
        cache_forget(s->cache, a);
        log_info("account=%s: tokens revoked by uid %u", a->conf->name, (unsigned)cl->uid);
        client_reply(cl, SOCKETMAP_OK, "forgotten");
        return;
    }
    snprintf(cl->kind, sizeof(cl->kind), "%s", name);
    cl->waiting = a;
    cl->deadline_ms = cache_now_ms() + CLIENT_WAIT_MS;
    answer(s, cl);
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

/* evict_idle - close the client idle longest (no request being answered); 0 when none is */
static int evict_idle(struct server *s)
{
    size_t victim = s->n_clients;
    size_t i;

    for (i = 0; i < s->n_clients; i++) {
        const struct client *cl = &s->clients[i];

        if (client_busy(cl))
            continue;
        if (victim == s->n_clients || cl->deadline_ms < s->clients[victim].deadline_ms)
            victim = i;
    }
    if (victim == s->n_clients)
        return 0;
    client_close(s, victim);
    return 1;
}

/* pause_accept - stop polling the listening socket; retry_ms 0 waits for a client to go */
static void pause_accept(struct server *s, const char *why, long long retry_ms)
{
    long long now = cache_now_ms();

    s->accept_paused = 1;
    s->accept_resume_ms = retry_ms > 0 ? now + retry_ms : 0;
    if (s->accept_warned_ms == 0 || now - s->accept_warned_ms >= ACCEPT_WARN_MS) {
        s->accept_warned_ms = now;
        log_warn("not accepting connections for now: %s (%zu clients, every one busy); new "
                 "callers wait in the listen queue",
                 why, s->n_clients);
    }
}

static int client_read(struct server *s, struct client *cl);
static int client_write(struct client *cl);

/*
 * accept_clients - take every pending connection
 *
 * With the client table full, or no descriptor left (EMFILE), the client
 * idle longest makes room; when every client is busy, accepting pauses
 * (the listening socket is not polled) until one goes, so that neither
 * case spins the loop. At most ACCEPT_BATCH per turn: callers that come
 * and go fast must not keep the loop here while their hang-ups pile up.
 */
static void accept_clients(struct server *s)
{
    int batch;

    for (batch = 0; batch < ACCEPT_BATCH; batch++) {
        struct ucred cred;
        socklen_t clen = sizeof(cred);
        struct client *cl;
        int fd;

        if (s->n_clients >= s->max_clients && !evict_idle(s)) {
            pause_accept(s, "the client table is full", 0);
            return;
        }
        fd = accept4(s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            int e = errno;

            if (e == EAGAIN || e == EINTR || e == ECONNABORTED)
                return;
            if ((e == EMFILE || e == ENFILE) && evict_idle(s))
                continue;
            pause_accept(s, strerror(e), ACCEPT_RETRY_MS);
            return;
        }
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) < 0) {
            close(fd);
            continue;
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
        cl->deadline_ms = cache_now_ms() + CLIENT_IDLE_MS;
        if (!peer_allowed(s, cred.uid, cred.gid)) {
            /* Answer its first request with the reason, then hang up. */
            log_warn("refused a connection from uid %u gid %u: not in allow_users or "
                     "allow_groups",
                     (unsigned)cred.uid, (unsigned)cred.gid);
            cl->denied = 1;
        }
        /* The request usually comes with the connection: answer it now, not
         * one more turn of the loop later. */
        if (client_read(s, cl) < 0 || (cl->out != NULL && client_write(cl) < 0))
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
            netstring_status ns = netstring_decode(cl->in, cl->in_len, SOCKETMAP_MAX_REQUEST,
                                                   &payload, &plen, &used);

            if (ns == NETSTRING_ERROR) {
                log_warn("uid %u sent a malformed or oversized request; closing",
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
        if (cl->in_len == sizeof(cl->in))
            return -1; /* over the request limit, or too much sent ahead of our replies */
        n = recv(cl->fd, cl->in + cl->in_len, sizeof(cl->in) - cl->in_len, 0);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return 0;
        if (n <= 0)
            return -1;
        cl->in_len += (size_t)n;
        if (!client_busy(cl))
            cl->deadline_ms = cache_now_ms() + CLIENT_IDLE_MS;
    }
}

/* client_write - flush the pending reply; -1 to close */
static int client_write(struct client *cl)
{
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
    long long now = cache_now_ms();
    long long next = cache_next_timer_ms(s->cache);
    long curl_ms = -1;
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
        while ((msg = curl_multi_info_read(s->multi, &left)) != NULL)
            if (msg->msg == CURLMSG_DONE)
                cache_finish(s->cache, msg->easy_handle, msg->data.result);
        cache_run_timers(s->cache);
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
                 client_read(s, cl) < 0)) {
                client_close(s, i);
                continue;
            }
        }
        now = cache_now_ms();
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
            if (cl->out != NULL && (client_write(cl) < 0 || client_read(s, cl) < 0))
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
    log_open("oauth2-token-helper", use_syslog, verbose);
    s.cfg = config_load(config_file, err, sizeof(err));
    if (s.cfg == NULL) {
        log_error("%s", err);
        return 1;
    }
    s.max_clients = raise_fd_limit();
    if (setup_signals() < 0 || prepare_state_dir(s.cfg) < 0)
        goto out;
    s.listen_fd = activated_socket(s.cfg);
    if (s.listen_fd >= 0)
        s.activated = 1;
    else
        s.listen_fd = listen_socket(s.cfg);
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
    cache_free(s.cache);
    if (s.multi != NULL)
        curl_multi_cleanup(s.multi);
    if (s.listen_fd >= 0) {
        close(s.listen_fd);
        if (s.cfg != NULL && !s.activated)
            unlink(s.cfg->socket);
    }
    config_free(s.cfg);
    curl_global_cleanup();
    return rc;
}
