#!/usr/bin/env python3
"""mock_idp.py - a stand-in for the Microsoft identity platform, for tests

Usage:
  mock_idp.py --cert CERT --key KEY --port-file FILE --state-dir DIR
              [--port N] [--host 127.0.0.1]

Serves HTTPS on loopback until killed:

  POST /{tenant}/oauth2/v2.0/token   refresh_token grant, Entra-shaped
                                     replies and errors (AADSTS codes)
  POST /introspect                   RFC 7662 introspection for Dovecot's
                                     oauth2 passdb (form "token=...")
  /_mock/...                         control API for the tests (see
                                     tests/mock/mockctl)

The chosen port is written to --port-file once the socket listens.

Security notes: this is test code, but the tests grep every log for leaked
secrets, so the mock itself never logs a token or a secret. Everything it
issues or accepts is appended to STATE_DIR/issued-secrets, one per line,
for that check.
"""

import argparse
import base64
import json
import os
import secrets
import socket
import socketserver
import ssl
import sys
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
MAX_BODY = 1 << 20
DEFAULT_SCOPE = "https://outlook.office.com/SMTP.Send"
FAULTS = ("none", "http500", "http429", "hang", "garbage", "truncated",
          "invalid_grant")


def b64url(data):
    """b64url - unpadded base64url of bytes"""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


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
        self.clients = {}        # client_id -> {"secret": str|None, "tenant": str}
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
            "token_delay": 0.0,        # seconds to wait before answering /token
        }
        self.start = time.time()
        self.reset_stats()

    def reset_stats(self):
        """reset_stats - zero every counter"""
        self.stats = {
            "token_requests": {"total": 0, "by_outcome": {}, "by_user": {},
                               "by_client": {}, "ok_times": []},
            "introspections": {"total": 0, "ok": 0, "failed": 0,
                               "by_user": {}},
            "control_requests": 0,
        }

    def record_secret(self, value):
        """record_secret - remember a secret for the leak check"""
        with open(self.secrets_path, "a", encoding="ascii") as f:
            f.write(value + "\n")

    def count_token(self, outcome, user=None, client_id=None):
        """count_token - one token-endpoint request and its outcome"""
        tr = self.stats["token_requests"]
        tr["total"] += 1
        tr["by_outcome"][outcome] = tr["by_outcome"].get(outcome, 0) + 1
        if user:
            u = tr["by_user"].setdefault(user, {})
            u[outcome] = u.get(outcome, 0) + 1
        if client_id:
            c = tr["by_client"].setdefault(client_id, {})
            c[outcome] = c.get(outcome, 0) + 1
        if outcome == "ok":
            tr["ok_times"].append(round(time.time() - self.start, 3))

    def new_refresh_token(self, grant_id):
        """new_refresh_token - issue an opaque refresh token for a grant"""
        rt = "0.A" + random_chars(300)
        self.refresh[rt] = {"grant": grant_id, "revoked": False,
                            "issued": time.time()}
        self.record_secret(rt)
        return rt

    def new_access_token(self, grant, scope):
        """new_access_token - a fake JWT of the configured length"""
        now = int(time.time())
        exp = now + int(self.settings["lifetime"])
        header = b64url(json.dumps({"typ": "JWT", "alg": "RS256",
                                    "kid": "mock-idp"}).encode())
        payload = b64url(json.dumps({
            "aud": "https://outlook.office.com",
            "iss": "https://sts.windows.net/%s/" % grant["tenant"],
            "iat": now, "nbf": now, "exp": exp,
            "appid": grant["client_id"],
            "upn": grant["user"],
            "scp": "SMTP.Send",
            "jti": str(uuid.uuid4()),
        }).encode())
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
            if fault != "none" and st.settings["fault_count"] > 0:
                st.settings["fault_count"] -= 1
                if st.settings["fault_count"] == 0:
                    st.settings["fault"] = "none"
            retry_after = st.settings["retry_after"]
            client_id = f.get("client_id", "")
            if fault != "none":
                st.count_token("fault_" + fault, None, client_id or None)
        if delay > 0:
            time.sleep(delay)

        if fault != "none" and fault != "invalid_grant":
            self.token_fault(fault, retry_after)
            return

        with st.lock:
            status, obj, outcome, user = self.token_grant(tenant, f, fault)
            if fault == "none":
                st.count_token(outcome, user, client_id or None)
        self.send_json(status, obj, extra_log="outcome=%s%s" % (
            outcome, (" user=" + user) if user else ""))

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

    def token_grant(self, tenant, f, fault):
        """token_grant - check the request; (status, json, outcome, user)"""
        st = self.state
        known_tenants = {c["tenant"] for c in st.clients.values()}
        grant_type = f.get("grant_type", "")
        client_id = f.get("client_id", "")
        if tenant not in known_tenants and tenant not in ("common", "organizations"):
            return entra_error(400, "invalid_request", 90002,
                               "Tenant '%s' not found. Check to make sure you "
                               "have the correct tenant ID and are signing "
                               "into the correct cloud." % tenant[:64]) + ("tenant_not_found", None)
        if grant_type != "refresh_token":
            return entra_error(400, "unsupported_grant_type", 70003,
                               "The app requested an unsupported grant type "
                               "'%s'." % grant_type[:40]) + ("unsupported_grant_type", None)
        client = st.clients.get(client_id)
        if client is None or (tenant not in ("common", "organizations")
                              and client["tenant"] != tenant):
            return entra_error(400, "unauthorized_client", 700016,
                               "Application with identifier '%s' was not found "
                               "in the directory '%s'." % (client_id[:64], tenant[:64])) + (
                                   "unknown_client", None)
        secret = f.get("client_secret")
        if client["secret"] is not None:
            if secret is None:
                return entra_error(401, "invalid_client", 7000218,
                                   "The request body must contain the following "
                                   "parameter: 'client_assertion' or "
                                   "'client_secret'.") + ("missing_secret", None)
            if not secrets.compare_digest(secret, client["secret"]):
                return entra_error(401, "invalid_client", 7000215,
                                   "Invalid client secret provided. Ensure the "
                                   "secret being sent in the request is the "
                                   "client secret value, not the client secret "
                                   "ID, for a secret added to app '%s'." % client_id) + (
                                       "invalid_client", None)
        elif secret is not None:
            return entra_error(400, "invalid_client", 700025,
                               "Client is public so neither 'client_assertion' "
                               "nor 'client_secret' should be presented.") + (
                                   "public_client_secret", None)
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
        if rec["revoked"] or grant["revoked"]:
            return entra_error(400, "invalid_grant", 50173,
                               "The provided grant has expired due to it being "
                               "revoked, a fresh auth token is needed. The user "
                               "might have changed or reset their password.") + (
                                   "revoked", user)
        if grant["client_id"] != client_id:
            return entra_error(400, "invalid_grant", 70000,
                               "Provided grant is invalid or malformed.") + (
                                   "wrong_client", user)
        scopes = [s for s in f.get("scope", DEFAULT_SCOPE).split()
                  if s not in ("offline_access", "openid", "profile", "email")]
        scope = " ".join(scopes) or DEFAULT_SCOPE
        if client["secret"] is not None:
            st.record_secret(client["secret"])
        token, exp = st.new_access_token(grant, scope)
        if st.settings["revoke_old_refresh_tokens"]:
            rec["revoked"] = True
        new_rt = st.new_refresh_token(rec["grant"])
        lifetime = exp - int(time.time())
        return 200, {
            "token_type": "Bearer",
            "scope": scope,
            "expires_in": lifetime,
            "ext_expires_in": lifetime,
            "access_token": token,
            "refresh_token": new_rt,
        }, "ok", user

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

    def control(self, what, body):
        """control - /_mock/{grant,settings,revoke,reset-stats}"""
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
                st.clients[client_id] = {"tenant": tenant, "secret": secret}
                if secret is not None:
                    st.record_secret(secret)
                gid = str(uuid.uuid4())
                st.grants[gid] = {"user": user, "client_id": client_id,
                                  "tenant": tenant, "revoked": False}
                rt = st.new_refresh_token(gid)
                self.send_json(200, {"refresh_token": rt, "grant": gid},
                               extra_log="grant user=%s" % user[:64])
            elif what == "settings":
                bad = [k for k in req if k not in st.settings]
                if bad or ("fault" in req and req["fault"] not in FAULTS):
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

    def __init__(self, addr, ctx, state):
        self.ctx = ctx
        self.state = state
        self.stopping = False
        super().__init__(addr, Handler)

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
    srv = MockServer((args.host, args.port), ctx, state)
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
