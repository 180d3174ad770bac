/*
 * cmd_serve.c - oauth2-token-helper serve: run the token daemon
 *
 * SYNOPSIS
 *     oauth2-token-helper [-c FILE] [-v] serve [--syslog]
 *
 * DESCRIPTION
 *     Parses serve's options and hands over to server_run().
 *
 * DIAGNOSTICS
 *     The daemon logs; a start-up failure exits 1.
 *
 * SECURITY
 *     See server.c.
 */
#include "autoconfig.h"

#include <string.h>

#include "cli.h"
#include "server.h"

/* cmd_serve - run the daemon in the foreground */
helper_result cmd_serve(const char *file, int argc, char **argv)
{
    int use_syslog = 0;
    int i;

    for (i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--syslog") == 0)
            use_syslog = 1;
        else if (strcmp(argv[i], "-v") == 0)
            cli_verbose++;
        else
            return cli_usage();
    }
    return server_run(file, cli_verbose, use_syslog) == 0 ? RESULT_OK : RESULT_SERVE_FAILED;
}
