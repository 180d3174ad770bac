/*
 * test_migrate.c - what "migrate" is built on: the unified diff (udiff.c)
 * and Postfix table sources, their passwords masked (postfixmap.c)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "postfixmap.h"
#include "tap.h"
#include "udiff.h"

/* diff_text - udiff_print's output for a and b, malloc'd */
static char *diff_text(const char *a, const char *b)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&buf, &len);

    if (fp == NULL)
        return NULL;
    udiff_print(fp, "a", a, strlen(a), "b", b, strlen(b), 3);
    fclose(fp);
    return buf;
}

/* check_diff - udiff of a and b equals want */
static void check_diff(const char *a, const char *b, const char *want, const char *what)
{
    char *got = diff_text(a, b);

    if (!ok(got != NULL && strcmp(got, want) == 0, "udiff: %s", what))
        printf("# got:\n%s# want:\n%s", got ? got : "(null)\n", want);
    free(got);
}

/* test_udiff - the shapes diff -u writes (GNU diff's output for the same input) */
static void test_udiff(void)
{
    check_diff("x\ny\n", "x\ny\n", "", "equal texts: no output");
    check_diff("", "one\ntwo\n", "--- a\n+++ b\n@@ -0,0 +1,2 @@\n+one\n+two\n",
               "a new file: @@ -0,0 +1,2 @@");
    check_diff("1\n2\n3\n4\n5\n6\n7\n8\n9\n", "1\n2\n3\n4\nfive\n6\n7\n8\n9\n",
               "--- a\n+++ b\n@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+five\n 6\n 7\n 8\n",
               "one line changed: three lines of context each side");
    check_diff(
        "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\nk\nl\nm\nn\n", "A\nb\nc\nd\ne\nf\ng\nh\ni\nj\nk\nl\nm\nN\n",
        "--- a\n+++ b\n@@ -1,4 +1,4 @@\n-a\n+A\n b\n c\n d\n@@ -11,4 +11,4 @@\n k\n l\n m\n-n\n"
        "+N\n",
        "changes far apart: two hunks");
    check_diff("a\nb\n", "a\nb",
               "--- a\n+++ b\n@@ -1,2 +1,2 @@\n a\n-b\n+b\n\\ No newline at end of file\n",
               "a missing final newline is marked");
    check_diff("k\nv = may\n", "k\nv = encrypt\n\n# c\nf = x\n",
               "--- a\n+++ b\n@@ -1,2 +1,5 @@\n k\n-v = may\n+v = encrypt\n+\n+# c\n+f = x\n",
               "a line replaced and lines appended");
    check_diff("x\n", "", "--- a\n+++ b\n@@ -1 +0,0 @@\n-x\n", "a text emptied: @@ -1 +0,0 @@");
}

/* test_parse - entries, continuation lines, comments and offsets */
static void test_parse(void)
{
    const char *t = "# comment\n"
                    "[smtp.office365.com]:587   alice@contoso.com:pw1\n"
                    "\n"
                    "bob@contoso.com\tbob@contoso.com:pw2\n"
                    "   continued\n"
                    "last x:y";
    struct pfmap_entry *e = NULL;
    size_t n = 0;

    int rc = pfmap_parse(t, strlen(t), &e, &n);

    ok(rc == 0 && n == 3, "parse: three entries (got %zu)", n);
    if (n == 3) {
        ok(e[0].line == 2 && e[0].key_len == 24 &&
               strncmp(t + e[0].key, "[smtp.office365.com]:587", 24) == 0,
           "parse: the first key and its line");
        ok(strncmp(t + e[0].value, "alice@contoso.com:pw1", e[0].value_end - e[0].value) == 0 &&
               e[0].value_end - e[0].value == 21,
           "parse: the first value, without the newline");
        ok(e[1].value_end == e[1].end - 1 && t[e[1].value_end - 1] == 'd',
           "parse: a continuation line belongs to the entry before");
        ok(e[2].end == strlen(t) && e[2].value_end == strlen(t),
           "parse: a last line without a newline");
        ok(pfmap_password_at(t, &e[0]) == e[0].value + 18, "parse: the password after the ':'");
    }
    free(e);
}

/* test_mask - every password shown as ********, nothing else changed */
static void test_mask(void)
{
    const char *t = "# keep: this\n"
                    "[smtp.office365.com]:587 alice@contoso.com:Secret-1\n"
                    "shared@contoso.com shared@contoso.com:account=alice@contoso.com\n"
                    "[x]:25 nopass:\n"
                    "[y]:25 user:two words\n";
    const char *want = "# keep: this\n"
                       "[smtp.office365.com]:587 alice@contoso.com:********\n"
                       "shared@contoso.com shared@contoso.com:account=alice@contoso.com\n"
                       "[x]:25 nopass:\n"
                       "[y]:25 user:********\n";
    size_t len = 0;
    char *m = pfmap_mask(t, strlen(t), &len);

    ok(m != NULL && strcmp(m, want) == 0 && len == strlen(want),
       "mask: passwords become ********; empty ones and the plugin's account= stay");
    free(m);
    m = pfmap_mask_maincf("a = b\nsmtp_sasl_password_maps = static:u@x:Secret-2\n",
                          strlen("a = b\nsmtp_sasl_password_maps = static:u@x:Secret-2\n"), &len);
    ok(m != NULL && strstr(m, "Secret-2") == NULL && strstr(m, "static:********") != NULL &&
           strncmp(m, "a = b\n", 6) == 0,
       "mask: a static: table's value in main.cf is masked");
    free(m);
}

/* test_run - postconf-like tools run from an argument vector, stdout captured */
static void test_run(void)
{
    char *argv[] = {(char *)"sh", (char *)"-c", (char *)"printf 'a b\\n'; echo oops >&2; exit 3",
                    NULL};
    char *out = NULL;
    size_t len = 0;
    char err[300];
    int rc = pfmap_run("/bin/sh", argv, &out, &len, 1024, err, sizeof(err));

    ok(rc == 3 && out != NULL && strcmp(out, "a b\n") == 0 && strstr(err, "oops") != NULL,
       "run: exit status, stdout, and stderr in the message (rc %d, err %s)", rc, err);
    pfmap_wipe_free(out, len);
    argv[2] = (char *)"yes | head -c 5000";
    rc = pfmap_run("/bin/sh", argv, &out, &len, 1024, err, sizeof(err));
    ok(rc == -1 && out == NULL, "run: more output than the maximum is refused");
    rc = pfmap_run("/nonexistent/postconf", argv, &out, &len, 1024, err, sizeof(err));
    /* valgrind's posix_spawn reports a failed exec as exit 127, as a shell would */
    ok((rc == -1 && strstr(err, "/nonexistent/postconf") != NULL) || rc == 127,
       "run: a missing program is an error (rc %d)", rc);
    pfmap_wipe_free(out, len);
}

int main(void)
{
    test_udiff();
    test_parse();
    test_mask();
    test_run();
    return done_testing();
}
