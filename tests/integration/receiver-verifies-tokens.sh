#!/bin/bash
# receiver-verifies-tokens.sh - the test receiver really checks tokens
#
# Without the product: Postfix smtpd + Dovecot's oauth2 passdb + the mock.
# A made-up token, an expired token and a token for another user must be
# refused (535); a fresh mock token must be accepted (235), over XOAUTH2,
# OAUTHBEARER and (with swaks) PLAIN. Otherwise every other test could pass
# against a receiver that accepts anything.
. "$(dirname "$0")/lib.sh"
need_env
need_swaks_tls
setup

start_mock
RECEIVER_MECHS="plain xoauth2 oauthbearer" start_receiver
diag "receiver on 127.0.0.1:$RECEIVER_PORT, mock at $MOCK_URL"

rt=$(mockctl grant --user "$ALICE" --client-id "$CLIENT_ID" --tenant "$TENANT") ||
    bail "mock grant failed"
token=$(mockctl refresh --client-id "$CLIENT_ID" --tenant "$TENANT" <<<"$rt") ||
    bail "mock refresh failed"
check_num "mock access token length" "${#token}" -ge 1900
bogus="eyJ0eXAiOiJKV1QifQ.eyJ1cG4iOiJhbGljZSJ9.$(head -c 1500 /dev/urandom | base64 -w0 | tr -dc 'A-Za-z0-9' | head -c 1900)"

for mech in XOAUTH2 OAUTHBEARER; do
    code=$(probe_auth "$mech" "$ALICE" <<<"$bogus")
    check_num "$mech with a made-up token is refused" "$code" -eq 535
    code=$(probe_auth "$mech" "$ALICE" <<<"$token")
    check_num "$mech with a fresh mock token is accepted" "$code" -eq 235
    code=$(probe_auth "$mech" "bob@contoso.test" <<<"$token")
    check_num "$mech with alice's token claiming to be bob is refused" "$code" -eq 535
done

# swaks (no XOAUTH2 in Debian 12's swaks): PLAIN with the token as password
# goes through the same oauth2 passdb. swaks sends the initial response on
# the AUTH line, which Postfix's smtpd caps at 2048 bytes: shorter tokens.
mockctl settings --token-length 600 >/dev/null
short_token=$(mockctl refresh --client-id "$CLIENT_ID" --tenant "$TENANT" <<<"$rt") ||
    bail "mock refresh failed"
swaks_auth() {
    swaks --server "127.0.0.1:$RECEIVER_PORT" --tls --tls-verify --tls-ca-path "$CA" \
        --auth PLAIN --auth-user "$ALICE" --auth-password "$1" --auth-hide-password \
        --hide-send --quit-after AUTH --timeout 30 >"$T/logs/swaks-$2.log" 2>&1
    # The server's last answer before QUIT: the AUTH result.
    grep -E '^<~\*? +(235|4[0-9][0-9]|5[0-9][0-9]) ' "$T/logs/swaks-$2.log" | tail -n 1 |
        sed -E 's/^<~\*? +([0-9]{3}).*/\1/'
}
code=$(swaks_auth "${bogus:0:600}" bogus)
check_num "swaks AUTH PLAIN with a made-up token is refused" "$code" -eq 535
code=$(swaks_auth "$short_token" fresh)
check_num "swaks AUTH PLAIN with a fresh mock token is accepted" "$code" -eq 235

# An expired token from this mock.
mockctl settings --lifetime 3 --token-length 2000 >/dev/null
short=$(mockctl refresh --client-id "$CLIENT_ID" --tenant "$TENANT" <<<"$rt") || bail "mock refresh failed"
issued=$SECONDS
code=$(probe_auth XOAUTH2 "$ALICE" <<<"$short")
check_num "XOAUTH2 with a 3-second token, still valid, is accepted" "$code" -eq 235
token_expired() { [ $((SECONDS - issued)) -ge 4 ]; }
wait_until 10 token_expired
code=$(probe_auth XOAUTH2 "$ALICE" <<<"$short")
check_num "XOAUTH2 with the same token once expired is refused" "$code" -eq 535

ok_n=$(mock_stat introspections.ok)
failed_n=$(mock_stat introspections.failed)
diag "mock introspections: ok=$ok_n failed=$failed_n"
check_num "Dovecot asked the mock about each accepted token" "$ok_n" -ge 4
check_num "Dovecot asked the mock about each made-up or expired token" "$failed_n" -ge 4
done_testing
