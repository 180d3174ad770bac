"""fixture.py - start the mock identity platform and the token daemon for a test

Used by the daemon tests (tests/daemon/*.py). Everything lives in a
temporary directory and is stopped by Fixture.close(), also on failure.
Nothing here prints a token: test output is grepped for leaks.
"""

import contextlib
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request

TOP_SRCDIR = os.environ.get("top_srcdir") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
TOP_BUILDDIR = os.environ.get("top_builddir") or os.path.join(TOP_SRCDIR, "build")
HELPER = os.path.join(TOP_BUILDDIR, "helper", "oauth2-token-helper")
CLIENT_ID = "00000000-0000-0000-0000-00000000a11c"


def wait_for(pred, timeout, step=0.1):
    """wait_for - poll pred until it is true or timeout seconds pass; its last value"""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return True
        time.sleep(step)
    return pred()


class Tap:
    """Tap - a minimal TAP emitter"""

    def __init__(self):
        self.n = 0
        self.failed = 0

    def ok(self, cond, what):
        self.n += 1
        if not cond:
            self.failed += 1
        print("%sok %d - %s" % ("" if cond else "not ", self.n, what), flush=True)
        return cond

    def diag(self, text):
        for line in str(text).splitlines():
            print("# " + line, flush=True)

    def done(self):
        print("1..%d" % self.n, flush=True)
        return 1 if self.failed else 0


def in_ci():
    """in_ci - CI=true: a missing tool or capability is a failure, not a skip"""
    return os.environ.get("CI", "").lower() == "true"


def skip_all(reason):
    """skip_all - the whole test cannot run here: a TAP skip, or under CI=true
    a failure naming what is missing (scripts/test installs it); returns the
    exit status for main() to return"""
    if in_ci():
        print("not ok 1 - cannot run: %s (CI=true: scripts/test installs everything the "
              "tests need, so this is a failure)" % reason, flush=True)
        print("1..1", flush=True)
        return 1
    print("1..0 # SKIP %s" % reason, flush=True)
    return 0


def skip_one(t, reason):
    """skip_one - one check cannot run here: skipped, or failed under CI=true"""
    if in_ci():
        return t.ok(False, "cannot run: %s (CI=true)" % reason)
    return t.ok(True, "# SKIP %s" % reason)


def netstring(data):
    """netstring - encode bytes"""
    return b"%d:%s," % (len(data), data)


def read_netstring(sock, timeout=35):
    """read_netstring - one reply from the daemon, as str"""
    sock.settimeout(timeout)
    buf = b""
    while b":" not in buf:
        chunk = sock.recv(64)
        if not chunk:
            raise EOFError("closed")
        buf += chunk
    head, rest = buf.split(b":", 1)
    n = int(head)
    while len(rest) < n + 1:
        chunk = sock.recv(65536)
        if not chunk:
            raise EOFError("closed")
        rest += chunk
    if rest[n:n + 1] != b",":
        raise ValueError("bad netstring")
    return rest[:n].decode()


class Fixture:
    """Fixture - a mock identity platform and a daemon config in a temp dir"""

    def __init__(self, accounts=("alice@contoso.test",), refresh_ahead=600):
        self.dir = tempfile.mkdtemp(prefix="o2th-daemon.")
        os.chmod(self.dir, 0o755)
        self.daemon = None
        self.mock = None
        self.stderr_seen = []
        self.accounts = list(accounts)
        self.refresh_ahead = refresh_ahead
        self.state = os.path.join(self.dir, "state")
        self.sock = os.path.join(self.dir, "helper.sock")
        self.conf = os.path.join(self.dir, "helper.conf")
        self.log = os.path.join(self.dir, "daemon.log")
        subprocess.run(["sh", os.path.join(TOP_SRCDIR, "tests/mock/make-ca.sh"),
                        os.path.join(self.dir, "ca")], check=True)
        self.ca = os.path.join(self.dir, "ca", "ca.pem")
        portfile = os.path.join(self.dir, "mock.port")
        os.mkdir(os.path.join(self.dir, "mock"))
        self.mock = subprocess.Popen(
            [sys.executable, os.path.join(TOP_SRCDIR, "tests/mock/mock_idp.py"),
             "--cert", os.path.join(self.dir, "ca", "server.pem"),
             "--key", os.path.join(self.dir, "ca", "server.key"),
             "--port-file", portfile, "--state-dir", os.path.join(self.dir, "mock")],
            stdout=open(os.path.join(self.dir, "mock.log"), "w"), stderr=subprocess.STDOUT)
        deadline = time.time() + 10
        while not (os.path.exists(portfile) and open(portfile).read().strip()):
            if time.time() > deadline:
                raise RuntimeError("mock did not start")
            time.sleep(0.05)
        self.port = int(open(portfile).read().strip())
        self.ssl = ssl.create_default_context(cafile=self.ca)
        self.write_config()

    def write_config(self, extra_accounts=(), hosts=None):
        """write_config - the daemon's config for self.accounts; hosts maps an
        account to the host name its token endpoint is reached by (default
        127.0.0.1; "localhost" for the mock's TLS faults)"""
        hosts = hosts or {}
        lines = ["socket = %s" % self.sock, "state_dir = %s" % self.state,
                 "allow_users = root", "refresh_ahead = %d" % self.refresh_ahead, ""]
        for name in list(self.accounts) + list(extra_accounts):
            lines += ["[account %s]" % name, "tenant = contoso.test",
                      "client_id = %s" % CLIENT_ID,
                      "authority = https://%s:%d" % (hosts.get(name, "127.0.0.1"), self.port),
                      "ca_file = %s" % self.ca, ""]
        with open(self.conf, "w") as f:
            f.write("\n".join(lines))

    def control(self, path, obj=None):
        """control - call the mock's control API"""
        data = None if obj is None else json.dumps(obj).encode()
        req = urllib.request.Request("https://127.0.0.1:%d/_mock/%s" % (self.port, path),
                                     data=data, method="POST" if data else "GET",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, context=self.ssl, timeout=10) as r:
            return json.loads(r.read().decode())

    def mockctl(self, *args):
        """mockctl - run tests/mock/mockctl, return stdout"""
        return subprocess.run(
            [sys.executable, os.path.join(TOP_SRCDIR, "tests/mock/mockctl"),
             "--url", "https://127.0.0.1:%d" % self.port, "--ca", self.ca] + list(args),
            check=True, capture_output=True, text=True).stdout

    def grant(self, user):
        """grant - a fresh refresh token for user (kept out of any output)"""
        return self.mockctl("grant", "--user", user, "--client-id", CLIENT_ID,
                            "--tenant", "contoso.test").strip()

    def settings(self, **kw):
        args = ["settings"]
        for k, v in kw.items():
            args += ["--" + k.replace("_", "-"), str(v)]
        self.mockctl(*args)

    def stats(self):
        return json.loads(self.mockctl("stats"))

    def token_requests(self, outcome=None):
        tr = self.stats()["token_requests"]
        return tr["total"] if outcome is None else tr["by_outcome"].get(outcome, 0)

    def cli(self, *args, stdin=None):
        """cli - run oauth2-token-helper with our config; its stderr is kept for leak_check"""
        r = subprocess.run([HELPER, "-c", self.conf] + list(args), input=stdin,
                           capture_output=True, text=True, timeout=60)
        self.stderr_seen.append(r.stderr)
        if args and args[0] != "token":
            self.stderr_seen.append(r.stdout)
        return r

    @contextlib.contextmanager
    def suite(self, t, cleanup=None):
        """suite - a test file's body: a crash in it is a failure shown with the
        daemon log's tail; then, crash or not, the leak check, cleanup() and close()"""
        try:
            yield
        except Exception as e:  # noqa: BLE001 - a crash is a failure
            t.ok(False, "test crashed: %s" % e)
            t.diag(self.logtext()[-3000:])
        finally:
            leaks = self.leak_check()
            t.ok(not leaks, "no token, code, assertion or secret in any log or message (%s)"
                 % (", ".join(leaks) or "none"))
            if cleanup is not None:
                cleanup()
            self.close()

    def leak_check(self):
        """leak_check - every token and secret the mock issued, searched for in every log,
        in the CLI's messages and in every output but token's stdout; returns the hits"""
        issued_path = os.path.join(self.dir, "mock", "issued-secrets")
        issued = [x for x in open(issued_path).read().split() if len(x) >= 16] \
            if os.path.exists(issued_path) else []
        texts = {"daemon log": self.logtext(),
                 "mock log": open(os.path.join(self.dir, "mock.log")).read(),
                 "CLI messages": "\n".join(self.stderr_seen)}
        return ["%s holds secret #%d" % (where, i)
                for where, text in texts.items() for i, sec in enumerate(issued) if sec in text]

    def import_rt(self, account, user=None):
        r = self.cli("import", account, stdin=self.grant(user or account) + "\n")
        if r.returncode != 0:
            raise RuntimeError("import failed: " + r.stderr)

    def reachable_helper(self):
        """reachable_helper - a copy of the helper in this fixture's 0755 dir, for a
        daemon started as another user (the checkout may sit in a 0700 directory)"""
        path = os.path.join(self.dir, "oauth2-token-helper")
        if not os.path.exists(path):
            shutil.copy(HELPER, path)
            os.chmod(path, 0o755)
        return path

    def start(self, wrapper=(), timeout=10, helper=HELPER):
        """start - run the daemon (under wrapper, e.g. prlimit or valgrind) and wait
        until its socket accepts connections"""
        if os.path.exists(self.sock):
            os.unlink(self.sock)
        self.daemon = subprocess.Popen(list(wrapper) + [helper, "-c", self.conf, "serve"],
                                       stdout=open(self.log, "a"), stderr=subprocess.STDOUT)
        deadline = time.time() + timeout
        while True:
            if time.time() > deadline or self.daemon.poll() is not None:
                raise RuntimeError("daemon did not start: " + self.logtext()[-2000:])
            if os.path.exists(self.sock):
                try:
                    self.connect().close()
                    return
                except OSError:
                    pass
            time.sleep(0.02)

    def proc_status(self, field):
        """proc_status - a number from /proc/PID/status of the daemon (VmRSS, VmHWM, ... in kB)"""
        with open("/proc/%d/status" % self.daemon.pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
        return -1

    def cpu_ticks(self):
        """cpu_ticks - user + system clock ticks the daemon has used"""
        with open("/proc/%d/stat" % self.daemon.pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])

    def sanitizer_reports(self):
        """sanitizer_reports - ASan, LSan or UBSan findings in the daemon's log"""
        marks = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")
        return [line for line in self.logtext().splitlines() if any(m in line for m in marks)]

    def stop(self, sig=15):
        if self.daemon is not None and self.daemon.poll() is None:
            self.daemon.send_signal(sig)
            try:
                self.daemon.wait(10)
            except subprocess.TimeoutExpired:
                self.daemon.kill()
                self.daemon.wait()
        rc = self.daemon.returncode if self.daemon is not None else None
        self.daemon = None
        return rc

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(self.sock)
        return s

    def ask(self, name, key, sock=None):
        """ask - one socketmap request; returns the reply text"""
        own = sock is None
        s = self.connect() if own else sock
        try:
            s.sendall(netstring(("%s %s" % (name, key)).encode()))
            return read_netstring(s)
        finally:
            if own:
                s.close()

    def timed_token(self, account, timeout):
        """timed_token - one "token ACCOUNT" request on a fresh connection, never
        raising; (reply or "ERR why", seconds taken)"""
        t0 = time.time()
        try:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(timeout)
            s.connect(self.sock)
            s.sendall(netstring(("token %s" % account).encode()))
            reply = read_netstring(s, timeout=timeout)
            s.close()
        except (OSError, EOFError, ValueError) as e:
            reply = "ERR %s" % e
        return reply, time.time() - t0

    def logtext(self):
        return open(self.log).read() if os.path.exists(self.log) else ""

    def close(self):
        self.stop()
        found = self.sanitizer_reports()
        if found:
            # A sanitizer build (configure --enable-sanitizers) found a bug in the daemon.
            print("Bail out! sanitizer report in the daemon log: %s" % found[0][:200], flush=True)
        if self.mock is not None:
            self.mock.kill()
            self.mock.wait()
        shutil.rmtree(self.dir, ignore_errors=True)
