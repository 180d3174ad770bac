#!/bin/bash
# shared-mailbox-delegate.sh - a shared mailbox sent as by a delegate
#
# conf/postfix/main.cf.sender-dependent with sasl_passwd.shared-mailbox:
# mail from shared@ logs in as shared@ with alice's token (password field
# account=alice@...), alice's own mail logs in as alice. The helper knows
# only alice's account. The receiver accepts a login as the shared mailbox
# only with the token of one of its delegates (a second Dovecot passdb
# asking the mock's send-as check, mockctl delegate), as Exchange does.
# Then, straight at the receiver: alice's token cannot log in as a mailbox
# she is no delegate of, and the shared mailbox's login with it works.
. "$(dirname "$0")/lib.sh"
need_env
setup
need_product
N=${SHARED_MESSAGES:-3}
SHARED=shared@contoso.test
OTHER=other@contoso.test

start_mock
mockctl delegate --user "$ALICE" --mailbox "$SHARED" >/dev/null || bail "mockctl delegate failed"
RECEIVER_SHARED_MAILBOXES="$SHARED $OTHER" start_receiver
prepare_sender
start_helper "$ALICE"
start_sender xoauth2
sender_use_example main.cf.sender-dependent sasl_passwd.shared-mailbox sender_relay
diag "receiver :$RECEIVER_PORT, sender :$SENDER_PORT, mock $MOCK_URL"
check_num "the helper has no account for the shared mailbox" \
    "$(grep -c "^\[account $SHARED\]" "$HELPER_CONF")" -eq 0

for _ in $(seq 1 "$N"); do
    inject 1 0 "$SHARED" >/dev/null
    inject 1 0 "$ALICE" >/dev/null
done
wait_delivered $((2 * N)) 90
check_num "every message delivered" "$(delivered_count)" -eq $((2 * N))
check_num "the shared mailbox's mail authenticated as the shared mailbox" \
    "$(sent_as "$SHARED" "$SHARED")" -eq "$N"
check_num "alice's own mail authenticated as alice" "$(sent_as "$ALICE" "$ALICE")" -eq "$N"
diag "envelope sender / authenticated sender: $(sink_senders | tr '\n' ';')"
check_num "receiver logged XOAUTH2 logins as the shared mailbox" \
    "$(receiver_log | grep -c "sasl_method=XOAUTH2, sasl_username=$SHARED")" -eq "$N"
mock_snapshot
check_num "each shared-mailbox login passed the send-as check with alice's token" \
    "$(snap_by_user delegated_introspections "$ALICE")" -ge "$N"
check_num "every token the receiver saw was alice's" \
    "$(snap_by_user introspections "$ALICE")" -eq "$(snap_stat introspections.total)"
check_num "the mock issued tokens to alice only" \
    "$(snap_stat token_requests.by_outcome.ok)" -eq "$(snap_by_user token_requests "$ALICE")"
check_num "sender deferred nothing" "$(deferral_count)" -eq 0
check_num "sender's queue is empty" "$(queue_size)" -eq 0

# The receiver really checks delegation: alice's token as a mailbox she
# may not send as is refused; as the shared mailbox it is accepted.
check_num "alice's token logging in as $OTHER (not a delegate): refused" \
    "$(helper token "$ALICE" 2>>"$T/logs/helper-cli.log" | probe_auth XOAUTH2 "$OTHER")" -eq 535
check_num "alice's token logging in as $SHARED: accepted" \
    "$(helper token "$ALICE" 2>>"$T/logs/helper-cli.log" | probe_auth XOAUTH2 "$SHARED")" -eq 235
done_testing
