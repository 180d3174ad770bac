#!/bin/bash
# outage-loses-no-mail.sh - the identity platform fails in every way while
# Postfix keeps sending through the plugin: no message bounces or is lost
#
# Seven accounts, one per failure mode, send through one Postfix pair
# (sender-dependent authentication), all failing at once around their
# refresh: HTTP 500, 429 with Retry-After, a hung connection, HTML instead
# of JSON, a truncated reply, a TLS handshake failure (the account reaches
# the mock as "localhost", whose handshakes fail), invalid_grant. Tokens
# live OUTAGE_LIFETIME seconds (default 90): each refresh starts 49 s before
# expiry, and while it fails the token is still served until 30 s before.
#
#   1. Mail sent while refreshes fail but tokens are still valid is
#      delivered at once, for every transient mode.
#   2. Mail sent after that is deferred (never bounced) and stays queued.
#   3. The platform recovers (invalid_grant: a new grant is imported); the
#      daemon refreshes by itself; a queue flush delivers everything.
#   4. The daemon sent few requests (backoff, Retry-After), no storm.
# A trickle of mail from every account runs throughout.
. "$(dirname "$0")/lib.sh"
need_env
setup
need_product
LIFETIME=${OUTAGE_LIFETIME:-90}
RETRY_AFTER=20
declare -A MODE=(
    [m500@contoso.test]=http500
    [m429@contoso.test]=http429
    [hang@contoso.test]=hang
    [garbage@contoso.test]=garbage
    [trunc@contoso.test]=truncated
    [tls@contoso.test]=tls_abort
    [grant@contoso.test]=invalid_grant
)
ACCOUNTS=(m500@contoso.test m429@contoso.test hang@contoso.test garbage@contoso.test
    trunc@contoso.test tls@contoso.test grant@contoso.test)
TRANSIENT=(m500@contoso.test m429@contoso.test hang@contoso.test garbage@contoso.test
    trunc@contoso.test tls@contoso.test)
TLS_ACCOUNT=tls@contoso.test
GRANT_ACCOUNT=grant@contoso.test

# send_from ACCOUNT TAG - one message from ACCOUNT; prints 1 when accepted
send_from() {
    "$PYTHON3" "$ITDIR/smtpclient.py" inject --port "$SENDER_PORT" --count 1 \
        --from "$1" --tag "$2" --to "$RCPT" 2>>"$T/logs/smtpclient.log"
}

# delivered_tagged TAG - delivered messages whose subject starts with TAG
delivered_tagged() {
    grep -l "^Subject: $1 " "$SINK"/inbox/new/* "$SINK"/inbox/cur/* 2>/dev/null | wc -l
}

# daemon_status ACCOUNT FIELD - one field of the daemon's status reply (no token in it)
daemon_status() {
    "$PYTHON3" - "$SENDER_DIR/queue/private/oauth2-token-helper" "$1" "$2" <<'EOF'
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
req = ("status " + sys.argv[2]).encode()
s.sendall(b"%d:%s," % (len(req), req))
buf = b""
while not buf.endswith(b","):
    chunk = s.recv(65536)
    if not chunk:
        break
    buf += chunk
body = buf.split(b":", 1)[1][:-1].decode()
print(json.loads(body[3:]).get(sys.argv[3], 0) if body.startswith("OK ") else 0)
EOF
}

# _new_token ACCOUNT - the daemon holds a token newer than the outage
_new_token() {
    [ "$(daemon_status "$1" token_expires_at)" -gt "$expires" ]
}

# sleep_until EPOCH - wait for a wall-clock second
sleep_until() {
    local now
    now=$(date +%s)
    [ "$1" -gt "$now" ] && sleep $(($1 - now))
    return 0
}

start_mock
mockctl settings --lifetime "$LIFETIME" --retry-after "$RETRY_AFTER" >/dev/null || bail "mock settings failed"
start_receiver
prepare_sender
write_helper_config "${ACCOUNTS[@]}"
# The TLS-fault account reaches the mock by name: only its handshakes fail.
sed -i "/^\[account $TLS_ACCOUNT\]/,/^\$/ s|^authority = https://127.0.0.1:|authority = https://localhost:|" "$HELPER_CONF"
grep -q "authority = https://localhost:" "$HELPER_CONF" || bail "cannot point $TLS_ACCOUNT at localhost"
helper config-check >>"$T/logs/helper-cli.log" 2>&1 || bail "helper config-check failed"
for a in "${ACCOUNTS[@]}"; do
    import_grant "$a" || bail "import $a failed"
done
run_helper
start_sender xoauth2
{
    for a in "${ACCOUNTS[@]}"; do
        echo "$a $a:unused"
    done
    echo "[127.0.0.1]:$RECEIVER_PORT $ALICE:unused"
} >"$SENDER_DIR/conf/sasl_passwd"
postconf -c "$SENDER_DIR/conf" -e smtp_sender_dependent_authentication=yes
postfix -c "$SENDER_DIR/conf" reload >>"$T/logs/sender-postfix.log" 2>&1

# Every account's first token, and when the latest of them expires.
expires=0
for a in "${ACCOUNTS[@]}"; do
    e=0
    for _ in $(seq 50); do
        e=$(daemon_status "$a" token_expires_at)
        [ "$e" != 0 ] && break
        sleep 0.2
    done
    [ "$e" != 0 ] || bail "no token for $a"
    [ "$e" -gt "$expires" ] && expires=$e
done
diag "tokens live ${LIFETIME}s; the latest expires at $(date -d "@$expires" +%T); now $(date +%T)"
check_num "mail flows before the outage: one message per account delivered" \
    "$(for a in "${ACCOUNTS[@]}"; do send_from "$a" before; done | grep -c 1)" -eq ${#ACCOUNTS[@]}
wait_until 30 sh -c "[ \$(grep -l '^Subject: before ' $SINK/inbox/new/* 2>/dev/null | wc -l) -ge ${#ACCOUNTS[@]} ]"
check_num "  ... and delivered" "$(delivered_tagged before)" -eq ${#ACCOUNTS[@]}

# The outage: every mode at once, one account each.
faults=()
for a in "${ACCOUNTS[@]}"; do
    [ "${MODE[$a]}" = tls_abort ] || faults+=(--user-fault "$a=${MODE[$a]}")
done
mockctl settings "${faults[@]}" --fault tls_abort --tls-fault-host localhost >/dev/null || bail "cannot start the outage"
outage_start=$(date +%s)

# A trickle of mail from every account, throughout.
: >"$T/trickle.count"
(
    i=0
    while [ ! -e "$T/trickle.stop" ]; do
        a=${ACCOUNTS[$((i % ${#ACCOUNTS[@]}))]}
        send_from "$a" trickle >>"$T/trickle.count"
        i=$((i + 1))
        sleep 2
    done
) &
TRICKLE_PID=$!
on_exit "touch $T/trickle.stop; kill $TRICKLE_PID"

# 1. Refreshes fail from 49 s before expiry; 42 s before, tokens are still valid.
sleep_until $((expires - 42))
for a in "${TRANSIENT[@]}"; do
    send_from "$a" valid-token >/dev/null
done
wait_until 11 sh -c "[ \$(grep -l '^Subject: valid-token ' $SINK/inbox/new/* 2>/dev/null | wc -l) -ge ${#TRANSIENT[@]} ]"
check_num "refreshes failing, tokens still valid: mail from every transient mode delivered at once" \
    "$(delivered_tagged valid-token)" -eq ${#TRANSIENT[@]}
log=$(cat "$T/logs/helper-serve.log")
for a in m500@contoso.test m429@contoso.test garbage@contoso.test trunc@contoso.test tls@contoso.test; do
    check_num "$a (${MODE[$a]}): the daemon logged the failed refresh and kept serving" \
        "$(grep -c "account=$a: refresh failed.*still serving the current token" <<<"$log")" -ge 1
done

# 2. Under 30 s left: no token, mail is deferred and stays queued.
sleep_until $((expires - 24))
for a in "${ACCOUNTS[@]}"; do
    send_from "$a" deferred >/dev/null
done
wait_until 40 sh -c "[ \$(grep -c 'status=deferred' $T/logs/sender-maillog.log) -ge ${#ACCOUNTS[@]} ]"
check_num "tokens expired during the outage: mail is deferred" "$(deferral_count)" -ge ${#ACCOUNTS[@]}
check_num "  ... not bounced" "$(bounce_count)" -eq 0
check_num "  ... and stays queued" "$(queue_size)" -ge ${#ACCOUNTS[@]}
why=$(sender_log | grep 'status=deferred' | grep -c -E 'token daemon|oauth2-token-helper|SASL')
check_num "  ... the deferral reason names the token daemon or SASL" "$why" -ge 1

# 3. Recovery.
sleep_until $((expires - 12))
mockctl settings --user-fault "" --fault none >/dev/null || bail "cannot end the outage"
outage_end=$(date +%s)
import_grant "$GRANT_ACCOUNT" || bail "import $GRANT_ACCOUNT failed"
recovered=0
for a in "${ACCOUNTS[@]}"; do
    wait_until 120 _new_token "$a" && recovered=$((recovered + 1))
done
check_num "after the outage every account has a new token (by itself; $GRANT_ACCOUNT by import)" \
    "$recovered" -eq ${#ACCOUNTS[@]}
diag "outage ${outage_start}..${outage_end} ($((outage_end - outage_start)) s); recovered by $(($(date +%s) - outage_end)) s after"
touch "$T/trickle.stop"
wait "$TRICKLE_PID" 2>/dev/null
trickled=$(grep -c 1 "$T/trickle.count")
flush_sender
total=$((${#ACCOUNTS[@]} + ${#TRANSIENT[@]} + ${#ACCOUNTS[@]} + trickled))
wait_delivered "$total" 120
mock_snapshot
check_num "after a queue flush every message is delivered ($trickled trickled)" "$(delivered_count)" -eq "$total"
check_num "nothing bounced" "$(bounce_count)" -eq 0
check_num "the sender's queue is empty" "$(queue_size)" -eq 0
check_num "no expired or unknown token reached the receiver" "$(snap_stat introspections.failed)" -eq 0

# 4. Bounded requests: backoff from 5 s doubling (equal jitter), Retry-After 20 s,
#    hung requests time out after 20 s; the failures span under a minute.
bound() {
    case $1 in
    http429) echo 3 ;;
    hang) echo 2 ;;
    invalid_grant) echo 1 ;;
    *) echo 5 ;;
    esac
}
for a in "${ACCOUNTS[@]}"; do
    m=${MODE[$a]}
    if [ "$m" = tls_abort ]; then
        n=$(snap_stat token_requests.by_outcome.fault_tls_abort)
    else
        n=$(snap_stat "token_requests.by_user.$a.fault_$m")
    fi
    check_num "$a ($m): a bounded number of failed requests" "$n" -le "$(bound "$m")"
    check_num "$a ($m): at least one" "$n" -ge 1
done
done_testing
