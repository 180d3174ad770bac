#!/usr/bin/env python3
"""units-as-shipped.py - an app-only account set up the way README.md says,
run the way the shipped systemd units run it (TAP)

The admin's path, verbatim: "make install" into a scratch root; the shell
lines of README.md's "Install", "The app sends as a mailbox" and
"Configure" sections, read out of README.md and run in one shell with only
paths changed (/etc/oauth2-token-helper... to a scratch etc, and
systemd-sysusers given the installed sysusers.d file, which creates the
real user oauth2-helper); README's config with its paths changed and the
mock as authority. Then the installed units: the socket unit's
ListenStream bound by systemd-socket-activate, the service's
StateDirectory made as systemd makes it, its ExecStartPre run as its
User/Group with its UMask and NoNewPrivileges (setpriv), then its ExecStart
the same way on the passed socket. The daemon must get an app-only token
from the mock, which verifies the certificate's assertion.

Before README created /etc/oauth2-token-helper and let the daemon's group
read the certificate, openssl failed, then ExecStartPre failed with
"Permission denied".
"""

import fcntl
import os
import pwd
import re
import grp
import json
import shlex
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixture import TOP_BUILDDIR, TOP_SRCDIR, Fixture, Tap, netstring, read_netstring  # noqa: E402
from fixture import skip_all  # noqa: E402

# The commands of README's sh blocks this test runs; the others (apt-get,
# configure, make, systemctl, authorize) are done by the test harness or do
# not apply to an app-only account, and are listed in the TAP output.
RUN = ("systemd-sysusers", "install", "umask", "openssl", "chown", "chgrp", "chmod")
SECTIONS = ("Install", "The app sends as a mailbox", "Configure")
ETC = "/etc/oauth2-token-helper"
# One socketmap request as whoever runs it; prints the reply up to the token.
CLIENT = """
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
req = sys.argv[2].encode()
s.sendall(b"%d:%s," % (len(req), req))
buf = b""
while True:
    chunk = s.recv(65536)
    if not chunk:
        break
    buf += chunk
    if buf.endswith(b","):
        break
text = buf.split(b":", 1)[1][:-1].decode()
print(text.split(" token=")[0] if text.startswith("OK ") else text)
"""


def readme_sections():
    """readme_sections - heading text -> section body, for every ## and ### heading"""
    text = open(os.path.join(TOP_SRCDIR, "README.md")).read()
    parts = re.split(r"^#{2,3} +(.*)\n", text, flags=re.M)
    return {parts[i].strip(): parts[i + 1] for i in range(1, len(parts) - 1, 2)}


def section(sections, prefix):
    for title, body in sections.items():
        if title.startswith(prefix):
            return body
    raise KeyError("README.md has no section %r" % prefix)


def blocks(body, lang):
    """blocks - the fenced code blocks of one language in a section, dedented"""
    out = []
    for m in re.finditer(r"^( *)```%s\n(.*?)^ *```" % lang, body, flags=re.M | re.S):
        indent = len(m.group(1))
        out.append("\n".join(line[indent:] for line in m.group(2).splitlines()))
    return out


def commands(block):
    """commands - the command lines of an sh block, continuation lines joined"""
    out = []
    for line in block.replace("\\\n", " ").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            out.append(line)
    return out


def unit_settings(path):
    """unit_settings - key -> list of values of a unit file"""
    found = {}
    for line in open(path):
        m = re.match(r"^([A-Za-z]+)=(.*)$", line.rstrip("\n"))
        if m:
            found.setdefault(m.group(1), []).append(m.group(2))
    return found


def under_root(argv, root, conf):
    """under_root - an Exec line's argv with the binary in the scratch root and -c CONF"""
    return [root + argv[0], "-c", conf] + argv[1:]


def as_unit_user(svc, argv):
    """as_unit_user - argv run with the service's User, Group, NoNewPrivileges,
    empty CapabilityBoundingSet (setpriv)"""
    user = svc["User"][-1]
    group = svc.get("Group", [user])[-1]
    wrap = ["setpriv", "--reuid=" + user, "--regid=" + group, "--init-groups",
            "--inh-caps=-all"]
    if svc.get("NoNewPrivileges", ["no"])[-1] == "yes":
        wrap.append("--no-new-privs")
    if svc.get("CapabilityBoundingSet", ["x"])[-1] == "":
        wrap.append("--bounding-set=-all")
    return wrap + argv


def missing_tool():
    """missing_tool - what this test needs and the machine lacks, or None"""
    if os.geteuid() != 0:
        return "needs root (creates the user oauth2-helper, runs the daemon as it)"
    checks = (("systemd-sysusers", ["systemd-sysusers", "--version"], "systemd"),
              ("systemd-socket-activate", ["systemd-socket-activate", "--version"], "systemd"),
              ("setpriv", ["setpriv", "--version"], "util-linux"),
              ("openssl", ["openssl", "version"], "openssl"))
    for name, argv, pkg in checks:
        try:
            r = subprocess.run(argv, capture_output=True)
            if r.returncode == 0:
                continue
        except OSError:
            pass
        return "%s is not installed (Debian package %s)" % (name, pkg)
    if subprocess.run(["getent", "passwd", "postfix"], capture_output=True).returncode != 0:
        return "no postfix user: README's allow_users = postfix needs the postfix package"
    return None


def system_paths_lock():
    """Wait (up to 15 min) for the machine-wide lock of the tests that create
    system users and use system paths (lib.sh system_paths_lock): the Debian
    package test removes the user oauth2-helper that this test needs when it
    did not exist before. Held until this process exits."""
    path = os.environ.get("SYSTEM_LOCK", "/run/lock/oauth2-token-helper-tests.lock")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    f = open(path, "a")
    deadline = time.monotonic() + 900
    while True:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return f
        except BlockingIOError:
            if time.monotonic() > deadline:
                return None
            time.sleep(1)


def main():
    why = missing_tool()
    lock = why is None and system_paths_lock()
    if why is None and lock is None:
        why = "another test held the system paths lock for 15 minutes"
    if why:
        return skip_all(why)
    t = Tap()
    fx = Fixture(accounts=())
    act = None
    try:
        T = fx.dir
        root = os.path.join(T, "root")
        sysroot = os.path.join(T, "sys")
        os.makedirs(os.path.join(sysroot, "etc"), 0o755)
        os.makedirs(os.path.join(T, "run"), 0o755)
        os.chmod(os.path.join(sysroot), 0o755)
        os.chmod(os.path.join(sysroot, "etc"), 0o755)

        r = subprocess.run(["make", "-s", "-C", TOP_BUILDDIR, "install", "DESTDIR=" + root],
                           capture_output=True, text=True)
        if not t.ok(r.returncode == 0, "make install DESTDIR=..."):
            t.diag(r.stdout[-2000:] + r.stderr[-2000:])
            return t.done()

        def installed(pattern):
            for d, _, files in os.walk(root):
                for f in files:
                    p = os.path.join(d, f)
                    if re.search(pattern, p[len(root):]):
                        return p
            return None

        sysusers = installed(r"/sysusers\.d/oauth2-token-helper\.conf$")
        service = installed(r"/systemd/system/oauth2-token-helper\.service$")
        socket_unit = installed(r"/systemd/system/oauth2-token-helper\.socket$")
        t.ok(sysusers and service and socket_unit,
             "the sysusers.d file and both units are installed")

        # README's shell lines, in the order an admin meets them.
        sections = readme_sections()
        ran, skipped, script = [], [], ["set -e"]
        for name in SECTIONS:
            for block in blocks(section(sections, name), "sh"):
                for cmd in commands(block):
                    word = cmd.split()[0]
                    if word not in RUN:
                        skipped.append(cmd.split("#")[0].strip())
                        continue
                    ran.append(cmd)
                    cmd = cmd.replace(ETC, sysroot + ETC)
                    if word == "systemd-sysusers":
                        cmd = cmd.replace("systemd-sysusers", "systemd-sysusers " +
                                          shlex.quote(sysusers), 1)
                    script.append(cmd)
            if name == "The app sends as a mailbox":
                script.append("__CONFIG__")
        t.diag("README lines run:\n  " + "\n  ".join(ran))
        t.diag("README lines not run here:\n  " + "\n  ".join(skipped))
        words = [c.split()[0] for c in ran]
        t.ok("systemd-sysusers" in words and
             words.index("systemd-sysusers") < min(i for i, c in enumerate(ran)
                                                   if "oauth2-helper" in c and
                                                   not c.startswith("systemd-sysusers")),
             "README runs systemd-sysusers before it first names the user oauth2-helper")
        t.ok(any(c.startswith("install -d") and ETC in c for c in ran),
             "README creates %s" % ETC)

        # README's config: its own lines, paths changed, the mock as authority.
        ini = blocks(section(sections, "Configure"), "ini")[0]
        sock = os.path.join(T, "run", "oauth2-token-helper")
        state = os.path.join(T, "var-lib-oauth2-token-helper")
        conf_lines = ["state_dir = %s" % state]
        readme_socket = None
        accounts = {}
        current = None
        for line in ini.splitlines():
            line = line.replace(ETC, sysroot + ETC)
            m = re.match(r"^socket *= *(\S+)", line)
            if m:
                readme_socket = m.group(1)
                line = "socket = %s" % sock
            conf_lines.append(line)
            m = re.match(r"^\[account (\S+)\]", line)
            if m:
                current = accounts.setdefault(m.group(1), {})
                conf_lines += ["authority = https://127.0.0.1:%d" % fx.port, "ca_file = %s" % fx.ca]
                continue
            m = re.match(r"^(\w+) *= *(\S+)", line)
            if m and current is not None:
                current[m.group(1)] = m.group(2)
        app = [n for n, a in accounts.items() if a.get("grant") == "client_credentials"]
        if not t.ok(len(app) == 1, "README's config has one app-only account (%s)" % app):
            return t.done()
        app = app[0]
        conf = sysroot + "/etc/oauth2-token-helper.conf"
        config_text = "\n".join(conf_lines) + "\n"

        text = "\n".join(script).replace(
            "__CONFIG__",
            "(umask 077; cat >%s <<'EOC'\n%sEOC\n)" % (shlex.quote(conf), config_text))
        with open(os.path.join(T, "readme-steps.sh"), "w") as f:
            f.write(text + "\n")
        r = subprocess.run(["bash", os.path.join(T, "readme-steps.sh")], capture_output=True,
                           text=True, cwd=T, timeout=120)
        if not t.ok(r.returncode == 0, "README's steps run without an error"):
            t.diag("\n".join(x for x in r.stderr.splitlines()
                             if not re.match(r"^[.+*]+$", x))[-2000:])

        try:
            user = pwd.getpwnam(unit_settings(service)["User"][-1])
        except KeyError:
            user = None
        t.ok(user is not None, "systemd-sysusers created the service's User=")
        if user is None:
            return t.done()
        key = accounts[app].get("client_key_file", "")
        cert = accounts[app].get("client_certificate_file", "")
        made = [p for p in (sysroot + ETC, key, cert, conf) if os.path.exists(p)]
        world = [p for p in made if os.stat(p).st_mode & 0o007]
        t.ok(len(made) == 4 and not world,
             "the directory, key, certificate and config exist (%d of 4), none open to others (%s)"
             % (len(made), world))
        st = os.stat(key) if os.path.exists(key) else None
        t.ok(st is not None and st.st_uid == user.pw_uid and st.st_mode & 0o777 == 0o600,
             "the key is the daemon's alone (%s, 0600)" % user.pw_name)
        st = os.stat(sysroot + ETC) if os.path.isdir(sysroot + ETC) else None
        t.ok(st is not None and st.st_uid == 0 and st.st_gid == user.pw_gid and
             st.st_mode & 0o777 == 0o750,
             "%s is root:%s 0750" % (ETC, user.pw_name))

        # The mock knows the app by README's client ID, tenant and certificate.
        if os.path.exists(cert):  # else the steps above failed
            fx.mockctl("register", "--client-id", accounts[app]["client_id"], "--tenant",
                       accounts[app]["tenant"], "--certificate", cert, "--mailbox",
                       accounts[app].get("login", app))

        # The units as installed: the socket, the state directory, ExecStartPre, ExecStart.
        svc = unit_settings(service)
        skt = unit_settings(socket_unit)
        listen = skt["ListenStream"][-1]
        t.ok(readme_socket == listen,
             "the socket unit's ListenStream (%s) is README's socket (%s)" % (listen, readme_socket))
        os.mkdir(state)
        os.chown(state, user.pw_uid, user.pw_gid)
        os.chmod(state, int(svc.get("StateDirectoryMode", ["0755"])[-1], 8))
        umask = int(svc.get("UMask", ["0022"])[-1], 8)
        pre = shlex.split(svc["ExecStartPre"][-1])
        r = subprocess.run(as_unit_user(svc, under_root(pre, root, conf)), capture_output=True,
                           text=True, umask=umask, timeout=60)
        if not t.ok(r.returncode == 0, "ExecStartPre (%s) passes as %s" %
                    (" ".join(pre[1:]), user.pw_name)):
            t.diag((r.stdout + r.stderr)[-2000:])

        start = shlex.split(svc["ExecStart"][-1])
        act_log = open(fx.log, "a")
        act = subprocess.Popen(["systemd-socket-activate", "-l", sock] +
                               as_unit_user(svc, under_root(start, root, conf)),
                               stdout=act_log, stderr=subprocess.STDOUT, umask=umask)
        act_log.close()
        reply = ""
        deadline = time.time() + 20
        while time.time() < deadline and act.poll() is None:
            if os.path.exists(sock):
                try:
                    s = socket.socket(socket.AF_UNIX)
                    s.connect(sock)
                    s.sendall(netstring(("account %s" % app).encode()))
                    reply = read_netstring(s, timeout=30)
                    s.close()
                    break
                except OSError:
                    pass
            time.sleep(0.1)
        m = re.match(r"^OK login=(\S+) expires=\d+ token=(\S+)$", reply)
        if not t.ok(m is not None, "the daemon, started as the units start it, serves an "
                    "app-only token for %s (%s)" % (app, reply.split(" token=")[0][:200])):
            t.diag(fx.logtext()[-2000:])
        if m:
            data = urllib.parse.urlencode({"token": m.group(2)}).encode()
            with urllib.request.urlopen("https://127.0.0.1:%d/introspect" % fx.port, data=data,
                                        context=fx.ssl, timeout=10) as resp:
                info = json.loads(resp.read())
            t.ok(info.get("active") is True, "the mock reports the token active")
        # As systemd would, give the socket the socket unit's owner, group and
        # mode; then Postfix's user, which README's allow_users names, asks.
        sock_user = skt.get("SocketUser", ["root"])[-1]
        sock_group = skt.get("SocketGroup", ["root"])[-1]
        os.chown(sock, pwd.getpwnam(sock_user).pw_uid, grp.getgrnam(sock_group).gr_gid)
        os.chmod(sock, int(skt.get("SocketMode", ["0666"])[-1], 8))
        r = subprocess.run(["setpriv", "--reuid=postfix", "--regid=postfix", "--clear-groups",
                            sys.executable, "-c", CLIENT, sock, "account " + app],
                           capture_output=True, text=True, timeout=60)
        t.ok(r.stdout.startswith("OK login="),
             "user postfix (README's allow_users, the socket unit's SocketGroup=%s) gets it "
             "through the socket (%s)" % (sock_group, (r.stdout + r.stderr).strip()[:120]))
        r = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                            sys.executable, "-c", CLIENT, sock, "account " + app],
                           capture_output=True, text=True, timeout=60)
        t.ok("OK login=" not in r.stdout and "Permission denied" in r.stdout + r.stderr,
             "user nobody cannot even connect (socket mode %s)" % skt.get("SocketMode", ["?"])[-1])
        uid = None
        if act.poll() is None:
            for line in open("/proc/%d/status" % act.pid):
                if line.startswith("Uid:"):
                    uid = int(line.split()[1])
        t.ok(uid == user.pw_uid, "the daemon runs as %s (uid %s)" % (user.pw_name, uid))
        t.ok("using the socket passed by systemd" in fx.logtext(),
             "on the socket systemd-socket-activate passed it")
    except Exception as e:  # noqa: BLE001 - a crash is a failure
        t.ok(False, "test crashed: %s" % e)
        t.diag(fx.logtext()[-3000:])
    finally:
        if act is not None and act.poll() is None:
            act.terminate()
            try:
                act.wait(10)
            except subprocess.TimeoutExpired:
                act.kill()
                act.wait()
        leaks = fx.leak_check()
        t.ok(not leaks, "no token or secret in any log (%s)" % (", ".join(leaks) or "none"))
        fx.close()
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
