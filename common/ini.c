/*
 * ini.c - read the INI-style configuration file (see ini.h)
 */
#include "autoconfig.h"

#include "ini.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "paths.h"
#include "regfile.h"

/* What one parse reports to: the caller's problem callback, or the first error. */
struct ini_run {
    ini_problem problem; /* NULL: stop at the first problem */
    void *ctx;
    const char *name; /* for "FILE:LINE:" in err */
    char *err;
    size_t errsize;
    int problems;
};

/* trim - strip leading and trailing white space in place */
static char *trim(char *s)
{
    char *end;

    while (*s == ' ' || *s == '\t')
        s++;
    end = s + strlen(s);
    while (end > s && isspace((unsigned char)end[-1]))
        *--end = '\0';
    return s;
}

/* strip_comment - cut a '#' or ';' comment that follows white space */
static void strip_comment(char *s)
{
    char *p;

    for (p = s + 1; *p != '\0'; p++)
        if ((*p == '#' || *p == ';') && (p[-1] == ' ' || p[-1] == '\t')) {
            *p = '\0';
            return;
        }
}

/* quoted - a value wrapped in matching double or single quotes */
static int quoted(const char *v)
{
    size_t len = strlen(v);

    return len >= 2 && (v[0] == '"' || v[0] == '\'') && v[len - 1] == v[0];
}

/* report - one problem: to the callback (go on) or into err (stop); returns -1 when stopping */
static int report(struct ini_run *run, int lineno, const char *msg)
{
    run->problems++;
    if (run->problem != NULL) {
        run->problem(run->ctx, lineno, msg);
        return 0;
    }
    if (lineno > 0)
        snprintf(run->err, run->errsize, "%s:%d: %s", run->name, lineno, msg);
    else
        snprintf(run->err, run->errsize, "%s: %s", run->name, msg);
    return -1;
}

/* skip_rest - consume the rest of an over-long line */
static void skip_rest(FILE *fp)
{
    int c;

    do
        c = getc(fp);
    while (c != EOF && c != '\n');
}

/* parse_section - a "[type name]" line; -1 when it is refused */
static int parse_section(struct ini_run *run, int lineno, char *p, ini_handler handler,
                         char *section, size_t section_size, char *name, size_t name_size)
{
    char *close = strchr(p, ']');
    char herr[512];
    char *arg;

    if (close == NULL || *trim(close + 1) != '\0') {
        report(run, lineno,
               "section header must look like [account NAME]; fix: correct the brackets");
        return -1;
    }
    *close = '\0';
    p = trim(p + 1);
    arg = p + strcspn(p, " \t");
    if (*arg != '\0')
        *arg++ = '\0';
    arg = trim(arg);
    if (strlen(p) >= section_size) {
        report(run, lineno, "unknown section type; fix: sections look like [account NAME]");
        return -1;
    }
    snprintf(section, section_size, "%s", p);
    snprintf(name, name_size, "%s", arg);
    herr[0] = '\0';
    if (handler(run->ctx, lineno, section, name, NULL, NULL, herr, sizeof(herr)) < 0) {
        report(run, lineno, herr);
        return -1;
    }
    return 0;
}

/* parse_key - a "key = value" line; -1 when it is refused */
static int parse_key(struct ini_run *run, int lineno, char *p, ini_handler handler,
                     const char *section, const char *name)
{
    char herr[512];
    char *eq = strchr(p, '=');
    char *key;
    char *value;

    if (eq == NULL) {
        report(run, lineno,
               "expected \"key = value\"; fix: write key = value, or start the line with #");
        return -1;
    }
    *eq = '\0';
    key = trim(p);
    value = trim(eq + 1);
    if (*key == '\0') {
        report(run, lineno, "missing key before '='; fix: write key = value");
        return -1;
    }
    if (quoted(value)) {
        snprintf(herr, sizeof(herr),
                 "%.64s: the value is in quotes, which would become part of it; fix: remove "
                 "the quotes (values are taken as written)",
                 key);
        if (report(run, lineno, herr) < 0)
            return -1;
        /* Going on: read it unquoted, so that one mistake is reported once. */
        value[strlen(value) - 1] = '\0';
        value++;
    }
    herr[0] = '\0';
    if (handler(run->ctx, lineno, section, name, key, value, herr, sizeof(herr)) < 0) {
        report(run, lineno, herr);
        return -1;
    }
    return 0;
}

/* parse - the lexer; returns the number of problems (stops at the first without a callback) */
static int parse(FILE *fp, ini_handler handler, struct ini_run *run)
{
    char line[INI_MAX_LINE + 2];
    char section[64] = "";
    char name[INI_MAX_LINE];
    int skipping = 0; /* inside a refused section */
    int lineno = 0;

    name[0] = '\0';
    for (;;) {
        char *p;
        size_t len;
        int rc;

        if (fgets(line, sizeof(line), fp) == NULL)
            break;
        lineno++;
        len = strlen(line);
        if (len > INI_MAX_LINE && line[len - 1] != '\n') {
            char msg[96];

            snprintf(msg, sizeof(msg), "line longer than %d bytes; fix: shorten it", INI_MAX_LINE);
            if (report(run, lineno, msg) < 0)
                break;
            skip_rest(fp);
            continue;
        }
        if (len > 0 && line[len - 1] != '\n' && !feof(fp)) {
            if (report(run, lineno, "NUL byte in line; fix: save the file as plain text") < 0)
                break;
            continue;
        }
        p = trim(line);
        if (*p == '\0' || *p == '#' || *p == ';')
            continue;
        strip_comment(p);
        p = trim(p);
        if (*p == '[') {
            rc = parse_section(run, lineno, p, handler, section, sizeof(section), name,
                               sizeof(name));
            skipping = rc < 0;
        } else if (skipping) {
            continue;
        } else {
            rc = parse_key(run, lineno, p, handler, section, name);
        }
        if (rc < 0 && run->problem == NULL)
            break;
    }
    if (ferror(fp) && (run->problems == 0 || run->problem != NULL))
        report(run, 0, "read error");
    explicit_bzero(line, sizeof(line));
    return run->problems;
}

/* ini_parse_file - parse path, calling handler for each section and key */
int ini_parse_file(const char *path, ini_handler handler, void *ctx, char *err, size_t errsize)
{
    struct stat st;
    FILE *fp;
    int fd;
    int rc;

    fd = regfile_open(path, &st, err, errsize);
    if (fd < 0)
        return -1;
    fp = fdopen(fd, "r");
    if (fp == NULL) {
        snprintf(err, errsize, "%s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    rc = ini_parse_stream(fp, path, handler, ctx, err, errsize);
    fclose(fp);
    return rc;
}

/* ini_parse_stream - parse an open stream, stopping at the first problem */
int ini_parse_stream(FILE *fp, const char *path, ini_handler handler, void *ctx, char *err,
                     size_t errsize)
{
    struct ini_run run;

    memset(&run, 0, sizeof(run));
    run.ctx = ctx;
    run.name = path;
    run.err = err;
    run.errsize = errsize;
    return parse(fp, handler, &run) > 0 ? -1 : 0;
}

/* ini_parse_stream_all - parse the whole stream, reporting every problem */
int ini_parse_stream_all(FILE *fp, ini_handler handler, ini_problem problem, void *ctx)
{
    struct ini_run run;

    memset(&run, 0, sizeof(run));
    run.problem = problem;
    run.ctx = ctx;
    return parse(fp, handler, &run);
}

/* ini_config_path - explicit, else environment, else built-in */
const char *ini_config_path(const char *explicit_path)
{
    const char *env;

    if (explicit_path != NULL)
        return explicit_path;
    env = secure_getenv(OAUTH2_CONFIG_ENV);
    if (env != NULL && *env != '\0')
        return env;
    return OAUTH2_CONFIG_FILE;
}

/* ini_socket_ok - the socket key's rule, for the daemon and the plugin alike */
int ini_socket_ok(const char *value, char *err, size_t errsize)
{
    if (value[0] == '/' && strlen(value) < OAUTH2_SOCKET_PATH_MAX)
        return 0;
    snprintf(err, errsize,
             "socket \"%.128s\" must be an absolute path under %d bytes; fix: socket "
             "= " OAUTH2_DEFAULT_SOCKET,
             value, OAUTH2_SOCKET_PATH_MAX);
    return -1;
}
