#!/bin/bash
# relay-oauthbearer.sh - Postfix relays through the plugin with AUTH OAUTHBEARER
#
# As relay-xoauth2.sh, with smtp_sasl_mechanism_filter = oauthbearer
# (RFC 7628): all messages arrive, every token verified, none deferred.
# The app registration here is confidential: the daemon must send the
# client secret from its client_secret_file (the mock refuses it otherwise),
# and the secret, like the tokens, must appear in no log.
. "$(dirname "$0")/lib.sh"
need_env
setup
need_product
N=${RELAY_MESSAGES:-5}
CLIENT_SECRET=$(head -c 30 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 32)~Q8

start_mock
start_receiver
prepare_sender
start_helper
start_sender oauthbearer
diag "receiver :$RECEIVER_PORT, sender :$SENDER_PORT, mock $MOCK_URL"

check_relayed "$N" OAUTHBEARER
check_num "token requests at the mock (import + refreshes)" "$(mock_stat token_requests.by_outcome.ok)" -le 3
check_num "no token request was refused for a missing or wrong secret" "$(mock_stat token_requests.total)" -eq "$(mock_stat token_requests.by_outcome.ok)"
diag "mock: $(mock_stat token_requests.by_outcome.ok) token requests, $(mock_stat introspections.ok) introspections"
done_testing
