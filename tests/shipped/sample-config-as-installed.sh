#!/bin/bash
# sample-config-as-installed.sh - the installed sample config drives a
# Postfix relay, as an admin would set it up
#
# "make install DESTDIR=..." puts the annotated config under
# $(docdir)/examples. The test copies it to the build's default config
# file (/etc/oauth2-token-helper.conf when configured as README says,
# --sysconfdir=/etc; /usr/local/etc/... by default), changing only what
# the file says to fill in: the account name, tenant, client_id, the
# identity platform (authority, ca_file: here the mock). No socket line: the daemon
# and the plugin must meet at the built-in default,
# /var/spool/postfix/private/oauth2-token-helper. So the sender Postfix
# (its own config_directory, never /etc/postfix) runs on the real queue
# directory /var/spool/postfix, its chrooted smtp(8) loads the installed
# plugin, which finds the config file by itself (no
# OAUTH2_TOKEN_HELPER_CONFIG), and the installed helper runs without -c.
# Tokens of 4,500 characters; Dovecot checks each at the mock.
#
# System paths: a machine-wide lock serialises the tests using them; an
# existing config file there, a Postfix running on /var/spool/postfix or
# mail queued there make the test skip (fail under CI=true); what it
# creates there it removes. The default state_dir,
# /var/lib/oauth2-token-helper, is used when it does not exist yet (else
# a state_dir of the test's own, the one path changed).
. "$(dirname "$0")/../integration/lib.sh"
need_env
setup
need_product
N=${SHIPPED_MESSAGES:-3}
RELAY=relay@contoso.test
DEFAULT_SOCKET=$SYSTEM_QUEUE/private/oauth2-token-helper
unset OAUTH2_TOKEN_HELPER_CONFIG

system_paths_lock
install_tree
EXAMPLE=$INST_EXAMPLES/oauth2-token-helper.conf
diag "installed example: ${EXAMPLE#$INST_ROOT}"
# The integration tests read the examples from conf/: each one must be
# installed, byte for byte.
missing=0
for f in "$top_srcdir"/conf/oauth2-token-helper.conf "$top_srcdir"/conf/postfix/* \
    "$top_srcdir"/conf/postfix/*/* "$top_srcdir"/conf/exim/*; do
    [ -f "$f" ] || continue
    rel=${f#"$top_srcdir"/conf/}
    if ! cmp -s "$f" "$INST_EXAMPLES/$rel"; then
        diag "not installed as shipped: conf/$rel"
        missing=$((missing + 1))
    fi
done
check_num "every example of conf/ is installed under examples/, byte for byte" "$missing" -eq 0

start_mock
mockctl settings --token-length 4500 >/dev/null || bail "mock settings failed"
start_receiver

# ---- the sample config, placeholders filled in --------------------------
CONF=$T/oauth2-token-helper.conf
sed -e "s/^#\[account relay@contoso\.com\]\$/[account $RELAY]/" \
    -e 's/^#tenant = contoso\.com$/tenant = contoso.test/' \
    -e "s/^#client_id = 00000000-0000-0000-0000-000000000000\$/client_id = $CLIENT_ID/" \
    -e "s|^#authority = https://login\\.microsoftonline\\.com\$|authority = $MOCK_URL|" \
    -e "s|^#ca_file = /etc/ssl/certs/ca-certificates\\.crt\$|ca_file = $CA|" \
    "$EXAMPLE" >"$CONF"
STATE_NOTE="default state_dir $SYSTEM_STATE_DIR"
if ! claim_system_state_dir; then
    # Someone's state is there: keep it apart (the one path changed).
    mkdir -m 0700 "$T/state"
    sed -i "s|^#state_dir = $SYSTEM_STATE_DIR\$|state_dir = $T/state|" "$CONF"
    STATE_NOTE="$SYSTEM_STATE_DIR exists: state_dir = $T/state"
fi
diag "$STATE_NOTE"
diff "$EXAMPLE" "$CONF" >"$T/logs/config-diff.log"
check_num "only the placeholders changed (lines set)" "$(grep -c '^> ' "$T/logs/config-diff.log")" -eq 5
check "each change uncomments a line the example has (nothing added)" \
    test "$(grep -c '^< #' "$T/logs/config-diff.log")" -eq "$(grep -c '^> ' "$T/logs/config-diff.log")"
check "no socket line: the built-in default is used" sh -c "! grep -q '^ *socket *=' '$CONF'"
claim_system_config "$CONF"

# ---- the installed helper, without -c ------------------------------------
"$INST_HELPER" config-check >"$T/logs/config-check.log" 2>&1
check_num "config-check on the default path exits 0" "$?" -eq 0
mockctl grant --user "$RELAY" --client-id "$CLIENT_ID" --tenant contoso.test |
    "$INST_HELPER" import "$RELAY" >>"$T/logs/helper-cli.log" 2>&1
check_num "import $RELAY exits 0" "$?" -eq 0
[ -e "$DEFAULT_SOCKET" ] && bail "$DEFAULT_SOCKET exists before the daemon started"
"$INST_HELPER" serve </dev/null >>"$T/logs/helper-serve.log" 2>&1 &
HELPER_PID=$!
on_exit "stop_pid $HELPER_PID; [ -S $DEFAULT_SOCKET ] && rm -f $DEFAULT_SOCKET"
wait_until 20 test -S "$DEFAULT_SOCKET" || bail "the daemon did not create $DEFAULT_SOCKET (see logs/helper-serve.log)"
check "the daemon listens on the built-in default $DEFAULT_SOCKET, group postfix" \
    test "$(stat -c %G "$DEFAULT_SOCKET")" = postfix
"$INST_HELPER" token "$RELAY" >/dev/null 2>>"$T/logs/helper-cli.log"
check_num "token $RELAY (through the daemon) exits 0" "$?" -eq 0

# ---- Postfix on /var/spool/postfix with the installed plugin -------------
start_system_sender "$RELAY" xoauth2
diag "receiver :$RECEIVER_PORT, sender :$SENDER_PORT on $SYSTEM_QUEUE, mock $MOCK_URL"
ALICE=$RELAY
check_relayed "$N" XOAUTH2
why=$(sender_log | grep -m 1 'SASL authentication problem' | sed 's/.*SASL authentication problem: //' | cut -c1-300)
[ -n "$why" ] && diag "plugin: $why"
check_num "the plugin never failed to reach the daemon" \
    "$(sender_log | grep -c 'cannot reach the token daemon')" -eq 0
check_num "smtp(8) ran chrooted (stock master.cf)" \
    "$(grep -E '^smtp +unix .* (y|-) +- +smtp' "$SENDER_DIR/conf/master.cf" | grep -c .)" -ge 1
done_testing
