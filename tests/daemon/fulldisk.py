#!/usr/bin/env python3
"""fulldisk.py - state_dir on a small tmpfs, filled up while the daemon
writes a rotated refresh token: the old state file stays whole, the error
is logged, the token keeps being served, and once there is room again the
new refresh token reaches the disk without waiting for the next refresh.

Then, against a mock that revokes superseded refresh tokens (so going back
to an older one fails), issue 9 item 5: while the disk is full, "reload
ACCOUNT" and SIGHUP must not replace the rotated refresh token held only
in memory with the older one on disk; SIGTERM makes a last attempt to
write it (which succeeds once there is room) and, when it still cannot,
logs an error naming the file and the account.
(TAP; skipped unless root may mount a tmpfs)
"""

import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixture import Fixture, Tap, skip_all, wait_for  # noqa: E402

ACCOUNT = "alice@contoso.test"



def fill(path):
    """fill - write a file until the file system is full"""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (65536, 4096, 1):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError:
                pass
    finally:
        os.close(fd)


def read_state(fx):
    with open(os.path.join(fx.state, ACCOUNT + ".state"), "rb") as f:
        return f.read()


def stored_rt(fx):
    """stored_rt - the refresh token in the state file (compared, never printed)"""
    try:
        return json.loads(read_state(fx)).get("refresh_token")
    except (OSError, ValueError):
        return None


def drop_access_token(fx):
    """drop_access_token - with the daemon stopped: make its next start refresh"""
    obj = json.loads(read_state(fx))
    for k in ("access_token", "expires_at", "obtained_at"):
        obj.pop(k, None)
    tmp = os.path.join(fx.state, ACCOUNT + ".state.tmp")
    with open(tmp, "w") as f:
        json.dump(obj, f)
    os.rename(tmp, os.path.join(fx.state, ACCOUNT + ".state"))


def main():
    if os.geteuid() != 0:
        return skip_all("needs root to mount a tmpfs")
    fx = Fixture(accounts=(ACCOUNT,))
    os.mkdir(fx.state, 0o700)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k,mode=0700", "tmpfs", fx.state],
                       capture_output=True, text=True)
    if r.returncode != 0:
        fx.close()
        return skip_all("cannot mount a tmpfs here: %s" % r.stderr.strip()[:100])

    def unmount():
        fx.stop()
        subprocess.run(["umount", "-l", fx.state])

    t = Tap()
    with fx.suite(t, cleanup=unmount):
        fx.settings(lifetime=8)
        fx.import_rt(ACCOUNT)
        fx.start()
        first = fx.ask("token", ACCOUNT)
        t.ok(first.startswith("OK "), "a token is served with state_dir on a tmpfs")
        wait_for(lambda: fx.token_requests("ok") >= 1 and b"access_token" in read_state(fx), 5)
        before = read_state(fx)
        filler = os.path.join(fx.state, "filler")
        fill(filler)
        # The refresh that meets the full disk gets an hour-long token: after
        # it, only the save retry can write the state file.
        fx.settings(lifetime=3600)
        ok0 = fx.token_requests("ok")
        t.ok(wait_for(lambda: fx.token_requests("ok") > ok0 and
                      "No space left on device" in fx.logtext(), 15),
             "the next refresh finds the disk full")
        ok1 = fx.token_requests("ok")
        log = fx.logtext()
        t.ok("kept the previous" in log and ACCOUNT + ".state" in log,
             "the error is logged, naming the state file and saying the old one is kept")
        t.ok(read_state(fx) == before, "the state file is unchanged (the old refresh token)")
        try:
            json.loads(read_state(fx))
            parses = True
        except ValueError:
            parses = False
        t.ok(parses, "and it still parses")
        t.ok(not os.path.exists(os.path.join(fx.state, ACCOUNT + ".state.tmp")),
             "no half-written temporary file is left behind")
        reply = fx.ask("token", ACCOUNT)
        t.ok(reply.startswith("OK ") and reply != first, "the new token is served all the same")
        os.unlink(filler)
        t.ok(wait_for(lambda: read_state(fx) != before, 12) and fx.token_requests("ok") == ok1,
             "once there is room, the rotated refresh token is written without waiting for the "
             "next refresh")
        t.ok("now on disk" in fx.logtext(), "and that is logged")
        # The file on disk now holds the newest refresh token: a crash loses
        # nothing. Drop the access token from it to force a refresh after the
        # restart, against a mock that refuses any superseded refresh token.
        fx.settings(revoke_superseded="on")
        fx.daemon.send_signal(signal.SIGKILL)
        fx.daemon.wait()
        fx.daemon = None
        drop_access_token(fx)
        ok0 = fx.token_requests("ok")
        # From here on, 8-second tokens: a refresh (and a rotation) every ~4 s.
        fx.settings(lifetime=8)
        fx.start()
        reply = fx.ask("token", ACCOUNT)
        t.ok(reply.startswith("OK ") and fx.token_requests("ok") == ok0 + 1
             and fx.token_requests("revoked") == 0,
             "after SIGKILL the daemon refreshes with the stored refresh token, the newest")

        # Issue 9 item 5: reload and SIGHUP while the rotated token is only in memory.
        t.ok(wait_for(lambda: fx.token_requests("ok") >= ok0 + 2, 10),
             "8-second tokens are refreshed (and their refresh tokens rotated) every few seconds")
        wait_for(lambda: fx.logtext().count("account=%s refreshed" % ACCOUNT) >= 1, 5)
        fill(filler)
        on_disk = stored_rt(fx)
        full_errors = fx.logtext().count("No space left on device")
        ok0 = fx.token_requests("ok")
        t.ok(wait_for(lambda: fx.token_requests("ok") >= ok0 + 2 and
                      fx.logtext().count("No space left on device") > full_errors, 20),
             "two more rotations meet the full disk: the one on disk is now superseded")
        t.ok(stored_rt(fx) == on_disk, "the state file still holds the older refresh token")
        replies = [fx.ask("reload", ACCOUNT) for _ in range(5)]
        t.ok(all(r.startswith("OK") for r in replies), "reload ACCOUNT is answered")
        fx.daemon.send_signal(signal.SIGHUP)
        t.ok(wait_for(lambda: "reloaded %s" % fx.conf in fx.logtext(), 5), "SIGHUP reloads")
        ok1 = fx.token_requests("ok")
        t.ok(wait_for(lambda: fx.token_requests("ok") >= ok1 + 2, 20) and
             fx.token_requests("revoked") == 0,
             "after them the daemon goes on refreshing with the newest refresh token (none "
             "refused as superseded: %d)" % fx.token_requests("revoked"))
        t.ok(fx.ask("token", ACCOUNT).startswith("OK "), "and serving tokens")
        t.ok(stored_rt(fx) == on_disk, "while the disk stays full, the file is untouched")

        # SIGTERM once there is room again: the last attempt writes the newest.
        mark = len(fx.logtext())
        os.unlink(filler)
        rc = fx.stop()
        t.ok(rc == 0, "SIGTERM stops the daemon (status %s)" % rc)
        t.ok(stored_rt(fx) not in (None, on_disk) and "now on disk" in fx.logtext()[mark:],
             "the rotated refresh token is on disk when it exits")
        drop_access_token(fx)
        ok0 = fx.token_requests("ok")
        fx.start()
        reply = fx.ask("token", ACCOUNT)
        t.ok(reply.startswith("OK ") and fx.token_requests("ok") >= ok0 + 1 and
             fx.token_requests("revoked") == 0,
             "and after a restart it is the one that works")

        # SIGTERM while the disk is still full: the token is lost, and the log says so.
        ok0 = fx.token_requests("ok")
        wait_for(lambda: fx.token_requests("ok") >= ok0 + 1, 10)
        fill(filler)
        full_errors = fx.logtext().count("No space left on device")
        ok0 = fx.token_requests("ok")
        t.ok(wait_for(lambda: fx.token_requests("ok") >= ok0 + 1 and
                      fx.logtext().count("No space left on device") > full_errors, 20),
             "a rotation meets the full disk again")
        mark = len(fx.logtext())
        started = time.time()
        rc = fx.stop()
        tail = fx.logtext()[mark:]
        path = os.path.join(fx.state, ACCOUNT + ".state")
        t.ok(rc == 0 and time.time() - started < 5,
             "SIGTERM still stops the daemon promptly (status %s, %.1f s)"
             % (rc, time.time() - started))
        t.ok(any("error:" in line and path in line and "account=%s" % ACCOUNT in line and
                 "lost" in line for line in tail.splitlines()),
             "an error names the state file and the account whose rotated refresh token is "
             "lost")
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
