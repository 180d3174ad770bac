#!/usr/bin/env python3
"""crash.py - SIGKILL the daemon at random moments across hundreds of token
refreshes: every time, the state it leaves parses and every account still
refreshes without a new authorization (TAP)

ACCOUNTS accounts get 2-second tokens, so the daemon refreshes one of
them every few dozen milliseconds, rotating the refresh token each time.
The daemon is killed with SIGKILL after a random 0.05-0.8 s, KILLS times;
after each kill every state file must parse and hold a refresh token, and
the next start refreshes from it.

The mock runs with revoke_superseded: redeeming a refresh token revokes
every older one of its grant. A daemon that ever went back to an older
refresh token than one it had already used (a torn or stale save) would be
told "revoked" and need a person; the test requires that never to happen.
A refresh token the mock issued but the daemon never stored (killed
mid-request) is harmless: its parent is still valid.

CRASH_KILLS and CRASH_ACCOUNTS make the run longer or shorter.
"""

import json
import os
import random
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixture import Fixture, Tap  # noqa: E402

KILLS = int(os.environ.get("CRASH_KILLS", "120"))
ACCOUNTS = ["crash%02d@contoso.test" % i for i in range(int(os.environ.get("CRASH_ACCOUNTS", "16")))]


def state_problems(fx):
    """state_problems - accounts whose state file is missing, torn or without a refresh token"""
    bad = []
    for acct in ACCOUNTS:
        path = os.path.join(fx.state, acct + ".state")
        try:
            with open(path) as f:
                obj = json.load(f)
            if not isinstance(obj, dict) or not isinstance(obj.get("refresh_token"), str) \
                    or len(obj["refresh_token"]) < 16:
                bad.append("%s: no refresh token" % acct)
            elif "access_token" in obj and not (isinstance(obj.get("expires_at"), int)
                                                and isinstance(obj.get("obtained_at"), int)):
                bad.append("%s: access token without times" % acct)
        except (OSError, ValueError) as e:
            bad.append("%s: %s" % (acct, e.__class__.__name__))
    return bad


def main():
    t = Tap()
    rng = random.Random(int(os.environ.get("CRASH_SEED", "0")) or None)
    fx = Fixture(accounts=ACCOUNTS)
    with fx.suite(t):
        fx.settings(lifetime=2, revoke_superseded="on")
        for acct in ACCOUNTS:
            fx.import_rt(acct)
        torn = []
        perm = 0
        t0 = time.time()
        for k in range(KILLS):
            fx.start()
            time.sleep(rng.uniform(0.05, 0.8))
            fx.daemon.send_signal(signal.SIGKILL)
            fx.daemon.wait()
            fx.daemon = None
            bad = state_problems(fx)
            if bad:
                torn.append("kill %d: %s" % (k + 1, "; ".join(bad[:3])))
        elapsed = time.time() - t0
        log = fx.logtext()
        perm = log.count("needs a person") + log.count("refresh refused")
        ok = fx.token_requests("ok")
        t.diag("%d kills in %.0f s; %d refreshes succeeded at the mock" % (KILLS, elapsed, ok))
        t.ok(ok >= 3 * KILLS, "hundreds of refreshes across the kills (%d)" % ok)
        t.ok(not torn, "after every one of %d SIGKILLs every state file parses and holds a "
             "refresh token%s" % (KILLS, (": " + torn[0]) if torn else ""))
        revoked = fx.token_requests("revoked")
        t.ok(revoked == 0 and perm == 0,
             "no refresh ever used a superseded refresh token (revoked: %d, needs a person: %d)"
             % (revoked, perm))
        fx.settings(lifetime=3600)
        fx.start()
        replies = {a: fx.ask("token", a) for a in ACCOUNTS}
        good = [a for a, r in replies.items() if r.startswith("OK ")]
        t.ok(len(good) == len(ACCOUNTS),
             "after the last kill every account refreshes without a new authorization (%d/%d)"
             % (len(good), len(ACCOUNTS)))
        t.ok(fx.token_requests("revoked") == 0, "and the mock saw no revoked refresh token")
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
