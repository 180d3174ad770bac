#!/bin/bash
# unknown-account-defers.sh - sasl_passwd names an account the helper lacks
#
# The mail must be deferred, not bounced, and stay queued; the log must name
# the account and say it is unknown. Adding the account (config + import +
# SIGHUP to the daemon) and flushing then delivers it.
. "$(dirname "$0")/lib.sh"
need_env
setup
need_product
N=${DEFER_MESSAGES:-2}
UNKNOWN=mallory@contoso.test

start_mock
start_receiver
prepare_sender
start_helper "$ALICE"
start_sender xoauth2 "$UNKNOWN"
diag "receiver :$RECEIVER_PORT, sender :$SENDER_PORT; sasl_passwd names $UNKNOWN, helper knows only $ALICE"

check_num "sender's smtpd accepted the messages" "$(inject "$N")" -eq "$N"
wait_deferred "$N" 60
check_num "each message was deferred" "$(deferral_count)" -ge "$N"
check_num "nothing bounced" "$(bounce_count)" -eq 0
check_num "all messages still queued" "$(queue_size)" -eq "$N"
why=$(sender_log | grep -E 'postfix/smtp\[' | grep -F "$UNKNOWN" | grep -i 'unknown' | head -n 1)
check_num "the sender's log names $UNKNOWN and says it is unknown" "$(printf '%s' "$why" | grep -c .)" -eq 1
diag "log: ${why:0:300}"
check_num "the helper asked the mock nothing for $UNKNOWN" "$(mock_stat "token_requests.by_user.$UNKNOWN.ok")" -eq 0
check_num "no AUTH reached the receiver" "$(receiver_log | grep -c 'sasl_method=')" -eq 0

# The admin adds the account and reloads the daemon.
write_helper_config "$ALICE" "$UNKNOWN"
import_grant "$UNKNOWN" || bail "helper import $UNKNOWN failed"
kill -HUP "$HELPER_PID"
# the reload is asynchronous: retry until the daemon serves the account
wait_until 20 helper token "$UNKNOWN" --format json
flush_sender
wait_delivered "$N" 60
check_num "after adding the account and a flush: all delivered" "$(delivered_count)" -eq "$N"
check_num "queue is empty" "$(queue_size)" -eq 0
check_num "still nothing bounced" "$(bounce_count)" -eq 0
done_testing
