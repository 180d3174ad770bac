#!/usr/bin/env python3
"""outage_modes.py - the identity platform fails in every way at once, one
account per failure mode, around a refresh: the daemon keeps serving the
valid token, then answers TEMP (or PERM for a revoked grant), sends a
bounded number of requests (exponential backoff with jitter, Retry-After
honoured), and recovers by itself once the platform does (TAP)

Modes: HTTP 500, HTTP 429 with Retry-After, a hung connection, HTML instead
of JSON, a truncated reply, a TLS handshake with an untrusted certificate,
invalid_grant. Tokens live 70 s: with refresh_ahead 600 a token is handed
out while it has 35 s left, its refresh starts 38 s before expiry, and
while refreshes fail it is still served until 30 s before expiry.
"""

import os
import re
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixture import Fixture, Tap  # noqa: E402

LIFETIME = 70
RETRY_AFTER = 15
MODES = {
    "m500@contoso.test": "http500",
    "m429@contoso.test": "http429",
    "hang@contoso.test": "hang",
    "garbage@contoso.test": "garbage",
    "trunc@contoso.test": "truncated",
    "tls@contoso.test": "tls_untrusted",
    "grant@contoso.test": "invalid_grant",
}
TLS = "tls@contoso.test"
GRANT = "grant@contoso.test"
TRANSIENT = [a for a, m in MODES.items() if m != "invalid_grant"]


def parse_account(reply):
    m = re.match(r"^OK login=\S+ expires=(\d+) token=(\S+)$", reply)
    return (int(m.group(1)), m.group(2)) if m else (None, None)


def ask_all(fx, accounts):
    """ask_all - one token request per account, in parallel; {account: (reply, seconds)}"""
    out = {}

    def one(a):
        t0 = time.time()
        try:
            r = fx.ask("token", a)
        except Exception as e:  # noqa: BLE001 - reported by the caller
            r = "ERR %s" % e
        out[a] = (r, time.time() - t0)

    threads = [threading.Thread(target=one, args=(a,)) for a in accounts]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return out


def sleep_until(when):
    d = when - time.time()
    if d > 0:
        time.sleep(d)


def attempts_bound(window_s, min_gap_s=0.0, hang_s=0.0):
    """attempts_bound - most attempts backoff allows in window_s: the k-th wait
    is at least 2.5 * 2^(k-1) s (equal jitter of 5 s doubling) and at least
    min_gap_s (Retry-After); a hung attempt takes hang_s more"""
    n, t = 1, 0.0
    while True:
        t += max(2.5 * 2 ** (n - 1), min_gap_s) + hang_s
        if t > window_s:
            return n
        n += 1


def retry_delays(log, account):
    """retry_delays - the 'retrying in Ns' of each failed attempt, in order"""
    pat = re.compile(r"account=%s: refresh failed \(attempt (\d+)\).*retrying in (\d+)s"
                     % re.escape(account))
    return [int(m.group(2)) for m in pat.finditer(log)]


def main():
    t = Tap()
    fx = Fixture(accounts=list(MODES))
    with fx.suite(t):
        fx.write_config(hosts={TLS: "localhost"})
        fx.settings(lifetime=LIFETIME, retry_after=RETRY_AFTER)
        for a in MODES:
            fx.import_rt(a)
        fx.start()
        first = {}
        for a in MODES:
            first[a] = parse_account(fx.ask("account", a))
        t.ok(all(v[0] for v in first.values()), "every account has a %d-second token" % LIFETIME)
        expires = max(v[0] for v in first.values())
        faults = {a: m for a, m in MODES.items() if m != "tls_untrusted"}
        fx.control("settings", {"user_faults": faults, "fault": "tls_untrusted",
                                "tls_fault_host": "localhost"})
        outage_start = time.time()

        # Refreshes start 38 s before expiry and fail; 33 s before expiry the
        # tokens are past their hand-out point but still valid.
        sleep_until(expires - 33)
        got = ask_all(fx, MODES)
        for a in TRANSIENT:
            reply, secs = got[a]
            t.ok(reply == "OK " + first[a][1] and secs < 3.5,
                 "%s (%s): refresh failing, the still-valid token is served at once (%.1f s)"
                 % (a, MODES[a], secs))
        reply = got[GRANT][0]
        t.ok(reply.startswith("PERM ") and "AADSTS70008" in reply and "import" in reply,
             "%s (invalid_grant): PERM naming AADSTS70008 and the fix" % GRANT)
        log = fx.logtext()
        # (The hung refresh fails only after the token's last 30 s began.)
        t.ok(all(re.search(r"account=%s: refresh failed.*still serving the current token"
                           % re.escape(a), log) for a in TRANSIENT if MODES[a] != "hang"),
             "the log says, for each account, that the refresh failed and the token is still "
             "served")

        # Under 30 s left: withheld, with the reason, never the token.
        sleep_until(expires - 27)
        got = ask_all(fx, TRANSIENT)
        for a in TRANSIENT:
            reply, secs = got[a]
            t.ok(reply.startswith("TEMP ") and first[a][1] not in reply,
                 "%s (%s): under 30 s left, TEMP with the reason (%s...)"
                 % (a, MODES[a], reply[:60].replace(first[a][1], "<token>")))

        # The platform recovers; the revoked grant needs a person (import).
        sleep_until(expires - 20)
        fx.control("settings", {"user_faults": {}, "fault": "none"})
        outage_end = time.time()
        fx.import_rt(GRANT)
        t.ok(fx.ask("token", GRANT).startswith("OK "),
             "%s: a new grant imported, served again without a restart" % GRANT)
        recovered = {}
        ok_at_recovery = {}
        deadline = time.time() + 100
        while time.time() < deadline and len(recovered) < len(TRANSIENT):
            for a, (reply, _) in ask_all(fx, [x for x in TRANSIENT if x not in recovered]).items():
                if reply.startswith("OK ") and reply != "OK " + first[a][1]:
                    recovered[a] = time.time() - outage_end
                    by = fx.stats()["token_requests"]["by_user"].get(a, {})
                    ok_at_recovery[a] = by.get("ok", 0)
            time.sleep(1)
        for a in TRANSIENT:
            t.ok(a in recovered, "%s (%s): recovers by itself after the outage (%s)"
                 % (a, MODES[a], "%.0f s" % recovered[a] if a in recovered else "no"))

        stats = fx.stats()["token_requests"]
        window = outage_end - outage_start + 5
        for a in TRANSIENT:
            mode = MODES[a]
            by = stats["by_user"].get(a, {})
            if mode == "tls_untrusted":
                failed = stats["by_outcome"].get("fault_tls_untrusted", 0)
            else:
                failed = by.get("fault_" + mode, 0)
            bound = attempts_bound(window, RETRY_AFTER if mode == "http429" else 0,
                                   20 if mode == "hang" else 0)
            t.ok(1 <= failed <= bound,
                 "%s (%s): %d failed requests in a %.0f s outage (backoff allows %d)"
                 % (a, mode, failed, window, bound))
            t.ok(ok_at_recovery.get(a) == 2,
                 "%s: one successful request ends the outage (%s in all by then)"
                 % (a, ok_at_recovery.get(a)))
        log = fx.logtext()
        d429 = retry_delays(log, "m429@contoso.test")
        t.ok(d429 and all(d >= RETRY_AFTER for d in d429),
             "Retry-After: %d is honoured (waits %s s)" % (RETRY_AFTER, d429))
        d500 = retry_delays(log, "m500@contoso.test")
        within = all(int(2.5 * 2 ** k) <= d <= min(5 * 2 ** k, 300) + 1
                     for k, d in enumerate(d500))
        t.ok(len(d500) >= 3 and within,
             "HTTP 500: waits double with equal jitter, capped at 300 s (%s s)" % d500)
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
