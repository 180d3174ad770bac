#!/bin/bash
# relay-long-tokens.sh - Postfix relays through the plugin with access
# tokens of 8,000 and 16,000 characters
#
# Entra's tokens grow with the tenant's claims; some are over 4,096
# characters. The plugin, the daemon and the socket protocol take up to
# PROTOCOL_MAX_TOKEN (16,384) characters. Stock chrooted smtp(8),
# smtp_sasl_mechanism_filter = xoauth2, the plugin sends the response
# after the server's 334; the receiver's Dovecot checks every token at the
# mock. For each length: a grant imported while the mock issues tokens of
# that length (the daemon drops the old token when the grant changes),
# then N messages, all delivered, each AUTH verified, none deferred.
. "$(dirname "$0")/lib.sh"
need_env
setup
need_product
N=${RELAY_MESSAGES:-2}
LENGTHS=${RELAY_TOKEN_LENGTHS:-8000 16000}

start_mock
start_receiver
# The test receiver's own limits, not the product's: Postfix smtpd reads a
# SASL response of at most smtpd_sasl_response_limit bytes (12,288 by
# default; a 16,000-character token is about 21,400 in base64), and
# passes it to Dovecot's auth service in one line.
postconf -c "$RECEIVER_DIR/conf" -e "smtpd_sasl_response_limit = 65536"
postfix -c "$RECEIVER_DIR/conf" reload >>"$T/logs/receiver-postfix.log" 2>&1 || bail "receiver reload failed"
prepare_sender
mockctl settings --token-length "${LENGTHS%% *}" >/dev/null || bail "mock settings failed"
start_helper
start_sender xoauth2
diag "receiver :$RECEIVER_PORT, sender :$SENDER_PORT, mock $MOCK_URL"

delivered=0
for len in $LENGTHS; do
    mockctl settings --token-length "$len" >/dev/null || bail "mock settings failed"
    import_grant "$ALICE" || bail "helper import failed (see logs/helper-cli.log)"
    got=$(helper token "$ALICE" 2>>"$T/logs/helper-cli.log" | tr -d '\n' | wc -c)
    check_num "the daemon serves a $len-character token" "$got" -eq "$len"
    before_ok=$(mock_stat introspections.ok)
    sent=$(inject "$N")
    check_num "$len: sender's smtpd accepted the messages" "${sent:-0}" -eq "$N"
    delivered=$((delivered + N))
    wait_delivered "$delivered" 60
    check_num "$len: every message delivered at the receiver" "$(delivered_count)" -eq "$delivered"
    check_num "$len: Dovecot verified each token at the mock" \
        "$(($(mock_stat introspections.ok) - before_ok))" -ge "$N"
done
check_num "receiver logged AUTH XOAUTH2 as $ALICE for each message" \
    "$(receiver_log | grep -c "sasl_method=XOAUTH2, sasl_username=$ALICE")" -eq "$delivered"
check_num "no introspection failed" "$(mock_stat introspections.failed)" -eq 0
check_num "sender deferred nothing" "$(deferral_count)" -eq 0
check_num "sender bounced nothing" "$(bounce_count)" -eq 0
check_num "sender's queue is empty" "$(queue_size)" -eq 0
done_testing
