#!/usr/bin/env python3
"""mock_idp.py - a stand-in for the Microsoft identity platform, for tests

Usage:
  mock_idp.py --cert CERT --key KEY --port-file FILE --state-dir DIR
              [--port N] [--host 127.0.0.1]

Serves HTTPS on loopback until killed:

  POST /{tenant}/oauth2/v2.0/token   refresh_token, authorization_code
                                     (PKCE S256 checked), device_code and
                                     client_credentials grants; clients
                                     authenticate with nothing, a secret or
                                     a JWT assertion (signature checked with
                                     the openssl CLI); Entra-shaped replies
                                     and errors (AADSTS codes)
  GET  /{tenant}/oauth2/v2.0/authorize
                                     auto-approves (or denies, as set) and
                                     302-redirects to the loopback
                                     redirect_uri with code and state
  POST /{tenant}/oauth2/v2.0/devicecode
                                     RFC 8628 device authorization; the
                                     "user" answers through /_mock/device
  POST /token                        Google's token endpoint: the RFC 7523
                                     JWT bearer grant of a service account
                                     with domain-wide delegation (signature,
                                     kid, iss, sub, aud, scope, iat, exp
                                     checked; Google-shaped errors)
  POST /introspect                   RFC 7662 introspection for Dovecot's
                                     oauth2 passdb (form "token="); an
                                     app-only token reports the mailbox the
                                     app was given (Add-MailboxPermission)
  /_mock/...                         control API for the tests (see
                                     tests/mock/mockctl)

Certificates: an app registration keeps several (register's
add_certificate / remove_certificate), as Entra does during a rollover;
an assertion is checked against the one its x5t#S256 names (AADSTS700027
when none). Federated identity credentials (/_mock/federated: issuer,
subject, audiences, the issuer's public key): a client_assertion whose
iss is not the client id is an external token, checked as Entra does:
AADSTS700211 (no credential for the issuer), 700027 (signature),
700024 (expired), 700213 (subject), 700212 (audience).

The chosen port is written to --port-file once the socket listens.

TLS faults (fault tls_untrusted, tls_abort) hit only TLS handshakes that
ask for the server name in the setting tls_fault_host (default
"localhost"): a test points the helper's token endpoint at
https://localhost:PORT, while the control API and Dovecot's introspection
keep using https://127.0.0.1:PORT (no SNI) and are not disturbed.
tls_untrusted presents a self-signed certificate no test CA vouches for;
tls_abort fails the handshake with an alert. A token request arriving on a
connection to tls_fault_host set up before the fault began is dropped
unanswered, so that the client has to handshake again.

Per-user faults: the setting user_faults maps a user to a fault mode that
applies to token requests redeeming that user's refresh tokens, so that one
test can run every mode at once on different accounts. The global fault,
when not none, takes precedence.

Refresh-token rotation: with revoke_old_refresh_tokens, issuing a new
refresh token revokes the one redeemed (strict rotation). With
revoke_superseded, redeeming a refresh token revokes every refresh token
of the grant issued before it: a client that ever goes back to an older
token than one it has used fails (the crash tests rely on this), while a
token that was issued but never used does not invalidate its parent.

Security notes: this is test code, but the tests grep every log for leaked
secrets, so the mock itself never logs a token or a secret. Everything it
issues or accepts is appended to STATE_DIR/issued-secrets, one per line,
for that check.
"""

import argparse
import base64
import hashlib
import json
import os
import secrets
import shutil
import socket
import socketserver
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
MAX_BODY = 1 << 20
DEFAULT_SCOPE = "https://outlook.office.com/SMTP.Send"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
SHARED_TENANTS = ("common", "organizations", "consumers")
ASSERTION_MAX_LIFETIME = 600
CLOCK_SKEW = 300
FAULTS = ("none", "http500", "http429", "hang", "garbage", "truncated",
          "invalid_grant", "tls_untrusted", "tls_abort")
TLS_FAULTS = ("tls_untrusted", "tls_abort")


def b64url(data):
    """b64url - unpadded base64url of bytes"""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text):
    """b64url_decode - bytes of unpadded base64url; ValueError when malformed"""
    if not isinstance(text, str) or not all(c in B64URL for c in text):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def random_chars(n):
    """random_chars - n random base64url characters"""
    return "".join(secrets.choice(B64URL) for _ in range(n))


def utc_stamp(t=None):
    """utc_stamp - Entra's timestamp format"""
    t = time.time() if t is None else t
    return time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(t))


class MockState:
    """MockState - registered clients, grants, tokens, settings, counters"""

    def __init__(self, state_dir):
        self.lock = threading.Lock()
        self.state_dir = state_dir
        self.secrets_path = os.path.join(state_dir, "issued-secrets")
        self.clients = {}        # client_id -> {"secret": str|None, "tenant": str, ...}
        self.codes = {}          # authorization code -> request record
        self.devices = {}        # device code -> device authorization record
        self.jtis = set()        # client assertion ids seen (replay check)
        self.refresh = {}        # refresh token -> grant record
        self.access = {}         # access token -> {"user", "client_id", "exp", "scope"}
        self.grants = {}         # grant id -> {"user", "client_id", "tenant", "revoked"}
        self.delegates = {}      # mailbox -> users who may send as it (see introspect_as)
        self.settings = {
            "lifetime": 3600,
            "token_length": 2000,
            "fault": "none",
            "retry_after": 5,
            "fault_count": 0,          # 0: fault applies until cleared
            "revoke_old_refresh_tokens": False,
            "revoke_superseded": False,
            "token_delay": 0.0,        # seconds to wait before answering /token
            "authorize_outcome": "approve",  # or "deny": how /authorize answers
            "authorize_user": "",      # who signs in (default: login_hint)
            "issue_refresh_tokens": True,  # False: as if offline_access was not consented
            "consent_missing": False,  # True: SMTP.Send was never consented (AADSTS65001)
            "device_interval": 5,      # seconds between polls the mock asks for
            "device_expires_in": 900,  # lifetime of a device code
            "device_slow_down": 0,     # answer the next N polls with slow_down
            "tls_fault_host": "localhost",
            "user_faults": {},         # user -> fault mode
            "aadsts_fault": 0,         # N: every v2.0 token request fails with AADSTSN
            "user_aadsts": {},         # user -> N: that user's refresh tokens fail with AADSTSN
        }
        self.start = time.time()
        self.reset_stats()

    def reset_stats(self):
        """reset_stats - zero every counter"""
        self.stats = {
            "token_requests": {"total": 0, "by_outcome": {}, "by_user": {},
                               "by_client": {}, "by_grant": {}, "ok_times": []},
            "authorize_requests": {"total": 0, "by_outcome": {}},
            "device_requests": {"total": 0, "by_outcome": {}},
            "introspections": {"total": 0, "ok": 0, "failed": 0,
                               "by_user": {}},
            "control_requests": 0,
        }

    def record_secret(self, value):
        """record_secret - remember a secret for the leak check"""
        with open(self.secrets_path, "a", encoding="ascii") as f:
            f.write(value + "\n")

    def count(self, kind, outcome):
        """count - one request of kind (authorize_requests, device_requests) and its outcome"""
        c = self.stats[kind]
        c["total"] += 1
        c["by_outcome"][outcome] = c["by_outcome"].get(outcome, 0) + 1

    def count_token(self, outcome, user=None, client_id=None, grant=None):
        """count_token - one token-endpoint request and its outcome"""
        tr = self.stats["token_requests"]
        tr["total"] += 1
        if grant:
            g = tr["by_grant"].setdefault(grant, {})
            g[outcome] = g.get(outcome, 0) + 1
        tr["by_outcome"][outcome] = tr["by_outcome"].get(outcome, 0) + 1
        if user:
            u = tr["by_user"].setdefault(user, {})
            u[outcome] = u.get(outcome, 0) + 1
        if client_id:
            c = tr["by_client"].setdefault(client_id, {})
            c[outcome] = c.get(outcome, 0) + 1
        if outcome == "ok":
            tr["ok_times"].append(round(time.time() - self.start, 3))

    def user_of(self, rt):
        """user_of - the user a refresh token was issued for, or None"""
        rec = self.refresh.get(rt)
        return self.grants[rec["grant"]]["user"] if rec is not None else None

    def new_refresh_token(self, grant_id):
        """new_refresh_token - issue an opaque refresh token for a grant"""
        rt = "0.A" + random_chars(300)
        grant = self.grants[grant_id]
        grant["seq"] = grant.get("seq", 0) + 1
        self.refresh[rt] = {"grant": grant_id, "revoked": False,
                            "issued": time.time(), "seq": grant["seq"]}
        self.record_secret(rt)
        return rt

    def new_access_token(self, grant, scope, app_only=False):
        """new_access_token - a fake JWT of the configured length"""
        now = int(time.time())
        exp = now + int(self.settings["lifetime"])
        header = b64url(json.dumps({"typ": "JWT", "alg": "RS256",
                                    "kid": "mock-idp"}).encode())
        claims = {
            "aud": "https://outlook.office.com",
            "iss": "https://sts.windows.net/%s/" % grant["tenant"],
            "iat": now, "nbf": now, "exp": exp,
            "appid": grant["client_id"],
            "jti": str(uuid.uuid4()),
        }
        if app_only:
            claims["roles"] = ["SMTP.SendAsApp"]
        else:
            claims.update({"upn": grant["user"], "scp": "SMTP.Send"})
        payload = b64url(json.dumps(claims).encode())
        want = int(self.settings["token_length"])
        sig_len = max(16, want - len(header) - len(payload) - 2)
        token = "%s.%s.%s" % (header, payload, random_chars(sig_len))
        self.access[token] = {"user": grant["user"],
                              "client_id": grant["client_id"],
                              "exp": exp, "scope": scope}
        self.record_secret(token)
        return token, exp


def setting_value(old, v):
    """setting_value - v converted to the type of the setting it replaces"""
    if isinstance(old, bool):
        if isinstance(v, str):
            return v.lower() in ("1", "true", "yes", "on")
        return bool(v)
    return type(old)(v)


def entra_error(status, error, code, text):
    """entra_error - (status, body) shaped like an Entra ID error reply"""
    trace = str(uuid.uuid4())
    corr = str(uuid.uuid4())
    stamp = utc_stamp()
    desc = "AADSTS%d: %s\r\nTrace ID: %s\r\nCorrelation ID: %s\r\nTimestamp: %s" % (
        code, text, trace, corr, stamp)
    return status, {
        "error": error,
        "error_description": desc,
        "error_codes": [code],
        "timestamp": stamp,
        "trace_id": trace,
        "correlation_id": corr,
        "error_uri": "https://login.microsoftonline.com/error?code=%d" % code,
    }


class Handler(BaseHTTPRequestHandler):
    """Handler - one HTTP request on the mock"""

    protocol_version = "HTTP/1.1"
    server_version = "mock-idp/1.0"
    sys_version = ""

    # The default log_message prints the request line, which may hold a
    # token in a query string: log our own line instead.
    def log_message(self, fmt, *args):
        pass

    def log_line(self, status, extra=""):
        """log_line - method, path (no query), status, never a secret"""
        path = urllib.parse.urlsplit(self.path).path
        sys.stderr.write("%s mock-idp: %s %s %d%s\n" % (
            time.strftime("%H:%M:%S"), self.command, path[:100], status,
            (" " + extra) if extra else ""))
        sys.stderr.flush()

    @property
    def state(self):
        return self.server.state

    def read_body(self):
        """read_body - the request body, Content-Length or chunked"""
        te = self.headers.get("Transfer-Encoding", "")
        if te.lower() == "chunked":
            out = b""
            while True:
                line = self.rfile.readline(100)
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1000) not in (b"\r\n", b"\n", b""):
                        pass
                    return out
                if len(out) + size > MAX_BODY:
                    raise ValueError("body too large")
                out += self.rfile.read(size)
                self.rfile.readline(10)
        n = int(self.headers.get("Content-Length", "0") or "0")
        if n < 0 or n > MAX_BODY:
            raise ValueError("bad Content-Length")
        return self.rfile.read(n) if n else b""

    def send_json(self, status, obj, headers=None, extra_log=""):
        """send_json - a complete JSON reply"""
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store, no-cache")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)
        self.log_line(status, extra_log)

    def do_GET(self):
        path = urllib.parse.urlsplit(self.path).path
        try:
            self.read_body()
        except ValueError:
            self.send_json(400, {"error": "invalid_request"})
            return
        with self.state.lock:
            self.state.stats["control_requests"] += 1 if path.startswith("/_mock/") else 0
            if path == "/_mock/stats":
                self.send_json(200, self.state.stats)
                return
            if path == "/_mock/settings":
                self.send_json(200, self.state.settings)
                return
            if path == "/_mock/health":
                self.send_json(200, {"ok": True})
                return
        parts = path.strip("/").split("/")
        if len(parts) == 4 and parts[1:] == ["oauth2", "v2.0", "authorize"]:
            self.authorize_endpoint(parts[0])
            return
        self.send_json(404, {"error": "not_found"})

    def do_POST(self):
        path = urllib.parse.urlsplit(self.path).path
        try:
            body = self.read_body()
        except ValueError:
            self.send_json(400, {"error": "invalid_request"})
            return
        parts = path.strip("/").split("/")
        if len(parts) == 4 and parts[1:] == ["oauth2", "v2.0", "token"]:
            self.token_endpoint(parts[0], body)
        elif len(parts) == 4 and parts[1:] == ["oauth2", "v2.0", "devicecode"]:
            self.device_endpoint(parts[0], body)
        elif path == "/token":
            self.google_token(body)
        elif path == "/introspect":
            self.introspect(body)
        elif path.startswith("/introspect/as/"):
            self.introspect_as(urllib.parse.unquote(path[len("/introspect/as/"):]), body)
        elif path.startswith("/_mock/"):
            self.control(path[len("/_mock/"):], body)
        else:
            self.send_json(404, {"error": "not_found"})

    # ---- token endpoint ------------------------------------------------

    def token_endpoint(self, tenant, body):
        """token_endpoint - the v2.0 token endpoint, refresh_token grant"""
        st = self.state
        try:
            form = urllib.parse.parse_qs(body.decode("utf-8"),
                                         keep_blank_values=True,
                                         strict_parsing=False)
        except UnicodeDecodeError:
            form = {}
        f = {k: v[0] for k, v in form.items()}

        with st.lock:
            delay = float(st.settings["token_delay"])
            fault = st.settings["fault"]
            if fault in TLS_FAULTS and \
                    getattr(self.request, "sni_name", None) != st.settings["tls_fault_host"]:
                fault = "none"  # TLS faults hit only connections to tls_fault_host
            if fault != "none" and st.settings["fault_count"] > 0:
                st.settings["fault_count"] -= 1
                if st.settings["fault_count"] == 0:
                    st.settings["fault"] = "none"
            retry_after = st.settings["retry_after"]
            client_id = f.get("client_id", "")
            user = st.user_of(f.get("refresh_token", ""))
            if fault == "none" and user is not None:
                fault = st.settings["user_faults"].get(user, "none")
            if fault in TLS_FAULTS:
                st.count_token("fault_tls_dropped", user, client_id or None)
            elif fault != "none":
                st.count_token("fault_" + fault, user, client_id or None)
        if fault in TLS_FAULTS:
            # This connection was set up before the fault: drop it unanswered.
            self.close_connection = True
            self.log_line(0, "fault=%s dropped a kept-alive connection" % fault)
            return
        if delay > 0:
            time.sleep(delay)

        if fault != "none" and fault != "invalid_grant":
            self.token_fault(fault, retry_after)
            return
        code = int(st.settings["aadsts_fault"]) or \
            int(st.settings["user_aadsts"].get(user or "", 0))
        if code:
            self.aadsts_fault(code, client_id, tenant)
            return

        with st.lock:
            status, obj, outcome, user = self.token_grant(tenant, f, fault)
            if fault == "none":
                st.count_token(outcome, user, client_id or None, f.get("grant_type") or None)
        self.send_json(status, obj, extra_log="outcome=%s%s" % (
            outcome, (" user=" + user) if user else ""))

    def aadsts_fault(self, code, client_id, tenant):
        """aadsts_fault - answer with Entra's error for a setup failure (setting aadsts_fault)"""
        known = {
            50194: (400, "invalid_request", "Application '%s' is not configured as a "
                    "multi-tenant application. Usage of the /common endpoint is not supported "
                    "for such applications created after '10/15/2018'. Use a tenant-specific "
                    "endpoint or configure the application to be multi-tenant." % client_id),
            700016: (400, "unauthorized_client", "Application with identifier '%s' was not "
                     "found in the directory '%s'." % (client_id, tenant)),
            7000215: (401, "invalid_client", "Invalid client secret provided. Ensure the secret "
                      "being sent in the request is the client secret value, not the client "
                      "secret ID, for a secret added to app '%s'." % client_id),
            7000222: (401, "invalid_client", "The provided client secret keys for app '%s' are "
                      "expired." % client_id),
            70043: (400, "invalid_grant", "The refresh token has expired or is invalid due to "
                    "sign-in frequency checks by conditional access."),
            700082: (400, "invalid_grant", "The refresh token has expired due to inactivity."),
        }
        status, error, text = known.get(code, (400, "invalid_request", "Mock error."))
        status, obj = entra_error(status, error, code, text)
        with self.state.lock:
            self.state.count_token("aadsts_%d" % code, None, client_id or None)
        self.send_json(status, obj, extra_log="aadsts_fault=%d" % code)

    # ---- Google: service accounts (JWT bearer grant) -------------------

    def service_accounts(self):
        """service_accounts - client_email -> registered service account (created on first use)"""
        st = self.state
        if not hasattr(st, "service_accounts"):
            st.service_accounts = {}
        return st.service_accounts

    def register_service_account(self, req):
        """register_service_account - a Google service account: its public key, key id,
        client id, the Workspace mailboxes, and whether domain-wide delegation of
        https://mail.google.com/ was granted to its client id"""
        email = str(req.get("client_email", ""))
        pem = str(req.get("public_key", ""))
        if not email or "BEGIN PUBLIC KEY" not in pem:
            self.send_json(400, {"error": "client_email and public_key (PEM) required"})
            return
        path = os.path.join(self.state.state_dir, "sa-%s.pub" % uuid.uuid4())
        with open(path, "w", encoding="ascii") as fh:
            fh.write(pem)
        sa = self.service_accounts().setdefault(email, {})
        sa.update({"cert_pub": path, "key_id": str(req.get("private_key_id", "")),
                   "client_id": str(req.get("client_id", "")),
                   "mailboxes": [str(m).lower() for m in req.get("mailboxes", [])],
                   "delegated_scopes": [str(s) for s in
                                        req.get("delegated_scopes", ["https://mail.google.com/"])]})
        self.send_json(200, {"client_email": email, "client_id": sa["client_id"]},
                       extra_log="service-account %s" % email[:64])

    def google_token(self, body):
        """google_token - Google's token endpoint for the JWT bearer grant"""
        st = self.state
        try:
            form = urllib.parse.parse_qs(body.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError:
            form = {}
        f = {k: v[0] for k, v in form.items()}
        if f.get("assertion"):
            st.record_secret(f["assertion"])
        with st.lock:
            status, obj, outcome, user, who = self.google_grant(f)
            st.count_token(outcome, user, who, "jwt_bearer")
            if status == 200:
                sas = st.stats.setdefault("service_account_claims", [])
                sas.append(obj.pop("_claims"))
        self.send_json(status, obj, extra_log="google outcome=%s%s" % (
            outcome, (" sub=" + user) if user else ""))

    def google_grant(self, f):
        """google_grant - (status, reply, outcome, user, client_email) as Google answers"""
        st = self.state

        def err(status, error, desc, outcome, user=None, who=None):
            return status, {"error": error, "error_description": desc}, outcome, user, who

        if f.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return err(400, "unsupported_grant_type", "Invalid grant_type: %s"
                       % f.get("grant_type", "")[:60], "unsupported_grant_type")
        parts = f.get("assertion", "").split(".")
        try:
            if len(parts) != 3:
                raise ValueError("not three parts")
            header = json.loads(b64url_decode(parts[0]))
            claims = json.loads(b64url_decode(parts[1]))
            sig = b64url_decode(parts[2])
            if not isinstance(header, dict) or not isinstance(claims, dict):
                raise ValueError("not objects")
        except ValueError:
            return err(400, "invalid_grant", "Invalid JWT: could not parse it.", "malformed_jwt")
        email = claims.get("iss")
        sa = self.service_accounts().get(email) if isinstance(email, str) else None
        if sa is None:
            return err(400, "invalid_grant", "Invalid grant: account not found", "unknown_account")
        if header.get("alg") != "RS256" or header.get("kid") != sa["key_id"]:
            return err(400, "invalid_grant", "Invalid JWT Signature.", "wrong_kid", None, email)
        signed = (parts[0] + "." + parts[1]).encode("ascii")
        if not self.openssl_verify(sa, "RS256", signed, sig):
            return err(400, "invalid_grant", "Invalid JWT Signature.", "bad_signature", None,
                       email)
        url = "https://%s%s" % (self.headers.get("Host", ""),
                                urllib.parse.urlsplit(self.path).path)
        if claims.get("aud") != url:
            return err(400, "invalid_grant", "Invalid JWT: Token must be a short-lived token "
                       "(60 minutes) and in a reasonable timeframe. Check your iat and exp "
                       "values in the JWT claim. (aud must be %s)" % url, "wrong_audience",
                       None, email)
        now = time.time()
        iat, exp = claims.get("iat"), claims.get("exp")
        if not isinstance(iat, int) or not isinstance(exp, int) or exp <= now or \
                iat > now + CLOCK_SKEW or exp - iat > 3600:
            return err(400, "invalid_grant", "Invalid JWT: Token must be a short-lived token "
                       "(60 minutes) and in a reasonable timeframe. Check your iat and exp "
                       "values in the JWT claim.", "bad_times", None, email)
        scope = claims.get("scope")
        if not isinstance(scope, str) or not scope.split():
            return err(400, "invalid_scope", "Invalid OAuth scope or ID token audience "
                       "provided.", "no_scope", None, email)
        sub = claims.get("sub")
        if not isinstance(sub, str) or sub.lower() not in sa["mailboxes"]:
            return err(400, "invalid_grant", "Invalid email or User ID", "unknown_sub",
                       sub if isinstance(sub, str) else None, email)
        if any(s not in sa["delegated_scopes"] for s in scope.split()):
            return err(401, "unauthorized_client", "Client is unauthorized to retrieve access "
                       "tokens using this method, or client not authorized for any of the "
                       "scopes requested.", "not_delegated", sub, email)
        grant = {"user": sub, "client_id": sa["client_id"], "tenant": "google"}
        token, texp = st.new_access_token(grant, scope)
        return 200, {"access_token": token, "expires_in": texp - int(now),
                     "token_type": "Bearer",
                     "_claims": {"iss": email, "sub": sub, "aud": claims.get("aud"),
                                 "scope": scope, "lifetime": exp - iat, "kid": header.get("kid")}
                     }, "ok", sub, email

    def token_fault(self, fault, retry_after):
        """token_fault - misbehave as the settings say"""
        if fault == "http500":
            status, obj = entra_error(500, "temporarily_unavailable", 50001,
                                      "The service is temporarily unavailable.")
            self.send_json(status, obj, extra_log="fault=http500")
        elif fault == "http429":
            status, obj = entra_error(429, "temporarily_unavailable", 50196,
                                      "The server terminated an operation "
                                      "because it encountered a client "
                                      "request loop.")
            self.send_json(status, obj, {"Retry-After": str(retry_after)},
                           extra_log="fault=http429")
        elif fault == "garbage":
            body = b"<html><body>Sign in to your account</body></html>\n"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            self.log_line(200, "fault=garbage")
        elif fault == "truncated":
            body = b'{"token_type":"Bearer","scope":"' + DEFAULT_SCOPE.encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body) + 1000))
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
            self.close_connection = True
            self.log_line(200, "fault=truncated")
        elif fault == "hang":
            self.log_line(0, "fault=hang")
            while not self.server.stopping:
                time.sleep(0.5)
            self.close_connection = True

    def tenant_error(self, tenant):
        """tenant_error - AADSTS90002 for a tenant nobody registered, else None"""
        known = {c["tenant"] for c in self.state.clients.values()}
        if tenant in known or tenant in ("common", "organizations"):
            return None
        return entra_error(400, "invalid_request", 90002,
                           "Tenant '%s' not found. Check to make sure you have the "
                           "correct tenant ID and are signing into the correct "
                           "cloud." % tenant[:64])

    def find_client(self, tenant, client_id):
        """find_client - the registration, or None when unknown in this tenant"""
        client = self.state.clients.get(client_id)
        if client is None or (tenant not in ("common", "organizations")
                              and client["tenant"] != tenant):
            return None
        return client

    def token_grant(self, tenant, f, fault):
        """token_grant - check the request; (status, json, outcome, user)"""
        st = self.state
        grant_type = f.get("grant_type", "")
        client_id = f.get("client_id", "")
        err = self.tenant_error(tenant)
        if err is not None:
            return err + ("tenant_not_found", None)
        grants = {"refresh_token": self.grant_refresh,
                  "authorization_code": self.grant_code,
                  DEVICE_GRANT: self.grant_device,
                  "client_credentials": self.grant_client_credentials}
        if grant_type not in grants:
            return entra_error(400, "unsupported_grant_type", 70003,
                               "The app requested an unsupported grant type "
                               "'%s'." % grant_type[:40]) + ("unsupported_grant_type", None)
        if grant_type == "client_credentials" and tenant in SHARED_TENANTS:
            return entra_error(400, "invalid_request", 9001023,
                               "The grant type 'client_credentials' is not supported "
                               "over the /%s endpoint." % tenant) + ("shared_tenant", None)
        client = self.find_client(tenant, client_id)
        if client is None:
            return entra_error(400, "unauthorized_client", 700016,
                               "Application with identifier '%s' was not found "
                               "in the directory '%s'." % (client_id[:64], tenant[:64])) + (
                                   "unknown_client", None)
        err = self.client_auth(client_id, client, f, grant_type, tenant)
        if err is not None:
            return err
        return grants[grant_type](tenant, client, f, fault)

    # ---- client authentication -----------------------------------------

    def client_auth(self, client_id, client, f, grant_type, tenant):
        """client_auth - secret, assertion or none, as the registration wants; an error or None"""
        st = self.state
        secret = f.get("client_secret")
        assertion = f.get("client_assertion")
        confidential = client["secret"] is not None or client.get("cert_x5t") or \
            client.get("federated")
        if assertion is not None:
            st.record_secret(assertion)
            return self.check_assertion(client_id, client, f, tenant)
        if secret is not None:
            if not confidential:
                return entra_error(400, "invalid_client", 700025,
                                   "Client is public so neither 'client_assertion' "
                                   "nor 'client_secret' should be presented.") + (
                                       "public_client_secret", None)
            if client["secret"] is None or not secrets.compare_digest(secret, client["secret"]):
                return entra_error(401, "invalid_client", 7000215,
                                   "Invalid client secret provided. Ensure the "
                                   "secret being sent in the request is the "
                                   "client secret value, not the client secret "
                                   "ID, for a secret added to app '%s'." % client_id) + (
                                       "invalid_client", None)
            if client.get("secret_expired"):
                return entra_error(401, "invalid_client", 7000222,
                                   "The provided client secret keys for app '%s' are "
                                   "expired. Visit the Azure portal to create new keys "
                                   "for your app." % client_id) + ("secret_expired", None)
            st.record_secret(secret)
            return None
        if confidential or grant_type == "client_credentials" or (
                grant_type == DEVICE_GRANT and not client.get("public_flows", True)):
            return entra_error(401, "invalid_client", 7000218,
                               "The request body must contain the following "
                               "parameter: 'client_assertion' or "
                               "'client_secret'.") + ("missing_secret", None)
        return None

    def openssl_verify(self, pub, alg, data, sig):
        """openssl_verify - check an RS256/PS256 signature against a public key file
        (or a client registration: its first certificate's key)"""
        if isinstance(pub, dict):
            pub = pub.get("cert_pub") or ""
        work = tempfile.mkdtemp(dir=self.state.state_dir, prefix="verify.")
        try:
            with open(os.path.join(work, "data"), "wb") as fh:
                fh.write(data)
            with open(os.path.join(work, "sig"), "wb") as fh:
                fh.write(sig)
            cmd = ["openssl", "dgst", "-sha256", "-verify", pub,
                   "-signature", os.path.join(work, "sig")]
            if alg == "PS256":
                cmd += ["-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:-1"]
            cmd.append(os.path.join(work, "data"))
            r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
            return r.returncode == 0
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def check_assertion(self, client_id, client, f, tenant):
        """check_assertion - a JWT client assertion as Entra checks it; an error or None"""
        st = self.state

        def bad(code, text, outcome):
            return entra_error(401, "invalid_client", code, text) + (outcome, None)

        if f.get("client_assertion_type") != JWT_BEARER:
            return entra_error(400, "invalid_request", 50027,
                               "client_assertion_type must be %s." % JWT_BEARER) + (
                                   "bad_assertion_type", None)
        parts = f["client_assertion"].split(".")
        try:
            if len(parts) != 3:
                raise ValueError("not three parts")
            header = json.loads(b64url_decode(parts[0]))
            claims = json.loads(b64url_decode(parts[1]))
            sig = b64url_decode(parts[2])
            if not isinstance(header, dict) or not isinstance(claims, dict):
                raise ValueError("not objects")
        except ValueError:
            return bad(50027, "JWT token is invalid or malformed.", "malformed_assertion")
        if claims.get("iss") != client_id and "federated" in client:
            return self.check_federated(client, header, claims, parts, sig)
        if not client.get("cert_x5t"):
            return bad(700027, "Client assertion failed signature validation. Reason - "
                       "The key was not found.", "no_certificate")
        alg = header.get("alg")
        if alg not in ("PS256", "RS256") or header.get("typ", "JWT") != "JWT":
            return bad(5002738, "Invalid JWT token. '%s' is not a supported signature "
                       "algorithm." % str(alg)[:16], "bad_alg")
        if header.get("x5t#S256") not in client.get("certs", {}):
            return bad(700027, "Client assertion failed signature validation. Reason - "
                       "The key was not found. Thumbprint of key used by client: '%s'."
                       % str(header.get("x5t#S256"))[:64], "wrong_thumbprint")
        signed = (parts[0] + "." + parts[1]).encode("ascii")
        if not self.openssl_verify(client["certs"][header["x5t#S256"]], alg, signed, sig):
            return bad(700027, "Client assertion contains an invalid signature.",
                       "bad_signature")
        url = "https://%s%s" % (self.headers.get("Host", ""),
                                urllib.parse.urlsplit(self.path).path)
        if claims.get("aud") != url:
            return bad(700212, "The audience of the client assertion must be the token "
                       "endpoint '%s'." % url, "wrong_audience")
        if claims.get("iss") != client_id or claims.get("sub") != client_id:
            return bad(700021, "Client assertion application identifier doesn't match "
                       "'client_id' parameter.", "wrong_issuer")
        now = time.time()
        exp, nbf = claims.get("exp"), claims.get("nbf", claims.get("iat"))
        if not isinstance(exp, int) or not isinstance(nbf, int) or exp <= now or \
                nbf > now + CLOCK_SKEW or exp - nbf > ASSERTION_MAX_LIFETIME:
            return bad(700024, "Client assertion is not within its valid time range.",
                       "assertion_expired")
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti or jti in st.jtis:
            return bad(700023, "Client assertion jti is missing or was used before.",
                       "assertion_replayed")
        st.jtis.add(jti)
        return None

    def check_federated(self, client, header, claims, parts, sig):
        """check_federated - an external token against the app's federated credentials

        As Entra (workload identity federation): a credential for the
        token's issuer, the signature with that issuer's key, the validity
        period, then the subject and the audience, each refusal with
        Entra's code and wording; an error or None.
        """
        def bad(code, text, outcome):
            return entra_error(401, "invalid_client", code, text) + (outcome, None)

        check = ("Check your federated identity credential Subject, Audience and Issuer "
                 "against the presented assertion. "
                 "https://learn.microsoft.com/entra/workload-id/workload-identity-federation")
        iss, sub, aud = claims.get("iss"), claims.get("sub"), claims.get("aud")
        creds = [c for c in client["federated"] if c["issuer"] == iss]
        if not creds:
            return bad(700211, "No matching federated identity record found for presented "
                       "assertion issuer '%s'. %s" % (str(iss)[:200], check), "fic_issuer")
        alg = header.get("alg")
        signed = (parts[0] + "." + parts[1]).encode("ascii")
        if alg not in ("RS256", "PS256") or not self.openssl_verify(creds[0]["key"], alg,
                                                                    signed, sig):
            return bad(700027, "Client assertion failed signature validation. Reason - The "
                       "key was not found.", "fic_signature")
        now = time.time()
        exp, nbf = claims.get("exp"), claims.get("nbf", claims.get("iat", 0))
        if not isinstance(exp, int) or not isinstance(nbf, int) or exp <= now or \
                nbf > now + CLOCK_SKEW:
            return bad(700024, "Client assertion is not within its valid time range. Current "
                       "time: %s, expiry time of assertion %s." % (
                           utc_stamp(now), utc_stamp(exp if isinstance(exp, int) else 0)),
                       "fic_expired")
        creds = [c for c in creds if c["subject"] == sub]
        if not creds:
            return bad(700213, "No matching federated identity record found for presented "
                       "assertion subject '%s'. %s" % (str(sub)[:200], check), "fic_subject")
        auds = aud if isinstance(aud, list) else [aud]
        if not any(a in c["audiences"] for c in creds for a in auds):
            return bad(700212, "No matching federated identity record found for presented "
                       "assertion audience '%s'. %s" % (str(aud)[:200], check), "fic_audience")
        return None

    # ---- grants --------------------------------------------------------

    def issue(self, grant_id, scope, refresh):
        """issue - a token reply for a grant, with a refresh token when refresh is true"""
        st = self.state
        grant = st.grants[grant_id]
        scopes = [x for x in scope.split()
                  if x not in ("offline_access", "openid", "profile", "email")]
        token, exp = st.new_access_token(grant, " ".join(scopes) or DEFAULT_SCOPE)
        lifetime = exp - int(time.time())
        reply = {"token_type": "Bearer", "scope": " ".join(scopes) or DEFAULT_SCOPE,
                 "expires_in": lifetime, "ext_expires_in": lifetime, "access_token": token}
        if refresh:
            reply["refresh_token"] = st.new_refresh_token(grant_id)
        return 200, reply, "ok", grant["user"]

    def offline(self, scope):
        """offline - whether a new grant yields a refresh token: offline_access asked and consented"""
        return "offline_access" in scope.split() and self.state.settings["issue_refresh_tokens"]

    def new_grant(self, user, client_id, tenant):
        """new_grant - a user's consent to a client; its id"""
        gid = str(uuid.uuid4())
        self.state.grants[gid] = {"user": user, "client_id": client_id,
                                  "tenant": tenant, "revoked": False}
        return gid

    def grant_refresh(self, tenant, client, f, fault):
        """grant_refresh - redeem a refresh token"""
        st = self.state
        client_id = f.get("client_id", "")
        rt = f.get("refresh_token", "")
        if not rt:
            return entra_error(400, "invalid_request", 900144,
                               "The request body must contain the following "
                               "parameter: 'refresh_token'.") + ("invalid_request", None)
        rec = st.refresh.get(rt)
        if rec is None:
            return entra_error(400, "invalid_grant", 70008,
                               "The provided authorization code or refresh "
                               "token has expired due to inactivity. Send a "
                               "new interactive authorization request for "
                               "this user and resource.") + ("invalid_grant", None)
        grant = st.grants[rec["grant"]]
        user = grant["user"]
        if fault == "invalid_grant":
            return entra_error(400, "invalid_grant", 70008,
                               "The refresh token has expired due to "
                               "inactivity.") + ("fault_invalid_grant", user)
        if rec["revoked"] or grant["revoked"] or rec["seq"] < grant.get("min_seq", 0):
            return entra_error(400, "invalid_grant", 50173,
                               "The provided grant has expired due to it being "
                               "revoked, a fresh auth token is needed. The user "
                               "might have changed or reset their password.") + (
                                   "revoked", user)
        if grant["client_id"] != client_id:
            return entra_error(400, "invalid_grant", 70000,
                               "Provided grant is invalid or malformed.") + (
                                   "wrong_client", user)
        if st.settings["revoke_old_refresh_tokens"]:
            rec["revoked"] = True
        if st.settings["revoke_superseded"]:
            grant["min_seq"] = max(grant.get("min_seq", 0), rec["seq"])
        return self.issue(rec["grant"], f.get("scope", DEFAULT_SCOPE), True)

    def grant_code(self, tenant, client, f, fault):
        """grant_code - redeem an authorization code, checking redirect_uri and PKCE"""
        st = self.state
        code = f.get("code", "")
        rec = st.codes.get(code)
        if rec is None or rec["client_id"] != f.get("client_id"):
            return entra_error(400, "invalid_grant", 70000,
                               "The provided value for the 'code' parameter is not "
                               "valid.") + ("bad_code", None)
        if rec["used"]:
            return entra_error(400, "invalid_grant", 54005,
                               "OAuth2 Authorization code was already redeemed, please "
                               "retry with a new valid code.") + ("code_reused", rec["user"])
        rec["used"] = True
        if time.time() > rec["exp"]:
            return entra_error(400, "invalid_grant", 70008,
                               "The provided authorization code has expired.") + (
                                   "code_expired", rec["user"])
        if f.get("redirect_uri") != rec["redirect_uri"]:
            return entra_error(400, "invalid_grant", 500112,
                               "The reply address does not match the reply address "
                               "provided when requesting the authorization code.") + (
                                   "wrong_redirect", rec["user"])
        verifier = f.get("code_verifier", "")
        if verifier:
            st.record_secret(verifier)
        want = rec["challenge"]
        got = b64url(hashlib.sha256(verifier.encode("ascii", "replace")).digest())
        if not verifier or not secrets.compare_digest(got, want):
            return entra_error(400, "invalid_grant", 501481,
                               "The Code_Verifier does not match the code_challenge "
                               "supplied in the authorization request.") + (
                                   "pkce_mismatch", rec["user"])
        gid = self.new_grant(rec["user"], rec["client_id"], rec["tenant"])
        return self.issue(gid, rec["scope"], self.offline(rec["scope"]))

    def grant_device(self, tenant, client, f, fault):
        """grant_device - one poll of a device authorization"""
        st = self.state
        rec = st.devices.get(f.get("device_code", ""))
        if rec is None or rec["client_id"] != f.get("client_id"):
            return entra_error(400, "bad_verification_code", 70000,
                               "The device code is not known.") + ("device_unknown", None)
        now = time.time()
        too_soon = rec["last_poll"] and now - rec["last_poll"] < rec["interval"] - 0.5
        rec["last_poll"] = now
        if now > rec["exp"] or rec["status"] == "expired":
            return entra_error(400, "expired_token", 70020,
                               "The provided device code has expired.") + (
                                   "device_expired", rec["user"])
        if too_soon or st.settings["device_slow_down"] > 0:
            if not too_soon:
                st.settings["device_slow_down"] -= 1
            rec["interval"] += 5
            return entra_error(400, "slow_down", 70016,
                               "Polling too fast; slow down.") + (
                                   "device_slow_down" if not too_soon else "device_too_fast",
                                   rec["user"])
        if rec["status"] == "pending":
            return entra_error(400, "authorization_pending", 70016,
                               "OAuth 2.0 device flow error. Authorization is "
                               "pending. Continue polling.") + ("device_pending", None)
        if rec["status"] == "declined":
            return entra_error(400, "authorization_declined", 70019,
                               "The end user denied the authorization request.") + (
                                   "device_declined", rec["user"])
        if rec["status"] == "redeemed":
            return entra_error(400, "invalid_grant", 70000,
                               "The device code was already redeemed.") + (
                                   "device_reused", rec["user"])
        rec["status"] = "redeemed"
        if st.settings["consent_missing"]:
            return entra_error(400, "invalid_grant", 65001,
                               "The user or administrator has not consented to use the "
                               "application.") + ("consent_missing", rec["user"])
        gid = self.new_grant(rec["user"], rec["client_id"], rec["tenant"])
        return self.issue(gid, rec["scope"], self.offline(rec["scope"]))

    def grant_client_credentials(self, tenant, client, f, fault):
        """grant_client_credentials - an app-only token for the app's mailbox"""
        st = self.state
        scope = f.get("scope", "")
        if len(scope.split()) != 1 or not scope.endswith("/.default"):
            return entra_error(400, "invalid_scope", 1002012,
                               "The provided value for scope %s is not valid. Client "
                               "credential flows must have a scope value with /.default "
                               "suffixed to the resource identifier." % scope[:80]) + (
                                   "bad_scope", None)
        app = {"user": client.get("mailbox") or "", "client_id": f.get("client_id"),
               "tenant": tenant}
        token, exp = st.new_access_token(app, scope, app_only=True)
        lifetime = exp - int(time.time())
        return 200, {"token_type": "Bearer", "expires_in": lifetime,
                     "ext_expires_in": lifetime, "access_token": token}, "ok", app["user"]

    # ---- authorize and device-code endpoints ---------------------------

    def send_page(self, status, text, location=None):
        """send_page - a small HTML page, or a redirect"""
        body = ("<html><body><p>%s</p></body></html>\n" % text).encode()
        self.send_response(status)
        if location:
            self.send_header("Location", location)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)
        self.log_line(status)

    def authorize_endpoint(self, tenant):
        """authorize_endpoint - sign the user in at once and redirect back"""
        st = self.state
        q = {k: v[0] for k, v in urllib.parse.parse_qs(
            urllib.parse.urlsplit(self.path).query, keep_blank_values=True).items()}
        redirect = q.get("redirect_uri", "")
        r = urllib.parse.urlsplit(redirect)
        with st.lock:
            if self.tenant_error(tenant) is not None:
                st.count("authorize_requests", "tenant_not_found")
                self.send_page(400, "AADSTS90002: Tenant '%s' not found." %
                               urllib.parse.quote(tenant[:64]))
                return
            client = self.find_client(tenant, q.get("client_id", ""))
            if client is None:
                st.count("authorize_requests", "unknown_client")
                self.send_page(400, "AADSTS700016: Application not found in the directory.")
                return
            # The registration has the "Mobile and desktop" redirect http://localhost;
            # Entra accepts any port on a loopback redirect.
            if r.scheme != "http" or r.hostname not in ("localhost", "127.0.0.1") or \
                    r.path not in ("", "/") or r.query or r.fragment:
                st.count("authorize_requests", "bad_redirect")
                self.send_page(400, "AADSTS50011: The redirect URI specified in the request "
                               "does not match the redirect URIs configured for the "
                               "application.")
                return

            def back(params):
                sep = "&" if "?" in redirect else "?"
                return redirect + sep + urllib.parse.urlencode(params)

            state = q.get("state", "")
            if q.get("response_type") != "code":
                st.count("authorize_requests", "bad_response_type")
                self.send_page(302, "redirect", back({
                    "error": "unsupported_response_type", "state": state,
                    "error_description": "AADSTS70005: response_type is not supported."}))
                return
            if not q.get("code_challenge") or q.get("code_challenge_method") != "S256":
                st.count("authorize_requests", "no_pkce")
                self.send_page(302, "redirect", back({
                    "error": "invalid_request", "state": state,
                    "error_description": "AADSTS9002325: Proof Key for Code Exchange is "
                                         "required for cross-origin authorization code "
                                         "redemption."}))
                return
            if st.settings["authorize_outcome"] == "deny":
                st.count("authorize_requests", "denied")
                self.send_page(302, "redirect", back({
                    "error": "access_denied", "state": state,
                    "error_description": "AADSTS65004: User declined to consent to access "
                                         "the app.",
                    "error_uri": "https://login.microsoftonline.com/error?code=65004"}))
                return
            if st.settings["consent_missing"]:
                st.count("authorize_requests", "consent_missing")
                self.send_page(302, "redirect", back({
                    "error": "consent_required", "state": state,
                    "error_description": "AADSTS65001: The user or administrator has not "
                                         "consented to use the application.",
                    "error_uri": "https://login.microsoftonline.com/error?code=65001"}))
                return
            user = st.settings["authorize_user"] or q.get("login_hint") or "user@" + tenant
            code = "1.A" + random_chars(400)
            # Google's way of asking for a refresh token: access_type=offline.
            scope = q.get("scope", DEFAULT_SCOPE)
            if q.get("access_type") == "offline":
                scope += " offline_access"
            st.codes[code] = {"client_id": q["client_id"], "redirect_uri": redirect,
                              "challenge": q["code_challenge"], "user": user, "scope": scope,
                              "tenant": client["tenant"], "exp": time.time() + 600,
                              "used": False}
            st.record_secret(code)
            st.count("authorize_requests", "approved")
        self.send_page(302, "redirect", back({"code": code, "state": state,
                                              "session_state": str(uuid.uuid4())}))

    def device_endpoint(self, tenant, body):
        """device_endpoint - RFC 8628 device authorization request"""
        st = self.state
        try:
            form = urllib.parse.parse_qs(body.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError:
            form = {}
        f = {k: v[0] for k, v in form.items()}
        with st.lock:
            err = self.tenant_error(tenant)
            if err is None and self.find_client(tenant, f.get("client_id", "")) is None:
                err = entra_error(400, "unauthorized_client", 700016,
                                  "Application with identifier '%s' was not found in the "
                                  "directory '%s'." % (f.get("client_id", "")[:64], tenant[:64]))
            if err is not None:
                st.count("device_requests", "refused")
                self.send_json(*err, extra_log="device refused")
                return
            client = self.find_client(tenant, f["client_id"])
            device_code = "DAQ" + random_chars(200)
            user_code = "".join(secrets.choice("ABCDEFGHJKLMNPQRSTUVWXYZ23456789")
                                for _ in range(9))
            expires_in = int(st.settings["device_expires_in"])
            interval = int(st.settings["device_interval"])
            st.devices[device_code] = {
                "client_id": f["client_id"], "user_code": user_code,
                "scope": f.get("scope", DEFAULT_SCOPE), "tenant": client["tenant"],
                "exp": time.time() + expires_in, "interval": interval, "last_poll": 0,
                "status": "pending", "user": None, "created": time.time()}
            st.record_secret(device_code)
            st.count("device_requests", "issued")
            uri = "https://%s/devicelogin" % self.headers.get("Host", "127.0.0.1")
        self.send_json(200, {
            "device_code": device_code, "user_code": user_code,
            "verification_uri": uri, "expires_in": expires_in, "interval": interval,
            "message": "To sign in, use a web browser to open the page %s and enter the "
                       "code %s to authenticate." % (uri, user_code)},
            extra_log="device issued")

    # ---- introspection -------------------------------------------------

    def introspect(self, body):
        """introspect - RFC 7662 for Dovecot's oauth2 passdb"""
        st = self.state
        try:
            form = urllib.parse.parse_qs(body.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError:
            form = {}
        token = form.get("token", [""])[0]
        auth = self.headers.get("Authorization", "")
        if not token and auth.lower().startswith("bearer "):
            token = auth[7:].strip()
        with st.lock:
            st.stats["introspections"]["total"] += 1
            rec = st.access.get(token) if token else None
            now = time.time()
            if rec is not None and rec["exp"] > now:
                st.stats["introspections"]["ok"] += 1
                u = st.stats["introspections"]["by_user"]
                u[rec["user"]] = u.get(rec["user"], 0) + 1
                obj = {"active": True, "email": rec["user"],
                       "username": rec["user"], "sub": rec["user"],
                       "client_id": rec["client_id"], "scope": rec["scope"],
                       "token_type": "Bearer", "exp": rec["exp"]}
                why = "active"
            else:
                st.stats["introspections"]["failed"] += 1
                # Dovecot 2.3 checks the username attribute before the active
                # one and treats a missing username as an internal (temporary)
                # failure; an empty one is a plain authentication failure.
                user = rec["user"] if rec is not None else ""
                obj = {"active": False, "email": user, "username": user}
                why = "expired" if rec is not None else "unknown"
        self.send_json(200, obj, extra_log="introspection=%s" % why)

    # ---- control API ---------------------------------------------------

    def register(self, req):
        """register - an app registration: secret, certificate, public flows, mailbox access"""
        st = self.state
        client_id = str(req.get("client_id", ""))
        if not client_id:
            self.send_json(400, {"error": "client_id required"})
            return
        client = st.clients.setdefault(client_id, {"tenant": "contoso.test", "secret": None})
        client["tenant"] = str(req.get("tenant") or client["tenant"])
        if "client_secret" in req:
            client["secret"] = req["client_secret"]
            if client["secret"] is not None:
                st.record_secret(client["secret"])
        for k in ("secret_expired", "public_flows"):
            if k in req:
                client[k] = bool(req[k])
        if "mailbox" in req:
            client["mailbox"] = str(req["mailbox"])
        # "certificate" replaces every certificate of the registration;
        # "add_certificate" and "remove_certificate" keep the others, as
        # Entra keeps several during a rollover.
        for key in ("certificate", "add_certificate"):
            if not req.get(key):
                continue
            added = self.load_certificate(str(req[key]))
            if added is None:
                self.send_json(400, {"error": "certificate is not PEM"})
                return
            if key == "certificate":
                client["certs"] = {}
            client.setdefault("certs", {})[added[0]] = added[1]
        if req.get("remove_certificate"):
            try:
                x5t = b64url(hashlib.sha256(ssl.PEM_cert_to_DER_cert(
                    str(req["remove_certificate"]))).digest())
            except ValueError:
                self.send_json(400, {"error": "certificate is not PEM"})
                return
            if x5t not in client.get("certs", {}):
                self.send_json(404, {"error": "no such certificate"})
                return
            del client["certs"][x5t]
        certs = sorted(client.get("certs", {}))
        client["cert_x5t"] = certs[0] if certs else None
        client["cert_pub"] = client["certs"][certs[0]] if certs else None
        self.send_json(200, {"client_id": client_id, "tenant": client["tenant"],
                             "thumbprint": client.get("cert_x5t"), "thumbprints": certs},
                       extra_log="register %s" % client_id[:64])

    def load_certificate(self, pem):
        """load_certificate - (x5t#S256, public key file) of a PEM certificate, None if not one"""
        path = os.path.join(self.state.state_dir, "cert-%s.pem" % uuid.uuid4())
        with open(path, "w", encoding="ascii") as fh:
            fh.write(pem)
        pub = path + ".pub"
        r = subprocess.run(["openssl", "x509", "-in", path, "-pubkey", "-noout", "-out", pub],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
        if r.returncode != 0:
            return None
        return b64url(hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem)).digest()), pub

    def federated(self, req):
        """federated - add (or remove) a federated identity credential of an app registration

        {"client_id", "issuer", "subject", "audiences": [...] (default
        api://AzureADTokenExchange), "issuer_key": PEM public key text of
        the issuer (its JWKS, in short), "remove": true to delete the one
        with that issuer and subject}. Entra allows 20 per app.
        """
        st = self.state
        client = st.clients.get(str(req.get("client_id", "")))
        issuer, subject = str(req.get("issuer", "")), str(req.get("subject", ""))
        if client is None or not issuer or not subject:
            self.send_json(400, {"error": "a registered client_id, issuer and subject required"})
            return
        creds = client.setdefault("federated", [])
        creds[:] = [c for c in creds if (c["issuer"], c["subject"]) != (issuer, subject)]
        if not req.get("remove"):
            audiences = req.get("audiences") or ["api://AzureADTokenExchange"]
            key = str(req.get("issuer_key", ""))
            if len(creds) >= 20 or not isinstance(audiences, list) or \
                    "BEGIN PUBLIC KEY" not in key:
                self.send_json(400, {"error": "at most 20 credentials, audiences a list, "
                                     "issuer_key a PEM public key"})
                return
            path = os.path.join(st.state_dir, "issuer-%s.pub" % uuid.uuid4())
            with open(path, "w", encoding="ascii") as fh:
                fh.write(key)
            creds.append({"issuer": issuer, "subject": subject,
                          "audiences": [str(a) for a in audiences], "key": path})
        self.send_json(200, {"client_id": req["client_id"], "federated": [
            {k: c[k] for k in ("issuer", "subject", "audiences")} for c in creds]},
                       extra_log="federated %s" % str(req["client_id"])[:64])

    def device_answer(self, req):
        """device_answer - the user at the verification page: approve, decline, or let it expire"""
        st = self.state
        action = req.get("action")
        code = req.get("user_code")
        pending = [d for d in st.devices.values() if d["status"] == "pending" and
                   (code is None or d["user_code"] == code)]
        if action not in ("approve", "decline", "expire") or not pending:
            self.send_json(404 if action in ("approve", "decline", "expire") else 400,
                           {"error": "no such pending device code" if pending == [] else
                            "action must be approve, decline or expire"})
            return
        rec = max(pending, key=lambda d: d["created"])
        rec["status"] = {"approve": "approved", "decline": "declined",
                         "expire": "expired"}[action]
        rec["user"] = str(req.get("user") or "user@" + rec["tenant"])
        self.send_json(200, {"user_code": rec["user_code"], "status": rec["status"]},
                       extra_log="device %s" % rec["status"])

    def control(self, what, body):
        """control - /_mock/{grant,register,device,settings,revoke,reset-stats}"""
        st = self.state
        try:
            req = json.loads(body.decode("utf-8") or "{}")
            if not isinstance(req, dict):
                raise ValueError("not an object")
        except ValueError:
            self.send_json(400, {"error": "bad json"})
            return
        with st.lock:
            st.stats["control_requests"] += 1
            if what == "grant":
                user = str(req.get("user", ""))
                client_id = str(req.get("client_id", ""))
                if not user or not client_id:
                    self.send_json(400, {"error": "user and client_id required"})
                    return
                tenant = str(req.get("tenant") or "contoso.test")
                secret = req.get("client_secret")
                old = st.clients.get(client_id)
                if old is not None and (old["tenant"] != tenant or old["secret"] != secret):
                    self.send_json(409, {"error": "client registered differently"})
                    return
                st.clients.setdefault(client_id, {}).update({"tenant": tenant, "secret": secret})
                if secret is not None:
                    st.record_secret(secret)
                gid = str(uuid.uuid4())
                st.grants[gid] = {"user": user, "client_id": client_id,
                                  "tenant": tenant, "revoked": False}
                rt = st.new_refresh_token(gid)
                self.send_json(200, {"refresh_token": rt, "grant": gid},
                               extra_log="grant user=%s" % user[:64])
            elif what == "register":
                self.register(req)
            elif what == "service-account":
                self.register_service_account(req)
            elif what == "federated":
                self.federated(req)
            elif what == "device":
                self.device_answer(req)
            elif what == "settings":
                bad = [k for k in req if k not in st.settings]
                uf = req.get("user_faults", {})
                if bad or ("fault" in req and req["fault"] not in FAULTS) or \
                        not isinstance(uf, dict) or any(v not in FAULTS for v in uf.values()) or (
                        "authorize_outcome" in req and
                        req["authorize_outcome"] not in ("approve", "deny")):
                    self.send_json(400, {"error": "bad setting", "keys": bad})
                    return
                try:
                    new = {k: setting_value(st.settings[k], v) for k, v in req.items()}
                except (TypeError, ValueError):
                    self.send_json(400, {"error": "bad setting value"})
                    return
                st.settings.update(new)
                self.send_json(200, st.settings, extra_log="settings")
            elif what == "revoke":
                user = str(req.get("user", ""))
                n = 0
                for g in st.grants.values():
                    if g["user"] == user and not g["revoked"]:
                        g["revoked"] = True
                        n += 1
                if req.get("access_tokens"):
                    for rec in st.access.values():
                        if rec["user"] == user:
                            rec["exp"] = 0
                self.send_json(200, {"revoked_grants": n}, extra_log="revoke")
            elif what == "reset-stats":
                st.reset_stats()
                self.send_json(200, {"ok": True}, extra_log="reset-stats")
            elif what == "delegate":
                user = str(req.get("user", ""))
                mailbox = str(req.get("mailbox", "")).lower()
                if not user or not mailbox:
                    self.send_json(400, {"error": "user and mailbox required"})
                    return
                st.delegates.setdefault(mailbox, set()).add(user.lower())
                self.send_json(200, {"mailbox": mailbox,
                                     "delegates": sorted(st.delegates[mailbox])},
                               extra_log="delegate")
            else:
                self.send_json(404, {"error": "not_found"})

    # ---- send-as checks ------------------------------------------------

    def introspect_as(self, mailbox, body):
        """introspect_as - may this token's owner send as mailbox?

        POST /introspect/as/MAILBOX, form "token=...": Exchange's check for
        a login that is not the token's own user (a shared mailbox sent as
        by a delegate, Add-MailboxPermission / Add-RecipientPermission).
        Dovecot's oauth2 passdb cannot pass the login to /introspect, so
        the receiver has one extra passdb per shared mailbox pointing here:
        "email" is the mailbox when the token is valid and its user is the
        mailbox or one of its delegates (mockctl delegate), else empty, so
        Dovecot's username check passes or fails. Counted under
        delegated_introspections, not introspections.
        """
        st = self.state
        try:
            form = urllib.parse.parse_qs(body.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError:
            form = {}
        token = form.get("token", [""])[0]
        mailbox = mailbox.lower()
        with st.lock:
            counts = st.stats.setdefault("delegated_introspections",
                                         {"ok": 0, "refused": 0, "by_user": {}})
            rec = st.access.get(token) if token else None
            user = rec["user"].lower() if rec is not None else ""
            if rec is not None and rec["exp"] > time.time() and (
                    user == mailbox or user in st.delegates.get(mailbox, ())):
                counts["ok"] += 1
                counts["by_user"][user] = counts["by_user"].get(user, 0) + 1
                obj = {"active": True, "email": mailbox, "username": mailbox,
                       "sub": user, "client_id": rec["client_id"],
                       "scope": rec["scope"], "token_type": "Bearer",
                       "exp": rec["exp"]}
                why = "active"
            else:
                counts["refused"] += 1
                obj = {"active": False, "email": "", "username": ""}
                why = "not a delegate" if rec is not None else "unknown"
        self.send_json(200, obj, extra_log="introspection-as=%s" % why)


socketserver_bind = socketserver.TCPServer.server_bind


class MockServer(ThreadingHTTPServer):
    """MockServer - TLS handshake per connection, in the handler's thread"""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr, ctx, state, untrusted_ctx):
        self.ctx = ctx
        self.state = state
        self.stopping = False
        self.untrusted_ctx = untrusted_ctx
        ctx.sni_callback = self.sni_callback
        super().__init__(addr, Handler)

    def sni_callback(self, sslsock, server_name, _ctx):
        """sni_callback - during a TLS fault, fail handshakes for tls_fault_host"""
        st = self.state
        sslsock.sni_name = server_name
        with st.lock:
            fault = st.settings["fault"]
            if fault not in TLS_FAULTS or server_name != st.settings["tls_fault_host"]:
                return None
            if st.settings["fault_count"] > 0:
                st.settings["fault_count"] -= 1
                if st.settings["fault_count"] == 0:
                    st.settings["fault"] = "none"
            st.count_token("fault_" + fault)
        sys.stderr.write("%s mock-idp: TLS handshake fault=%s\n" % (time.strftime("%H:%M:%S"), fault))
        sys.stderr.flush()
        if fault == "tls_abort":
            return ssl.ALERT_DESCRIPTION_HANDSHAKE_FAILURE
        sslsock.context = self.untrusted_ctx
        return None

    def server_bind(self):
        # HTTPServer.server_bind would look up the host name: no DNS here.
        socketserver_bind(self)
        self.server_name = self.server_address[0]
        self.server_port = self.server_address[1]

    def finish_request(self, request, client_address):
        request.settimeout(30)
        try:
            tls = self.ctx.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        try:
            # A hanging fault must outlive any client timeout.
            tls.settimeout(None)
            self.RequestHandlerClass(tls, client_address, self)
        except (ssl.SSLError, OSError):
            pass
        finally:
            try:
                tls.close()
            except OSError:
                pass


def untrusted_context(state_dir):
    """untrusted_context - a server context with a self-signed certificate for
    localhost and 127.0.0.1 that no test CA signed (for fault tls_untrusted)"""
    import subprocess
    cert = os.path.join(state_dir, "untrusted.pem")
    key = os.path.join(state_dir, "untrusted.key")
    if not os.path.exists(cert):
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                        "-sha256", "-days", "2", "-subj", "/O=Untrusted/CN=localhost",
                        "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                        "-keyout", key, "-out", cert],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    return ctx


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--state-dir", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--host", default="127.0.0.1")
    args = ap.parse_args()

    os.makedirs(args.state_dir, exist_ok=True)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.cert, args.key)
    state = MockState(args.state_dir)
    srv = MockServer((args.host, args.port), ctx, state, untrusted_context(args.state_dir))
    port = srv.server_address[1]
    tmp = args.port_file + ".tmp"
    with open(tmp, "w", encoding="ascii") as f:
        f.write("%d\n" % port)
    os.rename(tmp, args.port_file)
    sys.stderr.write("mock-idp: listening on https://%s:%d\n" % (args.host, port))
    sys.stderr.flush()
    try:
        srv.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        srv.stopping = True


if __name__ == "__main__":
    import signal
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    main()
