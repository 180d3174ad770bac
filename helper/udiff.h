/*
 * udiff.h - a unified diff of two texts (what "migrate --dry-run" prints)
 *
 * SYNOPSIS
 *     #include "udiff.h"
 *
 *     int udiff_print(FILE *fp, const char *label_a, const char *a, size_t alen,
 *                     const char *label_b, const char *b, size_t blen, int context);
 *
 * DESCRIPTION
 *     udiff_print() writes the differences between the texts a and b as
 *     "diff -u" does ("--- label_a", "+++ label_b", "@@ -l,n +l,n @@"
 *     hunks with context lines, "\ No newline at end of file"), so that
 *     patch(1) applies it; nothing when the texts are equal. The edit
 *     script is a shortest one (Myers' O(ND) algorithm); past a few
 *     thousand differing lines it falls back to replacing the whole text,
 *     which is still a correct diff.
 *
 * DIAGNOSTICS
 *     -1 when out of memory (nothing or part was written), else 0.
 *
 * SECURITY
 *     It prints what it is given: callers mask secrets first.
 */
#ifndef OAUTH2_UDIFF_H
#define OAUTH2_UDIFF_H

#include <stddef.h>
#include <stdio.h>

/* udiff_print - the unified diff of a and b on fp; 0, or -1 out of memory */
int udiff_print(FILE *fp, const char *label_a, const char *a, size_t alen, const char *label_b,
                const char *b, size_t blen, int context);

#endif
