#!/usr/bin/env python3
"""fulldisk.py - state_dir on a small tmpfs, filled up while the daemon
writes a rotated refresh token: the old state file stays whole, the error
is logged, the token keeps being served, and once there is room again the
new refresh token reaches the disk without waiting for the next refresh
(TAP; skipped unless root may mount a tmpfs)
"""

import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixture import Fixture, Tap, skip_all  # noqa: E402

ACCOUNT = "alice@contoso.test"


def wait_for(pred, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return True
        time.sleep(0.1)
    return pred()


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
        obj = json.loads(read_state(fx))
        for k in ("access_token", "expires_at", "obtained_at"):
            obj.pop(k, None)
        tmp = os.path.join(fx.state, ACCOUNT + ".state.tmp")
        with open(tmp, "w") as f:
            json.dump(obj, f)
        os.rename(tmp, os.path.join(fx.state, ACCOUNT + ".state"))
        ok0 = fx.token_requests("ok")
        fx.start()
        reply = fx.ask("token", ACCOUNT)
        t.ok(reply.startswith("OK ") and fx.token_requests("ok") == ok0 + 1
             and fx.token_requests("revoked") == 0,
             "after SIGKILL the daemon refreshes with the stored refresh token, the newest")
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
