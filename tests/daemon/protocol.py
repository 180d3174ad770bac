#!/usr/bin/env python3
"""protocol.py - the daemon on its socket: replies, one refresh for many
callers, reload, clean exit, peer checks, the CLI without a daemon, and a
revoked grant fixed by import (TAP)"""

import os
import re
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixture import Fixture, Tap, netstring, read_netstring, skip_one  # noqa: E402

TOKEN_RE = re.compile(r"^[A-Za-z0-9._~+/-]+=*$")


def test_replies(t, fx):
    fx.import_rt("alice@contoso.test")
    fx.start()
    reply = fx.ask("account", "alice@contoso.test")
    m = re.match(r"^OK login=(\S+) expires=(\d+) token=(\S+)$", reply)
    t.ok(m is not None, "account request: OK login=... expires=... token=...")
    if m:
        t.ok(m.group(1) == "alice@contoso.test", "login defaults to the account name")
        t.ok(0 < int(m.group(2)) - time.time() <= 3600, "expiry lies in the next hour")
        t.ok(TOKEN_RE.match(m.group(3)) and len(m.group(3)) >= 1500,
             "token is a bearer token of realistic length (%d chars)" % len(m.group(3)))
        token = m.group(3)
    else:
        token = None
    s = fx.connect()
    r1 = fx.ask("token", "alice@contoso.test", s)
    r2 = fx.ask("token", "alice@contoso.test", s)
    s.close()
    t.ok(r1 == "OK " + str(token) and r2 == r1,
         "token request on a kept-open connection, twice, same cached token")
    t.ok(fx.token_requests("ok") == 1, "one token request served them all")
    t.ok(fx.ask("token", "nobody@contoso.test") == "NOTFOUND ", "unknown account: NOTFOUND")
    t.ok("unknown account" in fx.logtext(), "the daemon logs the unknown account")
    t.ok(fx.ask("frobnicate", "alice@contoso.test").startswith("PERM unknown request"),
         "unknown request name: PERM")
    s = fx.connect()
    s.sendall(netstring(b"tokenalice"))
    reply = read_netstring(s)
    closed = s.recv(10) == b""
    s.close()
    t.ok(reply.startswith("PERM malformed") and closed, "malformed request: PERM, then closed")
    s = fx.connect()
    s.sendall(b"999999:" + b"x" * 100)
    s.settimeout(5)
    t.ok(s.recv(10) == b"", "oversized netstring: connection closed")
    s.close()
    s = fx.connect()
    s.sendall(b"5x:token,")
    s.settimeout(5)
    t.ok(s.recv(10) == b"", "garbage netstring: connection closed")
    s.close()
    t.ok(fx.ask("token", "alice@contoso.test") == "OK " + str(token),
         "the daemon still serves after hostile input")


def test_herd(t, fx):
    # import tells the daemon at once, which starts a refresh that the mock
    # holds for a second: the 50 callers arrive while it is in flight.
    fx.settings(token_delay=1.0)
    before = fx.token_requests("ok")
    fx.import_rt("bob@contoso.test")
    replies = []
    lock = threading.Lock()

    def worker():
        try:
            r = fx.ask("token", "bob@contoso.test")
        except Exception as e:  # noqa: BLE001 - reported below
            r = "ERR %s" % e
        with lock:
            replies.append(r)

    threads = [threading.Thread(target=worker) for _ in range(50)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    fx.settings(token_delay=0)
    t.ok(len(replies) == 50 and all(r.startswith("OK ") for r in replies),
         "50 concurrent callers for an account without a token all get one")
    t.ok(len(set(replies)) == 1, "they all get the same token")
    t.ok(fx.token_requests("ok") - before == 1,
         "exactly one request reached the identity platform (%d)"
         % (fx.token_requests("ok") - before))


def test_reload(t, fx):
    t.ok(fx.ask("token", "carol@contoso.test") == "NOTFOUND ", "carol is not configured yet")
    fx.write_config(extra_accounts=["carol@contoso.test"])
    before = fx.token_requests("ok")
    # Wait for this reload's own line: the log already holds "state reloaded"
    # lines from the imports above, and a slow (sanitizer) build answers the
    # next request before it has read the new config.
    mark = len(fx.logtext())
    fx.daemon.send_signal(signal.SIGHUP)
    deadline = time.time() + 20
    while "reloaded %s:" % fx.conf not in fx.logtext()[mark:] and time.time() < deadline:
        time.sleep(0.05)
    reply = fx.ask("token", "carol@contoso.test")
    t.ok(reply.startswith("PERM ") and "import carol@contoso.test" in reply,
         "after SIGHUP carol is known, and the reply says to import a refresh token")
    fx.import_rt("carol@contoso.test")
    t.ok(fx.ask("token", "carol@contoso.test").startswith("OK "),
         "after import the running daemon serves carol without a restart")
    t.ok(fx.ask("token", "alice@contoso.test").startswith("OK "),
         "alice is still served after the reload")
    t.ok(fx.token_requests("ok") - before == 1,
         "the reload kept alice's token: only carol's refresh reached the platform")


def test_revoked(t, fx):
    fx.settings(fault="invalid_grant")
    fx.import_rt("dave@contoso.test")
    reply = fx.ask("token", "dave@contoso.test")
    fx.settings(fault="none")
    t.ok(reply.startswith("PERM ") and "AADSTS70008" in reply and "import" in reply,
         "a revoked refresh token: PERM naming AADSTS70008 and the fix")
    t.ok(fx.ask("token", "dave@contoso.test").startswith("PERM "),
         "no retry storm: it stays PERM without a new grant")
    fx.import_rt("dave@contoso.test")
    t.ok(fx.ask("token", "dave@contoso.test").startswith("OK "),
         "import of a new refresh token fixes it without a restart")


def test_peer(t, fx):
    if os.geteuid() != 0:
        skip_one(t, "peer check needs root")
        return
    os.chmod(fx.dir, 0o755)
    os.chmod(fx.sock, 0o666)
    code = ("import socket,sys\n"
            "s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])\n"
            "s.sendall(b'24:token alice@contoso.test,')\n"
            "print(s.recv(200).decode())\n")
    # /usr/bin/python3: the test's own interpreter may live where nobody cannot reach.
    r = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                        "/usr/bin/python3", "-c", code, fx.sock],
                       capture_output=True, text=True, timeout=20)
    t.ok("PERM access denied for uid" in r.stdout and "OK" not in r.stdout,
         "a peer uid not in allow_users is refused")
    t.ok("refused a connection from uid" in fx.logtext(), "and the refusal is logged")


def test_cli_direct(t, fx):
    rc = fx.stop()
    t.ok(rc == 0, "SIGTERM: the daemon exits with status 0")
    t.ok(not os.path.exists(fx.sock), "and removes its socket")
    fx.import_rt("erin@contoso.test")
    before = fx.token_requests("ok")
    procs = [subprocess.Popen([fx_helper(), "-c", fx.conf, "token", "erin@contoso.test"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(5)]
    outs = [p.communicate(timeout=60) for p in procs]
    t.ok(all(p.returncode == 0 for p in procs) and len({o[0] for o in outs}) == 1,
         "without a daemon, 5 concurrent CLI calls all print the same token")
    t.ok(fx.token_requests("ok") - before == 1,
         "the account lock let only one of them refresh")
    r = fx.cli("token", "erin@contoso.test", "--format", "json")
    t.ok(r.returncode == 0 and '"login":"erin@contoso.test"' in r.stdout, "--format json")
    r = fx.cli("token", "nobody@contoso.test")
    t.ok(r.returncode == 67 and "nobody@contoso.test is not in" in r.stderr,
         "unknown account: exit 67, message names the account and the file")
    r = fx.cli("token", "dave@contoso.test", "--format", "bogus")
    t.ok(r.returncode == 64, "bad --format: usage error")
    if os.geteuid() == 0:
        r = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                            fx_helper(), "-c", fx.conf, "token", "erin@contoso.test"],
                           capture_output=True, text=True, timeout=30)
        t.ok(r.returncode == 75 and "the token daemon is not running" in r.stderr
             and "start the daemon" in r.stderr and r.stderr.count("\n") == 1,
             "daemon down, caller without access to the state: one line, exit 75 (temporary)")
    mode = os.stat(os.path.join(fx.state, "erin@contoso.test.state")).st_mode & 0o777
    t.ok(mode == 0o600, "state files are mode 0600")
    fx.start()
    t.ok(fx.ask("token", "erin@contoso.test").startswith("OK "),
         "a restarted daemon serves the token the CLI stored, with no new request (%d)"
         % (fx.token_requests("ok") - before))


def fx_helper():
    from fixture import HELPER
    return HELPER


def main():
    t = Tap()
    fx = Fixture(accounts=("alice@contoso.test", "bob@contoso.test", "dave@contoso.test",
                           "erin@contoso.test"))
    with fx.suite(t):
        test_replies(t, fx)
        test_herd(t, fx)
        test_reload(t, fx)
        test_revoked(t, fx)
        test_peer(t, fx)
        test_cli_direct(t, fx)
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
