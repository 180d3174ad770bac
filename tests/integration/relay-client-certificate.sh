#!/bin/bash
# relay-client-certificate.sh - app-only relaying (grant =
# client_credentials) with a certificate: no user, no refresh token, no
# secret. The mock verifies every client assertion against the uploaded
# certificate and, like Exchange after Add-MailboxPermission, accepts the
# app's token for the one mailbox it was given; Postfix relays as that
# mailbox.
. "$(dirname "$0")/lib.sh"
need_env
setup
need_product
N=${RELAY_MESSAGES:-3}
# The mailbox the app sends as: check_relayed expects it as ALICE.
ALICE=relay@contoso.test

start_mock
start_receiver
prepare_sender
write_helper_config "$ALICE"
(umask 077 && openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj /CN=relay-app \
    -keyout "$HELPER_DIR/app.key" -out "$HELPER_DIR/app.pem") 2>>"$T/logs/openssl.log" ||
    bail "cannot make the app's certificate"
cat >>"$HELPER_CONF" <<CONF
grant = client_credentials
client_certificate_file = $HELPER_DIR/app.pem
client_key_file = $HELPER_DIR/app.key
CONF
# Upload the certificate and give the app the mailbox.
mockctl register --client-id "$CLIENT_ID" --tenant "$TENANT" --certificate "$HELPER_DIR/app.pem" \
    --mailbox "$ALICE" >>"$T/logs/mockctl.log" || bail "cannot register the app at the mock"
check "config-check accepts the certificate account" helper config-check
check "the config names no secret" sh -c "! grep -q secret '$HELPER_CONF'"
run_helper
start_sender xoauth2 "$ALICE"

check_relayed "$N" XOAUTH2
check_num "client_credentials grants with a verified assertion" "$(mock_stat token_requests.by_grant.client_credentials.ok)" -ge 1
check_num "no refresh token grant at all" "$(mock_stat token_requests.by_grant.refresh_token.ok)" -eq 0
check "no state file holds a refresh token" sh -c "! grep -q refresh_token\\\" '$HELPER_DIR'/state/*.state"
done_testing
