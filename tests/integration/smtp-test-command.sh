#!/bin/bash
# smtp-test-command.sh - "oauth2-token-helper test" against the real
# verifying server: STARTTLS, AUTH XOAUTH2, a test message delivered; and a
# refused login explained, without the token ever being shown.
. "$(dirname "$0")/lib.sh"
need_env
setup
need_product
BOB=bob@contoso.test

start_mock
start_receiver
prepare_sender
# bob's section claims a login the token does not belong to: Dovecot's
# introspection check refuses it, as Exchange would.
start_helper "$ALICE" "$BOB"
sed -i "/^\[account $BOB\]/,/^login/ s/^login = .*/login = mallory@contoso.test/" "$HELPER_CONF"
kill -HUP "$HELPER_PID"
sleep 0.5

out=$T/logs/test-ok.log
helper test "$ALICE" --smtp "127.0.0.1:$RECEIVER_PORT" --to "$RCPT" --cafile "$CA" >"$out" 2>&1
check_num "test with --to exits 0" "$?" -eq 0
check "it says the message was accepted" grep -q "result: test message accepted as $ALICE" "$out"
check "it went through STARTTLS" grep -q -- "-> STARTTLS" "$out"
check "AUTH is shown without its token" grep -q -- "-> AUTH XOAUTH2 (token hidden)" "$out"
check "the server's 235 is shown" grep -q -- "<- 235" "$out"
wait_until 30 _delivered_at_least 1
check_num "the test message reached the sink" "$(delivered_count)" -ge 1

out=$T/logs/test-login.log
helper test "$ALICE" --smtp "127.0.0.1:$RECEIVER_PORT" --cafile "$CA" >"$out" 2>&1
check_num "test without --to (log in only) exits 0" "$?" -eq 0
check "it says it logged in" grep -q "result: logged in with XOAUTH2 as $ALICE" "$out"

out=$T/logs/test-refused.log
helper test "$BOB" --smtp "127.0.0.1:$RECEIVER_PORT" --cafile "$CA" >"$out" 2>&1
rc=$?
check_num "a refused login (5xx) needs a person: exit 69" "$rc" -eq 69
check "the failure names the step" grep -q "result: FAILED before or while logging in" "$out"
check "the last reply is shown" grep -qE "^last reply: (535|334)" "$out"
check "and explained" grep -q "^meaning: .*refused" "$out"

out=$T/logs/test-badtls.log
helper test "$ALICE" --smtp "127.0.0.1:$RECEIVER_PORT" >"$out" 2>&1
check_num "an untrusted server certificate needs a person: exit 69" "$?" -eq 69

done_testing
