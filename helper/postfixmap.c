/*
 * postfixmap.c - Postfix's settings and lookup tables, as "migrate" reads them
 *
 * SYNOPSIS
 *     See postfixmap.h.
 *
 * DESCRIPTION
 *     Postfix's own programs answer what Postfix would do: postconf for
 *     the settings (with $name expanded), postmap -s for a table whose
 *     source file is gone. They run from an argument vector with
 *     posix_spawn, so no shell sees a path or a key.
 *
 *     The table parser follows postmap(1)'s input format; it keeps
 *     offsets, not copies, so a rewrite changes only the values it means
 *     to and a password is never copied out of its buffer.
 *
 * DIAGNOSTICS
 *     pfmap_run: -1 and a message naming the command.
 *
 * SECURITY
 *     Buffers that held table text are wiped before they are freed.
 */
#include "autoconfig.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "postfixmap.h"

extern char **environ;

/* Bytes of a command's stderr kept for the message. */
#define PFMAP_MAX_STDERR 2048

/* pfmap_wipe_free - wipe len bytes of buf (and its NUL) and free it; NULL is fine */
void pfmap_wipe_free(char *buf, size_t len)
{
    if (buf == NULL)
        return;
    explicit_bzero(buf, len + 1);
    free(buf);
}

/* pfmap_tool - the path of a Postfix command (/usr/sbin/NAME, ...), or NAME for a PATH search */
const char *pfmap_tool(const char *name, char *buf, size_t size)
{
    static const char *const dirs[] = {"/usr/sbin", "/usr/local/sbin", "/sbin"};
    size_t i;

    for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
        int n = snprintf(buf, size, "%s/%s", dirs[i], name);

        if (n > 0 && (size_t)n < size && access(buf, X_OK) == 0)
            return buf;
    }
    return name;
}

/* grow - make room for one more read in *buf (secret-safe: the old copy is wiped) */
static int grow(char **buf, size_t *cap, size_t len, size_t max)
{
    size_t ncap;
    char *n;

    if (len + 4096 + 1 <= *cap)
        return 0;
    ncap = *cap == 0 ? 8192 : *cap * 2;
    if (ncap > max + 4096 + 1)
        ncap = max + 4096 + 1;
    if (ncap <= *cap)
        return -1;
    n = malloc(ncap);
    if (n == NULL)
        return -1;
    if (*buf != NULL) {
        memcpy(n, *buf, len);
        explicit_bzero(*buf, *cap);
        free(*buf);
    }
    *buf = n;
    *cap = ncap;
    return 0;
}

/*
 * pfmap_run - run tool with args (args[0] is the tool's name; NULL-terminated),
 * stdin /dev/null; *out the malloc'd NUL-terminated stdout (release with
 * pfmap_wipe_free(*out, *outlen)); the exit status, or -1 with err
 */
int pfmap_run(const char *tool, char *const args[], char **out, size_t *outlen, size_t max,
              char *err, size_t errsize)
{
    int outp[2] = {-1, -1};
    int errp[2] = {-1, -1};
    posix_spawn_file_actions_t fa;
    int fa_ok = 0;
    pid_t pid = -1;
    char *buf = NULL;
    size_t cap = 0;
    size_t len = 0;
    char ebuf[PFMAP_MAX_STDERR + 1];
    size_t elen = 0;
    int status;
    int rc;
    int ret = -1;
    int too_long = 0;

    *out = NULL;
    *outlen = 0;
    if (pipe2(outp, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0) {
        snprintf(err, errsize, "cannot run %s: pipe: %s", tool, strerror(errno));
        goto out;
    }
    if (posix_spawn_file_actions_init(&fa) != 0) {
        snprintf(err, errsize, "cannot run %s: out of memory", tool);
        goto out;
    }
    fa_ok = 1;
    if (posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0) != 0 ||
        posix_spawn_file_actions_adddup2(&fa, outp[1], 1) != 0 ||
        posix_spawn_file_actions_adddup2(&fa, errp[1], 2) != 0) {
        snprintf(err, errsize, "cannot run %s: out of memory", tool);
        goto out;
    }
    rc = tool[0] == '/' ? posix_spawn(&pid, tool, &fa, NULL, args, environ)
                        : posix_spawnp(&pid, tool, &fa, NULL, args, environ);
    if (rc != 0) {
        snprintf(err, errsize, "cannot run %s: %s (is Postfix installed?)", tool, strerror(rc));
        pid = -1;
        goto out;
    }
    close(outp[1]);
    outp[1] = -1;
    close(errp[1]);
    errp[1] = -1;
    while (outp[0] >= 0 || errp[0] >= 0) {
        struct pollfd pfd[2];
        nfds_t nfd = 0;
        nfds_t i;

        if (outp[0] >= 0) {
            pfd[nfd].fd = outp[0];
            pfd[nfd].events = POLLIN;
            nfd++;
        }
        if (errp[0] >= 0) {
            pfd[nfd].fd = errp[0];
            pfd[nfd].events = POLLIN;
            nfd++;
        }
        if (poll(pfd, nfd, -1) < 0) {
            if (errno == EINTR)
                continue;
            snprintf(err, errsize, "cannot run %s: poll: %s", tool, strerror(errno));
            goto out;
        }
        for (i = 0; i < nfd; i++) {
            ssize_t r;

            if (pfd[i].revents == 0)
                continue;
            if (pfd[i].fd == outp[0]) {
                if (grow(&buf, &cap, len, max) < 0) {
                    too_long = 1;
                    close(outp[0]);
                    outp[0] = -1;
                    continue;
                }
                r = read(outp[0], buf + len, cap - len - 1);
                if (r > 0) {
                    len += (size_t)r;
                    if (len > max)
                        too_long = 1;
                } else if (r == 0 || errno != EINTR) {
                    close(outp[0]);
                    outp[0] = -1;
                }
            } else {
                char junk[512];

                r = read(errp[0], junk, sizeof(junk));
                if (r > 0) {
                    size_t take = (size_t)r;

                    if (take > PFMAP_MAX_STDERR - elen)
                        take = PFMAP_MAX_STDERR - elen;
                    memcpy(ebuf + elen, junk, take);
                    elen += take;
                } else if (r == 0 || errno != EINTR) {
                    close(errp[0]);
                    errp[0] = -1;
                }
            }
        }
    }
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            snprintf(err, errsize, "cannot run %s: waitpid: %s", tool, strerror(errno));
            pid = -1;
            goto out;
        }
    }
    pid = -1;
    ebuf[elen] = '\0';
    /* One line of stderr for the message, without the tool's own prefix noise. */
    {
        char *nl = strchr(ebuf, '\n');

        if (nl != NULL)
            *nl = '\0';
    }
    if (too_long) {
        snprintf(err, errsize, "%s printed more than %zu bytes", tool, max);
        goto out;
    }
    if (!WIFEXITED(status)) {
        snprintf(err, errsize, "%s was killed by signal %d", tool,
                 WIFSIGNALED(status) ? WTERMSIG(status) : 0);
        goto out;
    }
    if (buf == NULL) {
        buf = malloc(1);
        if (buf == NULL) {
            snprintf(err, errsize, "out of memory");
            goto out;
        }
    }
    buf[len] = '\0';
    *out = buf;
    *outlen = len;
    buf = NULL;
    ret = WEXITSTATUS(status);
    if (ret != 0)
        snprintf(err, errsize, "%s exited with status %d%s%.300s", tool, ret, elen ? ": " : "",
                 ebuf);
    else
        snprintf(err, errsize, "%.300s", ebuf);
out:
    if (pid > 0) {
        kill(pid, SIGTERM);
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
            ;
    }
    if (fa_ok)
        posix_spawn_file_actions_destroy(&fa);
    if (outp[0] >= 0)
        close(outp[0]);
    if (outp[1] >= 0)
        close(outp[1]);
    if (errp[0] >= 0)
        close(errp[0]);
    if (errp[1] >= 0)
        close(errp[1]);
    if (buf != NULL) {
        explicit_bzero(buf, cap);
        free(buf);
    }
    return ret;
}

/* line_end - offset past the newline of the line starting at i (or len) */
static size_t line_end(const char *text, size_t len, size_t i)
{
    const char *nl = memchr(text + i, '\n', len - i);

    return nl == NULL ? len : (size_t)(nl - text) + 1;
}

/* blank_or_comment - a line postmap ignores: only white space, or '#' first after it */
static int blank_or_comment(const char *text, size_t from, size_t to)
{
    size_t i;

    for (i = from; i < to; i++) {
        if (text[i] == '#')
            return 1;
        if (!isspace((unsigned char)text[i]))
            return 0;
    }
    return 1;
}

/* pfmap_parse - the entries of a table source; 0, or -1 out of memory (*entries malloc'd) */
int pfmap_parse(const char *text, size_t len, struct pfmap_entry **entries, size_t *n)
{
    struct pfmap_entry *v = NULL;
    size_t cap = 0;
    size_t i = 0;
    int line = 0;

    *entries = NULL;
    *n = 0;
    while (i < len) {
        size_t end = line_end(text, len, i);
        size_t j;
        struct pfmap_entry *e;

        line++;
        if (blank_or_comment(text, i, end)) {
            i = end;
            continue;
        }
        if (isspace((unsigned char)text[i])) {
            /* A continuation line: part of the entry before, if any. */
            if (*n > 0) {
                e = &v[*n - 1];
                e->end = end;
                e->value_end = end > i && text[end - 1] == '\n' ? end - 1 : end;
                if (e->value == e->key + e->key_len) {
                    j = i;
                    while (j < e->value_end && isspace((unsigned char)text[j]))
                        j++;
                    e->value = j;
                }
            }
            i = end;
            continue;
        }
        if (*n == cap) {
            size_t ncap = cap ? cap * 2 : 32;
            struct pfmap_entry *nv = realloc(v, ncap * sizeof(*nv));

            if (nv == NULL) {
                free(v);
                *n = 0;
                return -1;
            }
            v = nv;
            cap = ncap;
        }
        e = &v[(*n)++];
        memset(e, 0, sizeof(*e));
        e->start = i;
        e->end = end;
        e->line = line;
        e->key = i;
        j = i;
        while (j < end && !isspace((unsigned char)text[j]))
            j++;
        e->key_len = j - i;
        e->value_end = end > i && text[end - 1] == '\n' ? end - 1 : end;
        while (j < e->value_end && isspace((unsigned char)text[j]))
            j++;
        e->value = j;
        i = end;
    }
    *entries = v;
    return 0;
}

/* pfmap_password_at - where the password of a value starts (after the first ':'), or value_end */
size_t pfmap_password_at(const char *text, const struct pfmap_entry *e)
{
    const char *c = memchr(text + e->value, ':', e->value_end - e->value);

    return c == NULL ? e->value_end : (size_t)(c - text) + 1;
}

/* masked_value - whether a password field is one to hide (not empty, not the plugin's account=) */
static int masked_value(const char *p, size_t n)
{
    size_t i;

    if (n == 0)
        return 0;
    if (n > 8 && memcmp(p, "account=", 8) == 0) {
        for (i = 8; i < n; i++)
            if (isspace((unsigned char)p[i]))
                return 1;
        return 0;
    }
    return 1;
}

/* pfmap_mask - text with every password shown as ********, malloc'd; NULL out of memory */
char *pfmap_mask(const char *text, size_t len, size_t *outlen)
{
    struct pfmap_entry *ent = NULL;
    size_t n = 0;
    size_t i;
    size_t from = 0;
    size_t o = 0;
    char *out;

    if (pfmap_parse(text, len, &ent, &n) < 0)
        return NULL;
    out = malloc(len + 8 * n + 1);
    if (out == NULL) {
        free(ent);
        return NULL;
    }
    for (i = 0; i < n; i++) {
        size_t pw = pfmap_password_at(text, &ent[i]);

        if (!masked_value(text + pw, ent[i].value_end - pw))
            continue;
        memcpy(out + o, text + from, pw - from);
        o += pw - from;
        memcpy(out + o, "********", 8);
        o += 8;
        from = ent[i].value_end;
    }
    memcpy(out + o, text + from, len - from);
    o += len - from;
    out[o] = '\0';
    *outlen = o;
    free(ent);
    return out;
}

/* find_ci - the first case-insensitive occurrence of what in [p, p + n), or NULL */
static const char *find_ci(const char *p, size_t n, const char *what)
{
    size_t wl = strlen(what);
    size_t i;

    for (i = 0; i + wl <= n; i++)
        if (strncasecmp(p + i, what, wl) == 0)
            return p + i;
    return NULL;
}

/* pfmap_mask_maincf - main.cf text with static: and inline: table values masked, malloc'd */
char *pfmap_mask_maincf(const char *text, size_t len, size_t *outlen)
{
    char *out = malloc(len + 1);
    size_t i = 0;
    size_t o = 0;

    if (out == NULL)
        return NULL;
    while (i < len) {
        size_t end = line_end(text, len, i);
        size_t body = end > i && text[end - 1] == '\n' ? end - 1 : end;
        const char *s = find_ci(text + i, body - i, "static:");
        const char *t = find_ci(text + i, body - i, "inline:");

        if (s == NULL || (t != NULL && t < s))
            s = t;
        if (s != NULL && (size_t)(s - text) + 7 < body) {
            size_t keep = (size_t)(s - text) + 7 - i;

            memcpy(out + o, text + i, keep);
            o += keep;
            /* Room: the masked text is no longer than the line it replaces, or 8 bytes. */
            if (body - i - keep >= 8) {
                memcpy(out + o, "********", 8);
                o += 8;
            } else {
                memset(out + o, '*', body - i - keep);
                o += body - i - keep;
            }
            memcpy(out + o, text + body, end - body);
            o += end - body;
        } else {
            memcpy(out + o, text + i, end - i);
            o += end - i;
        }
        i = end;
    }
    out[o] = '\0';
    *outlen = o;
    return out;
}
