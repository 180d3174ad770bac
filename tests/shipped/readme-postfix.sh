#!/bin/bash
# readme-postfix.sh - README's Postfix lines, read out of README.md, relay
#
# Step "5. **Postfix**" of README.md shows the main.cf lines and the
# sasl_passwd line. The test reads both fenced blocks out of README.md
# (no copy of them here), replaces only host names, ports and the
# /etc/postfix path (smtp.office365.com:587 becomes the receiver,
# contoso.com contoso.test), puts them on the sender (postconf -e, over
# the test's own relay settings) and relays messages with 4,500-character
# tokens through the plugin to the receiver, which verifies each token.
# Then the block of "Several accounts, shared mailboxes, app-only
# accounts": its main.cf lines and its sasl_passwd keyed by sender, with
# conf/postfix/sender_relay for the map it names; each sender's mail must
# log in as README says (shared@ as itself with alice's token, any other
# sender as relay@). The POSTFIX section of oauth2-token-helper(8) must
# show step 5's lines too.
. "$(dirname "$0")/../integration/lib.sh"
need_env
setup
need_product
N=${SHIPPED_MESSAGES:-3}
RELAY=relay@contoso.test
BOB=bob@contoso.test
SHARED=shared@contoso.test
OTHER=someone-else@contoso.test

# readme_settings - "name = value" lines of a readme_blocks block on stdin
readme_settings() {
    grep -E '^[a-z_0-9]+ *='
}

# apply_main_cf FILE - each setting of FILE into the sender's main.cf
apply_main_cf() {
    local line
    while IFS= read -r line; do
        postconf -c "$SENDER_DIR/conf" -e "$line" || bail "postconf -e '$line' failed"
    done <"$1"
}

# main_cf_matches FILE - postconf -n shows every setting of FILE as written
main_cf_matches() {
    local line key want got
    while IFS= read -r line; do
        key=${line%%=*}
        key=${key%% *}
        want=$(echo "${line#*=}" | sed 's/^ *//')
        got=$(postconf -c "$SENDER_DIR/conf" -h "$key")
        [ "$got" = "$want" ] || { echo "$key: '$got' != '$want'"; return 1; }
    done <"$1"
}

# reload_sender - postfix reload, and let the next message's daemons restart
reload_sender() {
    postfix -c "$SENDER_DIR/conf" reload >>"$T/logs/sender-postfix.log" 2>&1 || bail "postfix reload failed"
    sleep 1
}

start_mock
mockctl settings --token-length 4500 >/dev/null || bail "mock settings failed"
RECEIVER_SHARED_MAILBOXES=$SHARED start_receiver
mockctl delegate --user "$ALICE" --mailbox "$SHARED" >/dev/null || bail "mockctl delegate failed"
prepare_sender
start_helper "$RELAY" "$ALICE" "$BOB"
start_sender xoauth2 "$RELAY"

# ---- 1. the single relay of step 5 --------------------------------------
readme_blocks '^[0-9]+\. \*\*Postfix\*\*' >"$T/readme-postfix.txt"
awk '/^----$/ {exit} {print}' "$T/readme-postfix.txt" | example_subst | readme_settings >"$T/main.cf.readme"
awk 'n == 1 && /^----$/ {exit} n == 1 {print} /^----$/ {n++}' "$T/readme-postfix.txt" |
    grep -v '^#' | grep . | example_subst >"$T/sasl_passwd.readme"
diag "README main.cf: $(tr '\n' ';' <"$T/main.cf.readme")"
check_num "README step 5 shows main.cf settings" "$(wc -l <"$T/main.cf.readme")" -ge 4
check_num "and one sasl_passwd line" "$(wc -l <"$T/sasl_passwd.readme")" -eq 1
check "the main.cf lines name a relay, SASL, its password map and TLS" \
    grep -q '^smtp_sasl_password_maps *= *texthash:' "$T/main.cf.readme"
map=$(sed -n 's/^smtp_sasl_password_maps *= *texthash://p' "$T/main.cf.readme")
check "the password map is the sender's sasl_passwd ($map)" test "$map" = "$SENDER_DIR/conf/sasl_passwd"
cp "$T/sasl_passwd.readme" "$SENDER_DIR/conf/sasl_passwd"
apply_main_cf "$T/main.cf.readme"
reload_sender
check "postconf -n shows README's settings as written" main_cf_matches "$T/main.cf.readme"
ALICE_SAVED=$ALICE
ALICE=$RELAY
check_relayed "$N" XOAUTH2
ALICE=$ALICE_SAVED

# oauth2-token-helper(8) shows the same lines under POSTFIX.
awk '/^\.SH POSTFIX/ { on = 1; next } on && /^\.SH/ { exit } on && /^\.nf/ { f = 1; next }
    on && /^\.fi/ { f = 0; print "----"; next } on && f { print }' "$top_srcdir/man/oauth2-token-helper.8" |
    sed 's/\\-/-/g' >"$T/man-postfix.txt"
awk '/^----$/ {exit} {print}' "$T/man-postfix.txt" | example_subst | readme_settings | sort >"$T/main.cf.man"
awk 'n == 1 && /^----$/ {exit} n == 1 {print} /^----$/ {n++}' "$T/man-postfix.txt" | example_subst >"$T/sasl_passwd.man"
check "the man page's POSTFIX main.cf lines are README's" diff "$T/main.cf.man" <(sort "$T/main.cf.readme")
check "and its sasl_passwd line" diff "$T/sasl_passwd.man" "$T/sasl_passwd.readme"

# ---- 2. several accounts ------------------------------------------------
readme_section_blocks '### Several accounts, shared mailboxes, app-only accounts' >"$T/readme-several.txt"
awk '/^----$/ {exit} {print}' "$T/readme-several.txt" | example_subst | readme_settings >"$T/main.cf.several"
awk 'n == 1 && /^----$/ {exit} n == 1 {print} /^----$/ {n++}' "$T/readme-several.txt" |
    grep -v '^#' | grep . | example_subst >"$T/sasl_passwd.several"
check_num "README's several-accounts main.cf lines" "$(wc -l <"$T/main.cf.several")" -ge 2
check "its sasl_passwd names alice, bob, shared (with alice's token) and the relay" \
    sh -c "grep -q '^$ALICE ' '$T/sasl_passwd.several' && grep -q '^$BOB ' '$T/sasl_passwd.several' &&
        grep -q '^$SHARED  *$SHARED:account=$ALICE\$' '$T/sasl_passwd.several' &&
        grep -q '^\[127.0.0.1\]:$RECEIVER_PORT  *$RELAY:\$' '$T/sasl_passwd.several'"
cp "$T/sasl_passwd.several" "$SENDER_DIR/conf/sasl_passwd"
example_subst "$top_srcdir/conf/postfix/sender_relay" >"$SENDER_DIR/conf/sender_relay"
apply_main_cf "$T/main.cf.several"
reload_sender
check "postconf -n shows those settings as written" main_cf_matches "$T/main.cf.several"
rm -f "$SINK"/inbox/new/*
for from in "$ALICE" "$BOB" "$SHARED" "$OTHER"; do
    inject 1 0 "$from" >/dev/null
done
wait_delivered 4 90
check_num "a message from each sender delivered" "$(delivered_count)" -eq 4
check_num "alice's mail logged in as alice" "$(sent_as "$ALICE" "$ALICE")" -eq 1
check_num "bob's mail logged in as bob" "$(sent_as "$BOB" "$BOB")" -eq 1
check_num "shared@'s mail logged in as shared@ (alice's token)" "$(sent_as "$SHARED" "$SHARED")" -eq 1
check_num "any other sender's mail logged in as relay@" "$(sent_as "$OTHER" "$RELAY")" -eq 1
check_num "nothing deferred" "$(deferral_count)" -eq 0
check_num "no introspection failed" "$(mock_stat introspections.failed)" -eq 0
done_testing
