#!/usr/bin/env python3
"""outage.py - the identity platform throttles (429 with Retry-After) while
a token is still valid: the daemon keeps serving it, honours Retry-After,
answers TEMP once the token is too old, and recovers by itself (TAP)

Timeline with 90-second tokens and refresh_ahead 600: a token is handed
out while it has 45 s left, the refresh timer fires ~41 s after issue, and
during an outage the token is still served until 30 s before expiry.
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixture import Fixture, Tap  # noqa: E402

ACCOUNT = "alice@contoso.test"


def wait_until(t0, offset):
    delay = t0 + offset - time.time()
    if delay > 0:
        time.sleep(delay)


def main():
    t = Tap()
    fx = Fixture(accounts=(ACCOUNT,))
    with fx.suite(t):
        fx.start()
        fx.settings(lifetime=90)
        fx.import_rt(ACCOUNT)
        t0 = time.time()
        first = fx.ask("token", ACCOUNT)
        t.ok(first.startswith("OK "), "a 90-second token is served")
        fx.settings(fault="http429", retry_after=12)
        wait_until(t0, 50)
        reply = fx.ask("token", ACCOUNT)
        t.ok(reply == first, "during the outage, past the refresh point, the valid token is "
             "still served")
        t.ok("still serving the current token" in fx.logtext(),
             "the log says the refresh failed and the current token is still served")
        wait_until(t0, 58)
        throttled = fx.token_requests("fault_http429")
        t.ok(1 <= throttled <= 2,
             "Retry-After: 12 is honoured: %d throttled attempts in the first 17 s" % throttled)
        wait_until(t0, 62)
        reply = fx.ask("token", ACCOUNT)
        t.ok(reply.startswith("TEMP ") and "refresh failing" in reply and "AADSTS50196" in reply,
             "with under 30 s left the token is withheld: TEMP with the reason")
        t.ok(first[3:] not in reply, "the TEMP reason carries no token")
        fx.settings(fault="none")
        deadline = time.time() + 40
        while time.time() < deadline:
            reply = fx.ask("token", ACCOUNT)
            if reply.startswith("OK "):
                break
            time.sleep(1)
        t.ok(reply.startswith("OK ") and reply != first,
             "after the outage the daemon refreshes by itself and serves a new token")
        total = fx.token_requests()
        t.ok(total <= 6, "a bounded number of requests overall (%d)" % total)
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
