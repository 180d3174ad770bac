#!/bin/bash
# exim-smarthost-as-shipped.sh - conf/exim/xoauth2-smarthost.conf as
# shipped drives the real Exim 4.96
#
# The installed example (make install DESTDIR=..., examples/exim/) goes
# into Exim's configuration with only host names, ports, paths and the
# account name replaced: the relay smtp.office365.com becomes 127.0.0.2
# (a loopback address that is not one of this host's interfaces, so that
# Exim needs neither "self = send" nor "allow_localhost": no line is
# added to the snippet), port 587 the receiver's port, "system" trust the
# test CA's file, /usr/sbin/oauth2-token-helper the installed helper. The
# command line keeps its shape: no -c, so the helper reads the build's
# default config file, and that config's global settings are the lines
# the snippet's comment gives for Exim (socket, socket_group,
# allow_users), with the socket's path replaced and its trailing
# "# comment" kept as shown. The receiver listens on 127.0.0.2 too, with
# a certificate naming it. README's Exim block must be the snippet's
# authenticator, word for word.
#
# Each message is queued, then delivered by a queue run as root: every
# one through the snippet's router, transport and authenticator, with a
# 2,500-character token the receiver's Dovecot verifies at the mock.
. "$(dirname "$0")/../integration/lib.sh"
need_env
setup
need_product
N=${SHIPPED_MESSAGES:-3}
RELAY=relay@contoso.test
unset OAUTH2_TOKEN_HELPER_CONFIG

need_exim

system_paths_lock
install_tree
SNIPPET=$INST_EXAMPLES/exim/xoauth2-smarthost.conf
[ -f "$SNIPPET" ] || bail "make install did not install examples/exim/xoauth2-smarthost.conf"

# ---- README shows the snippet's authenticator ----------------------------
sed -n '/^xoauth2:$/,$p' "$SNIPPET" | sed '/^$/,$d' >"$T/snippet-auth.txt"
readme_section_blocks '### Exim' | awk '/^----$/ { if (on) exit; next } /^xoauth2:$/ { on = 1 } on' >"$T/readme-auth.txt"
check "README's Exim authenticator is the snippet's, word for word" \
    diff "$T/snippet-auth.txt" "$T/readme-auth.txt"

start_mock
mockctl settings --token-length 2500 >/dev/null || bail "mock settings failed"
start_receiver

# The receiver also on 127.0.0.2, with a certificate naming that address.
receiver_also_on 127.0.0.2

# ---- the helper, configured as the snippet says -------------------------
EXIM_DIR=$T/exim
mkdir -p "$EXIM_DIR/run" "$EXIM_DIR/spool" "$T/logs/exim" "$T/helper/state"
chmod 0700 "$T/helper/state"
chown Debian-exim:Debian-exim "$T/logs/exim" "$EXIM_DIR/spool"
chmod 0750 "$EXIM_DIR/spool"
chown root:Debian-exim "$EXIM_DIR/run"
chmod 0750 "$EXIM_DIR/run"
SOCKET=$EXIM_DIR/run/socket
{
    echo "# oauth2-token-helper for $TEST_NAME: the global lines of the Exim snippet"
    awk '/In \/etc\/oauth2-token-helper\.conf:$/ { on = 1; next }
        on && /^#     [a-z_]+ = / { print substr($0, 7); next }
        on { exit }' "$SNIPPET" |
        sed "s|/run/oauth2-token-helper/socket|$SOCKET|"
    echo "state_dir = $T/helper/state"
    echo
    echo "[account $RELAY]"
    echo "tenant = contoso.test"
    echo "client_id = $CLIENT_ID"
    echo "authority = $MOCK_URL"
    echo "ca_file = $CA"
} >"$T/helper.conf"
check_num "the snippet's comment gives socket, socket_group and allow_users" \
    "$(grep -c -E '^(socket|socket_group|allow_users) = ' "$T/helper.conf")" -eq 3
diag "$(grep '^socket = ' "$T/helper.conf")"
# Only sample-config-as-installed.sh may use the default socket under
# /var/spool/postfix: without the snippet's socket line, stop here.
grep -q "^socket = $SOCKET" "$T/helper.conf" || bail "no socket line from the snippet's comment"
claim_system_config "$T/helper.conf"
"$INST_HELPER" config-check >"$T/logs/config-check.log" 2>&1
check_num "config-check of that config exits 0" "$?" -eq 0
mockctl grant --user "$RELAY" --client-id "$CLIENT_ID" --tenant contoso.test |
    "$INST_HELPER" import "$RELAY" >>"$T/logs/helper-cli.log" 2>&1 || bail "import $RELAY failed"
"$INST_HELPER" serve </dev/null >>"$T/logs/helper-serve.log" 2>&1 &
HELPER_PID=$!
on_exit "stop_pid $HELPER_PID"
check "the daemon listens on the snippet's socket (path replaced)" wait_until 20 test -S "$SOCKET"
check "socket group Debian-exim, as the snippet says" test "$(stat -c %G "$SOCKET" 2>/dev/null)" = Debian-exim
diag "daemon: $(grep -m 1 -i 'error\|listen' "$T/logs/helper-serve.log" | cut -c1-200)"

# ---- Exim: a test main section, then the snippet ------------------------
EXIM_CONF=$EXIM_DIR/exim.conf
sed -e "s|/usr/sbin/oauth2-token-helper|$INST_HELPER|" \
    -e "s|relay@contoso\\.com|$RELAY|g" \
    -e "s|smtp\\.office365\\.com|127.0.0.2|g" \
    -e "s|^  port = 587\$|  port = $RECEIVER_PORT|" \
    -e "s|^  tls_verify_certificates = system\$|  tls_verify_certificates = $CA|" \
    "$SNIPPET" >"$EXIM_DIR/snippet.conf"
diff "$SNIPPET" "$EXIM_DIR/snippet.conf" >"$T/logs/snippet.diff"
check_num "only host names, ports, paths and the account changed in the snippet (lines)" \
    "$(grep -c '^> ' "$T/logs/snippet.diff")" -le 8
check "no line added to the snippet" test "$(grep -c '^> ' "$T/logs/snippet.diff")" -eq "$(grep -c '^< ' "$T/logs/snippet.diff")"
check "the helper's command line keeps its shape (no -c)" \
    grep -q -- "{$INST_HELPER token $RELAY --format json}" "$EXIM_DIR/snippet.conf"
{
    exim_main_section
    cat "$EXIM_DIR/snippet.conf"
    printf '\nbegin retry\n*   *   F,1h,1m\n'
} >"$EXIM_CONF"
chmod 0644 "$EXIM_CONF"
"$EXIM_BIN" -C "$EXIM_CONF" -bV >>"$T/logs/exim-version.log" 2>&1 ||
    bail "Exim refuses the configuration (see logs/exim-version.log)"
diag "receiver 127.0.0.2:$RECEIVER_PORT, mock $MOCK_URL"

exim() {
    "$EXIM_BIN" -C "$EXIM_CONF" "$@"
}
exim_log() {
    cat "$T/logs/exim/mainlog" 2>/dev/null
}

for i in $(seq 1 "$N"); do
    exim -odq -f "sender@sender.test" "$RCPT" >>"$T/logs/exim-cli.log" 2>&1 <<EOM
From: sender@sender.test
To: $RCPT
Subject: $TEST_NAME message $i

Message $i through the shipped Exim snippet.
EOM
    exim -qff >>"$T/logs/exim-cli.log" 2>&1
done
wait_delivered "$N" 30
check_num "every message delivered at the receiver" "$(delivered_count)" -eq "$N"
check_num "Exim logged each: certificate verified, authenticated by xoauth2" \
    "$(exim_log | grep ' => ' | grep -c ' CV=yes A=xoauth2 ')" -eq "$N"
check_num "the receiver logged AUTH XOAUTH2 as $RELAY for each" \
    "$(receiver_log | grep -c "sasl_method=XOAUTH2, sasl_username=$RELAY")" -eq "$N"
check_num "Dovecot verified each token at the mock" "$(mock_stat introspections.ok)" -ge "$N"
check_num "Exim deferred nothing" "$(exim_log | grep -c ' == ')" -eq 0
why=$(exim_log | grep -m 1 ' == ' | sed 's/.*failed in xoauth2 authenticator: //' | cut -c1-300)
[ -n "$why" ] && diag "deferral: $why"
check_num "nothing frozen or left in Exim's queue" "$(exim -bpc 2>/dev/null)" -eq 0
done_testing
