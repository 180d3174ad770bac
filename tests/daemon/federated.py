#!/usr/bin/env python3
"""federated.py - credentials with nothing to rotate by hand (TAP): an
app-only account whose only credential is client_assertion_file (an
external issuer's JWT, Entra's federated identity credential), checked by
the mock as Entra checks it; the file read afresh at each token request;
config-check, status and check on every problem of the file; certificate
rollover (next_client_certificate_file) with an immediate fallback on
AADSTS700027; and new-certificate"""

import json
import os
import re
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixture import HELPER, TOP_SRCDIR, Fixture, Tap, wait_for  # noqa: E402

FED_APP = "fede7a7e-0000-4000-8000-000000000001"
ROLL_APP = "7011a0a0-0000-4000-8000-000000000002"
MAILBOX = "relay@contoso.test"
ISSUER = "https://oidc.k8s.test/cluster-1"
SUBJECT = "system:serviceaccount:mail:postfix"
AUD = "api://AzureADTokenExchange"
CC = "client_credentials"
MINT = os.path.join(TOP_SRCDIR, "tests", "mock", "mint-jwt")


def openssl(fx, *args):
    subprocess.run(["openssl"] + list(args), cwd=fx.dir, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)


def mint(fx, out, key="issuer", **kw):
    """mint - write an external token to out (see tests/mock/mint-jwt)"""
    args = [sys.executable, MINT, "--key", os.path.join(fx.dir, key + ".key"),
            "--iss", kw.pop("iss", ISSUER), "--sub", kw.pop("sub", SUBJECT),
            "--out", os.path.join(fx.dir, out),
            "--record", os.path.join(fx.dir, "mock", "issued-secrets")]
    for k, v in kw.items():
        if v is True:
            args.append("--" + k.replace("_", "-"))
        elif isinstance(v, list):
            for x in v:
                args += ["--" + k, x]
        else:
            args += ["--" + k.replace("_", "-"), str(v)]
    subprocess.run(args, check=True)
    with open(os.path.join(fx.dir, out)) as fh:
        return fh.read().strip()


def section(fx, name, client_id, **keys):
    lines = ["", "[account %s]" % name, "grant = client_credentials", "tenant = contoso.test",
             "client_id = %s" % client_id, "login = %s" % MAILBOX,
             "authority = https://127.0.0.1:%d" % fx.port, "ca_file = %s" % fx.ca]
    for k, v in keys.items():
        lines.append("%s = %s" % (k, os.path.join(fx.dir, v) if k.endswith("_file") else v))
    return "\n".join(lines) + "\n"


def setup(fx):
    old = os.umask(0o077)
    try:
        for name in ("issuer", "rogue"):
            openssl(fx, "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                    "-out", name + ".key")
        openssl(fx, "pkey", "-in", "issuer.key", "-pubout", "-out", "issuer.pub")
        # The current certificate: the pair new-certificate makes later is newer.
        openssl(fx, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "cur.key",
                "-out", "cur.pem", "-days", "365", "-subj", "/CN=cur")
    finally:
        os.umask(old)
    fx.mockctl("register", "--client-id", FED_APP, "--mailbox", MAILBOX)
    fx.mockctl("federated", "--client-id", FED_APP, "--issuer", ISSUER, "--subject", SUBJECT,
               "--issuer-key", os.path.join(fx.dir, "issuer.pub"))
    fx.mockctl("register", "--client-id", ROLL_APP, "--mailbox", MAILBOX, "--certificate",
               os.path.join(fx.dir, "cur.pem"))
    mint(fx, "good.jwt")
    mint(fx, "wrongsub.jwt", sub="system:serviceaccount:mail:other")
    mint(fx, "wrongaud.jwt", aud=["api://SomethingElse"])
    mint(fx, "expired.jwt", lifetime=600, age=700)
    mint(fx, "rogue.jwt", key="rogue")
    with open(os.path.join(fx.dir, "notjwt.jwt"), "w") as fh:
        fh.write("this is not a token\n")
    os.chmod(os.path.join(fx.dir, "notjwt.jwt"), 0o600)
    os.mkdir(os.path.join(fx.dir, "dir.jwt"))
    with open(os.path.join(fx.dir, "secret"), "w") as fh:
        fh.write("a-client-secret-value\n")
    os.chmod(os.path.join(fx.dir, "secret"), 0o600)
    with open(fx.conf, "a") as fh:
        fh.write(section(fx, "fed", FED_APP, client_assertion_file="good.jwt"))
        fh.write(section(fx, "wrongsub", FED_APP, client_assertion_file="wrongsub.jwt"))
        fh.write(section(fx, "wrongaud", FED_APP, client_assertion_file="wrongaud.jwt",
                         assertion_audience="api://SomethingElse"))
        fh.write(section(fx, "roll", ROLL_APP, client_certificate_file="cur.pem",
                         client_key_file="cur.key", next_client_certificate_file="next.pem",
                         next_client_key_file="next.key"))


def post(fx, jwt, client_id=FED_APP):
    """post - a client_credentials request with jwt as the client assertion: (status, code)"""
    form = urllib.parse.urlencode({
        "grant_type": CC, "client_id": client_id,
        "scope": "https://outlook.office365.com/.default",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": jwt}).encode()
    url = "https://127.0.0.1:%d/contoso.test/oauth2/v2.0/token" % fx.port
    try:
        with urllib.request.urlopen(url, data=form, context=fx.ssl, timeout=10) as r:
            return r.status, 0
    except urllib.error.HTTPError as e:
        return e.code, (json.loads(e.read()).get("error_codes") or [0])[0]


def test_mock(t, fx):
    """the mock checks a federated assertion as Entra does"""
    read = lambda f: open(os.path.join(fx.dir, f)).read().strip()  # noqa: E731
    cases = (("a token from the registered issuer and subject", read("good.jwt"), (200, 0)),
             ("the same token again (no replay check for external tokens)", read("good.jwt"),
              (200, 0)),
             ("another subject", read("wrongsub.jwt"), (401, 700213)),
             ("another audience", read("wrongaud.jwt"), (401, 700212)),
             ("an expired token", read("expired.jwt"), (401, 700024)),
             ("signed by a key that is not the issuer's", read("rogue.jwt"), (401, 700027)),
             ("an unknown issuer", mint(fx, "otheriss.jwt", iss="https://elsewhere.test"),
              (401, 700211)))
    for what, jwt, want in cases:
        got = post(fx, jwt)
        t.ok(got == want, "mock: %s -> %s (want %s)" % (what, got, want))


def token_reply(fx, name):
    return fx.ask("token", name)


def shown(reply):
    """shown - a reply fit for test output: never the token"""
    return "OK (a token)" if reply.startswith("OK ") else reply[:400]


def drop(fx, name):
    """drop - make the daemon get a new token at the next request: no state file, nothing held"""
    path = os.path.join(fx.state, name + ".state")
    if os.path.exists(path):
        os.unlink(path)
    fx.ask("forget", name)


def test_daemon(t, fx):
    reply = token_reply(fx, "fed")
    t.ok(reply.startswith("OK "), "an account with only client_assertion_file gets a token")
    by = fx.stats()["token_requests"]["by_client"].get(FED_APP, {})
    t.ok(by.get("ok", 0) >= 1, "the mock accepted the federated assertion")
    for name, code in (("wrongsub", "AADSTS700213"), ("wrongaud", "AADSTS700212")):
        reply = token_reply(fx, name)
        t.ok(reply.startswith("PERM ") and code in reply and
             "client_assertion_file %s/%s.jwt" % (fx.dir, name) in reply and
             ("subject" in reply if name == "wrongsub" else "audience" in reply),
             "%s: refused, PERM naming %s and the file: %s" % (name, code, shown(reply)))
    log = fx.logtext()
    t.ok(re.search(r"account=wrongsub: .*client_assertion_file \S*wrongsub\.jwt \(AADSTS700213\)",
                   log) is not None, "the daemon log names the account and the file")
    # The file is read at each token request: an expired token in its place is
    # caught before it is sent, as a temporary failure (its issuer replaces it).
    before = fx.stats()["token_requests"]["total"]
    os.rename(os.path.join(fx.dir, "expired.jwt"), os.path.join(fx.dir, "good.jwt"))
    drop(fx, "fed")
    reply = token_reply(fx, "fed")
    t.ok(reply.startswith("TEMP ") and "expired" in reply and "good.jwt" in reply,
         "an expired token in the file: TEMP naming the file: %s" % shown(reply))
    t.ok(fx.stats()["token_requests"]["total"] == before,
         "and it was not sent to the identity platform")
    mint(fx, "good.jwt", in_place=True)
    ok = wait_for(lambda: token_reply(fx, "fed").startswith("OK "), 20, step=0.5)
    t.ok(ok, "a fresh token written in place: served again after the backoff, unasked")


def check_cfg(fx, text):
    """check_cfg - config-check on a config of one account section; (exit, stderr)"""
    conf = os.path.join(fx.dir, "one.conf")
    with open(conf, "w") as fh:
        fh.write("socket = %s\nstate_dir = %s\nuser = root\n" % (fx.sock, fx.state) + text)
    os.chmod(conf, 0o600)
    r = subprocess.run([HELPER, "-c", conf, "config-check"], capture_output=True, text=True)
    fx.stderr_seen.append(r.stderr + r.stdout)
    return r.returncode, r.stderr


def test_config_check(t, fx):
    os.chmod(os.path.join(fx.dir, "rogue.jwt"), 0o644)
    cases = (("missing.jwt", "is missing; fix: mount the issuer's token"),
             ("dir.jwt", "is a directory, not a regular file"),
             ("rogue.jwt", "chmod 600"),
             ("notjwt.jwt", "does not hold a JWT"),
             ("expired.jwt", "the token expired"),
             ("wrongaud.jwt", "audience (aud) is \"api://SomethingElse\", not assertion_audience "
                              "api://AzureADTokenExchange"))
    mint(fx, "expired.jwt", lifetime=600, age=700)
    for f, want in cases:
        rc, err = check_cfg(fx, section(fx, "x", FED_APP, client_assertion_file=f))
        t.ok(rc == 78 and want in err and "fix" in err,
             "config-check, %s: %s" % (f, err.strip()[:300]))
    rc, err = check_cfg(fx, section(fx, "x", FED_APP, client_assertion_file="good.jwt",
                                    client_secret_file="secret"))
    t.ok(rc == 78 and "client_assertion_file conflicts with client_secret_file" in err,
         "config-check: a secret beside the assertion file is a conflict: %s" % err.strip()[:200])
    rc, err = check_cfg(fx, section(fx, "x", FED_APP, client_assertion_file="good.jwt",
                                    client_certificate_file="cur.pem",
                                    client_key_file="cur.key"))
    t.ok(rc == 78 and "conflicts with client_certificate_file" in err,
         "config-check: a certificate beside it too")
    rc, err = check_cfg(fx, section(fx, "x", FED_APP, client_assertion_file="good.jwt"))
    t.ok(rc == 0, "config-check: a good token file passes (%d %s)" % (rc, err.strip()[:200]))
    mint(fx, "stale.jwt", lifetime=3600, age=3500)
    rc, err = check_cfg(fx, section(fx, "x", FED_APP, client_assertion_file="stale.jwt"))
    t.ok(rc == 0 and "has not been replaced" in err,
         "config-check: a token file no longer refreshed is a warning: %s" % err.strip()[:200])


def test_status(t, fx):
    r = fx.cli("status", "fed", "--json")
    st = json.loads(r.stdout)[0] if r.returncode == 0 else {}
    exp = st.get("assertion_expires_at", 0)
    t.ok(time.time() + 3000 < exp < time.time() + 3700 and st.get("assertion_problem") == "",
         "status --json: the external token's expiry, no problem")
    r = fx.cli("status", "fed")
    t.ok(re.search(r"external token: +\S+good\.jwt, expires \d{4}-\d\d-\d\d", r.stdout)
         is not None, "status shows when the external token expires")
    r = fx.cli("check", "fed")
    t.ok(r.returncode == 0, "check: OK while the file is fresh (%s)" % r.stdout.strip()[:200])
    mint(fx, "good.jwt", lifetime=3600, age=3500)
    r = fx.cli("check", "fed")
    t.ok(r.returncode == 1 and "has not been replaced" in r.stdout,
         "check: WARNING when the file stops being refreshed: %s" % r.stdout.strip()[:300])
    os.unlink(os.path.join(fx.dir, "good.jwt"))
    r = fx.cli("check", "fed")
    t.ok(r.returncode == 2 and "is missing" in r.stdout,
         "check: CRITICAL when the file is gone: %s" % r.stdout.strip()[:300])
    mint(fx, "good.jwt")
    for text in (r.stdout for r in [fx.cli("status", "fed")]):
        t.ok(not any(open(os.path.join(fx.dir, f)).read().strip() in text
                     for f in ("good.jwt",)), "status prints no token")


def test_new_certificate(t, fx):
    r = fx.cli("new-certificate", "roll")
    cert, key = os.path.join(fx.dir, "next.pem"), os.path.join(fx.dir, "next.key")
    t.ok(r.returncode == 0 and os.path.exists(cert) and os.path.exists(key),
         "new-certificate writes the next pair named by next_client_*_file")
    t.ok(stat.S_IMODE(os.stat(key).st_mode) == 0o600 and
         stat.S_IMODE(os.stat(cert).st_mode) == 0o640, "key 0600, certificate 0640")
    fp = subprocess.run(["openssl", "x509", "-in", cert, "-noout", "-fingerprint", "-sha1"],
                        capture_output=True, text=True, check=True).stdout
    thumb = fp.split("=", 1)[1].strip().replace(":", "")
    t.ok(re.search(r"thumbprint: +%s " % thumb, r.stdout) is not None and
         "Upload certificate" in r.stdout and "expires:" in r.stdout,
         "it prints the thumbprint as openssl x509 -fingerprint -sha1 does, the expiry and "
         "the steps")
    t.ok("PRIVATE KEY" not in r.stdout + r.stderr, "and no key material")
    keytext = open(key).read()
    with open(os.path.join(fx.dir, "mock", "issued-secrets"), "a") as fh:
        fh.write("".join(keytext.split("\n")[1:-2]) + "\n")
    before = open(cert).read()
    r = fx.cli("new-certificate", "roll")
    t.ok(r.returncode == 78 and "--force" in r.stderr and open(cert).read() == before,
         "a second run refuses to overwrite, naming --force")


def test_rollover(t, fx):
    fx.mockctl("reset-stats")
    fx.daemon.send_signal(1)  # reload: the next pair exists now
    time.sleep(1)
    drop(fx, "roll")
    reply = token_reply(fx, "roll")
    by = fx.stats()["token_requests"]["by_client"].get(ROLL_APP, {})
    t.ok(reply.startswith("OK ") and by.get("ok") == 1 and by.get("wrong_thumbprint") == 1,
         "the newer pair, not registered yet, is refused (AADSTS700027) and the current one "
         "used at once: %s %s" % (shown(reply), by))
    r = fx.cli("status", "roll", "--json")
    st = json.loads(r.stdout)[0]
    t.ok(st.get("certificate_in_use") == "current" and
         st.get("next_certificate_expires_at", 0) > time.time() + 300 * 86400 and
         st.get("certificate_expires_at", 0) > time.time() + 300 * 86400,
         "status: both expiries, the current pair in use")
    r = fx.cli("status", "roll")
    t.ok("next certificate: expires" in r.stdout and re.search(r"certificate: +expires", r.stdout),
         "status shows both certificates' expiries")
    # Upload the new certificate, remove the old one: the next refresh switches at once.
    fx.mockctl("register", "--client-id", ROLL_APP, "--add-certificate",
               os.path.join(fx.dir, "next.pem"))
    fx.mockctl("register", "--client-id", ROLL_APP, "--remove-certificate",
               os.path.join(fx.dir, "cur.pem"))
    fx.mockctl("reset-stats")
    drop(fx, "roll")
    reply = token_reply(fx, "roll")
    by = fx.stats()["token_requests"]["by_client"].get(ROLL_APP, {})
    t.ok(reply.startswith("OK ") and by.get("ok") == 1,
         "old certificate removed at the platform: the next pair is used in the same refresh "
         "(%s)" % by)
    fx.mockctl("reset-stats")
    drop(fx, "roll")
    reply = token_reply(fx, "roll")
    by = fx.stats()["token_requests"]["by_client"].get(ROLL_APP, {})
    t.ok(reply.startswith("OK ") and by == {"ok": 1},
         "and it is remembered: the next refresh goes straight to it (%s)" % by)
    t.ok("AADSTS700027" in fx.logtext() and "trying next_client_certificate_file at once"
         in fx.logtext(), "the daemon log says it switched")
    r = fx.cli("check", "roll")
    t.ok(r.returncode == 0, "check: OK with two valid certificates (%s)" % r.stdout.strip())
    os.rename(os.path.join(fx.dir, "cur.pem"), os.path.join(fx.dir, "cur.pem.old"))
    r = fx.cli("check", "roll")
    t.ok(r.returncode == 1 and "only one certificate is valid" in r.stdout,
         "check: WARNING while only one certificate is valid: %s" % r.stdout.strip()[:300])
    os.rename(os.path.join(fx.dir, "cur.pem.old"), os.path.join(fx.dir, "cur.pem"))
    fx.mockctl("register", "--client-id", ROLL_APP, "--remove-certificate",
               os.path.join(fx.dir, "next.pem"))
    fx.mockctl("reset-stats")
    drop(fx, "roll")
    reply = token_reply(fx, "roll")
    by = fx.stats()["token_requests"]["by_client"].get(ROLL_APP, {})
    t.ok(reply.startswith("PERM ") and "AADSTS700027" in reply and "neither" in reply and
         sum(by.values()) == 2,
         "neither certificate registered: each tried once, then PERM naming both: %s %s"
         % (shown(reply), by))


def main():
    t = Tap()
    fx = Fixture(accounts=())
    with fx.suite(t):
        setup(fx)
        test_mock(t, fx)
        fx.start()
        test_daemon(t, fx)
        test_config_check(t, fx)
        test_status(t, fx)
        test_new_certificate(t, fx)
        test_rollover(t, fx)
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
