/*
 * relaylog.h - "oauth2-token-helper test --relay": find what the relay did
 *              with one message, by its queue id, in the mail log
 *
 * After a device's submission (smtptest_submit) the relay's 250 reply
 * names the queue id; the relay then logs that id on every line about the
 * message: the sender after rewriting (qmgr's "from=<...>"), and each
 * delivery attempt's "status=sent", "deferred" or "bounced" with Office
 * 365's reply. relaylog_watch reads those lines as they come, from a log
 * file (syslog's /var/log/mail.log, or Postfix's maillog_file) or, with no
 * file, from the journal (journalctl), and stops at the first status.
 */
#ifndef OAUTH2_RELAYLOG_H
#define OAUTH2_RELAYLOG_H

#include <stdio.h>

/* Where the relay logs, and where reading starts. */
struct relaylog {
    const char *file; /* the log file, or NULL: the journal */
    long long offset; /* the file's size before the submission */
    long long since;  /* wall-clock second before the submission (journal) */
};

/* What the relay did with the message. */
typedef enum {
    RELAYLOG_SENT,     /* status=sent: the next hop (Office 365) took it */
    RELAYLOG_DEFERRED, /* status=deferred: queued, it will retry */
    RELAYLOG_BOUNCED,  /* status=bounced (or expired): refused for good */
    RELAYLOG_NO_LINE,  /* no status within the wait, or the log cannot be read */
} relaylog_status;

/*
 * relaylog_start - remember where the log ends now (file, or NULL for the
 * journal); -1 with err naming the file and the fix when it cannot be read
 */
int relaylog_start(struct relaylog *rl, const char *file, char *err, size_t errsize);

/*
 * relaylog_watch - wait up to wait_s seconds for the status of queue_id,
 * printing each of its lines (cleaned, cut short) to out
 */
relaylog_status relaylog_watch(const struct relaylog *rl, const char *queue_id, int wait_s,
                               FILE *out);

/* relaylog_default - the log to read when none is given: /var/log/mail.log, or NULL (journal) */
const char *relaylog_default(void);

#endif
