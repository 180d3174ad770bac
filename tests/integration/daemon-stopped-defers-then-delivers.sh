#!/bin/bash
# daemon-stopped-defers-then-delivers.sh - no token daemon: defer, keep, retry
#
# The refresh token is imported but the daemon is not running. Postfix must
# defer (not bounce) the mail and keep it queued, and its log must say why
# (the token daemon). Once the daemon runs, a queue flush delivers it all.
. "$(dirname "$0")/lib.sh"
need_env
setup
need_product
N=${DEFER_MESSAGES:-3}

start_mock
start_receiver
prepare_sender
write_helper_config
import_grant "$ALICE" || bail "helper import failed (see logs/helper-cli.log)"
start_sender xoauth2
diag "receiver :$RECEIVER_PORT, sender :$SENDER_PORT, helper daemon not started"

check_num "sender's smtpd accepted the messages" "$(inject "$N")" -eq "$N"
wait_deferred "$N" 60
check_num "each message was deferred" "$(deferral_count)" -ge "$N"
check_num "nothing bounced" "$(bounce_count)" -eq 0
check_num "nothing delivered" "$(delivered_count)" -eq 0
check_num "all messages still queued" "$(queue_size)" -eq "$N"
why=$(sender_log | grep -E 'postfix/smtp\[' | grep -i -E 'token daemon|oauth2-token-helper|daemon' | head -n 1)
check_num "the sender's log says the token daemon is the problem" "$(printf '%s' "$why" | grep -c .)" -eq 1
diag "log: ${why:0:300}"
diag "deferral: $(sender_log | grep 'status=deferred' | head -n 1 | sed 's/.*status=deferred/status=deferred/' | cut -c1-300)"
check_num "no AUTH reached the receiver" "$(receiver_log | grep -c 'sasl_method=')" -eq 0

run_helper
flush_sender
wait_delivered "$N" 60
check_num "after starting the daemon and a flush: all delivered" "$(delivered_count)" -eq "$N"
check_num "queue is empty" "$(queue_size)" -eq 0
check_num "still nothing bounced" "$(bounce_count)" -eq 0
done_testing
