#!/bin/bash
# daemon-stopped-defers-then-delivers.sh - no token daemon: defer, keep, retry
#
# The refresh token is imported but the daemon is not running. Postfix must
# defer (not bounce) the mail and keep it queued, and its log must say why
# (the token daemon). Once the daemon runs, a queue flush delivers it all.
#
# The plugin keeps each process's last token for a daemon restart, while
# it has more than 30 s left (common/tokenlife.h). So the first round runs
# before any smtp(8) process has had a token, and the second stops the
# daemon after tokens were served and waits until no kept token may be
# used any more (tokens live LIFETIME seconds here): both must defer.
. "$(dirname "$0")/lib.sh"
need_env
setup
need_product
N=${DEFER_MESSAGES:-3}
LIFETIME=45
MIN_REMAINING=30

start_mock
mockctl settings --lifetime "$LIFETIME" --token-length 4000 >/dev/null || bail "mock settings failed"
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

# Round 2: the smtp processes now hold tokens; stop the daemon and wait
# past the last moment a kept token may be used.
deferred_before=$(deferral_count)
log_before=$(sender_log | wc -l)
stop_helper
wait_s=$((LIFETIME - MIN_REMAINING + 2))
diag "daemon stopped after serving tokens; waiting ${wait_s}s, past any kept token's last use"
sleep "$wait_s"
check_num "round 2: sender's smtpd accepted the messages" "$(inject "$N")" -eq "$N"
wait_deferred $((deferred_before + N)) 60
check_num "round 2: each message was deferred" "$(($(deferral_count) - deferred_before))" -ge "$N"
check_num "round 2: nothing delivered" "$(delivered_count)" -eq "$N"
check_num "round 2: no kept token was used" \
    "$(sender_log | grep -c 'using the token this process got from it earlier')" -eq 0
# Meaningful only if a process that had logged in (so kept a token) deferred.
sent_pids=$(sender_log | head -n "$log_before" | grep 'status=sent' | grep -o 'smtp\[[0-9]*\]' | sort -u)
deferred_pids=$(sender_log | tail -n +"$((log_before + 1))" | grep 'status=deferred' | grep -o 'smtp\[[0-9]*\]' | sort -u)
check_num "round 2: deferred by a process that had a token before" \
    "$(comm -12 <(echo "$sent_pids") <(echo "$deferred_pids") | grep -c .)" -ge 1
run_helper
flush_sender
wait_delivered $((2 * N)) 60
check_num "round 2: after starting the daemon and a flush: all delivered" "$(delivered_count)" -eq $((2 * N))
check_num "round 2: queue is empty" "$(queue_size)" -eq 0
check_num "round 2: nothing bounced" "$(bounce_count)" -eq 0
done_testing
