#!/usr/bin/env python3
"""run.py - run every benchmark, print each figure next to its target, and
write docs/BENCHMARKS.md with the machine it ran on

Usage (through make bench): run.py --out docs/BENCHMARKS.md [--quick]
                                   [--only latency,throughput,herd,footprint,relay]

Measurements:
  latency     token latency seen by the plugin through libsasl2 (cached
              token), beside a raw UNIX-socket round trip (bench_latency)
  throughput  the daemon with 32 concurrent clients (bench_load)
  herd        200 callers at once for an expired token: requests that reach
              the identity platform
  footprint   1,000 accounts: RSS, wake-ups while idle, start-up time
  relay       Postfix relaying 1,000 messages with XOAUTH2 beside PLAIN
              (bench/relay.sh; root, Postfix and Dovecot)

The mock identity platform and the daemon come from tests/daemon/fixture.py.
No token is printed.
"""

import argparse
import datetime
import json
import os
import platform
import re
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request

TOP_SRCDIR = os.environ.get("top_srcdir") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), ".."))
TOP_BUILDDIR = os.environ.get("top_builddir") or os.path.join(TOP_SRCDIR, "build")
sys.path.insert(0, os.path.join(TOP_SRCDIR, "tests", "daemon"))
from fixture import CLIENT_ID, Fixture, netstring, read_netstring  # noqa: E402

BENCH = os.path.join(TOP_BUILDDIR, "bench")
PLUGIN = os.path.join(TOP_BUILDDIR, "plugin", ".libs", "liboauth2helper.so")
# The same plugin built without kept tokens (bench/Makefile.am): the login before them.
PLUGIN_NOKEEP = os.path.join(BENCH, ".libs", "liboauth2helper_nokeep.so")
ACCOUNT = "alice@contoso.test"
# An account whose token is 4,000 characters, for the kept-token figures.
LONG_ACCOUNT = "long@contoso.test"
LONG_TOKEN = 4000

results = []  # (figure, target, measured, ok or None, note)


def record(figure, target, measured, ok, note=""):
    results.append((figure, target, measured, ok, note))
    mark = "" if ok is None else ("  [meets target]" if ok else "  [MISSES target]")
    print("%-58s %-16s %s%s" % (figure, target, measured, mark), flush=True)


def parse(line):
    """parse - 'RESULT name k=v ...' into (name, {k: v})"""
    parts = line.split()
    kv = {}
    for p in parts[2:]:
        if "=" in p:
            k, v = p.split("=", 1)
            try:
                kv[k] = float(v)
            except ValueError:
                kv[k] = v
    return parts[1], kv


def run_tool(args, timeout=300):
    r = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError("%s failed (%d): %s" % (os.path.basename(args[0]), r.returncode,
                                                   r.stderr.strip()[-500:]))
    return dict(parse(x) for x in r.stdout.splitlines() if x.startswith("RESULT "))


def machine():
    model = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem = f.readline().split()[1]
    commit = subprocess.run(["git", "-C", TOP_SRCDIR, "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip() or "unknown"
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "kernel": platform.release(),
        "memory": "%d MB" % (int(mem) // 1024),
        "os": (open("/etc/debian_version").read().strip()
               if os.path.exists("/etc/debian_version") else platform.platform()),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "loadavg": open("/proc/loadavg").read().split()[0],
        "commit": commit,
    }


def bench_latency(fx, quick):
    n = 5000 if quick else 20000
    r = run_tool([os.path.join(BENCH, "bench_latency"), "-c", fx.conf, "-s", fx.sock,
                  "-a", ACCOUNT, "-p", PLUGIN, "-n", str(n)])
    start = r["plugin_sasl_client_start"]
    total = r["plugin_new_start_dispose"]
    floor = r["floor_connect_per_request"]
    kept = r["floor_kept_connection"]
    record("plugin token latency, cached (sasl_client_start) p50", "<= 50 us",
           "%.1f us" % start["p50"], start["p50"] <= 50)
    record("plugin token latency, cached (sasl_client_start) p99", "<= 250 us",
           "%.1f us" % start["p99"], start["p99"] <= 250)
    record("  sasl_client_new + start + dispose p50 / p99", "-",
           "%.1f / %.1f us" % (total["p50"], total["p99"]), None)
    record("  floor: raw UNIX socket, connect per request p50 / p99", "-",
           "%.1f / %.1f us" % (floor["p50"], floor["p99"]), None)
    record("  floor: raw UNIX socket, kept connection p50 / p99", "-",
           "%.1f / %.1f us" % (kept["p50"], kept["p99"]), None)
    bench_kept(fx, n)
    # The same with the daemon, the plugin's process and the floor's server
    # on one CPU: no cross-CPU wake-up, so what remains is our own work.
    fx.stop()
    fx.start(wrapper=["taskset", "-c", "0"])
    fx.ask("token", ACCOUNT)
    r = run_tool(["taskset", "-c", "0", os.path.join(BENCH, "bench_latency"), "-c", fx.conf,
                  "-s", fx.sock, "-a", ACCOUNT, "-p", PLUGIN, "-n", str(n)])
    fx.stop()
    fx.start()
    start = r["plugin_sasl_client_start"]
    floor = r["floor_connect_per_request"]
    record("  all on one CPU (taskset): plugin p50 / p99", "-",
           "%.1f / %.1f us" % (start["p50"], start["p99"]), None)
    record("  all on one CPU (taskset): floor, connect per request p50 / p99", "-",
           "%.1f / %.1f us" % (floor["p50"], floor["p99"]), None)


def bench_kept(fx, n):
    """bench_kept - what keeping a token for daemon restarts costs a login

    The shipped plugin beside the same plugin built without kept tokens, on
    the 2,000-character token above and on a 4,000-character one (a second
    account), alternating; then logins with the daemon unreachable, each
    served by the kept token."""
    fx.settings(token_length=LONG_TOKEN)
    fx.import_rt(LONG_ACCOUNT)
    got = fx.ask("token", LONG_ACCOUNT)
    fx.settings(token_length=2000)
    if not got.startswith("OK ") or len(got) < LONG_TOKEN:
        raise RuntimeError("no %d-character token for %s" % (LONG_TOKEN, LONG_ACCOUNT))

    def run(account, plugin, away=False):
        args = [os.path.join(BENCH, "bench_latency"), "-c", fx.conf, "-s", fx.sock,
                "-a", account, "-p", plugin, "-n", str(n), "-F"]
        return run_tool(args + (["-d"] if away else []))

    def median_of(runs):
        return {k: statistics.median(r[k] for r in runs) for k in ("p50", "p99")}

    # Rounds alternate the two builds, so that load from other work on the
    # machine falls on both alike; each figure is the median over rounds.
    rounds = 3
    got = {key: [] for key in ("short_off", "short_on", "long_off", "long_on", "away")}
    for _ in range(rounds):
        got["short_off"].append(run(ACCOUNT, PLUGIN_NOKEEP)["plugin_sasl_client_start"])
        got["short_on"].append(run(ACCOUNT, PLUGIN)["plugin_sasl_client_start"])
        got["long_off"].append(run(LONG_ACCOUNT, PLUGIN_NOKEEP)["plugin_sasl_client_start"])
        r = run(LONG_ACCOUNT, PLUGIN, away=True)
        got["long_on"].append(r["plugin_sasl_client_start"])
        got["away"].append(r["plugin_kept_daemon_away"])
    short_off, short_on, long_off, long_on, away = (
        median_of(got[k]) for k in ("short_off", "short_on", "long_off", "long_on", "away"))
    record("  login without / with kept tokens, 2,000-char token p50", "-",
           "%.1f / %.1f us" % (short_off["p50"], short_on["p50"]), None)
    record("  login without / with kept tokens, 2,000-char token p99", "-",
           "%.1f / %.1f us" % (short_off["p99"], short_on["p99"]), None)
    record("  login without / with kept tokens, 4,000-char token p50", "-",
           "%.1f / %.1f us" % (long_off["p50"], long_on["p50"]), None)
    record("  login without / with kept tokens, 4,000-char token p99", "-",
           "%.1f / %.1f us" % (long_off["p99"], long_on["p99"]), None)
    record("  daemon unreachable: login served by the kept 4,000-char token p50 / p99", "-",
           "%.1f / %.1f us" % (away["p50"], away["p99"]), None)


def bench_throughput(fx, quick):
    secs = "3" if quick else "5"
    r = run_tool([os.path.join(BENCH, "bench_load"), "-s", fx.sock, "-a", ACCOUNT,
                  "-c", "32", "-d", secs])["throughput"]
    record("daemon throughput, 32 concurrent clients (kept connections)", ">= 20,000 req/s",
           "%.0f req/s (p99 %.0f us)" % (r["rps"], r["p99_us"]), r["rps"] >= 20000)
    r = run_tool([os.path.join(BENCH, "bench_load"), "-s", fx.sock, "-a", ACCOUNT,
                  "-c", "32", "-d", secs, "-r"])["throughput"]
    record("  32 clients, a new connection per request (as the plugin)", "-",
           "%.0f req/s (p99 %.0f us)" % (r["rps"], r["p99_us"]), None)


def write_expired_state(fx, account):
    """write_expired_state - keep the refresh token, make the access token an expired one"""
    path = os.path.join(fx.state, account + ".state")
    with open(path) as f:
        obj = json.load(f)
    now = int(time.time())
    obj["access_token"] = "expired.token.value"
    obj["obtained_at"] = now - 3700
    obj["expires_at"] = now - 100
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f)
    os.chmod(tmp, 0o600)
    os.rename(tmp, path)


def bench_herd(fx):
    """200 callers arrive together at a daemon just started with an expired token."""
    herd = "herd@contoso.test"
    fx.import_rt(herd)
    fx.ask("token", herd)
    fx.stop()
    write_expired_state(fx, herd)
    fx.settings(token_delay=0.3)  # an identity platform answering in 300 ms
    before = fx.token_requests("ok")
    fx.start()
    r = run_tool([os.path.join(BENCH, "bench_load"), "-s", fx.sock, "-a", herd,
                  "--herd", "200"])["herd"]
    time.sleep(0.5)
    sent = fx.token_requests("ok") - before
    fx.settings(token_delay=0)
    record("thundering herd: 200 callers, expired token -> IdP requests", "exactly 1",
           "%d (%d/200 served, %d distinct token, slowest %.0f ms)"
           % (sent, r["ok"], r["distinct_tokens"], r["slowest_ms"]),
           sent == 1 and r["ok"] == 200 and r["distinct_tokens"] == 1)


def control(fx, path, obj):
    data = json.dumps(obj).encode()
    req = urllib.request.Request("https://127.0.0.1:%d/_mock/%s" % (fx.port, path), data=data,
                                 method="POST", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, context=fx.ssl, timeout=10) as r:
        return json.loads(r.read().decode())


def ctxt_switches(pid):
    v = nv = 0
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("voluntary_ctxt_switches"):
                v = int(line.split()[1])
            elif line.startswith("nonvoluntary_ctxt_switches"):
                nv = int(line.split()[1])
    return v + nv


def startup_ms(fx, account, runs=7):
    """startup_ms - exec to listening, and exec to the first token answered (median ms)"""
    listen, first = [], []
    for _ in range(runs):
        fx.stop()
        if os.path.exists(fx.sock):
            os.unlink(fx.sock)
        t0 = time.monotonic()
        fx.daemon = subprocess.Popen([os.path.join(TOP_BUILDDIR, "helper", "oauth2-token-helper"),
                                      "-c", fx.conf, "serve"],
                                     stdout=open(fx.log, "a"), stderr=subprocess.STDOUT)
        while True:
            try:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.connect(fx.sock)
                break
            except OSError:
                s.close()
                time.sleep(0.0005)
            if time.monotonic() - t0 > 10:
                raise RuntimeError("daemon did not start")
        t1 = time.monotonic()
        s.sendall(netstring(("token %s" % account).encode()))
        reply = read_netstring(s)
        t2 = time.monotonic()
        s.close()
        if not reply.startswith("OK "):
            raise RuntimeError("no cached token after restart")
        listen.append((t1 - t0) * 1000)
        first.append((t2 - t0) * 1000)
    return statistics.median(listen), statistics.median(first)


def bench_footprint(quick):
    n = 200 if quick else 1000
    accounts = ["user%04d@contoso.test" % i for i in range(n)]
    fx = Fixture(accounts=accounts)
    try:
        fx.settings(lifetime=3600)
        os.makedirs(fx.state, mode=0o700, exist_ok=True)
        now = int(time.time())
        for a in accounts:
            rt = control(fx, "grant", {"user": a, "client_id": CLIENT_ID,
                                       "tenant": "contoso.test"})["refresh_token"]
            path = os.path.join(fx.state, a + ".state")
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            os.write(fd, json.dumps({"version": 1, "refresh_token": rt,
                                     "refresh_token_stored": now}).encode())
            os.close(fd)
        t0 = time.time()
        fx.start()
        deadline = time.time() + 120
        while fx.token_requests("ok") < n and time.time() < deadline:
            time.sleep(0.5)
        got = fx.token_requests("ok")
        fill_s = time.time() - t0
        time.sleep(2)
        for a in accounts[:: max(1, n // 50)]:
            fx.ask("token", a)
        rss = fx.proc_status("VmRSS")
        hwm = fx.proc_status("VmHWM")
        anon = fx.proc_status("RssAnon")
        files = fx.proc_status("RssFile")
        pss = 0
        with open("/proc/%d/smaps_rollup" % fx.daemon.pid) as f:
            for line in f:
                if line.startswith("Pss:"):
                    pss = int(line.split()[1])
        record("daemon RSS with %d accounts holding tokens" % n, "<= 8 MB",
               "%.1f MB (peak %.1f MB; %d refreshes in %.0f s)"
               % (rss / 1024, hwm / 1024, got, fill_s), rss <= 8 * 1024 and got == n)
        record("  of which private (RssAnon) / shared library pages (RssFile)", "-",
               "%.1f MB / %.1f MB" % (anon / 1024, files / 1024), None)
        record("  proportional set size (PSS)", "-", "%.1f MB" % (pss / 1024), None)
        idle = 30
        time.sleep(3)
        c0 = ctxt_switches(fx.daemon.pid)
        cpu0 = fx.cpu_ticks()
        time.sleep(idle)
        woke = ctxt_switches(fx.daemon.pid) - c0
        cpu = fx.cpu_ticks() - cpu0
        record("wake-ups while idle (%d s, no refresh due)" % idle, "0",
               "%d context switches, %d CPU ticks" % (woke, cpu), woke == 0)
        listen, first = startup_ms(fx, accounts[0])
        record("start-up, %d accounts: exec -> listening" % n, "< 50 ms",
               "%.1f ms" % listen, listen < 50)
        record("  exec -> first token served from the state files", "-", "%.1f ms" % first, None)
    finally:
        fx.close()
    fx1 = Fixture(accounts=(ACCOUNT,))
    try:
        fx1.import_rt(ACCOUNT)
        fx1.start()
        fx1.ask("token", ACCOUNT)
        listen, first = startup_ms(fx1, ACCOUNT)
        record("start-up, 1 account: exec -> listening / first token", "< 50 ms",
               "%.1f / %.1f ms" % (listen, first), listen < 50)
    finally:
        fx1.close()


def bench_relay(quick):
    if os.geteuid() != 0:
        record("relay: XOAUTH2 vs PLAIN, 1,000 messages each", "within 5%", "skipped (not root)",
               None)
        return
    n = "200" if quick else "1000"
    res = {}
    for cache in ("0", "10M"):
        r = subprocess.run(["bash", os.path.join(TOP_SRCDIR, "bench", "relay.sh"), n, cache],
                           capture_output=True, text=True, timeout=3600,
                           env=dict(os.environ, top_srcdir=TOP_SRCDIR, top_builddir=TOP_BUILDDIR))
        for line in r.stderr.splitlines():
            if line.startswith("# "):
                print("  " + line)
        for line in r.stdout.splitlines():
            if line.startswith("RESULT "):
                name, kv = parse(line)
                res[name] = kv
            elif line.startswith("SKIP"):
                record("relay: XOAUTH2 vs PLAIN", "within 5%", line, None)
                return
        if r.returncode != 0:
            record("relay: XOAUTH2 vs PLAIN (auth cache %s)" % cache, "within 5%",
                   "FAILED: " + (r.stdout[-300:] + r.stderr[-300:]).replace("\n", " "), False)
    for variant, label in (("", "verified by Dovecot at the IdP for every message"),
                           ("_cached", "Dovecot auth cache on, both mechanisms")):
        x = res.get("relay_xoauth2" + variant)
        p = res.get("relay_plain" + variant)
        if not x or not p:
            continue
        over = (x["seconds"] / p["seconds"] - 1) * 100
        record("relay %s msgs XOAUTH2 vs PLAIN (%s)" % (n, label), "within 5%",
               "%.1f s vs %.1f s (%+.1f%%; %.0f vs %.0f msg/s)"
               % (x["seconds"], p["seconds"], over, x["rate"], p["rate"]),
               over <= 5)


def write_report(path, info, notes):
    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench` (bench/run.py); rerun it to refresh. Figures are",
        "from one run on the machine below, shared with other work (load average",
        "at the start: %s), so treat small differences as noise." % info["loadavg"],
        "",
        "| machine | |",
        "| --- | --- |",
        "| CPUs (nproc) | %s |" % info["nproc"],
        "| CPU model | %s |" % info["cpu"],
        "| kernel | %s |" % info["kernel"],
        "| memory | %s |" % info["memory"],
        "| Debian | %s |" % info["os"],
        "| date | %s |" % info["date"],
        "| commit | %s |" % info["commit"],
        "",
        "| figure | target | measured | verdict |",
        "| --- | --- | --- | --- |",
    ]
    for figure, target, measured, ok, _ in results:
        verdict = "" if ok is None else ("meets" if ok else "**misses**")
        lines.append("| %s | %s | %s | %s |" % (figure.strip(), target, measured, verdict))
    lines += ["", "## How each figure is measured", ""] + notes
    lines += ["", "## Where a target is missed or borderline, and why", ""] + MISSES
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


NOTES = """- **Plugin latency**: `bench/bench_latency` calls `sasl_client_init` once
  with the plugin alone in `SASL_PATH` (as Postfix's smtp(8) does before its
  chroot), then 20,000 times `sasl_client_new` + `sasl_client_start("XOAUTH2")`
  + `sasl_dispose`, against the running daemon with a cached token; the
  first 10% are warm-up. `sasl_client_start` is where the plugin connects to
  the daemon, asks `account NAME`, parses the reply and builds the initial
  response (~2.7 kB for a 2,000-character token).
- **Kept tokens** (for daemon restarts): the plugin keeps each account's
  last token and uses it only when the daemon cannot be reached. Its cost
  to every login is measured with the same `bench_latency` run twice per
  token length, in 3 alternating rounds (medians shown): once with the
  plugin built without kept tokens
  (`bench/liboauth2helper_nokeep.so`, `-DOAUTH2_NO_KEEP`: the login as it
  was before) and once with the shipped plugin, for the 2,000-character
  token above and for a 4,000-character one (a second account). Then, with
  `-d`, the daemon's socket is renamed away (the daemon keeps running) and
  20,000 logins are each served by the kept token: the connect fails at
  once (no such file) and the plugin copies the kept token.
- **Floor**: the same request and a reply of the same length exchanged with
  a child process that answers from memory, over a new connection each time
  (what the plugin does) and over one kept connection.
- **Throughput**: `bench/bench_load` with 32 threads, each on its own
  connection asking `token NAME` in a loop for 5 s; every reply must be OK.
  The load generator shares the 2 CPUs with the daemon.
- **Herd**: the daemon is stopped, its state file given an access token that
  expired 100 s ago, the mock set to answer in 300 ms, the daemon started,
  and 200 threads, already connected, ask at one barrier. Requests counted
  at the mock.
- **Footprint**: 1,000 accounts, each with a refresh token in its state file;
  the daemon refreshes them all (hour-long tokens), then RSS is read from
  /proc/PID/status and smaps_rollup. Wake-ups: voluntary + involuntary
  context switches of the daemon over 30 s with no refresh due (strace -p
  over the same kind of period shows no system call at all: the loop sleeps
  in one poll until the next refresh timer). Start-up: from exec until a
  connection to the socket succeeds, median of 7 (the daemon has read its
  config and every state file by then), and until the first token is served.
- **Relay**: `bench/relay.sh`: one sending Postfix (stock chrooted smtp(8),
  TLS, one connection and one AUTH per message) and one receiving Postfix
  with Dovecot SASL: an oauth2 passdb (token introspection at the mock) for
  XOAUTH2, a static passdb for PLAIN. Messages are queued while the relay is
  on hold (`defer_transports`), then released at once; timed from the first
  delivery to the last (file times in the receiver's maildir), which leaves
  out the queue manager picking them up after the flush. XOAUTH2 and PLAIN
  rounds alternate (4 rounds of a quarter each). Run twice: with Dovecot verifying every AUTH (its
  `auth_cache_size = 0`, as the integration tests do: each XOAUTH2 login
  costs an HTTPS introspection at the Python mock, which PLAIN does not
  have) and with Dovecot's auth cache on for both mechanisms. What remains
  in the second is mostly the mechanism, not our code: the XOAUTH2 initial
  response is about 2.7 kB, which Postfix sends in two steps (AUTH XOAUTH2,
  a 334, then the response: one more round trip per message than PLAIN),
  and Dovecot's oauth2 passdb handles it; the plugin's own share is one
  token request to the daemon, the ~50 us measured above, against some
  4.5 ms of relay time per message.""".splitlines()


MISSES = """- **Latency** (met in some runs, missed in others) depends on this
  virtual machine more than on our code: the
  floor (a bare UNIX-socket exchange) measured between 28 and 54 us p50
  across runs, depending on whether the two processes wake each other across
  CPUs; ours followed it at 37 to 57 us. With everything on one CPU, ours
  is 36 us against a 21 us floor: libsasl2, the plugin and the daemon
  together add about 15 us. On 2026-11-29, with the machine shared with
  six other engineers' builds and tests (load 2.7 on 2 CPUs), ours measured
  63 to 101 us p50 across the runs of one invocation and the floor 37 us.
- **Kept tokens**: keeping the token adds a copy of it (a few kB) and a
  look-up in an eight-entry table to each login; against the noise of a
  loaded machine (tens of microseconds between runs: the build without
  kept tokens had the higher p99 in both pairs) no difference shows: 77
  against 86 us p50 with 2,000-character tokens, 101 against 94 us with
  4,000. A login served by a kept token
  while the daemon is unreachable costs 24 us p50: a failed connect() and
  the copy, no daemon round trip.
- **RSS**: 9.8 MB of it are pages of shared libraries that any process
  linking Debian's libcurl maps (libcrypto 3.9 MB, libc 1.6 MB, libgnutls
  1.1 MB pulled in through librtmp, libcurl, libssl, p11-kit, Kerberos,
  ...), mostly shared with other processes (hence a PSS near 8 MB). What
  the daemon itself holds is the private part: about 1.8 MB with one
  account plus 4.5 kB per account (the 2,000-character access token, the
  refresh token, the account's state), 6.5 MB for 1,000 accounts. Meeting
  8 MB of RSS would take a static build against a trimmed libcurl and
  OpenSSL, which Debian packaging rules out.
- **Relay**: each round of 250 messages takes about a second and varies by
  +-20% from round to round on this shared machine; across runs XOAUTH2 was
  5 to 25% slower than PLAIN, with or without Dovecot's cache. Little of
  that is ours: the plugin's share is one request to the daemon per message
  (the latency above, ~40 us, against ~4 ms of relay time per message);
  the rest is the mechanism (a 2.7 kB initial response sent in two steps:
  one more round trip than PLAIN) and the server's handling of it.""".splitlines()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(TOP_SRCDIR, "docs", "BENCHMARKS.md"))
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", default="latency,throughput,herd,footprint,relay")
    args = ap.parse_args()
    only = set(args.only.split(","))
    info = machine()
    print("machine: %(nproc)s CPUs, %(cpu)s, kernel %(kernel)s, load %(loadavg)s" % info)
    print("%-58s %-16s %s" % ("figure", "target", "measured"))
    failed = False
    fx = Fixture(accounts=(ACCOUNT, "herd@contoso.test", LONG_ACCOUNT))
    try:
        fx.settings(lifetime=3600)
        fx.import_rt(ACCOUNT)
        fx.start()
        if not fx.ask("token", ACCOUNT).startswith("OK "):
            raise RuntimeError("no token")
        if "latency" in only:
            bench_latency(fx, args.quick)
        if "throughput" in only:
            bench_throughput(fx, args.quick)
        if "herd" in only:
            bench_herd(fx)
    except Exception as e:  # noqa: BLE001 - reported, and the run fails
        print("bench failed: %s" % e)
        failed = True
    finally:
        fx.close()
    try:
        if "footprint" in only:
            bench_footprint(args.quick)
        if "relay" in only:
            bench_relay(args.quick)
    except Exception as e:  # noqa: BLE001
        print("bench failed: %s" % e)
        failed = True
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    write_report(args.out, info, NOTES)
    print("written: %s" % args.out)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
