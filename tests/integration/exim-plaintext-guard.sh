#!/bin/bash
# exim-plaintext-guard.sh - the plaintext recipe of
# conf/exim/xoauth2-smarthost.conf defers a token too long for Exim,
# never freezes the message
#
# Exim 4.96's smtp transport writes each SMTP command through a 4,096-byte
# buffer (smtp_out.c, smtp_write_command); a longer one ends the delivery
# process with "overlong write_command in outgoing SMTP", a panic that
# freezes the message. The XOAUTH2 response, "user=LOGIN^Aauth=Bearer
# TOKEN^A^A" base64-encoded plus CRLF, fits while login and token are at
# most 3,049 characters together. The recipe's guard makes the expansion
# fail above that, with a reason; the transport defers.
#
# The snippet as shipped (host, port, paths, account, CA replaced; the
# receiver also on 127.0.0.2 so no line is added), alice's login being 18
# characters. Token lengths, each a fresh grant at the mock, one message:
#   2,000 and 3,031 (the largest that fits): delivered, verified;
#   3,032 and 4,500: deferred with the guard's reason in mainlog, not
#   frozen, not bounced, nothing sent to the receiver; then, with tokens
#   of 2,000 again, a queue run delivers both.
. "$(dirname "$0")/lib.sh"
need_env
setup
need_product
need_exim

start_mock
start_receiver
receiver_also_on 127.0.0.2
exim_prepare
exim_use_example xoauth2-smarthost.conf
check_num "only the helper's path, the account, host, port and CA changed in the snippet (lines)" \
    "$(grep -c '^> ' "$T/logs/exim-example.diff")" -le 8
diag "receiver 127.0.0.2:$RECEIVER_PORT, mock $MOCK_URL"

# with_token_length N - the daemon's next token has N characters
with_token_length() {
    mockctl settings --token-length "$1" >/dev/null || bail "mock settings failed"
    import_grant "$ALICE" || bail "helper import failed (see logs/helper-cli.log)"
}

delivered=0
for len in 2000 3031; do
    with_token_length "$len"
    exim_submit "token-$len" || diag "exim refused message token-$len"
    delivered=$((delivered + 1))
    wait_delivered "$delivered" 20
    check_num "token of $len characters: delivered at the receiver" "$(delivered_count)" -eq "$delivered"
done
check_num "Exim logged each: certificate verified, authenticated by xoauth2" \
    "$(exim_log | grep ' => ' | grep -c ' CV=yes A=xoauth2 ')" -eq 2
check_num "the receiver logged AUTH XOAUTH2 as $ALICE for each" \
    "$(receiver_log | grep -c "sasl_method=XOAUTH2, sasl_username=$ALICE")" -eq 2

logins=$(receiver_log | grep -c 'sasl_username=')
# (The queue run for the second message retries the first as well.)
for len in 3032 4500; do
    with_token_length "$len"
    exim_submit "token-$len" || diag "exim refused message token-$len"
    check_num "token of $len characters: deferred with the guard's reason in mainlog" \
        "$(exim_log | grep ' == ' | grep -c "access token of $len characters too long for Exim's 4096-byte SMTP command buffer")" -ge 1
done
check_num "every deferral gives the guard's reason" \
    "$(exim_log | grep ' == ' | grep -c -v "characters too long for Exim's 4096-byte SMTP command buffer")" -eq 0
diag "deferral: $(exim_log | grep -m 1 ' == ' | sed 's/.*unrecognised boolean value //' | cut -c1-300)"
check_num "nothing frozen (mainlog)" "$(exim_count frozen)" -eq 0
check_num "nothing frozen (exim -bp)" "$(exim_queue_frozen)" -eq 0
check_num "no panic (overlong write_command)" "$(cat "$T"/logs/exim/paniclog 2>/dev/null | wc -l)" -eq 0
check_num "nothing bounced" "$(exim_count bounced)" -eq 0
check_num "the two messages stay in the queue" "$(exim_queue)" -eq 2
check_num "no login reached the receiver with the long tokens" \
    "$(receiver_log | grep -c 'sasl_username=')" -eq "$logins"
check_num "nothing more delivered" "$(delivered_count)" -eq "$delivered"

with_token_length 2000
exim -qff >>"$T/logs/exim-cli.log" 2>&1
wait_delivered $((delivered + 2)) 30
check_num "shorter tokens again, exim -qff: both delivered" "$(delivered_count)" -eq $((delivered + 2))
check_num "Exim's queue is empty" "$(exim_queue)" -eq 0
check_num "Dovecot verified each token at the mock" "$(mock_stat introspections.ok)" -ge 4
check_num "no expired or unknown token reached the receiver" "$(mock_stat introspections.failed)" -eq 0
done_testing
