#!/usr/bin/env python3
"""privsep.py - run as root, the CLI does its network work as the daemon's
user, and nothing of ours leaves a core dump (issue 9, items 6 and 12) (TAP)

- "token" without a daemon, "authorize --device" and "authorize --browser"
  run as root: while the request to the identity platform hangs (the mock's
  "hang" fault) or the listener waits, the process is the daemon's user
  (the owner of state_dir, as systemd's StateDirectory= makes it, or
  "user ="), not uid 0; what they store belongs to that user; a state_dir
  owned by another user is refused (state_prepare_dir), not handed over;
- every command is non-dumpable with RLIMIT_CORE 0;
- the daemon started as its own user (as the systemd unit starts it), core
  dumps enabled in its environment, holding a token: non-dumpable, and a
  SIGABRT leaves no core.
"""

import os
import pwd
import resource
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixture import HELPER, Fixture, Tap, wait_for  # noqa: E402
from flows import Flow, authorize_url, state_file, user_code  # noqa: E402

ALICE = "alice@contoso.test"
BOB = "bob@contoso.test"
CAROL = "carol@contoso.test"
NOBODY = pwd.getpwnam("nobody")


def proc_ids(pid):
    """proc_ids - the Uid and Gid lines of /proc/PID/status: ([r, e, s, fs], [r, e, s, fs])"""
    uids = gids = None
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("Uid:"):
                uids = [int(x) for x in line.split()[1:]]
            elif line.startswith("Gid:"):
                gids = [int(x) for x in line.split()[1:]]
    return uids, gids


def core_limit(pid):
    """core_limit - soft and hard "Max core file size" of /proc/PID/limits, as text"""
    with open("/proc/%d/limits" % pid) as f:
        for line in f:
            if line.startswith("Max core file size"):
                return line.split()[4:6]
    return None


def non_dumpable(pid):
    """non_dumpable - the kernel gives a non-dumpable process's /proc/PID/* files to root"""
    return os.stat("/proc/%d/status" % pid).st_uid == 0


def as_daemon_user(t, fx, pid, what):
    """as_daemon_user - pid runs as nobody for good, and cannot dump core"""
    uids, gids = proc_ids(pid)
    t.ok(uids == [NOBODY.pw_uid] * 4 and gids == [NOBODY.pw_gid] * 4,
         "%s runs as the daemon's user, not root (Uid %s, Gid %s)" % (what, uids, gids))
    t.ok(core_limit(pid) == ["0", "0"] and non_dumpable(pid),
         "%s: RLIMIT_CORE 0 (%s) and not dumpable" % (what, core_limit(pid)))


def test_token(t, fx):
    """token, no daemon, as root: the refresh over HTTPS runs as the state_dir's owner"""
    fx.import_rt(ALICE)
    st = os.stat(state_file(fx, ALICE))
    t.ok(st.st_uid == NOBODY.pw_uid,
         "import as root writes the state file as the daemon's user (uid %d)" % st.st_uid)
    hung = fx.token_requests("fault_hang")
    fx.settings(fault="hang")
    p = subprocess.Popen([HELPER, "-c", fx.conf, "token", ALICE], stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True)
    try:
        t.ok(wait_for(lambda: fx.token_requests("fault_hang") > hung, 20),
             "token without a daemon: the refresh reaches the (hanging) mock")
        as_daemon_user(t, fx, p.pid, "token's refresh")
    finally:
        p.kill()
        fx.stderr_seen.append(p.communicate()[1])
        fx.settings(fault="none")
    r = fx.cli("token", ALICE)
    t.ok(r.returncode == 0 and r.stdout.strip() != "",
         "then the refresh works (%d) %s" % (r.returncode, r.stderr.strip()[-200:]))
    st = os.stat(state_file(fx, ALICE))
    t.ok(st.st_uid == NOBODY.pw_uid and st.st_mode & 0o077 == 0,
         "the rotated refresh token is stored by the daemon's user, mode 0600")
    t.ok(not [n for n in os.listdir(fx.state)
              if os.stat(os.path.join(fx.state, n)).st_uid != NOBODY.pw_uid],
         "nothing in state_dir belongs to root (locks included)")


def test_device(t, fx):
    """authorize --device as root: polls the token endpoint as the daemon's user"""
    hung = fx.token_requests("fault_hang")
    fx.settings(fault="hang")
    f = Flow(fx, BOB, "--device")
    try:
        code = user_code(f)
        t.ok(code is not None and wait_for(lambda: fx.token_requests("fault_hang") > hung, 20),
             "authorize --device shows a code and polls the (hanging) mock")
        as_daemon_user(t, fx, f.p.pid, "authorize --device")
    finally:
        f.p.send_signal(signal.SIGINT)
        f.finish()
        fx.settings(fault="none")
    f = Flow(fx, BOB, "--device")
    code = user_code(f)
    fx.mockctl("device", "approve", "--user-code", code or "", "--user", BOB)
    rc = f.finish()
    st = os.stat(state_file(fx, BOB)) if os.path.exists(state_file(fx, BOB)) else None
    t.ok(rc == 0 and st is not None and st.st_uid == NOBODY.pw_uid,
         "authorize --device as root: signed in, stored by the daemon's user (%d) %s"
         % (rc, f.err.strip().splitlines()[-1:]))


def test_browser(t, fx):
    """authorize --browser as root: the listener and its parsing belong to the daemon's user"""
    f = Flow(fx, CAROL, "--browser", "--no-open", "--timeout", "30")
    url = authorize_url(f)
    try:
        t.ok(url is not None, "authorize --browser prints the sign-in address")
        as_daemon_user(t, fx, f.p.pid, "authorize --browser's listener")
    finally:
        f.p.send_signal(signal.SIGINT)
        f.finish()


def test_user_setting(t, fx):
    """with user = nobody and no state_dir yet: created for that user, work done as it"""
    fresh = os.path.join(fx.dir, "state-fresh")
    conf = os.path.join(fx.dir, "user.conf")
    with open(fx.conf) as src, open(conf, "w") as dst:
        dst.write("user = nobody\n" + src.read().replace(fx.state, fresh))
    r = subprocess.run([HELPER, "-c", conf, "import", ALICE], input=fx.grant(ALICE) + "\n",
                       capture_output=True, text=True, timeout=60)
    fx.stderr_seen += [r.stdout, r.stderr]
    st = os.stat(fresh) if os.path.isdir(fresh) else None
    t.ok(r.returncode == 0 and st is not None and st.st_uid == NOBODY.pw_uid and
         st.st_mode & 0o777 == 0o700 and
         os.stat(os.path.join(fresh, ALICE + ".state")).st_uid == NOBODY.pw_uid,
         "user = nobody: state_dir created 0700 for nobody, the state file is nobody's (%d) %s"
         % (r.returncode, r.stderr.strip()[-200:]))
    hung = fx.token_requests("fault_hang")
    fx.settings(fault="hang")
    p = subprocess.Popen([HELPER, "-c", conf, "token", ALICE], stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: fx.token_requests("fault_hang") > hung, 20)
        as_daemon_user(t, fx, p.pid, "token with user = nobody")
    finally:
        p.kill()
        fx.stderr_seen.append(p.communicate()[1])
        fx.settings(fault="none")


def test_foreign_state_dir(t, fx):
    """user = nobody, state_dir owned by another user: refused, not taken over"""
    other = pwd.getpwnam("daemon")
    foreign = os.path.join(fx.dir, "state-foreign")
    os.mkdir(foreign, 0o700)
    os.chown(foreign, other.pw_uid, other.pw_gid)
    conf = os.path.join(fx.dir, "foreign.conf")
    with open(fx.conf) as src, open(conf, "w") as dst:
        dst.write("user = nobody\n" + src.read().replace(fx.state, foreign))
    r = subprocess.run([HELPER, "-c", conf, "import", ALICE], input=fx.grant(ALICE) + "\n",
                       capture_output=True, text=True, timeout=60)
    fx.stderr_seen += [r.stdout, r.stderr]
    t.ok(r.returncode == 78 and "owned by daemon" in r.stderr and
         os.stat(foreign).st_uid == other.pw_uid and os.listdir(foreign) == [],
         "import as root, user = nobody, state_dir owned by daemon: refused with the fix, "
         "the directory keeps its owner and gets no file (%d) %s"
         % (r.returncode, r.stderr.strip()[-200:]))


def test_daemon_core(t, fx):
    """the daemon started as its own user, core dumps on, holding a token: SIGABRT, no core"""
    cores = os.path.join(fx.dir, "cores")
    os.mkdir(cores, 0o700)
    os.chown(cores, NOBODY.pw_uid, NOBODY.pw_gid)
    pattern = open("/proc/sys/kernel/core_pattern").read().strip()
    # Core dumps on, as far as this environment allows (inherited by the daemon).
    _, hard = resource.getrlimit(resource.RLIMIT_CORE)
    try:
        resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY,) * 2)
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_CORE, (hard, hard))
    t.diag("core dumps in the environment: %s; core_pattern %r"
           % (resource.getrlimit(resource.RLIMIT_CORE), pattern))
    fx.start(wrapper=["setpriv", "--reuid=%d" % NOBODY.pw_uid, "--regid=%d" % NOBODY.pw_gid,
                      "--clear-groups", "env", "-C", cores], helper=fx.reachable_helper())
    pid = fx.daemon.pid
    t.ok(fx.ask("account", ALICE).startswith("OK "), "the daemon (uid nobody) holds a token")
    uids, _ = proc_ids(pid)
    t.ok(uids == [NOBODY.pw_uid] * 4, "it runs as its own user, like the unit (Uid %s)" % uids)
    t.ok(core_limit(pid) == ["0", "0"],
         "though started with core dumps unlimited, RLIMIT_CORE is 0 (%s)" % core_limit(pid))
    t.ok(non_dumpable(pid), "and it is not dumpable (/proc/%d/status belongs to root)" % pid)
    os.kill(pid, signal.SIGABRT)
    _, status = os.waitpid(pid, 0)
    fx.daemon = None
    t.ok(os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGABRT and
         not os.WCOREDUMP(status),
         "SIGABRT kills it without a core dump (core_pattern %r)" % pattern)
    t.ok(os.listdir(cores) == [], "no core file in its working directory (%s)"
         % os.listdir(cores))


def main():
    t = Tap()
    fx = Fixture(accounts=(ALICE, BOB, CAROL))
    with fx.suite(t):
        fx.mockctl("register", "--client-id", "00000000-0000-0000-0000-00000000a11c",
                   "--tenant", "contoso.test")
        fx.settings(device_interval=1)
        # What systemd's StateDirectory= makes for the unit's User=; the CA readable by it.
        os.mkdir(fx.state, 0o700)
        os.chown(fx.state, NOBODY.pw_uid, NOBODY.pw_gid)
        os.chmod(os.path.dirname(fx.ca), 0o755)
        run = os.path.join(fx.dir, "run")
        os.mkdir(run, 0o755)
        os.chown(run, NOBODY.pw_uid, NOBODY.pw_gid)
        fx.sock = os.path.join(run, "helper.sock")
        fx.write_config()
        test_token(t, fx)
        test_device(t, fx)
        test_browser(t, fx)
        test_user_setting(t, fx)
        test_foreign_state_dir(t, fx)
        test_daemon_core(t, fx)
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
