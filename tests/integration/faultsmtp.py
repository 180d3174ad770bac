#!/usr/bin/env python3
"""faultsmtp.py - an SMTP relay that fails on purpose, for the integration tests (stdlib only)

What a real Postfix cannot easily be made to do: drop the connection in the
middle of DATA, or after the whole message without answering. It speaks
ESMTP with STARTTLS (required before AUTH, MAIL), AUTH XOAUTH2 and
OAUTHBEARER, and records every message it accepted (answered 250 to the
end of DATA), so a test can check that nothing was delivered twice.

Usage:
  faultsmtp.py --cert PEM --key KEY --port-file FILE --record-dir DIR
               [--host 127.0.0.1] [--fault SPEC]... [--fault-file FILE]
               [--introspect URL --ca CA] [--max-line N]

  --port-file FILE   the port it listens on (a free one) is written there
                     once it accepts connections
  --record-dir DIR   DIR/accepted/N.eml (the message as received) and
                     DIR/accepted/N.json (mail_from, rcpts, user); one JSON
                     line per session in DIR/sessions.log: the steps, the
                     AUTH line's length, whether AUTH carried an initial
                     response, the token's length (never the token), how
                     the session ended
  --fault SPEC       STEP:ACTION, any number; STEP is one of
                       greeting, ehlo, auth, mail, rcpt, rcpt=ADDRESS, data,
                       eod (the end of DATA)
                     ACTION is a reply ("451 4.3.0 Try again later", "550
                     5.7.60 SendAsDenied ...") or "drop" (close without a
                     reply; for data: after the 354 and the message's
                     first line). A faulted step counts as
                     refused: an "eod" reply other than 2xx is not recorded.
  --fault-file FILE  more SPECs, one per line ("#" comments), read afresh at
                     each connection: a test changes the faults between
                     deliveries by rewriting it (a missing file: no faults)
  --introspect URL   verify each token at the mock's RFC 7662 endpoint
                     (active, and its email equal to the login); else any
                     token is accepted. --ca is the CA for that HTTPS URL.
  --max-line N       the longest command line (default 2048, Postfix's
                     line_length_limit): an AUTH with its initial response
                     past it gets "500 5.5.2 Line too long". The response
                     after a 334 may be up to 65536 bytes.

Example (a relay that refuses every RCPT with 451, then, once the file is
emptied, accepts):
  echo 'rcpt:451 4.3.0 Try again later' >"$T/faults"
  python3 faultsmtp.py --cert server.pem --key server.key --port-file "$T/fport" \\
      --record-dir "$T/fault" --fault-file "$T/faults" &

Stop it with SIGTERM. It never prints or records a token.
"""

import argparse
import base64
import json
import os
import signal
import socket
import socketserver
import ssl
import sys
import threading
import urllib.parse
import urllib.request

MAX_AUTH_RESPONSE = 65536
MAX_DATA = 64 * 1024 * 1024


class Closed(Exception):
    """the client went away, or we dropped it"""


def parse_faults(lines):
    """parse_faults - {step: action} from SPEC lines"""
    faults = {}
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        step, sep, action = line.partition(":")
        if not sep or not action:
            raise ValueError("bad fault %r: want STEP:ACTION" % line)
        base = step.split("=", 1)[0]
        if base not in ("greeting", "ehlo", "auth", "mail", "rcpt", "data", "eod"):
            raise ValueError("bad fault step %r" % step)
        if action != "drop" and not (len(action) >= 3 and action[:3].isdigit()):
            raise ValueError("bad fault action %r: a reply or drop" % action)
        faults[step.lower()] = action
    return faults


class Session:
    """Session - one SMTP connection"""

    def __init__(self, server, sock):
        self.server = server
        self.sock = sock
        self.rfile = sock.makefile("rb")
        self.tls = False
        self.user = None
        self.mail_from = None
        self.rcpts = []
        self.log = {"steps": [], "end": "open"}
        self.faults = dict(server.faults)
        if server.fault_file:
            try:
                with open(server.fault_file, encoding="utf-8") as f:
                    self.faults.update(parse_faults(f))
            except FileNotFoundError:
                pass

    def send(self, text):
        self.sock.sendall(text.encode("utf-8") + b"\r\n")

    def readline(self, limit):
        line = self.rfile.readline(limit + 1)
        if not line:
            raise Closed("client closed")
        if len(line) > limit and not line.endswith(b"\n"):
            # Swallow the rest of the over-long line, then report it.
            while line and not line.endswith(b"\n"):
                line = self.rfile.readline(65536)
            return None
        return line.rstrip(b"\r\n")

    def fault(self, step, key=None):
        """fault - act on a fault for step; True when the step was refused or dropped"""
        action = None
        if key is not None:
            action = self.faults.get("%s=%s" % (step, key.lower()))
        if action is None:
            action = self.faults.get(step)
        if action is None:
            return False
        self.log["steps"].append("%s:%s" % (step, action[:3]))
        if action == "drop":
            raise Closed("dropped at %s" % step)
        self.send(action)
        return True

    def run(self):
        try:
            if self.fault("greeting"):
                return
            self.send("220 faultsmtp.test ESMTP fault injector")
            while True:
                line = self.readline(self.server.max_line)
                if line is None:
                    self.send("500 5.5.2 Line too long")
                    self.log["steps"].append("line-too-long")
                    continue
                self.command(line.decode("utf-8", "replace"))
        except Closed as e:
            self.log["end"] = str(e)
        except (OSError, ssl.SSLError) as e:
            self.log["end"] = "error: %s" % e
        finally:
            self.server.record_session(self.log)
            try:
                self.sock.close()
            except OSError:
                pass

    def command(self, line):
        verb, _, arg = line.partition(" ")
        verb = verb.upper()
        self.log["steps"].append(verb)
        if verb in ("EHLO", "HELO"):
            if self.fault("ehlo"):
                return
            caps = ["faultsmtp.test", "PIPELINING", "SIZE 104857600", "8BITMIME",
                    "ENHANCEDSTATUSCODES"]
            caps.append("AUTH XOAUTH2 OAUTHBEARER" if self.tls else "STARTTLS")
            for c in caps[:-1]:
                self.send("250-" + c)
            self.send("250 " + caps[-1])
        elif verb == "STARTTLS":
            if self.tls:
                self.send("503 5.5.1 TLS already active")
                return
            self.send("220 2.0.0 Ready to start TLS")
            self.sock = self.server.tls.wrap_socket(self.sock, server_side=True)
            self.rfile = self.sock.makefile("rb")
            self.tls = True
        elif verb == "AUTH":
            self.auth(line, arg)
        elif verb == "MAIL":
            if not self.tls or self.user is None:
                self.send("530 5.7.0 Authentication required")
                return
            if self.fault("mail"):
                return
            self.mail_from = arg.partition(":")[2].split(" ")[0].strip("<>")
            self.rcpts = []
            self.send("250 2.1.0 Ok")
        elif verb == "RCPT":
            if self.mail_from is None:
                self.send("503 5.5.1 Need MAIL")
                return
            addr = arg.partition(":")[2].split(" ")[0].strip("<>")
            if self.fault("rcpt", addr):
                return
            self.rcpts.append(addr)
            self.send("250 2.1.5 Ok")
        elif verb == "DATA":
            if not self.rcpts:
                self.send("503 5.5.1 Need RCPT")
                return
            if self.faults.get("data") != "drop" and self.fault("data"):
                return
            self.send("354 End data with <CR><LF>.<CR><LF>")
            self.data()
        elif verb == "RSET":
            self.mail_from = None
            self.rcpts = []
            self.send("250 2.0.0 Ok")
        elif verb == "NOOP":
            self.send("250 2.0.0 Ok")
        elif verb == "QUIT":
            self.send("221 2.0.0 Bye")
            raise Closed("quit")
        else:
            self.send("502 5.5.2 Command not recognized")

    def auth(self, line, arg):
        if not self.tls:
            self.send("530 5.7.0 Must issue a STARTTLS command first")
            return
        mech, _, initial = arg.partition(" ")
        mech = mech.upper()
        self.log["auth_line_length"] = len(line)
        self.log["auth_initial_response"] = bool(initial)
        if mech not in ("XOAUTH2", "OAUTHBEARER"):
            self.send("504 5.5.4 Unrecognized authentication type")
            return
        if not initial:
            self.send("334 ")
            resp = self.readline(MAX_AUTH_RESPONSE)
            if resp is None:
                self.send("500 5.5.2 Line too long")
                return
            initial = resp.decode("ascii", "replace")
        if initial == "*":
            self.send("501 5.7.0 Authentication aborted")
            return
        try:
            raw = base64.b64decode(initial, validate=True).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            self.send("501 5.5.2 Cannot decode response")
            return
        user, token = None, None
        for part in raw.replace(",", "\x01").split("\x01"):
            if part.startswith("user="):
                user = part[5:]
            elif part.startswith("a="):
                user = part[2:]
            elif part.startswith("auth=Bearer "):
                token = part[12:]
        self.log["auth_mechanism"] = mech
        self.log["token_length"] = len(token or "")
        if self.fault("auth"):
            return
        if not user or not token or not self.server.verify(user, token):
            self.log["auth"] = "refused"
            self.send("535 5.7.8 Authentication credentials invalid")
            return
        self.log["auth"] = "ok"
        self.log["user"] = user
        self.user = user
        self.send("235 2.7.0 Authentication successful")

    def data(self):
        """data - read the message; faults: drop half-way, or refuse or drop at the end"""
        chunks = []
        size = 0
        drop_mid = self.faults.get("data") == "drop"
        while True:
            line = self.rfile.readline(65536)
            if not line:
                raise Closed("client closed in DATA")
            if line in (b".\r\n", b".\n"):
                break
            if line.startswith(b".."):
                line = line[1:]
            chunks.append(line)
            size += len(line)
            if size > MAX_DATA:
                raise Closed("message too large")
            if drop_mid and len(chunks) >= 1:
                self.log["steps"].append("data:drop")
                raise Closed("dropped in the middle of DATA after %d bytes" % size)
        if self.fault("eod"):
            self.mail_from = None
            return
        n = self.server.record_message(self.mail_from, self.rcpts, self.user, b"".join(chunks))
        self.log["accepted"] = n
        self.send("250 2.0.0 Ok: queued as FAULT%d" % n)
        self.mail_from = None
        self.rcpts = []


class Server(socketserver.ThreadingTCPServer):
    """Server - the listener and what its sessions share"""
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, args):
        super().__init__((args.host, 0), Handler)
        self.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.tls.load_cert_chain(args.cert, args.key)
        self.faults = parse_faults(args.fault or [])
        self.fault_file = args.fault_file
        self.max_line = args.max_line
        self.record_dir = args.record_dir
        self.introspect = args.introspect
        self.ca = args.ca
        self.lock = threading.Lock()
        self.accepted = 0
        os.makedirs(os.path.join(self.record_dir, "accepted"), exist_ok=True)

    def verify(self, user, token):
        """verify - the token is active for user at the mock (when --introspect is given)"""
        if not self.introspect:
            return True
        ctx = ssl.create_default_context(cafile=self.ca)
        body = urllib.parse.urlencode({"token": token}).encode("ascii")
        try:
            with urllib.request.urlopen(self.introspect, data=body, context=ctx,
                                        timeout=10) as r:
                obj = json.load(r)
        except (OSError, ValueError):
            return False
        return obj.get("active") is True and obj.get("email", "").lower() == user.lower()

    def record_message(self, mail_from, rcpts, user, data):
        with self.lock:
            self.accepted += 1
            n = self.accepted
        base = os.path.join(self.record_dir, "accepted", "%d" % n)
        with open(base + ".eml", "wb") as f:
            f.write(data)
        with open(base + ".json", "w", encoding="utf-8") as f:
            json.dump({"mail_from": mail_from, "rcpts": rcpts, "user": user}, f)
        return n

    def record_session(self, log):
        with self.lock:
            with open(os.path.join(self.record_dir, "sessions.log"), "a",
                      encoding="utf-8") as f:
                f.write(json.dumps(log) + "\n")


class Handler(socketserver.BaseRequestHandler):
    """Handler - one connection"""

    def handle(self):
        Session(self.server, self.request).run()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--port-file", required=True)
    p.add_argument("--record-dir", required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--fault", action="append")
    p.add_argument("--fault-file")
    p.add_argument("--introspect")
    p.add_argument("--ca")
    p.add_argument("--max-line", type=int, default=2048)
    args = p.parse_args()
    try:
        srv = Server(args)
    except (OSError, ValueError) as e:
        print("faultsmtp: %s" % e, file=sys.stderr)
        return 1
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    tmp = args.port_file + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write("%d\n" % srv.server_address[1])
    os.rename(tmp, args.port_file)
    print("faultsmtp: listening on %s:%d" % srv.server_address, file=sys.stderr)
    try:
        srv.serve_forever()
    finally:
        srv.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
