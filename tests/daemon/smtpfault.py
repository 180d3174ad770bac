"""smtpfault.py - a small SMTP server on loopback that answers with the
replies a test chooses, for the failures no real receiver here can produce
(Exchange Online's 535 5.7.139 and 430 4.2.0 STOREDRV)

SmtpFault(cert, key, replies) listens on 127.0.0.1 (a free port, .port),
offers STARTTLS with the given certificate, then AUTH XOAUTH2. replies maps
a command ("AUTH", "MAIL", "RCPT", "DATA") to the reply line sent instead of
success. The token sent with AUTH is never logged or kept. close() stops it.
"""

import socket
import ssl
import threading


class SmtpFault:
    """SmtpFault - a scripted SMTP server with STARTTLS"""

    def __init__(self, cert, key, replies=None):
        self.replies = dict(replies or {})
        self.seen = []  # command names received, in order (never their arguments)
        self.ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ctx.load_cert_chain(cert, key)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.5)
        self.port = self.sock.getsockname()[1]
        self.stopping = False
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        """serve - one connection at a time until close()"""
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            try:
                conn.settimeout(20)
                self.session(conn)
            except (OSError, ssl.SSLError):
                pass
            finally:
                conn.close()

    def session(self, conn):
        """session - greet, STARTTLS, then the scripted replies"""
        f = conn.makefile("rb")

        def send(line):
            conn.sendall((line + "\r\n").encode())

        send("220 fault.test ESMTP")
        tls = False
        while True:
            raw = f.readline(100000)
            if not raw:
                return
            line = raw.decode("ascii", "replace").rstrip("\r\n")
            verb = line.split(" ", 1)[0].upper()
            self.seen.append(verb)
            if verb in ("EHLO", "HELO"):
                if tls:
                    send("250-fault.test\r\n250-AUTH XOAUTH2\r\n250 8BITMIME")
                else:
                    send("250-fault.test\r\n250 STARTTLS")
            elif verb == "STARTTLS":
                send("220 2.0.0 Ready to start TLS")
                conn = self.ctx.wrap_socket(conn, server_side=True)
                f = conn.makefile("rb")
                tls = True
            elif verb == "AUTH":
                if len(line.split(" ")) < 3:
                    send("334 ")
                    f.readline(100000)
                send(self.replies.get("AUTH", "235 2.7.0 Authentication successful"))
            elif verb in ("MAIL", "RCPT"):
                send(self.replies.get(verb, "250 2.1.0 OK"))
            elif verb == "DATA":
                if "DATA" in self.replies:
                    send(self.replies["DATA"])
                    continue
                send("354 go ahead")
                while True:
                    body = f.readline(100000)
                    if not body or body in (b".\r\n", b".\n"):
                        break
                send("250 2.0.0 queued")
            elif verb == "NOOP":
                send("250 2.0.0 OK")
            elif verb == "QUIT":
                send("221 2.0.0 bye")
                return
            else:
                send("502 5.5.2 not here")

    def close(self):
        """close - stop listening"""
        self.stopping = True
        self.sock.close()
        self.thread.join(5)
