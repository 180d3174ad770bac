#!/usr/bin/env python3
"""smtpclient.py - SMTP client for the integration tests (stdlib only)

Usage:
  smtpclient.py inject --port P [--host H] [--count N] [--from A] [--to A]
                       [--tag TEXT] [--interval SECONDS]
      Send N small messages into an MTA without authentication (the
      sender's own smtpd, which trusts 127.0.0.0/8), one connection per
      message, --interval seconds apart. Prints how many were accepted;
      exits 1 if any was refused.

  smtpclient.py auth --port P --ca CA --mech XOAUTH2|OAUTHBEARER --user U
                     [--host H] [--token-stdin]
      STARTTLS (verifying the server against CA), then AUTH with the
      bearer token read from stdin. Prints only the final reply code
      (235, 535, 454, ...) on stdout; never prints the token.

  smtpclient.py submit --port P [--host H] [--source ADDR] [--starttls]
                       [--login USER --password-file F] --from A --to A
                       [--header-from TEXT] [--reply-to A] [--subject S]
      One message as a printer or an application submits it to a device
      relay: from the local address --source (another loopback address
      tests an unlisted network), STARTTLS without checking the
      certificate, AUTH PLAIN with a password read from a file (never an
      argument, never printed). Prints the final reply ("250 2.0.0 Ok:
      queued as ID", or the refusal: "554 5.7.1 ..."); exits 0 on 250.
"""

import argparse
import base64
import smtplib
import ssl
import sys
import time
from email.message import EmailMessage
from email.utils import make_msgid, formatdate


def cmd_inject(args):
    """cmd_inject - N messages, one connection each"""
    ok = 0
    for i in range(args.count):
        msg = EmailMessage()
        msg["From"] = args.from_addr
        msg["To"] = args.to
        msg["Subject"] = "%s message %d of %d" % (args.tag, i + 1, args.count)
        msg["Date"] = formatdate(localtime=True)
        msg["Message-ID"] = make_msgid(domain="sender.test")
        msg.set_content("Test message %d from the oauth2-token-helper "
                        "integration tests (%s).\n" % (i + 1, args.tag))
        try:
            with smtplib.SMTP(args.host, args.port, timeout=30) as s:
                s.send_message(msg)
            ok += 1
        except (smtplib.SMTPException, OSError) as e:
            sys.stderr.write("smtpclient: message %d refused: %s\n" % (i + 1, e))
        if args.interval > 0 and i + 1 < args.count:
            time.sleep(args.interval)
    print(ok)
    return 0 if ok == args.count else 1


def cmd_auth(args):
    """cmd_auth - one AUTH attempt with a bearer token; print the reply code"""
    token = sys.stdin.readline().strip()
    ctx = ssl.create_default_context(cafile=args.ca)
    if args.mech.upper() == "XOAUTH2":
        ir = "user=%s\x01auth=Bearer %s\x01\x01" % (args.user, token)
        error_reply = ""
    else:
        ir = "n,a=%s,\x01host=%s\x01port=%d\x01auth=Bearer %s\x01\x01" % (
            args.user.replace("=", "=3D").replace(",", "=2C"),
            args.host, args.port, token)
        error_reply = "\x01"
    with smtplib.SMTP(args.host, args.port, timeout=30) as s:
        s.ehlo("client.test")
        s.starttls(context=ctx)
        s.ehlo("client.test")
        # Two-step form: the initial response is far longer than Postfix's
        # smtpd command-line limit, as with real Entra tokens.
        code, _ = s.docmd("AUTH", args.mech.upper())
        if code == 334:
            code, _ = s.docmd(base64.b64encode(ir.encode()).decode())
            if code == 334:
                # The server's JSON error challenge; answer as RFC 7628 says.
                code, _ = s.docmd(base64.b64encode(error_reply.encode()).decode())
        print(code)
    return 0


def cmd_submit(args):
    """cmd_submit - one message as a device submits it; print the final reply"""
    msg = EmailMessage()
    msg["From"] = args.header_from or args.from_addr
    msg["To"] = args.to
    if args.reply_to:
        msg["Reply-To"] = args.reply_to
    msg["Subject"] = args.subject
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = make_msgid(domain="device.test")
    msg.set_content("Scanned document (a test of the device relay).\n")
    source = (args.source, 0) if args.source else None
    try:
        with smtplib.SMTP(args.host, args.port, timeout=30,
                          source_address=source) as s:
            s.ehlo("device.test")
            if args.starttls:
                ctx = ssl.create_default_context()
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
                s.starttls(context=ctx)
                s.ehlo("device.test")
            if args.login:
                with open(args.password_file, encoding="utf-8") as f:
                    password = f.readline().rstrip("\n")
                s.login(args.login, password)
            code, text = s.mail(args.from_addr)
            if code == 250:
                code, text = s.rcpt(args.to)
            if code != 250:
                print("%d %s" % (code, text.decode(errors="replace")))
                return 1
            code, text = s.data(msg.as_bytes())
            print("%d %s" % (code, text.decode(errors="replace")))
            return 0 if code == 250 else 1
    except smtplib.SMTPResponseException as e:
        print("%d %s" % (e.smtp_code, e.smtp_error.decode(errors="replace")))
        return 1
    except (smtplib.SMTPException, OSError) as e:
        print("error %s" % e)
        return 1


def main():
    ap = argparse.ArgumentParser(prog="smtpclient.py")
    sub = ap.add_subparsers(dest="cmd", required=True)
    i = sub.add_parser("inject")
    i.add_argument("--host", default="127.0.0.1")
    i.add_argument("--port", type=int, required=True)
    i.add_argument("--count", type=int, default=1)
    i.add_argument("--from", dest="from_addr", default="app@sender.test")
    i.add_argument("--to", default="someone@example.net")
    i.add_argument("--tag", default="oauth2-it")
    i.add_argument("--interval", type=float, default=0)
    a = sub.add_parser("auth")
    a.add_argument("--host", default="127.0.0.1")
    a.add_argument("--port", type=int, required=True)
    a.add_argument("--ca", required=True)
    a.add_argument("--mech", required=True, choices=("XOAUTH2", "OAUTHBEARER",
                                                     "xoauth2", "oauthbearer"))
    a.add_argument("--user", required=True)
    d = sub.add_parser("submit")
    d.add_argument("--host", default="127.0.0.1")
    d.add_argument("--port", type=int, required=True)
    d.add_argument("--source")
    d.add_argument("--starttls", action="store_true")
    d.add_argument("--login")
    d.add_argument("--password-file")
    d.add_argument("--from", dest="from_addr", required=True)
    d.add_argument("--header-from")
    d.add_argument("--to", required=True)
    d.add_argument("--reply-to")
    d.add_argument("--subject", default="Scan from the 3rd floor")
    args = ap.parse_args()
    if args.cmd == "inject":
        return cmd_inject(args)
    if args.cmd == "submit":
        return cmd_submit(args)
    return cmd_auth(args)


if __name__ == "__main__":
    sys.exit(main())
