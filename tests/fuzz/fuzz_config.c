/*
 * fuzz_config.c - libFuzzer target: the configuration file (the ini lexer
 * and the helper's table-driven parser and checks), through
 * config_load_stream() on the input as a memory stream
 *
 * A config that loads is also dumped and looked up, as config-check -v
 * and the daemon do. Error messages must be NUL-terminated and bounded.
 */
#include "autoconfig.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static FILE *devnull;

/* LLVMFuzzerTestOneInput - one config file */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[1024];
    struct config *cfg;
    FILE *fp;
    size_t i;

    if (size == 0 || size > 64 * 1024)
        return 0;
    if (devnull == NULL)
        devnull = fopen("/dev/null", "w");
    fp = fmemopen((void *)data, size, "r");
    if (fp == NULL)
        return 0;
    memset(err, 'x', sizeof(err));
    cfg = config_load_stream(fp, "fuzz.conf", err, sizeof(err));
    fclose(fp);
    if (cfg == NULL) {
        if (memchr(err, '\0', sizeof(err)) == NULL)
            abort();
        return 0;
    }
    for (i = 0; i < cfg->n_accounts; i++) {
        if (config_find(cfg, cfg->accounts[i].name) != &cfg->accounts[i])
            abort();
        if (cfg->accounts[i].endpoint == NULL || strncmp(cfg->accounts[i].endpoint, "https://", 8))
            abort();
    }
    if (devnull != NULL)
        config_dump(cfg, devnull);
    config_free(cfg);
    return 0;
}
