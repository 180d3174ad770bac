#!/usr/bin/env python3
"""config-check.py - what an admin's config does to config-check and serve (TAP):
every problem in one run with FILE:LINE and a fix, a trailing comment after a
value, a FIFO where a file belongs (nothing may hang), a config or state_dir
that someone else could change (serve refuses to start)"""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixture import HELPER, Tap, skip_all  # noqa: E402

CID = "6731de76-14a6-49ae-97bc-6eba6914391e"
NOBODY = 65534


def run(args, timeout=15):
    """run - the helper with args; (rc, stdout + stderr), rc None when it hung"""
    try:
        r = subprocess.run([HELPER] + args, capture_output=True, text=True, timeout=timeout)
        return r.returncode, r.stdout + r.stderr
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"") + (e.stderr or b"")
        return None, out.decode(errors="replace") if isinstance(out, bytes) else out


def good_config(d, extra_global="", extra_account=""):
    """good_config - a config serve accepts, in d"""
    os.makedirs(os.path.join(d, "state"), mode=0o700, exist_ok=True)
    return ("socket = %s/helper.sock\nstate_dir = %s/state\nallow_users = root\n%s"
            "[account relay@contoso.test]\ntenant = contoso.test\nclient_id = %s\n%s"
            % (d, d, extra_global, CID, extra_account))


def write(path, text, mode=0o644):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


def test_every_problem(t, d):
    conf = os.path.join(d, "typos.conf")
    write(conf, "stat_dir = /var/lib/x\n"                          # 1
          "[account relay@contoso.com]\n"                          # 2
          "client_id = contoso-relay-app\n"                        # 3
          "tenant = 3f2504e0-4f89-11d3-9a0c-0305e82c330\n"         # 4
          "[acount b]\n"                                           # 5
          "client_id = \"%s\"\n"                                   # 6
          "[account c]\n"                                          # 7
          "client_id = \"%s\"\n"                                   # 8
          "provder = microsoft\n" % (CID, CID))                    # 9
    rc, out = run(["-c", conf, "config-check"])
    lines = [ln for ln in out.splitlines() if ln.startswith("oauth2-token-helper: %s:" % conf)]
    t.diag("\n".join(ln[:200] for ln in lines))
    t.ok(rc == 78, "config-check exits 78 (EX_CONFIG) on problems (%s)" % rc)
    want = {1: "did you mean state_dir?", 3: "client_id \"contoso-relay-app\" is not",
            4: "not a full GUID", 5: "did you mean [account]?", 8: "value is in quotes",
            9: "did you mean provider?", 7: "tenant is missing"}
    for line, text in sorted(want.items()):
        hit = [ln for ln in lines if ln.startswith("oauth2-token-helper: %s:%d: " % (conf, line))
               and text in ln]
        t.ok(hit, "one run reports line %d: %s" % (line, text))
    fixes = [ln for ln in lines if re.search(r":\d+: ", ln)
             and not re.search(r"(; fix: |did you mean )", ln)]
    t.ok(not fixes, "every FILE:LINE problem names its fix (%s)" % (fixes[:1] or "all do"))
    rc, out = run(["-c", conf, "serve"])
    t.ok(rc not in (0, None) and "more problems" in out,
         "serve refuses the same file and says config-check lists the rest")


def test_trailing_comment(t, d):
    conf = os.path.join(d, "comment.conf")
    text = good_config(d).replace("helper.sock\n", "helper.sock   # where Debian-exim can reach it\n")
    write(conf, text)
    rc, out = run(["-c", conf, "config-check"])
    t.ok(rc == 0, "config-check accepts a value followed by a '#' comment")
    p = subprocess.Popen([HELPER, "-c", conf, "serve"], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    sock = os.path.join(d, "helper.sock")
    deadline = time.time() + 10
    while time.time() < deadline and not os.path.exists(sock) and p.poll() is None:
        time.sleep(0.05)
    t.ok(os.path.exists(sock), "serve listens on the path without the comment")
    p.terminate()
    p.wait(10)
    stray = [n for n in os.listdir(d) if "#" in n]
    t.ok(not stray, "and made no file named after the comment (%s)" % stray)


def test_fifo(t, d):
    fifo = os.path.join(d, "secret.fifo")
    os.mkfifo(fifo, 0o600)
    conf = os.path.join(d, "fifo.conf")
    write(conf, good_config(d, extra_account="client_secret_file = %s\n" % fifo))
    start = time.time()
    rc, out = run(["-c", conf, "config-check"], timeout=20)
    t.ok(rc == 78 and "FIFO" in out and fifo in out and time.time() - start < 15,
         "config-check: a FIFO as client_secret_file is an error at once, naming it (%s)" % rc)
    rc, out = run(["-c", conf, "serve"], timeout=20)
    t.ok(rc not in (0, None) and "FIFO" in out, "serve refuses it at start, not at first use")
    rc, out = run(["-c", fifo, "config-check"], timeout=20)
    t.ok(rc == 78 and "is a FIFO, not a regular file" in out,
         "a FIFO as the config file: config-check finishes with an error (%s)" % rc)


def test_who_may_edit(t, d):
    conf = os.path.join(d, "lax.conf")
    write(conf, good_config(d), 0o666)
    rc, out = run(["-c", conf, "serve"])
    t.ok(rc not in (0, None) and "writable by group or others (mode 0666)" in out
         and "chmod go-w %s" % conf in out, "serve refuses a 0666 config, naming the fix")
    rc, out = run(["-c", conf, "config-check"])
    t.ok(rc == 78 and "chmod go-w" in out, "so does config-check")
    os.chmod(conf, 0o644)
    os.chown(conf, NOBODY, NOBODY)
    rc, out = run(["-c", conf, "serve"])
    t.ok(rc not in (0, None) and "owned by nobody" in out and "chown root %s" % conf in out,
         "serve refuses a config owned by another user, naming the fix")
    os.chown(conf, 0, 0)
    os.chown(os.path.join(d, "state"), NOBODY, NOBODY)
    rc, out = run(["-c", conf, "serve"])
    t.ok(rc not in (0, None) and "state_dir" in out and "owned by nobody" in out
         and "fix: chown root" in out,
         "a root daemon without user = refuses a state_dir owned by another user")
    os.chown(os.path.join(d, "state"), 0, 0)


def main():
    t = Tap()
    if os.geteuid() != 0:
        return skip_all("needs root (file ownership)")
    d = tempfile.mkdtemp(prefix="o2th-cfgcheck.")
    try:
        os.chmod(d, 0o755)
        test_every_problem(t, d)
        test_trailing_comment(t, d)
        test_fifo(t, d)
        test_who_may_edit(t, d)
    finally:
        shutil.rmtree(d, ignore_errors=True)
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
