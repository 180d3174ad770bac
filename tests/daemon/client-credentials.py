#!/usr/bin/env python3
"""client-credentials.py - app-only accounts (grant = client_credentials)
against the mock: with a client secret, with a certificate (PS256, and
RS256 with an encrypted key) whose assertion the mock verifies; the daemon
refreshes them ahead of expiry; the misconfigurations Entra reports name
their fix; hand-made assertions show what the mock refuses (TAP)"""

import base64
import hashlib
import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixture import HELPER, Fixture, Tap  # noqa: E402
from flows import grant_stat  # noqa: E402

SECRET_APP = "5ec2e7a0-0000-4000-8000-000000000001"
CERT_APP = "ce27a0a0-0000-4000-8000-000000000002"
RS_APP = "b5256aaa-0000-4000-8000-000000000003"
OLD_APP = "01d5ec2e-0000-4000-8000-000000000004"
MAILBOX = "relay@contoso.test"
SHARED = "shared@contoso.test"
# Characters a form must escape: the mock sees this value only if every one was encoded.
SECRET = "s3cr3t+&=/~ %value;Q8~"
LIFETIME = 40
CC = "client_credentials"


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def openssl(fx, *args):
    subprocess.run(["openssl"] + list(args), cwd=fx.dir, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)


def make_keys(fx):
    """make_keys - app (registered), other (not), enc (encrypted, RS256 app)"""
    old = os.umask(0o077)
    try:
        for name in ("app", "other"):
            openssl(fx, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", name + ".key",
                    "-out", name + ".pem", "-days", "365", "-subj", "/CN=" + name)
        openssl(fx, "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                "-aes-256-cbc", "-pass", "pass:correct horse battery", "-out", "enc.key")
        openssl(fx, "req", "-x509", "-new", "-key", "enc.key", "-passin",
                "pass:correct horse battery", "-out", "enc.pem", "-days", "365", "-subj", "/CN=enc")
        files = {"enc.pass": "correct horse battery\n", "app.secret": SECRET + "\n",
                 "wrong.secret": "0f3e5b2a-secret-ID-not-its-value\n",
                 "old.secret": "an-expired-secret-value\n", "lax.secret": SECRET + "\n"}
        for name, text in files.items():
            with open(os.path.join(fx.dir, name), "w") as fh:
                fh.write(text)
        os.chmod(os.path.join(fx.dir, "lax.secret"), 0o644)
    finally:
        os.umask(old)


def section(fx, name, client_id, login, **keys):
    """section - an app-only [account] section"""
    lines = ["", "[account %s]" % name, "grant = client_credentials", "tenant = contoso.test",
             "client_id = %s" % client_id, "login = %s" % login,
             "authority = https://127.0.0.1:%d" % fx.port, "ca_file = %s" % fx.ca]
    for k, v in keys.items():
        lines.append("%s = %s" % (k, os.path.join(fx.dir, v) if k.endswith("_file") else v))
    return "\n".join(lines) + "\n"


def write_config(fx):
    with open(fx.conf, "a") as fh:
        fh.write(section(fx, "secret-app", SECRET_APP, MAILBOX, client_secret_file="app.secret"))
        fh.write(section(fx, "cert-app", CERT_APP, MAILBOX, client_certificate_file="app.pem",
                         client_key_file="app.key"))
        fh.write(section(fx, "rs-app", RS_APP, SHARED, client_certificate_file="enc.pem",
                         client_key_file="enc.key", client_key_passphrase_file="enc.pass",
                         assertion_alg="RS256"))
        fh.write(section(fx, "wrong-cert", CERT_APP, MAILBOX, client_certificate_file="other.pem",
                         client_key_file="other.key"))
        fh.write(section(fx, "wrong-secret", SECRET_APP, MAILBOX,
                         client_secret_file="wrong.secret"))
        fh.write(section(fx, "old-secret", OLD_APP, MAILBOX, client_secret_file="old.secret"))
        fh.write(section(fx, "lax-secret", SECRET_APP, MAILBOX, client_secret_file="lax.secret"))


def register(fx):
    fx.mockctl("register", "--client-id", SECRET_APP, "--client-secret", SECRET,
               "--mailbox", MAILBOX)
    fx.mockctl("register", "--client-id", CERT_APP, "--certificate",
               os.path.join(fx.dir, "app.pem"), "--mailbox", MAILBOX)
    fx.mockctl("register", "--client-id", RS_APP, "--certificate",
               os.path.join(fx.dir, "enc.pem"), "--mailbox", SHARED)
    fx.mockctl("register", "--client-id", OLD_APP, "--client-secret", "an-expired-secret-value",
               "--secret-expired", "--mailbox", MAILBOX)


def introspect(fx, token):
    """introspect - what Dovecot would learn about a token"""
    data = urllib.parse.urlencode({"token": token}).encode()
    with urllib.request.urlopen("https://127.0.0.1:%d/introspect" % fx.port, data=data,
                                context=fx.ssl, timeout=10) as r:
        return json.loads(r.read())


def token_of(reply):
    m = re.match(r"^OK login=(\S+) expires=\d+ token=(\S+)$", reply)
    return (m.group(1), m.group(2)) if m else (None, None)


def test_served(t, fx):
    for name, login, what in (("secret-app", MAILBOX, "client secret (every form value encoded)"),
                              ("cert-app", MAILBOX, "certificate, PS256 assertion"),
                              ("rs-app", SHARED, "certificate with an encrypted key, RS256")):
        login_got, token = token_of(fx.ask("account", name))
        t.ok(login_got == login and token is not None,
             "%s: app-only token served, login %s" % (what, login))
        info = introspect(fx, token) if token else {}
        t.ok(info.get("active") is True and info.get("email") == login,
             "%s: the mock reports the token active for %s" % (what, login))
    t.ok(grant_stat(fx, CC, "ok") == 3, "three client_credentials grants, no refresh token used")
    t.ok(fx.stats()["token_requests"]["by_grant"].get("refresh_token") is None,
         "and no refresh_token grant at all")


def test_refused(t, fx):
    cases = (("wrong-cert", "AADSTS700027", "upload client_certificate_file's certificate"),
             ("wrong-secret", "AADSTS7000215", "secret's ID was probably used instead of its Value"),
             ("old-secret", "AADSTS7000222", "client secret has expired"),
             ("lax-secret", "chmod 600 %s/lax.secret" % fx.dir, "readable or writable by group"))
    for name, code, fix in cases:
        reply = fx.ask("token", name)
        t.ok(reply.startswith("PERM ") and code in reply and fix in reply,
             "%s: PERM naming the fix: %s" % (name, reply[:300]))


def test_refresh_ahead(t, fx):
    before = fx.ask("token", "cert-app")
    deadline = time.time() + 35
    while time.time() < deadline and \
            fx.stats()["token_requests"]["by_client"].get(CERT_APP, {}).get("ok", 0) < 2:
        time.sleep(0.5)
    n = fx.stats()["token_requests"]["by_client"].get(CERT_APP, {}).get("ok", 0)
    t.ok(n >= 2, "a %d-second app-only token is renewed before it expires, unasked (%d)"
         % (LIFETIME, n))
    after = fx.ask("token", "cert-app")
    t.ok(after.startswith("OK ") and after != before, "and the new token is served")


def test_check_certificate(t, fx):
    """a certificate 20 days from expiry turns check WARNING; 5 days, CRITICAL"""
    # One app registration per certificate: registering a certificate again
    # under the same client id replaces the first one at the mock.
    apps = {"soon": "5007a0a0-0000-4000-8000-000000000009",
            "sooner": "5007a0a0-0000-4000-8000-00000000000a"}
    old = os.umask(0o077)
    try:
        for name, days in (("soon", 20), ("sooner", 5)):
            openssl(fx, "req", "-x509", "-key", "app.key", "-out", name + ".pem", "-days",
                    str(days), "-subj", "/CN=" + name)
    finally:
        os.umask(old)
    for name, app in apps.items():
        fx.mockctl("register", "--client-id", app, "--certificate",
                   os.path.join(fx.dir, name + ".pem"), "--mailbox", MAILBOX)
    with open(fx.conf, "a") as fh:
        for name, app in apps.items():
            fh.write(section(fx, name + "-app", app, MAILBOX,
                             client_certificate_file=name + ".pem", client_key_file="app.key"))
    fx.daemon.send_signal(1)
    deadline = time.time() + 10
    while time.time() < deadline and not all(
            fx.ask("token", name + "-app").startswith("OK ") for name in apps):
        time.sleep(0.2)
    r = fx.cli("check", "soon-app")
    if not t.ok(r.returncode == 1 and re.search(r"certificate expires in (19|20) days", r.stdout),
                "check: a certificate expiring in 20 days is a WARNING (exit %d)" % r.returncode):
        t.diag(r.stdout)
    r = fx.cli("check", "sooner-app")
    if not t.ok(r.returncode == 2 and re.search(r"certificate expires in [45] days", r.stdout),
                "check: one expiring in 5 days is CRITICAL (exit %d)" % r.returncode):
        t.diag(r.stdout)


def test_status_cli(t, fx):
    test_check_certificate(t, fx)
    r = fx.cli("status", "cert-app", "--json")
    st = json.loads(r.stdout)[0] if r.returncode == 0 else {}
    t.ok(st.get("grant") == CC and st.get("authorized") is True and
         st.get("certificate_expires_at", 0) > time.time() + 300 * 86400,
         "status: grant client_credentials, authorized, certificate expiry shown")
    fx.stop()
    r = fx.cli("token", "rs-app")
    t.ok(r.returncode == 0 and r.stdout.strip() != "", "without the daemon the CLI gets one too")
    r = fx.cli("authorize", "cert-app")
    t.ok(r.returncode == 78 and "nobody needs to authorize it" in r.stderr,
         "authorize on an app-only account explains why not")
    r = fx.cli("config-check")
    t.ok(r.returncode == 78 and "lax.secret" in r.stderr and "chmod 600" in r.stderr,
         "config-check names the lax secret file")
    conf = os.path.join(fx.dir, "common.conf")
    with open(conf, "w") as fh:
        fh.write(section(fx, "x", CERT_APP, MAILBOX, client_certificate_file="app.pem",
                         client_key_file="app.key").replace("tenant = contoso.test",
                                                            "tenant = common"))
    r = subprocess.run([HELPER, "-c", conf, "config-check"],
                       capture_output=True, text=True)
    t.ok(r.returncode == 78 and "AADSTS9001023" in r.stderr,
         "client_credentials over /common is refused at load: %s" % r.stderr.strip())


def assertion(fx, key="app", cert="app", alg="PS256", **override):
    """assertion - a client assertion made here with the openssl command"""
    der = subprocess.run(["openssl", "x509", "-in", os.path.join(fx.dir, cert + ".pem"),
                          "-outform", "DER"], capture_output=True, check=True).stdout
    now = int(time.time())
    url = "https://127.0.0.1:%d/contoso.test/oauth2/v2.0/token" % fx.port
    header = {"alg": alg, "typ": "JWT", "x5t#S256": b64url(hashlib.sha256(der).digest())}
    claims = {"aud": url, "iss": CERT_APP, "sub": CERT_APP, "jti": str(uuid.uuid4()),
              "nbf": now, "iat": now, "exp": now + 300}
    claims.update(override)
    signing = "%s.%s" % (b64url(json.dumps(header).encode()), b64url(json.dumps(claims).encode()))
    cmd = ["openssl", "dgst", "-sha256", "-sign", os.path.join(fx.dir, key + ".key")]
    if alg == "PS256":
        cmd += ["-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:-1"]
    sig = subprocess.run(cmd, input=signing.encode(), capture_output=True, check=True).stdout
    return signing + "." + b64url(sig)


def post_assertion(fx, jwt):
    form = urllib.parse.urlencode({
        "grant_type": CC, "client_id": CERT_APP, "scope": "https://outlook.office365.com/.default",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": jwt}).encode()
    url = "https://127.0.0.1:%d/contoso.test/oauth2/v2.0/token" % fx.port
    try:
        with urllib.request.urlopen(url, data=form, context=fx.ssl, timeout=10) as r:
            return r.status, 0
    except urllib.error.HTTPError as e:
        return e.code, (json.loads(e.read()).get("error_codes") or [0])[0]


def test_mock_checks(t, fx):
    now = int(time.time())
    good = assertion(fx)
    cases = (
        ("a correct assertion (made here)", good, (200, 0)),
        ("the same assertion again (jti replayed)", good, (401, 700023)),
        ("an expired assertion", assertion(fx, exp=now - 10, nbf=now - 310, iat=now - 310),
         (401, 700024)),
        ("an assertion valid for an hour", assertion(fx, exp=now + 3600), (401, 700024)),
        ("another audience", assertion(fx, aud="https://login.microsoftonline.com/x/oauth2/"
                                               "v2.0/token"), (401, 700212)),
        ("another issuer", assertion(fx, iss="someone-else"), (401, 700021)),
        ("signed by another key, claiming the registered thumbprint",
         assertion(fx, key="other"), (401, 700027)),
        ("the thumbprint of an unregistered certificate", assertion(fx, key="other", cert="other"),
         (401, 700027)),
        ("a correct RS256 assertion", assertion(fx, alg="RS256"), (200, 0)),
    )
    for what, jwt, want in cases:
        got = post_assertion(fx, jwt)
        t.ok(got == want, "mock: %s -> %s (want %s)" % (what, got, want))


def main():
    t = Tap()
    fx = Fixture(accounts=())
    with fx.suite(t):
        make_keys(fx)
        write_config(fx)
        register(fx)
        fx.settings(lifetime=LIFETIME)
        fx.start()
        test_served(t, fx)
        test_refused(t, fx)
        test_refresh_ahead(t, fx)
        test_mock_checks(t, fx)
        test_status_cli(t, fx)
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
