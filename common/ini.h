/*
 * ini.h - read the INI-style configuration file, line by line
 *
 * Syntax: "key = value" lines; "[account NAME]" opens an account section;
 * keys before any section are global; blank lines and lines starting with
 * '#' or ';' are ignored. A '#' or ';' that follows a space or tab starts
 * a comment that runs to the end of the line, on key lines and section
 * lines alike ("socket = /run/x/socket   # for Exim" sets /run/x/socket);
 * one with no white space before it is part of the value. Values are
 * trimmed; no quoting (a value wrapped in "..." or '...' is refused, as
 * the quotes would otherwise become part of it), no continuation.
 *
 * The lexer knows no keys: the helper's config module (one table of keys)
 * and the plugin (which only wants the socket) each pass a handler, so
 * both read every line by the same rules.
 *
 * Security: the file is untrusted text. Lines are capped at INI_MAX_LINE,
 * NUL bytes are rejected, and every error names the file and line. The
 * file is opened with regfile_open(): a FIFO cannot wedge the reader.
 */
#ifndef OAUTH2_INI_H
#define OAUTH2_INI_H

#include <stddef.h>
#include <stdio.h>

#define INI_MAX_LINE 4096

/*
 * ini_handler - called once per section header (key == NULL) and once per
 * key, with the line number. section is "" for global keys, else the
 * section's type ("account") and name its argument. Return 0 to go on, -1
 * with err filled in (no FILE:LINE prefix: the lexer adds it). After a
 * refused section header, its keys are skipped up to the next header.
 */
typedef int (*ini_handler)(void *ctx, int line, const char *section, const char *name,
                           const char *key, const char *value, char *err, size_t errsize);

/* ini_problem - one problem at line (0: the file as a whole); msg has no FILE:LINE prefix */
typedef void (*ini_problem)(void *ctx, int line, const char *msg);

/* ini_parse_file - parse path; -1 with "FILE:LINE: message" (or "FILE: reason") in err */
int ini_parse_file(const char *path, ini_handler handler, void *ctx, char *err, size_t errsize);

/* ini_parse_stream - parse an open stream (a file, or fmemopen() for the fuzzer); name is for
 * messages */
int ini_parse_stream(FILE *fp, const char *name, ini_handler handler, void *ctx, char *err,
                     size_t errsize);

/*
 * ini_parse_stream_all - parse the whole stream, going on after a bad line
 * and passing every problem (the lexer's and the handler's) to problem;
 * returns the number of problems. config-check uses it to report all of
 * them in one run.
 */
int ini_parse_stream_all(FILE *fp, ini_handler handler, ini_problem problem, void *ctx);

/*
 * ini_config_path - the config file the daemon and the plugin both read:
 * explicit_path if not NULL, else $OAUTH2_TOKEN_HELPER_CONFIG (by
 * secure_getenv, so a set-uid caller cannot be steered), else
 * OAUTH2_CONFIG_FILE
 */
const char *ini_config_path(const char *explicit_path);

/*
 * ini_socket_ok - the one rule for the global "socket" key, which the
 * daemon and the plugin both read: an absolute path under
 * OAUTH2_SOCKET_PATH_MAX bytes. -1 with the problem and its fix in err.
 */
int ini_socket_ok(const char *value, char *err, size_t errsize);

#endif
