#!/bin/bash
# relay-with-kde-plugin-installed.sh - our plugin wins over libkdexoauth2
#
# Debian ships libkdexoauth2.so, another XOAUTH2 client plugin, which would
# send the sasl_passwd password ("unused") as the token. With both plugins
# in the SASL plugin directory and no mechanism filter, mail must still be
# delivered with tokens from our daemon (the receiver refuses anything else).
# Then again with smtp_sasl_mechanism_filter = xoauth2, where both plugins
# offer the very same mechanism, and once more with the common howto setting
# smtp_sasl_security_options = noanonymous, which makes libkdexoauth2
# eligible too (by default noplaintext rules it out).
. "$(dirname "$0")/lib.sh"
need_env
[ -f "$KDE_PLUGIN_SO" ] || missing "libsasl2-modules-kdexoauth2 not installed ($KDE_PLUGIN_SO)"
setup
need_product
N=${RELAY_MESSAGES:-5}

start_mock
start_receiver
prepare_sender
ln -sf "$KDE_PLUGIN_SO" "$SASL_DIR/libkdexoauth2.so"
diag "SASL_PATH holds: $(ls "$SASL_DIR" | tr '\n' ' ')"
start_helper
start_sender ""
diag "receiver :$RECEIVER_PORT, sender :$SENDER_PORT, mock $MOCK_URL"

check_relayed "$N" "(XOAUTH2|OAUTHBEARER)"
check_num "tokens came from our daemon (mock token requests)" "$(mock_stat token_requests.by_outcome.ok)" -ge 1
check_num "no SASL failure at the receiver" "$(receiver_log | grep -c 'authentication failed')" -eq 0
diag "mechanisms used: $(receiver_log | grep -o 'sasl_method=[A-Z0-9]*' | sort | uniq -c | tr -s ' \n' ' ')"

# Phase 2: XOAUTH2 only, offered by both plugins.
postconf -c "$SENDER_DIR/conf" -e "smtp_sasl_mechanism_filter = xoauth2"
postfix -c "$SENDER_DIR/conf" reload >>"$T/logs/sender-postfix.log" 2>&1
inject "$N" >/dev/null
wait_delivered $((2 * N)) 90
check_num "with filter xoauth2: all messages delivered" "$(delivered_count)" -eq $((2 * N))
check_num "with filter xoauth2: receiver logged XOAUTH2 logins" "$(receiver_log | grep -c "sasl_method=XOAUTH2, sasl_username=$ALICE")" -ge "$N"
check_num "with filter xoauth2: no SASL failure at the receiver" "$(receiver_log | grep -c 'authentication failed')" -eq 0
check_num "with filter xoauth2: sender deferred nothing" "$(deferral_count)" -eq 0
check_num "with filter xoauth2: sender's queue is empty" "$(queue_size)" -eq 0

# Phase 3: plaintext mechanisms allowed, so both XOAUTH2 plugins compete.
postconf -c "$SENDER_DIR/conf" -e "smtp_sasl_security_options = noanonymous"
postfix -c "$SENDER_DIR/conf" reload >>"$T/logs/sender-postfix.log" 2>&1
inject "$N" >/dev/null
wait_delivered $((3 * N)) 90
check_num "with noanonymous only: all messages delivered" "$(delivered_count)" -eq $((3 * N))
check_num "with noanonymous only: no SASL failure at the receiver" "$(receiver_log | grep -c 'authentication failed')" -eq 0
check_num "with noanonymous only: sender deferred nothing" "$(deferral_count)" -eq 0
done_testing
