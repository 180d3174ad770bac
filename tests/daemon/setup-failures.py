#!/usr/bin/env python3
"""setup-failures.py - Entra's common setup failures explained, each with
its fix, by "test", the daemon's log and "status": the AADSTS codes the
mock answers (50194, 700016, 7000215, 7000222, 70043, 700082) and the SMTP
replies Exchange Online gives (535 5.7.139, 430 4.2.0 STOREDRV) from a
scripted SMTP server; the exit code says whether a person is needed (TAP)"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixture import Fixture, Tap  # noqa: E402
from smtpfault import SmtpFault  # noqa: E402

EX_TEMPFAIL = 75
EX_UNAVAILABLE = 69  # needs a person

# code -> words the explanation and the fix must hold
AADSTS = {
    50194: ("single-tenant", "set tenant to its Directory (tenant) ID"),
    700016: ("not found in this tenant", "check client_id and tenant"),
    7000215: ("secret's ID", "put the Value in client_secret_file"),
    7000222: ("client secret has expired", "create a new one under Certificates & secrets"),
    70043: ("sign-in frequency", "authorize the account again"),
    700082: ("90 days of inactivity", "authorize the account again"),
}
ALICE = "alice@contoso.test"


def name_of(code):
    return "aadsts%d@contoso.test" % code


def test_aadsts(t, fx, smtp):
    for code, (what, fix) in AADSTS.items():
        acct = name_of(code)
        r = fx.cli("test", acct, "--smtp", "127.0.0.1:%d" % smtp.port, "--cafile", fx.ca)
        out = r.stdout + r.stderr
        if not t.ok(r.returncode == EX_UNAVAILABLE and "AADSTS%d" % code in out and what in out
                    and "fix: " + fix in out,
                    "AADSTS%d: test explains it (%s) with the fix (%s), exit 69 (exit %d)"
                    % (code, what, fix, r.returncode)):
            t.diag(out[-600:])
        lines = [x for x in fx.logtext().splitlines() if "account=%s" % acct in x and
                 "AADSTS%d" % code in x]
        t.ok(any(what in x and "fix: " + fix in x for x in lines),
             "AADSTS%d: the daemon's log line carries the explanation and the fix" % code)
        r = fx.cli("status", acct)
        t.ok("AADSTS%d: " % code in r.stdout and fix in r.stdout,
             "AADSTS%d: status shows the fix" % code)


def test_smtp(t, fx, smtp):
    cases = (
        ({"AUTH": "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled "
                  "for the Tenant. Visit https://aka.ms/smtp_auth_disabled for more information."},
         (), EX_UNAVAILABLE,
         ["Set-CASMailbox -Identity MAILBOX -SmtpClientAuthenticationDisabled $false",
          "Set-TransportConfig -SmtpClientAuthenticationDisabled $false"],
         "535 5.7.139 (SMTP AUTH disabled)"),
        ({"MAIL": "430 4.2.0 STOREDRV; mailbox logon failure"}, ("--to", "rcpt@example.test"),
         EX_UNAVAILABLE,
         ["Add-MailboxPermission -Identity MAILBOX -User SERVICE_PRINCIPAL_ID -AccessRights "
          "FullAccess", "New-ServicePrincipal"],
         "430 4.2.0 STOREDRV (app-only mailbox logon failure)"),
        ({"MAIL": "451 4.3.0 try again later"}, ("--to", "rcpt@example.test"), EX_TEMPFAIL, [],
         "a plain 451 (control: temporary stays temporary)"),
    )
    for replies, extra, want_rc, fixes, what in cases:
        smtp.replies = replies
        r = fx.cli("test", ALICE, "--smtp", "127.0.0.1:%d" % smtp.port, "--cafile", fx.ca, *extra)
        out = r.stdout + r.stderr
        ok = r.returncode == want_rc and all(f in out for f in fixes)
        if fixes:
            ok = ok and "\nmeaning: " in out and "\nfix: " in out
        if not t.ok(ok, "%s: exit %d (%d), meaning and fix shown" % (what, want_rc,
                                                                     r.returncode)):
            t.diag(out[-800:])
        t.ok("token hidden" in out or "AUTH" not in smtp.seen,
             "%s: the transcript hides the token" % what)


def main():
    t = Tap()
    fx = Fixture(accounts=[ALICE] + [name_of(c) for c in AADSTS])
    smtp = SmtpFault(os.path.join(fx.dir, "ca", "server.pem"),
                     os.path.join(fx.dir, "ca", "server.key"))
    with fx.suite(t, cleanup=smtp.close):
        for acct in [ALICE] + [name_of(c) for c in AADSTS]:
            fx.import_rt(acct)
        fx.control("settings", {"user_aadsts": {name_of(c): c for c in AADSTS}})
        fx.start()
        test_aadsts(t, fx, smtp)
        test_smtp(t, fx, smtp)
    sys.exit(t.done())


if __name__ == "__main__":
    main()
