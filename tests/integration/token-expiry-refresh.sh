#!/bin/bash
# token-expiry-refresh.sh - short-lived tokens, mail in a trickle
#
# The mock issues tokens that live EXPIRY_LIFETIME seconds (default 60);
# one message every EXPIRY_INTERVAL seconds (default 10) for at least two
# lifetimes. The daemon must refresh ahead of expiry: no deferral, no
# expired token at the receiver, and about one token request per half
# lifetime (at least 2, at most run_time / (lifetime / 2) + 2).
. "$(dirname "$0")/lib.sh"
need_env
setup
need_product
LIFETIME=${EXPIRY_LIFETIME:-60}
INTERVAL=${EXPIRY_INTERVAL:-10}
RUNTIME=${EXPIRY_RUNTIME:-$((LIFETIME * 2 + LIFETIME / 5))}

start_mock
mockctl settings --lifetime "$LIFETIME" >/dev/null || bail "mock settings failed"
start_receiver
prepare_sender
started=$SECONDS
start_helper
start_sender xoauth2
diag "token lifetime ${LIFETIME}s, one message every ${INTERVAL}s for ${RUNTIME}s"

sent=0
while [ $((SECONDS - started)) -lt "$RUNTIME" ]; do
    if [ "$(inject 1)" = 1 ]; then
        sent=$((sent + 1))
    fi
    sleep "$INTERVAL"
done
wait_delivered "$sent" 60
elapsed=$((SECONDS - started))
mock_snapshot
requests=$(snap_stat token_requests.by_outcome.ok)
bound=$((elapsed * 2 / LIFETIME + 2))
diag "sent $sent messages over ${elapsed}s; mock token requests: $requests (at $(snap_stat token_requests.ok_times) s)"
check_num "the run covered at least two token lifetimes (s)" "$elapsed" -ge $((2 * LIFETIME))
check_num "every message injected was delivered" "$(delivered_count)" -eq "$sent"
check_num "sender deferred nothing" "$(deferral_count)" -eq 0
check_num "no expired or unknown token reached the receiver" "$(snap_stat introspections.failed)" -eq 0
check_num "tokens were refreshed (mock token requests)" "$requests" -ge 2
check_num "about one token request per half lifetime (upper bound)" "$requests" -le "$bound"
check_num "no failed token request" "$(snap_stat token_requests.total)" -eq "$requests"
check_num "sender's queue is empty" "$(queue_size)" -eq 0
done_testing
