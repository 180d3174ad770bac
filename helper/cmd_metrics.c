/*
 * cmd_metrics.c - oauth2-token-helper metrics: the accounts' state for Prometheus
 *
 * SYNOPSIS
 *     oauth2-token-helper [-c FILE] metrics [--output FILE]
 *
 * DESCRIPTION
 *     Prints the Prometheus text exposition format (version 0.0.4) from
 *     the very objects "status --json" shows (cmd_status_collect): per
 *     account the access token's expiry, the last successful refresh,
 *     refreshes failed in a row, whether a person is needed, when the
 *     refresh token was stored, when it lapses unused, and when the client
 *     secret or certificate expires; for the daemon whether it answers
 *     (oauth2_token_helper_up), when it started and the replies it sent by
 *     request and result (a counter, from the status reply).
 *
 *     Times are seconds since the epoch (gauges, *_timestamp_seconds). A
 *     series that is unknown is left out, never 0 or NaN: a time that does
 *     not apply or is not known, and what only the running daemon knows
 *     (failures in a row, whether it serves the account, its counters)
 *     while it does not answer. With the daemon down the accounts are read
 *     from their state files, as status does, and
 *     oauth2_token_helper_up is 0. A daemon that refuses us (the socket's
 *     mode, allow_users) is not "down": that is an error, and no page.
 *
 *     --output FILE writes the page atomically for node_exporter's
 *     textfile collector: a temporary file in FILE's directory (a name
 *     the collector ignores), fsync, mode 0644, rename, fsync of the
 *     directory; a reader sees the old page or the new one, never a part.
 *
 * DIAGNOSTICS
 *     Exit 0 with the page, also while the daemon is down (that is what
 *     oauth2_token_helper_up says); 78 when the config cannot be read or
 *     the daemon refuses us; 75 when FILE cannot be written for a reason
 *     that may pass (full disk). Nothing is written on a failure.
 *
 * SECURITY
 *     The status objects hold no token; label values are the account
 *     names, providers and grants of the config, escaped. The daemon
 *     opens no port for this: node_exporter or a person reads the page.
 */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "config.h"
#include "daemonclient.h"
#include "status.h"

#define PREFIX "oauth2_token_helper_"

/* The per-account series taken from a member of the status object. */
struct account_series {
    const char *name;   /* after PREFIX */
    const char *member; /* of the status object */
    int is_bool;        /* a JSON boolean, printed 0/1 */
    int daemon_only;    /* only the running daemon knows it: left out otherwise */
    const char *help;
};

static const struct account_series series[] = {
    {"access_token_expiry_timestamp_seconds", "token_expires_at", 0, 0,
     "When the access token held expires, in seconds since the epoch (absent: none held)."},
    {"last_refresh_success_timestamp_seconds", "refresh_token_last_used", 0, 0,
     "When a token was last obtained from the identity platform, in seconds since the epoch."},
    {"consecutive_refresh_failures", "failures", 0, 1,
     "Refreshes failed in a row (absent while the daemon does not answer)."},
    {"person_needed", "needs_person", 1, 0,
     "1 when tokens stop until someone acts (authorize, import, a new secret), else 0."},
    {"refresh_token_stored_timestamp_seconds", "refresh_token_stored_at", 0, 0,
     "When the refresh token was last written to the state file, in seconds since the epoch."},
    {"refresh_token_lapse_timestamp_seconds", "refresh_token_lapses_at", 0, 0,
     "When the refresh token lapses if it stays unused (90 days), in seconds since the epoch."},
    {"client_secret_expiry_timestamp_seconds", "client_secret_expires_at", 0, 0,
     "When the client secret expires (client_secret_expires), in seconds since the epoch."},
    {"certificate_expiry_timestamp_seconds", "certificate_expires_at", 0, 0,
     "When the client certificate expires (its notAfter), in seconds since the epoch."},
};

/* label_value - a label value escaped for the text format: \\, \" and \n */
static void label_value(FILE *fp, const char *s)
{
    for (; *s != '\0'; s++) {
        if (*s == '\\' || *s == '"')
            fprintf(fp, "\\%c", *s);
        else if (*s == '\n')
            fputs("\\n", fp);
        else
            fputc(*s, fp);
    }
}

/* family - the HELP and TYPE lines of a metric family */
static void family(FILE *fp, const char *name, const char *type, const char *help)
{
    fprintf(fp, "# HELP " PREFIX "%s %s\n# TYPE " PREFIX "%s %s\n", name, help, name, type);
}

/* member - a member of o, or NULL */
static json_object *member(json_object *o, const char *key)
{
    json_object *v;

    if (o == NULL || !json_object_object_get_ex(o, key, &v))
        return NULL;
    return v;
}

/* account_name - the "account" member of a status object */
static const char *account_name(json_object *st)
{
    json_object *v = member(st, "account");

    return v != NULL && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : "";
}

/* daemon_knows - the daemon answered for this account (knows_account is true) */
static int daemon_knows(json_object *st)
{
    json_object *v = member(member(st, "daemon"), "knows_account");

    return v != NULL && json_object_is_type(v, json_type_boolean) && json_object_get_boolean(v);
}

/* series_value - a series' value for one account; 0 when it is to be left out */
static int series_value(json_object *st, const struct account_series *se, long long *value)
{
    json_object *v = member(st, se->member);

    if (v == NULL || (se->daemon_only && !daemon_knows(st)))
        return 0;
    if (se->is_bool) {
        if (!json_object_is_type(v, json_type_boolean))
            return 0;
        *value = json_object_get_boolean(v);
        return 1;
    }
    if (!json_object_is_type(v, json_type_int))
        return 0;
    *value = json_object_get_int64(v);
    /* A time of 0 means unknown or not applicable; a count of 0 is a count. */
    return *value != 0 || strstr(se->name, "timestamp") == NULL;
}

/* print_accounts - the per-account families, each with its samples together */
static void print_accounts(FILE *fp, const struct config *cfg, json_object *all, int up)
{
    size_t n = json_object_array_length(all);
    size_t i;
    size_t k;

    if (n > 0)
        family(fp, "account_info", "gauge",
               "Each configured account, with its provider, grant and client credential.");
    for (k = 0; k < n; k++) {
        json_object *st = json_object_array_get_idx(all, k);
        const struct account_conf *a = config_find(cfg, account_name(st));
        const char *cred = "none";

        if (a == NULL)
            continue;
        if (a->client_certificate_file != NULL && a->client_certificate_file[0] != '\0')
            cred = "certificate";
        else if (a->client_secret_file != NULL && a->client_secret_file[0] != '\0')
            cred = "secret";
        fputs(PREFIX "account_info{account=\"", fp);
        label_value(fp, a->name);
        fputs("\",provider=\"", fp);
        label_value(fp, a->provider != NULL ? a->provider : "");
        fputs("\",grant=\"", fp);
        label_value(fp, a->grant != NULL ? a->grant : "");
        fprintf(fp, "\",credential=\"%s\"} 1\n", cred);
    }
    if (up && n > 0) {
        family(fp, "account_served", "gauge",
               "1 when the running daemon serves the account, 0 when it was added to the "
               "config without a reload.");
        for (k = 0; k < n; k++) {
            json_object *st = json_object_array_get_idx(all, k);
            json_object *v = member(member(st, "daemon"), "knows_account");

            if (v == NULL || !json_object_is_type(v, json_type_boolean))
                continue;
            fputs(PREFIX "account_served{account=\"", fp);
            label_value(fp, account_name(st));
            fprintf(fp, "\"} %d\n", json_object_get_boolean(v) ? 1 : 0);
        }
    }
    for (i = 0; i < sizeof(series) / sizeof(series[0]); i++) {
        int any = 0;

        for (k = 0; k < n; k++) {
            json_object *st = json_object_array_get_idx(all, k);
            long long v;

            if (!series_value(st, &series[i], &v))
                continue;
            if (!any)
                family(fp, series[i].name, "gauge", series[i].help);
            any = 1;
            fprintf(fp, PREFIX "%s{account=\"", series[i].name);
            label_value(fp, account_name(st));
            fprintf(fp, "\"} %lld\n", v);
        }
    }
}

/* print_daemon - up, the start time and the reply counters (from the last status reply) */
static void print_daemon(FILE *fp, json_object *all, int up)
{
    json_object *replies = NULL;
    json_object *started = NULL;
    size_t k;

    family(fp, "up", "gauge", "1 when the token daemon answers on its socket, else 0.");
    fprintf(fp, PREFIX "up %d\n", up);
    for (k = 0; up && k < json_object_array_length(all); k++) {
        json_object *st = json_object_array_get_idx(all, k);

        if (member(st, "daemon_replies") != NULL) {
            replies = member(st, "daemon_replies");
            started = member(st, "daemon_started_at");
        }
    }
    if (started != NULL && json_object_is_type(started, json_type_int)) {
        family(fp, "start_time_seconds", "gauge",
               "When the token daemon started, in seconds since the epoch.");
        fprintf(fp, PREFIX "start_time_seconds %lld\n", (long long)json_object_get_int64(started));
    }
    if (replies == NULL || !json_object_is_type(replies, json_type_object))
        return;
    family(fp, "requests_total", "counter",
           "Socket requests the daemon answered since it started, by request and reply "
           "(other: malformed, unknown or refused).");
    json_object_object_foreach(replies, req, row)
    {
        if (!json_object_is_type(row, json_type_object))
            continue;
        json_object_object_foreach(row, result, count)
        {
            if (!json_object_is_type(count, json_type_int))
                continue;
            fputs(PREFIX "requests_total{request=\"", fp);
            label_value(fp, req);
            fputs("\",result=\"", fp);
            label_value(fp, result);
            fprintf(fp, "\"} %lld\n", (long long)json_object_get_int64(count));
        }
    }
}

/*
 * write_atomically - put text into path through a temporary file in its
 * directory (fsync, 0644, rename, directory fsync); the result
 */
static helper_result write_atomically(const char *path, const char *text, size_t len)
{
    const char *slash = strrchr(path, '/');
    char dir[4096];
    char tmp[4096 + 32];
    int fd;
    int dfd;
    size_t off = 0;
    int saved;

    if (slash == NULL)
        snprintf(dir, sizeof(dir), ".");
    else if (slash == path)
        snprintf(dir, sizeof(dir), "/");
    else
        snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
    if (slash != NULL && slash[1] == '\0') {
        fprintf(stderr,
                "oauth2-token-helper: --output %s names a directory; give a file, e.g. "
                "/var/lib/prometheus/node-exporter/oauth2-token-helper.prom\n",
                path);
        return RESULT_USAGE;
    }
    /* Not ending in .prom: the textfile collector skips it while it is written. */
    if (snprintf(tmp, sizeof(tmp), "%s/.%s.XXXXXX", dir, slash != NULL ? slash + 1 : path) >=
        (int)sizeof(tmp)) {
        fprintf(stderr, "oauth2-token-helper: --output %s: the path is too long\n", path);
        return RESULT_USAGE;
    }
    fd = mkstemp(tmp);
    if (fd < 0) {
        saved = errno;
        fprintf(stderr,
                "oauth2-token-helper: cannot create a file in %s for --output %s: %s; run "
                "metrics as a user who may write there (the shipped timer runs it as root)\n",
                dir, path, strerror(saved));
        return saved == ENOSPC || saved == EDQUOT ? RESULT_TEMPORARY : RESULT_CONFIG;
    }
    while (off < len) {
        ssize_t n = write(fd, text + off, len - off);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            goto fail;
        off += (size_t)n;
    }
    if (fchmod(fd, 0644) < 0 || fsync(fd) < 0)
        goto fail;
    if (close(fd) < 0) {
        fd = -1;
        goto fail;
    }
    fd = -1;
    if (rename(tmp, path) < 0)
        goto fail;
    dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        if (fsync(dfd) < 0) {
            /* The file is in place; only its durability across a crash is in doubt. */
        }
        close(dfd);
    }
    return RESULT_OK;
fail:
    saved = errno;
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    fprintf(stderr,
            "oauth2-token-helper: cannot write --output %s: %s; the previous file, if "
            "any, is unchanged\n",
            path, strerror(saved));
    return saved == ENOSPC || saved == EDQUOT || saved == EIO ? RESULT_TEMPORARY : RESULT_CONFIG;
}

/* cmd_metrics - the Prometheus page, on stdout or into --output FILE */
helper_result cmd_metrics(const char *file, int argc, char **argv)
{
    const char *output = NULL;
    struct config *cfg;
    json_object *all;
    struct status_daemon d;
    helper_result rc = RESULT_OK;
    char *text = NULL;
    size_t len = 0;
    FILE *fp;
    int up;
    int i;

    for (i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--output") == 0 && i + 1 < argc && argv[i + 1][0] != '\0')
            output = argv[++i];
        else
            return cli_usage();
    }
    cfg = cli_load_config(file);
    if (cfg == NULL)
        return RESULT_CONFIG;
    all = json_object_new_array();
    if (all == NULL || cmd_status_collect(cfg, all, &d) < 0) {
        fprintf(stderr, "oauth2-token-helper: cannot read the accounts' status (out of memory)\n");
        rc = RESULT_TEMPORARY;
        goto out;
    }
    /* Refused, by the socket's mode or by the daemon (a PERM reply): not "down". */
    if (d.running < 0 || (d.running == 1 && d.error[0] != '\0')) {
        fprintf(stderr,
                "oauth2-token-helper: the token daemon on %s did not let us ask (%s); run "
                "metrics as root or as a user in allow_users of %s (or in a group of "
                "allow_groups) who may open the socket\n",
                cfg->socket, d.error, cfg->path);
        rc = RESULT_CONFIG;
        goto out;
    }
    up = d.running == 1;
    /* With no account nothing was asked: whether the daemon listens is all we can know. */
    if (cfg->n_accounts == 0)
        up = daemonclient_pid(cfg->socket) > 0;
    fp = open_memstream(&text, &len);
    if (fp == NULL) {
        rc = RESULT_TEMPORARY;
        goto out;
    }
    print_daemon(fp, all, up);
    print_accounts(fp, cfg, all, up);
    if (fclose(fp) != 0) {
        rc = RESULT_TEMPORARY;
        goto out;
    }
    if (output != NULL) {
        rc = write_atomically(output, text, len);
    } else if (fwrite(text, 1, len, stdout) != len || fflush(stdout) != 0) {
        fprintf(stderr, "oauth2-token-helper: cannot write the metrics to standard output\n");
        rc = RESULT_TEMPORARY;
    }
out:
    free(text);
    json_object_put(all);
    config_free(cfg);
    return rc;
}
