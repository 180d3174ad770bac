/*
 * ini.h - read the INI-style configuration file, line by line
 *
 * Syntax: "key = value" lines; "[account NAME]" opens an account section;
 * keys before any section are global; blank lines and lines starting with
 * '#' or ';' are ignored. Values are trimmed; no quoting, no continuation.
 *
 * The lexer knows no keys: the helper's config module (one table of keys)
 * and the plugin (which only wants the socket) each pass a handler.
 *
 * Security: the file is untrusted text. Lines are capped at INI_MAX_LINE,
 * NUL bytes are rejected, and every error names the file and line.
 */
#ifndef OAUTH2_INI_H
#define OAUTH2_INI_H

#include <stddef.h>
#include <stdio.h>

#define INI_MAX_LINE 4096

/*
 * ini_handler - called once per section header (key == NULL) and once per
 * key. section is "" for global keys, else the section's type ("account")
 * and name its argument. Return 0 to go on, -1 to stop with err filled in.
 */
typedef int (*ini_handler)(void *ctx, const char *section, const char *name, const char *key,
                           const char *value, char *err, size_t errsize);

/* ini_parse_file - parse path; -1 with "FILE:LINE: message" (or "FILE: errno text") in err */
int ini_parse_file(const char *path, ini_handler handler, void *ctx, char *err, size_t errsize);

/* ini_parse_stream - parse an open stream (a file, or fmemopen() for the fuzzer); name is for messages */
int ini_parse_stream(FILE *fp, const char *name, ini_handler handler, void *ctx, char *err,
                     size_t errsize);

#endif
