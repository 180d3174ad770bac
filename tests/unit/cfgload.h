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

#endif
