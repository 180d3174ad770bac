#!/bin/bash
# relay-oauthbearer.sh - Postfix relays through the plugin with AUTH OAUTHBEARER
#
# As relay-xoauth2.sh, with smtp_sasl_mechanism_filter = oauthbearer
# (RFC 7628): all messages arrive, every token verified, none deferred.
. "$(dirname "$0")/lib.sh"
need_env
setup
need_product
N=${RELAY_MESSAGES:-5}

start_mock
start_receiver
prepare_sender
start_helper
start_sender oauthbearer
diag "receiver :$RECEIVER_PORT, sender :$SENDER_PORT, mock $MOCK_URL"

check_relayed "$N" OAUTHBEARER
check_num "token requests at the mock (import + refreshes)" "$(mock_stat token_requests.by_outcome.ok)" -le 3
diag "mock: $(mock_stat token_requests.by_outcome.ok) token requests, $(mock_stat introspections.ok) introspections"
done_testing
