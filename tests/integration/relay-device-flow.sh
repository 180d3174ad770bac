#!/bin/bash
# relay-device-flow.sh - from a fresh app registration to relayed mail with
# the device-code flow: the daemon starts with no token, the admin runs
# "authorize" (no display, so the device flow), the user approves at the
# verification page, the running daemon picks the token up, Postfix relays.
. "$(dirname "$0")/lib.sh"
need_env
setup
need_product
N=${RELAY_MESSAGES:-3}
DEVICE_GRANT=urn:ietf:params:oauth:grant-type:device_code

start_mock
start_receiver
prepare_sender
# The app registration: a public client ("Allow public client flows" on).
mockctl register --client-id "$CLIENT_ID" --tenant "$TENANT" >>"$T/logs/mockctl.log" ||
    bail "cannot register the app at the mock"
mockctl settings --device-interval 1 >>"$T/logs/mockctl.log"
write_helper_config "$ALICE"
helper config-check >>"$T/logs/helper-cli.log" 2>&1 || bail "helper config-check failed"
run_helper
start_sender xoauth2

env -u DISPLAY -u WAYLAND_DISPLAY "$HELPER_BIN" -c "$HELPER_CONF" authorize "$ALICE" \
    </dev/null >"$T/logs/authorize.out" 2>"$T/logs/authorize.err" &
AUTH_PID=$!
on_exit "kill $AUTH_PID"
wait_until 20 grep -q "enter the code" "$T/logs/authorize.out" || bail "no user code shown"
CODE=$(awk '/enter the code/ { getline; getline; print $1 }' "$T/logs/authorize.out")
check "the device flow shows the verification URL" grep -q "$MOCK_URL/devicelogin" "$T/logs/authorize.out"
check "and a user code ($CODE)" test -n "$CODE"
# The helper polls while the user has not answered yet.
_polled() { [ "$(mock_stat "token_requests.by_grant.$DEVICE_GRANT.device_pending")" -ge 1 ]; }
check "the helper polls while the sign-in is pending" wait_until 10 _polled
check "the user approves at the verification page" \
    mockctl device approve --user-code "$CODE" --user "$ALICE"
wait "$AUTH_PID"
check_num "authorize exits 0" "$?" -eq 0
check "the running daemon picked the token up" grep -q "the running daemon picked it up" "$T/logs/authorize.out"

check_relayed "$N" XOAUTH2
check_num "one device-code grant at the mock" "$(mock_stat "token_requests.by_grant.$DEVICE_GRANT.ok")" -eq 1
check_num "no refresh was needed for the first token" "$(mock_stat token_requests.by_grant.refresh_token.ok)" -eq 0
done_testing
