#!/bin/bash
# debian-packages.sh - the Debian packages build from a clean tree,
# install with apt-get, and relay mail with nothing but what they installed
#
# "make distdir" copies the tree as it ships (no build products) into the
# test's temp dir; there "dpkg-buildpackage -us -uc -b" (README's command,
# read from README; DEB_BUILD_OPTIONS=nocheck, -j2) builds oauth2-token-helper and
# libsasl2-modules-oauth2helper, and lintian must report no error. Then,
# as README says, "apt-get install ./oauth2-token-helper_*.deb
# ./libsasl2-modules-oauth2helper_*.deb", and the maintainer scripts'
# work is checked: the user oauth2-helper, /etc/oauth2-token-helper 0750
# root:oauth2-helper, the state directory as the unit's StateDirectory=
# makes it, the socket unit enabled, the service neither enabled nor
# running, no config in /etc. A Postfix relay (its own config directory,
# the real queue /var/spool/postfix, stock chrooted master.cf) then
# delivers through the verifying receiver with the installed plugin in
# libsasl2's directory and the installed daemon, whose config is the
# installed sample with its placeholders filled (as
# sample-config-as-installed.sh). "apt-get remove" keeps the state
# directory and its refresh token, "apt-get purge" removes it; in the end
# the machine is as the test found it (the user too, when the test's
# install created it).
#
# System paths: the machine-wide lock (system_paths_lock) for the whole
# run; the packages already installed, an existing /etc/oauth2-token-helper
# or /var/lib/oauth2-token-helper (someone's keys or tokens) make it skip
# (fail under CI=true). Costs one package build, about a minute.
. "$(dirname "$0")/../integration/lib.sh"
need_env
setup
need_product
N=${SHIPPED_MESSAGES:-3}
RELAY=relay@contoso.test
PKGS="oauth2-token-helper libsasl2-modules-oauth2helper"
PKG_CONFIG=/etc/oauth2-token-helper.conf
ETC_DIR=/etc/oauth2-token-helper
SBIN=/usr/sbin/oauth2-token-helper
EXAMPLE=/usr/share/doc/oauth2-token-helper/examples/oauth2-token-helper.conf
unset OAUTH2_TOKEN_HELPER_CONFIG

for tool in dpkg-buildpackage:dpkg-dev dh:debhelper lintian:lintian fakeroot:fakeroot apt-get:apt; do
    command -v "${tool%%:*}" >/dev/null || missing "${tool%%:*} is not installed (Debian package ${tool#*:})"
done
PLUGIN_DIR=/usr/lib/$(dpkg-architecture -qDEB_HOST_MULTIARCH)/sasl2

system_paths_lock
for p in $PKGS; do
    dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep -q 'ok installed' &&
        missing "package $p is installed already: it is left alone"
done
for d in "$ETC_DIR" "$SYSTEM_STATE_DIR"; do
    [ -e "$d" ] && missing "$d exists (someone's keys or tokens): it is left alone"
done
[ -e "$PKG_CONFIG" ] && missing "$PKG_CONFIG exists: it is left alone"
USER_BEFORE=$(getent passwd oauth2-helper)
GROUP_BEFORE=$(getent group oauth2-helper)

# snapshot - what the packages may touch, to compare before and after
# (only names of this project: others may install packages meanwhile)
snapshot() {
    {
        find /etc/systemd/system /var/lib/systemd/deb-systemd-helper-enabled \
            /var/lib/systemd/deb-systemd-helper-masked "$PLUGIN_DIR" /usr/lib/sysusers.d \
            /lib/systemd/system /usr/share/doc /usr/share/man/man5 /usr/share/man/man8 \
            /usr/sbin /etc /var/lib -maxdepth 1 2>/dev/null
        getent passwd oauth2-helper
        getent group oauth2-helper
    } | grep oauth2 | sort
}
snapshot >"$T/logs/before.list"

apt_get() {
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 -y "$@"
}
# Whatever happens, the packages go (purge) and a user the test made.
_restore_machine() {
    local p
    for p in $PKGS; do
        if dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep -q 'ok installed\|config-files'; then
            apt_get purge $PKGS >>"$T/logs/apt.log" 2>&1
            break
        fi
    done
    if [ -z "$USER_BEFORE" ] && getent passwd oauth2-helper >/dev/null; then
        userdel oauth2-helper >>"$T/logs/apt.log" 2>&1
    fi
    if [ -z "$GROUP_BEFORE" ] && getent group oauth2-helper >/dev/null; then
        groupdel oauth2-helper >>"$T/logs/apt.log" 2>&1
    fi
}
on_exit _restore_machine

# ---- build from a clean tree ---------------------------------------------
VERSION=$(sed -n 's/^AC_INIT(\[oauth2-token-helper\], \[\([^]]*\)\].*/\1/p' "$top_srcdir/configure.ac")
DEB_VERSION=$(dpkg-parsechangelog -l "$top_srcdir/debian/changelog" -S Version)
check "debian/changelog's version ($DEB_VERSION) is configure.ac's ($VERSION)" test "$DEB_VERSION" = "$VERSION"
DIST=oauth2-token-helper-$VERSION
rm -rf "${top_builddir:?}/$DIST"
build_make -s -C "$top_builddir" distdir >"$T/logs/distdir.log" 2>&1 ||
    bail "make distdir failed (see logs/distdir.log)"
mkdir -p "$T/pkg"
mv "$top_builddir/$DIST" "$T/pkg/" || bail "cannot move $DIST into $T/pkg"
check "the distributed tree holds debian/ and no build products" \
    sh -c "test -x '$T/pkg/$DIST/debian/rules' && ! find '$T/pkg/$DIST' -name '*.o' -o -name '*.so' -o -name config.status | grep -q ."
# README's commands, read out of its Install section.
BUILD_CMD=$(readme_section_blocks '## Install' | grep -m 1 '^dpkg-buildpackage ' | sed 's/ *#.*//')
INSTALL_CMD=$(readme_section_blocks '## Install' | grep -m 1 '^apt-get install \./')
check "README's Install section builds with dpkg-buildpackage -us -uc -b" \
    test "$BUILD_CMD" = "dpkg-buildpackage -us -uc -b"
check "README's Install section installs both packages with apt-get install ./" \
    test "$INSTALL_CMD" = "apt-get install ./oauth2-token-helper_*.deb ./libsasl2-modules-oauth2helper_*.deb"
start=$SECONDS
(cd "$T/pkg/$DIST" && export DEB_BUILD_OPTIONS="nocheck noddebs parallel=2" && eval "$BUILD_CMD") \
    </dev/null >"$T/logs/dpkg-buildpackage.log" 2>&1
check_num "$BUILD_CMD exits 0 ($((SECONDS - start)) s)" "$?" -eq 0 ||
    bail "no packages (see logs/dpkg-buildpackage.log)"
for p in $PKGS; do
    check "built $p" sh -c "ls '$T/pkg/'${p}_${VERSION}_*.deb"
done

lintian --no-tag-display-limit "$T"/pkg/oauth2-token-helper_"$VERSION"_*.changes \
    >"$T/logs/lintian.log" 2>&1
diag "lintian: $(grep -c -E '^[EW]: ' "$T/logs/lintian.log") errors and warnings
$(grep -E '^[EW]: ' "$T/logs/lintian.log" | sort -u)"
check_num "lintian reports no error (E:)" "$(grep -c '^E: ' "$T/logs/lintian.log")" -eq 0
check_num "lintian reports no warning (W:)" "$(grep -c '^W: ' "$T/logs/lintian.log")" -eq 0
for p in $PKGS; do
    dpkg-deb -c "$T"/pkg/${p}_"$VERSION"_*.deb >>"$T/logs/contents.log"
done
check_num "no libtool archive, static library or /etc file in the packages" \
    "$(grep -c -E '\.la$|\.a$| \./etc/' "$T/logs/contents.log")" -eq 0
check "the plugin is in libsasl2's directory $PLUGIN_DIR" \
    grep -q " \.$PLUGIN_DIR/liboauth2helper\.so\$" "$T/logs/contents.log"
# Nothing under systemd runs on this test machine: what the units would
# do is read from the maintainer scripts.
dpkg-deb -e "$T"/pkg/oauth2-token-helper_"$VERSION"_*.deb "$T/ctl"
# starts_nothing FILE - no start of a unit in a postinst, only a try-restart
starts_nothing() {
    ! grep -E 'deb-systemd-invoke +(start|restart|\$_dh_action)|systemctl .*(start|--now)' "$1" &&
        grep -q 'deb-systemd-invoke try-restart oauth2-token-helper.service' "$1"
}
check "postinst starts no unit (it only restarts a running daemon on upgrade)" starts_nothing "$T/ctl/postinst"
check "prerm stops the daemon and its socket on remove, and nothing stops them on upgrade" \
    sh -c "grep -q 'deb-systemd-invoke stop oauth2-token-helper.service oauth2-token-helper.socket' '$T/ctl/prerm' &&
           ! grep -q 'stop' '$T/ctl/preinst' 2>/dev/null"

# ---- install, as README says ---------------------------------------------
(cd "$T/pkg" && eval "apt_get ${INSTALL_CMD#apt-get }") </dev/null >>"$T/logs/apt.log" 2>&1
check_num "$INSTALL_CMD exits 0" "$?" -eq 0 ||
    bail "the packages did not install (see logs/apt.log)"
check "postinst: the user oauth2-helper exists (systemd-sysusers)" getent passwd oauth2-helper
check "postinst: $ETC_DIR is 0750 root:oauth2-helper" \
    test "$(stat -c '%a %U:%G' "$ETC_DIR" 2>&1)" = "750 root:oauth2-helper"
check "postinst: $SYSTEM_STATE_DIR is 0700 oauth2-helper:oauth2-helper, as StateDirectory= makes it" \
    test "$(stat -c '%a %U:%G' "$SYSTEM_STATE_DIR" 2>&1)" = "700 oauth2-helper:oauth2-helper"
check "postinst: the socket unit is enabled" \
    test -L /etc/systemd/system/sockets.target.wants/oauth2-token-helper.socket
check "postinst: the service is not enabled" \
    sh -c '! ls /etc/systemd/system/*.wants/oauth2-token-helper.service 2>/dev/null | grep -q .'
check "no $PKG_CONFIG installed: the sample stays an example" test ! -e "$PKG_CONFIG"
check "both units start only once $PKG_CONFIG exists (ConditionPathExists)" \
    sh -c "grep -qx 'ConditionPathExists=$PKG_CONFIG' /lib/systemd/system/oauth2-token-helper.service &&
           grep -qx 'ConditionPathExists=$PKG_CONFIG' /lib/systemd/system/oauth2-token-helper.socket"
# installed_daemons - processes running the installed binary
installed_daemons() {
    local p
    for p in /proc/[0-9]*; do
        [ "$(readlink "$p/exe" 2>/dev/null)" = "$SBIN" ] && echo "${p#/proc/}"
    done
}
check_num "nothing was started: no process runs $SBIN" "$(installed_daemons | wc -l)" -eq 0
check "the socket was not created" test ! -e "$SYSTEM_QUEUE/private/oauth2-token-helper"
check "the installed helper runs" "$SBIN" --version

# ---- a relay with only what the packages installed -----------------------
start_mock
mockctl settings --token-length 4500 >/dev/null || bail "mock settings failed"
start_receiver
CONF=$T/oauth2-token-helper.conf
sed -e "s/^#\[account relay@contoso\.com\]\$/[account $RELAY]/" \
    -e 's/^#tenant = contoso\.com$/tenant = contoso.test/' \
    -e "s/^#client_id = 00000000-0000-0000-0000-000000000000\$/client_id = $CLIENT_ID/" \
    -e "s|^#authority = https://login\\.microsoftonline\\.com\$|authority = $MOCK_URL|" \
    -e "s|^#ca_file = /etc/ssl/certs/ca-certificates\\.crt\$|ca_file = $CA|" \
    "$EXAMPLE" >"$CONF"
diff "$EXAMPLE" "$CONF" >"$T/logs/config-diff.log"
check_num "the installed sample with only its placeholders filled (lines set)" \
    "$(grep -c '^> ' "$T/logs/config-diff.log")" -eq 5
claim_system_config "$CONF" "$PKG_CONFIG"
"$SBIN" config-check >"$T/logs/config-check.log" 2>&1
check_num "config-check (the package's default config path) exits 0" "$?" -eq 0
mockctl grant --user "$RELAY" --client-id "$CLIENT_ID" --tenant contoso.test |
    "$SBIN" import "$RELAY" >>"$T/logs/helper-cli.log" 2>&1
check_num "import $RELAY exits 0" "$?" -eq 0
check "the refresh token is stored in the package's state directory" test -s "$SYSTEM_STATE_DIR/$RELAY.state"
DEFAULT_SOCKET=$SYSTEM_QUEUE/private/oauth2-token-helper
"$SBIN" serve </dev/null >>"$T/logs/helper-serve.log" 2>&1 &
HELPER_PID=$!
on_exit "stop_pid $HELPER_PID; [ -S $DEFAULT_SOCKET ] && rm -f $DEFAULT_SOCKET"
wait_until 20 test -S "$DEFAULT_SOCKET" || bail "the daemon did not create $DEFAULT_SOCKET (see logs/helper-serve.log)"
INST_PLUGIN_DIR=$PLUGIN_DIR
start_system_sender "$RELAY" xoauth2
diag "receiver :$RECEIVER_PORT, sender :$SENDER_PORT on $SYSTEM_QUEUE with $PLUGIN_DIR, mock $MOCK_URL"
ALICE=$RELAY
check_relayed "$N" XOAUTH2
check_num "the plugin never failed to reach the daemon" \
    "$(sender_log | grep -c 'cannot reach the token daemon')" -eq 0
stop_pid "$HELPER_PID"
rm -f "$DEFAULT_SOCKET"

# ---- remove keeps the tokens, purge drops them ---------------------------
apt_get remove $PKGS </dev/null >>"$T/logs/apt.log" 2>&1
check_num "apt-get remove exits 0" "$?" -eq 0
check "remove: the binary and the plugin are gone" \
    sh -c "test ! -e $SBIN && test ! -e $PLUGIN_DIR/liboauth2helper.so"
check "remove: the state directory and its refresh token stay" test -s "$SYSTEM_STATE_DIR/$RELAY.state"
_release_system_config
apt_get purge $PKGS </dev/null >>"$T/logs/apt.log" 2>&1
check_num "apt-get purge exits 0" "$?" -eq 0
check "purge: the state directory is gone" test ! -e "$SYSTEM_STATE_DIR"
check "purge: $ETC_DIR (empty) is gone" test ! -e "$ETC_DIR"
check "purge: the socket unit is no longer enabled" \
    test ! -e /etc/systemd/system/sockets.target.wants/oauth2-token-helper.socket
_restore_machine
snapshot >"$T/logs/after.list"
diff "$T/logs/before.list" "$T/logs/after.list" >"$T/logs/machine-diff.log"
check_num "the machine is as the test found it (lines changed, logs/machine-diff.log)" \
    "$(grep -c '^[<>]' "$T/logs/machine-diff.log")" -eq 0
done_testing
