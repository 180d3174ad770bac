#!/usr/bin/env python3
"""metrics.py - oauth2-token-helper metrics: the Prometheus page, checked by
promtool and against status --json; --output; the shipped alerting rules
and systemd units (TAP)

Accounts in several states against the mock: a good token with a client
secret expiry, a refused grant (a person is needed), one never authorized,
one whose refreshes keep failing, an app-only account with a certificate.
The page must pass "promtool check metrics" with no lint message, and its
figures must be the ones status --json shows. The daemon's reply counters
must grow by exactly the requests made; with the daemon stopped the page
says up 0 and still shows the state files. --output must replace the file
atomically (a reader never sees part of a page; a new inode each time),
mode 0644. The shipped rules pass "promtool check rules" and the unit
tests in metrics-rules.test.yml, whose metric names must all be on a real
page. The shipped metrics units pass systemd-analyze verify, and the
service's ExecStart, run as the unit runs it (root with its capability
bounding set, no new privileges), writes the page.
"""

import datetime
import json
import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixture import HELPER, TOP_BUILDDIR, TOP_SRCDIR, Fixture, Tap, skip_all, skip_one  # noqa: E402

GOOD = "alice@contoso.test"     # a token, and a client secret expiring in 20 days
NEEDY = "dave@contoso.test"     # its grant is refused: a person is needed
NEVER = "frank@contoso.test"    # never authorized
FLAKY = "grace@contoso.test"    # its refreshes keep failing (HTTP 500)
CERT = "cert-app"               # grant = client_credentials with a certificate
CERT_ID = "c3e7a0b1-0000-4000-8000-0000000000c1"
MAILBOX = "relay@contoso.test"
P = "oauth2_token_helper_"
RULES = os.path.join(TOP_SRCDIR, "conf", "prometheus", "oauth2-token-helper.rules.yml")
RULES_TEST = os.path.join(TOP_SRCDIR, "tests", "daemon", "metrics-rules.test.yml")

# JSON member of status --json -> the series metrics prints for it.
SAME = (("token_expires_at", P + "access_token_expiry_timestamp_seconds"),
        ("refresh_token_last_used", P + "last_refresh_success_timestamp_seconds"),
        ("refresh_token_stored_at", P + "refresh_token_stored_timestamp_seconds"),
        ("refresh_token_lapses_at", P + "refresh_token_lapse_timestamp_seconds"),
        ("client_secret_expires_at", P + "client_secret_expiry_timestamp_seconds"),
        ("certificate_expires_at", P + "certificate_expiry_timestamp_seconds"))


def promtool_works():
    try:
        return subprocess.run(["promtool", "--version"], capture_output=True).returncode == 0
    except OSError:
        return False


def parse(text):
    """parse - (samples {(name, frozenset(labels)): value}, types {name: type}, problems)"""
    samples, types, problems = {}, {}, []
    seen_families = []
    for line in text.splitlines():
        m = re.match(r"^# TYPE (\S+) (\S+)$", line)
        if m:
            types[m.group(1)] = m.group(2)
            if m.group(1) in seen_families:
                problems.append("family %s twice" % m.group(1))
            seen_families.append(m.group(1))
            continue
        if line.startswith("#") or not line:
            continue
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$', line)
        if not m:
            problems.append("bad line %r" % line[:100])
            continue
        labels = frozenset(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        if seen_families and not m.group(1).startswith(seen_families[-1]):
            problems.append("%s outside its family" % m.group(1))
        samples[(m.group(1), labels)] = float(m.group(3))
    return samples, types, problems


def value(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())))


def status_json(fx):
    r = fx.cli("status", "--json")
    return {o["account"]: o for o in json.loads(r.stdout)} if r.returncode == 0 else {}


def promtool_check(t, text, what):
    r = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                       text=True)
    if not t.ok(r.returncode == 0 and not (r.stdout + r.stderr).strip(),
                "promtool check metrics passes with no lint message: %s (exit %d)"
                % (what, r.returncode)):
        t.diag(r.stdout + r.stderr)


def compare(t, fx, page, status, what):
    """compare - every account's figures on the page are the ones status --json shows"""
    samples, _, _ = parse(page)
    bad = []
    for acc, st in status.items():
        for member, series in SAME:
            v = value(samples, series, account=acc)
            want = st.get(member, 0)
            if (want == 0 and v is not None) or (want != 0 and v != want):
                bad.append("%s %s: page %s, status %s" % (acc, series, v, want))
        v = value(samples, P + "person_needed", account=acc)
        if v != (1 if st.get("needs_person") else 0):
            bad.append("%s person_needed: page %s, status %s" % (acc, v, st.get("needs_person")))
    if not t.ok(not bad, "%s: expiries, refresh and storage times, person needed match "
                "status --json for %d accounts" % (what, len(status))):
        t.diag("\n".join(bad))


def in_days(n):
    return (datetime.date.today() + datetime.timedelta(days=n)).isoformat()


def setup(fx):
    """setup - the config: GOOD with a secret expiry, the certificate account"""
    old = os.umask(0o077)
    try:
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                        "app.key", "-out", "app.pem", "-days", "400", "-subj", "/CN=app"],
                       cwd=fx.dir, check=True, capture_output=True)
    finally:
        os.umask(old)
    os.chmod(os.path.join(fx.dir, "app.pem"), 0o644)
    text = open(fx.conf).read().replace(
        "[account %s]\n" % GOOD,
        "[account %s]\nclient_secret_expires = %s\n" % (GOOD, in_days(20)))
    text += "\n".join(["", "[account %s]" % CERT, "grant = client_credentials",
                       "tenant = contoso.test", "client_id = %s" % CERT_ID,
                       "login = %s" % MAILBOX,
                       "client_certificate_file = %s" % os.path.join(fx.dir, "app.pem"),
                       "client_key_file = %s" % os.path.join(fx.dir, "app.key"),
                       "authority = https://127.0.0.1:%d" % fx.port, "ca_file = %s" % fx.ca, ""])
    open(fx.conf, "w").write(text)
    fx.mockctl("register", "--client-id", CERT_ID, "--certificate",
               os.path.join(fx.dir, "app.pem"), "--mailbox", MAILBOX)


def test_up(t, fx):
    """the daemon up, accounts in every state: promtool, and the figures of status --json"""
    before = status_json(fx)
    r = fx.cli("metrics")
    after = status_json(fx)
    page = r.stdout
    t.ok(r.returncode == 0 and page.endswith("\n"), "metrics exits 0 with a page (exit %d)"
         % r.returncode)
    promtool_check(t, page, "daemon up, five accounts")
    samples, types, problems = parse(page)
    t.ok(not problems, "each family's samples follow its TYPE line (%s)" % problems[:3])
    helps = set(re.findall(r"^# HELP (\S+) \S", page, flags=re.M))
    t.ok(helps == set(types) and all(n in types for n, _ in samples),
         "every family has HELP and TYPE lines")
    t.ok(value(samples, P + "up") == 1, "oauth2_token_helper_up 1")
    start = value(samples, P + "start_time_seconds")
    t.ok(start is not None and abs(start - fx.started) < 120,
         "the daemon's start time (%s, started near %d)" % (start, fx.started))
    t.ok(types.get(P + "requests_total") == "counter"
         and all(v == "gauge" for n, v in types.items() if n != P + "requests_total"),
         "requests_total is a counter, the rest gauges")
    compare(t, fx, page, before, "daemon up")
    f0 = before.get(FLAKY, {}).get("failures", -1)
    f1 = after.get(FLAKY, {}).get("failures", -1)
    fm = value(samples, P + "consecutive_refresh_failures", account=FLAKY)
    t.ok(fm is not None and 1 <= f0 <= fm <= f1,
         "a failing account's refreshes failed in a row: %s on the page, %d to %d in status"
         % (fm, f0, f1))
    t.ok(value(samples, P + "consecutive_refresh_failures", account=GOOD) == 0
         and value(samples, P + "person_needed", account=FLAKY) == 0,
         "a good account has 0 failures; failing refreshes alone need no person")
    t.ok(value(samples, P + "person_needed", account=NEEDY) == 1
         and value(samples, P + "person_needed", account=NEVER) == 1
         and value(samples, P + "person_needed", account=GOOD) == 0
         and value(samples, P + "person_needed", account=CERT) == 0,
         "person needed: 1 for a refused grant and one never authorized, 0 for the others")
    t.ok(value(samples, P + "access_token_expiry_timestamp_seconds", account=NEVER) is None,
         "no token held: its expiry is left out, not 0")
    cert = value(samples, P + "certificate_expiry_timestamp_seconds", account=CERT)
    t.ok(cert is not None and cert > time.time() + 390 * 86400,
         "the certificate's notAfter (%s)" % cert)
    sec = value(samples, P + "client_secret_expiry_timestamp_seconds", account=GOOD)
    t.ok(sec is not None and 19 * 86400 < sec - time.time() <= 21 * 86400,
         "the client secret's expiry, client_secret_expires")
    t.ok(value(samples, P + "account_info", account=CERT, provider="microsoft",
               grant="client_credentials", credential="certificate") == 1
         and value(samples, P + "account_info", account=GOOD, provider="microsoft",
                   grant="refresh_token", credential="none") == 1,
         "account_info carries provider, grant and credential")
    t.ok(all(value(samples, P + "account_served", account=a) == 1 for a in before),
         "the daemon serves every account")
    return page


def test_counters(t, fx):
    """the reply counters grow by exactly the requests made"""
    def counts():
        samples, _, _ = parse(fx.cli("metrics").stdout)
        return {dict(k[1])["request"] + "/" + dict(k[1])["result"]: v
                for k, v in samples.items() if k[0] == P + "requests_total"}
    c0 = counts()
    for _ in range(7):
        fx.ask("token", GOOD)
    fx.ask("token", "nobody@contoso.test")
    fx.ask("account", GOOD)
    perm = fx.ask("token", NEEDY)
    fx.ask("bogus", GOOD)
    c1 = counts()
    delta = {k: c1.get(k, 0) - c0.get(k, 0) for k in c1}
    n = len(fx.accounts_all)
    if not t.ok(delta.get("token/OK") == 7 and delta.get("token/NOTFOUND") == 1
                and delta.get("account/OK") == 1 and delta.get("token/PERM") == 1
                and delta.get("other/PERM") == 1 and delta.get("status/OK") == n
                and sum(delta.values()) == 11 + n,
                "after 7 token requests, one for an unknown account, one account request, "
                "one refused, one unknown request and one metrics run, the counters grew by "
                "exactly those (%s)" % ", ".join("%s +%d" % kv for kv in sorted(delta.items())
                                                 if kv[1])):
        t.diag("PERM reply: %s" % perm[:80])
    t.ok(len(c1) == 24 and all(v >= 0 for v in c1.values()),
         "every request (and other) by every result, from 0: 24 series")


def test_output(t, fx):
    """--output: complete pages only, a new file each time, 0644, no temporary left"""
    out_dir = tempfile.mkdtemp(prefix="o2th-textfile.", dir=fx.dir)
    out = os.path.join(out_dir, "oauth2-token-helper.prom")
    r = fx.cli("metrics", "--output", out)
    t.ok(r.returncode == 0 and r.stdout == "" and os.path.exists(out),
         "metrics --output FILE writes FILE, nothing on stdout (exit %d)" % r.returncode)
    if not os.path.exists(out):
        return
    st = os.stat(out)
    t.ok(stat.S_IMODE(st.st_mode) == 0o644, "mode 0644 (%o)" % stat.S_IMODE(st.st_mode))
    promtool_check(t, open(out).read(), "the file --output wrote")
    torn, reads, stop = [], [0], threading.Event()

    def reader():
        while not stop.is_set():
            try:
                text = open(out).read()
            except FileNotFoundError:
                torn.append("missing")
                continue
            reads[0] += 1
            if not (text.startswith("# HELP " + P + "up") and re.search(
                    r'certificate_expiry_timestamp_seconds\{account="%s"\} \d+\n$' % CERT, text)):
                torn.append(text[-60:])
            time.sleep(0.002)
    th = threading.Thread(target=reader)
    th.start()
    replaced = 0
    for _ in range(15):
        # A reader holding the old file keeps it whole: it is replaced, not rewritten.
        with open(out) as held:
            old_text = held.read()
            fx.cli("metrics", "--output", out)
            held.seek(0)
            if os.fstat(held.fileno()).st_nlink == 0 and held.read() == old_text:
                replaced += 1
    stop.set()
    th.join()
    t.ok(not torn and reads[0] > 0, "a reader during 15 rewrites saw only complete pages "
         "(%d reads, %d torn or missing)" % (reads[0], len(torn)))
    t.ok(replaced == 15, "each run puts a new file in place, the old one untouched (rename: "
         "%d of 15)" % replaced)
    t.ok(os.listdir(out_dir) == ["oauth2-token-helper.prom"],
         "no temporary file is left beside it (%s)" % os.listdir(out_dir))
    before = open(out).read()
    r = fx.cli("metrics", "--output", os.path.join(fx.dir, "no-such-dir", "x.prom"))
    t.ok(r.returncode == 78 and "no-such-dir" in r.stderr,
         "a directory that does not exist: exit 78, named (exit %d)" % r.returncode)
    r = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                        fx.reachable_helper(), "-c", fx.conf, "metrics", "--output", out],
                       capture_output=True, text=True, timeout=60)
    fx.stderr_seen.append(r.stdout + r.stderr)
    t.ok(r.returncode == 78 and r.stdout == "" and "did not let us ask" in r.stderr
         and "allow_users" in r.stderr,
         "a user the daemon refuses gets exit 78 and the fix, not up 0 (exit %d: %s)"
         % (r.returncode, r.stderr.strip()[:160]))
    t.ok(open(out).read() == before, "a failed run leaves the file as it was")
    return out


def test_edges(t, fx):
    """an account added without a reload; a config with no account"""
    late = "late@contoso.test"
    with open(fx.conf, "a") as fh:
        fh.write("\n".join(["", "[account %s]" % late, "tenant = contoso.test",
                             "client_id = 00000000-0000-0000-0000-00000000a11c",
                             "authority = https://127.0.0.1:%d" % fx.port,
                             "ca_file = %s" % fx.ca, ""]))
    r = fx.cli("metrics")
    samples, _, _ = parse(r.stdout)
    t.ok(r.returncode == 0 and value(samples, P + "up") == 1
         and value(samples, P + "account_served", account=late) == 0
         and value(samples, P + "account_served", account=GOOD) == 1
         and value(samples, P + "consecutive_refresh_failures", account=late) is None,
         "an account added without a reload: served 0, its failures in a row left out")
    promtool_check(t, r.stdout, "an account the daemon does not know")
    for sock, up in ((fx.sock, 1), (os.path.join(fx.dir, "nobody-listens"), 0)):
        conf = os.path.join(fx.dir, "zero.conf")
        with open(conf, "w") as fh:
            fh.write("socket = %s\nstate_dir = %s\n" % (sock, fx.state))
        r = subprocess.run([HELPER, "-c", conf, "metrics"], capture_output=True,
                           text=True, timeout=60)
        fx.stderr_seen.append(r.stdout + r.stderr)
        samples, _, _ = parse(r.stdout)
        t.ok(r.returncode == 0 and value(samples, P + "up") == up
             and all(n == P + "up" for n, _ in samples),
             "a config with no account: up %d when %s, nothing else" %
             (up, "the daemon listens" if up else "nothing listens"))


def test_rules(t, names):
    """the shipped rules: promtool check rules, and the unit tests of metrics-rules.test.yml"""
    r = subprocess.run(["promtool", "check", "rules", RULES], capture_output=True, text=True)
    if not t.ok(r.returncode == 0 and "SUCCESS: 6 rules found" in r.stdout,
                "promtool check rules passes on the shipped rules (exit %d)" % r.returncode):
        t.diag(r.stdout + r.stderr)
    work = tempfile.mkdtemp(prefix="o2th-rules.")
    try:
        shutil.copy(RULES, work)
        shutil.copy(RULES_TEST, work)
        r = subprocess.run(["promtool", "test", "rules",
                            os.path.join(work, os.path.basename(RULES_TEST))],
                           capture_output=True, text=True, cwd=work)
        if not t.ok(r.returncode == 0 and "SUCCESS" in r.stdout,
                    "promtool test rules: person needed, daemon down, token not refreshed, "
                    "secret expiring, stale file fire as written (exit %d)" % r.returncode):
            t.diag(r.stdout[-3000:] + r.stderr[-1000:])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    used = set(re.findall(r"\b(%s\w+)" % P, open(RULES).read() + open(RULES_TEST).read()))
    unknown = sorted(used - names)
    t.ok(used and not unknown, "every metric the rules and their tests use is on a real page "
         "(%d names; unknown: %s)" % (len(used), unknown))
    alerts = re.findall(r"^\s+- alert: (\S+)", open(RULES).read(), flags=re.M)
    tested = set(re.findall(r"alertname: (\S+)", open(RULES_TEST).read()))
    t.ok(set(alerts) <= tested, "every shipped alert has a unit test (%s)"
         % sorted(set(alerts) - tested))
    text = open(RULES).read()
    t.ok("oauth2-token-helper status" in text and "oauth2-token-helper authorize" in text
         and "node_textfile_mtime_seconds" in text,
         "the annotations say what to run; staleness comes from node_textfile_mtime_seconds")


def test_units(t, fx):
    """the installed metrics units: systemd-analyze verify; ExecStart run as the unit runs it"""
    root = os.path.join(fx.dir, "root")
    r = subprocess.run(["make", "-s", "-C", TOP_BUILDDIR, "install", "DESTDIR=" + root],
                       capture_output=True, text=True)
    if not t.ok(r.returncode == 0, "make install DESTDIR=..."):
        t.diag(r.stderr[-2000:])
        return
    found = {}
    for d, _, files in os.walk(root):
        for f in files:
            found[f] = os.path.join(d, f)
    svc = found.get("oauth2-token-helper-metrics.service")
    timer = found.get("oauth2-token-helper-metrics.timer")
    rules = found.get("oauth2-token-helper.rules.yml")
    t.ok(svc and timer and "/systemd/system/" in svc and "/systemd/system/" in timer,
         "make install puts the metrics service and timer with the other units")
    t.ok(rules is not None and "/examples/prometheus/" in rules
         and open(rules, "rb").read() == open(RULES, "rb").read(),
         "and the example rules under examples/prometheus, byte for byte")
    if not (svc and timer):
        return
    units = os.path.join(fx.dir, "units")
    os.mkdir(units)
    for u in (svc, timer):
        text = re.sub(r"=(/\S*/oauth2-token-helper) ", "=%s\\1 " % root, open(u).read())
        open(os.path.join(units, os.path.basename(u)), "w").write(text)
    mandir = os.path.dirname(found.get("oauth2-token-helper.8", "/nonexistent/man8/x"))
    try:
        r = subprocess.run(["systemd-analyze", "verify"] +
                           [os.path.join(units, u) for u in sorted(os.listdir(units))],
                           capture_output=True, text=True,
                           env=dict(os.environ, MANPATH=os.path.dirname(mandir)))
        if not t.ok(r.returncode == 0 and not (r.stdout + r.stderr).strip(),
                    "systemd-analyze verify passes on both units and prints nothing"):
            t.diag(r.stdout + r.stderr)
    except OSError:
        skip_one(t, "systemd-analyze does not run (Debian package systemd)")
    settings = {}
    for line in open(os.path.join(units, os.path.basename(svc))):
        m = re.match(r"^([A-Za-z]+)=(.*)$", line.rstrip("\n"))
        if m:
            settings.setdefault(m.group(1), []).append(m.group(2))
    timer_text = open(timer).read()
    t.ok(settings.get("Type") == ["oneshot"] and "OnCalendar=minutely" in timer_text
         and "WantedBy=timers.target" in timer_text,
         "a oneshot service, started every minute by the timer")
    t.ok(settings.get("NoNewPrivileges") == ["yes"] and settings.get("ProtectSystem") == ["strict"]
         and settings.get("PrivateNetwork") == ["yes"]
         and settings.get("RestrictAddressFamilies") == ["AF_UNIX"]
         and settings.get("CapabilityBoundingSet") == ["CAP_DAC_OVERRIDE"]
         and settings.get("ReadWritePaths") == ["/var/lib/prometheus/node-exporter"],
         "hardened: no network, only CAP_DAC_OVERRIDE, writes only the textfile directory")
    argv = shlex.split(settings["ExecStart"][-1])
    dest = argv[argv.index("--output") + 1]
    t.ok(dest == "/var/lib/prometheus/node-exporter/oauth2-token-helper.prom",
         "it writes Debian's textfile directory (%s)" % dest)
    # As systemd runs it: root, the bounding set, no new privileges, its umask;
    # only the config and the directory are this test's.
    out_dir = os.path.join(fx.dir, "node-exporter")
    os.mkdir(out_dir, 0o755)
    out = os.path.join(out_dir, os.path.basename(dest))
    run = [argv[0], "-c", fx.conf] + argv[1:argv.index("--output")] + ["--output", out]
    caps = "-all," + ",".join("+" + c[4:].lower()
                              for c in settings["CapabilityBoundingSet"][-1].split())
    r = subprocess.run(["setpriv", "--bounding-set=" + caps, "--inh-caps=-all", "--no-new-privs"]
                       + run, capture_output=True, text=True, timeout=60,
                       umask=int(settings.get("UMask", ["0022"])[-1], 8))
    fx.stderr_seen.append(r.stdout + r.stderr)
    page = open(out).read() if os.path.exists(out) else ""
    if not t.ok(r.returncode == 0 and P + "up 1" in page
                and stat.S_IMODE(os.stat(out).st_mode) == 0o644,
                "the service's ExecStart, run as the unit runs it, writes the page, daemon up, "
                "0644 (exit %d)" % r.returncode):
        t.diag(r.stderr[-1000:])


def main():
    if not promtool_works():
        return skip_all("promtool does not run (Debian package prometheus)")
    t = Tap()
    fx = Fixture(accounts=(GOOD, NEEDY, NEVER, FLAKY))
    fx.accounts_all = [GOOD, NEEDY, NEVER, FLAKY, CERT]
    with fx.suite(t):
        setup(fx)
        fx.started = time.time()
        fx.start()
        fx.import_rt(GOOD)
        t.ok(fx.ask("token", CERT).startswith("OK "), "the certificate account gets a token")
        fx.settings(fault="invalid_grant")
        fx.import_rt(NEEDY)
        t.ok(fx.ask("token", NEEDY).startswith("PERM "), "the refused grant needs a person")
        fx.settings(fault="http500")
        fx.import_rt(FLAKY)
        deadline = time.time() + 20
        while time.time() < deadline and status_json(fx).get(FLAKY, {}).get("failures", 0) < 1:
            time.sleep(0.2)
        names = set()
        page = test_up(t, fx)
        names |= {n for n, _ in parse(page)[0]}
        test_counters(t, fx)
        test_output(t, fx)
        test_units(t, fx)
        test_edges(t, fx)

        fx.stop()
        status = status_json(fx)
        r = fx.cli("metrics")
        samples, _, _ = parse(r.stdout)
        names |= {n for n, _ in samples}
        t.ok(r.returncode == 0 and value(samples, P + "up") == 0,
             "daemon stopped: exit 0, oauth2_token_helper_up 0 (exit %d)" % r.returncode)
        promtool_check(t, r.stdout, "daemon stopped")
        t.ok(not any(n in (P + "requests_total", P + "start_time_seconds",
                           P + "consecutive_refresh_failures", P + "account_served")
                     for n, _ in samples),
             "what only the daemon knows (counters, start, failures in a row) is left out")
        compare(t, fx, r.stdout, status, "daemon stopped, from the state files")
        t.ok(value(samples, P + "access_token_expiry_timestamp_seconds", account=GOOD),
             "the token held is still shown from the state file")
        test_rules(t, names)
        t.ok("eyJ" not in "".join(fx.stderr_seen), "no JWT in any output")
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
