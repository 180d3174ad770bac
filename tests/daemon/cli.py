#!/usr/bin/env python3
"""cli.py - the command line's conventions: help and usage (stdout and exit 0
for help, stderr and exit 64 for a usage error), every subcommand's --help
before it does anything, the help table against the man page, and what
"test" says and exits with when the SMTP server cannot be reached or
refuses (TAP)"""

import os
import re
import socket
import subprocess
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixture import HELPER, TOP_SRCDIR, Fixture, Tap  # noqa: E402

ACC = "alice@contoso.test"
MAN = os.path.join(TOP_SRCDIR, "man", "oauth2-token-helper.8")


def run(*args, conf=None):
    cmd = [HELPER] + (["-c", conf] if conf else []) + list(args)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)


def closed_port():
    """closed_port - a loopback port nobody listens on"""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class OneReplyServer:
    """OneReplyServer - an SMTP server that greets with one fixed reply and hangs up"""

    def __init__(self, greeting):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        self.greeting = greeting
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            try:
                conn.sendall(self.greeting.encode() + b"\r\n")
                conn.settimeout(5)
                conn.recv(1024)
                conn.sendall(b"221 bye\r\n")
            except OSError:
                pass
            conn.close()

    def close(self):
        self.sock.close()


def test_smtp_failures(t, fx):
    port = closed_port()
    r = fx.cli("test", ACC, "--smtp", "127.0.0.1:%d" % port)
    out = r.stdout + r.stderr
    if not t.ok(r.returncode == 75, "test against a closed port: temporary, exit 75 (got %d)"
                % r.returncode):
        t.diag(out)
    t.ok("connecting to 127.0.0.1:%d " % port in out and "smtp://" not in out
         and "oauth2-token-helper.test" not in out,
         "it shows host:port as typed, not a made-up URL")
    t.ok("Connection refused" in out, "it gives the reason: Connection refused")
    t.ok("temporary" in out, "and says the failure looks temporary")

    srv = OneReplyServer("421 4.3.2 Service not available, try later")
    r = fx.cli("test", ACC, "--smtp", "127.0.0.1:%d" % srv.port)
    srv.close()
    if not t.ok(r.returncode == 75 and "421 4.3.2" in r.stdout,
                "a 4xx greeting is temporary: exit 75 (got %d)" % r.returncode):
        t.diag(r.stdout + r.stderr)

    srv = OneReplyServer("554 5.7.1 This relay does not talk to you")
    r = fx.cli("test", ACC, "--smtp", "127.0.0.1:%d" % srv.port)
    srv.close()
    if not t.ok(r.returncode == 69 and "554 5.7.1" in r.stdout and "needs a person" in r.stdout,
                "a 5xx refusal needs a person: exit 69 (got %d)" % r.returncode):
        t.diag(r.stdout + r.stderr)

    r = fx.cli("test", ACC, "--smtp", "127.0.0.1:smtp")
    t.ok(r.returncode == 64 and "bad port" in r.stdout + r.stderr,
         "a bad port is a usage error: exit 64 (got %d)" % r.returncode)


def main():
    t = Tap()
    fx = Fixture(accounts=(ACC,))
    with fx.suite(t):
        fx.start()
        fx.import_rt(ACC)
        test_smtp_failures(t, fx)
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
