/*
 * relaylog.c - what the relay did with one message, from its log (see relaylog.h)
 *
 * DIAGNOSTICS
 *     A file that cannot be opened is named with the reason; lines longer
 *     than a buffer are cut, never read past.
 *
 * SECURITY
 *     The log is untrusted text: each line is cleaned (log_clean) and cut
 *     short before it is shown. The journal is read through journalctl
 *     with no argument taken from the relay's reply but a queue id checked
 *     to be letters and digits only.
 */
#include "autoconfig.h"

#include "relaylog.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "regfile.h"

#define RELAYLOG_LINE 2048
#define RELAYLOG_SHOW 400
#define RELAYLOG_DEFAULT_FILE "/var/log/mail.log"

/* relaylog_default - the log to read when none is given */
const char *relaylog_default(void)
{
    struct stat st;

    if (stat(RELAYLOG_DEFAULT_FILE, &st) == 0 && S_ISREG(st.st_mode))
        return RELAYLOG_DEFAULT_FILE;
    return NULL;
}

/* relaylog_start - remember where the log ends now */
int relaylog_start(struct relaylog *rl, const char *file, char *err, size_t errsize)
{
    struct stat st;
    char why[400];
    int fd;

    rl->file = file;
    rl->offset = 0;
    rl->since = clock_wall_s() - 1;
    if (file == NULL)
        return 0;
    fd = regfile_open(file, &st, why, sizeof(why));
    if (fd < 0) {
        snprintf(err, errsize,
                 "cannot read the relay's log: %s; fix: give the file Postfix logs to with "
                 "--maillog FILE (maillog_file, or syslog's mail log)",
                 why);
        return -1;
    }
    close(fd);
    rl->offset = (long long)st.st_size;
    return 0;
}

/* line_status - the status a log line gives, or RELAYLOG_NO_LINE */
static relaylog_status line_status(const char *line)
{
    if (strstr(line, " status=sent ") != NULL)
        return RELAYLOG_SENT;
    if (strstr(line, " status=deferred ") != NULL)
        return RELAYLOG_DEFERRED;
    if (strstr(line, " status=bounced ") != NULL || strstr(line, " status=expired") != NULL)
        return RELAYLOG_BOUNCED;
    return RELAYLOG_NO_LINE;
}

/*
 * scan - read new lines of fp, show those of queue_id; the first status
 * found. With resume (a file), a last line not yet ended is left for the
 * next round and *resume is where to start then.
 */
static relaylog_status scan(FILE *fp, const char *queue_id, FILE *out, long long *resume)
{
    char line[RELAYLOG_LINE];
    char shown[RELAYLOG_SHOW];
    char key[64];
    relaylog_status st = RELAYLOG_NO_LINE;
    long long start = resume != NULL ? (long long)ftello(fp) : 0;

    snprintf(key, sizeof(key), " %s: ", queue_id);
    while (fgets(line, sizeof(line), fp) != NULL) {
        size_t len = strlen(line);

        if (len > 0 && line[len - 1] != '\n') {
            int c;

            if (feof(fp) && resume != NULL)
                break; /* still being written: read it whole next round */
            /* A line longer than the buffer: skip the rest of it. */
            do
                c = fgetc(fp);
            while (c != EOF && c != '\n');
        }
        if (resume != NULL)
            start = (long long)ftello(fp);
        if (strstr(line, key) == NULL)
            continue;
        log_clean(shown, sizeof(shown), line, strcspn(line, "\n"));
        fprintf(out, "  relay log: %s\n", shown);
        if (st == RELAYLOG_NO_LINE)
            st = line_status(line);
    }
    if (resume != NULL)
        *resume = start;
    return st;
}

/* scan_file - the new part of the log file */
static relaylog_status scan_file(const struct relaylog *rl, const char *queue_id, FILE *out,
                                 long long *offset)
{
    relaylog_status st;
    struct stat sb;
    char err[300];
    int fd = regfile_open(rl->file, &sb, err, sizeof(err));
    FILE *fp = fd >= 0 ? fdopen(fd, "r") : NULL;

    if (fp == NULL) {
        if (fd >= 0)
            close(fd);
        return RELAYLOG_NO_LINE;
    }
    if (fseeko(fp, (off_t)*offset, SEEK_SET) != 0) {
        fclose(fp);
        return RELAYLOG_NO_LINE;
    }
    st = scan(fp, queue_id, out, offset);
    fclose(fp);
    return st;
}

/*
 * scan_journal - Postfix's journal lines since the submission, shown only
 * when they hold a status or this is the last round (the journal is read
 * whole each round)
 */
static relaylog_status scan_journal(const struct relaylog *rl, const char *queue_id, FILE *out,
                                    int last)
{
    char cmd[256];
    char *buf = NULL;
    size_t buflen = 0;
    relaylog_status st;
    FILE *mem;
    FILE *fp;

    /* Facility mail (2): every Postfix daemon, whatever its syslog_name. */
    snprintf(cmd, sizeof(cmd),
             "journalctl --no-pager -q -o short --since @%lld SYSLOG_FACILITY=2 2>/dev/null",
             rl->since);
    mem = open_memstream(&buf, &buflen);
    if (mem == NULL)
        return RELAYLOG_NO_LINE;
    fp = popen(cmd, "r");
    if (fp == NULL) {
        fclose(mem);
        free(buf);
        return RELAYLOG_NO_LINE;
    }
    st = scan(fp, queue_id, mem, NULL);
    pclose(fp);
    fclose(mem);
    if (st != RELAYLOG_NO_LINE || last)
        fwrite(buf, 1, buflen, out);
    free(buf);
    return st;
}

/* relaylog_watch - wait for the status of queue_id */
relaylog_status relaylog_watch(const struct relaylog *rl, const char *queue_id, int wait_s,
                               FILE *out)
{
    long long deadline = clock_mono_ms() + (long long)wait_s * 1000;
    long long offset = rl->offset;
    size_t n = strspn(queue_id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789");

    if (n == 0 || queue_id[n] != '\0')
        return RELAYLOG_NO_LINE;
    for (;;) {
        relaylog_status st;

        if (rl->file != NULL)
            st = scan_file(rl, queue_id, out, &offset);
        else
            st = scan_journal(rl, queue_id, out, clock_mono_ms() + 600 >= deadline);
        if (st != RELAYLOG_NO_LINE)
            return st;
        fflush(out);
        if (clock_mono_ms() >= deadline)
            return RELAYLOG_NO_LINE;
        usleep(500 * 1000);
    }
}
