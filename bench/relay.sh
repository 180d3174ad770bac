#!/bin/bash
# relay.sh - relay overhead: Postfix sends N messages with XOAUTH2 (through
#            the plugin and the daemon) and N with PLAIN, to the same
#            verifying server, side by side in one run
#
# Usage: relay.sh [N [AUTH_CACHE]]    (root; run by bench/run.py)
#
# One receiving Postfix with Dovecot SASL: an oauth2 passdb (introspection
# at the mock) for XOAUTH2, a static passdb for PLAIN; AUTH_CACHE is
# Dovecot's auth_cache_size (0: every AUTH verified). One sending Postfix,
# stock chrooted smtp(8), TLS, one connection and one AUTH per message. The
# rounds alternate, XOAUTH2 then PLAIN, ROUNDS rounds of N/ROUNDS each (4:
# drift in the machine's load hits both alike): messages are queued while
# the smtp transport is on hold (defer_transports), then released with a
# flush, and timed from the first delivery to the last.
#
# Prints "RESULT relay_xoauth2[_cached] seconds=S messages=N rate=R" and the
# same for plain, or "SKIP reason".
. "$(dirname "$0")/../tests/integration/lib.sh"
N=${1:-1000}
CACHE=${2:-0}
SUFFIX=
[ "$CACHE" != 0 ] && SUFFIX=_cached
PLAIN_SO=/usr/lib/x86_64-linux-gnu/sasl2/libplain.so
PASSWORD=bench-plain-password

[ "$(id -u)" = 0 ] || { echo "SKIP not root"; exit 0; }
command -v postfix >/dev/null && command -v dovecot >/dev/null || { echo "SKIP no postfix or dovecot"; exit 0; }
[ -f "$PLAIN_SO" ] || { echo "SKIP no Cyrus PLAIN plugin ($PLAIN_SO)"; exit 0; }
setup
_tap_done=1 # not a TAP test: no plan printed at exit
need_product

start_mock >/dev/null
mockctl settings --lifetime 3600 >/dev/null || bail "mock settings failed"
RECEIVER_MECHS="xoauth2 plain" RECEIVER_STATIC_PASSWORD=$PASSWORD RECEIVER_AUTH_CACHE=$CACHE \
    start_receiver >/dev/null
prepare_sender
ln -sf "$PLAIN_SO" "$SASL_DIR/libplain.so"
start_helper >/dev/null
start_sender xoauth2 >/dev/null
# The same security options for both: PLAIN is a plaintext mechanism.
postconf -c "$SENDER_DIR/conf" -e smtp_sasl_security_options=noanonymous \
    smtp_sasl_tls_security_options=noanonymous

# use_mech xoauth2|plain - the password map and mechanism filter for a round
use_mech() {
    if [ "$1" = plain ]; then
        echo "[127.0.0.1]:$RECEIVER_PORT $ALICE:$PASSWORD" >"$SENDER_DIR/conf/sasl_passwd"
    else
        echo "[127.0.0.1]:$RECEIVER_PORT $ALICE:unused" >"$SENDER_DIR/conf/sasl_passwd"
    fi
    postconf -c "$SENDER_DIR/conf" -e "smtp_sasl_mechanism_filter=$1" defer_transports=smtp
    postfix -c "$SENDER_DIR/conf" reload >/dev/null 2>&1
}

# round MECH COUNT - queue COUNT messages on hold, release, time the delivery
round() {
    local mech=$1 count=$2 before target t0 t1 got
    use_mech "$mech"
    sleep 1
    before=$(delivered_count)
    target=$((before + count))
    got=$(inject "$count")
    [ "$got" = "$count" ] || bail "$mech: only $got of $count messages accepted"
    wait_until 120 sh -c "[ \$(postqueue -c $SENDER_DIR/conf -j | grep -c queue_id) -ge $count ]" ||
        bail "$mech: messages not queued"
    postconf -c "$SENDER_DIR/conf" -e defer_transports=
    postfix -c "$SENDER_DIR/conf" reload >/dev/null 2>&1
    sleep 1
    t0=$(date +%s.%N)
    postqueue -c "$SENDER_DIR/conf" -f
    while [ "$(delivered_count)" -lt "$target" ]; do
        t1=$(date +%s.%N)
        if [ "$(echo "$t1 - $t0 > 600" | bc)" = 1 ]; then
            bail "$mech: only $(($(delivered_count) - before)) of $count delivered in 600 s"
        fi
        sleep 0.05
    done
    # From the first delivery to the last (file times in the maildir): the
    # relay's own pace, without the queue manager's pick-up after the flush.
    "$PYTHON3" -c 'import os, sys
d, n = sys.argv[1], int(sys.argv[2])
t = sorted(os.stat(os.path.join(d, f)).st_mtime_ns for f in os.listdir(d))[-n:]
print("%.3f" % ((t[-1] - t[0]) / 1e9))' "$SINK/inbox/new" "$count"
}

ROUNDS=${ROUNDS:-4}
per=$((N / ROUNDS))
declare -A total=([xoauth2]=0 [plain]=0)
for ((r = 0; r < ROUNDS; r++)); do
    for mech in xoauth2 plain; do
        s=$(round "$mech" "$per") || exit 1
        echo "# round $mech $per messages: $s s" >&2
        total[$mech]=$(echo "${total[$mech]} + $s" | bc)
    done
done
[ "$(bounce_count)" = 0 ] || bail "messages bounced"
auths=$(receiver_log | grep -c 'sasl_method=XOAUTH2')
plains=$(receiver_log | grep -c 'sasl_method=PLAIN')
echo "# receiver: $auths XOAUTH2 logins, $plains PLAIN logins; mock introspections: $(mock_stat introspections.ok)" >&2
[ "$auths" -ge "$N" ] && [ "$plains" -ge "$N" ] || bail "not every message authenticated as expected"
for mech in xoauth2 plain; do
    echo "RESULT relay_$mech$SUFFIX seconds=${total[$mech]} messages=$N rate=$(echo "scale=1; $N / ${total[$mech]}" | bc)"
done
