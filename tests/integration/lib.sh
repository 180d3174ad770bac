# lib.sh - shared setup for the integration tests (sourced by bash)
#
# Each test sources this file, calls the start_* functions it needs and
# reports in TAP. Everything lives in one temp dir ($T) with free loopback
# ports, so tests run in parallel; an EXIT trap stops every process the test
# started (by pid or by that instance's own "postfix -c DIR"), even on
# failure, and keeps $T only when something failed.
#
#   need_env; setup; need_product   skip/fail early, make $T, arm the trap
#   missing REASON, need_swaks_tls  a tool is absent: skip, or fail under CI=true
#   need_exim, exim_main_section  Exim 4.96 unpacked (EXIM_ROOT, EXIM_BIN), its config
#   exim_prepare, exim_use_example FILE  the helper set up for Exim, a conf/exim
#                               example as shipped; exim_submit, exim_log,
#                               exim_count, exim_queue[_frozen], receiver_also_on
#   start_mock                  test CA + the mock identity platform (HTTPS)
#   mockctl ARGS...             its control CLI, bound to this mock
#   start_receiver              Postfix smtpd + Dovecot oauth2 passdb
#   prepare_sender              the sender's dirs and port (socket path)
#   start_helper [ACCOUNT...]   helper config, import a grant each, "serve"
#   start_sender [FILTER] [USER]  Postfix with the stock chrooted master.cf,
#                               relaying to the receiver through our plugin
#   inject N, wait_delivered N, deferral_count, queue_size, flush_sender
#   start_faultsmtp [SPEC...]   faultsmtp.py: a relay that fails on purpose
#   check_num DESC GOT OP WANT, check_relayed N MECH, done_testing
#   sender_use_example MAIN_CF MAP...  a conf/postfix example on the sender
#   start_device_relay DEVICE PWFILE, device_submit  conf/postfix/device-relay
#   system_paths_lock, install_tree, claim_system_config, start_system_sender,
#   readme_blocks, readme_section_blocks  what ships (tests/shipped)
#
# Security notes: tests never print a token. Refresh tokens go from mockctl
# straight into the helper's stdin. done_testing greps every log for every
# token and secret the mock issued and fails the test if one shows up.

# ---- paths ---------------------------------------------------------------

: "${top_srcdir:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
if [ -z "${top_builddir:-}" ]; then
    if [ -f "$top_srcdir/build/Makefile" ]; then
        top_builddir=$top_srcdir/build
    else
        top_builddir=$top_srcdir
    fi
fi
: "${PYTHON3:=python3}"
export top_srcdir top_builddir PYTHON3

MOCKDIR=$top_srcdir/tests/mock
ITDIR=$top_srcdir/tests/integration
HELPER_BIN=${HELPER_BIN:-$top_builddir/helper/oauth2-token-helper}
PLUGIN_SO=${PLUGIN_SO:-$top_builddir/plugin/.libs/liboauth2helper.so}
KDE_PLUGIN_SO=/usr/lib/x86_64-linux-gnu/sasl2/libkdexoauth2.so
MASTER_CF_DIST=/usr/share/postfix/master.cf.dist
[ -f "$MASTER_CF_DIST" ] || MASTER_CF_DIST=/etc/postfix/master.cf

TEST_NAME=$(basename "$0" .sh)
PATH=$PATH:/usr/sbin:/sbin

# Accounts and the mock's app registration used by every test.
ALICE=alice@contoso.test
TENANT=contoso.test
CLIENT_ID=00000000-0000-0000-0000-00000000a11c
RCPT=someone@example.net

# ---- TAP -----------------------------------------------------------------

_tap_n=0
_tap_failed=0
_tap_done=0
_stop_cmds=()
T=

# tap_result - print one result line
tap_result() {
    local status=$1
    shift
    _tap_n=$((_tap_n + 1))
    if [ "$status" = 0 ]; then
        echo "ok $_tap_n - $*"
    else
        echo "not ok $_tap_n - $*"
        _tap_failed=$((_tap_failed + 1))
    fi
}

# diag - a TAP comment
diag() {
    local line
    while IFS= read -r line; do
        echo "# $line"
    done <<<"$*"
}

# check DESC CMD... - ok when CMD exits 0 (its output goes to the test log dir)
check() {
    local desc=$1
    shift
    if "$@" >>"${T:-/tmp}/logs/check-output.log" 2>&1; then
        tap_result 0 "$desc"
    else
        tap_result 1 "$desc"
        return 1
    fi
}

# check_num DESC GOT OP WANT - numeric comparison, OP one of -eq -ne -lt -le -gt -ge
check_num() {
    local desc=$1 got=$2 op=$3 want=$4
    local sym
    case $op in
    -eq) sym="=" ;; -ne) sym="!=" ;; -lt) sym="<" ;; -le) sym="<=" ;;
    -gt) sym=">" ;; -ge) sym=">=" ;; *) sym=$op ;;
    esac
    if [ -n "$got" ] && [ "$got" -eq "$got" ] 2>/dev/null && [ "$got" "$op" "$want" ]; then
        tap_result 0 "$desc (got $got, want $sym $want)"
    else
        tap_result 1 "$desc (got '${got}', want $sym $want)"
        return 1
    fi
}

# skip_all REASON - the whole test cannot run here
skip_all() {
    echo "1..0 # SKIP $*"
    _tap_done=1
    exit 0
}

# bail REASON - stop the test now, as a failure
bail() {
    tap_result 1 "$*"
    exit 1
}

# done_testing - leak check, plan, exit
done_testing() {
    check_no_secret_leaks
    echo "1..$_tap_n"
    _tap_done=1
    exit 0
}

# in_ci - CI=true (.ci/run): scripts/test has installed every package the
# tests use, so a missing tool or capability is a failure, not a skip
in_ci() {
    [ "${CI:-}" = true ]
}

# missing REASON - something this test needs is absent or does not work:
# skip the whole test, or under CI=true fail it. Skips by design (a
# sanitizer build) use skip_all.
missing() {
    if in_ci; then
        tap_result 1 "cannot run: $* (CI=true: scripts/test installs every package the tests use)"
        echo "1..$_tap_n"
        _tap_done=1
        exit 1
    fi
    skip_all "$*"
}

# runs CMD... - the command runs and exits 0 (a check of the tool itself,
# not of a name on the PATH)
runs() {
    "$@" >/dev/null 2>&1 </dev/null
}

# need_env - root, and working Postfix, Dovecot, python3 (with the modules
# the mock and fixtures import) and openssl; else missing()
need_env() {
    [ "$(id -u)" = 0 ] || missing "needs root (runs private Postfix and Dovecot instances)"
    runs postconf -d mail_version || missing "postconf does not run (Debian package postfix)"
    runs dovecot --version || missing "dovecot does not run (Debian package dovecot-core)"
    runs "$PYTHON3" -c 'import ssl, http.server, socketserver, smtplib, email, json, urllib.request' ||
        missing "$PYTHON3 cannot import ssl, http.server, smtplib... (Debian package python3)"
    runs openssl version || missing "openssl does not run (Debian package openssl)"
    getent passwd postfix >/dev/null || missing "no postfix user (Debian package postfix)"
    getent passwd dovecot >/dev/null || missing "no dovecot user (Debian package dovecot-core)"
    [ -f "$MASTER_CF_DIST" ] || missing "no stock master.cf (Debian package postfix)"
}

# need_swaks_tls - swaks that can do STARTTLS: Debian's swaks only
# recommends libnet-ssleay-perl, without which it exits "TLS not available"
need_swaks_tls() {
    runs swaks --version || missing "swaks does not run (Debian package swaks)"
    swaks --support 2>&1 | grep -q '^=== TLS supported' ||
        missing "swaks cannot do TLS: it needs Net::SSLeay (Debian package libnet-ssleay-perl)"
}

# need_product - the helper and plugin must be built
need_product() {
    # Postfix's smtp(8) cannot load a plugin built with AddressSanitizer
    # (docs/TESTING.md); the sanitizer build tests the plugin through libsasl2.
    [ -z "${OAUTH2_SANITIZERS:-}" ] || skip_all "sanitizer build: Postfix cannot load an ASan plugin"
    [ -x "$HELPER_BIN" ] || bail "helper not built: $HELPER_BIN (run make first)"
    [ -f "$PLUGIN_SO" ] || bail "plugin not built: $PLUGIN_SO (run make first)"
}

# ---- temp dir, cleanup ---------------------------------------------------

# setup - make $T and arm the cleanup trap
setup() {
    T=$(mktemp -d "/tmp/oauth2-it.$TEST_NAME.XXXXXX") || bail "mktemp failed"
    # Postfix and Dovecot drop privileges and must traverse it.
    chmod 0755 "$T"
    mkdir -p "$T/logs"
    : >"$T/logs/check-output.log"
    trap _cleanup EXIT
    trap 'exit 129' HUP
    trap 'exit 130' INT
    trap 'exit 143' TERM
    diag "temp dir $T"
}

# on_exit CMD - remember a command for cleanup (all run in parallel at exit)
on_exit() {
    _stop_cmds+=("$*")
}

_cleanup() {
    local rc=$? i
    trap - EXIT
    if [ "$_tap_done" = 0 ]; then
        tap_result 1 "test script ended early (exit status $rc)"
        echo "1..$_tap_n"
    fi
    # Stop everything at once: Dovecot and Postfix each take a second or
    # two to wind down, and nothing here depends on the order.
    for ((i = ${#_stop_cmds[@]} - 1; i >= 0; i--)); do
        eval "${_stop_cmds[$i]}" >/dev/null 2>&1 &
    done
    wait
    release_ports
    if [ -n "$T" ] && [ -d "$T" ]; then
        if [ "$_tap_failed" -gt 0 ] || [ "$_tap_done" = 0 ]; then
            dump_logs
            echo "# logs kept in $T"
        elif [ -z "${KEEP_TMP:-}" ]; then
            rm -rf "$T"
        fi
    fi
}

# log_files - every log a test produced
log_files() {
    find "$T/logs" -type f 2>/dev/null
}

# redact - drop lines holding anything the mock issued
redact() {
    local secrets=$T/mock/state/issued-secrets
    if [ -s "$secrets" ]; then
        grep -v -F -f "$secrets"
    else
        cat
    fi
}

# dump_logs - the tail of each log as TAP comments, secrets removed
dump_logs() {
    local f
    for f in $(log_files); do
        [ -s "$f" ] || continue
        echo "# ---- ${f#$T/} (last 40 lines) ----"
        tail -n 40 "$f" | redact | cut -c1-400 | sed 's/^/#   /'
    done
}

# check_no_secret_leaks - no log may hold a token, refresh token or secret
check_no_secret_leaks() {
    local secrets=$T/mock/state/issued-secrets n
    [ -s "$secrets" ] || return 0
    n=$(log_files | xargs -r grep -l -F -f "$secrets" 2>/dev/null | wc -l)
    check_num "no token, refresh token or client secret in any log ($(wc -l <"$secrets") issued)" "$n" -eq 0
}

# ---- small utilities -----------------------------------------------------

# free_port - an unused loopback TCP port, reserved for this test
#
# Parallel tests must never pick the same port: a port is drawn below the
# kernel's ephemeral range (so no port-0 bind or outgoing connection gets
# it), checked free, and reserved by an atomic mkdir under $PORT_RESERVATIONS
# holding our pid; cleanup releases ours (release_ports), and a dead
# owner's reservation is taken over.
PORT_RESERVATIONS=${PORT_RESERVATIONS:-/tmp/oauth2-it-ports}
free_port() {
    local port owner i
    mkdir -p "$PORT_RESERVATIONS" 2>/dev/null
    for ((i = 0; i < 50; i++)); do
        port=$("$PYTHON3" -c 'import random, socket
low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
hi = low - 1 if low > 12000 else 65000
lo = 10000 if low > 12000 else 61000
while True:
    port = random.randint(lo, hi)
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        continue
    finally:
        s.close()
    print(port)
    break') || return 1
        if mkdir "$PORT_RESERVATIONS/$port" 2>/dev/null; then
            echo $$ >"$PORT_RESERVATIONS/$port/pid"
            echo "$port"
            return 0
        fi
        owner=$(cat "$PORT_RESERVATIONS/$port/pid" 2>/dev/null)
        if [ -n "$owner" ] && ! kill -0 "$owner" 2>/dev/null; then
            rm -rf "$PORT_RESERVATIONS/$port"
        fi
    done
    return 1
}

# release_ports - drop this test's port reservations
release_ports() {
    local f
    for f in "$PORT_RESERVATIONS"/*/pid; do
        [ "$(cat "$f" 2>/dev/null)" = "$$" ] && rm -rf "$(dirname "$f")"
    done
    return 0
}

# wait_until TIMEOUT CMD... - poll CMD every 0.2 s until it succeeds
wait_until() {
    local timeout=$1
    shift
    local end=$((SECONDS + timeout))
    while ! "$@" >/dev/null 2>&1; do
        [ "$SECONDS" -ge "$end" ] && return 1
        sleep 0.2
    done
    return 0
}

# port_open PORT - something listens on 127.0.0.1:PORT
port_open() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# smtp_banner_has PORT TEXT - the SMTP server on PORT greets with TEXT
smtp_banner_has() {
    local line
    line=$(
        exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
        IFS= read -r -t 5 line <&3
        printf 'QUIT\r\n' >&3
        printf '%s' "$line"
    ) 2>/dev/null
    case $line in
    *"$2"*) return 0 ;;
    *) return 1 ;;
    esac
}

# stop_pid PID - TERM, wait up to 10 s, then KILL
stop_pid() {
    local pid=$1 i
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < 50; i++)); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.2
    done
    kill -KILL "$pid" 2>/dev/null
}

# ---- mock identity platform ----------------------------------------------

# start_mock - CA, mock on a free port; sets CA, MOCK_URL, MOCK_PID
start_mock() {
    mkdir -p "$T/mock/state"
    sh "$MOCKDIR/make-ca.sh" "$T/ca" || bail "cannot create the test CA"
    CA=$T/ca/ca.pem
    "$PYTHON3" "$MOCKDIR/mock_idp.py" --cert "$T/ca/server.pem" --key "$T/ca/server.key" \
        --port-file "$T/mock/port" --state-dir "$T/mock/state" \
        </dev/null >>"$T/logs/mock-idp.log" 2>&1 &
    MOCK_PID=$!
    on_exit "stop_pid $MOCK_PID"
    MOCK_URL=$("$PYTHON3" "$MOCKDIR/mockctl" --ca "$CA" wait --port-file "$T/mock/port") ||
        bail "mock identity platform did not start"
    export MOCK_URL MOCK_CA=$CA
}

# mockctl ARGS... - the control CLI for this test's mock
mockctl() {
    "$PYTHON3" "$MOCKDIR/mockctl" --url "$MOCK_URL" --ca "$CA" "$@"
}

# mock_stat PATH - one counter, e.g. token_requests.by_outcome.ok
mock_stat() {
    mockctl stats --path "$1"
}

# mock_snapshot - save the counters now, for consistent reads with snap_stat
mock_snapshot() {
    mockctl stats >"$T/mock/stats.json"
}

# snap_stat PATH - one counter from the last mock_snapshot
snap_stat() {
    "$PYTHON3" "$MOCKDIR/mockctl" stats --file "$T/mock/stats.json" --path "$1"
}

# snap_by_user SECTION USER - SECTION.by_user[USER] from the last
# mock_snapshot (the "ok" count where outcomes are kept apart), e.g.
# snap_by_user introspections alice@contoso.test; user names hold dots,
# which snap_stat's paths cannot address
snap_by_user() {
    "$PYTHON3" -c 'import json, sys
d = json.load(open(sys.argv[1], encoding="utf-8"))
for k in sys.argv[2].split("."):
    d = d.get(k, {}) if isinstance(d, dict) else {}
v = d.get("by_user", {}).get(sys.argv[3], 0) if isinstance(d, dict) else 0
print(v.get("ok", 0) if isinstance(v, dict) else v)' "$T/mock/stats.json" "$1" "$2"
}

# ---- Postfix instances ---------------------------------------------------

# postfix_instance NAME - dirs and a common main.cf; sets PF_DIR
postfix_instance() {
    PF_DIR=$T/$1
    mkdir -p "$PF_DIR/conf" "$PF_DIR/queue" "$PF_DIR/data"
    chown postfix "$PF_DIR/data"
    cp "$MASTER_CF_DIST" "$PF_DIR/conf/master.cf"
    cat >"$PF_DIR/conf/main.cf" <<EOF
# $1 instance for integration test $TEST_NAME
compatibility_level = 3.6
queue_directory = $PF_DIR/queue
data_directory = $PF_DIR/data
mail_owner = postfix
setgid_group = postdrop
myhostname = $1.test
mydomain = $1.test
myorigin = \$myhostname
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
smtputf8_enable = no
biff = no
maillog_file = $T/logs/$1-maillog.log
smtpd_banner = \$myhostname ESMTP $(basename "$T")/$1
maillog_file_prefixes = $T
# Quick shutdown and prompt scheduling in tests.
queue_run_delay = 300s
EOF
}

# postfix_listen DIR PORT - the smtp inet service on 127.0.0.1:PORT only
postfix_listen() {
    sed -i -E "s/^smtp( +)inet /127.0.0.1:$2 inet /" "$1/conf/master.cf"
    grep -q "^127.0.0.1:$2 inet" "$1/conf/master.cf" || bail "cannot set the smtpd port in $1/conf/master.cf"
}

# postfix_start DIR PORT [STOP] - start an instance, wait until smtpd
# listens; STOP (default "postfix_stop DIR") runs at exit
postfix_start() {
    local dir=$1 port=$2 stop=${3:-postfix_stop $1} name dup
    name=$(basename "$dir")
    # A parameter named twice in main.cf makes every process warn at
    # start; postlogd sends its warning to its own socket, and a burst of
    # them (Linux queues 10 datagrams) deadlocks it and every process that
    # logs. Refuse such a fixture at once instead of hanging.
    dup=$(postconf -c "$dir/conf" -n 2>&1 >/dev/null | grep -m 1 'overriding earlier entry')
    [ -z "$dup" ] || bail "postfix $name: main.cf names a parameter twice (${dup##*warning: }): set it once (postconf -e)"
    postfix -c "$dir/conf" check </dev/null >>"$T/logs/$name-postfix.log" 2>&1
    postfix -c "$dir/conf" start </dev/null >>"$T/logs/$name-postfix.log" 2>&1 ||
        bail "postfix $name did not start (see logs/$name-postfix.log)"
    on_exit "$stop"
    # Our instance, not whatever else might hold the port.
    wait_until 20 smtp_banner_has "$port" "$(basename "$T")/$name" ||
        bail "postfix $name does not answer on port $port (see logs/$name-maillog.log)"
}

# postfix_stop DIR - stop an instance and wait for its master to go
postfix_stop() {
    local dir=$1 pid
    pid=$(cat "$dir/queue/pid/master.pid" 2>/dev/null | tr -d ' ')
    timeout -s KILL 30 postfix -c "$dir/conf" abort >/dev/null 2>&1
    if [ -n "$pid" ]; then
        wait_until 10 sh -c "! kill -0 $pid" || kill -KILL "$pid" 2>/dev/null
    fi
    postfix_leftovers "$dir/queue"
}

# postfix_leftovers QUEUE_DIR - kill what an instance left running (a
# daemon the master no longer watches: every Postfix daemon works in the
# queue directory), so that no test waits on it or inherits it
postfix_leftovers() {
    local q p
    q=$(readlink -f "$1") || return 0
    for p in /proc/[0-9]*; do
        [ "$(readlink "$p/cwd" 2>/dev/null)" = "$q" ] && kill -KILL "${p#/proc/}" 2>/dev/null
    done
    return 0
}

# ---- receiver: Postfix smtpd + Dovecot oauth2 passdb ---------------------

# start_receiver - sets RECEIVER_PORT, RECEIVER_DIR, SINK
# RECEIVER_MECHS (default "xoauth2 oauthbearer") sets Dovecot's mechanisms.
# RECEIVER_SHARED_MAILBOXES (default none): for each mailbox listed, a
# further passdb accepts a login as that mailbox with the token of one of
# its delegates (the mock's /introspect/as/MAILBOX, see mockctl delegate).
# RECEIVER_STATIC_PASSWORD (benchmarks) adds a static passdb for PLAIN with
# that password and keeps the oauth2 passdb to XOAUTH2 and OAUTHBEARER;
# RECEIVER_AUTH_CACHE sets auth_cache_size (default 0: every AUTH verified).
# RECEIVER_SEND_AS (default none: any sender): as Exchange Online, take
# mail only from these mailboxes, envelope sender and From: alike, else
# "550 5.7.60" (the null sender of bounces passes; the headers of an
# attached message are not checked); their domains are then delivered to
# the sink too. RECEIVER_REFUSE_RCPT: recipients refused with "550 5.1.1"
# (a mailbox that does not exist).
start_receiver() {
    local mechs=${RECEIVER_MECHS:-xoauth2 oauthbearer}
    local oauth2_mechs="" static_passdb=""
    if [ -n "${RECEIVER_STATIC_PASSWORD:-}" ]; then
        oauth2_mechs="  mechanisms = xoauth2 oauthbearer"
        static_passdb="passdb {
  driver = static
  mechanisms = plain
  args = password=$RECEIVER_STATIC_PASSWORD
}"
    fi
    postfix_instance receiver
    RECEIVER_DIR=$PF_DIR
    RECEIVER_PORT=$(free_port)
    local dv=$RECEIVER_DIR/dovecot
    mkdir -p "$dv"
    SINK=$RECEIVER_DIR/sink
    mkdir -p "$SINK"
    chown nobody:nogroup "$SINK"

    cat >"$dv/oauth2.conf.ext" <<EOF
introspection_mode = post
introspection_url = $MOCK_URL/introspect
username_attribute = email
active_attribute = active
active_value = true
tls_ca_cert_file = $CA
timeout_msecs = 10000
max_parallel_connections = 4
EOF
    # The passdb serves every mechanism listed, PLAIN included when a test
    # asks for it (the password is then the token).
    cat >"$dv/dovecot.conf" <<EOF
# receiver's Dovecot for integration test $TEST_NAME: auth only
base_dir = $dv/run
state_dir = $dv/state
instance_name = oauth2-it-$TEST_NAME-$$
log_path = $T/logs/receiver-dovecot.log
protocols = none
ssl = no
disable_plaintext_auth = no
auth_mechanisms = $mechs
auth_verbose = yes
auth_cache_size = ${RECEIVER_AUTH_CACHE:-0}
auth_cache_ttl = 1 hour
# Refused tokens are part of the tests: no 2 s failure delay, and no
# per-IP penalty (everything comes from 127.0.0.1) slowing later attempts.
auth_failure_delay = 0
passdb {
  driver = oauth2
  args = $dv/oauth2.conf.ext
$oauth2_mechs
}
$(_receiver_shared_passdbs "$dv")
$static_passdb
userdb {
  driver = static
  args = uid=nobody gid=nogroup home=/nonexistent
}
service auth {
  unix_listener auth-client {
    mode = 0666
  }
}
service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
EOF
    dovecot -c "$dv/dovecot.conf" </dev/null >>"$T/logs/receiver-dovecot.log" 2>&1 ||
        bail "dovecot did not start (see logs/receiver-dovecot.log)"
    on_exit "stop_pid \$(cat $dv/run/master.pid 2>/dev/null)"
    wait_until 20 test -S "$dv/run/auth-client" || bail "dovecot auth-client socket missing"

    postfix_listen "$RECEIVER_DIR" "$RECEIVER_PORT"
    # The receiver's daemons run unchrooted: smtpd talks to Dovecot's socket.
    postconf -c "$RECEIVER_DIR/conf" -F '*/*/chroot = n'
    cat >>"$RECEIVER_DIR/conf/main.cf" <<EOF
smtpd_tls_security_level = may
smtpd_tls_cert_file = $T/ca/server.pem
smtpd_tls_key_file = $T/ca/server.key
smtpd_tls_auth_only = yes
smtpd_tls_loglevel = 1
smtpd_sasl_auth_enable = yes
smtpd_sasl_type = dovecot
smtpd_sasl_path = $dv/run/auth-client
smtpd_sasl_security_options = noanonymous
smtpd_sasl_tls_security_options = noanonymous
smtpd_sasl_authenticated_header = yes
# A test receiver's limit, not the product's: the SASL response of a
# 10,000-character token is 13,400 bytes in base64, over smtpd's default
# of 12,288. (Dovecot's auth protocol takes lines of at most 16,384
# bytes, compiled in, so Dovecot verifies tokens of up to about 12,200
# characters; relay-long-tokens.sh says what it does beyond.)
smtpd_sasl_response_limit = 65536
mynetworks = 192.0.2.1/32
smtpd_client_restrictions =
smtpd_helo_restrictions =
smtpd_sender_restrictions =
smtpd_relay_restrictions = permit_sasl_authenticated, reject
smtpd_recipient_restrictions = permit_sasl_authenticated, reject
virtual_mailbox_domains = example.net
virtual_mailbox_base = $SINK
virtual_mailbox_maps = static:inbox/
virtual_uid_maps = static:65534
virtual_gid_maps = static:65534
virtual_minimum_uid = 100
EOF
    _receiver_send_as
    postfix_start "$RECEIVER_DIR" "$RECEIVER_PORT"
}

# _receiver_send_as - RECEIVER_SEND_AS and RECEIVER_REFUSE_RCPT in the receiver's main.cf
_receiver_send_as() {
    local conf=$RECEIVER_DIR/conf mbox rcpt re="" domains="example.net"
    [ -n "${RECEIVER_SEND_AS:-}${RECEIVER_REFUSE_RCPT:-}" ] || return 0
    for mbox in ${RECEIVER_SEND_AS:-}; do
        re="$re${re:+|}${mbox//./\\.}"
        domains="$domains ${mbox#*@}"
    done
    : >"$conf/refuse_rcpt"
    for rcpt in ${RECEIVER_REFUSE_RCPT:-}; do
        echo "$rcpt 550 5.1.1 RESOLVER.ADR.RecipientNotFound; Recipient not found" >>"$conf/refuse_rcpt"
    done
    : >"$conf/send_as"
    : >"$conf/send_as_headers"
    if [ -n "$re" ]; then
        # Exchange's words for it (SendAsDenied); bounces (null sender) pass.
        {
            echo '/^<>$/ DUNNO'
            echo "/^($re)\$/ DUNNO"
            echo '/./ 550 5.7.60 SMTP; Client does not have permissions to send as this sender'
        } >"$conf/send_as"
        {
            echo 'if /^From:/'
            echo "!/[<[:space:]:]($re)>?[[:space:]]*\$/ REJECT 5.7.60 SMTP; Client does not have permissions to send as this sender"
            echo 'endif'
        } >"$conf/send_as_headers"
    fi
    # postconf -e replaces the entries above: a main.cf naming a parameter
    # twice makes every Postfix process warn at start, postlogd too, which
    # sends its warning to its own socket; with Linux's queue of 10
    # datagrams a burst of such warnings deadlocks postlogd, and with it
    # every process that logs (postfix abort too).
    postconf -c "$conf" -e \
        "smtpd_null_access_lookup_key = <>" \
        "smtpd_sender_restrictions = check_sender_access regexp:$conf/send_as" \
        "smtpd_recipient_restrictions = check_recipient_access texthash:$conf/refuse_rcpt, permit_sasl_authenticated, reject" \
        "header_checks = regexp:$conf/send_as_headers" \
        "nested_header_checks =" \
        "virtual_mailbox_domains = $domains"
}

# _receiver_shared_passdbs DOVECOT_DIR - a passdb per RECEIVER_SHARED_MAILBOXES entry
#
# Dovecot hands the oauth2 passdb only the token, so a passdb cannot ask
# "may this token send as LOGIN?"; one passdb per shared mailbox asks the
# mock's /introspect/as/MAILBOX instead, which names the mailbox only for
# its delegates' tokens. The first passdb (the token's own user) fails
# such a login with a username mismatch and Dovecot goes on to these.
_receiver_shared_passdbs() {
    local dv=$1 mbox i=0
    for mbox in ${RECEIVER_SHARED_MAILBOXES:-}; do
        i=$((i + 1))
        sed "s|^introspection_url = .*|introspection_url = $MOCK_URL/introspect/as/$mbox|" \
            "$dv/oauth2.conf.ext" >"$dv/oauth2-shared-$i.conf.ext"
        printf 'passdb {\n  driver = oauth2\n  args = %s\n}\n' "$dv/oauth2-shared-$i.conf.ext"
    done
}

# delivered_count - messages in the receiver's maildir
delivered_count() {
    find "$SINK/inbox/new" "$SINK/inbox/cur" -type f 2>/dev/null | wc -l
}

# wait_delivered N TIMEOUT - until N messages arrived; returns 1 on timeout
wait_delivered() {
    wait_until "${2:-60}" _delivered_at_least "$1"
}
_delivered_at_least() {
    [ "$(delivered_count)" -ge "$1" ]
}

# probe_auth MECH USER - AUTH at the receiver with the token on stdin; prints the code
probe_auth() {
    "$PYTHON3" "$ITDIR/smtpclient.py" auth --port "$RECEIVER_PORT" --ca "$CA" \
        --mech "$1" --user "$2" 2>>"$T/logs/smtpclient.log"
}

# ---- fault-injecting relay (faultsmtp.py) --------------------------------

# start_faultsmtp [SPEC...] - tests/integration/faultsmtp.py on a free port
# with the test CA's certificate, verifying tokens at the mock; faults from
# the SPECs and from FAULT_FILE (reread per connection, empty at first).
# Sets FAULT_PORT, FAULT_DIR (accepted/N.eml, N.json, sessions.log),
# FAULT_FILE. Needs start_mock.
start_faultsmtp() {
    local spec args=()
    FAULT_DIR=$T/faultsmtp
    FAULT_FILE=$FAULT_DIR/faults
    mkdir -p "$FAULT_DIR"
    : >"$FAULT_FILE"
    for spec in "$@"; do
        args+=(--fault "$spec")
    done
    "$PYTHON3" "$ITDIR/faultsmtp.py" --cert "$T/ca/server.pem" --key "$T/ca/server.key" \
        --port-file "$FAULT_DIR/port" --record-dir "$FAULT_DIR" --fault-file "$FAULT_FILE" \
        --introspect "$MOCK_URL/introspect" --ca "$CA" "${args[@]}" \
        </dev/null >>"$T/logs/faultsmtp.log" 2>&1 &
    local pid=$!
    on_exit "stop_pid $pid"
    wait_until 20 test -s "$FAULT_DIR/port" || bail "faultsmtp.py did not start (see logs/faultsmtp.log)"
    FAULT_PORT=$(cat "$FAULT_DIR/port")
}

# faultsmtp_accepted - how many messages faultsmtp.py accepted (250 to the end of DATA)
faultsmtp_accepted() {
    find "$FAULT_DIR/accepted" -name '*.eml' 2>/dev/null | wc -l
}

# ---- helper daemon -------------------------------------------------------

# write_helper_config [ACCOUNT...] - config for ACCOUNTs (default: alice)
# Uses SENDER_DIR for the socket; sets HELPER_CONF. With CLIENT_SECRET set,
# each account gets a client_secret_file (mode 0600) holding it. Optional overrides:
# HELPER_SOCKET (the socket's path), HELPER_ALLOW_USERS ("postfix root"),
# HELPER_SOCKET_GROUP ("postfix"), for callers that are not Postfix.
write_helper_config() {
    local acct
    HELPER_DIR=$T/helper
    HELPER_CONF=$HELPER_DIR/helper.conf
    mkdir -p "$HELPER_DIR/state"
    chmod 0700 "$HELPER_DIR/state"
    {
        echo "# oauth2-token-helper config for $TEST_NAME (all on loopback)"
        echo "socket = $(helper_socket)"
        echo "state_dir = $HELPER_DIR/state"
        echo "allow_users = ${HELPER_ALLOW_USERS:-postfix root}"
        echo "socket_group = ${HELPER_SOCKET_GROUP:-postfix}"
        echo "socket_mode = 0660"
        for acct in "${@:-$ALICE}"; do
            echo
            echo "[account $acct]"
            echo "tenant = $TENANT"
            echo "client_id = $CLIENT_ID"
            echo "authority = $MOCK_URL"
            echo "ca_file = $CA"
            echo "login = $acct"
            if [ -n "${CLIENT_SECRET:-}" ]; then
                (umask 077 && printf '%s\n' "$CLIENT_SECRET" >"$HELPER_DIR/$acct.secret")
                echo "client_secret_file = $HELPER_DIR/$acct.secret"
            fi
        done
    } >"$HELPER_CONF"
    # 0644: it holds no secret. Run as root, config-check also asks whether
    # the daemon's user (oauth2-helper) may read it, and that user exists
    # only while another test has created it (units-as-shipped.py, the
    # package test): 0640 root:root made this test's outcome depend on them.
    chmod 0644 "$HELPER_CONF"
}

# helper_socket - the daemon's socket: HELPER_SOCKET, else under the sender's private/
helper_socket() {
    echo "${HELPER_SOCKET:-$SENDER_DIR/queue/private/oauth2-token-helper}"
}

# helper CMD... - the CLI with this test's config
helper() {
    "$HELPER_BIN" -c "$HELPER_CONF" "$@"
}

# import_grant ACCOUNT - a fresh grant at the mock, pasted into the helper
# (a confidential client when CLIENT_SECRET is set)
import_grant() {
    mockctl grant --user "$1" --client-id "$CLIENT_ID" --tenant "$TENANT" \
        ${CLIENT_SECRET:+--client-secret "$CLIENT_SECRET"} |
        helper import "$1" >>"$T/logs/helper-cli.log" 2>&1
}

# run_helper - start "serve"; sets HELPER_PID
run_helper() {
    local sock
    sock=$(helper_socket)
    "$HELPER_BIN" -c "$HELPER_CONF" serve </dev/null >>"$T/logs/helper-serve.log" 2>&1 &
    HELPER_PID=$!
    on_exit "stop_pid $HELPER_PID"
    wait_until 20 test -S "$sock" || bail "helper daemon did not create $sock"
}

# stop_helper - stop the daemon started by run_helper
stop_helper() {
    stop_pid "$HELPER_PID"
    HELPER_PID=
}

# start_helper [ACCOUNT...] - config, import a grant for each, serve
start_helper() {
    local acct
    write_helper_config "$@"
    helper config-check >>"$T/logs/helper-cli.log" 2>&1 || bail "helper config-check failed (see logs/helper-cli.log)"
    for acct in "${@:-$ALICE}"; do
        import_grant "$acct" || bail "helper import $acct failed (see logs/helper-cli.log)"
    done
    run_helper
}

# ---- sender: Postfix with the plugin -------------------------------------

# prepare_sender - dirs and the sender's identity (SENDER_DIR, SENDER_PORT);
# call before write_helper_config so the socket path is known.
prepare_sender() {
    postfix_instance sender
    SENDER_DIR=$PF_DIR
    SENDER_PORT=$(free_port)
    SASL_DIR=$SENDER_DIR/sasl
    mkdir -p "$SASL_DIR"
    ln -sf "$PLUGIN_SO" "$SASL_DIR/liboauth2helper.so"
    # postfix-script creates the queue tree; private/ must exist for the
    # helper's socket before the sender starts.
    mkdir -p "$SENDER_DIR/queue/private"
    chown postfix "$SENDER_DIR/queue/private"
    chmod 0700 "$SENDER_DIR/queue/private"
}

# start_sender [MECHANISM_FILTER] [SASL_USER] - the stock chrooted
# master.cf; relayhost = the receiver, with the plugin via SASL_PATH
start_sender() {
    local filter=${1:-} user=${2:-$ALICE}
    [ -n "$SENDER_DIR" ] || prepare_sender
    sender_relay_to_receiver "$user" unused "$filter" \
        "SASL_PATH=$SASL_DIR OAUTH2_TOKEN_HELPER_CONFIG=${HELPER_CONF:-$T/helper/helper.conf}"
    postfix_start "$SENDER_DIR" "$SENDER_PORT"
}

# sender_relay_to_receiver USER PASSWORD FILTER ENV [MAIN_CF_EXTRA] - the
# sender's sasl_passwd, listener and main.cf lines relaying to the receiver
# as USER through the plugin; ENV is what import_environment adds (the
# plugin's directory, its config)
sender_relay_to_receiver() {
    local user=$1 password=$2 filter=$3 env=$4 extra=${5:-}
    echo "[127.0.0.1]:$RECEIVER_PORT $user:$password" >"$SENDER_DIR/conf/sasl_passwd"
    chmod 0600 "$SENDER_DIR/conf/sasl_passwd"
    postfix_listen "$SENDER_DIR" "$SENDER_PORT"
    cat >>"$SENDER_DIR/conf/main.cf" <<EOF
mynetworks = 127.0.0.0/8
relayhost = [127.0.0.1]:$RECEIVER_PORT
smtp_sasl_auth_enable = yes
smtp_sasl_password_maps = texthash:$SENDER_DIR/conf/sasl_passwd
smtp_sasl_mechanism_filter = $filter
smtp_tls_security_level = encrypt
smtp_tls_CAfile = $CA
smtp_tls_loglevel = 1
# One connection, so one AUTH, per message: every message is verified.
smtp_connection_cache_on_demand = no
import_environment = MAIL_CONFIG MAIL_DEBUG MAIL_LOGTAG TZ XAUTHORITY DISPLAY LANG=C POSTLOG_SERVICE POSTLOG_HOSTNAME $env
$extra
EOF
}

# inject N [INTERVAL] [FROM] - N messages into the sender's smtpd (from FROM)
inject() {
    "$PYTHON3" "$ITDIR/smtpclient.py" inject --port "$SENDER_PORT" --count "$1" \
        --interval "${2:-0}" --tag "$TEST_NAME" --to "$RCPT" ${3:+--from "$3"} \
        2>>"$T/logs/smtpclient.log"
}

# sender_log - the sender's maillog
sender_log() {
    cat "$T/logs/sender-maillog.log" 2>/dev/null
}

# deferral_count - delivery attempts the sender deferred
deferral_count() {
    sender_log | grep -c 'status=deferred'
}

# bounce_count - messages the sender bounced
bounce_count() {
    sender_log | grep -c 'status=bounced'
}

# queue_size - messages in the sender's queue
queue_size() {
    postqueue -c "$SENDER_DIR/conf" -j 2>/dev/null | grep -c '"queue_id"'
}

# flush_sender - retry deferred mail now
flush_sender() {
    postqueue -c "$SENDER_DIR/conf" -f
}

# wait_deferred N TIMEOUT - until N deferrals were logged
wait_deferred() {
    wait_until "${2:-60}" _deferred_at_least "$1"
}
_deferred_at_least() {
    [ "$(deferral_count)" -ge "$1" ]
}

# ---- the conf/ examples --------------------------------------------------

# example_subst [FILE...] - an example from conf/ made to fit this test:
# contoso.com becomes contoso.test, the Office 365 relay the receiver, and
# /etc/postfix/ the sender's conf dir
example_subst() {
    sed -e 's/contoso\.com/contoso.test/g' \
        -e "s/\[smtp\.office365\.com\]:587/[127.0.0.1]:$RECEIVER_PORT/g" \
        -e "s|/etc/postfix/|$SENDER_DIR/conf/|g" "$@"
}

# sender_use_example MAIN_CF MAP... - the running sender takes a main.cf
# snippet from conf/postfix (each "name = value" line, through postconf)
# and its maps (installed as the snippet names them: sasl_passwd.mixed as
# sasl_passwd), then reloads
sender_use_example() {
    local main=$1 map line
    shift
    for map in "$@"; do
        example_subst "$top_srcdir/conf/postfix/$map" >"$SENDER_DIR/conf/${map%%.*}" ||
            bail "cannot install conf/postfix/$map"
    done
    while IFS= read -r line; do
        postconf -c "$SENDER_DIR/conf" -e "$line" || bail "postconf -e '$line' failed"
    done < <(example_subst "$top_srcdir/conf/postfix/$main" | grep -E '^[a-z_0-9]+ *=')
    postfix -c "$SENDER_DIR/conf" reload >>"$T/logs/sender-postfix.log" 2>&1 ||
        bail "postfix reload failed"
    # Let the daemons that serve the next message (trivial-rewrite, qmgr) restart.
    sleep 1
}

# sink_senders - "COUNT ENVELOPE-SENDER AUTHENTICATED-SENDER" for the
# delivered messages (Return-Path, and the receiver's "Authenticated sender")
sink_senders() {
    local f rp au
    for f in "$SINK"/inbox/new/*; do
        [ -f "$f" ] || continue
        rp=$(sed -n 's/^Return-Path: <\(.*\)>.*/\1/p' "$f" | head -n 1)
        au=$(grep -o -m 1 'Authenticated sender: [^)]*' "$f" | sed 's/.*: //')
        echo "${rp:-none} ${au:-none}"
    done | sort | uniq -c | awk '{print $1, $2, $3}'
}

# sent_as ENVELOPE AUTHENTICATED - how many delivered messages from
# ENVELOPE were authenticated as AUTHENTICATED
sent_as() {
    sink_senders | awk -v e="$1" -v a="$2" '$2 == e && $3 == a {n = $1} END {print n + 0}'
}

# ---- the device relay (conf/postfix/device-relay) ------------------------

# RELAY_MAILBOX - the mailbox the device relay sends as (relay@contoso.com
# in the example, made contoso.test like every example)
RELAY_MAILBOX=relay@contoso.test

# device_relay_subst FILE... - a conf/postfix/device-relay file made to fit
# this test: example_subst, the services' ports (smtp: RELAY_PORT25,
# submission: RELAY_PORT587), the test CA's server key pair for snakeoil,
# the relay's queue directory for /var/spool/postfix, RELAY_DOVECOT for
# /etc/dovecot
device_relay_subst() {
    example_subst "$@" | sed \
        -e "s|^smtp\( *\)inet |127.0.0.1:$RELAY_PORT25 inet |" \
        -e "s|^submission inet |127.0.0.1:$RELAY_PORT587 inet |" \
        -e "s|smtp/inet|127.0.0.1:$RELAY_PORT25/inet|g" \
        -e "s|submission/inet|127.0.0.1:$RELAY_PORT587/inet|g" \
        -e "s|/etc/ssl/certs/ssl-cert-snakeoil.pem|$T/ca/server.pem|" \
        -e "s|/etc/ssl/private/ssl-cert-snakeoil.key|$T/ca/server.key|" \
        -e "s|/var/spool/postfix/|$SENDER_DIR/queue/|g" \
        -e "s|/etc/dovecot/|$RELAY_DOVECOT/|g"
}

# start_device_relay DEVICE PASSWORD_FILE - the sender Postfix (stock
# chrooted master.cf) set up as conf/postfix/device-relay says, with its
# Dovecot for the device logins: DEVICE's password is the first line of
# PASSWORD_FILE, hashed into device-users. Call after prepare_sender and the
# helper's config. Sets RELAY_PORT25 (= SENDER_PORT), RELAY_PORT587,
# RELAY_DOVECOT.
start_device_relay() {
    local device=$1 pwfile=$2 ex=$top_srcdir/conf/postfix/device-relay dv cmd line hash
    RELAY_PORT25=$SENDER_PORT
    RELAY_PORT587=$(free_port)
    RELAY_DOVECOT=$SENDER_DIR/dovecot
    dv=$RELAY_DOVECOT
    mkdir -p "$dv/conf.d" "$SENDER_DIR/conf/device-relay"
    # Dovecot: the example as its conf.d file, in an instance of its own.
    device_relay_subst "$ex/dovecot-auth.conf" >"$dv/conf.d/99-device-relay.conf"
    device_relay_subst "$ex/device-users" >"$dv/device-users"
    hash=$(openssl passwd -6 -stdin <"$pwfile") || bail "openssl passwd failed"
    echo "$device:{SHA512-CRYPT}$hash" >>"$dv/device-users"
    chgrp dovecot "$dv/device-users" && chmod 0640 "$dv/device-users"
    cat >"$dv/dovecot.conf" <<EOF
# the device relay's Dovecot for integration test $TEST_NAME: auth only
base_dir = $dv/run
state_dir = $dv/state
instance_name = oauth2-it-relay-$TEST_NAME-$$
log_path = $T/logs/relay-dovecot.log
protocols = none
ssl = no
!include $dv/conf.d/99-device-relay.conf
EOF
    # Postfix: the outgoing side as every sender (the plugin, the test CA),
    # then the example's main.cf lines, maps and services.
    sender_relay_to_receiver "$RELAY_MAILBOX" "" xoauth2 \
        "SASL_PATH=$SASL_DIR OAUTH2_TOKEN_HELPER_CONFIG=${HELPER_CONF:-$T/helper/helper.conf}"
    for f in sasl_passwd device_networks sender_canonical header_checks smtp_header_checks; do
        device_relay_subst "$ex/$f" >"$SENDER_DIR/conf/device-relay/$f" ||
            bail "cannot install device-relay/$f"
    done
    while IFS= read -r line; do
        postconf -c "$SENDER_DIR/conf" -e "$line" || bail "postconf -e '$line' failed"
    done < <(device_relay_subst "$ex/main.cf" | grep -E '^[a-z_0-9]+ *=')
    # The stock entries the example replaces, removed as its comment says.
    cmd=$(device_relay_subst "$ex/master.cf" | sed -n 's/^#  *\(postconf -MX .*\)$/\1/p')
    [ -n "$cmd" ] || bail "no 'postconf -MX' line in device-relay/master.cf"
    # shellcheck disable=SC2086
    postconf -c "$SENDER_DIR/conf" ${cmd#postconf } || bail "$cmd failed"
    device_relay_subst "$ex/master.cf" >>"$SENDER_DIR/conf/master.cf"
    cp "$SENDER_DIR/conf/main.cf" "$SENDER_DIR/conf/master.cf" "$T/logs/" 2>/dev/null
    mv "$T/logs/main.cf" "$T/logs/relay-main.cf.txt"
    mv "$T/logs/master.cf" "$T/logs/relay-master.cf.txt"
    dovecot -c "$dv/dovecot.conf" </dev/null >>"$T/logs/relay-dovecot.log" 2>&1 ||
        bail "the relay's dovecot did not start (see logs/relay-dovecot.log)"
    on_exit "stop_pid \$(cat $dv/run/master.pid 2>/dev/null)"
    postfix_start "$SENDER_DIR" "$RELAY_PORT25"
    wait_until 20 test -S "$SENDER_DIR/queue/private/auth" ||
        bail "no Dovecot auth socket at the relay's private/auth (see logs/relay-dovecot.log)"
    wait_until 20 smtp_banner_has "$RELAY_PORT587" "$(basename "$T")/sender" ||
        bail "the relay's submission service does not answer on $RELAY_PORT587"
}

# device_submit ARGS... - smtpclient.py submit (see there) to the relay; the final reply
device_submit() {
    "$PYTHON3" "$ITDIR/smtpclient.py" submit "$@" 2>>"$T/logs/smtpclient.log"
}

# ---- shared assertions ---------------------------------------------------

# receiver_log - the receiver's maillog
receiver_log() {
    cat "$T/logs/receiver-maillog.log" 2>/dev/null
}

# check_relayed N MECH - N messages injected, all delivered through AUTH MECH
# (an extended regex),
# each AUTH verified by Dovecot at the mock, nothing deferred or queued
check_relayed() {
    local n=$1 mech=$2 got auths hdrs
    got=$(inject "$n")
    check_num "sender's smtpd accepted the messages" "${got:-0}" -eq "$n"
    wait_delivered "$n" 90
    check_num "messages delivered at the receiver" "$(delivered_count)" -eq "$n"
    auths=$(receiver_log | grep -c -E "sasl_method=$mech, sasl_username=$ALICE")
    check_num "receiver logged AUTH $mech as $ALICE for each message" "$auths" -ge "$n"
    hdrs=$(grep -l "Authenticated sender: $ALICE" "$SINK"/inbox/new/* 2>/dev/null | wc -l)
    check_num "delivered messages carry 'Authenticated sender: $ALICE'" "$hdrs" -eq "$n"
    check_num "Dovecot verified tokens at the mock (introspections ok)" "$(mock_stat introspections.ok)" -ge "$n"
    check_num "no introspection failed" "$(mock_stat introspections.failed)" -eq 0
    check_num "sender deferred nothing" "$(deferral_count)" -eq 0
    check_num "sender bounced nothing" "$(bounce_count)" -eq 0
    check_num "sender's queue is empty" "$(queue_size)" -eq 0
}

# ---- what ships: the installed tree, the system paths (tests/shipped) ----
#
# The tests of tests/shipped run what an admin gets: "make install", the
# default config path and the default socket under /var/spool/postfix.
# Those are one per machine, so such a test holds a machine-wide lock
# (system_paths_lock) for its whole run, takes /etc/oauth2-token-helper.conf
# only when no one else's is there (claim_system_config), and its Postfix
# uses the real queue directory only when no other Postfix runs on it and
# its queue is empty (start_system_sender); otherwise missing().

SYSTEM_CONFIG=/etc/oauth2-token-helper.conf # set to the build's by built_config_file
SYSTEM_QUEUE=/var/spool/postfix
SYSTEM_STATE_DIR=/var/lib/oauth2-token-helper
SYSTEM_LOCK=${SYSTEM_LOCK:-/run/lock/oauth2-token-helper-tests.lock}

# need_exim - Debian's Exim 4.96, unpacked by fetch-exim.sh, and its
# compiled-in user; sets EXIM_ROOT and EXIM_BIN (missing() when it cannot run)
need_exim() {
    EXIM_ROOT=$(bash "$ITDIR/fetch-exim.sh" 2>>"$T/logs/fetch-exim.log") ||
        missing "no Exim 4.96 to run: $(tail -n 1 "$T/logs/fetch-exim.log")"
    EXIM_BIN=$EXIM_ROOT/usr/sbin/exim4
    # The binary's compiled-in user must exist, or Exim will not start.
    if ! getent passwd Debian-exim >/dev/null; then
        useradd --system --user-group --no-create-home --home-dir /nonexistent \
            --shell /usr/sbin/nologin Debian-exim >>"$T/logs/fetch-exim.log" 2>&1 ||
            missing "cannot create the user Debian-exim that Exim is built for"
    fi
    "$EXIM_BIN" -C /dev/null -bV >"$T/logs/exim-version.log" 2>&1
    grep -q '^Exim version 4\.96' "$T/logs/exim-version.log" ||
        missing "$EXIM_BIN is not a working Exim 4.96 ($(head -n 1 "$T/logs/exim-version.log"))"
}

# exim_main_section - the main section of a test's Exim config: a sender
# only (no daemon), spool and logs under $T/logs/exim (EXIM_DIR, EXIM_BIN set)
exim_main_section() {
    cat <<EOF
# Exim for test $TEST_NAME: sends only, no daemon
exim_path = $EXIM_BIN
spool_directory = $EXIM_DIR/spool
log_file_path = $T/logs/exim/%slog
primary_hostname = exim-sender.test
qualify_domain = sender.test
domainlist local_domains = exim-sender.test
keep_environment =
log_selector = +outgoing_port +smtp_protocol_error
EOF
}

# exim_prepare - Exim's directories ($EXIM_DIR: spool, run) and the
# helper set up as conf/exim/ says: a copy of the helper Debian-exim can
# run (EXIM_HELPER_BIN; the build tree may sit under a 0700 directory), a
# socket under a directory of group Debian-exim, allow_users Debian-exim,
# the config readable by it; a grant imported for alice, the daemon
# started. Sets EXIM_DIR, EXIM_HELPER_BIN, HELPER_CONF.
exim_prepare() {
    EXIM_DIR=$T/exim
    mkdir -p "$T/bin" "$EXIM_DIR/run" "$EXIM_DIR/spool" "$T/logs/exim"
    install -m 0755 "$HELPER_BIN" "$T/bin/oauth2-token-helper" || bail "cannot copy $HELPER_BIN"
    EXIM_HELPER_BIN=$T/bin/oauth2-token-helper
    chown Debian-exim:Debian-exim "$T/logs/exim" "$EXIM_DIR/spool"
    chmod 0750 "$EXIM_DIR/spool"
    chown root:Debian-exim "$EXIM_DIR/run"
    chmod 0750 "$EXIM_DIR/run"
    HELPER_SOCKET=$EXIM_DIR/run/oauth2-token-helper
    HELPER_ALLOW_USERS="Debian-exim root"
    HELPER_SOCKET_GROUP=Debian-exim
    write_helper_config
    # Where "oauth2-token-helper sendmail" (xoauth2-pipe.conf) delivers:
    # the receiver, or EXIM_RELAY_PORT (faultsmtp.py).
    printf 'relay = 127.0.0.1:%s\nrelay_ca_file = %s\n' "${EXIM_RELAY_PORT:-$RECEIVER_PORT}" "$CA" >>"$HELPER_CONF"
    # It holds no secret: 0644, as conf/exim/ allows, so that Debian-exim
    # and the daemon's user (oauth2-helper, where it exists) both read it.
    chmod 0644 "$HELPER_CONF"
    helper config-check >>"$T/logs/helper-cli.log" 2>&1 || bail "helper config-check failed (see logs/helper-cli.log)"
    import_grant "$ALICE" || bail "helper import failed (see logs/helper-cli.log)"
    run_helper
}

# exim_use_example FILE [SED-ARGS...] - EXIM_CONF: the test's main section,
# then conf/exim/FILE as shipped with only the names an admin replaces
# replaced (the helper's path, plus "-c" and this test's config; the
# account; smtp.office365.com by 127.0.0.2, port 587 by the receiver's;
# "system" trust by the test CA), then a retry rule; further sed
# arguments replace more. Exim must accept it.
exim_use_example() {
    local file=$1
    shift
    EXIM_CONF=$EXIM_DIR/exim.conf
    sed -e "s|/usr/sbin/oauth2-token-helper |$EXIM_HELPER_BIN -c $HELPER_CONF |" \
        -e "s|relay@contoso\\.com|$ALICE|g" \
        -e "s|smtp\\.office365\\.com|127.0.0.2|g" \
        -e "s|^  port = 587\$|  port = $RECEIVER_PORT|" \
        -e "s|^  tls_verify_certificates = system\$|  tls_verify_certificates = $CA|" \
        "$@" "$top_srcdir/conf/exim/$file" >"$EXIM_DIR/example.conf" || bail "cannot adapt conf/exim/$file"
    diff "$top_srcdir/conf/exim/$file" "$EXIM_DIR/example.conf" >"$T/logs/exim-example.diff"
    {
        exim_main_section
        cat "$EXIM_DIR/example.conf"
        printf '\nbegin retry\n*   *   F,1h,1m\n'
    } >"$EXIM_CONF"
    chmod 0644 "$EXIM_CONF"
    "$EXIM_BIN" -C "$EXIM_CONF" -bV >>"$T/logs/exim-version.log" 2>&1 ||
        bail "Exim refuses the configuration (see logs/exim-version.log)"
}

EXIM_SENDER=sender@sender.test

# exim ARGS... - this test's Exim
exim() {
    "$EXIM_BIN" -C "$EXIM_CONF" "$@"
}

# exim_submit TAG [RCPT...] - one message from EXIM_SENDER into Exim's
# queue (default recipient RCPT), then a queue run as root (a set-uid re-execution for
# -odi would run as Debian-exim and lose root for -C); 0 when Exim took it
exim_submit() {
    local tag=$1 rc
    shift
    exim -odq -oi -f "$EXIM_SENDER" "${@:-$RCPT}" >>"$T/logs/exim-cli.log" 2>&1 <<EOM
From: $EXIM_SENDER
To: ${*:-$RCPT}
Subject: $TEST_NAME message $tag

Message $tag from Exim.
.
A line with a single dot, above, is part of the body.
EOM
    rc=$?
    exim -qff >>"$T/logs/exim-cli.log" 2>&1
    return $rc
}

# exim_log - Exim's mainlog
exim_log() {
    cat "$T/logs/exim/mainlog" 2>/dev/null
}

# exim_count WHAT - mainlog lines of one kind: delivered (=>), deferred
# (==), bounced (**), frozen
exim_count() {
    case $1 in
    delivered) exim_log | grep -c ' => ' ;;
    deferred) exim_log | grep -c ' == ' ;;
    bounced) exim_log | grep -c ' \*\* ' ;;
    frozen) exim_log | grep -c -i 'frozen' ;;
    esac
}

# exim_queue - messages in Exim's queue; exim_queue_frozen - of them frozen
exim_queue() {
    exim -bpc 2>>"$T/logs/exim-cli.log"
}
exim_queue_frozen() {
    exim -bp 2>>"$T/logs/exim-cli.log" | grep -c '\*\*\* frozen \*\*\*'
}

# receiver_also_on ADDR - the running receiver listens on ADDR (a loopback
# address that is not one of this host's interfaces, such as 127.0.0.2)
# too, with a certificate naming it: Exim then sends to it without
# "self = send" or "allow_localhost", so conf/exim/ runs as shipped
receiver_also_on() {
    local addr=$1 line
    cat >"$T/ca/receiver2.ext" <<EOX
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1,IP:$addr,DNS:localhost
EOX
    openssl req -new -key "$T/ca/server.key" -subj "/O=oauth2-token-helper tests/CN=localhost" \
        -out "$T/ca/receiver2.csr" 2>>"$T/logs/openssl.log" &&
        openssl x509 -req -sha256 -days 2 -in "$T/ca/receiver2.csr" -CA "$CA" -CAkey "$T/ca/ca.key" \
            -CAcreateserial -extfile "$T/ca/receiver2.ext" -out "$T/ca/receiver2.pem" 2>>"$T/logs/openssl.log" ||
        bail "cannot make the receiver's certificate for $addr"
    chmod 0644 "$T/ca/receiver2.pem"
    # (An address in master.cf is bound as written; inet_interfaces may only
    # name the host's interface addresses.)
    postconf -c "$RECEIVER_DIR/conf" -e "smtpd_tls_cert_file = $T/ca/receiver2.pem"
    line=$(sed -n "s/^127\\.0\\.0\\.1:$RECEIVER_PORT /$addr:$RECEIVER_PORT /p" "$RECEIVER_DIR/conf/master.cf")
    [ -n "$line" ] || bail "no smtpd line for 127.0.0.1:$RECEIVER_PORT in the receiver's master.cf"
    echo "$line" >>"$RECEIVER_DIR/conf/master.cf"
    postfix_stop "$RECEIVER_DIR"
    postfix -c "$RECEIVER_DIR/conf" start >>"$T/logs/receiver-postfix.log" 2>&1 || bail "the receiver did not restart"
    wait_until 20 bash -c "exec 3<>/dev/tcp/$addr/$RECEIVER_PORT" 2>/dev/null ||
        bail "the receiver does not listen on $addr:$RECEIVER_PORT"
}

# system_paths_lock - wait (up to 15 min) for the machine-wide lock of the
# tests that use system paths. A small process of ours holds it (flock)
# until this test exits or dies, so that no daemon the test starts
# inherits the lock and keeps it after the test.
system_paths_lock() {
    local holder=
    mkdir -p "$(dirname "$SYSTEM_LOCK")"
    exec 7< <(flock -w 900 "$SYSTEM_LOCK" \
        sh -c 'echo "$$"; while kill -0 "$1" 2>/dev/null; do sleep 1; done' sh $$ 2>/dev/null)
    read -r -t 910 holder <&7
    exec 7<&-
    [ -n "$holder" ] || missing "another test held $SYSTEM_LOCK for 15 minutes"
    on_exit "kill $holder"
}

# install_tree - "make install DESTDIR=$T/root"; sets INST_ROOT,
# INST_HELPER, INST_PLUGIN_DIR (holding liboauth2helper.so), INST_EXAMPLES
install_tree() {
    INST_ROOT=$T/root
    build_make -s -C "$top_builddir" install DESTDIR="$INST_ROOT" >>"$T/logs/make-install.log" 2>&1 ||
        bail "make install DESTDIR=$INST_ROOT failed (see logs/make-install.log)"
    INST_HELPER=$(find "$INST_ROOT" -path '*/sbin/oauth2-token-helper' -type f | head -n 1)
    INST_PLUGIN_DIR=$(dirname "$(find "$INST_ROOT" -name liboauth2helper.so | head -n 1)")
    INST_EXAMPLES=$(dirname "$(find "$INST_ROOT" -path '*/examples/oauth2-token-helper.conf' -type f | head -n 1)")
    [ -x "$INST_HELPER" ] && [ -f "$INST_PLUGIN_DIR/liboauth2helper.so" ] &&
        [ -f "$INST_EXAMPLES/oauth2-token-helper.conf" ] ||
        bail "make install did not install the helper, the plugin and the example config"
    # Postfix and Dovecot drop privileges and must traverse it.
    chmod 0755 "$INST_ROOT"
}

# build_make ARGS... - make in the build tree as an admin runs it, whatever
# make runs this test. Under "make -jN check" the test inherits MAKEFLAGS
# ("w -jN --jobserver-auth=R,W -- TESTS=...") but not the jobserver's file
# descriptors; a make started with them warns "jobserver unavailable" and
# GNU make 4.3 then prints "make[N]: Entering directory ..." and "Leaving
# directory" on stdout despite --no-print-directory: built_config_file
# read three lines instead of one path, the test wrote its config under a
# directory so named in its cwd, and the helper found no
# /usr/local/etc/oauth2-token-helper.conf (only under make -jN check).
build_make() {
    env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u MAKEOVERRIDES make "$@"
}

# built_config_file - the config file this build reads by default
# (configure's sysconfdir: /etc with README's --sysconfdir=/etc,
# /usr/local/etc without); sets SYSTEM_CONFIG, one absolute path or bail
built_config_file() {
    SYSTEM_CONFIG=$(printf 'print-config-file:\n\t@echo $(config_file)\n' |
        build_make -s --no-print-directory -C "$top_builddir" -f Makefile -f - print-config-file)
    case $SYSTEM_CONFIG in
    *[![:print:]]*)
        bail "config_file from $top_builddir/Makefile is not one path: '$(printf %s "$SYSTEM_CONFIG" | tr -c '[:print:]' '|')'" ;;
    /?*) ;;
    *) bail "cannot read config_file from $top_builddir/Makefile (got '$SYSTEM_CONFIG')" ;;
    esac
}

# claim_system_config FILE [PATH] - install FILE as the build's default config
# (/etc/oauth2-token-helper.conf; root, 0644), or as PATH (an installed
# package's), and remove it at exit. Never replaces an admin's file: one
# there already is left alone and the test skips (fails under CI), unless
# it is a leftover of a killed test run (its marker names a dead pid).
claim_system_config() {
    local src=$1 owner
    if [ -n "${2:-}" ]; then
        SYSTEM_CONFIG=$2
    else
        built_config_file
    fi
    mkdir -p "$(dirname "$SYSTEM_CONFIG")"
    if [ -e "$SYSTEM_CONFIG" ] || [ -L "$SYSTEM_CONFIG" ]; then
        owner=$(sed -n 's/^# oauth2-token-helper test file, pid \([0-9]*\)$/\1/p' "$SYSTEM_CONFIG" 2>/dev/null | head -n 1)
        if [ -z "$owner" ] || kill -0 "$owner" 2>/dev/null; then
            missing "$SYSTEM_CONFIG exists and is not this test's: it is left alone"
        fi
        rm -f "$SYSTEM_CONFIG"
    fi
    {
        echo "# oauth2-token-helper test file, pid $$"
        cat "$src"
    } >"$SYSTEM_CONFIG.tmp.$$" && chmod 0644 "$SYSTEM_CONFIG.tmp.$$" &&
        mv "$SYSTEM_CONFIG.tmp.$$" "$SYSTEM_CONFIG" || bail "cannot write $SYSTEM_CONFIG"
    cp "$SYSTEM_CONFIG" "$T/logs/system-config.conf"
    on_exit "_release_system_config"
}
_release_system_config() {
    grep -q "^# oauth2-token-helper test file, pid $$\$" "$SYSTEM_CONFIG" 2>/dev/null &&
        rm -f "$SYSTEM_CONFIG"
}

# claim_system_state_dir - the default state_dir may be used (the helper
# creates it; removed at exit); 1 when someone else's is there already
claim_system_state_dir() {
    [ -e "$SYSTEM_STATE_DIR" ] && return 1
    on_exit "rm -rf $SYSTEM_STATE_DIR"
    return 0
}

# system_queue_busy - why the real queue directory cannot be used, or nothing
system_queue_busy() {
    local pid n
    [ -d "$SYSTEM_QUEUE/private" ] || { echo "no $SYSTEM_QUEUE/private"; return 0; }
    pid=$(tr -d ' ' 2>/dev/null <"$SYSTEM_QUEUE/pid/master.pid")
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        echo "a Postfix master (pid $pid) runs on $SYSTEM_QUEUE"
        return 0
    fi
    n=$(find "$SYSTEM_QUEUE"/{maildrop,incoming,active,deferred,hold} -type f 2>/dev/null | wc -l)
    if [ "$n" -gt 0 ]; then
        echo "$SYSTEM_QUEUE holds $n queued messages"
        return 0
    fi
    return 1
}

# start_system_sender USER FILTER [MAIN_CF_EXTRA] - the sender Postfix on
# the real queue directory (its own config_directory, never /etc/postfix),
# stock chrooted master.cf, relaying to the receiver as USER through the
# plugin in INST_PLUGIN_DIR, which finds its config where an admin's
# plugin would (no OAUTH2_TOKEN_HELPER_CONFIG). Sets SENDER_DIR, SENDER_PORT.
start_system_sender() {
    local user=$1 filter=$2 extra=${3:-} why
    why=$(system_queue_busy) && missing "cannot use $SYSTEM_QUEUE: $why"
    postfix_instance sender
    SENDER_DIR=$PF_DIR
    SENDER_PORT=$(free_port)
    rmdir "$SENDER_DIR/queue"
    sed -i "s|^queue_directory = .*|queue_directory = $SYSTEM_QUEUE|" "$SENDER_DIR/conf/main.cf"
    sender_relay_to_receiver "$user" "" "$filter" "SASL_PATH=$INST_PLUGIN_DIR" "$extra"
    postfix_start "$SENDER_DIR" "$SENDER_PORT" "_stop_system_sender $SENDER_DIR"
}

# _stop_system_sender DIR - stop it and leave the real queue as it was: empty
_stop_system_sender() {
    local pid
    pid=$(tr -d ' ' 2>/dev/null <"$SYSTEM_QUEUE/pid/master.pid")
    timeout -s KILL 30 postfix -c "$1/conf" abort >/dev/null 2>&1
    if [ -n "$pid" ]; then
        wait_until 10 sh -c "! kill -0 $pid" || kill -KILL "$pid" 2>/dev/null
    fi
    postfix_leftovers "$SYSTEM_QUEUE"
    postsuper -c "$1/conf" -d ALL >/dev/null 2>&1
    rm -f "$SYSTEM_QUEUE/pid/master.pid" "$SYSTEM_QUEUE/pid/inet.127.0.0.1:$SENDER_PORT"
}

# readme_blocks ITEM_REGEX - the fenced code blocks of README.md under the
# numbered item whose first line matches ITEM_REGEX (up to the next item
# or heading), their indentation removed; blocks separated by a line
# "----" (awk ERE, e.g. '^[0-9]+\. \*\*Postfix\*\*')
readme_blocks() {
    awk -v item="$1" '
        $0 ~ item { inside = 1; next }
        inside && !fence && (/^[0-9]+\. / || /^#/) { exit }
        inside && /^ *```/ {
            if (fence) { fence = 0; print "----" } else { fence = 1; match($0, /^ */); indent = RLENGTH }
            next
        }
        inside && fence { print substr($0, indent + 1) }
    ' "$top_srcdir/README.md"
}

# readme_section_blocks HEADING - the fenced code blocks of README.md under
# the heading line HEADING (exactly), up to the next heading, as readme_blocks
readme_section_blocks() {
    awk -v h="$1" '
        $0 == h { inside = 1; next }
        inside && /^#/ && !fence { exit }
        inside && /^ *```/ { if (fence) { fence = 0; print "----" } else fence = 1; next }
        inside && fence { print }
    ' "$top_srcdir/README.md"
}
