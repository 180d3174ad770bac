/*
 * ini.c - read the INI-style configuration file (see ini.h)
 */
#include "autoconfig.h"

#include "ini.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

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

/* ini_parse_file - parse path, calling handler for each section and key */
int ini_parse_file(const char *path, ini_handler handler, void *ctx, char *err, size_t errsize)
{
    FILE *fp = fopen(path, "re");
    int rc;

    if (fp == NULL) {
        snprintf(err, errsize, "%s: %s", path, strerror(errno));
        return -1;
    }
    rc = ini_parse_stream(fp, path, handler, ctx, err, errsize);
    fclose(fp);
    return rc;
}

/* ini_parse_stream - parse an open stream, calling handler for each section and key */
int ini_parse_stream(FILE *fp, const char *path, ini_handler handler, void *ctx, char *err,
                     size_t errsize)
{
    char line[INI_MAX_LINE + 2];
    char section[64] = "";
    char name[INI_MAX_LINE];
    char herr[512];
    int lineno = 0;
    int rc = 0;

    name[0] = '\0';
    for (;;) {
        char *p;
        char *eq;
        size_t len;

        if (fgets(line, sizeof(line), fp) == NULL)
            break;
        lineno++;
        len = strlen(line);
        if (len > INI_MAX_LINE && line[len - 1] != '\n') {
            snprintf(err, errsize, "%s:%d: line longer than %d bytes", path, lineno,
                     INI_MAX_LINE);
            rc = -1;
            break;
        }
        if (len > 0 && line[len - 1] != '\n' && !feof(fp)) {
            snprintf(err, errsize, "%s:%d: NUL byte in line", path, lineno);
            rc = -1;
            break;
        }
        p = trim(line);
        if (*p == '\0' || *p == '#' || *p == ';')
            continue;
        if (*p == '[') {
            char *close = strchr(p, ']');
            char *arg;

            if (close == NULL || *trim(close + 1) != '\0') {
                snprintf(err, errsize, "%s:%d: section header must look like [account NAME]",
                         path, lineno);
                rc = -1;
                break;
            }
            *close = '\0';
            p = trim(p + 1);
            arg = p + strcspn(p, " \t");
            if (*arg != '\0')
                *arg++ = '\0';
            arg = trim(arg);
            if (strlen(p) >= sizeof(section)) {
                snprintf(err, errsize, "%s:%d: unknown section type", path, lineno);
                rc = -1;
                break;
            }
            snprintf(section, sizeof(section), "%s", p);
            snprintf(name, sizeof(name), "%s", arg);
            herr[0] = '\0';
            if (handler(ctx, section, name, NULL, NULL, herr, sizeof(herr)) < 0) {
                snprintf(err, errsize, "%s:%d: %s", path, lineno, herr);
                rc = -1;
                break;
            }
            continue;
        }
        eq = strchr(p, '=');
        if (eq == NULL) {
            snprintf(err, errsize, "%s:%d: expected \"key = value\"", path, lineno);
            rc = -1;
            break;
        }
        *eq = '\0';
        herr[0] = '\0';
        if (*trim(p) == '\0') {
            snprintf(err, errsize, "%s:%d: missing key before '='", path, lineno);
            rc = -1;
            break;
        }
        if (handler(ctx, section, name, trim(p), trim(eq + 1), herr, sizeof(herr)) < 0) {
            snprintf(err, errsize, "%s:%d: %s", path, lineno, herr);
            rc = -1;
            break;
        }
    }
    if (rc == 0 && ferror(fp)) {
        snprintf(err, errsize, "%s: read error", path);
        rc = -1;
    }
    explicit_bzero(line, sizeof(line));
    return rc;
}
