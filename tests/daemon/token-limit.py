#!/usr/bin/env python3
"""token-limit.py - the largest access token, PROTOCOL_MAX_TOKEN (16,384
characters), goes whole through the daemon, the socket and the CLI; one
character more is refused with a message naming the limit, never cut
short (TAP)

The mock issues tokens of the length asked for. alice's are 16,384
characters: the daemon's "token" and "account" replies carry them whole,
and the CLI prints them raw, as JSON, and as the base64 XOAUTH2 response.
bob's are 16,385: the daemon answers TEMP with a reason that names the
length and the limit, "token" exits 75 (EX_TEMPFAIL) saying the same,
"status" shows it, and no part of the token is served anywhere.
"""

import base64
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixture import Fixture, Tap  # noqa: E402

LIMIT = 16384


def test_at_the_limit(t, fx):
    fx.settings(token_length=LIMIT)
    fx.import_rt("alice@contoso.test")
    fx.start()
    reply = fx.ask("token", "alice@contoso.test")
    t.ok(reply.startswith("OK ") and len(reply) - 3 == LIMIT,
         "token request: OK with all %d characters (got %d)" % (LIMIT, len(reply) - 3))
    token = reply[3:]
    reply = fx.ask("account", "alice@contoso.test")
    m = re.match(r"^OK login=(\S+) expires=(\d+) token=(\S+)$", reply)
    t.ok(m is not None and m.group(3) == token,
         "account request: the same token, whole, with login and expiry")
    r = fx.cli("token", "alice@contoso.test")
    t.ok(r.returncode == 0 and r.stdout.strip() == token, "CLI token: prints it whole")
    r = fx.cli("token", "alice@contoso.test", "--format", "json")
    ok = False
    if r.returncode == 0:
        try:
            ok = json.loads(r.stdout).get("access_token") == token
        except ValueError:
            ok = False
    t.ok(ok, "CLI token --format json: the whole token")
    r = fx.cli("token", "alice@contoso.test", "--format", "xoauth2")
    want = "user=alice@contoso.test\x01auth=Bearer %s\x01\x01" % token
    got = ""
    if r.returncode == 0:
        try:
            got = base64.b64decode(r.stdout.strip(), validate=True).decode()
        except ValueError:
            got = ""
    t.ok(got == want, "CLI token --format xoauth2: base64 of the whole response (%d bytes)"
         % len(r.stdout.strip()))


def test_over_the_limit(t, fx):
    fx.settings(token_length=LIMIT + 1)
    fx.import_rt("bob@contoso.test")
    fx.stop()
    fx.start()
    reply = fx.ask("token", "bob@contoso.test")
    t.ok(reply.startswith("TEMP "), "token request for a token over the limit: TEMP")
    t.ok(str(LIMIT + 1) in reply and str(LIMIT) in reply,
         "the reason names the token's length and the limit: %s" % reply[:200])
    r = fx.cli("token", "bob@contoso.test")
    t.ok(r.returncode == 75 and r.stdout == "", "CLI token: exit 75, nothing on stdout")
    t.ok(str(LIMIT + 1) in r.stderr and str(LIMIT) in r.stderr,
         "CLI token: the message names the length and the limit")
    r = fx.cli("status", "bob@contoso.test")
    t.ok(str(LIMIT) in r.stdout + r.stderr, "status shows why there is no token")
    t.ok(re.search(r"account=bob@contoso\.test.*%d" % LIMIT, fx.logtext()) is not None,
         "the daemon logs it for the account")
    t.ok(fx.ask("token", "alice@contoso.test").startswith("OK "),
         "the other account is still served")


def main():
    t = Tap()
    fx = Fixture(accounts=("alice@contoso.test", "bob@contoso.test"))
    with fx.suite(t):
        test_at_the_limit(t, fx)
        test_over_the_limit(t, fx)
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
