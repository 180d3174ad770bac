#!/bin/bash
# exim-pipe-sendmail.sh - Exim 4.96 relays through conf/exim/xoauth2-pipe.conf
# ("oauth2-token-helper sendmail" in a pipe transport) with tokens of any length
#
# The example as shipped, only the helper's path (and -c with this test's
# config) and the account replaced; the helper's account has relay = the
# receiver and relay_ca_file = the test CA. Exim runs the helper as
# Debian-exim, which the daemon's socket admits.
#
# 1. Tokens of 2,000, 4,500 and 10,000 characters (Exim's own smtp
#    transport cannot send the last two: see exim-plaintext-guard.sh), one
#    message each: every one delivered once through the receiver, whose
#    Dovecot verified the token at the mock; the body's lone "." line
#    arrives; nothing deferred, bounced or frozen.
# 2. The daemon stopped: two messages deferred with the helper's reason in
#    mainlog, not bounced, not frozen, nothing sent; the daemon back,
#    "exim -qff" delivers each exactly once.
. "$(dirname "$0")/lib.sh"
need_env
setup
need_product
need_exim

start_mock
start_receiver
exim_prepare
exim_use_example xoauth2-pipe.conf
check_num "in the example's settings only the command line changed (helper's path, account)" \
    "$(grep '^> ' "$T/logs/exim-example.diff" | grep -c -v '^> #')" -eq 1
grep -q -- "-c $HELPER_CONF sendmail --account $ALICE " "$EXIM_CONF" || bail "could not adapt xoauth2-pipe.conf"
diag "receiver :$RECEIVER_PORT, mock $MOCK_URL"
sed -n '/^office365_pipe:$/,$p' "$top_srcdir/conf/exim/xoauth2-pipe.conf" | sed '/^$/,$d' >"$T/example-transport.txt"
readme_section_blocks '### Exim' | awk '/^----$/ { if (on) exit; next } /^office365_pipe:$/ { on = 1 } on' >"$T/readme-transport.txt"
check "README's Exim pipe transport is the example's, word for word" \
    diff "$T/example-transport.txt" "$T/readme-transport.txt"

# with_token_length N - the daemon's next token has N characters
with_token_length() {
    mockctl settings --token-length "$1" >/dev/null || bail "mock settings failed"
    import_grant "$ALICE" || bail "helper import failed (see logs/helper-cli.log)"
}

# copies TAG - how many messages with subject TAG the receiver holds
copies() {
    grep -l -x "Subject: $TEST_NAME message $1" "$SINK"/inbox/new/* 2>/dev/null | wc -l
}

# ---- 1. token lengths ----------------------------------------------------
n=0
for len in 2000 4500 10000; do
    with_token_length "$len"
    before=$(mock_stat introspections.ok)
    exim_submit "token-$len" || diag "exim refused message token-$len"
    n=$((n + 1))
    wait_delivered "$n" 30
    check_num "token of $len characters: delivered, one copy" "$(copies "token-$len")" -eq 1
    check_num "token of $len characters: Dovecot verified it at the mock" \
        "$(($(mock_stat introspections.ok) - before))" -ge 1
done
check_num "Exim logged each delivery through the pipe transport" \
    "$(exim_log | grep ' => ' | grep -c 'R=office365_relay T=office365_pipe')" -eq 3
check_num "the receiver logged AUTH XOAUTH2 as $ALICE for each" \
    "$(receiver_log | grep -c "sasl_method=XOAUTH2, sasl_username=$ALICE")" -eq 3
check_num "the body's lone '.' line arrived in each" \
    "$(grep -l -x '\.' "$SINK"/inbox/new/* 2>/dev/null | wc -l)" -eq 3
check_num "delivered with the envelope sender Exim had" \
    "$(grep -l -x "Return-Path: <$EXIM_SENDER>" "$SINK"/inbox/new/* 2>/dev/null | wc -l)" -eq 3
check_num "nothing deferred" "$(exim_count deferred)" -eq 0
check_num "nothing bounced" "$(exim_count bounced)" -eq 0
check_num "nothing frozen" "$(exim_count frozen)" -eq 0
check_num "Exim's queue is empty" "$(exim_queue)" -eq 0

# ---- 2. the daemon stopped, then back ------------------------------------
stop_helper
logins=$(receiver_log | grep -c 'sasl_username=')
for i in 1 2; do
    exim_submit "outage-$i" || diag "exim refused message outage-$i"
done
check_num "daemon stopped: both messages deferred" "$(exim_count deferred)" -ge 2
check_num "each deferral says the helper's exit status 75" \
    "$(exim_log | grep ' == ' | grep -c 'office365_pipe transport returned 75')" -ge 2
check_num "and why (the helper's message in mainlog)" \
    "$(exim_log | grep -c 'office365_pipe transport output: .*the token daemon is not running')" -ge 2
diag "deferral: $(exim_log | grep -m 1 'transport output: ' | cut -c1-300)"
check_num "nothing bounced" "$(exim_count bounced)" -eq 0
check_num "nothing frozen (exim -bp)" "$(exim_queue_frozen)" -eq 0
check_num "both in the queue" "$(exim_queue)" -eq 2
check_num "no login reached the receiver" "$(receiver_log | grep -c 'sasl_username=')" -eq "$logins"
run_helper
exim -qff >>"$T/logs/exim-cli.log" 2>&1
wait_delivered $((n + 2)) 30
for i in 1 2; do
    check_num "daemon back, exim -qff: outage-$i delivered once" "$(copies "outage-$i")" -eq 1
done
check_num "Exim's queue is empty" "$(exim_queue)" -eq 0
check_num "nothing bounced" "$(exim_count bounced)" -eq 0
check_num "nothing frozen" "$(exim_count frozen)" -eq 0
check_num "no expired or unknown token reached the receiver" "$(mock_stat introspections.failed)" -eq 0
done_testing
