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
    r = fx.cli("test", ACC, "--relay", "127.0.0.1:smtp", "--to", "someone@example.test")
    out = r.stdout + r.stderr
    if not t.ok(r.returncode == 64 and "bad port in --relay 127.0.0.1:smtp" in out
                and "--smtp" not in out,
                "--relay with a bad port: exit 64, naming --relay (got %d)" % r.returncode):
        t.diag(out)


OPT = re.compile(r"(?<![\w-])(--?[a-z][a-z-]*)")


def commands_in_usage(text):
    """commands_in_usage - the command names listed in the global usage"""
    part = text.split("\ncommands:\n", 1)[1].split("\n\n", 1)[0]
    return [line.split()[0] for line in part.splitlines()
            if line.startswith("  ") and not line.startswith("    ")]


def man_synopsis(cmd):
    """man_synopsis - the options the man page's SYNOPSIS gives cmd (all its entries)"""
    text = open(MAN).read()
    syn = text.split(".SH SYNOPSIS\n", 1)[1].split("\n.SH ", 1)[0].replace("\\-", "-")
    found = None
    for chunk in syn.split("\n.br\n"):
        if re.search(r"^\.B %s$" % re.escape(cmd), chunk, re.M):
            rest = re.split(r"^\.B %s$" % re.escape(cmd), chunk, 1, re.M)[1]
            found = (found or set()) | set(OPT.findall(rest))
    return found


def help_synopsis(text, cmd):
    """help_synopsis - the options on the usage line of "help cmd", after the command name"""
    line = text.splitlines()[0]
    return set(OPT.findall(line.split(" %s" % cmd, 1)[1]))


def test_help(t, fx):
    r = run("--help")
    t.ok(r.returncode == 0 and r.stdout.startswith("usage: oauth2-token-helper") and not r.stderr,
         "--help: the usage on stdout, exit 0 (got %d)" % r.returncode)
    usage = r.stdout
    r = run("help")
    t.ok(r.returncode == 0 and r.stdout == usage, "help: the same, exit 0")
    r = run("-h")
    t.ok(r.returncode == 0 and r.stdout == usage, "-h: the same, exit 0")
    t.ok("--version" in usage and "-c FILE" in usage and "-v" in usage,
         "the usage documents --version, -c and -v")
    man = open(MAN).read().replace("\\-", "-")
    t.ok(re.search(r"^\.B --version$", man, re.M) is not None and "--help" in man,
         "the man page documents --version and --help")
    r = run("--version")
    t.ok(r.returncode == 0 and re.match(r"^oauth2-token-helper \S+$", r.stdout.strip()),
         "--version prints the version, exit 0")

    cmds = commands_in_usage(usage)
    t.ok(len(cmds) >= 10 and "config-check" in cmds and "help" in cmds,
         "the usage lists every command (%s)" % " ".join(cmds))
    for cmd in cmds:
        h = run("help", cmd)
        d = run(cmd, "--help", conf=fx.conf)
        ok = (h.returncode == 0 and d.returncode == 0 and h.stdout == d.stdout and not d.stderr
              and h.stdout.startswith("usage: oauth2-token-helper [-c FILE]")
              and (" %s" % cmd) in h.stdout.splitlines()[0])
        if not t.ok(ok, "help %s and %s --help: its synopsis on stdout, exit 0" % (cmd, cmd)):
            t.diag(h.stdout + h.stderr + d.stdout + d.stderr)
        if cmd == "help":
            continue
        want = man_synopsis(cmd)
        have = help_synopsis(h.stdout, cmd)
        if not t.ok(want is not None and want == have,
                    "%s: the man page's synopsis has the options of its help" % cmd):
            t.diag("man: %s help: %s" % (sorted(want or []), sorted(have)))
        missing = [o for o in OPT.findall(h.stdout.split("\noptions:\n", 1)[-1])
                   if o not in man] if "\noptions:\n" in h.stdout else []
        t.ok(not missing, "%s: every option in its help is in the man page (%s)"
             % (cmd, ", ".join(missing) or "all"))

    # --help comes before anything else the command would do.
    r = run("config-check", "--help", conf="/nonexistent/oauth2.conf")
    t.ok(r.returncode == 0 and "usage:" in r.stdout and "nonexistent" not in r.stdout + r.stderr,
         "config-check --help does not check anything")
    r = run("serve", "--help", conf=fx.conf)
    t.ok(r.returncode == 0 and "--syslog" in r.stdout, "serve --help does not start a daemon")
    r = run("revoke", ACC, "--help", conf=fx.conf)
    t.ok(r.returncode == 0 and os.path.exists(os.path.join(fx.state, ACC + ".state")),
         "revoke ACCOUNT --help revokes nothing")
    r = run("check", "-h", conf=fx.conf)
    t.ok(r.returncode == 0 and "--warning" in r.stdout, "check -h prints check's help")

    # Usage errors: stderr, exit 64, the command's synopsis.
    r = run("token", conf=fx.conf)
    t.ok(r.returncode == 64 and not r.stdout and "usage: oauth2-token-helper [-c FILE] token"
         in r.stderr, "token without an account: its synopsis on stderr, exit 64")
    r = run("frobnicate", conf=fx.conf)
    t.ok(r.returncode == 64 and not r.stdout and "no command frobnicate" in r.stderr,
         "an unknown command: stderr, exit 64")
    r = run("help", "frobnicate")
    t.ok(r.returncode == 64 and not r.stdout, "help of an unknown command: stderr, exit 64")
    r = run()
    t.ok(r.returncode == 64 and not r.stdout and "usage:" in r.stderr,
         "no command: the usage on stderr, exit 64")


def test_readme_options(t):
    """every option README shows on an oauth2-token-helper command line exists"""
    bad = []
    readme = open(os.path.join(TOP_SRCDIR, "README.md")).read()
    for m in re.finditer(r"oauth2-token-helper((?: +-c +\S+| +-v)*) +([a-z][a-z-]+)([^\n`|#]*)",
                         readme):
        cmd, rest = m.group(2), m.group(3)
        h = run("help", cmd)
        if h.returncode != 0:
            continue  # prose, not a command line
        for opt in OPT.findall(rest):
            if opt not in h.stdout:
                bad.append("%s %s" % (cmd, opt))
    t.ok(not bad, "README's command lines use only options that exist (%s)"
         % (", ".join(sorted(set(bad))) or "all do"))


def main():
    t = Tap()
    fx = Fixture(accounts=(ACC,))
    with fx.suite(t):
        fx.start()
        fx.import_rt(ACC)
        test_help(t, fx)
        test_readme_options(t)
        test_smtp_failures(t, fx)
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
