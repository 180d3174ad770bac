#!/bin/bash
# install-uninstall.sh - "make uninstall" takes away all that "make install"
# put in place, the directories it created included, and nothing else
#
# A scratch root (DESTDIR) is laid out like this machine: each directory
# make install uses that exists here (/usr/local/sbin, libsasl2's plugin
# directory with a plugin of someone else's, the man directories...) is
# made there first, with a file of its own. "make install DESTDIR=...",
# then "make uninstall DESTDIR=...": the tree must be exactly as before
# (find, before and after), so the directories install created are gone
# and those that were there stay. TAP.
. "$(dirname "$0")/../integration/lib.sh"
setup
[ -f "$top_builddir/Makefile" ] || bail "no build in $top_builddir (run configure and make first)"
ROOT=$T/root
mkdir -p "$ROOT"

# install_dirs - the directories "make install" puts files in (from a
# throwaway install)
install_dirs() {
    build_make -s -C "$top_builddir" install DESTDIR="$T/probe" >"$T/logs/probe-install.log" 2>&1 ||
        bail "make install DESTDIR=$T/probe failed (see logs/probe-install.log)"
    find "$T/probe" -type f -printf '%h\n' | sed "s|^$T/probe||" | sort -u
    build_make -s -C "$top_builddir" uninstall DESTDIR="$T/probe" >>"$T/logs/probe-install.log" 2>&1
}
# The machine's own directories, with a stranger's file in each.
n=0
for d in $(install_dirs); do
    while [ "$d" != / ] && [ ! -d "$d" ]; do
        d=$(dirname "$d")
    done
    [ "$d" = / ] && continue
    mkdir -p "$ROOT$d"
    : >"$ROOT$d/not-ours"
    n=$((n + 1))
done
diag "$n install directories exist on this machine: made in the scratch root first"
# snapshot - every path under the scratch root, with type and mode
snapshot() {
    (cd "$ROOT" && find . -printf '%y %m %p\n' | sort)
}
snapshot >"$T/logs/before.list"

build_make -s -C "$top_builddir" install DESTDIR="$ROOT" >"$T/logs/install.log" 2>&1
check_num "make install DESTDIR=... exits 0" "$?" -eq 0
check_num "it installed files" "$(find "$ROOT" -type f ! -name not-ours | wc -l)" -gt 5
build_make -s -C "$top_builddir" uninstall DESTDIR="$ROOT" >"$T/logs/uninstall.log" 2>&1
check_num "make uninstall DESTDIR=... exits 0" "$?" -eq 0
snapshot >"$T/logs/after.list"
diff "$T/logs/before.list" "$T/logs/after.list" >"$T/logs/diff.log"
left=$(grep -c '^> ' "$T/logs/diff.log")
[ "$left" -gt 0 ] && diag "left behind:
$(grep '^> ' "$T/logs/diff.log" | head -n 20)"
check_num "nothing is left that was not there before (paths left)" "$left" -eq 0
check_num "nothing that was there before is gone (paths lost)" "$(grep -c '^< ' "$T/logs/diff.log")" -eq 0

# A second install over the first, then one uninstall: still clean.
build_make -s -C "$top_builddir" install DESTDIR="$ROOT" >>"$T/logs/install.log" 2>&1 &&
    build_make -s -C "$top_builddir" install DESTDIR="$ROOT" >>"$T/logs/install.log" 2>&1 &&
    build_make -s -C "$top_builddir" uninstall DESTDIR="$ROOT" >>"$T/logs/uninstall.log" 2>&1
check_num "install, install again, uninstall exit 0" "$?" -eq 0
snapshot >"$T/logs/after2.list"
check "and leave the tree as before" cmp -s "$T/logs/before.list" "$T/logs/after2.list"
done_testing
