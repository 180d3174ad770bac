"""flows.py - run "oauth2-token-helper authorize" in the background for a test

Used by the authorize tests next to it. A Flow reads the command's output
as it comes, so a test can wait for the printed URL or user code, act as
the user (through mockctl), and then collect the exit status. Output is
handed to Fixture.stderr_seen for the leak check; it is never printed.
"""

import os
import re
import subprocess
import threading
import time

from fixture import HELPER

DEVICE = "urn:ietf:params:oauth:grant-type:device_code"


class Flow:
    """Flow - one authorize command, its output collected by threads"""

    def __init__(self, fx, account, *args, stdin=False):
        env = dict(os.environ)
        # No display: the device flow is the default and nothing opens a browser.
        env.pop("DISPLAY", None)
        env.pop("WAYLAND_DISPLAY", None)
        self.fx = fx
        self.out = ""
        self.err = ""
        self.lock = threading.Lock()
        self.p = subprocess.Popen(
            [HELPER, "-c", fx.conf, "authorize", account] + list(args),
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        self.threads = [threading.Thread(target=self._read, args=(self.p.stdout, "out")),
                        threading.Thread(target=self._read, args=(self.p.stderr, "err"))]
        for th in self.threads:
            th.daemon = True
            th.start()

    def _read(self, stream, which):
        for line in stream:
            with self.lock:
                setattr(self, which, getattr(self, which) + line)

    def wait_for(self, pattern, timeout=15, where="out"):
        """wait_for - the first match of pattern in stdout (or stderr), or None"""
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self.lock:
                m = re.search(pattern, getattr(self, where))
            if m or self.p.poll() is not None:
                if m is None:
                    time.sleep(0.2)
                    with self.lock:
                        m = re.search(pattern, getattr(self, where))
                return m
            time.sleep(0.05)
        return None

    def send(self, line):
        """send - one line on the command's standard input"""
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()

    def finish(self, timeout=30):
        """finish - wait for the exit status (killing it after timeout)"""
        try:
            rc = self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            rc = self.p.wait()
        for th in self.threads:
            th.join(5)
        self.fx.stderr_seen += [self.out, self.err]
        return rc


def user_code(flow):
    """user_code - the code the device flow shows, or None"""
    m = flow.wait_for(r"enter the code\s+(\S+)")
    return m.group(1) if m else None


def authorize_url(flow):
    """authorize_url - the authorization URL the browser and paste flows print, or None"""
    m = flow.wait_for(r"(https://\S+/oauth2/v2\.0/authorize\?\S+)")
    return m.group(1) if m else None


def grant_stat(fx, grant, outcome):
    """grant_stat - token requests of one grant type with one outcome"""
    return fx.stats()["token_requests"]["by_grant"].get(grant, {}).get(outcome, 0)


def state_file(fx, account):
    """state_file - the account's state file path"""
    return os.path.join(fx.state, account + ".state")
