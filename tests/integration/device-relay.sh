#!/bin/bash
# device-relay.sh - printers and apps that only know passwords, relayed to
# "Office 365" with OAuth2 by conf/postfix/device-relay as shipped
#
# The sender Postfix (stock chrooted master.cf) becomes the device relay
# exactly as conf/postfix/device-relay/ says (only addresses, ports and
# paths replaced; lib.sh start_device_relay), with Dovecot checking the
# devices' relay-only passwords. The receiver stands in for Office 365: it
# verifies every token and, as Exchange does, refuses any sender but the
# relay's mailbox with 550 5.7.60 (envelope and From:), so the relay's
# rewrite is needed for anything to get through.
#
# Devices, all as scanner@printer.local: from a listed address (127.0.0.1,
# port 25, no TLS, no login), and from an unlisted one (127.0.0.2) with a
# local login on port 587 (STARTTLS). The first is submitted while the
# token daemon is down: the device still gets 250, the relay defers and
# delivers after the daemon is back and the queue is flushed (test --relay
# says so too: exit 75, status=deferred). Both arrive
# as the mailbox (Return-Path, From:) with X-Original-From: naming the
# device and the device's own Reply-To: untouched. From 127.0.0.2 without
# a login: refused on both ports; a wrong password: refused. A listed
# device is rate limited too. The device's password is in no log. Then a recipient "Office 365" refuses: the relay
# bounces, and its DSN goes to the mailbox, From: the mailbox, and is
# accepted. Last, "oauth2-token-helper test --relay" as documented: a
# device's submission with and without a login, followed in the relay's log
# to status=sent, or bounced.
. "$(dirname "$0")/lib.sh"
need_env
setup
need_product
DEVICE=scanner@printer.local
LOGIN=printer-3rd-floor
REFUSED=nobody@example.net

start_mock
RECEIVER_SEND_AS=$RELAY_MAILBOX RECEIVER_REFUSE_RCPT=$REFUSED start_receiver
prepare_sender
write_helper_config "$RELAY_MAILBOX"
import_grant "$RELAY_MAILBOX" || bail "helper import failed (see logs/helper-cli.log)"
PWFILE=$T/device-password
(umask 077 && printf 'Pr1nter-%s\n' "$(openssl rand -hex 12)" >"$PWFILE")
PASSWORD=$(cat "$PWFILE")
start_device_relay "$LOGIN" "$PWFILE"
diag "receiver :$RECEIVER_PORT, relay :$RELAY_PORT25 and :$RELAY_PORT587, mock $MOCK_URL"


# ---- a listed device, daemon down: 250 now, delivered later --------------
reply=$(device_submit --port "$RELAY_PORT25" --source 127.0.0.1 --from "$DEVICE" \
    --header-from "Scanner 3rd floor <$DEVICE>" --to "$RCPT" --subject "listed device")
check "a listed device (port 25, no TLS, no login) gets 250 with the daemon down" \
    grep -q '^250 ' <<<"$reply"
qid_listed=$(sed -n 's/.*queued as \([A-Za-z0-9]*\).*/\1/p' <<<"$reply")
wait_deferred 1 60
check_num "the relay deferred it (no token daemon)" "$(deferral_count)" -ge 1
out=$T/logs/test-relay-deferred.log
helper test "$RELAY_MAILBOX" --relay "127.0.0.1:$RELAY_PORT25" --to "$RCPT" --from "$DEVICE" \
    --maillog "$T/logs/sender-maillog.log" >"$out" 2>&1
check_num "test --relay with the daemon down: exit 75" "$?" -eq 75
check "it says the daemon has no token now" grep -q "no token from the daemon now (.*): the relay defers" "$out"
check "it shows the deferral" grep -q "relay log: .*status=deferred" "$out"
check_num "nothing bounced" "$(bounce_count)" -eq 0
check_num "nothing delivered yet" "$(delivered_count)" -eq 0
run_helper
flush_sender
wait_delivered 2 60
check_num "daemon back, queue flushed: both delivered" "$(delivered_count)" -eq 2

# ---- a device with a local login, from an unlisted address ---------------
reply=$(device_submit --port "$RELAY_PORT587" --source 127.0.0.2 --starttls --login "$LOGIN" \
    --password-file "$PWFILE" --from "$DEVICE" --header-from "$DEVICE" --to "$RCPT" \
    --reply-to helpdesk@contoso.test --subject "device with a login")
check "a device logging in (port 587, STARTTLS, unlisted address) gets 250" grep -q '^250 ' <<<"$reply"
wait_delivered 3 60
check_num "delivered" "$(delivered_count)" -eq 3

# ---- what arrived ---------------------------------------------------------
check_num "all three arrived with the envelope sender rewritten to the mailbox" \
    "$(sent_as "$RELAY_MAILBOX" "$RELAY_MAILBOX")" -eq 3
msg_listed=$(grep -l '^Subject: listed device' "$SINK"/inbox/new/* | head -n 1)
msg_login=$(grep -l '^Subject: device with a login' "$SINK"/inbox/new/* | head -n 1)
check "listed device: From: is the mailbox, the display name kept" \
    grep -q "^From: Scanner 3rd floor <$RELAY_MAILBOX>" "$msg_listed"
check "listed device: X-Original-From: has the device's From:" \
    grep -q "^X-Original-From: Scanner 3rd floor <$DEVICE>" "$msg_listed"
check "login device: From: is the mailbox" grep -q "^From: $RELAY_MAILBOX" "$msg_login"
check "login device: X-Original-From: has the device's address" \
    grep -q "^X-Original-From: $DEVICE" "$msg_login"
check "login device: its own Reply-To: is untouched" \
    grep -q "^Reply-To: helpdesk@contoso.test" "$msg_login"
check_num "one X-Original-From: each" "$(grep -c '^X-Original-From:' "$msg_listed" "$msg_login" |
    awk -F: '$2 != 1' | wc -l)" -eq 0
check_num "the receiver verified XOAUTH2 logins as the mailbox" \
    "$(receiver_log | grep -c "sasl_method=XOAUTH2, sasl_username=$RELAY_MAILBOX")" -ge 2
check_num "the login is not announced in the delivered headers" \
    "$(grep -l -e "$LOGIN" "$msg_listed" "$msg_login" | wc -l)" -eq 0
check "the relay logged the device's login" grep -q "sasl_username=$LOGIN" "$T/logs/sender-maillog.log"
check "the listed device's message left as the mailbox (qmgr from=)" \
    grep -q "$qid_listed: from=<$RELAY_MAILBOX>" "$T/logs/sender-maillog.log"

# ---- refused -------------------------------------------------------------
reply=$(device_submit --port "$RELAY_PORT25" --source 127.0.0.2 --from "$DEVICE" --to "$RCPT")
diag "unlisted on port 25: $reply"
check "unlisted address, port 25: 554 5.7.1 Client host rejected" grep -q '^554 5.7.1 .*Client host rejected' <<<"$reply"
reply=$(device_submit --port "$RELAY_PORT587" --source 127.0.0.2 --starttls --from "$DEVICE" --to "$RCPT")
diag "unlisted on port 587 without a login: $reply"
check "unlisted address, port 587, no login: 554 5.7.1 Recipient address rejected" grep -q '^554 5.7.1 .*Recipient address rejected: Access denied' <<<"$reply"
reply=$(device_submit --port "$RELAY_PORT587" --source 127.0.0.2 --from "$DEVICE" --to "$RCPT")
diag "port 587 without STARTTLS: $reply"
check "port 587 without STARTTLS: 530 5.7.0" grep -q '^530 5.7.0' <<<"$reply"
printf 'wrong-%s\n' "$PASSWORD" >"$T/wrong-password"
reply=$(device_submit --port "$RELAY_PORT587" --source 127.0.0.2 --starttls --login "$LOGIN" \
    --password-file "$T/wrong-password" --from "$DEVICE" --to "$RCPT")
diag "wrong password: $reply"
check "a wrong password: 535 5.7.8" grep -q '^535 5.7.8' <<<"$reply"
rm -f "$T/wrong-password"
check_num "nothing refused reached the receiver" "$(delivered_count)" -eq 3

# ---- Office 365 refuses: the DSN goes to the mailbox -----------------------
reply=$(device_submit --port "$RELAY_PORT25" --source 127.0.0.1 --from "$DEVICE" --to "$REFUSED" \
    --subject "to a refused recipient")
check "to a recipient Office 365 refuses: the device still gets 250" grep -q '^250 ' <<<"$reply"
wait_until 60 grep -q 'status=bounced' "$T/logs/sender-maillog.log"
check "the relay bounced it with Office 365's reply" \
    grep -q "to=<$REFUSED>.*status=bounced .*550 5.1.1" "$T/logs/sender-maillog.log"
wait_delivered 4 60
dsn=$(grep -l '^Subject: Undelivered Mail Returned to Sender' "$SINK"/inbox/new/* 2>/dev/null | head -n 1)
check "the relay's DSN was accepted by Office 365 and reached the mailbox" test -n "$dsn"
check "the DSN is addressed to the mailbox" grep -q "^To: $RELAY_MAILBOX" "${dsn:-/dev/null}"
check "the DSN's From: is the mailbox (else Office 365 refuses it)" \
    grep -q "^From: .*$RELAY_MAILBOX" "${dsn:-/dev/null}"
check "the DSN quotes Office 365's refusal" grep -q "550 5.1.1" "${dsn:-/dev/null}"
check "the DSN's envelope sender is null (a failed DSN cannot loop)" grep -q "^Return-Path: <>" "${dsn:-/dev/null}"
check "the DSN's returned headers name the device (X-Original-From:)" \
    grep -q "^X-Original-From: $DEVICE" "${dsn:-/dev/null}"

# ---- oauth2-token-helper test --relay --------------------------------------
MAILLOG=$T/logs/sender-maillog.log
out=$T/logs/test-relay-login.log
helper test "$RELAY_MAILBOX" --relay "127.0.0.1:$RELAY_PORT587" --to "$RCPT" --from "$DEVICE" \
    --login "$LOGIN" --password-file "$PWFILE" --maillog "$MAILLOG" --cafile "$CA" --wait 60 >"$out" 2>&1
check_num "test --relay with a login (password file): exit 0" "$?" -eq 0
check "it says the daemon has a token for the mailbox" grep -q "the daemon has a token for $RELAY_MAILBOX" "$out"
check "it hides the login's credentials" grep -q -- "-> AUTH [A-Z]* (credentials hidden)" "$out"
check "it names the relay's queue id" grep -q "result: the relay accepted the message, queue id [A-Za-z0-9]" "$out"
check "it shows the sender the relay sends as (qmgr from=)" grep -q "relay log: .*: from=<$RELAY_MAILBOX>" "$out"
check "it shows the relay's delivery line" grep -q "relay log: .*postfix/smtp\[.*status=sent" "$out"
check "and says so" grep -q "^result: the relay delivered .* (status=sent)" "$out"
out=$T/logs/test-relay-stdin.log
helper test "$RELAY_MAILBOX" --relay "127.0.0.1:$RELAY_PORT587" --to "$RCPT" --login "$LOGIN" \
    --maillog "$MAILLOG" <"$PWFILE" >"$out" 2>&1
check_num "test --relay, the password on standard input, certificate unchecked: exit 0" "$?" -eq 0
out=$T/logs/test-relay-listed.log
helper test "$RELAY_MAILBOX" --relay "127.0.0.1:$RELAY_PORT25" --to "$REFUSED" --from "$DEVICE" \
    --maillog "$MAILLOG" >"$out" 2>&1
check_num "test --relay, port 25 without a login, a recipient Office 365 refuses: exit 69" "$?" -eq 69
check "it shows the bounce" grep -q "relay log: .*status=bounced .*550 5.1.1" "$out"
printf 'not-%s\n' "$PASSWORD" >"$T/wrong-password"
out=$T/logs/test-relay-wrong.log
helper test "$RELAY_MAILBOX" --relay "127.0.0.1:$RELAY_PORT587" --to "$RCPT" --login "$LOGIN" \
    --password-file "$T/wrong-password" --maillog "$MAILLOG" >"$out" 2>&1
check_num "test --relay with a wrong password: exit 69" "$?" -eq 69
check "it shows the 535" grep -q "^last reply: 535" "$out"
rm -f "$T/wrong-password"
out=$T/logs/test-relay-usage.log
helper test "$RELAY_MAILBOX" --relay "127.0.0.1:$RELAY_PORT587" --to "$RCPT" --smtp "127.0.0.1:$RECEIVER_PORT" >"$out" 2>&1
check_num "--relay with --smtp is a usage error: exit 64" "$?" -eq 64
wait_delivered 7 60
check_num "the two test messages arrived (and the bounce of the third)" "$(delivered_count)" -eq 7

# ---- rate limit: listed devices too ---------------------------------------
# 30 connections a minute per client, $mynetworks not exempt: 40 quick
# connections from the listed 127.0.0.1 (this test made a few already).
limited=$("$PYTHON3" - "$RELAY_PORT25" <<'EOF'
import socket, sys
n = 0
for _ in range(40):
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
    banner = s.makefile("rb").readline().decode(errors="replace")
    s.sendall(b"QUIT\r\n")
    s.close()
    if banner.startswith("421") and "too many connections" in banner:
        n += 1
print(n)
EOF
)
check_num "a listed device past 30 connections a minute gets 421 too many connections" "${limited:-0}" -ge 1

# ---- the device's password ------------------------------------------------
n=$(grep -r -l -F -e "$PASSWORD" "$T/logs" "$SINK" 2>/dev/null | wc -l)
check_num "the device's password is in no log and no delivered message" "$n" -eq 0
b64=$(printf '\0%s\0%s' "$LOGIN" "$PASSWORD" | base64 -w0)
check_num "nor its base64 (AUTH PLAIN)" "$(grep -r -l -F -e "$b64" "$T/logs" 2>/dev/null | wc -l)" -eq 0
done_testing
