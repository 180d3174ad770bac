#!/usr/bin/env python3
"""socket-race.py - the daemon, as root, creates its socket in a directory
another user can write (Postfix's private/ is the postfix user's) without
following a link that user puts there (TAP; root only)

Issue 9, item 1: the daemon used to bind() the socket and then chown() and
chmod() its path; the directory's owner could swap the fresh socket for a
symlink in between, and the daemon then changed the owner and mode of any
file on the system (a root-owned 0600 file became group nogroup, 0660).

Here a racer running as nobody, the owner of the socket's directory:
  - swaps the socket for a symlink to a root-owned 0600 file the moment it
    appears (atomically, by renaming a prepared symlink over it);
  - swaps any other new directory entry (the daemon's own temporary
    directory) for a symlink to a directory of its own whose entry of the
    socket's name is a symlink to that file;
while the daemon starts ROUNDS times. The file's owner, group and mode must
never change, the daemon must start every time, and it must serve once the
racer stops. Before the fix the file changed within a few dozen rounds.
"""

import os
import pwd
import grp
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixture import HELPER, Fixture, Tap, netstring, read_netstring  # noqa: E402

ACCOUNT = "alice@contoso.test"
ROUNDS = int(os.environ.get("SOCKET_RACE_ROUNDS", "150"))

# Runs as nobody: swap the socket for a symlink to the target, atomically.
SOCKET_RACER = r"""
import os, stat, sys
sock, target, stop = sys.argv[1:4]
tmp = sock + ".racer"
while not os.path.exists(stop):
    try:
        st = os.lstat(sock)
    except OSError:
        continue
    if not stat.S_ISSOCK(st.st_mode):
        continue
    try:
        os.symlink(target, tmp)
    except FileExistsError:
        pass
    try:
        os.rename(tmp, sock)
    except OSError:
        pass
"""

# Runs as nobody: swap every other new entry of the directory (the daemon's
# temporary directory) for a symlink to a directory of ours.
DIR_RACER = r"""
import os, sys
d, decoy, base, stop = sys.argv[1:5]
n = 0
while not os.path.exists(stop):
    try:
        names = os.listdir(d)
    except OSError:
        continue
    for name in names:
        if name == base or name.startswith(base + ".racer") or name.startswith("aside."):
            continue
        p = os.path.join(d, name)
        if os.path.islink(p):
            continue
        n += 1
        try:
            os.rename(p, os.path.join(d, "aside.%d" % n))
            os.symlink(decoy, p)
        except OSError:
            pass
"""


def as_nobody(code, *args):
    return subprocess.Popen(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                             sys.executable, "-c", code] + list(args))


def fingerprint(path):
    st = os.lstat(path)
    return (st.st_uid, st.st_gid, st.st_mode & 0o7777)


def wait_listening(fx, before, timeout=10):
    """wait_listening - until the daemon logged one more "listening on" line, or
    exited; True when it is listening"""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if fx.logtext().count("listening on") > before:
            return True
        if fx.daemon.poll() is not None:
            return False
        time.sleep(0.005)
    return False


def main():
    t = Tap()
    if os.geteuid() != 0:
        print("1..0 # SKIP the socket race needs root")
        return 0
    nobody = pwd.getpwnam("nobody")
    nogroup = grp.getgrnam("nogroup").gr_gid
    fx = Fixture(accounts=(ACCOUNT,))
    racers = []
    stop = os.path.join(fx.dir, "stop-racing")

    def cleanup():
        open(stop, "w").close()
        for p in racers:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()

    with fx.suite(t, cleanup=cleanup):
        fx.import_rt(ACCOUNT)
        # The socket's directory belongs to nobody, as private/ belongs to postfix.
        private = os.path.join(fx.dir, "private")
        os.mkdir(private, 0o755)
        os.chown(private, nobody.pw_uid, nogroup)
        fx.sock = os.path.join(private, "oauth2")
        fx.write_config()
        with open(fx.conf) as f:
            text = f.read()
        with open(fx.conf, "w") as f:
            f.write("socket_group = nogroup\nsocket_mode = 0660\n" + text)
        # What the attacker wants to change: a root-owned 0600 file.
        target = os.path.join(fx.dir, "root-only")
        with open(target, "w") as f:
            f.write("secret\n")
        os.chmod(target, 0o600)
        decoy = os.path.join(fx.dir, "decoy")
        os.mkdir(decoy, 0o755)
        os.symlink(target, os.path.join(decoy, "oauth2"))
        os.chown(decoy, nobody.pw_uid, nogroup)
        before = fingerprint(target)

        # Without the racer: the socket gets its owner, group and mode.
        fx.start()
        st = os.lstat(fx.sock)
        t.ok((st.st_uid, st.st_gid, st.st_mode & 0o777) == (0, nogroup, 0o660),
             "the socket is created root:nogroup 0660 (%d:%d %04o)"
             % (st.st_uid, st.st_gid, st.st_mode & 0o777))
        fx.stop()

        racers.append(as_nobody(SOCKET_RACER, fx.sock, target, stop))
        racers.append(as_nobody(DIR_RACER, private, decoy, "oauth2", stop))
        time.sleep(0.5)
        started = 0
        swapped = 0
        changed_at = None
        for i in range(ROUNDS):
            if os.path.lexists(fx.sock):
                os.unlink(fx.sock)
            n = fx.logtext().count("listening on")
            fx.daemon = subprocess.Popen([HELPER, "-c", fx.conf, "serve"],
                                         stdout=open(fx.log, "a"), stderr=subprocess.STDOUT)
            if wait_listening(fx, n):
                started += 1
            # Give the racer its chance at what the daemon left behind.
            deadline = time.time() + 0.2
            while time.time() < deadline and not os.path.islink(fx.sock):
                time.sleep(0.002)
            if os.path.islink(fx.sock):
                swapped += 1
            fx.stop()
            if fingerprint(target) != before:
                changed_at = i + 1
                break
        open(stop, "w").close()
        for p in racers:
            p.wait(10)
        t.diag("%d rounds: the daemon started %d times, the racer swapped the socket %d times"
               % (i + 1, started, swapped))
        after = fingerprint(target)
        t.ok(after == before,
             "a root-owned 0600 file keeps its owner, group and mode while the socket's "
             "directory owner races the daemon (%d:%d %04o -> %d:%d %04o%s)"
             % (before + after + ((", changed in round %d" % changed_at) if changed_at else "",)))
        t.ok(swapped > ROUNDS // 2 or changed_at is not None,
             "the racer did swap the socket for a symlink (%d of %d rounds)" % (swapped, i + 1))
        t.ok(started == i + 1, "the daemon started every time (%d of %d)" % (started, i + 1))
        # What the racer made is its own: its symlinks, and "aside.N" (the
        # daemon's temporary directories it moved, which must be empty).
        names = os.listdir(private)
        aside = [x for x in names if x.startswith("aside.")]
        t.diag("the racer moved %d of the daemon's temporary directories aside" % len(aside))
        leftovers = [x for x in names if x != "oauth2" and not x.startswith("oauth2.racer")
                     and not os.path.islink(os.path.join(private, x))
                     and not (x in aside and not os.listdir(os.path.join(private, x)))]
        t.ok(not leftovers, "no temporary file of the daemon's is left in the directory (%s)"
             % (", ".join(leftovers) or "none"))

        # The racer gone, the daemon serves.
        if os.path.lexists(fx.sock):
            os.unlink(fx.sock)
        fx.start()
        s = fx.connect()
        s.sendall(netstring(("token %s" % ACCOUNT).encode()))
        reply = read_netstring(s, timeout=20)
        s.close()
        t.ok(reply.startswith("OK "), "the daemon serves once the racer stops")

        # A second daemon on the same socket refuses to start, and leaves it be.
        r = subprocess.run([HELPER, "-c", fx.conf, "serve"], capture_output=True, text=True,
                           timeout=20)
        t.ok(r.returncode != 0 and "another daemon is already listening" in r.stderr,
             "a second daemon refuses to take over a live socket (exit %d)" % r.returncode)
        t.ok(fx.ask("token", ACCOUNT).startswith("OK "), "and the first still serves on it")
        fx.stop()
        t.ok(not os.path.lexists(fx.sock), "the daemon removed its socket on exit")

        # Something else at the socket's path is left alone.
        with open(fx.sock, "w") as f:
            f.write("not a socket\n")
        r = subprocess.run([HELPER, "-c", fx.conf, "serve"], capture_output=True, text=True,
                           timeout=20)
        t.ok(r.returncode != 0 and "is not a socket" in r.stderr
             and open(fx.sock).read() == "not a socket\n",
             "a regular file at the socket's path: refused, and left as it was")
        os.unlink(fx.sock)
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
