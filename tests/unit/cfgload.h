/*
 * cfgload.h - the config unit tests' scratch config file: a temporary
 * directory holding o2.conf, load(text) writes and loads it, fails_with()
 * expects an error. dir, path and err are the test's to read. Inline, so a
 * test that uses only some of them builds without warnings.
 */
#ifndef OAUTH2_CFGLOAD_H
#define OAUTH2_CFGLOAD_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "tap.h"

static char dir[] = "/tmp/oauth2-unit.XXXXXX";
static char path[4096];
static char err[1024];

/* cfgload_setup - make the directory; returns -1 when it cannot */
static inline int cfgload_setup(void)
{
    if (mkdtemp(dir) == NULL)
        return -1;
    snprintf(path, sizeof(path), "%s/o2.conf", dir);
    return 0;
}

/* cfgload_cleanup - remove the config file and the (by then empty) directory */
static inline void cfgload_cleanup(void)
{
    unlink(path);
    rmdir(dir);
}

/* load - write text to the config file and load it */
static inline struct config *load(const char *text)
{
    FILE *fp = fopen(path, "w");

    fputs(text, fp);
    fclose(fp);
    err[0] = '\0';
    return config_load(path, err, sizeof(err));
}

/* fails_with - loading text fails and the message contains want */
static inline void fails_with(const char *text, const char *want, const char *what)
{
    struct config *cfg = load(text);

    ok(cfg == NULL && strstr(err, want) != NULL, "%s: \"%s\"", what, err);
    config_free(cfg);
}

/* Every problem config_check_load() or config_check_files() reported, for checks. */
static char problems[32][1200];
static int n_problems;

/* collect - a config_report_fn keeping what it is told */
static inline void collect(void *ctx, const char *msg)
{
    (void)ctx;
    if (n_problems < 32)
        snprintf(problems[n_problems], sizeof(problems[0]), "%s", msg);
    n_problems++;
}

/* reported - the first collected problem containing both needles, or NULL */
static inline const char *reported(const char *a, const char *b)
{
    int i;

    for (i = 0; i < n_problems && i < 32; i++)
        if (strstr(problems[i], a) != NULL && (b == NULL || strstr(problems[i], b) != NULL))
            return problems[i];
    return NULL;
}

/* write_file - create file with text and mode; -1 when it cannot */
static inline int write_file(const char *file, const char *text, mode_t mode)
{
    FILE *fp = fopen(file, "w");

    if (fp == NULL)
        return -1;
    fputs(text, fp);
    fclose(fp);
    return chmod(file, mode);
}

#endif
