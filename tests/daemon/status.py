#!/usr/bin/env python3
"""status.py - status, check (Nagios conventions) and revoke, against a
running daemon and without one (TAP)"""

import datetime
import json
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixture import HELPER, Fixture, Tap  # noqa: E402

OK_ACC = "alice@contoso.test"
SOON = "bob@contoso.test"
URGENT = "carol@contoso.test"
REVOKED = "dave@contoso.test"
LATE = "erin@contoso.test"        # added to the config while the daemon runs
NEVER = "frank@contoso.test"      # configured, never authorized
FLAKY = "grace@contoso.test"      # its refreshes fail for a while
APP = "app-only"                  # grant = client_credentials, with a client secret
APP_ID = "5ec2e7a0-0000-4000-8000-0000000000a9"
APP_SECRET = "a-client-secret-value-for-status"


def in_days(n):
    return (datetime.date.today() + datetime.timedelta(days=n)).isoformat()


def one_line_unknown(t, fx, args, want, what):
    """one_line_unknown - check's bad arguments: one UNKNOWN line with the fix, exit 3"""
    r = fx.cli("check", *args)
    lines = r.stdout.splitlines()
    if not t.ok(r.returncode == 3 and len(lines) == 1 and " UNKNOWN - " in lines[0]
                and want in lines[0], "%s (exit %d)" % (what, r.returncode)):
        t.diag(r.stdout + r.stderr)


def daemon_of(fx, account):
    """daemon_of - the "daemon" member of status --json for one account"""
    r = fx.cli("status", "--json", account)
    return json.loads(r.stdout)[0].get("daemon", {}) if r.returncode == 0 else {}


def test_unreloaded_account(t, fx):
    """an account added without a reload: the daemon runs, it just does not know it"""
    with open(fx.conf, "a") as fh:
        fh.write("\n".join(["", "[account %s]" % LATE, "tenant = contoso.test",
                             "client_id = 00000000-0000-0000-0000-00000000a11c",
                             "authority = https://127.0.0.1:%d" % fx.port,
                             "ca_file = %s" % fx.ca, ""]))
    fx.import_rt(LATE)
    r = fx.cli("status", LATE)
    if not t.ok(r.returncode == 0 and "not running" not in r.stdout
                and "does not know this account" in r.stdout
                and "systemctl reload oauth2-token-helper" in r.stdout
                and "kill -HUP %d" % fx.daemon.pid in r.stdout,
                "status: an account added without a reload is not 'daemon not running' but "
                "'reload it', with the daemon's pid"):
        t.diag(r.stdout)
    r = fx.cli("check", LATE)
    first = r.stdout.splitlines()[0] if r.stdout else ""
    if not t.ok(r.returncode == 2 and "not running" not in r.stdout
                and "does not know this account" in first and "reload" in first,
                "check: CRITICAL names the missing reload, not a stopped daemon"):
        t.diag(r.stdout)
    d = daemon_of(fx, LATE)
    t.ok(d.get("running") is True and d.get("knows_account") is False
         and d.get("pid") == fx.daemon.pid,
         "status --json: daemon running, does not know the account (%s)" % d)
    d = daemon_of(fx, OK_ACC)
    t.ok(d.get("running") is True and d.get("knows_account") is True,
         "status --json: daemon running and knows a configured account")
    r = fx.cli("check", OK_ACC, SOON)
    t.ok(r.returncode == 1, "the other accounts are still judged on their own (exit %d)"
         % r.returncode)
    r = fx.cli("revoke", LATE)
    t.ok(r.returncode == 0 and "removed from" in r.stdout
         and not os.path.exists(os.path.join(fx.state, LATE + ".state")),
         "revoke of an account the daemon does not know yet removes its state file, exit 0 "
         "(exit %d)" % r.returncode)
    fx.import_rt(LATE)
    fx.daemon.send_signal(1)
    deadline = time.time() + 10
    while time.time() < deadline and daemon_of(fx, LATE).get("knows_account") is not True:
        time.sleep(0.1)
    r = fx.cli("check", LATE)
    t.ok(r.returncode == 0, "after the reload the account is OK (exit %d)" % r.returncode)


def test_check_arguments(t, fx):
    """Nagios plugin guidelines: a bad argument is one UNKNOWN line with the fix, exit 3"""
    one_line_unknown(t, fx, ("-c", "/etc/oauth2-token-helper.conf"), "before the command",
                     "check -c FILE: says the config file option goes before the command")
    one_line_unknown(t, fx, ("-w", "abc"), "-w takes a whole number of days",
                     "check -w abc: says -w takes days")
    one_line_unknown(t, fx, ("-c", "7x"), "-c takes a whole number of days",
                     "check -c 7x: says -c takes days")
    one_line_unknown(t, fx, ("-w",), "-w needs a number of days", "check -w without a value")
    one_line_unknown(t, fx, ("--bogus",), "unknown option --bogus", "check --bogus")
    one_line_unknown(t, fx, ("-w", "3", "-c", "7"), "must be at least",
                     "check -w below -c is refused")
    one_line_unknown(t, fx, ("nobody@contoso.test",), "nobody@contoso.test is not in",
                     "check of an unknown account names it on its one line")
    missing = os.path.join(fx.dir, "missing.conf")
    r = subprocess.run([HELPER, "-c", missing, "check"], capture_output=True, text=True)
    t.ok(r.returncode == 3 and len(r.stdout.splitlines()) == 1
         and r.stdout.startswith("OAUTH2 UNKNOWN - %s" % missing),
         "check with a config it cannot read: one UNKNOWN line naming the file")


def test_times(t, fx):
    """past events read "... ago" or "just now", never "in 0s"; a held token is not "never" """
    r = fx.cli("status", OK_ACC)
    if not t.ok(r.returncode == 0 and not re.search(r"\(in 0", r.stdout)
                and re.search(r"last refresh: +\S+ \S+ UTC \((just now|\d+ seconds? ago)\)",
                              r.stdout),
                "status: a refresh that just happened reads 'just now' or 'N seconds ago'"):
        t.diag(r.stdout)
    t.ok(re.search(r"access token: +expires .*\(in \d+ (minutes?|hours?)[^)]*\), obtained .*"
                   r"\((just now|\d+ seconds? ago)\)", r.stdout) is not None,
         "status: the access token's expiry and when it was obtained")
    fx.stop()
    fx.start()
    r = fx.cli("status", OK_ACC)
    if not t.ok(r.returncode == 0 and "last refresh:     never" not in r.stdout
                and re.search(r"last refresh: +none recorded; the token held was obtained "
                              r".*\((just now|\d+ seconds? ago)\)", r.stdout),
                "status after a daemon restart, token held: not 'last refresh: never' but "
                "when the token was obtained"):
        t.diag(r.stdout)


def test_refresh_failing(t, fx):
    """check names a failing refresh once, not "refresh failing: refresh failing: ..." """
    fx.settings(fault="http500")
    fx.import_rt(FLAKY)
    deadline = time.time() + 15
    r = fx.cli("check", FLAKY)
    while time.time() < deadline and "refresh failing" not in r.stdout:
        time.sleep(0.2)
        r = fx.cli("check", FLAKY)
    fx.settings(fault="none")
    if not t.ok(r.returncode == 2 and "refresh failing" in r.stdout
                and "refresh failing: refresh failing" not in r.stdout,
                "check: a failing refresh is named once (exit %d)" % r.returncode):
        t.diag(r.stdout)


def test_revoke_messages(t, fx):
    """revoke says what it did: nothing stored, or only a cached app-only token dropped"""
    r = fx.cli("revoke", NEVER)
    if not t.ok(r.returncode == 0 and "nothing was stored" in r.stdout
                and "removed" not in r.stdout and "no longer get tokens" not in r.stdout,
                "revoke of a never-authorized account says nothing was stored"):
        t.diag(r.stdout)
    reply = fx.ask("token", APP)
    t.ok(reply.startswith("OK "), "the app-only account gets a token from its secret")
    r = fx.cli("revoke", APP)
    if not t.ok(r.returncode == 0 and "no longer get tokens" not in r.stdout
                and "cached" in r.stdout and "client_secret_file" in r.stdout
                and "Certificates & secrets" in r.stdout and "consent" in r.stdout,
                "revoke of an app-only account: only the cached token was dropped, and how "
                "to really stop it"):
        t.diag(r.stdout)
    t.ok(fx.ask("token", APP).startswith("OK "),
         "and indeed the app-only account gets a new token at once")


def main():
    t = Tap()
    fx = Fixture(accounts=(OK_ACC, SOON, URGENT, REVOKED, NEVER, FLAKY))
    with fx.suite(t):
        # Give bob a secret that expires in 20 days and carol one in 3.
        text = open(fx.conf).read()
        text = text.replace("[account %s]\n" % SOON,
                            "[account %s]\nclient_secret_expires = %s\n" % (SOON, in_days(20)))
        text = text.replace("[account %s]\n" % URGENT,
                            "[account %s]\nclient_secret_expires = %s\n" % (URGENT, in_days(3)))
        secret = os.path.join(fx.dir, "app.secret")
        with open(secret, "w") as fh:
            fh.write(APP_SECRET + "\n")
        os.chmod(secret, 0o600)
        text += "\n".join(["", "[account %s]" % APP, "grant = client_credentials",
                           "tenant = contoso.test", "client_id = %s" % APP_ID,
                           "login = relay@contoso.test", "client_secret_file = %s" % secret,
                           "authority = https://127.0.0.1:%d" % fx.port, "ca_file = %s" % fx.ca,
                           ""])
        open(fx.conf, "w").write(text)
        fx.mockctl("register", "--client-id", APP_ID, "--client-secret", APP_SECRET,
                   "--mailbox", "relay@contoso.test")
        fx.start()
        for acc in (OK_ACC, SOON, URGENT):
            fx.import_rt(acc)
        fx.settings(fault="invalid_grant")
        fx.import_rt(REVOKED)
        t.ok(fx.ask("token", REVOKED).startswith("PERM "), "dave's grant is refused")
        fx.settings(fault="none")

        test_check_arguments(t, fx)
        r = fx.cli("check", OK_ACC)
        t.ok(r.returncode == 0 and r.stdout.startswith("OAUTH2 OK - 1 account can get tokens |"),
             "check, healthy account: exit 0, one-line summary with perfdata")
        r = fx.cli("check", SOON)
        t.ok(r.returncode == 1 and re.search(r"client secret expires in (19|20) days",
                                             r.stdout.splitlines()[0]) is not None,
             "secret expiring in 20 days: WARNING (exit %d)" % r.returncode)
        t.ok(re.search(r"min_days_left=(19|20);30;7", r.stdout) is not None,
             "perfdata carries days left with the thresholds")
        r = fx.cli("check", "-w", "10", "-c", "5", SOON)
        t.ok(r.returncode == 0, "thresholds are configurable (-w 10 -c 5: OK)")
        r = fx.cli("check", URGENT)
        t.ok(r.returncode == 2 and "client secret expires in" in r.stdout,
             "secret expiring in 3 days: CRITICAL")
        r = fx.cli("check", REVOKED)
        t.ok(r.returncode == 2 and "cannot get a token" in r.stdout and "AADSTS70008" in r.stdout,
             "revoked refresh token: CRITICAL, naming AADSTS70008")
        r = fx.cli("check", OK_ACC, SOON, URGENT, REVOKED)
        t.ok(r.returncode == 2 and "accounts=4 ok=1 warning=1 critical=2" in r.stdout,
             "all accounts: worst wins, counts in perfdata")
        t.ok(len(r.stdout.splitlines()) == 5, "one summary line and one line per account")

        r = fx.cli("status", REVOKED)
        t.ok(r.returncode == 0 and "AADSTS70008:" in r.stdout and "import" in r.stdout,
             "status shows the last Entra error with its meaning")
        r = fx.cli("status", "--json", SOON)
        t.ok(r.returncode == 0 and '"client_secret_expires_at"' in r.stdout
             and '"last_result":"ok"' in r.stdout.replace(" ", ""),
             "status --json carries expiries and the last result")
        t.ok("eyJ" not in r.stdout and "0.A" not in r.stdout, "status shows no token")
        r = fx.cli("status", "nobody@contoso.test")
        t.ok(r.returncode != 0 and "nobody@contoso.test is not in" in r.stderr,
             "status of an unknown account names it")
        r = fx.cli("revoke", "nobody@contoso.test")
        t.ok(r.returncode == 67 and "nobody@contoso.test is not in" in r.stderr,
             "revoke of an unknown account names it (exit %d)" % r.returncode)

        r = fx.cli("revoke", OK_ACC)
        t.ok(r.returncode == 0 and "dropped its tokens" in r.stdout and "Revoke" in r.stdout,
             "revoke: the daemon drops the tokens, and the output says how to revoke in Entra")
        reply = fx.ask("token", OK_ACC)
        t.ok(reply.startswith("PERM ") and "import" in reply,
             "a revoked account gets PERM at once, naming the fix")
        t.ok(not os.path.exists(os.path.join(fx.state, OK_ACC + ".state")),
             "its state file is gone")
        fx.import_rt(OK_ACC)
        t.ok(fx.ask("token", OK_ACC).startswith("OK "), "a new import brings it back")
        test_times(t, fx)
        test_unreloaded_account(t, fx)
        test_refresh_failing(t, fx)
        test_revoke_messages(t, fx)

        fx.stop()
        r = fx.cli("check", OK_ACC)
        t.ok(r.returncode == 2 and "not running" in r.stdout,
             "daemon stopped: check is CRITICAL and says so")
        d = daemon_of(fx, OK_ACC)
        t.ok(d.get("running") is False and d.get("knows_account") is None,
             "status --json: daemon not running, whether it knows the account is unknown")
        r = fx.cli("status", SOON)
        t.ok(r.returncode == 0 and "not running" in r.stdout and "client secret" in r.stdout,
             "daemon stopped: status still reads the state files")
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
