/*
 * udiff.c - a unified diff of two texts
 *
 * SYNOPSIS
 *     See udiff.h.
 *
 * DESCRIPTION
 *     The texts are cut into lines, Myers' greedy algorithm finds a
 *     shortest edit script (keeping each round's furthest-reaching
 *     diagonals to walk back through), and the script is printed in hunks
 *     of changes closer than twice the context, as GNU diff -u does.
 *     Written here rather than running diff(1): the dry run must diff
 *     texts that exist only in memory (the masked old and new files), and
 *     temporary files would be one more place for a configuration to lie
 *     around.
 *
 * DIAGNOSTICS
 *     -1 out of memory.
 *
 * SECURITY
 *     Prints only what it is given.
 */
#include "autoconfig.h"

#include <stdlib.h>
#include <string.h>

#include "udiff.h"

/* Past this many differing lines the diff replaces the whole text. */
#define UDIFF_MAX_D 1000

struct line {
    const char *p;
    size_t len; /* without the newline */
    int eol;    /* ends with a newline */
};

enum op_kind { OP_EQUAL, OP_DELETE, OP_INSERT };

struct op {
    enum op_kind kind;
    size_t ai; /* line of a (equal, delete) */
    size_t bi; /* line of b (equal, insert) */
};

/* split_lines - the lines of text, malloc'd; *n their number; NULL out of memory */
static struct line *split_lines(const char *text, size_t len, size_t *n)
{
    struct line *v;
    size_t count = 0;
    size_t i;
    size_t start = 0;

    for (i = 0; i < len; i++)
        if (text[i] == '\n')
            count++;
    if (len > 0 && text[len - 1] != '\n')
        count++;
    v = calloc(count + 1, sizeof(*v));
    if (v == NULL)
        return NULL;
    *n = 0;
    for (i = 0; i < len; i++) {
        if (text[i] == '\n') {
            v[*n].p = text + start;
            v[*n].len = i - start;
            v[*n].eol = 1;
            (*n)++;
            start = i + 1;
        }
    }
    if (start < len) {
        v[*n].p = text + start;
        v[*n].len = len - start;
        v[*n].eol = 0;
        (*n)++;
    }
    return v;
}

/* line_eq - the same text and the same ending */
static int line_eq(const struct line *x, const struct line *y)
{
    return x->len == y->len && x->eol == y->eol && memcmp(x->p, y->p, x->len) == 0;
}

/* replace_all - the script that deletes every line of a and inserts every line of b */
static struct op *replace_all(size_t n, size_t m, size_t *nops)
{
    struct op *ops = calloc(n + m + 1, sizeof(*ops));
    size_t i;

    if (ops == NULL)
        return NULL;
    *nops = 0;
    for (i = 0; i < n; i++) {
        ops[*nops].kind = OP_DELETE;
        ops[*nops].ai = i;
        (*nops)++;
    }
    for (i = 0; i < m; i++) {
        ops[*nops].kind = OP_INSERT;
        ops[*nops].bi = i;
        (*nops)++;
    }
    return ops;
}

/* edit_script - a shortest edit script from a to b, malloc'd; NULL out of memory */
static struct op *edit_script(const struct line *a, size_t n, const struct line *b, size_t m,
                              size_t *nops)
{
    size_t max = n + m;
    size_t width = 2 * max + 3;
    long *v = NULL;
    long **trace = NULL; /* V[-d-1 .. d+1] at the start of each round d */
    struct op *ops = NULL;
    size_t d;
    size_t dmax = max < UDIFF_MAX_D ? max : UDIFF_MAX_D;
    size_t found = (size_t)-1;
    long x;
    long y;
    size_t k_off = max + 1;

    v = calloc(width, sizeof(*v));
    trace = calloc(dmax + 1, sizeof(*trace));
    if (v == NULL || trace == NULL)
        goto out;
    for (d = 0; d <= dmax && found == (size_t)-1; d++) {
        long k;

        trace[d] = malloc((2 * d + 3) * sizeof(**trace));
        if (trace[d] == NULL)
            goto out;
        memcpy(trace[d], v + k_off - d - 1, (2 * d + 3) * sizeof(*v));
        for (k = -(long)d; k <= (long)d; k += 2) {
            if (k == -(long)d || (k != (long)d && v[k_off + k - 1] < v[k_off + k + 1]))
                x = v[k_off + k + 1];
            else
                x = v[k_off + k - 1] + 1;
            y = x - k;
            while (x < (long)n && y < (long)m && line_eq(&a[x], &b[y])) {
                x++;
                y++;
            }
            v[k_off + k] = x;
            if (x >= (long)n && y >= (long)m) {
                found = d;
                break;
            }
        }
    }
    if (found == (size_t)-1) {
        ops = replace_all(n, m, nops);
        goto out;
    }
    ops = calloc(n + m + 1, sizeof(*ops));
    if (ops == NULL)
        goto out;
    /* Walk back from (n, m), writing the script from its end. */
    {
        size_t pos = n + m + 1;
        long cx = (long)n;
        long cy = (long)m;
        long dd;

        for (dd = (long)found; dd >= 0; dd--) {
            const long *tv = trace[dd]; /* tv[k + dd + 1] is V[k] at the start of round dd */
            long k = cx - cy;
            long prev_k;
            long px;
            long py;

            if (k == -dd || (k != dd && tv[k + dd] < tv[k + dd + 2]))
                prev_k = k + 1;
            else
                prev_k = k - 1;
            px = tv[prev_k + dd + 1];
            py = px - prev_k;
            while (cx > px && cy > py) {
                pos--;
                ops[pos].kind = OP_EQUAL;
                ops[pos].ai = (size_t)(cx - 1);
                ops[pos].bi = (size_t)(cy - 1);
                cx--;
                cy--;
            }
            if (dd > 0) {
                pos--;
                if (cx == px) {
                    ops[pos].kind = OP_INSERT;
                    ops[pos].bi = (size_t)py;
                } else {
                    ops[pos].kind = OP_DELETE;
                    ops[pos].ai = (size_t)px;
                }
            }
            cx = px;
            cy = py;
        }
        *nops = n + m + 1 - pos;
        memmove(ops, ops + pos, *nops * sizeof(*ops));
    }
out:
    if (trace != NULL)
        for (d = 0; d <= dmax; d++)
            free(trace[d]);
    free(v);
    free(trace);
    return ops;
}

/* print_line - one diff line: the mark, the text, and the missing-newline note */
static void print_line(FILE *fp, char mark, const struct line *l)
{
    fputc(mark, fp);
    fwrite(l->p, 1, l->len, fp);
    fputc('\n', fp);
    if (!l->eol)
        fputs("\\ No newline at end of file\n", fp);
}

/* print_range - "start,count" as diff -u writes it (",1" left out; start is the line before when
 * empty) */
static void print_range(FILE *fp, size_t first, size_t count)
{
    if (count == 1)
        fprintf(fp, "%zu", first + 1);
    else if (count == 0)
        fprintf(fp, "%zu,0", first);
    else
        fprintf(fp, "%zu,%zu", first + 1, count);
}

/* print_hunk - ops[from, to) as one hunk */
static void print_hunk(FILE *fp, const struct op *ops, size_t from, size_t to, const struct line *a,
                       const struct line *b)
{
    size_t i;
    size_t a_first = (size_t)-1;
    size_t b_first = (size_t)-1;
    size_t a_count = 0;
    size_t b_count = 0;

    for (i = from; i < to; i++) {
        if (ops[i].kind != OP_INSERT) {
            if (a_first == (size_t)-1)
                a_first = ops[i].ai;
            a_count++;
        }
        if (ops[i].kind != OP_DELETE) {
            if (b_first == (size_t)-1)
                b_first = ops[i].bi;
            b_count++;
        }
    }
    /* An empty side starts after the lines of that side that came before the hunk. */
    if (a_first == (size_t)-1) {
        a_first = 0;
        for (i = 0; i < from; i++)
            if (ops[i].kind != OP_INSERT)
                a_first = ops[i].ai + 1;
    }
    if (b_first == (size_t)-1) {
        b_first = 0;
        for (i = 0; i < from; i++)
            if (ops[i].kind != OP_DELETE)
                b_first = ops[i].bi + 1;
    }
    fputs("@@ -", fp);
    print_range(fp, a_first, a_count);
    fputs(" +", fp);
    print_range(fp, b_first, b_count);
    fputs(" @@\n", fp);
    for (i = from; i < to; i++) {
        if (ops[i].kind == OP_EQUAL)
            print_line(fp, ' ', &a[ops[i].ai]);
        else if (ops[i].kind == OP_DELETE)
            print_line(fp, '-', &a[ops[i].ai]);
        else
            print_line(fp, '+', &b[ops[i].bi]);
    }
}

/* udiff_print - the unified diff of a and b on fp; 0, or -1 out of memory */
int udiff_print(FILE *fp, const char *label_a, const char *a, size_t alen, const char *label_b,
                const char *b, size_t blen, int context)
{
    struct line *la = NULL;
    struct line *lb = NULL;
    struct op *ops = NULL;
    size_t n = 0;
    size_t m = 0;
    size_t nops = 0;
    size_t i;
    size_t ctx = context < 0 ? 0 : (size_t)context;
    int ret = -1;
    int header = 0;

    la = split_lines(a, alen, &n);
    lb = split_lines(b, blen, &m);
    if (la == NULL || lb == NULL)
        goto out;
    ops = edit_script(la, n, lb, m, &nops);
    if (ops == NULL)
        goto out;
    i = 0;
    while (i < nops) {
        size_t start;
        size_t end;
        size_t j;

        while (i < nops && ops[i].kind == OP_EQUAL)
            i++;
        if (i == nops)
            break;
        /* [i, end) holds changes, joined while the gap between them is under 2 * ctx + 1. */
        end = i;
        for (;;) {
            while (end < nops && ops[end].kind != OP_EQUAL)
                end++;
            j = end;
            while (j < nops && ops[j].kind == OP_EQUAL)
                j++;
            if (j < nops && j - end <= 2 * ctx)
                end = j;
            else
                break;
        }
        start = i > ctx ? i - ctx : 0;
        while (start < i && ops[start].kind != OP_EQUAL)
            start++;
        if (!header) {
            fprintf(fp, "--- %s\n+++ %s\n", label_a, label_b);
            header = 1;
        }
        j = end;
        while (j < nops && j < end + ctx && ops[j].kind == OP_EQUAL)
            j++;
        print_hunk(fp, ops, start, j, la, lb);
        i = j;
    }
    ret = 0;
out:
    free(la);
    free(lb);
    free(ops);
    return ret;
}
