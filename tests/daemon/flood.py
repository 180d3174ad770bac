#!/usr/bin/env python3
"""flood.py - one peer cannot keep the others out, nor flood the log (TAP; root only)

Issue 9, items 2 and 3:
  - an allowed uid (nobody here) fills the client table with connections
    that pipeline 20 requests for a large token and never read the replies:
    each stays busy. A caller of another uid must still be answered within
    LEGIT_S, and the connections whose replies go unread are closed within
    a few seconds (they used to hold their slot for CLIENT_IDLE_MS, 60 s).
  - a refused uid connecting as fast as it can, and callers sending
    malformed requests, for FLOOD_S seconds: the daemon's log stays under a
    small bound (it used to take a line per connection: 620,867 lines in
    10 s), and still names the cause; a summary counts what was left out.

The client table is made small (a descriptor limit of NOFILE) so that
filling it costs the machine little; the logic is the same at 4,096.
"""

import os
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixture import Fixture, Tap, netstring, read_netstring  # noqa: E402

ACCOUNT = "alice@contoso.test"
LEGIT_S = 2.0
LEGIT_CALLERS = 5
NOFILE = 200           # the daemon then serves at most 200 - 64 = 136 clients
HOGS = 170             # more connections than that
PIPELINED = 20
TOKEN_LENGTH = 16000   # 20 replies: more than a UNIX socket's send buffer
WRITE_DEADLINE_S = 9   # CLIENT_WRITE_MS (5 s) and slack for a loaded machine
FLOOD_S = 4
LOG_BOUND = 60         # lines a FLOOD_S flood of two kinds may add
REFUSED_UID = 4242

# Runs as nobody: HOGS connections, each sends PIPELINED requests and never
# reads; holds them until its stdin closes.
HOG = r"""
import socket, sys, time
path, n, k, account = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
req = b"%d:token %s," % (len("token " + account), account.encode())
socks = []
for _ in range(n):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.setblocking(False)
    try:
        s.connect(path)
    except OSError:
        pass
    socks.append(s)
# One request per connection at a time, so that each wakes the daemon.
for _ in range(k):
    for s in socks:
        try:
            s.send(req)
        except OSError:
            pass
    time.sleep(0.05)
print("ready", flush=True)
sys.stdin.read()
"""

# Runs as a refused uid: connect, ask, read the refusal, hang up; for a while.
REFUSED = r"""
import socket, sys, time
path, secs = sys.argv[1], float(sys.argv[2])
end = time.time() + secs
n = 0
while time.time() < end:
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(path)
        s.sendall(b"24:token alice@contoso.test,")
        s.recv(300)
        s.close()
        n += 1
    except OSError:
        pass
print(n)
"""

# Runs as root: malformed requests of three kinds, for a while.
MALFORMED = r"""
import socket, sys, time
path, secs = sys.argv[1], float(sys.argv[2])
end = time.time() + secs
bad = [b"2x:token,", b"10:tokenalice,", b"99999999:" + b"x" * 64]
n = 0
while time.time() < end:
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(path)
        s.sendall(bad[n % 3])
        s.recv(300)
        s.close()
        n += 1
    except OSError:
        pass
print(n)
"""


def legit(fx):
    """legit - one request as root; (reply, seconds)"""
    return fx.timed_token(ACCOUNT, LEGIT_S * 5)


def open_fds(fx):
    return len(os.listdir("/proc/%d/fd" % fx.daemon.pid))


def test_hogs(t, fx):
    base = open_fds(fx)
    hog = subprocess.Popen(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                            sys.executable, "-c", HOG, fx.sock, str(HOGS), str(PIPELINED),
                            ACCOUNT],
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        t.ok(hog.stdout.readline().strip() == "ready",
             "uid nobody opened %d connections pipelining %d requests each" % (HOGS, PIPELINED))
        time.sleep(1.0)
        held = open_fds(fx) - base
        t.diag("the daemon holds %d of them" % held)
        # Five callers at once, three times: one slot that happens to be
        # free is not enough.
        results = []
        for _ in range(3):
            threads = [threading.Thread(target=lambda: results.append(legit(fx)))
                       for _ in range(LEGIT_CALLERS)]
            for th in threads:
                th.start()
            for th in threads:
                th.join()
            time.sleep(0.3)
        replies = [r for r, _ in results]
        worst = max(secs for _, secs in results)
        if not all(r.startswith("OK ") for r in replies):
            t.diag("replies: %s" % ", ".join(r[:60] for r in replies))
        t.ok(all(r.startswith("OK ") for r in replies) and worst < LEGIT_S,
             "the table full of one uid's unread replies: %d callers of another uid (root), "
             "three times, are answered within %.0f s (slowest %.3f s)"
             % (LEGIT_CALLERS, LEGIT_S, worst))
        deadline = time.time() + WRITE_DEADLINE_S
        while time.time() < deadline and open_fds(fx) - base > 2:
            time.sleep(0.2)
        left = open_fds(fx) - base
        t.ok(left <= 2, "connections whose replies go unread are closed within %d s (%d left)"
             % (WRITE_DEADLINE_S, left))
        t.ok(fx.daemon.poll() is None, "the daemon is still running")
    finally:
        hog.stdin.close()
        hog.wait(20)


def test_log_flood(t, fx):
    os.chmod(fx.sock, 0o666)
    mark = len(fx.logtext())
    procs = [subprocess.Popen(["setpriv", "--reuid=%d" % REFUSED_UID, "--regid=%d" % REFUSED_UID,
                               "--clear-groups", sys.executable, "-c", REFUSED, fx.sock,
                               str(FLOOD_S)], stdout=subprocess.PIPE, text=True)
             for _ in range(3)]
    procs += [subprocess.Popen([sys.executable, "-c", MALFORMED, fx.sock, str(FLOOD_S)],
                               stdout=subprocess.PIPE, text=True)
              for _ in range(2)]
    time.sleep(FLOOD_S / 2)
    reply, secs = legit(fx)
    t.ok(reply.startswith("OK ") and secs < LEGIT_S,
         "during the flood a legitimate caller is served (%.3f s)" % secs)
    counts = [int(p.communicate(timeout=FLOOD_S + 30)[0].strip() or 0) for p in procs]
    t.diag("%d refused connections, %d malformed requests in %d s"
           % (sum(counts[:3]), sum(counts[3:]), FLOOD_S))
    new = fx.logtext()[mark:]
    lines = new.splitlines()
    t.ok(sum(counts) > 10 * LOG_BOUND, "the flood was a flood (%d connections)" % sum(counts))
    t.ok(len(lines) < LOG_BOUND, "the log took %d lines (< %d)" % (len(lines), LOG_BOUND))
    t.ok("refused a connection from uid %d" % REFUSED_UID in new,
         "the log names the refused uid")
    t.ok("malformed" in new, "the log names the malformed requests")
    # The summary comes when the window (10 s) ends, flood or not.
    def summaries():
        return [x for x in fx.logtext()[mark:].splitlines()
                if "similar messages suppressed" in x and "refused a connection" in x]

    deadline = time.time() + 15
    while time.time() < deadline and not summaries():
        time.sleep(0.3)
    summary = summaries()
    t.ok(any("refused a connection from uid %d" % REFUSED_UID in x for x in summary),
         "a summary line counts the refused connections left out (%s)"
         % (summary[0][:120] if summary else "none"))

    # Unknown accounts, asked for by an allowed uid on one connection.
    mark = len(fx.logtext())
    s = fx.connect()
    for i in range(500):
        s.sendall(netstring(("token nobody%d@contoso.test" % i).encode()))
        read_netstring(s, timeout=10)
    s.close()
    new = fx.logtext()[mark:].splitlines()
    t.ok(len(new) < 10 and any("unknown account requested" in x for x in new),
         "500 requests for unknown accounts: %d log lines, naming the first" % len(new))


def main():
    t = Tap()
    if os.geteuid() != 0:
        print("1..0 # SKIP needs root (other uids connect)")
        return 0
    fx = Fixture(accounts=(ACCOUNT,))
    with fx.suite(t):
        with open(fx.conf) as f:
            text = f.read()
        with open(fx.conf, "w") as f:
            f.write(text.replace("allow_users = root", "allow_users = root nobody"))
        fx.settings(token_length=TOKEN_LENGTH)
        fx.import_rt(ACCOUNT)
        fx.start(wrapper=["prlimit", "--nofile=%d:%d" % (NOFILE, NOFILE)])
        reply, _ = legit(fx)
        t.ok(reply.startswith("OK ") and len(reply) > TOKEN_LENGTH,
             "the daemon serves a %d-character token" % TOKEN_LENGTH)
        os.chmod(fx.sock, 0o666)
        test_hogs(t, fx)
        test_log_flood(t, fx)
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
