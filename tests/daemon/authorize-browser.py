#!/usr/bin/env python3
"""authorize-browser.py - "authorize --browser" (authorization code, PKCE,
loopback redirect) and "authorize --paste" against the mock, which checks
PKCE: a client follows the printed URL through the mock's redirect to the
helper's listener (on 127.0.0.1 and [::1]); forged redirects ignored, a wrong verifier, a refusal, a timeout,
no refresh token (TAP)"""

import base64
import hashlib
import json
import os
import re
import socket
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixture import CLIENT_ID, Fixture, Tap  # noqa: E402
from flows import Flow, authorize_url, grant_stat, state_file  # noqa: E402

USERS = ["%s@contoso.test" % n for n in
         ("alice", "bob", "carol", "dave", "erin", "frank", "grace", "henry", "ivan", "judy")]
ALICE, BOB, CAROL, DAVE, ERIN, FRANK, GRACE, HENRY, IVAN, JUDY = USERS
CODE = "authorization_code"
GOOGLE_ID = "1234567890-abc.apps.googleusercontent.com"
GOOGLE_SECRET = "GOCSPX-not-really-secret"


def query(url):
    """query - the parameters of a URL"""
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def have_ipv6_loopback():
    """have_ipv6_loopback - whether anyone can listen on [::1] here"""
    try:
        s = socket.socket(socket.AF_INET6)
    except OSError:
        return False
    try:
        s.bind(("::1", 0))
        return True
    except OSError:
        return False
    finally:
        s.close()


def browse(fx, url, *args):
    """browse - mockctl browse; its output lines"""
    return fx.mockctl("browse", url, *args).strip().splitlines()


def test_browser(t, fx):
    f = Flow(fx, ALICE, "--browser", "--no-open", "--timeout", "30")
    url = authorize_url(f)
    q = query(url or "")
    m = re.match(r"^http://localhost:(\d+)$", q.get("redirect_uri", ""))
    t.ok(m is not None, "redirect_uri is http://localhost:PORT (%s)" % q.get("redirect_uri"))
    t.ok(q.get("code_challenge_method") == "S256" and len(q.get("code_challenge", "")) == 43,
         "PKCE S256 challenge in the URL")
    t.ok(len(q.get("state", "")) >= 22 and q.get("response_type") == "code",
         "a random state (%d characters), response_type=code" % len(q.get("state", "")))
    t.ok("offline_access" in q.get("scope", "").split() and q.get("login_hint") == ALICE,
         "asks for offline_access, hints the mailbox")
    port = int(m.group(1)) if m else 0
    try:
        urllib.request.urlopen("http://127.0.0.1:%d/favicon.ico" % port, timeout=5)
        status = 200
    except urllib.error.HTTPError as e:
        status = e.code
    t.ok(status == 404, "the listener answers other paths with 404 and keeps waiting")
    # "localhost" may be ::1 for the browser: that side of the port must be ours too.
    if not have_ipv6_loopback():
        t.ok(True, "no [::1] on this host: nobody can listen there (skipped)")
    else:
        s6 = socket.socket(socket.AF_INET6)
        try:
            s6.bind(("::1", port))
            taken = False
        except OSError:
            taken = True
        finally:
            s6.close()
        try:
            urllib.request.urlopen("http://[::1]:%d/favicon.ico" % port, timeout=5)
            status6 = 200
        except urllib.error.HTTPError as e:
            status6 = e.code
        except OSError:
            status6 = None
        t.ok(taken and status6 == 404,
             "[::1]:%d is ours too: another user cannot bind it (taken: %s), our listener "
             "answers there (%s)" % (port, taken, status6))
    out = browse(fx, url)
    t.ok(out == ["302 http://localhost:%d" % port, "200 listener"],
         "the mock redirects to the listener, which answers 200 (%s)" % out)
    rc = f.finish()
    t.ok(rc == 0 and "the running daemon picked it up" in f.out,
         "browser flow: exit 0, daemon told (%d) %s" % (rc, f.err.strip()[-200:]))
    t.ok(grant_stat(fx, CODE, "ok") == 1, "the mock redeemed the code once, PKCE verified")
    t.ok(fx.ask("account", ALICE).startswith("OK login=%s " % ALICE), "the daemon serves it")


def test_fixed_port(t, fx):
    port = free_port()
    f = Flow(fx, BOB, "--browser", "--no-open", "--port", str(port))
    url = authorize_url(f)
    t.ok(query(url or "").get("redirect_uri") == "http://localhost:%d" % port,
         "--port %d is the redirect port" % port)
    out = browse(fx, url)
    rc = f.finish()
    t.ok(rc == 0 and out[-1:] == ["200 listener"], "and the flow completes there (%d)" % rc)


def test_forged_state(t, fx):
    """any local user can reach the listener: a forged redirect must not end the sign-in"""
    before = fx.stats()["token_requests"]["total"]
    f = Flow(fx, CAROL, "--browser", "--no-open", "--timeout", "60")
    url = authorize_url(f)
    port = int(query(url or "").get("redirect_uri", ":0").rsplit(":", 1)[1])
    out = browse(fx, url, "--state", "forged-state-value-0123456789")
    t.ok(out[-1:] == ["400 listener"], "a redirect with another state gets 400 (%s)" % out)
    try:
        urllib.request.urlopen("http://127.0.0.1:%d/?code=forged-code-without-state" % port,
                               timeout=5)
        status = 200
    except urllib.error.HTTPError as e:
        status = e.code
    t.ok(status == 400, "a redirect without a state gets 400 (%s)" % status)
    time.sleep(0.3)
    t.ok(f.p.poll() is None and fx.stats()["token_requests"]["total"] == before and
         not os.path.exists(state_file(fx, CAROL)),
         "the forged codes were not redeemed, nothing stored, and the sign-in still waits")
    out = browse(fx, url)
    rc = f.finish()
    t.ok(out[-1:] == ["200 listener"] and rc == 0 and os.path.exists(state_file(fx, CAROL)),
         "then the real redirect: signed in and stored (%d, %s) %s"
         % (rc, out, f.err.strip().splitlines()[-1:]))
    t.ok(f.err.count("ignored a redirect whose state does not match") == 2,
         "each forged redirect is reported on the terminal")
    t.ok(fx.stats()["token_requests"]["total"] == before + 1, "only the real code was redeemed")


def test_wrong_verifier(t, fx):
    f = Flow(fx, DAVE, "--browser", "--no-open")
    url = authorize_url(f)
    # The mock records another challenge: the helper's verifier no longer matches.
    other = base64.urlsafe_b64encode(hashlib.sha256(b"not the helper's verifier").digest())
    browse(fx, url, "--code-challenge", other.rstrip(b"=").decode())
    rc = f.finish()
    t.ok(rc == 69 and "AADSTS501481" in f.err and "code verifier does not match" in f.err,
         "a verifier that does not match the challenge is refused by the mock: %s"
         % f.err.strip().splitlines()[-1:])
    t.ok(grant_stat(fx, CODE, "pkce_mismatch") == 1 and not os.path.exists(state_file(fx, DAVE)),
         "nothing stored")


def test_denied(t, fx):
    fx.settings(authorize_outcome="deny")
    f = Flow(fx, ERIN, "--browser", "--no-open")
    out = browse(fx, authorize_url(f))
    rc = f.finish()
    fx.settings(authorize_outcome="approve")
    t.ok(out[-1:] == ["400 listener"] and rc == 69 and "access_denied" in f.err and
         "AADSTS65004" in f.err and "sign in again and accept" in f.err,
         "a refused consent comes back as an error, shown with the fix: %s"
         % f.err.strip().splitlines()[-1:])
    fx.settings(consent_missing="on")
    f = Flow(fx, ERIN, "--browser", "--no-open")
    browse(fx, authorize_url(f))
    rc = f.finish()
    fx.settings(consent_missing="off")
    t.ok(rc == 69 and "consent_required" in f.err and "grant admin consent for SMTP.Send" in f.err,
         "consent missing (AADSTS65001 in error_uri): the fix is named: %s"
         % f.err.strip().splitlines()[-1:])


def test_timeout(t, fx):
    f = Flow(fx, ERIN, "--browser", "--no-open", "--timeout", "2")
    rc = f.finish()
    t.ok(rc == 69 and "no redirect arrived within 2s" in f.err,
         "nobody signs in: gives up after --timeout: %s" % f.err.strip().splitlines()[-1:])


def test_paste(t, fx):
    f = Flow(fx, FRANK, "--paste", stdin=True)
    url = authorize_url(f)
    t.ok(query(url or "").get("redirect_uri") == "http://localhost",
         "paste: redirect_uri is http://localhost, as registered")
    location = fx.mockctl("browse", url, "--location-only").strip()
    f.send(location)
    rc = f.finish()
    t.ok(rc == 0 and os.path.exists(state_file(fx, FRANK)),
         "paste of the whole redirected address: stored (%d) %s" % (rc, f.err.strip()[-200:]))

    f = Flow(fx, GRACE, "--paste", stdin=True)
    location = fx.mockctl("browse", authorize_url(f), "--location-only").strip()
    f.send(query(location)["code"])
    rc = f.finish()
    t.ok(rc == 0 and os.path.exists(state_file(fx, GRACE)), "paste of the code alone: stored")

    f = Flow(fx, HENRY, "--paste", stdin=True)
    location = fx.mockctl("browse", authorize_url(f), "--location-only").strip()
    f.send(re.sub(r"state=[^&]*", "state=someone-elses", location))
    rc = f.finish()
    t.ok(rc == 69 and "state differs" in f.err and not os.path.exists(state_file(fx, HENRY)),
         "paste of an address from another request: refused, nothing stored")

    f = Flow(fx, HENRY, "--paste", stdin=True)
    authorize_url(f)
    f.send("")
    rc = f.finish()
    t.ok(rc == 69 and "nothing was pasted" in f.err, "nothing pasted: says so")


def test_no_refresh_token(t, fx):
    fx.settings(issue_refresh_tokens="off")
    f = Flow(fx, IVAN, "--paste", stdin=True)
    f.send(fx.mockctl("browse", authorize_url(f), "--location-only").strip())
    rc = f.finish()
    fx.settings(issue_refresh_tokens="on")
    t.ok(rc == 69 and "no refresh token came back" in f.err and "offline_access" in f.err,
         "no refresh token in the reply: said plainly, naming offline_access")
    t.ok(not os.path.exists(state_file(fx, IVAN)), "and nothing stored")


def test_google(t, fx):
    """the Google preset's way, against the mock standing in for Google's endpoints"""
    f = Flow(fx, "gmail", "--paste", stdin=True)
    url = authorize_url(f) or ""
    q = query(url)
    t.ok(q.get("access_type") == "offline" and q.get("prompt") == "consent" and
         q.get("scope") == "https://mail.google.com/" and "response_mode" not in q,
         "google: access_type=offline, prompt=consent, the mail scope as is")
    f.send(fx.mockctl("browse", url, "--location-only").strip())
    rc = f.finish()
    t.ok(rc == 0 and os.path.exists(state_file(fx, "gmail")),
         "google: code redeemed with the client secret, refresh token stored (%d) %s"
         % (rc, f.err.strip()[-200:]))


def test_mock_checks_pkce(t, fx):
    """the mock itself: a code redeemed with a wrong verifier fails, the right one works"""
    verifier = "v" * 43
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    params = {"client_id": CLIENT_ID, "response_type": "code",
              "redirect_uri": "http://localhost", "scope": "https://outlook.office.com/"
              "SMTP.Send offline_access", "state": "s", "code_challenge":
              challenge.rstrip(b"=").decode(), "code_challenge_method": "S256"}
    base = "https://127.0.0.1:%d/contoso.test/oauth2/v2.0/" % fx.port
    replies = []
    for v in ("w" * 43, verifier):
        loc = fx.mockctl("browse", base + "authorize?" + urllib.parse.urlencode(params),
                         "--location-only").strip()
        form = urllib.parse.urlencode({"grant_type": CODE, "client_id": CLIENT_ID,
                                       "code": query(loc)["code"], "code_verifier": v,
                                       "redirect_uri": "http://localhost"}).encode()
        try:
            with urllib.request.urlopen(base + "token", data=form, context=fx.ssl,
                                        timeout=10) as r:
                replies.append((r.status, json.loads(r.read()).get("token_type")))
        except urllib.error.HTTPError as e:
            replies.append((e.code, json.loads(e.read()).get("error_codes")))
    t.ok(replies == [(400, [501481]), (200, "Bearer")],
         "the mock checks S256: wrong verifier 400 AADSTS501481, right one 200 (%s)" % replies)


def main():
    t = Tap()
    fx = Fixture(accounts=USERS)
    with fx.suite(t):
        fx.mockctl("register", "--client-id", CLIENT_ID, "--tenant", "contoso.test")
        # A Google "Desktop app" client: its secret goes along, its endpoints are the mock's.
        fx.mockctl("register", "--client-id", GOOGLE_ID, "--tenant", "contoso.test",
                   "--client-secret", GOOGLE_SECRET)
        secret = os.path.join(fx.dir, "google.secret")
        with open(os.open(secret, os.O_WRONLY | os.O_CREAT, 0o600), "w") as fh:
            fh.write(GOOGLE_SECRET + "\n")
        base = "https://127.0.0.1:%d/contoso.test/oauth2/v2.0/" % fx.port
        with open(fx.conf, "a") as fh:
            fh.write("\n[account gmail]\nprovider = google\nclient_id = %s\n"
                     "client_secret_file = %s\nlogin = relay@example.com\n"
                     "token_endpoint = %stoken\nauthorize_endpoint = %sauthorize\n"
                     "ca_file = %s\n" % (GOOGLE_ID, secret, base, base, fx.ca))
        fx.start()
        test_browser(t, fx)
        test_fixed_port(t, fx)
        test_forged_state(t, fx)
        test_wrong_verifier(t, fx)
        test_denied(t, fx)
        test_timeout(t, fx)
        test_paste(t, fx)
        test_no_refresh_token(t, fx)
        test_google(t, fx)
        test_mock_checks_pkce(t, fx)
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
