#!/bin/bash
# sender-dependent-accounts.sh - one relay, a different account per sender
#
# The sender runs conf/postfix/main.cf.sender-dependent with
# sasl_passwd.sender-dependent and sender_relay (contoso.com made
# contoso.test, the relay the receiver): smtp_sender_dependent_authentication
# and sender_dependent_relayhost_maps. Mail from alice must log in as alice
# with alice's token, mail from bob as bob with bob's: the receiver's
# "Authenticated sender" of each message must equal its envelope sender,
# and the mock must have verified tokens of both users. relayhost is then
# pointed at a closed port: the messages can only leave through
# sender_relay.
. "$(dirname "$0")/lib.sh"
need_env
setup
need_product
N=${SENDER_DEPENDENT_MESSAGES:-3}
BOB=bob@contoso.test

start_mock
start_receiver
prepare_sender
start_helper "$ALICE" "$BOB"
start_sender xoauth2
sender_use_example main.cf.sender-dependent sasl_passwd.sender-dependent sender_relay
# Proof that sender_relay routes alice's and bob's mail: relayhost itself
# now leads nowhere (connection refused), so only the map can get it out.
postconf -c "$SENDER_DIR/conf" -e "relayhost = [127.0.0.1]:1"
postfix -c "$SENDER_DIR/conf" reload >>"$T/logs/sender-postfix.log" 2>&1
sleep 1
diag "receiver :$RECEIVER_PORT, sender :$SENDER_PORT, mock $MOCK_URL"
check_num "sender_dependent_relayhost_maps and smtp_sender_dependent_authentication are on" \
    "$(postconf -c "$SENDER_DIR/conf" -h smtp_sender_dependent_authentication sender_dependent_relayhost_maps |
        grep -c -E '^yes$|sender_relay$')" -eq 2

# Interleaved, so that a login reused across senders would show.
for _ in $(seq 1 "$N"); do
    inject 1 0 "$ALICE" >/dev/null
    inject 1 0 "$BOB" >/dev/null
done
wait_delivered $((2 * N)) 90
check_num "every message delivered" "$(delivered_count)" -eq $((2 * N))
check_num "alice's mail authenticated as alice" "$(sent_as "$ALICE" "$ALICE")" -eq "$N"
check_num "bob's mail authenticated as bob" "$(sent_as "$BOB" "$BOB")" -eq "$N"
diag "envelope sender / authenticated sender: $(sink_senders | tr '\n' ';')"
check_num "receiver logged XOAUTH2 logins as alice" \
    "$(receiver_log | grep -c "sasl_method=XOAUTH2, sasl_username=$ALICE")" -eq "$N"
check_num "receiver logged XOAUTH2 logins as bob" \
    "$(receiver_log | grep -c "sasl_method=XOAUTH2, sasl_username=$BOB")" -eq "$N"
mock_snapshot
check_num "the mock verified alice's tokens" "$(snap_by_user introspections "$ALICE")" -ge "$N"
check_num "the mock verified bob's tokens" "$(snap_by_user introspections "$BOB")" -ge "$N"
check_num "no token refused" "$(snap_stat introspections.failed)" -eq 0
check_num "the daemon refreshed alice's token" "$(snap_by_user token_requests "$ALICE")" -ge 1
check_num "the daemon refreshed bob's token" "$(snap_by_user token_requests "$BOB")" -ge 1
check_num "sender deferred nothing" "$(deferral_count)" -eq 0
check_num "sender's queue is empty" "$(queue_size)" -eq 0
done_testing
