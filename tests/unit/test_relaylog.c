/*
 * test_relaylog.c - "test --relay" follows one queue id through the relay's
 * log: only its lines, the first status, lines not yet ended, overlong lines
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "relaylog.h"
#include "tap.h"

static char logpath[] = "/tmp/test_relaylog.XXXXXX";

/* append - add text to the log */
static void append(const char *text)
{
    FILE *fp = fopen(logpath, "a");

    if (fp == NULL)
        return;
    fputs(text, fp);
    fclose(fp);
}

/* watch - run relaylog_watch for qid, its output into out */
static relaylog_status watch(const struct relaylog *rl, const char *qid, int wait_s, char *out,
                             size_t outsize)
{
    FILE *mem = fmemopen(out, outsize, "w");
    relaylog_status st;

    memset(out, 0, outsize);
    if (mem == NULL)
        return RELAYLOG_NO_LINE;
    st = relaylog_watch(rl, qid, wait_s, mem);
    fclose(mem);
    return st;
}

int main(void)
{
    struct relaylog rl;
    char err[600];
    char out[8192];
    char *longline;
    int fd = mkstemp(logpath);

    if (fd < 0) {
        printf("Bail out! mkstemp\n");
        return 1;
    }
    close(fd);
    append("Nov 29 10:00:00 relay postfix/smtp[1]: OLD1: to=<a@b>, status=sent (250 ok)\n");

    ok(relaylog_start(&rl, logpath, err, sizeof(err)) == 0, "a readable log file is taken");
    ok(relaylog_start(&rl, "/nonexistent/mail.log", err, sizeof(err)) < 0 &&
           strstr(err, "/nonexistent/mail.log") != NULL && strstr(err, "--maillog") != NULL,
       "a missing log is refused, named, with the fix (%s)", err);
    ok(relaylog_start(&rl, "/tmp", err, sizeof(err)) < 0, "a directory is refused");

    relaylog_start(&rl, logpath, err, sizeof(err));
    append("Nov 29 10:00:01 relay postfix/qmgr[2]: ABC123: from=<relay@contoso.com>, size=500\n"
           "Nov 29 10:00:01 relay postfix/smtp[3]: OTHER9: to=<x@y>, status=bounced (550 no)\n"
           "Nov 29 10:00:02 relay postfix/smtp[3]: ABC123: to=<x@y>, relay=o365, dsn=4.7.0, "
           "status=deferred (SASL authentication failed)\n"
           "Nov 29 10:00:03 relay postfix/smtp[3]: ABC123: to=<x@y>, status=sent (250 ok)\n");
    ok(watch(&rl, "ABC123", 2, out, sizeof(out)) == RELAYLOG_DEFERRED,
       "the first status of the queue id counts: deferred");
    ok(strstr(out, "from=<relay@contoso.com>") != NULL, "its qmgr line is shown");
    ok(strstr(out, "OTHER9") == NULL && strstr(out, "OLD1") == NULL,
       "other messages' lines and lines from before are not");
    ok(watch(&rl, "ABC12", 1, out, sizeof(out)) == RELAYLOG_NO_LINE,
       "a queue id that is a prefix of another matches nothing");
    ok(watch(&rl, "OLD1", 1, out, sizeof(out)) == RELAYLOG_NO_LINE,
       "lines written before the submission are not read");
    ok(watch(&rl, "ABC;rm", 1, out, sizeof(out)) == RELAYLOG_NO_LINE,
       "a queue id that is not letters and digits is refused");

    relaylog_start(&rl, logpath, err, sizeof(err));
    /* A line still being written: no status yet, then the rest of it. */
    append("Nov 29 10:00:04 relay postfix/smtp[3]: DEF456: to=<x@y>, sta");
    ok(watch(&rl, "DEF456", 1, out, sizeof(out)) == RELAYLOG_NO_LINE,
       "a line not yet ended gives no status");
    append("tus=bounced (host said: 550 5.7.60 SendAsDenied)\n");
    ok(watch(&rl, "DEF456", 1, out, sizeof(out)) == RELAYLOG_BOUNCED,
       "once ended it is read whole: bounced");

    relaylog_start(&rl, logpath, err, sizeof(err));
    longline = malloc(10000);
    if (longline != NULL) {
        memset(longline, 'x', 9998);
        memcpy(longline, "Nov 29 relay postfix/cleanup[4]: GHI789: header ", 49);
        longline[9998] = '\n';
        longline[9999] = '\0';
        append(longline);
        free(longline);
    }
    append("Nov 29 10:00:05 relay postfix/smtp[3]: GHI789: to=<x@y>, status=sent (250 ok)\n");
    ok(watch(&rl, "GHI789", 2, out, sizeof(out)) == RELAYLOG_SENT,
       "after an overlong line of the same id: sent");
    ok(strlen(out) < 2000, "the overlong line is shown cut short (%zu bytes)", strlen(out));

    unlink(logpath);
    return done_testing();
}
