#!/bin/bash
# relay-federated.sh - an app-only account whose only credential is a
# federated identity credential (client_assertion_file), set up as README's
# "Nothing to rotate" section shows, relays mail while its external token
# is replaced every few seconds, as a kubelet replaces a projected
# service-account token: alternately renamed into place and rewritten in
# place. The mock checks each assertion as Entra does (the issuer's
# signature, issuer, subject, audience, expiry); short access tokens make
# the daemon fetch several while the messages flow. Every message is
# delivered, none deferred.
. "$(dirname "$0")/lib.sh"
need_env
setup
need_product
N=${FEDERATED_MESSAGES:-8}
ALICE=relay@contoso.test
ISSUER=https://oidc.k8s.test/cluster-1
SUBJECT=system:serviceaccount:mail:postfix

start_mock
start_receiver
prepare_sender
write_helper_config "$ALICE"
TOKEN=$HELPER_DIR/azure-identity-token
(umask 077 && openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$T/issuer.key" &&
    openssl pkey -in "$T/issuer.key" -pubout -out "$T/issuer.pub") 2>>"$T/logs/openssl.log" ||
    bail "cannot make the issuer's key"
mint() {
    "$PYTHON3" "$MOCKDIR/mint-jwt" --key "$T/issuer.key" --iss "$ISSUER" --sub "$SUBJECT" \
        --out "$TOKEN" --record "$T/mock/state/issued-secrets" "$@"
}
mint --lifetime 600 || bail "cannot mint the first external token"
# The account's credential lines as README shows them (the token's path is this test's).
readme_section_blocks "### Nothing to rotate: a federated credential (Kubernetes)" |
    sed -e 's/^ *//' | grep -E '^(grant|client_assertion_file|#?assertion_audience) *=' |
    sed -e "s|^client_assertion_file *=.*|client_assertion_file = $TOKEN|" >>"$HELPER_CONF"
check "README's account lines name client_assertion_file, nothing secret" \
    sh -c "grep -q '^client_assertion_file = ' '$HELPER_CONF' && grep -q '^grant = client_credentials' '$HELPER_CONF' && ! grep -Eq 'secret|client_key|certificate' '$HELPER_CONF'"
mockctl register --client-id "$CLIENT_ID" --tenant "$TENANT" --mailbox "$ALICE" \
    >>"$T/logs/mockctl.log" || bail "cannot register the app at the mock"
mockctl federated --client-id "$CLIENT_ID" --issuer "$ISSUER" --subject "$SUBJECT" \
    --issuer-key "$T/issuer.pub" >>"$T/logs/mockctl.log" || bail "cannot add the federated credential"
mockctl settings --lifetime 20 >>"$T/logs/mockctl.log"
check "config-check accepts the token file" helper config-check
run_helper
# The issuer's agent: a fresh token every 3 seconds, rename and in-place by turns.
# (python itself in the background, not a subshell: stop_pid must reach it)
"$PYTHON3" "$MOCKDIR/mint-jwt" --key "$T/issuer.key" --iss "$ISSUER" --sub "$SUBJECT" \
    --out "$TOKEN" --record "$T/mock/state/issued-secrets" --lifetime 600 --loop 3 \
    </dev/null >>"$T/logs/mint.log" 2>&1 &
MINT_PID=$!
on_exit "stop_pid $MINT_PID"
start_sender xoauth2 "$ALICE"

got=$(inject "$N" 4)
check_num "sender's smtpd accepted the messages" "${got:-0}" -eq "$N"
wait_delivered "$N" 90
check_num "messages delivered at the receiver" "$(delivered_count)" -eq "$N"
check_num "Dovecot verified every token at the mock" "$(mock_stat introspections.failed)" -eq 0
check_num "several app-only tokens, each from a federated assertion the mock verified" \
    "$(mock_stat token_requests.by_grant.client_credentials.ok)" -ge 2
check_num "no token request refused" \
    "$(($(mock_stat token_requests.total) - $(mock_stat token_requests.by_outcome.ok)))" -eq 0
check_num "the token file was replaced while mail flowed" \
    "$(grep -c . "$T/mock/state/issued-secrets" 2>/dev/null)" -ge 8
check_num "sender deferred nothing" "$(deferral_count)" -eq 0
check "the sender's log has no 'deferred'" sh -c "! grep -q deferred '$T/logs/sender-maillog.log'"
check_num "sender's queue is empty" "$(queue_size)" -eq 0
status=$(helper status "$ALICE")
check "status shows when the external token expires" \
    sh -c "printf '%s\n' \"\$1\" | grep -Eq 'external token: +$TOKEN, expires [0-9]{4}-'" _ "$status"
check "check is OK while the file is refreshed" helper check "$ALICE"
stop_pid "$MINT_PID"
done_testing
