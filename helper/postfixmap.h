/*
 * postfixmap.h - Postfix's settings and lookup tables, as "migrate" reads them
 *
 * SYNOPSIS
 *     #include "postfixmap.h"
 *
 *     int pfmap_run(const char *tool, char *const args[], char **out, size_t *outlen,
 *                   size_t max, char *err, size_t errsize);
 *     int pfmap_parse(const char *text, size_t len, struct pfmap_entry **entries, size_t *n);
 *     char *pfmap_mask(const char *text, size_t len, size_t *outlen);
 *     char *pfmap_mask_maincf(const char *text, size_t len, size_t *outlen);
 *     void pfmap_wipe_free(char *buf, size_t len);
 *
 * DESCRIPTION
 *     pfmap_run() runs a Postfix command (postconf, postmap) with an
 *     argument vector, never a shell, and returns its standard output.
 *
 *     pfmap_parse() cuts the text of a lookup table's source file (the
 *     format postmap(1) reads and "postmap -s" prints: "key value" per
 *     line, a line starting with white space continues the one before,
 *     blank and "#" lines are ignored) into entries with their offsets,
 *     so that a rewrite can keep every other byte of the file.
 *
 *     pfmap_mask() is a copy of a password table's text with each
 *     password (what follows the first ':' of a value) shown as
 *     "********", for the dry run's diff; pfmap_mask_maincf() does the
 *     same for the values of static: and inline: tables in main.cf.
 *
 * DIAGNOSTICS
 *     pfmap_run: the exit status, or -1 with err when it could not run or
 *     printed more than max bytes (err has the start of its stderr).
 *
 * SECURITY
 *     The output of "postmap -s" holds passwords: callers release it with
 *     pfmap_wipe_free(), and so does pfmap_run() with what it read on a
 *     failure.
 */
#ifndef OAUTH2_POSTFIXMAP_H
#define OAUTH2_POSTFIXMAP_H

#include <stddef.h>

/* One entry of a table source: byte offsets into its text. */
struct pfmap_entry {
    size_t start; /* first byte of the entry's first line */
    size_t end;   /* past its last line, newline included */
    size_t key;   /* the key: [key, key + key_len) */
    size_t key_len;
    size_t value;     /* the value: [value, value_end), continuation lines included */
    size_t value_end; /* before the final newline */
    int line;         /* 1-based line number of the key */
};

/* pfmap_tool - the path of a Postfix command (/usr/sbin/NAME, ...), or NAME for a PATH search */
const char *pfmap_tool(const char *name, char *buf, size_t size);

/*
 * pfmap_run - run tool with args (args[0] is the tool's name; NULL-terminated),
 * stdin /dev/null; *out the malloc'd NUL-terminated stdout (release with
 * pfmap_wipe_free(*out, *outlen)); the exit status, or -1 with err
 */
int pfmap_run(const char *tool, char *const args[], char **out, size_t *outlen, size_t max,
              char *err, size_t errsize);

/* pfmap_parse - the entries of a table source; 0, or -1 out of memory (*entries malloc'd) */
int pfmap_parse(const char *text, size_t len, struct pfmap_entry **entries, size_t *n);

/* pfmap_mask - text with every password shown as ********, malloc'd; NULL out of memory */
char *pfmap_mask(const char *text, size_t len, size_t *outlen);

/* pfmap_mask_maincf - main.cf text with static: and inline: table values masked, malloc'd */
char *pfmap_mask_maincf(const char *text, size_t len, size_t *outlen);

/* pfmap_password_at - where the password of a value starts (after the first ':'), or value_end */
size_t pfmap_password_at(const char *text, const struct pfmap_entry *e);

/* pfmap_wipe_free - wipe len bytes of buf (and its NUL) and free it; NULL is fine */
void pfmap_wipe_free(char *buf, size_t len);

#endif
