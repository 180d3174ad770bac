#!/bin/bash
# relay-long-tokens.sh - Postfix relays through the plugin with access
# tokens of 8,000, 16,000 and 16,384 characters (the limit)
#
# Entra's tokens grow with the tenant's claims; some are over 4,096
# characters. The daemon, the socket protocol and the plugin take up to
# PROTOCOL_MAX_TOKEN (16,384) characters. Stock chrooted smtp(8),
# smtp_sasl_mechanism_filter = xoauth2; the plugin sends the response
# after the server's 334. For each length: a grant imported while the
# mock issues tokens of that length (the daemon drops the old token when
# the grant changes), the daemon serves it whole, N messages delivered,
# each AUTH's token verified at the mock, nothing deferred.
#
# 8,000: through the usual receiver, Postfix smtpd + Dovecot. Dovecot's
# auth protocol takes lines of at most 16,384 bytes (compiled in:
# AUTH_CLIENT_MAX_LINE_LENGTH), so it verifies tokens of up to about
# 12,200 characters and drops the connection for longer ones ("Auth client
# sent us more than 16384 bytes"): a limit of the test receiver, not of
# Postfix or the plugin. 16,000 and 16,384: the relay is faultsmtp.py
# (STARTTLS, AUTH XOAUTH2 with each token verified at the mock's
# introspection, the response read after the 334).
. "$(dirname "$0")/lib.sh"
need_env
setup
need_product
N=${RELAY_MESSAGES:-2}

start_mock
start_receiver
start_faultsmtp
prepare_sender
mockctl settings --token-length 8000 >/dev/null || bail "mock settings failed"
start_helper
start_sender xoauth2
diag "receiver :$RECEIVER_PORT, faultsmtp.py :$FAULT_PORT, sender :$SENDER_PORT, mock $MOCK_URL"

# with_token_length LEN - the daemon's next token has LEN characters
with_token_length() {
    local got
    mockctl settings --token-length "$1" >/dev/null || bail "mock settings failed"
    import_grant "$ALICE" || bail "helper import failed (see logs/helper-cli.log)"
    # The daemon answers with the old token until the new grant's arrives.
    wait_until 20 _token_length_is "$1"
    got=$(helper token "$ALICE" 2>>"$T/logs/helper-cli.log" | tr -d '\n' | wc -c)
    check_num "the daemon serves a token of $1 characters, whole" "$got" -eq "$1"
}
_relay_accepted_at_least() {
    [ "$(faultsmtp_accepted)" -ge "$1" ]
}
_token_length_is() {
    [ "$(helper token "$ALICE" 2>>"$T/logs/helper-cli.log" | tr -d '\n' | wc -c)" -eq "$1" ]
}

# ---- 8,000 through Postfix smtpd + Dovecot -------------------------------
with_token_length 8000
sent=$(inject "$N")
check_num "8000: sender's smtpd accepted the messages" "${sent:-0}" -eq "$N"
wait_delivered "$N" 60
check_num "8000: every message delivered at the receiver" "$(delivered_count)" -eq "$N"
check_num "8000: receiver logged AUTH XOAUTH2 as $ALICE for each" \
    "$(receiver_log | grep -c "sasl_method=XOAUTH2, sasl_username=$ALICE")" -eq "$N"
check_num "8000: Dovecot verified each token at the mock" "$(mock_stat introspections.ok)" -ge "$N"

# ---- 16,000 and 16,384 through faultsmtp.py ------------------------------
echo "[127.0.0.1]:$FAULT_PORT $ALICE:unused" >>"$SENDER_DIR/conf/sasl_passwd"
postconf -c "$SENDER_DIR/conf" -e "relayhost = [127.0.0.1]:$FAULT_PORT"
postfix -c "$SENDER_DIR/conf" reload >>"$T/logs/sender-postfix.log" 2>&1 || bail "sender reload failed"
sleep 1
total=0
for len in 16000 16384; do
    with_token_length "$len"
    sent=$(inject "$N")
    check_num "$len: sender's smtpd accepted the messages" "${sent:-0}" -eq "$N"
    total=$((total + N))
    wait_until 60 _relay_accepted_at_least "$total"
    check_num "$len: every message accepted by the relay" "$(faultsmtp_accepted)" -eq "$total"
    check_num "$len: each AUTH verified at the mock, token of $len characters, after the 334" \
        "$(grep -c "\"auth_initial_response\": false.*\"token_length\": $len, .*\"auth\": \"ok\"" "$FAULT_DIR/sessions.log")" -ge "$N"
done
check_num "no introspection failed" "$(mock_stat introspections.failed)" -eq 0
check_num "sender deferred nothing" "$(deferral_count)" -eq 0
check_num "sender bounced nothing" "$(bounce_count)" -eq 0
check_num "sender's queue is empty" "$(queue_size)" -eq 0
done_testing
