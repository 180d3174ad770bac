#!/bin/bash
# exim-relay-xoauth2.sh - Exim 4.96 relays with AUTH XOAUTH2 through the helper
#
# The real Exim (Debian's exim4-daemon-light, unpacked by fetch-exim.sh
# because it conflicts with the postfix package) runs with its own
# configuration: a test main section plus conf/exim/xoauth2-smarthost.conf
# with only the relay's address, the helper's path and config, and the
# test CA put in. Exim's user (Debian-exim) runs "oauth2-token-helper
# token" from the authenticator and gets the token from the daemon.
#
# 1. Tokens of 2,500 characters (Entra's longest) live EXIM_LIFETIME
#    seconds (default 30); one message every EXIM_INTERVAL seconds
#    (default 5) for at least one and a half lifetimes: every message
#    delivered, authenticated as alice by a token the receiver's Dovecot
#    verified, nothing deferred, tokens refreshed. The receiver's smtpd
#    reads command lines of at most 2,048 bytes (line_length_limit), so
#    only the two-step AUTH of the snippet gets through.
# 2. The daemon stopped: Exim defers (4xx, not a bounce), the messages stay
#    in its queue and mainlog says why (the helper's message).
# 3. The daemon back, "exim -qff": everything delivered, queue empty.
. "$(dirname "$0")/lib.sh"
need_env
setup
need_product
LIFETIME=${EXIM_LIFETIME:-30}
INTERVAL=${EXIM_INTERVAL:-5}
RUNTIME=${EXIM_RUNTIME:-$((LIFETIME * 3 / 2 + 1))}
OUTAGE_MESSAGES=2
SNIPPET=$top_srcdir/conf/exim/xoauth2-smarthost.conf

need_exim

# Exim runs the helper as Debian-exim, which may not reach the build tree
# (a clone under a 0700 directory): run a copy from the test's own dir.
mkdir -p "$T/bin"
install -m 0755 "$HELPER_BIN" "$T/bin/oauth2-token-helper" || bail "cannot copy $HELPER_BIN"
EXIM_HELPER_BIN=$T/bin/oauth2-token-helper

start_mock
mockctl settings --lifetime "$LIFETIME" --token-length 2500 >/dev/null || bail "mock settings failed"
start_receiver

# The helper, set up for Exim as the snippet says: a socket Debian-exim can
# reach, Debian-exim allowed, the config readable by it.
EXIM_DIR=$T/exim
mkdir -p "$EXIM_DIR/run" "$EXIM_DIR/spool" "$T/logs/exim"
chown Debian-exim:Debian-exim "$T/logs/exim"
chown root:Debian-exim "$EXIM_DIR/run"
chmod 0750 "$EXIM_DIR/run"
chown Debian-exim:Debian-exim "$EXIM_DIR/spool"
chmod 0750 "$EXIM_DIR/spool"
HELPER_SOCKET=$EXIM_DIR/run/oauth2-token-helper
HELPER_ALLOW_USERS="Debian-exim root"
HELPER_SOCKET_GROUP=Debian-exim
write_helper_config
# No secret in it: 0644, so that Debian-exim and the daemon's user (oauth2-helper,
# where it exists) both read it.
chmod 0644 "$HELPER_CONF"
helper config-check >>"$T/logs/helper-cli.log" 2>&1 || bail "helper config-check failed (see logs/helper-cli.log)"
import_grant "$ALICE" || bail "helper import failed (see logs/helper-cli.log)"
started=$SECONDS
run_helper

# Exim's configuration: the test's main section, then the snippet as an
# admin would paste it, with this test's relay, helper and CA. Test-only
# additions: "self = send" and allow_localhost (the relay is on loopback),
# and one message per connection (a second message down the same
# connection would make Exim re-execute itself as Debian-exim with -C).
EXIM_CONF=$EXIM_DIR/exim.conf
{
    exim_main_section
    sed -e "s|/usr/sbin/oauth2-token-helper token|$EXIM_HELPER_BIN -c $HELPER_CONF token|" \
        -e "s|relay@contoso\\.com|$ALICE|g" \
        -e "s|smtp\\.office365\\.com byname|127.0.0.1|" \
        -e "s|^  port = 587\$|  port = $RECEIVER_PORT|" \
        -e "s|^  tls_verify_certificates = system\$|  tls_verify_certificates = $CA|" \
        -e "s|^  driver = manualroute\$|&\\n  self = send|" \
        -e "s|^  driver = smtp\$|&\\n  allow_localhost\\n  connection_max_messages = 1|" \
        "$SNIPPET"
    cat <<'EOF'

begin retry
*   *   F,1h,1m
EOF
} >"$EXIM_CONF"
chmod 0644 "$EXIM_CONF"
grep -q -- "-c $HELPER_CONF token $ALICE --format json" "$EXIM_CONF" &&
    grep -q "port = $RECEIVER_PORT" "$EXIM_CONF" && grep -q 'self = send' "$EXIM_CONF" ||
    bail "could not adapt $SNIPPET (see exim/exim.conf)"
"$EXIM_BIN" -C "$EXIM_CONF" -bV >>"$T/logs/exim-version.log" 2>&1 ||
    bail "Exim refuses the configuration (see logs/exim-version.log)"
diag "receiver :$RECEIVER_PORT, mock $MOCK_URL, $EXIM_BIN"

# exim ARGS... - this test's Exim
exim() {
    "$EXIM_BIN" -C "$EXIM_CONF" "$@"
}

# exim_send N - one message into the queue, then a queue run as root (a
# set-uid re-execution for -odi would run as Debian-exim and lose root for
# -C); 0 when Exim took the message
exim_send() {
    exim -odq -f "sender@sender.test" "$RCPT" >>"$T/logs/exim-cli.log" 2>&1 <<EOF
From: sender@sender.test
To: $RCPT
Subject: $TEST_NAME message $1

Test message $1 from Exim, relayed with XOAUTH2.
EOF
    local rc=$?
    exim -qff >>"$T/logs/exim-cli.log" 2>&1
    return $rc
}

exim_log() {
    cat "$T/logs/exim/mainlog" 2>/dev/null
}
exim_queue() {
    exim -bpc 2>>"$T/logs/exim-cli.log"
}

# ---- 1. messages across token lifetimes ---------------------------------
sent=0
taken=0
while [ $((SECONDS - started)) -lt "$RUNTIME" ]; do
    sent=$((sent + 1))
    exim_send "$sent" && taken=$((taken + 1))
    sleep "$INTERVAL"
done
elapsed=$((SECONDS - started))
wait_delivered "$sent" 30
mock_snapshot
requests=$(snap_stat token_requests.by_outcome.ok)
diag "lifetime ${LIFETIME}s: $sent messages over ${elapsed}s; token requests at the mock: $requests (at $(snap_stat token_requests.ok_times) s)"
check_num "Exim accepted every message" "$taken" -eq "$sent"
check_num "the run covered more than one token lifetime (s)" "$elapsed" -gt "$LIFETIME"
check_num "every message delivered at the receiver" "$(delivered_count)" -eq "$sent"
check_num "Exim logged each delivery: certificate verified, authenticated by xoauth2" \
    "$(exim_log | grep ' => ' | grep -c ' CV=yes A=xoauth2 ')" -eq "$sent"
check_num "receiver logged AUTH XOAUTH2 as $ALICE for each" \
    "$(receiver_log | grep -c "sasl_method=XOAUTH2, sasl_username=$ALICE")" -eq "$sent"
check_num "delivered messages carry 'Authenticated sender: $ALICE'" \
    "$(grep -l "Authenticated sender: $ALICE" "$SINK"/inbox/new/* 2>/dev/null | wc -l)" -eq "$sent"
check_num "Dovecot verified each token at the mock" "$(snap_stat introspections.ok)" -ge "$sent"
check_num "no expired or unknown token reached the receiver" "$(snap_stat introspections.failed)" -eq 0
check_num "tokens were refreshed while Exim sent (mock token requests)" "$requests" -ge 2
check_num "Exim deferred nothing" "$(exim_log | grep -c ' == ')" -eq 0
check_num "Exim's queue is empty" "$(exim_queue)" -eq 0

# ---- 2. no daemon: defer, keep, say why ---------------------------------
stop_helper
before=$(delivered_count)
logins=$(receiver_log | grep -c 'sasl_username=')
for i in $(seq 1 "$OUTAGE_MESSAGES"); do
    exim_send "outage-$i" || diag "exim refused message outage-$i"
done
check_num "with the daemon stopped: each message deferred" \
    "$(exim_log | grep -c ' == ')" -ge "$OUTAGE_MESSAGES"
check_num "nothing bounced" "$(exim_log | grep -c ' \*\* ')" -eq 0
check_num "nothing more delivered" "$(delivered_count)" -eq "$before"
check_num "no login reached the receiver (the AUTH was cancelled, no empty token sent)" \
    "$(receiver_log | grep -c 'sasl_username=')" -eq "$logins"
check_num "the messages stay in Exim's queue" "$(exim_queue)" -eq "$OUTAGE_MESSAGES"
why=$(exim_log | grep ' == ' | grep -c -E 'failed in xoauth2 authenticator: unrecognised boolean value "[1-9][0-9]* oauth2-token-helper')
check_num "each deferral in mainlog carries the helper's exit status and message" "$why" -ge "$OUTAGE_MESSAGES"
diag "deferral: $(exim_log | grep ' == ' | head -n 1 | sed 's/.*failed in xoauth2 authenticator: //' | cut -c1-300)"

# ---- 2b. the helper cannot even run: still a deferral, no empty login ----
chmod 0000 "$EXIM_HELPER_BIN"
deferred=$(exim_log | grep -c ' == ')
exim_send "no-helper" || diag "exim refused message no-helper"
chmod 0755 "$EXIM_HELPER_BIN"
check_num "helper not executable: the message is deferred" "$(exim_log | grep -c ' == ')" -gt "$deferred"
check_num "and no login reached the receiver" "$(receiver_log | grep -c 'sasl_username=')" -eq "$logins"
check_num "nothing bounced" "$(exim_log | grep -c ' \*\* ')" -eq 0
check_num "the queue holds it too" "$(exim_queue)" -eq $((OUTAGE_MESSAGES + 1))

# ---- 3. daemon back, queue run ------------------------------------------
run_helper
exim -qff >>"$T/logs/exim-cli.log" 2>&1
wait_delivered $((before + OUTAGE_MESSAGES + 1)) 30
check_num "after restarting the daemon and exim -qff: all delivered" \
    "$(delivered_count)" -eq $((before + OUTAGE_MESSAGES + 1))
check_num "Exim's queue is empty" "$(exim_queue)" -eq 0
check_num "still nothing bounced" "$(exim_log | grep -c ' \*\* ')" -eq 0
check_num "no expired or unknown token reached the receiver" "$(mock_stat introspections.failed)" -eq 0
done_testing
