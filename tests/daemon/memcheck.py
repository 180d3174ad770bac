#!/usr/bin/env python3
"""memcheck.py - valgrind memcheck over the unit tests, the daemon serving
and refreshing, and the CLI: zero errors, nothing definitely lost (TAP)

Skipped when valgrind is missing and in a sanitizer build (the two do not
mix). The daemon gets 4-second tokens, so it refreshes every two seconds
while it answers requests, hostile input and a SIGHUP reload; it then
stops on SIGTERM so that valgrind sees it free everything.
"""

import os
import re
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixture import HELPER, TOP_BUILDDIR, Fixture, Tap, netstring, skip_all  # noqa: E402

ACCOUNT = "alice@contoso.test"
UNIT_TESTS = ["test_netstring", "test_saslwire", "test_tokenresp", "test_config", "test_plugin",
              "test_sockclient", "test_providers", "test_clientauth", "test_authorize",
              "test_cache", "test_protocol"]
VALGRIND = ["valgrind", "--error-exitcode=99", "--leak-check=full",
            "--errors-for-leak-kinds=definite", "--show-leak-kinds=definite",
            "--track-fds=no", "--num-callers=30"]


def verdict(text):
    """verdict - (errors, definitely lost bytes) from a valgrind report"""
    m = re.search(r"ERROR SUMMARY: (\d+) errors", text)
    errors = int(m.group(1)) if m else -1
    m = re.search(r"definitely lost: ([\d,]+) bytes", text)
    lost = int(m.group(1).replace(",", "")) if m else 0
    return errors, lost


def main():
    if os.environ.get("OAUTH2_SANITIZERS"):
        print("1..0 # SKIP sanitizer build: valgrind cannot run ASan binaries")
        return 0
    if shutil.which("valgrind") is None or \
            subprocess.run(["valgrind", "--version"], capture_output=True).returncode != 0:
        return skip_all("valgrind does not run (Debian package valgrind)")
    t = Tap()
    env = dict(os.environ, TOP_BUILDDIR=TOP_BUILDDIR)
    for name in UNIT_TESTS:
        exe = os.path.join(TOP_BUILDDIR, "tests", "unit", name)
        r = subprocess.run(VALGRIND + [exe], capture_output=True, text=True, env=env, timeout=300)
        errors, lost = verdict(r.stderr)
        t.ok(r.returncode == 0 and errors == 0 and lost == 0,
             "unit/%s under memcheck: exit %d, %d errors, %d bytes definitely lost"
             % (name, r.returncode, errors, lost))
        if r.returncode != 0:
            t.diag(r.stderr[-2000:])

    fx = Fixture(accounts=(ACCOUNT, "bob@contoso.test"))
    vglog = os.path.join(fx.dir, "valgrind-daemon.log")
    with fx.suite(t):
        fx.settings(lifetime=4)
        fx.import_rt(ACCOUNT)
        fx.start(wrapper=VALGRIND + ["--log-file=" + vglog], timeout=60)
        ok0 = fx.token_requests("ok")
        replies = []
        s = fx.connect()
        for _ in range(5):
            replies.append(fx.ask("token", ACCOUNT, s))
            replies.append(fx.ask("account", ACCOUNT))
            time.sleep(1.5)
        s.close()
        replies.append(fx.ask("status", ACCOUNT))
        fx.ask("token", "nobody@contoso.test")
        fx.ask("token", "bob@contoso.test")
        for junk in (b"99999999:", b"5:token,", b"10:tokenalice,"):
            j = fx.connect()
            j.sendall(junk)
            j.close()
        h = fx.connect()
        h.sendall(netstring(b"token " + ACCOUNT.encode()))
        h.close()
        fx.daemon.send_signal(signal.SIGHUP)
        time.sleep(2)
        replies.append(fx.ask("token", ACCOUNT))
        refreshes = fx.token_requests("ok") - ok0
        t.ok(all(r.startswith("OK ") for r in replies),
             "the daemon under valgrind serves every request (%d)" % len(replies))
        t.ok(refreshes >= 3, "and refreshes meanwhile (%d refreshes)" % refreshes)
        rc = fx.stop()
        text = open(vglog).read()
        errors, lost = verdict(text)
        t.ok(rc == 0 and errors == 0 and lost == 0,
             "daemon: exit %s, %d errors, %d bytes definitely lost" % (rc, errors, lost))
        if errors or lost or rc:
            t.diag(text[-4000:])
        # The CLI refreshing by itself (no daemon), and import.
        r = subprocess.run(VALGRIND + [HELPER, "-c", fx.conf, "token", ACCOUNT],
                           capture_output=True, text=True, timeout=120)
        errors, lost = verdict(r.stderr)
        t.ok(r.returncode == 0 and errors == 0 and lost == 0,
             "CLI token without a daemon: exit %d, %d errors, %d bytes definitely lost"
             % (r.returncode, errors, lost))
        r = subprocess.run(VALGRIND + [HELPER, "-c", fx.conf, "import", "bob@contoso.test"],
                           input=fx.grant("bob@contoso.test") + "\n",
                           capture_output=True, text=True, timeout=120)
        errors, lost = verdict(r.stderr)
        t.ok(r.returncode == 0 and errors == 0 and lost == 0,
             "CLI import: exit %d, %d errors, %d bytes definitely lost"
             % (r.returncode, errors, lost))
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
