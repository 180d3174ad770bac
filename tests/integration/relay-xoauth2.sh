#!/bin/bash
# relay-xoauth2.sh - Postfix relays through the plugin with AUTH XOAUTH2
#
# Stock chrooted smtp(8), smtp_sasl_mechanism_filter = xoauth2, tokens of
# about 2,000 characters from the mock; the receiver's Dovecot checks every
# token at the mock. All messages must arrive, none deferred.
. "$(dirname "$0")/lib.sh"
need_env
setup
need_product
N=${RELAY_MESSAGES:-5}

start_mock
start_receiver
prepare_sender
start_helper
start_sender xoauth2
diag "receiver :$RECEIVER_PORT, sender :$SENDER_PORT, mock $MOCK_URL"

check_relayed "$N" XOAUTH2
check_num "token requests at the mock (import + refreshes)" "$(mock_stat token_requests.by_outcome.ok)" -le 3
diag "mock: $(mock_stat token_requests.by_outcome.ok) token requests, $(mock_stat introspections.ok) introspections"
done_testing
