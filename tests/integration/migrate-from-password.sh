#!/bin/bash
# migrate-from-password.sh - "oauth2-token-helper migrate" against real Postfix
# configurations (real postconf and postmap, each in its own config dir):
# a single relayhost with hash:, sender-dependent relays with several logins
# in texthash: tables, lmdb: with its source file gone (postmap -s), entries
# for other relays left untouched, configurations it cannot understand
# (nothing changed), --dry-run changing nothing and printing the expected
# diff; then a relay moved with --apply, signed in with the device flow at
# the mock, delivering through the verifying receiver, and --rollback
# restoring every file byte for byte. No password may appear in any output.
. "$(dirname "$0")/lib.sh"
need_env
setup
need_product
postconf -c "$(dirname "$MASTER_CF_DIST")" -m 2>/dev/null | grep -qx lmdb ||
    [ -e /usr/lib/postfix/postfix-lmdb.so ] || missing "no lmdb table support in Postfix (Debian package postfix-lmdb)"
DEVICE_GRANT=urn:ietf:params:oauth:grant-type:device_code
BK=$T/backups
# The passwords in the "before" configurations: none may ever be printed.
PASSWORDS=(Pw-alice-0c1d2e Pw-bob-3f4a5b Pw-carol-6c7d8e Pw-relay-9f0a1b Pw-static-2c3d4e
    Pw-e2e-5f6a7b)

# migrate_run NAME ARGS... - migrate with its output in logs/migrate-NAME.out; sets RC
migrate_run() {
    local name=$1
    shift
    "$HELPER_BIN" -c "$T/$name.helper.conf" migrate --backup-dir "$BK" "$@" \
        >"$T/logs/migrate-$name.out" 2>&1 </dev/null
    RC=$?
}

# pf_conf NAME - a Postfix configuration directory (main.cf, master.cf) in $T/NAME/conf
pf_conf() {
    postfix_instance "$1"
    echo "$PF_DIR/conf"
}

# sums DIR - checksums, modes and owners of every file in DIR
sums() {
    (cd "$1" && for f in *; do echo "$(sha256sum <"$f") $(stat -c '%a %u %g' "$f") $f"; done)
}

# diff_part FILE - the diff lines of a migrate output (from the first "--- " to the
# blank line before the closing text), with the date of the config comment as DATE
diff_part() {
    sed -n '/^--- /,/^$/p' "$1" | sed -e '/^$/d' -e 's/ on [0-9]*-[0-9]*-[0-9]*, / on DATE, /'
}

# ---- 1. a single relayhost, hash:, another relay's entry left alone ----------
C1=$(pf_conf single)
cat >>"$C1/main.cf" <<'EOF'
relayhost = [smtp.office365.com]:587
smtp_sasl_auth_enable = yes
smtp_sasl_password_maps = hash:$config_directory/sasl_passwd
smtp_sasl_security_options = noanonymous
smtp_tls_security_level = encrypt
EOF
cat >"$C1/sasl_passwd" <<EOF
# relay logins
[smtp.office365.com]:587    alice@contoso.test:${PASSWORDS[0]}
[mail.example.net]:587      backup-user:${PASSWORDS[1]}
EOF
chmod 0600 "$C1/sasl_passwd"
postmap -c "$C1" "hash:$C1/sasl_passwd"
sums "$C1" >"$T/single.before"
migrate_run single -C "$C1" --dry-run
check_num "single relayhost: --dry-run exits 0" "$RC" -eq 0
check "single relayhost: --dry-run changed nothing (checksums, modes)" \
    cmp "$T/single.before" <(sums "$C1")
check "single relayhost: no helper config was written" test ! -e "$T/single.helper.conf"
cat >"$T/single.want" <<EOF
--- /dev/null
+++ $T/single.helper.conf
@@ -0,0 +1,18 @@
+# oauth2-token-helper configuration, started by "oauth2-token-helper migrate".
+# Every setting: oauth2-token-helper.conf(5). The defaults serve Postfix
+# (socket under /var/spool/postfix/private, allow_users = postfix).
+
+# Added by oauth2-token-helper migrate on DATE, for the password login to
+# [smtp.office365.com]:587 (Microsoft 365).
+# Sign in once: oauth2-token-helper authorize alice@contoso.test
+[account alice@contoso.test]
+login = alice@contoso.test
+provider = microsoft
+# tenant: the login's domain, which Entra takes when it is a verified
+# domain of the tenant; else the Directory (tenant) ID
+tenant = contoso.test
+# client_id: Entra admin center > App registrations > your app > Overview >
+# Application (client) ID (README: Getting credentials), or migrate --client-id
+client_id = REPLACE-WITH-APPLICATION-CLIENT-ID
+# a mailbox that signs in once (authorize); no password is kept
+grant = refresh_token
--- $C1/sasl_passwd
+++ $C1/sasl_passwd
@@ -1,3 +1,3 @@
 # relay logins
-[smtp.office365.com]:587    alice@contoso.test:********
+[smtp.office365.com]:587    alice@contoso.test:
 [mail.example.net]:587      backup-user:********
EOF
check "single relayhost: the diff is the expected one (password masked, other relay untouched, main.cf unchanged)" \
    diff -u "$T/single.want" <(diff_part "$T/logs/migrate-single.out")
check "single relayhost: the output says passwords are masked" \
    grep -q 'Passwords are never shown' "$T/logs/migrate-single.out"
migrate_run single -C "$C1" --apply
check_num "single relayhost: --apply with a placeholder client_id is refused (78)" "$RC" -eq 78
check "single relayhost: and changed nothing" cmp "$T/single.before" <(sums "$C1")
check "single relayhost: and says to give --client-id" grep -q -- '--client-id' "$T/logs/migrate-single.out"

# ---- 2. sender-dependent relays, several logins, texthash: --------------------
C2=$(pf_conf senders)
cat >>"$C2/main.cf" <<'EOF'
relayhost = [smtp.office365.com]:587
smtp_sasl_auth_enable = yes
smtp_sender_dependent_authentication = yes
sender_dependent_relayhost_maps = texthash:$config_directory/sender_relay
smtp_sasl_password_maps = texthash:$config_directory/sasl_passwd
smtp_sasl_mechanism_filter = plain, login
smtp_tls_security_level = may
EOF
cat >"$C2/sender_relay" <<'EOF'
alice@contoso.test      [smtp.office365.com]:587
carol@fabrikam.test     [smtp.fabrikam.test]:587
EOF
cat >"$C2/sasl_passwd" <<EOF
alice@contoso.test      alice@contoso.test:${PASSWORDS[0]}
bob@contoso.test        bob@contoso.test:${PASSWORDS[1]}
carol@fabrikam.test     carol:${PASSWORDS[2]}
[smtp.office365.com]:587  relay@contoso.test:${PASSWORDS[3]}
EOF
chmod 0600 "$C2/sasl_passwd"
sums "$C2" >"$T/senders.before"
migrate_run senders -C "$C2"
check_num "sender-dependent: the dry run (the default) exits 0" "$RC" -eq 0
check "sender-dependent: nothing changed" cmp "$T/senders.before" <(sums "$C2")
cat >"$T/senders.want" <<EOF
--- $C2/sasl_passwd
+++ $C2/sasl_passwd
@@ -1,4 +1,4 @@
-alice@contoso.test      alice@contoso.test:********
-bob@contoso.test        bob@contoso.test:********
+alice@contoso.test      alice@contoso.test:
+bob@contoso.test        bob@contoso.test:
 carol@fabrikam.test     carol:********
-[smtp.office365.com]:587  relay@contoso.test:********
+[smtp.office365.com]:587  relay@contoso.test:
--- $C2/main.cf
+++ $C2/main.cf
@@ -$(($(grep -c '' "$C2/main.cf") - 4)),5 +$(($(grep -c '' "$C2/main.cf") - 4)),5 @@
 smtp_sender_dependent_authentication = yes
 sender_dependent_relayhost_maps = texthash:\$config_directory/sender_relay
 smtp_sasl_password_maps = texthash:\$config_directory/sasl_passwd
-smtp_sasl_mechanism_filter = plain, login
+smtp_sasl_mechanism_filter = plain, login, xoauth2
 smtp_tls_security_level = may
EOF
check "sender-dependent: the diff moves three logins, keeps carol's relay, adds xoauth2 to the filter" \
    diff -u "$T/senders.want" <(diff_part "$T/logs/migrate-senders.out" | sed '/^--- \/dev\/null/,/^--- /{/^--- .*sasl_passwd/!d}')
check_num "sender-dependent: three new [account] sections proposed" \
    "$(grep -c '^+\[account ' "$T/logs/migrate-senders.out")" -eq 3
check "sender-dependent: the TLS level stays, with a note" grep -q 'smtp_tls_security_level is "may"' "$T/logs/migrate-senders.out"
migrate_run senders -C "$C2" --apply --client-id "$CLIENT_ID"
check_num "sender-dependent: --apply exits 0" "$RC" -eq 0
check "sender-dependent: carol's password entry is untouched" \
    grep -qxF "carol@fabrikam.test     carol:${PASSWORDS[2]}" "$C2/sasl_passwd"
check "sender-dependent: alice's entry has no password left" \
    grep -qxF "alice@contoso.test      alice@contoso.test:" "$C2/sasl_passwd"
check_num "sender-dependent: sasl_passwd keeps its mode 0600" "$(stat -c %a "$C2/sasl_passwd")" -eq 600
check "sender-dependent: postconf reads the new filter" \
    test "$(postconf -c "$C2" -h smtp_sasl_mechanism_filter)" = "plain, login, xoauth2"
check "sender-dependent: config-check passes on the written config" \
    "$HELPER_BIN" -c "$T/senders.helper.conf" config-check
check "sender-dependent: the output prints the authorize command of each account" \
    grep -q "authorize bob@contoso.test" "$T/logs/migrate-senders.out"
check "sender-dependent: and the test command" \
    grep -q "test relay@contoso.test --smtp smtp.office365.com:587" "$T/logs/migrate-senders.out"
check "sender-dependent: and says the backup keeps the old password table" \
    grep -q "holds the old password table as it was" "$T/logs/migrate-senders.out"
bdir=$(ls -d "$BK"/migrate-* | tail -n 1)
check "sender-dependent: the backup directory is 0700, its files 0600" \
    test "$(stat -c %a "$bdir")" = 700 -a "$(stat -c %a "$bdir"/* | sort -u)" = 600
migrate_run senders -C "$C2"
check "sender-dependent: run again, nothing is left to move (exit 0)" \
    test "$RC" = 0 -a -n "$(grep 'nothing to do' "$T/logs/migrate-senders.out")"
migrate_run senders -C "$C2" --rollback
check_num "sender-dependent: --rollback (the newest backup) exits 0" "$RC" -eq 0
check "sender-dependent: every file is back byte for byte, with its mode and owner" \
    cmp "$T/senders.before" <(sums "$C2")
check "sender-dependent: the helper config migrate created is gone" test ! -e "$T/senders.helper.conf"

# ---- 3. lmdb:, its source file gone: read with postmap -s ----------------------
C3=$(pf_conf lmdb)
cat >>"$C3/main.cf" <<'EOF'
relayhost = [smtp.office365.com]:587
smtp_sasl_auth_enable = yes
smtp_sasl_password_maps = lmdb:$config_directory/sasl_passwd
smtp_tls_security_level = may
EOF
printf '[smtp.office365.com]:587 alice@contoso.test:%s\n' "${PASSWORDS[0]}" >"$C3/sasl_passwd"
chmod 0600 "$C3/sasl_passwd"
postmap -c "$C3" "lmdb:$C3/sasl_passwd"
rm -f "$C3/sasl_passwd"
sums "$C3" >"$T/lmdb.before"
n=$(grep -n '^relayhost' "$C3/main.cf" | cut -d: -f1)
migrate_run lmdb -C "$C3" --dry-run
check_num "lmdb: --dry-run exits 0" "$RC" -eq 0
check "lmdb: nothing changed" cmp "$T/lmdb.before" <(sums "$C3")
cat >"$T/lmdb.want" <<EOF
--- $C3/sasl_passwd (as postmap -s lmdb:... lists it)
+++ $C3/sasl_passwd
@@ -1 +1 @@
-[smtp.office365.com]:587	alice@contoso.test:********
+[smtp.office365.com]:587	alice@contoso.test:
--- $C3/main.cf
+++ $C3/main.cf
@@ -$n,4 +$n,7 @@
 relayhost = [smtp.office365.com]:587
 smtp_sasl_auth_enable = yes
 smtp_sasl_password_maps = lmdb:\$config_directory/sasl_passwd
-smtp_tls_security_level = may
+smtp_tls_security_level = encrypt
+
+# oauth2-token-helper migrate: log in with OAuth2 (XOAUTH2) through the SASL plugin
+smtp_sasl_mechanism_filter = xoauth2
EOF
check "lmdb: the diff (every login moved: filter xoauth2, TLS encrypt)" \
    diff -u "$T/lmdb.want" <(diff_part "$T/logs/migrate-lmdb.out" | sed '/^--- \/dev\/null/,/^--- /{/^--- .*sasl_passwd/!d}')
migrate_run lmdb -C "$C3" --apply --client-id "$CLIENT_ID"
check_num "lmdb: --apply exits 0" "$RC" -eq 0
check "lmdb: postmap rebuilt the table without the password" \
    test "$(postmap -c "$C3" -q '[smtp.office365.com]:587' "lmdb:$C3/sasl_passwd")" = "alice@contoso.test:"
migrate_run lmdb -C "$C3" --rollback
check "lmdb: --rollback restores the table and removes the source it made" \
    cmp "$T/lmdb.before" <(sums "$C3")

# ---- 4. configurations it cannot understand: says what, changes nothing -------
C4=$(pf_conf pcre)
cat >>"$C4/main.cf" <<'EOF'
relayhost = [smtp.office365.com]:587
smtp_sasl_auth_enable = yes
smtp_sasl_password_maps = hash:$config_directory/sasl_passwd
smtp_sender_dependent_authentication = yes
sender_dependent_relayhost_maps = pcre:$config_directory/sender_relay.pcre
EOF
printf '[smtp.office365.com]:587 alice@contoso.test:%s\n' "${PASSWORDS[0]}" >"$C4/sasl_passwd"
printf '/@contoso\\.test$/ [smtp.office365.com]:587\n' >"$C4/sender_relay.pcre"
postmap -c "$C4" "hash:$C4/sasl_passwd"
sums "$C4" >"$T/pcre.before"
migrate_run pcre -C "$C4" --apply --client-id "$CLIENT_ID"
check_num "relays from a pcre: table: exit 78" "$RC" -eq 78
check "relays from a pcre: table: it says what it cannot read" \
    grep -q 'sender_dependent_relayhost_maps uses a pcre: table' "$T/logs/migrate-pcre.out"
check "relays from a pcre: table: nothing changed (checksums)" cmp "$T/pcre.before" <(sums "$C4")
check "relays from a pcre: table: no backup was made" test ! -e "$T/pcre.helper.conf"

C5=$(pf_conf static)
cat >>"$C5/main.cf" <<EOF
relayhost = [smtp.office365.com]:587
smtp_sasl_auth_enable = yes
smtp_sasl_password_maps = static:alice@contoso.test:${PASSWORDS[4]}
EOF
sums "$C5" >"$T/static.before"
migrate_run static -C "$C5" --dry-run
check_num "a static: password table: exit 78" "$RC" -eq 78
check "a static: password table: it names the table type" \
    grep -q 'smtp_sasl_password_maps uses a static: table' "$T/logs/migrate-static.out"
check "a static: password table: nothing changed" cmp "$T/static.before" <(sums "$C5")

C6=$(pf_conf nosasl)
echo 'relayhost = [smtp.office365.com]:587' >>"$C6/main.cf"
sums "$C6" >"$T/nosasl.before"
migrate_run nosasl -C "$C6" --apply
check_num "no SASL at all: exit 69 (nothing to move)" "$RC" -eq 69
check "no SASL at all: it says so" grep -q 'no password to move' "$T/logs/migrate-nosasl.out"
check "no SASL at all: nothing changed" cmp "$T/nosasl.before" <(sums "$C6")

# ---- 5. --apply, authorize (device flow), relay, --rollback -------------------
start_mock
start_receiver
prepare_sender
HELPER_DIR=$T/helper
HELPER_CONF=$HELPER_DIR/helper.conf
mkdir -p "$HELPER_DIR/state"
chmod 0700 "$HELPER_DIR/state"
cat >"$HELPER_CONF" <<EOF
# $TEST_NAME: the daemon's settings before any account
socket = $(helper_socket)
state_dir = $HELPER_DIR/state
allow_users = postfix root
socket_group = postfix
socket_mode = 0660
EOF
chmod 0644 "$HELPER_CONF" # no secret; readable by oauth2-helper whether or not it exists (lib.sh write_helper_config)
# Basic authentication as it is today: a password in a hash: table, no filter.
sender_relay_to_receiver "$ALICE" "${PASSWORDS[5]}" "" \
    "SASL_PATH=$SASL_DIR OAUTH2_TOKEN_HELPER_CONFIG=$HELPER_CONF"
postconf -c "$SENDER_DIR/conf" -e "smtp_sasl_password_maps = hash:$SENDER_DIR/conf/sasl_passwd"
postmap -c "$SENDER_DIR/conf" "hash:$SENDER_DIR/conf/sasl_passwd"
mkdir -p "$T/orig"
for f in main.cf sasl_passwd sasl_passwd.db; do cp -p "$SENDER_DIR/conf/$f" "$T/orig/$f"; done
cp -p "$HELPER_CONF" "$T/orig/helper.conf"
modes_of() { stat -c '%a %u %g %s' "$SENDER_DIR/conf/main.cf" "$SENDER_DIR/conf/sasl_passwd" \
    "$SENDER_DIR/conf/sasl_passwd.db" "$HELPER_CONF"; }
modes_of >"$T/orig.modes"

"$HELPER_BIN" -c "$HELPER_CONF" migrate -C "$SENDER_DIR/conf" --host 127.0.0.1 \
    --client-id "$CLIENT_ID" --backup-dir "$BK" --apply >"$T/logs/migrate-apply.out" 2>&1 </dev/null
check_num "relay: migrate --apply exits 0" "$?" -eq 0
check "relay: the account section is in the helper config" grep -qxF "[account $ALICE]" "$HELPER_CONF"
check "relay: the password is gone from sasl_passwd" \
    grep -qxF "[127.0.0.1]:$RECEIVER_PORT $ALICE:" "$SENDER_DIR/conf/sasl_passwd"
check "relay: smtp_sasl_mechanism_filter = xoauth2" \
    test "$(postconf -c "$SENDER_DIR/conf" -h smtp_sasl_mechanism_filter)" = xoauth2
bdir=$(ls -d "$BK"/migrate-* | tail -n 1)
bfile=$(awk -F'\t' -v p="$SENDER_DIR/conf/sasl_passwd" '$1 == "file" && $8 == p { print $7 }' "$bdir/MANIFEST")
check "relay: the backup holds the old password table as it was (MANIFEST names it)" \
    cmp "$T/orig/sasl_passwd" "$bdir/${bfile:-none}"
check "relay: the MANIFEST records its mode and owner" \
    grep -qP "^file\t0600\t0\t0\t.*\t$SENDER_DIR/conf/sasl_passwd\$" "$bdir/MANIFEST"
# The stand-in for Entra: only the login host and its CA differ from the real one.
awk -v hdr="[account $ALICE]" -v url="$MOCK_URL" -v ca="$CA" \
    '{ print } $0 == hdr { print "authority = " url; print "ca_file = " ca }' \
    "$HELPER_CONF" >"$HELPER_CONF.new" && cat "$HELPER_CONF.new" >"$HELPER_CONF" && rm -f "$HELPER_CONF.new"
mockctl register --client-id "$CLIENT_ID" --tenant "$TENANT" >>"$T/logs/mockctl.log" ||
    bail "cannot register the app at the mock"
mockctl settings --device-interval 1 >>"$T/logs/mockctl.log"
run_helper
postfix_start "$SENDER_DIR" "$SENDER_PORT"

env -u DISPLAY -u WAYLAND_DISPLAY "$HELPER_BIN" -c "$HELPER_CONF" authorize "$ALICE" \
    </dev/null >"$T/logs/authorize.out" 2>"$T/logs/authorize.err" &
AUTH_PID=$!
on_exit "kill $AUTH_PID"
wait_until 20 grep -q "enter the code" "$T/logs/authorize.out" || bail "no user code shown"
CODE=$(awk '/enter the code/ { getline; getline; print $1 }' "$T/logs/authorize.out")
check "relay: the user approves the device code at the mock" \
    mockctl device approve --user-code "$CODE" --user "$ALICE"
wait "$AUTH_PID"
check_num "relay: authorize exits 0" "$?" -eq 0
check_relayed 2 XOAUTH2
check_num "relay: one device-code grant at the mock" \
    "$(mock_stat "token_requests.by_grant.$DEVICE_GRANT.ok")" -eq 1

"$HELPER_BIN" -c "$HELPER_CONF" migrate -C "$SENDER_DIR/conf" --backup-dir "$BK" --rollback \
    >"$T/logs/migrate-rollback.out" 2>&1 </dev/null
check_num "relay: migrate --rollback exits 0" "$?" -eq 0
for f in main.cf sasl_passwd sasl_passwd.db; do
    check "relay: --rollback restored $f byte for byte" cmp "$T/orig/$f" "$SENDER_DIR/conf/$f"
done
check "relay: --rollback restored the helper config byte for byte" cmp "$T/orig/helper.conf" "$HELPER_CONF"
check "relay: modes, owners and sizes as before" cmp "$T/orig.modes" <(modes_of)

# ---- no password in any output ------------------------------------------------
leaks=0
for pw in "${PASSWORDS[@]}"; do
    if grep -r -q -F -- "$pw" "$T/logs"; then
        diag "a test password appears in $(grep -r -l -F -- "$pw" "$T/logs" | head -n 1)"
        leaks=$((leaks + 1))
    fi
done
check_num "no password of the old configurations in any output or log" "$leaks" -eq 0
done_testing
