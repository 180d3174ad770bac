#!/bin/bash
# relay-certificate-rollover.sh - a certificate rollover costs no deferral.
# An app-only account names its certificate and, as README's "Certificate
# rollover" section shows, the next pair, made by "oauth2-token-helper
# new-certificate". Entra (the mock) knows only the current certificate at
# first: the daemon tries the newer pair, gets AADSTS700027 and signs again
# at once with the current one. Mid-run the new certificate is uploaded and
# the old one removed at the mock: the next refresh falls back to the new
# pair in the same refresh cycle. Short access tokens make the daemon
# refresh several times while messages flow; every message is delivered
# and the sender's log has no "deferred".
. "$(dirname "$0")/lib.sh"
need_env
setup
need_product
N=${ROLLOVER_MESSAGES:-8}
ALICE=relay@contoso.test

start_mock
start_receiver
prepare_sender
write_helper_config "$ALICE"
(umask 077 && openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj /CN=relay-app \
    -keyout "$HELPER_DIR/relay-app.key" -out "$HELPER_DIR/relay-app.pem") \
    2>>"$T/logs/openssl.log" || bail "cannot make the current certificate"
# README's lines, with this test's directory for /etc/oauth2-token-helper.
echo "grant = client_credentials" >>"$HELPER_CONF"
readme_section_blocks "### Certificate rollover without an outage" | sed -e 's/^ *//' |
    grep -E '^(next_)?client_(certificate|key)_file *=' |
    sed -e "s|/etc/oauth2-token-helper/|$HELPER_DIR/|" >>"$HELPER_CONF"
check_num "README's rollover lines: two pairs" "$(grep -cE '^(next_)?client_(certificate|key)_file = ' "$HELPER_CONF")" -eq 4
sleep 1 # the next certificate's notBefore is later than the current one's
check "new-certificate makes the next pair" \
    sh -c "'$HELPER_BIN' -c '$HELPER_CONF' new-certificate '$ALICE' >'$T/logs/new-certificate.log' 2>&1"
mockctl register --client-id "$CLIENT_ID" --tenant "$TENANT" --mailbox "$ALICE" \
    --certificate "$HELPER_DIR/relay-app.pem" >>"$T/logs/mockctl.log" ||
    bail "cannot register the app at the mock"
mockctl settings --lifetime 20 >>"$T/logs/mockctl.log"
check "config-check accepts both pairs" helper config-check
run_helper
start_sender xoauth2 "$ALICE"

got=$(inject "$((N / 2))" 3)
# Entra gets the new certificate and loses the old one while mail flows.
mockctl register --client-id "$CLIENT_ID" --tenant "$TENANT" \
    --add-certificate "$HELPER_DIR/relay-app.next.pem" >>"$T/logs/mockctl.log" &&
    mockctl register --client-id "$CLIENT_ID" --tenant "$TENANT" \
        --remove-certificate "$HELPER_DIR/relay-app.pem" >>"$T/logs/mockctl.log" ||
    bail "cannot swap the certificates at the mock"
got2=$(inject "$((N - N / 2))" 3)
check_num "sender's smtpd accepted the messages" "$((${got:-0} + ${got2:-0}))" -eq "$N"
wait_delivered "$N" 90
check_num "messages delivered at the receiver" "$(delivered_count)" -eq "$N"
check_num "Dovecot verified every token at the mock" "$(mock_stat introspections.failed)" -eq 0
check_num "AADSTS700027 answered at least twice (new pair before upload, old after removal)" \
    "$(mock_stat token_requests.by_outcome.wrong_thumbprint)" -ge 2
check_num "several tokens from a verified assertion" "$(mock_stat token_requests.by_outcome.ok)" -ge 3
check_num "sender deferred nothing" "$(deferral_count)" -eq 0
check "the sender's log has no 'deferred'" sh -c "! grep -q deferred '$T/logs/sender-maillog.log'"
check_num "sender's queue is empty" "$(queue_size)" -eq 0
check "the daemon switched pairs at once" \
    grep -q "trying next_client_certificate_file at once" "$T/logs/helper-serve.log"
status=$(helper status "$ALICE")
check "status shows both certificates, the next one in use" \
    sh -c "printf '%s\n' \"\$1\" | grep -Eq 'next certificate: expires .*, in use'" _ "$status"
done_testing
