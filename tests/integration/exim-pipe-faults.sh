#!/bin/bash
# exim-pipe-faults.sh - Exim 4.96 with conf/exim/xoauth2-pipe.conf as
# shipped when the relay fails: each failure deferred or bounced with a
# reason, nothing lost, nothing delivered twice, nothing frozen
#
# The relay is faultsmtp.py (STARTTLS, AUTH XOAUTH2 verified at the mock,
# faults on demand, a record of every message it answered 250 to); the
# helper's account sends to it (relay, relay_ca_file). One message at a
# time, each delivered by "exim -qff":
#   550 to one of two recipients: that one bounced with the relay's text
#     (mainlog and the bounce, which goes out through the same pipe with
#     the null sender), the other delivered once (batch_max = 1);
#   451 to RCPT: deferred with the relay's text, then delivered once;
#   the connection dropped in the middle of DATA, and after the whole
#     message without a reply: deferred, then exactly one copy;
#   a relay certificate the account's relay_ca_file does not trust:
#     deferred, nothing sent, then delivered once the file is right;
#   a token of 16,384 characters, the helper's limit: delivered once, the
#     relay verified it (Dovecot, the usual receiver, cannot take it).
. "$(dirname "$0")/lib.sh"
need_env
setup
need_product
need_exim

start_mock
start_faultsmtp
EXIM_RELAY_PORT=$FAULT_PORT
exim_prepare
exim_use_example xoauth2-pipe.conf
check_num "in the example's settings only the command line changed (helper's path, account)" \
    "$(grep '^> ' "$T/logs/exim-example.diff" | grep -c -v '^> #')" -eq 1
diag "relay faultsmtp.py :$FAULT_PORT, mock $MOCK_URL"
# Bounces go to the sender; at example.net they go out through the pipe too.
EXIM_SENDER=sender@example.net

# faults SPEC... - the relay's faults from now on (none: no arguments)
faults() {
    printf '%s\n' "$@" >"$FAULT_FILE"
}

# accepted TAG - how many copies of message TAG the relay answered 250 to
# (its Subject in the header, not quoted in a bounce)
accepted() {
    local f n=0
    for f in "$FAULT_DIR"/accepted/*.eml; do
        [ -f "$f" ] || continue
        tr -d '\r' <"$f" | sed '/^$/q' | grep -q -x "Subject: $TEST_NAME message $1" && n=$((n + 1))
    done
    echo "$n"
}

# _token_length_is LEN - the daemon serves a token of LEN characters now
_token_length_is() {
    [ "$(helper token "$ALICE" 2>>"$T/logs/helper-cli.log" | tr -d '\n' | wc -c)" -eq "$1" ]
}

# ---- 550 for one recipient of two ----------------------------------------
faults "rcpt=refused@example.net:550 5.7.60 SendAsDenied; sender not allowed to send as this mailbox"
exim_submit refuse550 ok@example.net refused@example.net || diag "exim refused message refuse550"
check_num "550: the other recipient delivered once" "$(accepted refuse550)" -eq 1
check_num "550: the refused recipient bounced" \
    "$(exim_log | grep ' \*\* refused@example.net' | grep -c 'R=office365_relay T=office365_pipe')" -eq 1
check_num "550: mainlog has the relay's reply" \
    "$(exim_log | grep -c 'said: 550 5.7.60 SendAsDenied')" -ge 1
faults
exim -qff >>"$T/logs/exim-cli.log" 2>&1
bounce=$(grep -l '^Subject: Mail delivery failed: returning message to sender' "$FAULT_DIR"/accepted/*.eml 2>/dev/null | head -n 1)
check "550: the bounce reached the sender through the relay" test -n "$bounce"
check_num "550: the bounce carries the relay's reply" \
    "$(grep -c '550 5.7.60 SendAsDenied' "$bounce" 2>/dev/null)" -ge 1
check "550: the bounce went out with the null sender (MAIL FROM:<>)" \
    grep -q '"mail_from": ""' "${bounce%.eml}.json"
check_num "550: Exim's queue is empty" "$(exim_queue)" -eq 0

# ---- 451 to RCPT ---------------------------------------------------------
deferred=$(exim_count deferred)
faults "rcpt:451 4.3.0 Try again later"
exim_submit temp451 || diag "exim refused message temp451"
check_num "451: deferred" "$(exim_count deferred)" -eq $((deferred + 1))
check_num "451: mainlog has the relay's reply" "$(exim_log | grep -c 'said: 451 4.3.0 Try again later')" -ge 1
check_num "451: not sent" "$(accepted temp451)" -eq 0
check_num "451: in the queue" "$(exim_queue)" -eq 1
faults
exim -qff >>"$T/logs/exim-cli.log" 2>&1
check_num "451, then a queue run: delivered once" "$(accepted temp451)" -eq 1

# ---- the connection dropped during DATA, and after it ---------------------
for step in data eod; do
    deferred=$(exim_count deferred)
    faults "$step:drop"
    exim_submit "drop-$step" || diag "exim refused message drop-$step"
    check_num "dropped at $step: deferred" "$(exim_count deferred)" -eq $((deferred + 1))
    check_num "dropped at $step: in the queue, not frozen" "$(exim_queue)$(exim_queue_frozen)" -eq 10
    faults
    exim -qff >>"$T/logs/exim-cli.log" 2>&1
    check_num "dropped at $step, then a queue run: exactly one copy accepted" "$(accepted "drop-$step")" -eq 1
done

# ---- a certificate the account does not trust ----------------------------
sh "$MOCKDIR/make-ca.sh" "$T/ca-other" >>"$T/logs/openssl.log" 2>&1 || bail "cannot make a second CA"
sed -i "s|^relay_ca_file = .*|relay_ca_file = $T/ca-other/ca.pem|" "$HELPER_CONF"
deferred=$(exim_count deferred)
exim_submit untrusted || diag "exim refused message untrusted"
check_num "untrusted certificate: deferred" "$(exim_count deferred)" -eq $((deferred + 1))
check_num "untrusted certificate: mainlog says so" \
    "$(exim_log | grep -c 'office365_pipe transport output: .*certificate is not trusted')" -ge 1
check_num "untrusted certificate: not sent" "$(accepted untrusted)" -eq 0
sed -i "s|^relay_ca_file = .*|relay_ca_file = $CA|" "$HELPER_CONF"
exim -qff >>"$T/logs/exim-cli.log" 2>&1
check_num "the right CA file, then a queue run: delivered once" "$(accepted untrusted)" -eq 1

# ---- a token of the largest length the helper takes ----------------------
mockctl settings --token-length 16384 >/dev/null || bail "mock settings failed"
import_grant "$ALICE" || bail "helper import failed (see logs/helper-cli.log)"
wait_until 20 _token_length_is 16384
exim_submit longest || diag "exim refused message longest"
check_num "a 16,384-character token: delivered once" "$(accepted longest)" -eq 1
check_num "a 16,384-character token: verified at the mock, sent after the 334" \
    "$(grep -c '"auth_initial_response": false.*"token_length": 16384, .*"auth": "ok"' "$FAULT_DIR/sessions.log")" -eq 1

check_num "nothing frozen (mainlog)" "$(exim_count frozen)" -eq 0
check_num "only the 550 bounced" "$(exim_count bounced)" -eq 1
check_num "Exim's queue is empty" "$(exim_queue)" -eq 0
check_num "every message the relay took was authenticated by a verified token" \
    "$(mock_stat introspections.failed)" -eq 0
done_testing
