#!/bin/bash
# daemon-restart-loses-no-mail.sh - restarting the token daemon defers nothing
#
# A steady flow of messages (RESTART_MESSAGES, default 80, one every
# RESTART_INTERVAL seconds, default 0.25) goes through the chrooted sender
# Postfix with 4,000-character tokens. In the middle, the daemon is stopped
# and started again RESTART_DOWN seconds later (default 4), as an upgrade
# or a config change does. Each smtp(8) process keeps the last token it got
# (plugin/plugin.c) and uses it while the daemon cannot be reached, so
# nothing is deferred, and every message is delivered through the
# verifying receiver (Dovecot checks each token at the mock).
#
# Postfix runs with the stock master.cf and the tests' main.cf (no
# max_use/max_idle tuning): the smtp processes that served the first
# messages serve the ones during the outage. A process forked during the
# outage would have nothing kept; the test reports how many processes
# served the flow and which of them logged in while the daemon was down.
. "$(dirname "$0")/lib.sh"
need_env
setup
need_product
N=${RESTART_MESSAGES:-80}
INTERVAL=${RESTART_INTERVAL:-0.25}
DOWN=${RESTART_DOWN:-4}
AT=${RESTART_AT:-$((N / 3))}
TOKEN_LENGTH=4000

start_mock
mockctl settings --token-length "$TOKEN_LENGTH" >/dev/null || bail "mock settings failed"
start_receiver
prepare_sender
start_helper
start_sender xoauth2
diag "receiver :$RECEIVER_PORT, sender :$SENDER_PORT; $N messages every ${INTERVAL}s, daemon down ${DOWN}s"

# The flow, in the background: its count of accepted messages lands in a file.
inject "$N" "$INTERVAL" >"$T/injected" &
INJECT_PID=$!
on_exit "stop_pid $INJECT_PID"

# Restart once AT messages (default a third of the flow) are through.
wait_until 60 _delivered_at_least "$AT" || bail "the flow did not start (see logs/sender-maillog.log)"
delivered_before=$(delivered_count)
stop_helper
if test -S "$(helper_socket)"; then diag "the stopped daemon left its socket (connection refused)"; else diag "the stopped daemon removed its socket"; fi
down_at=$(date +%s)
sleep "$DOWN"
delivered_during=$(($(delivered_count) - delivered_before))
run_helper
diag "daemon stopped after $delivered_before deliveries, started again ${DOWN}s later; $delivered_during delivered meanwhile"

wait "$INJECT_PID"
wait_delivered "$N" 120
mock_snapshot

kept_lines=$(sender_log | grep -c 'using the token this process got from it earlier')
procs=$(sender_log | grep -o 'postfix/smtp\[[0-9]*\]' | sort -u | wc -l)
procs_down=$(sender_log | grep 'using the token this process got' | grep -o 'postfix/smtp\[[0-9]*\]' | sort -u | wc -l)
diag "smtp(8) processes that delivered: $procs; of them used a kept token during the outage: $procs_down; logins on a kept token: $kept_lines"
diag "token length issued by the mock: $TOKEN_LENGTH characters; outage began at $(date -u -d "@$down_at" +%T) UTC"

check_num "sender's smtpd accepted every message" "$(cat "$T/injected")" -eq "$N"
check_num "messages were delivered while the daemon was down" "$delivered_during" -ge 1
check_num "logins during the outage used a kept token (one log line each)" "$kept_lines" -ge 1
check_num "every message was delivered" "$(delivered_count)" -eq "$N"
check_num "sender deferred nothing" "$(deferral_count)" -eq 0
check_num "nothing bounced" "$(bounce_count)" -eq 0
check_num "sender's queue is empty" "$(queue_size)" -eq 0
check_num "each delivery was verified at the mock (introspections ok)" "$(snap_stat introspections.ok)" -ge "$N"
check_num "no expired or unknown token reached the receiver" "$(snap_stat introspections.failed)" -eq 0
check_num "the daemon is serving again after the restart" \
    "$(helper token "$ALICE" 2>/dev/null | wc -c)" -ge "$TOKEN_LENGTH"
done_testing
