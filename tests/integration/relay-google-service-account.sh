#!/bin/bash
# relay-google-service-account.sh - a Google Workspace mailbox relayed for by
# a service account with domain-wide delegation (provider = google, grant =
# jwt_bearer): no person, no refresh token. The key file is made here
# (openssl genrsa, JSON written like Google's); the mock's /token verifies
# each signed JWT (signature, kid, iss, sub, aud, scope, exp), and the
# receiving Dovecot verifies every token at the mock's introspection, as for
# Microsoft's tokens. A mailbox the delegation does not cover defers, with
# the Workspace admin step named in the daemon's log.
. "$(dirname "$0")/lib.sh"
need_env
setup
need_product
N=${RELAY_MESSAGES:-3}
# The mailbox the service account sends as: check_relayed expects it as ALICE.
ALICE=alerts@contoso.test
SA_EMAIL=relay-sa@relay-test.iam.gserviceaccount.com
KEY_ID=4c1f0a9e8d7b6a5f4e3d2c1b0a998877665544ab

start_mock
start_receiver
prepare_sender
write_helper_config "$ALICE"
# The Google account replaces the Microsoft settings write_helper_config wrote.
sed -i -e '/^tenant = /d' -e '/^client_id = /d' -e '/^authority = /d' "$HELPER_CONF"
(umask 077 && openssl genrsa -out "$HELPER_DIR/sa.key" 2048 &&
    openssl rsa -in "$HELPER_DIR/sa.key" -pubout -out "$HELPER_DIR/sa.pub") \
    2>>"$T/logs/openssl.log" || bail "cannot make the service account's key"
# Tell the leak check about the key: no line of it may reach a log.
sed -e '1d' -e '$d' "$HELPER_DIR/sa.key" >>"$T/mock/state/issued-secrets"
(umask 077 && "$PYTHON3" - "$HELPER_DIR/sa.key" "$SA_EMAIL" "$KEY_ID" >"$HELPER_DIR/sa.json") <<'PY' ||
import json, sys
pem = open(sys.argv[1]).read()
print(json.dumps({"type": "service_account", "project_id": "relay-test",
                  "private_key_id": sys.argv[3], "private_key": pem,
                  "client_email": sys.argv[2], "client_id": "109876543210987654321",
                  "auth_uri": "https://accounts.google.com/o/oauth2/auth",
                  "token_uri": "https://oauth2.googleapis.com/token"}, indent=2))
PY
    bail "cannot write the key file"
cat >>"$HELPER_CONF" <<CONF
provider = google
grant = jwt_bearer
service_account_file = $HELPER_DIR/sa.json
token_endpoint = $MOCK_URL/token

[account nobody@contoso.test]
provider = google
grant = jwt_bearer
service_account_file = $HELPER_DIR/sa.json
token_endpoint = $MOCK_URL/token
ca_file = $CA
login = nobody@contoso.test
CONF
mockctl service-account --client-email "$SA_EMAIL" --public-key "$HELPER_DIR/sa.pub" \
    --key-id "$KEY_ID" --client-id 109876543210987654321 --mailbox "$ALICE" \
    >>"$T/logs/mockctl.log" || bail "cannot register the service account at the mock"
check "config-check accepts the service account and names the client ID to delegate" \
    sh -c "'$HELPER_BIN' -c '$HELPER_CONF' config-check | grep -q 'client ID 109876543210987654321'"
run_helper
start_sender xoauth2 "$ALICE"

check_relayed "$N" XOAUTH2
check_num "JWT bearer grants the mock verified" "$(mock_stat token_requests.by_grant.jwt_bearer.ok)" -ge 1
check_num "no refresh token grant at all" "$(mock_stat token_requests.by_grant.refresh_token.ok)" -eq 0
check "no state file holds a refresh token" sh -c "! grep -q refresh_token\\\" '$HELPER_DIR'/state/*.state"

out=$(helper token nobody@contoso.test 2>&1 >/dev/null)
check_num "a mailbox outside the Workspace domain needs a person: exit 69" "$?" -eq 69
check "and the message names Google's reason and the fix" \
    sh -c "printf '%s' \"\$1\" | grep -q 'Invalid email or User ID.*fix: set login'" _ "$out"
check "the daemon's log says the same" grep -q "account=nobody@contoso.test.*fix: set login" \
    "$T/logs/helper-serve.log"
done_testing
