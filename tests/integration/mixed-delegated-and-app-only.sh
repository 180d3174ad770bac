#!/bin/bash
# mixed-delegated-and-app-only.sh - delegated and app-only accounts on one relay
#
# conf/postfix/main.cf.sender-dependent with sasl_passwd.mixed, and the
# accounts of conf/oauth2-token-helper.conf.mixed: alice@ is delegated
# (her refresh token), noreply@ is app-only (grant = client_credentials
# with the app's secret, login = the mailbox). The mock registers the app
# with a secret and the mailbox its app-only tokens may send as
# (mockctl register --mailbox). Each sender's mail must log in as itself,
# noreply's with an app-only token obtained by the client-credentials grant.
#
# Skipped, with the reason, until the helper accepts grant =
# client_credentials (probed with config-check) and the mock can register
# an app (mockctl register).
. "$(dirname "$0")/lib.sh"
need_env
setup
need_product
N=${MIXED_MESSAGES:-3}
NOREPLY=noreply@contoso.test
APP_ID=0f3c9a51-7d2e-4b6a-9c1f-2a8e5d4b3c71
EXAMPLE_CLIENT_ID=6731de76-14a6-49ae-97bc-6eba6914391e
EXAMPLE=$top_srcdir/conf/postfix/oauth2-token-helper.conf.mixed

# ---- can this helper and this mock do app-only? -------------------------
mkdir -p "$T/probe/state"
chmod 0700 "$T/probe/state"
(umask 077 && echo probe-secret >"$T/probe/app.secret")
cat >"$T/probe/helper.conf" <<PROBE
socket = $T/probe/socket
state_dir = $T/probe/state

[account $NOREPLY]
grant = client_credentials
tenant = $TENANT
client_id = $APP_ID
client_secret_file = $T/probe/app.secret
login = $NOREPLY
authority = https://127.0.0.1:9
PROBE
chmod 0644 "$T/probe/helper.conf" # as lib.sh write_helper_config: no secret
if ! "$HELPER_BIN" -c "$T/probe/helper.conf" config-check >"$T/logs/probe-config-check.log" 2>&1; then
    missing "app-only accounts are not supported yet: config-check refuses grant = client_credentials ($(grep -m 1 . "$T/logs/probe-config-check.log" | cut -c1-160))"
fi
"$PYTHON3" "$MOCKDIR/mockctl" register --help >/dev/null 2>&1 ||
    missing "the mock cannot register an app for app-only tokens yet (no mockctl register)"

# ---- the run -------------------------------------------------------------
APP_SECRET=$(openssl rand -hex 24)
start_mock
# The leak check covers the app's secret whether or not the mock records it.
echo "$APP_SECRET" >>"$T/mock/state/issued-secrets"
mockctl register --client-id "$APP_ID" --tenant "$TENANT" --client-secret "$APP_SECRET" \
    --mailbox "$NOREPLY" >/dev/null || bail "mockctl register failed"
start_receiver
prepare_sender
# The global settings of the test helper config, then the example's
# accounts: test IDs, the secret file here, the mock as authority.
write_helper_config
sed -i '/^\[account /,$d' "$HELPER_CONF"
(umask 077 && printf '%s\n' "$APP_SECRET" >"$HELPER_DIR/noreply-app.secret")
example_subst "$EXAMPLE" |
    sed -e "s/$EXAMPLE_CLIENT_ID/$CLIENT_ID/" \
        -e "s|^client_secret_file = .*|client_secret_file = $HELPER_DIR/noreply-app.secret|" \
        -e "s|^\[account .*\]\$|&\nauthority = $MOCK_URL\nca_file = $CA|" >>"$HELPER_CONF"
grep -q "^client_id = $APP_ID" "$HELPER_CONF" && grep -q "^client_id = $CLIENT_ID" "$HELPER_CONF" ||
    bail "could not adapt $EXAMPLE (see helper/helper.conf)"
helper config-check >>"$T/logs/helper-cli.log" 2>&1 || bail "helper config-check failed (see logs/helper-cli.log)"
import_grant "$ALICE" || bail "helper import $ALICE failed (see logs/helper-cli.log)"
run_helper
start_sender xoauth2
sender_use_example main.cf.sender-dependent sasl_passwd.mixed sender_relay
diag "receiver :$RECEIVER_PORT, sender :$SENDER_PORT, mock $MOCK_URL"

for _ in $(seq 1 "$N"); do
    inject 1 0 "$ALICE" >/dev/null
    inject 1 0 "$NOREPLY" >/dev/null
done
wait_delivered $((2 * N)) 90
check_num "every message delivered" "$(delivered_count)" -eq $((2 * N))
check_num "alice's mail authenticated as alice (delegated)" "$(sent_as "$ALICE" "$ALICE")" -eq "$N"
check_num "noreply's mail authenticated as noreply (app-only)" \
    "$(sent_as "$NOREPLY" "$NOREPLY")" -eq "$N"
diag "envelope sender / authenticated sender: $(sink_senders | tr '\n' ';')"
check_num "receiver logged XOAUTH2 logins as noreply" \
    "$(receiver_log | grep -c "sasl_method=XOAUTH2, sasl_username=$NOREPLY")" -eq "$N"
mock_snapshot
check_num "the app got its tokens by the client-credentials grant" \
    "$(snap_stat "token_requests.by_client.$APP_ID.ok")" -ge 1
check_num "alice's tokens came from her delegated grant" \
    "$(snap_stat "token_requests.by_client.$CLIENT_ID.ok")" -ge 1
check_num "the mock verified noreply's (app-only) tokens" \
    "$(snap_by_user introspections "$NOREPLY")" -ge "$N"
check_num "the mock verified alice's tokens" "$(snap_by_user introspections "$ALICE")" -ge "$N"
check_num "no token refused" "$(snap_stat introspections.failed)" -eq 0
check_num "sender deferred nothing" "$(deferral_count)" -eq 0
check_num "sender's queue is empty" "$(queue_size)" -eq 0
done_testing
