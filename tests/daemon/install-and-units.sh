#!/bin/bash
# install-and-units.sh - "make install" into a scratch root creates nothing
# insecure; the systemd units pass systemd-analyze verify; the man pages
# pass man --warnings; the daemon serves on a socket passed by systemd
# (socket activation, driven by systemd-socket-activate). TAP.
# A missing tool (systemd-analyze, man, systemd-socket-activate) skips its
# part, or fails it under CI=true. tests/daemon/units-as-shipped.py runs
# the daemon as the installed units do, after README's steps.
set -u
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir/build}"
: "${PYTHON3:=python3}"
n=0
failed=0
ok() {
    n=$((n + 1))
    if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=$((failed + 1)); fi
}
# missing WHAT - a tool is absent: skip that part, or fail it under CI=true
missing() {
    if [ "${CI:-}" = true ]; then
        ok 1 "$1 (CI=true: scripts/test installs it)"
    else
        echo "ok $((n += 1)) # SKIP $1"
    fi
}
# have CMD... - the tool runs (not merely is on the PATH)
have() { "$@" >/dev/null 2>&1; }
T=$(mktemp -d /tmp/o2th-install.XXXXXX)
trap 'kill $ACT_PID 2>/dev/null; wait 2>/dev/null; rm -rf "$T"' EXIT
ACT_PID=

# 1. make install into a scratch root
make -s -C "$top_builddir" install DESTDIR="$T/root" >"$T/install.log" 2>&1
ok $? "make install DESTDIR=... succeeds"
ww=$(find "$T/root" -perm -0002 ! -type l | wc -l)
ok $((ww != 0)) "no installed file or directory is world-writable ($ww)"
etc=$(find "$T/root" -path '*/etc/*' -type f | wc -l)
ok $((etc != 0)) "nothing is installed under etc/: the config stays the admin's ($etc files)"
bin=$(find "$T/root" -name oauth2-token-helper -type f)
ok $(( $(stat -c %a "$bin") != 755 )) "the helper is installed 0755, not set-uid ($(stat -c %a "$bin"))"
so=$(find "$T/root" -path '*sasl2*' -name 'liboauth2helper*' | sed "s|$T/root||")
ok $([ "$(basename "$so")" = liboauth2helper.so ] && echo 0 || echo 1) "only the plugin's .so goes to the SASL plugin directory ($so)"
ex=$(find "$T/root" -name oauth2-token-helper.conf -path '*examples*' -type f)
ok $([ -n "$ex" ] && [ "$(stat -c %a "$ex")" = 644 ] && echo 0 || echo 1) "the annotated config is an example under the docs"

# 2. systemd units
units=$(find "$T/root" -name 'oauth2-token-helper.s*' -path '*systemd*' | sort)
ok $([ "$(echo "$units" | wc -w)" -eq 2 ] && echo 0 || echo 1) "a service and a socket unit are installed"
mkdir -p "$T/units"
for u in $units; do
    sed "s|=\(/[^ ]*/oauth2-token-helper\) |=$T/root\1 |" "$u" >"$T/units/$(basename "$u")"
done
if have systemd-analyze --version; then
    out=$(MANPATH="$(dirname "$(find "$T/root" -type d -name man8)")" systemd-analyze verify "$T"/units/*.s* 2>&1)
    ok $? "systemd-analyze verify passes"
    [ -n "$out" ] && echo "$out" | sed 's/^/# /'
    ok $([ -z "$out" ] && echo 0 || echo 1) "and prints nothing"
else
    missing "systemd-analyze does not run (Debian package systemd)"
fi
grep -q '^ProtectSystem=strict' "$T"/units/*.service && grep -q '^NoNewPrivileges=yes' "$T"/units/*.service &&
    grep -q '^User=oauth2-helper' "$T"/units/*.service && grep -q '^ReadWritePaths=/var/lib/oauth2-token-helper$' "$T"/units/*.service
ok $? "the service is hardened: own user, ProtectSystem=strict, NoNewPrivileges, narrow ReadWritePaths"
grep -q '^SyslogFacility=mail$' "$T"/units/*.service && grep -q '^SyslogIdentifier=oauth2-token-helper$' "$T"/units/*.service
ok $? "the service logs with facility mail under its own identifier (SyslogFacility, SyslogIdentifier)"
grep -q '^ListenStream=/var/spool/postfix/private/oauth2-token-helper$' "$T"/units/*.socket &&
    grep -q '^SocketGroup=postfix$' "$T"/units/*.socket && grep -q '^SocketMode=0660$' "$T"/units/*.socket
ok $? "the socket is created under Postfix's private/, group postfix, mode 0660"

# 3. man pages
have man --version || missing "man does not run (Debian package man-db)"
have man --version && bad=0
for page in $(find "$T/root" -path '*/man/man*' -type f); do
    w=$(LC_ALL=C.UTF-8 MANROFFSEQ='' man --warnings -l "$page" 2>&1 >/dev/null)
    if [ -n "$w" ]; then bad=1; echo "$w" | sed 's/^/# /'; fi
done
have man --version && ok $bad "man --warnings finds nothing in the installed pages"

# 4. socket activation
if have systemd-socket-activate --version; then
    mkdir -p "$T/state" && chmod 700 "$T/state"
    cat >"$T/helper.conf" <<EOC
socket = $T/act.sock
state_dir = $T/state
allow_users = root
[account alice@contoso.test]
tenant = contoso.test
client_id = 6731de76-14a6-49ae-97bc-6eba6914391e
EOC
    systemd-socket-activate -l "$T/act.sock" "$top_builddir/helper/oauth2-token-helper" \
        -c "$T/helper.conf" serve >"$T/act.log" 2>&1 &
    ACT_PID=$!
    for _ in $(seq 50); do [ -S "$T/act.sock" ] && break; sleep 0.1; done
    reply=$("$PYTHON3" - "$T/act.sock" <<'EOP'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
req = b"status alice@contoso.test"
s.sendall(b"%d:%s," % (len(req), req))
print(s.recv(4096).decode()[:40])
EOP
)
    case $reply in *OK*account*) r=0 ;; *) r=1 ;; esac
    ok $r "the daemon answers on the socket systemd passed it"
    grep -q "using the socket passed by systemd" "$T/act.log"
    ok $? "and says so in its log"
    kill "$ACT_PID"; wait "$ACT_PID" 2>/dev/null
    ok $([ -S "$T/act.sock" ] && echo 0 || echo 1) "on exit it leaves systemd's socket alone"
    ACT_PID=
else
    missing "systemd-socket-activate does not run (Debian package systemd)"
fi
echo "1..$n"
[ "$failed" -eq 0 ]
