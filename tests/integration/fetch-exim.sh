#!/bin/bash
# fetch-exim.sh - an unpacked Exim 4.96 for the integration tests
#
# Usage: fetch-exim.sh
#
# Debian's exim4-daemon-light conflicts with the postfix package the other
# tests need, so it is not installed: its .deb is fetched with
# "apt-get download" and unpacked with "dpkg -x" into a cache directory.
# Its shared-library dependencies that are missing (libidn12 on a stock
# Debian 12 with Postfix) are installed with apt-get: they conflict with
# nothing, and an LD_LIBRARY_PATH would not survive Exim re-executing its
# set-uid binary. Prints the unpacked tree's root on stdout; the binary is
# ROOT/usr/sbin/exim4.
#
# Idempotent and safe to run in parallel (flock): a complete tree is
# reused; a partial one is replaced. Needs root, and apt's package lists
# and a reachable mirror only on the first run (runs "apt-get update" once
# if the download fails). Exit status 0 with the path, 1 with a message on
# standard error when Exim cannot be had.
#
# Environment: EXIM_CACHE_DIR (default /var/cache/oauth2-token-helper-tests),
# EXIM_PACKAGE (default exim4-daemon-light).
set -u

CACHE=${EXIM_CACHE_DIR:-/var/cache/oauth2-token-helper-tests}
PKG=${EXIM_PACKAGE:-exim4-daemon-light}

die() {
    echo "fetch-exim: $*" >&2
    exit 1
}

# version - the candidate version apt would install
version() {
    apt-cache policy "$PKG" 2>/dev/null | sed -n 's/^ *Candidate: *//p' | head -n 1
}

# installed PKG - the package is installed on this system
installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

# download DIR PKG... - apt-get download into DIR, with one apt-get update on failure
download() {
    local dir=$1
    shift
    (cd "$dir" && apt-get download "$@") >>"$dir/fetch.log" 2>&1 && return 0
    apt-get update -qq >>"$dir/fetch.log" 2>&1 || return 1
    (cd "$dir" && apt-get download "$@") >>"$dir/fetch.log" 2>&1
}

# install_libs PKG... - apt-get install, with one apt-get update on failure
install_libs() {
    local log=$CACHE/fetch-install.log
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" \
        </dev/null >>"$log" 2>&1 && return 0
    apt-get update -qq >>"$log" 2>&1 || return 1
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" \
        </dev/null >>"$log" 2>&1
}

# missing_libs DEB - library packages DEB depends on that are not installed
missing_libs() {
    local dep
    dpkg-deb -f "$1" Depends | tr ',' '\n' | sed -e 's/|.*//' -e 's/(.*)//' -e 's/ //g' |
        while IFS= read -r dep; do
            case $dep in
            lib*) installed "$dep" || installed "$dep:amd64" || echo "$dep" ;;
            esac
        done
}

# usable ROOT - the tree is complete and its libraries are installed
usable() {
    [ -x "$1/usr/sbin/exim4" ] && [ -f "$1/.complete" ] &&
        ! LC_ALL=C ldd "$1/usr/sbin/exim4" 2>/dev/null | grep -q 'not found'
}

command -v apt-get >/dev/null || die "apt-get not found (Debian only)"
ver=$(version)
[ -n "$ver" ] && [ "$ver" != "(none)" ] || die "apt knows no $PKG (run apt-get update?)"
root=$CACHE/$PKG-$ver
if usable "$root"; then
    echo "$root"
    exit 0
fi
[ "$(id -u)" = 0 ] || die "needs root to fetch $PKG and install its libraries"

mkdir -p "$CACHE" || die "cannot create $CACHE"
exec 9>"$CACHE/.lock"
flock 9 || die "cannot lock $CACHE/.lock"
if usable "$root"; then
    echo "$root"
    exit 0
fi

work=$(mktemp -d "$CACHE/.fetch.XXXXXX") || die "mktemp in $CACHE failed"
trap 'rm -rf "$work"' EXIT
# apt's _apt sandbox user must be able to write here.
chmod 0755 "$work"
chown _apt "$work" 2>/dev/null
download "$work" "$PKG=$ver" || die "apt-get download $PKG=$ver failed: $(tail -n 3 "$work/fetch.log")"
debs=("$work"/*.deb)
deb=${debs[0]}
[ -f "$deb" ] || die "no .deb downloaded"
libs=$(missing_libs "$deb")
if [ -n "$libs" ]; then
    # shellcheck disable=SC2086
    install_libs $libs || die "apt-get install $libs failed (see $CACHE/fetch-install.log)"
fi
mkdir -p "$work/root"
dpkg -x "$deb" "$work/root" || die "dpkg -x $deb failed"
[ -x "$work/root/usr/sbin/exim4" ] || die "$PKG has no usr/sbin/exim4"
touch "$work/root/.complete"
rm -rf "$root"
mv "$work/root" "$root" || die "cannot move the tree to $root"
usable "$root" || die "$root/usr/sbin/exim4 still misses libraries: $(LC_ALL=C ldd "$root/usr/sbin/exim4" | grep 'not found' | tr -s ' \t\n' ' ')"
echo "$root"
