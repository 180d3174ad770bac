#!/usr/bin/env python3
"""status.py - status, check (Nagios conventions) and revoke, against a
running daemon and without one (TAP)"""

import datetime
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixture import Fixture, Tap  # noqa: E402

OK_ACC = "alice@contoso.test"
SOON = "bob@contoso.test"
URGENT = "carol@contoso.test"
REVOKED = "dave@contoso.test"


def in_days(n):
    return (datetime.date.today() + datetime.timedelta(days=n)).isoformat()


def main():
    t = Tap()
    fx = Fixture(accounts=(OK_ACC, SOON, URGENT, REVOKED))
    with fx.suite(t):
        # Give bob a secret that expires in 20 days and carol one in 3.
        text = open(fx.conf).read()
        text = text.replace("[account %s]\n" % SOON,
                            "[account %s]\nclient_secret_expires = %s\n" % (SOON, in_days(20)))
        text = text.replace("[account %s]\n" % URGENT,
                            "[account %s]\nclient_secret_expires = %s\n" % (URGENT, in_days(3)))
        open(fx.conf, "w").write(text)
        fx.start()
        for acc in (OK_ACC, SOON, URGENT):
            fx.import_rt(acc)
        fx.settings(fault="invalid_grant")
        fx.import_rt(REVOKED)
        t.ok(fx.ask("token", REVOKED).startswith("PERM "), "dave's grant is refused")
        fx.settings(fault="none")

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
        r = fx.cli("check")
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

        fx.stop()
        r = fx.cli("check", OK_ACC)
        t.ok(r.returncode == 2 and "not running" in r.stdout,
             "daemon stopped: check is CRITICAL and says so")
        r = fx.cli("status", SOON)
        t.ok(r.returncode == 0 and "not running" in r.stdout and "client secret" in r.stdout,
             "daemon stopped: status still reads the state files")
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
