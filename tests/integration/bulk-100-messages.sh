#!/bin/bash
# bulk-100-messages.sh - many messages over several token refreshes
#
# BULK_MESSAGES (default 100) messages, spread over BULK_DURATION seconds
# (default 200), with BULK_LIFETIME-second tokens (default 180, 3 minutes).
# All must arrive with no deferral, and the daemon must not refresh per
# message: about one token request per refresh interval (half a lifetime
# here, as lifetimes are under 20 minutes).
. "$(dirname "$0")/lib.sh"
need_env
setup
need_product
MESSAGES=${BULK_MESSAGES:-100}
LIFETIME=${BULK_LIFETIME:-180}
DURATION=${BULK_DURATION:-200}

start_mock
mockctl settings --lifetime "$LIFETIME" >/dev/null || bail "mock settings failed"
start_receiver
prepare_sender
started=$SECONDS
start_helper
start_sender xoauth2
diag "$MESSAGES messages over ~${DURATION}s, token lifetime ${LIFETIME}s"

batches=10
per=$((MESSAGES / batches))
sent=0
for ((b = 0; b < batches; b++)); do
    n=$per
    [ "$b" = $((batches - 1)) ] && n=$((MESSAGES - sent))
    got=$(inject "$n")
    sent=$((sent + ${got:-0}))
    # spread the batches over DURATION
    target=$(((b + 1) * DURATION / batches))
    while [ $((SECONDS - started)) -lt "$target" ] && [ "$b" -lt $((batches - 1)) ]; do
        sleep 1
    done
done
wait_delivered "$MESSAGES" 120
elapsed=$((SECONDS - started))
mock_snapshot
requests=$(snap_stat token_requests.by_outcome.ok)
bound=$((elapsed * 2 / LIFETIME + 2))
diag "delivered $(delivered_count)/$MESSAGES over ${elapsed}s; mock token requests: $requests (at $(snap_stat token_requests.ok_times) s), introspections: $(snap_stat introspections.ok)"
check_num "sender's smtpd accepted every message" "$sent" -eq "$MESSAGES"
check_num "every message was delivered" "$(delivered_count)" -eq "$MESSAGES"
check_num "sender deferred nothing" "$(deferral_count)" -eq 0
check_num "each delivery authenticated (introspections ok)" "$(snap_stat introspections.ok)" -ge "$MESSAGES"
check_num "no expired or unknown token reached the receiver" "$(snap_stat introspections.failed)" -eq 0
check_num "token requests: no more than one per refresh interval (+2)" "$requests" -le "$bound"
check_num "token requests: at least one" "$requests" -ge 1
check_num "sender's queue is empty" "$(queue_size)" -eq 0
done_testing
