#!/usr/bin/env python3
"""run-doc-commands.py - every oauth2-token-helper command line the docs show

Usage:
  run-doc-commands.py list    the command lines found, one per line
  run-doc-commands.py run     run each (environment below); one result per
                              line: "0<TAB>text" (passed), "1<TAB>text"
                              (failed), "#<TAB>text" (a note)

Where commands come from (read out of the docs at each run, never copied):
  - README.md: lines of fenced code blocks that start with
    "oauth2-token-helper " (a trailing "# comment" dropped), inline code
    spans that do, and inline code spans that start with a subcommand
    named in the man page's SYNOPSIS and carry arguments (the table of
    authorize flows: "authorize ACCOUNT --device", ...);
  - man/*.8 and man/*.5, rendered from roff (bold kept, italics as
    <placeholders>): each SYNOPSIS entry of oauth2-token-helper(8), and
    every bold "oauth2-token-helper SUBCOMMAND ..." elsewhere;
  - the comments of the shipped examples (conf/*.conf, conf/postfix/,
    conf/exim/): "oauth2-token-helper SUBCOMMAND ..." up to the first
    character a command line here does not hold (the systemd units are
    tested with the units).

A synopsis with optional parts ("[--format raw|xoauth2|...]", "[-w days]")
or choices ("--help | -h") becomes one command line per documented option
and per alternative, so that each option shown is run once, and one with
all of them. Placeholders get this test's values: account names
(relay@contoso.com, ACCOUNT, <account>) the test's account, contoso.com
contoso.test, smtp.office365.com:587 or <host>[:<port>] the receiver,
the address after --to its recipient, <file> after -c the test's config,
<command> each subcommand in turn. "test" gets --cafile with the test CA
when the docs show none (the receiver's certificate is the test CA's, not
a public one).

A command shown without its required arguments ("run oauth2-token-helper
token") refers to the command: its "SUBCOMMAND --help" must exit 0.

How each is judged: any command must parse (exit status not 64, no usage
text). Those that can work here must succeed: token (its output in the
format asked for), status (--json: a JSON array), check (exit 0, an
"OK" line), config-check, import (a fresh grant from the mock on stdin), metrics
(the daemon up and the account on the page; --output to a scratch file),
revoke (then the grant is imported again), migrate (on a scratch Postfix
configuration: --dry-run changes nothing, --apply moves the password entry
and is rolled back, never a password printed), test --smtp (the receiver
verifies the token; --to delivers a message), sendmail (a message with a
To: on stdin, a recipient added when none is shown, the relay set to the
receiver in a copy of the config: the receiver accepts it), test --relay (parses and
submits to the receiver, which refuses it: no device relay runs here),
authorize (device flow:
approved at the mock; --browser: the mock redirects to its listener;
--paste: the redirected address pasted in), serve (a second daemon on its
own socket and a copy of the state: it listens, and exits 0 on SIGTERM).
No token is ever printed.

Environment: HELPER_BIN, HELPER_CONF (its daemon running), ACCOUNT,
CLIENT_ID, TENANT, RECEIVER_PORT, RCPT, CA, MOCK_URL, MOCKCTL, WORKDIR
(scratch: copies of state), LOGDIR (the commands' output), FREE_PORTS
(for --port), top_srcdir.
"""

import base64
import glob
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

SRC = os.environ.get("top_srcdir") or os.path.join(os.path.dirname(__file__), "..", "..")
PROG = "oauth2-token-helper"
EX_USAGE = 64


# ---- roff ---------------------------------------------------------------

def roff_args(rest):
    """roff_args - the arguments of a macro line (double quotes group)"""
    args, cur, quoted, i = [], "", False, 0
    while i < len(rest):
        c = rest[i]
        if c == '"':
            quoted = not quoted
        elif c in " \t" and not quoted:
            if cur:
                args.append(cur)
            cur = ""
        else:
            cur += c
        i += 1
    if cur:
        args.append(cur)
    return args


def roff_inline(text):
    """roff_inline - escapes and inline fonts: italics become <placeholders>"""
    text = text.replace("\\-", "-").replace("\\e", "\\").replace("\\(dq", '"')
    text = text.replace("\\&", "").replace("\\ ", " ")
    out, italic, i = "", False, 0
    while i < len(text):
        if text.startswith("\\f", i) and i + 2 < len(text):
            font = text[i + 2]
            if font == "I" and not italic:
                out += "<"
                italic = True
            elif font in "BRP" and italic:
                out += ">"
                italic = False
            i += 3
            continue
        out += text[i]
        i += 1
    if italic:
        out += ">"
    return out


def italic(s):
    """italic - a placeholder, unless it is only punctuation"""
    m = re.match(r"^(\W*)(.*?)(\W*)$", s)
    if not m.group(2):
        return s
    return m.group(1) + "<" + m.group(2) + ">" + m.group(3)


def roff_line(line):
    """roff_line - one line of text with fonts resolved, or None for a request"""
    if not line.startswith("."):
        return roff_inline(line)
    m = re.match(r"^\.(BR|RB|BI|IB|IR|RI|B|I)\s+(.*)$", line)
    if not m:
        return None
    macro, args = m.group(1), [roff_inline(a) for a in roff_args(m.group(2))]
    if macro in ("B", "I"):
        s = " ".join(args)
        return italic(s) if macro == "I" else s
    out = ""
    for n, a in enumerate(args):
        font = macro[n % 2]
        out += italic(a) if font == "I" else a
    return out


def man_commands(path):
    """man_commands - (where, text, is_synopsis) of a man page's command lines"""
    found = []
    section, syn, syn_line = "", [], 0
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    for n, raw in enumerate(lines, 1):
        if raw.startswith(".SH"):
            if syn:
                found.append((syn_line, " ".join(syn), True))
                syn = []
            section = raw[3:].strip().strip('"')
            continue
        if section == "SYNOPSIS":
            if raw.startswith(".br"):
                if syn:
                    found.append((syn_line, " ".join(syn), True))
                syn = []
                continue
            text = roff_line(raw)
            if text:
                if not syn:
                    syn_line = n
                syn.append(text)
            continue
        if not re.match(r"^\.(BR|RB|BI|IB|B)\s", raw) and "\\fB" + PROG not in raw:
            continue
        text = roff_line(raw)
        if not text:
            continue
        m = re.search(re.escape(PROG) + r" +[a-z].*", text)
        if m:
            found.append((n, re.sub(r"[).,;:]+$", "", m.group(0)), False))
    if syn:
        found.append((syn_line, " ".join(syn), True))
    # Only the synopsis of the program itself (not the plugin's or a file's).
    found = [(n, t, s) for n, t, s in found if not s or t.startswith(PROG + " ")]
    where = os.path.relpath(path, SRC)
    return [("%s:%d" % (where, n), re.sub(r"\s+", " ", t).strip(), s) for n, t, s in found]


# ---- README ---------------------------------------------------------------

def readme_commands(path, subcommands):
    """readme_commands - (where, text) of README's command lines"""
    found = []
    fence = False
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    for n, line in enumerate(lines, 1):
        s = line.strip()
        if s.startswith("```"):
            fence = not fence
            continue
        if fence:
            if s.startswith(PROG + " "):
                found.append((n, re.sub(r"\s+#.*$", "", s)))
            continue
        for span in re.findall(r"`([^`]+)`", line):
            span = span.strip()
            if span.startswith(PROG + " "):
                found.append((n, span))
            elif span.split(" ")[0] in subcommands and len(span.split()) > 1:
                found.append((n, PROG + " " + span))
    where = os.path.relpath(path, SRC)
    return [("%s:%d" % (where, n), t) for n, t in found]


# ---- conf/ -----------------------------------------------------------------

def conf_commands(path, subcommands):
    """conf_commands - (where, text) of the commands a shipped example's comments show"""
    found = []
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    for n, line in enumerate(lines, 1):
        for m in re.finditer(r"(?<![\w/.-])" + re.escape(PROG) + r"((?: [A-Za-z0-9@._:=-]+)+)", line):
            words = m.group(1).split()
            if words[0] in subcommands:
                found.append((n, PROG + m.group(1)))
    where = os.path.relpath(path, SRC)
    return [("%s:%d" % (where, n), t) for n, t in found]


# ---- synopses -------------------------------------------------------------

def tokenize(text):
    """tokenize - words and [optional groups] (a group glued to a word stays with it)"""
    toks, i = [], 0
    while i < len(text):
        c = text[i]
        if c.isspace():
            i += 1
            continue
        if c == "[":
            depth, j = 0, i
            while j < len(text):
                if text[j] == "[":
                    depth += 1
                elif text[j] == "]":
                    depth -= 1
                    if depth == 0:
                        break
                j += 1
            toks.append(("opt", text[i + 1:j].strip()))
            i = j + 1
            continue
        j = i
        while j < len(text) and not text[j].isspace() and text[j] != "[":
            j += 1
        word = text[i:j]
        # host[:port]: the glued group is part of the word, always given.
        if j < len(text) and text[j] == "[" and word:
            k = text.index("]", j)
            word += text[j + 1:k]
            j = k + 1
        toks.append(("word", word))
        i = j
    return toks


def alternatives(group):
    """alternatives - the choices of an optional group"""
    nested = re.search(r"\s*\[([^\[\]]*)\]", group)
    if nested:
        # "--login user [--password-file file]": without, then with the inner part.
        without = (group[:nested.start()] + group[nested.end():]).strip()
        within = (group[:nested.start()] + " " + nested.group(1) + group[nested.end():]).strip()
        return list(dict.fromkeys(alternatives(without) + alternatives(within)))
    alts = [a.strip() for a in group.split("|")]
    first = alts[0].split()
    if len(alts) > 1 and len(first) > 1 and not alts[1].startswith("-"):
        # "--format raw|xoauth2|json": one option, several values.
        return [" ".join(first[:-1] + [a]) for a in [first[-1]] + alts[1:]]
    return alts


def alternations(toks):
    """alternations - "a | b" outside brackets becomes one ("opt"-like) choice"""
    out = []
    i = 0
    while i < len(toks):
        if toks[i] == ("word", "|") and out and i + 1 < len(toks):
            prev = out.pop()
            choices = prev[1] if prev[0] == "alt" else [prev[1]]
            out.append(("alt", choices + [toks[i + 1][1]]))
            i += 2
            continue
        out.append(toks[i])
        i += 1
    return out


def expand(text):
    """expand - the command lines that show each optional part of a synopsis once"""
    toks = alternations(tokenize(text))
    if any(k == "alt" for k, _ in toks):
        lines = []
        for n, (kind, val) in enumerate(toks):
            if kind == "alt":
                for choice in val:
                    lines += expand(" ".join(
                        choice if m == n else (v if k == "word" else
                                               (v[0] if k == "alt" else "[" + v + "]"))
                        for m, (k, v) in enumerate(toks)))
        return list(dict.fromkeys(lines))
    base = [t[1] for t in toks if t[0] == "word"]
    lines = [" ".join(base)]
    for idx, (kind, val) in enumerate(toks):
        if kind != "opt":
            continue
        for alt in alternatives(val):
            words = []
            for jdx, (k2, v2) in enumerate(toks):
                if k2 == "word":
                    words.append(v2)
                elif jdx == idx:
                    words.append(alt)
            lines.append(" ".join(words))
    # And every optional part at once (first alternative each): options
    # that collide (the global -c and check's -c) show up only together.
    full = []
    for kind, val in toks:
        full.append(val if kind == "word" else alternatives(val)[0])
    lines.append(" ".join(full))
    seen, out = set(), []
    for line in lines:
        line = re.sub(r"\.\.\.", "", line).strip()
        if line not in seen:
            seen.add(line)
            out.append(line)
    return out


def synopsis_table(man8):
    """synopsis_table - subcommand -> [(required positionals, required options)], one per synopsis"""
    table = {}
    for _, text, syn in man_commands(man8):
        if not syn:
            continue
        words = [w for k, w in tokenize(text) if k == "word"]
        if len(words) < 2:
            continue
        sub = words[1]
        if not re.match(r"^[a-z][a-z-]*$", sub):
            continue
        pos = [w for n, w in enumerate(words[2:], 2)
               if w.startswith("<") and not words[n - 1].startswith("-")]
        opts = [w for w in words[2:] if w.startswith("--")]
        # A command may have several synopses (test --smtp, test --relay).
        table.setdefault(sub, []).append((len(pos), opts))
    return table


def all_commands():
    """all_commands - [(where, shown, argv-as-text)] from README and the man pages"""
    man8 = os.path.join(SRC, "man", PROG + ".8")
    table = synopsis_table(man8)
    found = []
    for path in sorted(glob.glob(os.path.join(SRC, "man", "*.[58]"))):
        for where, text, _ in man_commands(path):
            found.append((where, text))
    found += readme_commands(os.path.join(SRC, "README.md"), set(table))
    for path in sorted(glob.glob(os.path.join(SRC, "conf", "*.conf")) +
                       glob.glob(os.path.join(SRC, "conf", "postfix", "*")) +
                       glob.glob(os.path.join(SRC, "conf", "postfix", "*", "*")) +
                       glob.glob(os.path.join(SRC, "conf", "exim", "*"))):
        if not os.path.isfile(path):
            continue
        found += conf_commands(path, set(table))
    out = []
    for where, text in found:
        for line in expand(text):
            out.append((where, text, line))
    return out, table


# ---- running --------------------------------------------------------------

class Env:
    """Env - what the commands are run with"""

    def __init__(self):
        e = os.environ
        self.helper = e["HELPER_BIN"]
        self.conf = e["HELPER_CONF"]
        self.account = e["ACCOUNT"]
        self.client_id = e["CLIENT_ID"]
        self.tenant = e["TENANT"]
        self.port = e["RECEIVER_PORT"]
        self.rcpt = e["RCPT"]
        self.ca = e["CA"]
        self.mockctl = e["MOCKCTL"]
        self.work = e["WORKDIR"]
        self.logdir = e["LOGDIR"]
        self.free_ports = e.get("FREE_PORTS", "").split()
        self.env = dict(e)
        self.env.pop("DISPLAY", None)
        self.env.pop("WAYLAND_DISPLAY", None)
        self.env["OAUTH2_TOKEN_HELPER_CONFIG"] = self.conf
        self.log = open(os.path.join(self.logdir, "doc-commands.log"), "a", encoding="utf-8")


def substitute(env, line, conf):
    """substitute - placeholders to this test's values; the argv"""
    value = {
        "account": env.account, "ACCOUNT": env.account, "file": conf, "FILE": conf,
        "days": "30", "DAYS": "30", "seconds": "60", "S": "60", "SECONDS": "60",
        "address": env.rcpt, "ADDR": env.rcpt,
        "sender": env.account, "SENDER": env.account, "name": env.account, "NAME": env.account,
        "recipient": env.rcpt, "RECIPIENT": env.rcpt,
    }
    argv = []
    words = line.split()
    for i, w in enumerate(words):
        prev = words[i - 1] if i else ""
        if prev == "--to" and re.match(r"^[^<>]+@", w):
            argv.append(env.rcpt)
            continue
        w = re.sub(r"contoso\.com", "contoso.test", w)
        w = re.sub(r"^[a-z]+@contoso\.test$", env.account, w)
        w = re.sub(r"^smtp\.office365\.com(:\d+)?$", "127.0.0.1:" + env.port, w)
        if re.match(r"^<host>(:<port>)?$", w) or re.match(r"^HOST(:PORT)?$", w):
            w = "127.0.0.1:" + env.port
        elif prev == "--cafile" and w in ("<file>", "FILE"):
            w = env.ca
        elif prev == "--sender-env" and w in ("<var>", "VAR"):
            # sendmail --sender-env: a variable run_sendmail sets to the sender
            w = "DOC_COMMANDS_SENDER"
        elif prev == "--output":
            # metrics --output: a scratch file, never the config or the system's textfile dir
            w = os.path.join(env.work, "metrics.prom")
        elif prev == "--port" and w in ("<port>", "N", "PORT"):
            w = env.free_ports.pop() if env.free_ports else "0"
        elif prev == "-w" and w in ("<days>", "DAYS"):
            w = "30"
        elif prev == "-c" and w in ("<days>", "DAYS"):
            w = "7"
        elif w.startswith("<") and w.endswith(">"):
            w = value.get(w[1:-1], w)
        elif w in value and w.isupper():
            w = value[w]
        argv.append(w)
    if argv and argv[0] == PROG:
        argv[0] = env.helper
    return argv


def subcommand(argv):
    """subcommand - the first word after the global options"""
    i = 1
    while i < len(argv):
        if argv[i] == "-c":
            i += 2
        elif argv[i] == "-v":
            i += 1
        else:
            return argv[i], i
    return None, i


def show(argv):
    return " ".join([PROG] + argv[1:])


def run(env, argv, stdin=None, timeout=60):
    """run - (exit status, stdout, stderr); output goes to the log only"""
    try:
        p = subprocess.run(argv, input=stdin, capture_output=True, text=True,
                           timeout=timeout, env=env.env)
        rc, out, err = p.returncode, p.stdout, p.stderr
    except subprocess.TimeoutExpired as e:
        rc, out, err = -1, e.stdout or "", (e.stderr or "") + "\n(timed out)"
        if isinstance(out, bytes):
            out = out.decode(errors="replace")
        if isinstance(err, bytes):
            err = err.decode(errors="replace")
    env.log.write("$ %s\nexit %d\n%s\n" % (show(argv), rc, err[-2000:]))
    env.log.flush()
    return rc, out, err


def mockctl(env, *args, stdin=None):
    p = subprocess.run([sys.executable, env.mockctl] + list(args), input=stdin,
                       capture_output=True, text=True, env=env.env, timeout=60)
    return p.returncode, p.stdout


def reimport(env):
    """reimport - a fresh grant for the account (after revoke)"""
    rc, rt = mockctl(env, "grant", "--user", env.account, "--client-id", env.client_id,
                     "--tenant", env.tenant)
    if rc != 0:
        return False
    p = subprocess.run([env.helper, "-c", env.conf, "import", env.account], input=rt,
                       capture_output=True, text=True, env=env.env)
    return p.returncode == 0


def usage_error(rc, err):
    return rc == EX_USAGE or err.lstrip().startswith("usage:")


def judge_token(argv, rc, out):
    fmt = argv[argv.index("--format") + 1] if "--format" in argv else "raw"
    body = out.strip()
    if rc != 0 or not body:
        return False, "exit %d" % rc
    if fmt == "json":
        try:
            d = json.loads(body)
            return bool(d.get("access_token")), "JSON with access_token"
        except ValueError:
            return False, "not JSON"
    if fmt in ("xoauth2", "oauthbearer"):
        try:
            raw = base64.b64decode(body, validate=True)
        except ValueError:
            return False, "not base64"
        want = b"user=" if fmt == "xoauth2" else b"n,"
        return raw.startswith(want) and b"auth=Bearer " in raw, "a %s response" % fmt
    return len(body) >= 100 and " " not in body, "a token of %d characters" % len(body)


class Flow:
    """Flow - an interactive command (authorize, serve) read as it runs"""

    def __init__(self, env, argv, stdin=False):
        self.out, self.lock = "", threading.Lock()
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                  env=env.env)
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()

    def _read(self):
        for line in self.p.stdout:
            with self.lock:
                self.out += line

    def wait_for(self, pattern, timeout=20):
        end = time.time() + timeout
        while time.time() < end:
            with self.lock:
                m = re.search(pattern, self.out)
            if m:
                return m
            if self.p.poll() is not None:
                return None
            time.sleep(0.1)
        return None

    def finish(self, timeout=60):
        try:
            rc = self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            rc = self.p.wait()
        self.t.join(5)
        return rc


def run_authorize(env, argv):
    """run_authorize - a sign-in flow, with the mock acting as the user"""
    paste = "--paste" in argv
    browser = "--browser" in argv
    f = Flow(env, argv, stdin=paste)
    if paste or browser:
        m = f.wait_for(r"(https://\S+/oauth2/v2\.0/authorize\?\S+)")
        if not m:
            rc = f.finish(5)
            return rc, f.out, "no sign-in address shown"
        url = m.group(1)
        if paste:
            _, loc = mockctl(env, "browse", url, "--location-only")
            f.p.stdin.write(loc.strip() + "\n")
            f.p.stdin.close()
        else:
            mockctl(env, "browse", url)
    else:
        m = f.wait_for(r"enter the code\s+(\S+)")
        if not m:
            rc = f.finish(5)
            return rc, f.out, "no device code shown"
        mockctl(env, "device", "approve", "--user-code", m.group(1), "--user", env.account)
    rc = f.finish(60)
    env.log.write("$ %s\nexit %d\n%s\n" % (show(argv), rc, f.out[-2000:]))
    return rc, f.out, "exit %d" % rc


def run_serve(env, argv):
    """run_serve - a second daemon with its own socket and a copy of the state"""
    d = os.path.join(env.work, "serve-%d" % time.time_ns())
    os.makedirs(d)
    state = os.path.join(d, "state")
    src_state = None
    lines = []
    with open(env.conf, encoding="utf-8") as f:
        for line in f:
            m = re.match(r"^\s*state_dir\s*=\s*(\S+)", line)
            if m:
                src_state = m.group(1)
                line = "state_dir = %s\n" % state
            elif re.match(r"^\s*socket\s*=", line):
                line = "socket = %s\n" % os.path.join(d, "socket")
            lines.append(line)
    if src_state:
        shutil.copytree(src_state, state)
    conf = os.path.join(d, "serve.conf")
    with open(conf, "w", encoding="utf-8") as f:
        f.writelines(lines)
    os.chmod(conf, 0o640)
    argv = [conf if (i > 0 and argv[i - 1] == "-c") else a for i, a in enumerate(argv)]
    saved = env.env["OAUTH2_TOKEN_HELPER_CONFIG"]
    env.env["OAUTH2_TOKEN_HELPER_CONFIG"] = conf
    f = Flow(env, argv)
    env.env["OAUTH2_TOKEN_HELPER_CONFIG"] = saved
    sock = os.path.join(d, "socket")
    end = time.time() + 20
    while time.time() < end and not os.path.exists(sock) and f.p.poll() is None:
        time.sleep(0.1)
    listening = os.path.exists(sock) and f.p.poll() is None
    if f.p.poll() is None:
        f.p.send_signal(signal.SIGTERM)
    rc = f.finish(20)
    env.log.write("$ %s\nexit %d\n%s\n" % (show(argv), rc, f.out[-2000:]))
    ok = listening and rc == 0
    return ok, "listened on its socket: %s, exit %d after SIGTERM" % (listening, rc)


def run_sendmail(env, argv, i):
    """run_sendmail - a message on stdin through the receiver (relay set in a copy of the config)"""
    conf = os.path.join(env.work, "sendmail.conf")
    with open(env.conf, encoding="utf-8") as f:
        text = f.read()
    text = re.sub(r"(?m)^(\[account [^]]+\])$",
                  r"\1\nrelay = 127.0.0.1:%s\nrelay_ca_file = %s" % (env.port, env.ca), text)
    with open(conf, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(conf, 0o640)
    # The relay copy instead of any -c before the command; a recipient when none is shown.
    glob_opts = [a for n, a in enumerate(argv[1:i]) if a != "-c" and argv[n] != "-c"]
    args = argv[i + 1:]
    # The docs' recipients (become the test's account by substitute) are the receiver's.
    args = [env.rcpt if "@" in a and not a.startswith("-") and n and
            args[n - 1] not in ("-f", "-r", "-F", "--account") else a
            for n, a in enumerate(args)]
    if "-t" not in args and env.rcpt not in args:
        args = args + [env.rcpt]
    argv = [argv[0], "-c", conf] + glob_opts + ["sendmail"] + args
    msg = "To: %s\nSubject: doc-commands sendmail\n\nFrom the documentation.\n" % env.rcpt
    # --sender-env VAR (Exim's SENDER): the account's address in VAR, for this run only.
    var = args[args.index("--sender-env") + 1] if "--sender-env" in args[:-1] else None
    if var:
        env.env[var] = env.account
    rc, out, err = run(env, argv, stdin=msg)
    if var:
        del env.env[var]
    return rc == 0 and not usage_error(rc, err), "the receiver accepted the message (exit %d)" % rc


MIGRATE_PASSWORD = "doc-commands-old-password"


def run_migrate(env, argv):
    """run_migrate - migrate on a scratch Postfix configuration directory, never
    /etc/postfix: a relayhost of Office 365 and a texthash: password table whose
    login is the test's account (already in the config, so the config is left as
    it is); -C, --backup-dir, --client-id and --host are this test's, a --rollback
    placeholder is dropped. (passed, what was checked)"""
    pf = os.path.join(env.work, "migrate-postfix")
    bk = os.path.join(env.work, "migrate-backups")
    sasl = os.path.join(pf, "sasl_passwd")
    if not os.path.exists(pf):
        os.makedirs(pf)
        with open(os.path.join(pf, "main.cf"), "w") as f:
            f.write("compatibility_level = 3.6\nrelayhost = [smtp.office365.com]:587\n"
                    "smtp_sasl_auth_enable = yes\n"
                    "smtp_sasl_password_maps = texthash:%s\n"
                    "smtp_tls_security_level = encrypt\n" % sasl)
        with open(sasl, "w") as f:
            f.write("[smtp.office365.com]:587 %s:%s\n" % (env.account, MIGRATE_PASSWORD))
        os.chmod(sasl, 0o600)
    sub, i = subcommand(argv)
    args, rest, mode = [], argv[i + 1:], "--dry-run"
    n = 0
    while n < len(rest):
        a = rest[n]
        if a in ("-C", "--backup-dir", "--client-id", "--host"):
            n += 2
            continue
        if a in ("--dry-run", "--apply", "--rollback"):
            mode = a
            if a == "--rollback" and n + 1 < len(rest) and not rest[n + 1].startswith("-"):
                n += 1
        args.append(a)
        n += 1
    argv = argv[:i + 1] + args + ["-C", pf, "--backup-dir", bk, "--client-id", env.client_id]
    before = open(sasl).read()
    rc, out, err = run(env, argv)
    leaked = MIGRATE_PASSWORD in out + err
    if usage_error(rc, err) or leaked:
        return False, "exit %d%s" % (rc, ", printed the password" if leaked else "")
    if mode == "--dry-run":
        return (rc == 0 and open(sasl).read() == before and "********" in out,
                "a masked diff, nothing changed (exit %d)" % rc)
    if mode == "--apply":
        moved = rc == 0 and MIGRATE_PASSWORD not in open(sasl).read()
        rb, _, _ = run(env, [env.helper, "migrate", "-C", pf, "--backup-dir", bk, "--rollback"])
        return moved and rb == 0 and open(sasl).read() == before, \
            "the password entry moved, then rolled back (exit %d, rollback %d)" % (rc, rb)
    ok = rc == 0 or (rc == 78 and "no migrate backup" in err)
    return ok and open(sasl).read() == before, "restored, or no backup to restore (exit %d)" % rc


def judge(env, table, argv):
    """judge - run one command line; (passed, what was checked)"""
    sub, i = subcommand(argv)
    if sub is None:
        rc, out, err = run(env, argv)
        return not usage_error(rc, err), "parses (exit %d)" % rc
    if sub in ("help", "--help", "-h", "--version"):
        rc, out, err = run(env, argv)
        return rc == 0 and out.strip() != "", "prints to stdout, exit 0 (exit %d)" % rc
    args = argv[i + 1:]
    positional = [a for n, a in enumerate(args)
                  if not a.startswith("-") and not (n and args[n - 1].startswith("--"))]
    if sub in table and not any(len(positional) >= npos and all(o in args for o in ropts)
                                for npos, ropts in table[sub]):
        # A reference to the command, not a command line to run.
        rc, out, err = run(env, [env.helper, sub, "--help"])
        return rc == 0 and out.strip() != "", \
            "named without its arguments: '%s %s --help' exits 0 (exit %d)" % (PROG, sub, rc)
    if "--help" in args:
        rc, out, err = run(env, argv)
        return rc == 0 and out.strip() != "", "prints its help, exit 0 (exit %d)" % rc
    if sub == "serve":
        return run_serve(env, argv)
    if sub == "authorize":
        rc, out, why = run_authorize(env, argv)
        if usage_error(rc, out):
            return False, "usage error"
        return rc == 0, "signed in at the mock, stored (%s)" % why
    if sub == "token":
        rc, out, err = run(env, argv)
        ok, what = judge_token(argv, rc, out)
        return ok and not usage_error(rc, err), "%s (exit %d)" % (what, rc)
    if sub == "import":
        _, rt = mockctl(env, "grant", "--user", env.account, "--client-id", env.client_id,
                        "--tenant", env.tenant)
        rc, out, err = run(env, argv, stdin=rt)
        return rc == 0, "stores a fresh grant (exit %d)" % rc
    if sub == "revoke":
        rc, out, err = run(env, argv)
        again = reimport(env)
        return rc == 0 and again, "exit %d (grant imported again: %s)" % (rc, again)
    if sub == "test" and "--relay" in args:
        # No device relay here (tests/integration/device-relay.sh runs one):
        # the receiver stands in and refuses the unauthenticated submission.
        # The command must parse, read a password without a terminal, and
        # submit.
        rc, out, err = run(env, argv, stdin="device-password\n")
        return not usage_error(rc, err) and "submitting to the relay" in out, \
            "parses and submits (exit %d)" % rc
    if sub == "test":
        if "--cafile" not in argv:
            argv = argv + ["--cafile", env.ca]
        rc, out, err = run(env, argv)
        return rc == 0, "the receiver accepted (exit %d)" % rc
    if sub == "sendmail":
        return run_sendmail(env, argv, i)
    if sub == "status":
        rc, out, err = run(env, argv)
        if "--json" in args:
            try:
                ok = isinstance(json.loads(out), list)
            except ValueError:
                ok = False
            return rc == 0 and ok, "a JSON array, exit %d" % rc
        return rc == 0 and env.account in out, "shows the account, exit %d" % rc
    if sub == "check":
        rc, out, err = run(env, argv)
        return rc == 0 and " OK " in out.splitlines()[0] if out else False, \
            "OK, exit 0 (exit %d: %s)" % (rc, (out.splitlines() or [""])[0][:100])
    if sub == "config-check":
        rc, out, err = run(env, argv)
        return rc == 0, "exit %d" % rc
    if sub == "metrics":
        out_file = argv[argv.index("--output") + 1] if "--output" in argv else None
        if out_file and os.path.exists(out_file):
            os.unlink(out_file)
        rc, out, err = run(env, argv)
        if out_file:
            out = open(out_file).read() if os.path.exists(out_file) else ""
        return rc == 0 and "oauth2_token_helper_up 1" in out \
            and 'account="%s"' % env.account in out, \
            "the daemon up and the account in the Prometheus page, exit %d" % rc
    if sub == "migrate":
        return run_migrate(env, argv)
    rc, out, err = run(env, argv)
    return not usage_error(rc, err), "parses (exit %d)" % rc


def main():
    if len(sys.argv) != 2 or sys.argv[1] not in ("list", "run"):
        sys.stderr.write(__doc__)
        return 2
    cmds, table = all_commands()
    if sys.argv[1] == "list":
        for where, shown, line in cmds:
            print("%s\t%s\t%s" % (where, shown, line))
        return 0
    env = Env()
    done = set()
    for where, shown, line in cmds:
        # "help <command>", "<command> --help": each subcommand.
        if re.search(r"<command>|\bCOMMAND\b", line):
            lines = [re.sub(r"<command>|\bCOMMAND\b", sub, line) for sub in sorted(table)]
        else:
            lines = [line]
        for one in lines:
            argv = substitute(env, one, env.conf)
            key = tuple(argv)
            if key in done:
                continue
            done.add(key)
            ok, what = judge(env, table, argv)
            label = one if one == shown else "%s (from: %s)" % (one, shown)
            print("%d\t%s: %s: %s" % (0 if ok else 1, where, label, what), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
