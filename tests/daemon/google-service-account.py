#!/usr/bin/env python3
"""google-service-account.py - grant = jwt_bearer: a Google service account
with domain-wide delegation, its JSON key file made here (openssl genrsa,
JSON written by the test). The mock's Google token endpoint verifies the
JWT (signature with the registered public key, kid, iss, sub, aud, scope,
iat, exp of at most an hour); the daemon serves the token for the mailbox;
a wrong sub, delegation not granted and a key Google does not know fail
naming the Workspace or Cloud console step; config-check explains what is
wrong with a key file without printing any key material (TAP)"""

import json
import os
import re
import subprocess
import sys
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixture import HELPER, Fixture, Tap  # noqa: E402

MAILBOX = "alerts@example.test"
SA_EMAIL = "relay-sa@relay-test.iam.gserviceaccount.com"
SA_ID = "109876543210987654321"
NODWD_EMAIL = "no-dwd@relay-test.iam.gserviceaccount.com"
SCOPE = "https://mail.google.com/"


def openssl(fx, *args):
    return subprocess.run(["openssl"] + list(args), cwd=fx.dir, check=True,
                          capture_output=True, text=True).stdout


def key_file(fx, name, pem_file, email, key_id, **extra):
    """key_file - a service account JSON key file as Google issues it, mode 0600"""
    with open(os.path.join(fx.dir, pem_file)) as fh:
        pem = fh.read()
    obj = {"type": "service_account", "project_id": "relay-test", "private_key_id": key_id,
           "private_key": pem, "client_email": email, "client_id": SA_ID,
           "auth_uri": "https://accounts.google.com/o/oauth2/auth",
           "token_uri": "https://oauth2.googleapis.com/token",
           "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
           "client_x509_cert_url": "https://www.googleapis.com/robot/v1/metadata/x509/x",
           "universe_domain": "googleapis.com"}
    obj.update(extra)
    path = os.path.join(fx.dir, name)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(json.dumps(obj, indent=2) + "\n")
    return path


def make_keys(fx):
    """make_keys - sa.key (registered), other.key (a key Google does not know); the key
    bodies go into the mock's list of secrets, so the leak check looks for them"""
    old = os.umask(0o077)
    try:
        for name in ("sa", "other", "nodwd"):
            openssl(fx, "genrsa", "-out", name + ".key", "2048")
    finally:
        os.umask(old)
    with open(os.path.join(fx.dir, "mock", "issued-secrets"), "a") as fh:
        for name in ("sa", "other", "nodwd"):
            body = open(os.path.join(fx.dir, name + ".key")).read().splitlines()[1:-1]
            fh.write("\n".join(body) + "\n")
            # JSON escapes the PEM's newlines: look for the escaped text too.
            fh.write("\\n".join(body[:3]) + "\n")
    key_file(fx, "sa.json", "sa.key", SA_EMAIL, "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678")
    key_file(fx, "other.json", "other.key", SA_EMAIL, "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678")
    key_file(fx, "nodwd.json", "nodwd.key", NODWD_EMAIL, "0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f")
    for name, email, kid, scopes in (
            ("sa", SA_EMAIL, "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678", [SCOPE]),
            ("nodwd", NODWD_EMAIL, "0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f", [])):
        pub = openssl(fx, "rsa", "-in", name + ".key", "-pubout")
        fx.control("service-account", {"client_email": email, "public_key": pub,
                                        "private_key_id": kid, "client_id": SA_ID,
                                        "mailboxes": [MAILBOX], "delegated_scopes": scopes})


def section(fx, name, login=None, key="sa.json", **keys):
    lines = ["", "[account %s]" % name, "provider = google", "grant = jwt_bearer",
             "service_account_file = %s" % os.path.join(fx.dir, key),
             "token_endpoint = https://127.0.0.1:%d/token" % fx.port, "ca_file = %s" % fx.ca]
    if login is not None:
        lines.append("login = %s" % login)
    lines += ["%s = %s" % kv for kv in keys.items()]
    return "\n".join(lines) + "\n"


def token_of(reply):
    m = re.match(r"^OK login=(\S+) expires=\d+ token=(\S+)$", reply)
    return (m.group(1), m.group(2)) if m else (None, None)


def introspect(fx, token):
    data = urllib.parse.urlencode({"token": token}).encode()
    with urllib.request.urlopen("https://127.0.0.1:%d/introspect" % fx.port, data=data,
                                context=fx.ssl, timeout=10) as r:
        return json.loads(r.read())


def config_check(fx, text):
    """config_check - config-check of the fixture's globals plus text"""
    path = os.path.join(fx.dir, "check.conf")
    base = open(fx.conf).read().split("\n[account", 1)[0]
    with open(path, "w") as fh:
        fh.write(base + "\n" + text)
    os.chmod(path, 0o600)
    r = subprocess.run([HELPER, "-c", path, "config-check"], capture_output=True, text=True,
                       timeout=60)
    fx.stderr_seen.append(r.stdout + r.stderr)
    return r


def no_key_material(fx, text):
    body = open(os.path.join(fx.dir, "sa.key")).read().splitlines()[1:-1]
    return "PRIVATE KEY" not in text and not any(line in text for line in body)


def test_config_check(t, fx):
    r = config_check(fx, section(fx, "ok", login=MAILBOX))
    t.ok(r.returncode == 0 and SA_EMAIL in r.stdout and "client ID %s" % SA_ID in r.stdout and
         no_key_material(fx, r.stdout + r.stderr),
         "config-check: a good key file passes, names the client ID to delegate, shows no key")
    bad = os.path.join(fx.dir, "bad.json")
    lax = os.path.join(fx.dir, "lax.json")
    user = os.path.join(fx.dir, "user.json")
    for path, text, mode in ((bad, "{not json", 0o600), (lax, open(os.path.join(
            fx.dir, "sa.json")).read(), 0o644), (user, json.dumps(
                {"type": "authorized_user", "client_id": "x", "client_secret": "y",
                 "refresh_token": "z"}), 0o600)):
        with open(path, "w") as fh:
            fh.write(text)
        os.chmod(path, mode)
    key_file(fx, "elsewhere.json", "sa.key", SA_EMAIL, "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678",
             token_uri="https://oauth2.googleapis.com.attacker.test/token")
    cases = (
        (section(fx, "elsewhere", login=MAILBOX, key="elsewhere.json").replace(
            "token_endpoint = https://127.0.0.1:%d/token\n" % fx.port, ""),
         "names token_uri on a host that is not Google's", "token_uri on another host"),
        (section(fx, "missing", login=MAILBOX, key="nonexistent.json"), "nonexistent.json",
         "missing file"),
        (section(fx, "lax", login=MAILBOX, key="lax.json"), "chmod 600", "file open to others"),
        (section(fx, "bad", login=MAILBOX, key="bad.json"), "is not JSON; fix: download",
         "not JSON"),
        (section(fx, "user", login=MAILBOX, key="user.json"),
         "is not a service account key", "an OAuth user credential, not a service account"),
        (section(fx, "nologin"), "needs login", "login missing"),
        (section(fx, "ms", login=MAILBOX).replace("provider = google", "provider = microsoft"),
         "provider = google", "jwt_bearer with a Microsoft provider"),
    )
    for text, want, what in cases:
        r = config_check(fx, text)
        out = r.stdout + r.stderr
        if not t.ok(r.returncode == 78 and want in out and "fix" in out and
                    no_key_material(fx, out), "config-check: %s: exit 78, names the fix (%s)"
                    % (what, want)):
            t.diag(out[-500:])


def test_grant(t, fx):
    login, token = token_of(fx.ask("account", "alerts"))
    t.ok(login == MAILBOX and token is not None and len(token) >= 1500,
         "the daemon serves a token for the mailbox (login %s)" % login)
    st = fx.stats()
    claims = (st.get("service_account_claims") or [{}])[-1]
    url = "https://127.0.0.1:%d/token" % fx.port
    t.ok(claims.get("iss") == SA_EMAIL and claims.get("sub") == MAILBOX and
         claims.get("aud") == url and claims.get("scope") == SCOPE and
         claims.get("lifetime") == 3600 and claims.get("kid", "").startswith("a1b2"),
         "the mock verified the signature, kid, iss, sub, aud, scope and exp = iat + 3600")
    t.ok(st["token_requests"]["by_grant"].get("jwt_bearer", {}).get("ok") == 1 and
         "refresh_token" not in st["token_requests"]["by_grant"],
         "one JWT bearer grant, no refresh token involved")
    info = introspect(fx, token) if token else {}
    t.ok(info.get("active") is True and info.get("email") == MAILBOX,
         "the token introspects as the mailbox (what the verifying receiver checks)")
    r = fx.cli("status", "alerts", "--json")
    s = json.loads(r.stdout)[0] if r.returncode == 0 else {}
    t.ok(s.get("grant") == "jwt_bearer" and s.get("authorized") is True,
         "status: grant jwt_bearer, authorized without anyone signing in")
    r = fx.cli("authorize", "alerts")
    t.ok(r.returncode == 78 and "signs in by itself" in r.stderr,
         "authorize refuses: nobody needs to sign in (exit %d)" % r.returncode)


def test_refused(t, fx):
    cases = (("wrong-sub", "Invalid email or User ID", "set login to a mailbox of the Workspace"),
             ("no-dwd", "unauthorized_client", "Manage domain-wide delegation"),
             ("other-key", "Invalid JWT Signature", "create a new key for the service account"))
    for name, why, fix in cases:
        reply = fx.ask("token", name)
        if not t.ok(reply.startswith("PERM ") and why in reply and fix in reply,
                    "%s: PERM, Google's reason and the fix (%s)" % (name, fix)):
            t.diag(reply[:500])
        t.ok(any("account=%s" % name in x and fix in x for x in fx.logtext().splitlines()),
             "%s: the daemon's log line names the fix" % name)


def test_revoke_and_no_daemon(t, fx):
    r = fx.cli("revoke", "alerts")
    t.ok(r.returncode == 0 and "Manage domain-wide delegation" in r.stdout and
         "Keys: delete the key" in r.stdout,
         "revoke: says how to stop the service account (key, delegation)")
    fx.stop()
    r = fx.cli("token", "alerts")
    t.ok(r.returncode == 0 and len(r.stdout.strip()) >= 1500,
         "token without a daemon: the CLI makes the JWT bearer grant itself (exit %d)"
         % r.returncode)


def main():
    t = Tap()
    fx = Fixture(accounts=())
    with fx.suite(t):
        make_keys(fx)
        test_config_check(t, fx)
        with open(fx.conf, "a") as fh:
            fh.write(section(fx, "alerts", login=MAILBOX))
            fh.write(section(fx, "wrong-sub", login="nobody@example.test"))
            fh.write(section(fx, "no-dwd", login=MAILBOX, key="nodwd.json"))
            fh.write(section(fx, "other-key", login=MAILBOX, key="other.json"))
        fx.start()
        test_grant(t, fx)
        test_refused(t, fx)
        test_revoke_and_no_daemon(t, fx)
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
