#!/usr/bin/env python3
"""authorize-device.py - "authorize --device" against the mock: the user
approves (the running daemon picks the token up at once), the platform
asks to slow down, the user declines, the code expires (at the platform and
locally), Ctrl-C, public client flows disabled, consent missing, a tenant
of another cloud (TAP)"""

import glob
import os
import re
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixture import CLIENT_ID, Fixture, Tap  # noqa: E402
from flows import DEVICE, Flow, grant_stat, state_file, user_code  # noqa: E402

ALICE = "alice@contoso.test"
BOB = "bob@contoso.test"
CAROL = "carol@contoso.test"
DAVE = "dave@contoso.test"
ERIN = "erin@contoso.test"
FRANK = "frank@contoso.test"


def wait_stat(fx, grant, outcome, n, timeout=20):
    """wait_stat - until the mock counted n such replies; the last count"""
    deadline = time.time() + timeout
    got = grant_stat(fx, grant, outcome)
    while got < n and time.time() < deadline:
        time.sleep(0.3)
        got = grant_stat(fx, grant, outcome)
    return got


def test_approve(t, fx):
    f = Flow(fx, ALICE)  # no display: the device flow is the default
    code = user_code(f)
    t.ok(code is not None and re.match(r"^[A-Z0-9]{6,12}$", code),
         "the user code is shown (%s)" % code)
    t.ok("https://127.0.0.1:%d/devicelogin" % fx.port in f.out,
         "with the verification URL the platform gave")
    t.ok(wait_stat(fx, DEVICE, "device_pending", 2) >= 2,
         "the helper polls while the sign-in is pending")
    fx.mockctl("device", "approve", "--user-code", code, "--user", ALICE)
    rc = f.finish()
    t.ok(rc == 0, "approved: exit 0 (%d) %s" % (rc, f.err.strip()[-300:]))
    t.ok("waiting for the sign-in" in f.err, "progress is shown while waiting")
    t.ok("the running daemon picked it up" in f.out, "the running daemon is told (reload)")
    t.ok(os.stat(state_file(fx, ALICE)).st_mode & 0o077 == 0, "the state file is private")
    t.ok(grant_stat(fx, DEVICE, "device_too_fast") == 0, "never polled faster than the interval")
    reply = fx.ask("account", ALICE)
    t.ok(reply.startswith("OK login=%s " % ALICE), "the daemon serves a token for the account")
    t.ok(grant_stat(fx, "refresh_token", "ok") == 0,
         "it serves the token from the sign-in, without another request")
    t.ok("account=%s: state reloaded" % ALICE in fx.logtext(), "the daemon logged the reload")


def test_slow_down(t, fx):
    fx.settings(device_slow_down=1)
    f = Flow(fx, BOB, "--device")
    code = user_code(f)
    t.ok(wait_stat(fx, DEVICE, "device_slow_down", 1) == 1, "the platform says slow_down")
    t0 = time.time()
    pending = grant_stat(fx, DEVICE, "device_pending")
    wait_stat(fx, DEVICE, "device_pending", pending + 1)
    gap = time.time() - t0
    t.ok(gap >= 5, "the next poll comes 1 + 5 s later (%.1fs)" % gap)
    fx.mockctl("device", "approve", "--user-code", code, "--user", BOB)
    rc = f.finish()
    t.ok(rc == 0, "after slow_down the flow still completes (%d)" % rc)
    t.ok("poll more slowly: every 6s" in f.err, "the helper says it polls every 6 s now")
    t.ok(grant_stat(fx, DEVICE, "device_too_fast") == 0,
         "and keeps to it (no poll came too soon)")


def test_declined(t, fx):
    f = Flow(fx, CAROL, "--device")
    code = user_code(f)
    fx.mockctl("device", "decline", "--user-code", code, "--user", CAROL)
    rc = f.finish()
    t.ok(rc == 69 and "declined" in f.err and "nothing stored" in f.err,
         "declined: exit 69, says so: %s" % f.err.strip().splitlines()[-1:])
    t.ok(not os.path.exists(state_file(fx, CAROL)), "declined: nothing stored")


def test_expired(t, fx):
    f = Flow(fx, DAVE, "--device")
    code = user_code(f)
    fx.mockctl("device", "expire", "--user-code", code)
    rc = f.finish()
    t.ok(rc == 69 and "expired" in f.err and "Run authorize again" in f.err,
         "expired_token from the platform: exit 69, run again: %s"
         % f.err.strip().splitlines()[-1:])
    fx.settings(device_expires_in=2)
    t0 = time.time()
    f = Flow(fx, DAVE, "--device")
    rc = f.finish()
    t.ok(rc == 69 and "expired" in f.err and time.time() - t0 < 10,
         "a code that lapses while waiting ends the flow (%.1fs)" % (time.time() - t0))
    fx.settings(device_expires_in=900)
    t.ok(not os.path.exists(state_file(fx, DAVE)), "expired: nothing stored")


def test_interrupt(t, fx):
    f = Flow(fx, ERIN, "--device")
    user_code(f)
    time.sleep(0.5)
    f.p.send_signal(signal.SIGINT)
    rc = f.finish()
    t.ok(rc == 130 and "interrupted; nothing stored" in f.err,
         "Ctrl-C: exit 130, nothing stored (%d)" % rc)
    t.ok(not os.path.exists(state_file(fx, ERIN)) and not glob.glob(fx.state + "/*.tmp"),
         "no state file, no temporary file left")


def test_public_flows_disabled(t, fx):
    fx.mockctl("register", "--client-id", CLIENT_ID, "--no-public-flows")
    f = Flow(fx, ERIN, "--device")
    rc = f.finish()
    fx.mockctl("register", "--client-id", CLIENT_ID)
    t.ok(rc == 69 and "AADSTS7000218" in f.err and "Allow public client flows" in f.err,
         "public client flows disabled: the message names the switch: %s"
         % f.err.strip().splitlines()[-1:])


def test_consent_missing(t, fx):
    fx.settings(consent_missing="on")
    f = Flow(fx, ERIN, "--device")
    code = user_code(f)
    fx.mockctl("device", "approve", "--user-code", code, "--user", ERIN)
    rc = f.finish()
    fx.settings(consent_missing="off")
    t.ok(rc == 69 and "AADSTS65001" in f.err and "grant admin consent for SMTP.Send" in f.err,
         "consent missing: the message says to grant admin consent: %s"
         % f.err.strip().splitlines()[-1:])


def test_wrong_tenant(t, fx):
    f = Flow(fx, FRANK, "--device")
    rc = f.finish()
    t.ok(rc == 69 and "AADSTS90002" in f.err and "national clouds" in f.err,
         "a tenant unknown here (wrong cloud): AADSTS90002 with the fix: %s"
         % f.err.strip().splitlines()[-1:])


def main():
    t = Tap()
    fx = Fixture(accounts=(ALICE, BOB, CAROL, DAVE, ERIN))
    with fx.suite(t):
        with open(fx.conf, "a") as fh:
            fh.write("\n[account %s]\ntenant = fabrikam.test\nclient_id = %s\n"
                     "authority = https://127.0.0.1:%d\nca_file = %s\n"
                     % (FRANK, CLIENT_ID, fx.port, fx.ca))
        fx.mockctl("register", "--client-id", CLIENT_ID, "--tenant", "contoso.test")
        fx.settings(device_interval=1)
        fx.start()
        test_approve(t, fx)
        test_slow_down(t, fx)
        test_declined(t, fx)
        test_expired(t, fx)
        test_interrupt(t, fx)
        test_public_flows_disabled(t, fx)
        test_consent_missing(t, fx)
        test_wrong_tenant(t, fx)
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
