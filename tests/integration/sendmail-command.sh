#!/bin/bash
# sendmail-command.sh - "oauth2-token-helper sendmail" delivers, or says why not with the right exit
#
# The receiver is the usual Postfix smtpd + Dovecot verifying every token
# at the mock; the helper's daemon serves the tokens; sendmail runs as an
# allowed non-root user (nobody, named in allow_users) from a script, as
# cron or PHP would run it, from a copy of the binary in the test's dir.
#
# 1. Tokens of 2,000, 4,500 and 10,000 characters (one account each, the
#    mock set to that length before its first refresh): "sendmail -f
#    SENDER RCPT" and "sendmail -t -i" each deliver (exit 0), verified by
#    Dovecot at the mock; -t took To, Cc and Bcc, the Bcc header is gone,
#    a lone "." line did not end the message. Linked as "sendmail" and run
#    with cron's flags, the account is the one the From: names. The
#    receiver's smtpd takes
#    SASL responses up to 64 KB (smtpd_sasl_response_limit; Postfix's
#    default of 12,288 would refuse a 10,000-character token's response).
# 2. Which account: -f picks the account whose login it is (without -f,
#    the From: address: the -t jobs above); with several accounts and
#    none of these, a usage error naming the fix (64); --account with an
#    unknown name: 67.
# 3. Refusals made by the real receiver (access maps, header_checks):
#    550 to RCPT -> 69 with "said: 550 5.7.60 ..." on stderr; 451 to RCPT
#    -> 75; 451 and 550 at the end of DATA -> 75 and 69; one refused
#    recipient among good ones: 69 and nothing delivered to anyone.
#    A relay certificate that relay_ca_file does not trust, or one for
#    another host name (faultsmtp.py on 127.0.0.2) -> 75, saying so.
# 4. faultsmtp.py (a relay that fails on purpose, verifying tokens at the
#    mock): the AUTH line carries no initial response with a 10,000-
#    character token (the response follows the 334); a connection dropped
#    in the middle of DATA or after it without a reply -> 75 and nothing
#    accepted, then the retry delivers exactly once; a 5xx to AUTH -> 75
#    (about the account, not the message: it stays queued).
# 5. A message over 35 MB -> 65 before any connection.
# 6. The daemon stopped: 75 for the non-root user, who cannot refresh.
# No token appears in any output or log.
. "$(dirname "$0")/lib.sh"
need_env
setup
need_product
command -v setpriv >/dev/null || missing "setpriv (util-linux) is not installed"

ACCOUNTS="tok2000@contoso.test tok4500@contoso.test tok10000@contoso.test bob@contoso.test"
RUNAS=nobody
RUNAS_GROUP=$(id -gn "$RUNAS")
OUT=$T/logs/sendmail-output.log

# The non-root user may not reach the build tree: a copy in the test's dir.
mkdir -p "$T/bin"
install -m 0755 "$HELPER_BIN" "$T/bin/oauth2-token-helper" || bail "cannot copy $HELPER_BIN"
SENDMAIL_BIN=$T/bin/oauth2-token-helper

start_mock
start_receiver
start_faultsmtp

# The receiver: long SASL responses, and the refusals a real Postfix makes.
RC=$RECEIVER_DIR/conf
cat >"$RC/rcpt_access" <<'EOF'
refused@example.net 550 5.7.60 Client does not have permissions to send as this sender
later@example.net 451 4.3.0 Mailbox temporarily unavailable
EOF
echo "eod-later@contoso.test 451 4.7.500 Server busy, try again later" >"$RC/eod_access"
echo "/^Subject: refuse at the end of data/ REJECT 5.7.1 Message rejected by content filter" >"$RC/header_checks"
postconf -c "$RC" -e "smtpd_sasl_response_limit = 65536" \
    "smtpd_recipient_restrictions = check_recipient_access texthash:$RC/rcpt_access, permit_sasl_authenticated, reject" \
    "smtpd_end_of_data_restrictions = check_sender_access texthash:$RC/eod_access" \
    "header_checks = regexp:$RC/header_checks" || bail "postconf -e on the receiver failed"
postfix -c "$RC" reload >>"$T/logs/receiver-postfix.log" 2>&1 || bail "receiver reload failed"

# The helper: a socket and config the non-root user may use (allow_users).
mkdir -p "$T/run"
HELPER_SOCKET=$T/run/oauth2-token-helper
HELPER_ALLOW_USERS="root $RUNAS"
HELPER_SOCKET_GROUP=$RUNAS_GROUP
# shellcheck disable=SC2086
write_helper_config $ACCOUNTS
chgrp "$RUNAS_GROUP" "$HELPER_CONF"
sed -i "/^\[account /a relay = 127.0.0.1:$RECEIVER_PORT\nrelay_ca_file = $CA" "$HELPER_CONF"
helper config-check >>"$T/logs/helper-cli.log" 2>&1 || bail "helper config-check failed (see logs/helper-cli.log)"
for acct in $ACCOUNTS; do
    import_grant "$acct" || bail "helper import $acct failed (see logs/helper-cli.log)"
done
run_helper

# Two more configs for the same daemon and accounts, other relays: the
# fault injector, and the receiver with a CA file that does not hold our CA.
conf_variant() {
    sed -e "s|^relay = .*|relay = $2|" -e "s|^relay_ca_file = .*|relay_ca_file = $3|" \
        "$HELPER_CONF" >"$1"
    chmod 0640 "$1"
    chgrp "$RUNAS_GROUP" "$1"
}
FAULT_CONF=$T/helper/fault.conf
conf_variant "$FAULT_CONF" "127.0.0.1:$FAULT_PORT" "$CA"
UNTRUSTED_CONF=$T/helper/untrusted.conf
conf_variant "$UNTRUSTED_CONF" "127.0.0.1:$RECEIVER_PORT" /etc/ssl/certs/ca-certificates.crt

# sm CONF ARGS... - sendmail as root, message on stdin; stderr in $T/sm.err, output logged
sm() {
    local conf=$1 rc
    shift
    "$SENDMAIL_BIN" -c "$conf" sendmail "$@" >"$T/sm.out" 2>"$T/sm.err"
    rc=$?
    { echo "== sendmail $* -> $rc"; cat "$T/sm.out" "$T/sm.err"; } >>"$OUT"
    return $rc
}

# message SUBJECT [HEADERS] - a small message on stdout
message() {
    printf 'Subject: %s\n%s\nHello from %s.\n' "$1" "${2:-}" "$TEST_NAME"
}

# ---- 1. delivery as a non-root user, from a script, three token lengths ----

cat >"$T/bin/job.sh" <<EOF
#!/bin/sh
# What cron or a monitoring script does: a message into sendmail.
# \$1 account, \$2 mode (f: -f and a recipient; t: -t -i), \$3 tag
SENDMAIL="$SENDMAIL_BIN -c $HELPER_CONF sendmail"
if [ "\$2" = f ]; then
    printf 'From: %s\nTo: someone@example.net\nSubject: %s with -f\n\nReport.\n.\nStill the body.\n' "\$1" "\$3" |
        \$SENDMAIL -oi -odi -oem -f "\$1" someone@example.net
else
    printf 'From: Job <%s>\nTo: "Some One" <someone@example.net>\nCc: (copy) copy@example.net\nBcc: hidden@example.net\nSubject: %s with -t\n\nReport.\n.\nStill the body.\n' "\$1" "\$3" |
        \$SENDMAIL -t -i
fi
EOF
chmod 0755 "$T/bin/job.sh"

# token_length_is ACCOUNT N - the daemon's token for ACCOUNT has N characters
token_length_is() {
    [ "$(helper token "$1" 2>/dev/null | tr -d '\n' | wc -c)" -eq "$2" ]
}

delivered=0
for len in 2000 4500 10000; do
    acct=tok$len@contoso.test
    # A new grant with the mock at that length: the daemon's next token for the account has it.
    mockctl settings --token-length "$len" >/dev/null || bail "mock settings failed"
    import_grant "$acct" || bail "helper import $acct failed (see logs/helper-cli.log)"
    # The daemon refreshes with the new grant in the background: wait for the new token.
    wait_until 20 token_length_is "$acct" "$len"
    tl=$(helper token "$acct" 2>>"$T/logs/helper-cli.log" | tr -d '\n' | wc -c)
    check_num "account $acct: the daemon's token has $len characters" "$tl" -eq "$len"
    for mode in f t; do
        setpriv --reuid="$RUNAS" --regid="$RUNAS_GROUP" --clear-groups \
            "$T/bin/job.sh" "$acct" "$mode" "tok$len" >"$T/sm.out" 2>"$T/sm.err"
        rc=$?
        { echo "== job.sh $acct $mode -> $rc"; cat "$T/sm.out" "$T/sm.err"; } >>"$OUT"
        check_num "$len-character token, as $RUNAS, sendmail -$mode: exit 0" "$rc" -eq 0
        [ "$mode" = t ] && delivered=$((delivered + 3)) || delivered=$((delivered + 1))
    done
done
wait_delivered "$delivered" 60
check_num "messages delivered at the receiver (1 + 3 per token length)" "$(delivered_count)" -eq "$delivered"
for len in 2000 4500 10000; do
    n=$(receiver_log | grep -c "sasl_method=XOAUTH2, sasl_username=tok$len@contoso.test")
    check_num "receiver: AUTH XOAUTH2 as tok$len@contoso.test for both messages" "$n" -eq 2
done
check_num "Dovecot verified each token at the mock" "$(mock_stat introspections.ok)" -ge 6
check_num "no introspection failed" "$(mock_stat introspections.failed)" -eq 0
n=$(grep -l "^Subject: tok10000 with -t" "$SINK"/inbox/new/* 2>/dev/null | wc -l)
check_num "-t: To, Cc and Bcc each got the 10,000-token message" "$n" -eq 3
n=$(grep -l "^Subject: tok.* with -t" "$SINK"/inbox/new/* | xargs grep -l -i "^Bcc:" | wc -l)
check_num "-t: no delivered copy carries the Bcc header" "$n" -eq 0
n=$(grep -l "^Still the body" "$SINK"/inbox/new/* | wc -l)
check_num "a lone '.' line did not end any message" "$n" -eq "$delivered"
n=$(for f in "$SINK"/inbox/new/*; do grep -c "^From:" "$f"; done | grep -c -v '^1$')
check_num "each message kept its own From header, and only it" "$n" -eq 0

# Cron runs /usr/sbin/sendmail with its own flags: the program linked under that name.
ln -s oauth2-token-helper "$T/bin/sendmail"
before=$(delivered_count)
printf 'From: root (Cron Daemon) <tok4500@contoso.test>\nTo: someone@example.net\nSubject: Cron <nobody@host> report\n\nJob output.\n' |
    OAUTH2_TOKEN_HELPER_CONFIG=$HELPER_CONF setpriv --reuid="$RUNAS" --regid="$RUNAS_GROUP" \
        --clear-groups "$T/bin/sendmail" -FCronDaemon -i -B8BITMIME -oem -oi -t >"$T/sm.out" 2>"$T/sm.err"
rc=$?
{ echo "== sendmail (as cron) -> $rc"; cat "$T/sm.out" "$T/sm.err"; } >>"$OUT"
check_num "linked as sendmail, cron's flags, as $RUNAS: exit 0" "$rc" -eq 0
wait_delivered $((before + 1)) 30
check_num "cron's message delivered, sent as the account its From: names" \
    "$(receiver_log | grep -c 'sasl_username=tok4500@contoso.test')" -eq 3

# ---- 2. which account -----------------------------------------------------

message "no account" | sm "$HELPER_CONF" someone@example.net
rc=$?
check_num "several accounts, neither -f nor --account: usage error" "$rc" -eq 64
check "the message names the fix (--account)" grep -q -- "--account NAME" "$T/sm.err"
message "unknown account" | sm "$HELPER_CONF" --account nobody@contoso.test someone@example.net
check_num "--account with an unknown account: exit 67" "$?" -eq 67
before=$(delivered_count)
message "picked by -f" | sm "$HELPER_CONF" -f bob@contoso.test someone@example.net
check_num "-f bob@contoso.test: bob's account, exit 0" "$?" -eq 0
wait_delivered $((before + 1)) 30
check_num "receiver: AUTH as bob (the account -f named)" \
    "$(receiver_log | grep -c 'sasl_username=bob@contoso.test')" -eq 1

# ---- 3. refusals by the real receiver --------------------------------------

A=(--account bob@contoso.test)
message "rcpt refused" | sm "$HELPER_CONF" "${A[@]}" refused@example.net
check_num "550 to RCPT: exit 69" "$?" -eq 69
check "stderr: the relay's reply, as 'HOST:PORT said: 550 5.7.60 ...'" \
    grep -q "^oauth2-token-helper: sendmail: 127.0.0.1:$RECEIVER_PORT said: 550 5.7.60 .*Client does not have permissions.*account bob@contoso.test, after RCPT TO" "$T/sm.err"
check_num "stderr: one line" "$(wc -l <"$T/sm.err")" -eq 1
check "stderr: Exchange's 5.7.60 explained on that line (SendAsDenied, the fix)" \
    grep -q "after RCPT TO); SendAsDenied: .*; fix: " "$T/sm.err"
message "rcpt later" | sm "$HELPER_CONF" "${A[@]}" later@example.net
check_num "451 to RCPT: exit 75" "$?" -eq 75
check "stderr: 451 and that the message stays queued" grep -q "said: 451 4.3.0 .*stays queued" "$T/sm.err"
message "eod later" | sm "$HELPER_CONF" "${A[@]}" -f eod-later@contoso.test someone@example.net
check_num "451 at the end of DATA: exit 75" "$?" -eq 75
check "stderr: 451 after the end of data" grep -q "said: 451 4.7.500 .*after end of data" "$T/sm.err"
message "refuse at the end of data" | sm "$HELPER_CONF" "${A[@]}" someone@example.net
check_num "550 at the end of DATA: exit 69" "$?" -eq 69
check "stderr: 550 after the end of data" grep -q "said: 550 5.7.1 .*after end of data" "$T/sm.err"
before=$(delivered_count)
message "one bad recipient" | sm "$HELPER_CONF" "${A[@]}" someone@example.net refused@example.net
check_num "one refused recipient among good ones: exit 69" "$?" -eq 69
message "untrusted" | sm "$UNTRUSTED_CONF" "${A[@]}" someone@example.net
check_num "a certificate relay_ca_file does not trust: exit 75" "$?" -eq 75
check "stderr: not trusted, stays queued, fix relay_ca_file" \
    grep -q "relay 127.0.0.1:$RECEIVER_PORT: its certificate is not trusted .*stays queued.*relay_ca_file" "$T/sm.err"
# A relay whose certificate (IP:127.0.0.1, DNS:localhost) does not name it.
mkdir -p "$T/wrongname"
"$PYTHON3" "$ITDIR/faultsmtp.py" --cert "$T/ca/server.pem" --key "$T/ca/server.key" --host 127.0.0.2 \
    --port-file "$T/wrongname/port" --record-dir "$T/wrongname" </dev/null >>"$T/logs/faultsmtp-wrongname.log" 2>&1 &
on_exit "stop_pid $!"
wait_until 20 test -s "$T/wrongname/port" || bail "faultsmtp.py on 127.0.0.2 did not start"
WRONGNAME_CONF=$T/helper/wrongname.conf
conf_variant "$WRONGNAME_CONF" "127.0.0.2:$(cat "$T/wrongname/port")" "$CA"
message "wrong name" | sm "$WRONGNAME_CONF" "${A[@]}" someone@example.net
check_num "a trusted certificate for another host name: exit 75" "$?" -eq 75
check "stderr: not trusted (the host name is checked)" grep -q "certificate is not trusted" "$T/sm.err"
check_num "the relay with the wrong name got nothing" \
    "$(find "$T/wrongname/accepted" -name '*.eml' 2>/dev/null | wc -l)" -eq 0
sleep 2
check_num "none of the refused messages was delivered" "$(delivered_count)" -eq "$before"

# ---- 4. the fault injector -------------------------------------------------

F=(--account tok10000@contoso.test)
message "fault ok" | sm "$FAULT_CONF" "${F[@]}" -v someone@example.net
check_num "faultsmtp: delivered, exit 0" "$?" -eq 0
check_num "faultsmtp accepted it" "$(faultsmtp_accepted)" -eq 1
check "the AUTH line held no initial response (the response followed the 334)" \
    "$PYTHON3" -c 'import json, sys
s = [json.loads(l) for l in open(sys.argv[1])]
a = [x for x in s if "auth_line_length" in x][-1]
sys.exit(0 if a["auth_initial_response"] is False and a["auth_line_length"] < 40
         and a["token_length"] == 10000 and a.get("auth") == "ok" else 1)' "$FAULT_DIR/sessions.log"
check "-v showed AUTH XOAUTH2, the 334, and the response only by its length" \
    grep -q "<- 334" "$T/sm.err"

echo "data:drop" >"$FAULT_FILE"
message "dropped in data" | sm "$FAULT_CONF" "${F[@]}" someone@example.net
check_num "connection dropped in the middle of DATA: exit 75" "$?" -eq 75
check "stderr: names the account and relay, stays queued" \
    grep -q "account tok10000@contoso.test: relay 127.0.0.1:$FAULT_PORT: .*stays queued" "$T/sm.err"
echo "eod:drop" >"$FAULT_FILE"
message "dropped after data" | sm "$FAULT_CONF" "${F[@]}" someone@example.net
check_num "connection dropped after the end of DATA, no reply: exit 75" "$?" -eq 75
check_num "faultsmtp accepted neither" "$(faultsmtp_accepted)" -eq 1
: >"$FAULT_FILE"
message "dropped in data" | sm "$FAULT_CONF" "${F[@]}" someone@example.net
check_num "the retry: exit 0" "$?" -eq 0
n=$(grep -l "^Subject: dropped in data" "$FAULT_DIR"/accepted/*.eml | wc -l)
check_num "the retried message was accepted exactly once" "$n" -eq 1
echo "auth:535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant" >"$FAULT_FILE"
message "auth refused" | sm "$FAULT_CONF" "${F[@]}" someone@example.net
check_num "5xx to AUTH: exit 75 (the account's problem; the message stays queued)" "$?" -eq 75
check "stderr: the server's 535 and why it is kept" grep -q "said: 535 5.7.139 .*after AUTH.*stays queued" "$T/sm.err"
check "stderr: 5.7.139 explained (Set-CASMailbox)" grep -q "Set-CASMailbox" "$T/sm.err"
echo "greeting:421 4.3.2 Service not available" >"$FAULT_FILE"
message "greeting" | sm "$FAULT_CONF" "${F[@]}" someone@example.net
check_num "421 greeting: exit 75" "$?" -eq 75
: >"$FAULT_FILE"

# ---- 5. too large -----------------------------------------------------------

accepted=$(faultsmtp_accepted)
sessions=$(wc -l <"$FAULT_DIR/sessions.log")
{
    message "too large"
    head -c 37000000 /dev/zero | tr '\0' 'x' | fold -w 998
} | sm "$FAULT_CONF" "${F[@]}" someone@example.net
check_num "a message over 35 MB: exit 65" "$?" -eq 65
check "stderr: the limit" grep -q "larger than 36700160 bytes" "$T/sm.err"
check_num "no connection was made for it" "$(wc -l <"$FAULT_DIR/sessions.log")" -eq "$sessions"
check_num "nothing accepted" "$(faultsmtp_accepted)" -eq "$accepted"

# ---- 6. the daemon stopped ------------------------------------------------

stop_helper
message "no daemon" | setpriv --reuid="$RUNAS" --regid="$RUNAS_GROUP" --clear-groups \
    "$SENDMAIL_BIN" -c "$HELPER_CONF" sendmail -f tok2000@contoso.test someone@example.net \
    >"$T/sm.out" 2>"$T/sm.err"
rc=$?
{ echo "== no daemon -> $rc"; cat "$T/sm.out" "$T/sm.err"; } >>"$OUT"
check_num "daemon not running, non-root user: exit 75" "$rc" -eq 75
check "stderr: the daemon is not running, the message stays queued" \
    grep -q "not running.*" "$T/sm.err"
check "stderr: sendmail's own line says it stays queued" grep -q "no token now; the message stays queued" "$T/sm.err"

secrets=$T/mock/state/issued-secrets
n=$(grep -c -F -f "$secrets" "$OUT" "$FAULT_DIR/sessions.log" 2>/dev/null | awk -F: '{s += $NF} END {print s + 0}')
check_num "no token in sendmail's output or faultsmtp's records" "$n" -eq 0
done_testing
