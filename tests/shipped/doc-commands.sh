#!/bin/bash
# doc-commands.sh - every oauth2-token-helper command line in README.md,
# the man pages and the examples' comments is run, so a documented option
# that does not exist fails
#
# run-doc-commands.py reads the command lines out of README.md, man/*.[58]
# and conf/ at each run (see its header for how they are found, expanded and
# judged). Here: the mock (tokens of 4,500 characters), the verifying
# receiver for "test --smtp", and the daemon with one account,
# relay@contoso.test, which every account name in the docs becomes.
. "$(dirname "$0")/../integration/lib.sh"
need_env
setup
need_product
ACCOUNT=relay@contoso.test

start_mock
mockctl settings --token-length 4500 >/dev/null || bail "mock settings failed"
start_receiver
HELPER_SOCKET=$T/helper/socket
HELPER_ALLOW_USERS=root
start_helper "$ACCOUNT"
diag "receiver :$RECEIVER_PORT, mock $MOCK_URL"

mkdir -p "$T/doc"
ports=
for _ in 1 2 3 4; do
    ports="$ports $(free_port)"
done
n=$("$PYTHON3" "$top_srcdir/tests/shipped/run-doc-commands.py" list | wc -l)
check_num "command lines found in README.md, man/ and conf/" "$n" -ge 40
delivered_before=$(delivered_count)
while IFS=$'\t' read -r status text; do
    case $status in
    0 | 1) tap_result "$status" "$text" ;;
    *) diag "$text" ;;
    esac
done < <(HELPER_BIN=$HELPER_BIN HELPER_CONF=$HELPER_CONF ACCOUNT=$ACCOUNT CLIENT_ID=$CLIENT_ID \
    TENANT=$TENANT RECEIVER_PORT=$RECEIVER_PORT RCPT=$RCPT CA=$CA MOCKCTL=$MOCKDIR/mockctl \
    WORKDIR=$T/doc LOGDIR=$T/logs FREE_PORTS="$ports" \
    "$PYTHON3" "$top_srcdir/tests/shipped/run-doc-commands.py" run \
    2>>"$T/logs/doc-commands.stderr.log")
check_num "each documented test --to (README, man page) delivered its message" \
    "$(($(delivered_count) - delivered_before))" -ge 2
done_testing
