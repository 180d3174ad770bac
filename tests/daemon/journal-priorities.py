#!/usr/bin/env python3
"""journal-priorities.py - under systemd (JOURNAL_STREAM naming the daemon's
stderr, as sd-daemon(3) describes) every log line starts with its priority:
<3> error, <4> warning, <6> info, <7> debug, so "journalctl -p err" finds
the errors; with JOURNAL_STREAM unset, or naming another file, the lines
stay plain; serve --syslog logs with facility mail (a private /dev/log in a
mount namespace of its own) (TAP)"""

import os
import re
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixture import HELPER, Fixture, Tap, skip_one  # noqa: E402

ALICE = "alice@contoso.test"


def run_daemon(fx, log, journal_stream):
    """run_daemon - serve -v with stderr on log; JOURNAL_STREAM as given (None: unset);
    provoke one line of each priority; return the log's lines"""
    env = dict(os.environ)
    env.pop("JOURNAL_STREAM", None)
    out = open(log, "w")
    if journal_stream == "self":
        st = os.fstat(out.fileno())
        env["JOURNAL_STREAM"] = "%d:%d" % (st.st_dev, st.st_ino)
    elif journal_stream is not None:
        env["JOURNAL_STREAM"] = journal_stream
    if os.path.exists(fx.sock):
        os.unlink(fx.sock)
    fx.daemon = subprocess.Popen([HELPER, "-v", "-c", fx.conf, "serve"], env=env,
                                 stdout=out, stderr=subprocess.STDOUT)
    out.close()
    deadline = time.time() + 10
    while not os.path.exists(fx.sock):
        if time.time() > deadline or fx.daemon.poll() is not None:
            raise RuntimeError("daemon did not start")
        time.sleep(0.02)
    time.sleep(0.2)
    fx.ask("token", ALICE)                       # info, debug: a refresh
    good = open(fx.conf).read()
    with open(fx.conf, "a") as f:                # error: a reload that fails
        f.write("\n[account]\n")
    fx.daemon.send_signal(signal.SIGHUP)
    time.sleep(0.5)
    with open(fx.conf, "w") as f:
        f.write(good)
    s = fx.connect()                             # warning: a malformed request
    s.sendall(b"99999999999:x")
    s.settimeout(5)
    try:
        s.recv(64)
    except OSError:
        pass
    s.close()
    time.sleep(0.3)
    fx.stop()
    return open(log).read().splitlines()


def syslog_lines(fx):
    """syslog_lines - run serve --syslog with /dev/log bound to a socket here
    (unshare -m); the datagrams it sent, or None when no namespace can be made"""
    dev = os.path.join(fx.dir, "dev")
    os.mkdir(dev, 0o755)
    rx = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    rx.bind(os.path.join(dev, "log"))
    os.chmod(os.path.join(dev, "log"), 0o666)
    script = ('set -e; for d in null zero random urandom; do : >"$1/$d"; '
              'mount --bind "/dev/$d" "$1/$d"; done; mount --bind "$1" /dev; shift; exec "$@"')
    probe = subprocess.run(["unshare", "-m", "--propagation", "private", "true"],
                           capture_output=True)
    if probe.returncode != 0:
        rx.close()
        return None
    if os.path.exists(fx.sock):
        os.unlink(fx.sock)
    out = open(os.path.join(fx.dir, "syslog-stderr.log"), "w")
    st = os.fstat(out.fileno())
    env = dict(os.environ, JOURNAL_STREAM="%d:%d" % (st.st_dev, st.st_ino))
    fx.daemon = subprocess.Popen(
        ["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh", dev,
         HELPER, "-c", fx.conf, "serve", "--syslog"], env=env, stdout=out, stderr=out)
    out.close()
    deadline = time.time() + 10
    while not os.path.exists(fx.sock) and time.time() < deadline and fx.daemon.poll() is None:
        time.sleep(0.05)
    time.sleep(0.3)
    fx.stop()
    got = []
    rx.settimeout(0.5)
    try:
        while True:
            got.append(rx.recv(4096).decode(errors="replace"))
    except OSError:
        pass
    rx.close()
    stderr = open(os.path.join(fx.dir, "syslog-stderr.log")).read()
    with open(fx.log, "a") as f:                              # for the leak check
        f.write("\n".join(got) + "\n" + stderr)
    return got, stderr


def main():
    t = Tap()
    fx = Fixture(accounts=(ALICE,))
    with fx.suite(t):
        fx.import_rt(ALICE)
        logs = {}
        for mode in ("self", None, "1:1"):
            logs[mode] = os.path.join(fx.dir, "journal-%s.log" % (mode or "unset"))
            lines = run_daemon(fx, logs[mode], mode)
            with open(fx.log, "a") as f:                  # for the leak check
                f.write("\n".join(lines) + "\n")
            logs[mode] = lines

        lines = logs["self"]
        t.diag("\n".join(line[:120] for line in lines[:12]))
        unprefixed = [x for x in lines if x and not re.match(r"^<[0-7]>", x)]
        t.ok(lines and not unprefixed,
             "with JOURNAL_STREAM naming stderr, every line carries a priority (%d without)"
             % len(unprefixed))

        def prio_of(pattern):
            return sorted({x[1] for x in lines if re.search(pattern, x)})

        t.ok(prio_of(r"error: reload failed") == ["3"],
             "a failed reload is logged at <3> (error)")
        t.ok(prio_of(r"warning: uid \d+ sent a malformed") == ["4"],
             "a malformed request is logged at <4> (warning)")
        t.ok(prio_of(r"account=%s.*(refreshed|got a token|expires)" % re.escape(ALICE)) == ["6"],
             "a refresh is logged at <6> (info)")
        t.ok(prio_of(r"account=%s: refreshing at" % re.escape(ALICE)) == ["7"],
             "with -v, debug lines are logged at <7>")
        t.ok(not [x for x in lines if "oauth2-token-helper[" in x],
             "no ident[pid] in the line: journald adds SyslogIdentifier and the pid")
        for mode, what in ((None, "JOURNAL_STREAM unset"),
                           ("1:1", "JOURNAL_STREAM naming another file")):
            prefixed = [x for x in logs[mode] if re.match(r"^<[0-9]>", x)]
            t.ok(logs[mode] and not prefixed and
                 any(x.startswith("oauth2-token-helper[") for x in logs[mode]),
                 "%s: plain lines, no priority prefix (%d prefixed)" % (what, len(prefixed)))

        r = syslog_lines(fx)
        if r is None:
            skip_one(t, "serve --syslog: unshare -m cannot make a mount namespace here")
        else:
            got, stderr = r
            pris = [int(m.group(1)) for m in (re.match(r"^<(\d+)>", x) for x in got) if m]
            t.diag("\n".join(x[:100] for x in got[:3]))
            t.ok(pris and len(pris) == len(got) and all(p >> 3 == 2 for p in pris) and
                 (2 << 3 | 6) in pris,
                 "serve --syslog: every line has facility mail (%s)" % sorted(set(pris)))
            t.ok(any("oauth2-token-helper[" in x and "listening on" in x for x in got),
                 "and is tagged oauth2-token-helper[pid]")
            t.ok(stderr.strip() == "", "and nothing goes to stderr, journal or not")
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
