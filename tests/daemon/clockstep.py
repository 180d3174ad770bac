#!/usr/bin/env python3
"""clockstep.py - a step of the wall clock moves no token deadline (issue 9 item 7)

The daemon used to judge expiry by CLOCK_REALTIME: with the clock stepped
back 600 s it kept serving a token the identity platform already called
expired, and put off its refresh by ten minutes. Here the daemon runs with
a small LD_PRELOAD shim (built from the source below with the system's C
compiler) that shifts what clock_gettime(CLOCK_REALTIME) returns by the
number of seconds in a file; CLOCK_MONOTONIC and time() are left alone, so
TLS certificate checks are not disturbed. With 10-second tokens and the
wall clock stepped back 600 s, the daemon must still refresh on time and
never hand out a token past its real expiry; stepped forward, it must not
refuse tokens, and status shows expiries in the wall time. (TAP; skipped without a C compiler or
under a sanitizer build)
"""

import json
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixture import HELPER, Fixture, Tap, wait_for  # noqa: E402

ACCOUNT = "alice@contoso.test"
LIFETIME = 10

SHIM = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* clock_gettime - CLOCK_REALTIME shifted by the seconds in $CLOCKSHIFT_FILE */
int clock_gettime(clockid_t id, struct timespec *ts)
{
    static int (*real)(clockid_t, struct timespec *);
    const char *path = getenv("CLOCKSHIFT_FILE");
    long long shift = 0;
    FILE *fp;
    int rc;

    if (real == NULL)
        real = (int (*)(clockid_t, struct timespec *))dlsym(RTLD_NEXT, "clock_gettime");
    rc = real(id, ts);
    if (rc != 0 || id != CLOCK_REALTIME || path == NULL)
        return rc;
    fp = fopen(path, "r");
    if (fp != NULL) {
        if (fscanf(fp, "%lld", &shift) != 1)
            shift = 0;
        fclose(fp);
    }
    ts->tv_sec += shift;
    return rc;
}
"""


def skip(reason):
    print("1..0 # SKIP %s" % reason, flush=True)
    return 0



def build_shim(d):
    cc = os.environ.get("CC", "cc").split()[0]
    if shutil.which(cc) is None:
        return None
    src = os.path.join(d, "clockshift.c")
    so = os.path.join(d, "clockshift.so")
    with open(src, "w") as f:
        f.write(SHIM)
    r = subprocess.run([cc, "-shared", "-fPIC", "-O1", "-o", so, src, "-ldl"],
                       capture_output=True, text=True)
    return so if r.returncode == 0 else None


def main():
    ldd = subprocess.run(["ldd", HELPER], capture_output=True, text=True).stdout
    if "libasan" in ldd or "libtsan" in ldd:
        return skip("the daemon is built with a sanitizer; LD_PRELOAD would not come first")
    t = Tap()
    fx = Fixture(accounts=(ACCOUNT,))
    shim = build_shim(fx.dir)
    if shim is None:
        fx.close()
        return skip("no C compiler to build the clock shim")
    shift_file = os.path.join(fx.dir, "clockshift")

    def step(seconds):
        tmp = shift_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % seconds)
        os.rename(tmp, shift_file)

    with fx.suite(t):
        step(0)
        fx.settings(lifetime=LIFETIME)
        fx.import_rt(ACCOUNT)
        os.environ["CLOCKSHIFT_FILE"] = shift_file
        os.environ["LD_PRELOAD"] = shim
        try:
            fx.start()
        finally:
            del os.environ["LD_PRELOAD"]
            del os.environ["CLOCKSHIFT_FILE"]
        first = fx.ask("token", ACCOUNT)
        got_first = time.time()
        t.ok(first.startswith("OK "), "a token is served")

        step(-600)  # the wall clock is stepped back ten minutes
        ok0 = fx.token_requests("ok")
        # A 10 s token is served down to 5 s left and refreshed a little
        # before: the refresh is due about 4.5 s after it was obtained.
        t.ok(wait_for(lambda: fx.token_requests("ok") > ok0, LIFETIME),
             "with the wall clock stepped back 600 s, the token is still refreshed on time")
        stale = []
        while time.time() - got_first < LIFETIME + 3:
            reply = fx.ask("token", ACCOUNT)
            if reply == first and time.time() - got_first >= LIFETIME - 5:
                stale.append(round(time.time() - got_first, 1))
            time.sleep(0.5)
        t.ok(not stale, "the first token is not handed out with under 5 s left by the real "
             "clock (served at %s s)" % (stale or "-"))
        reply = fx.ask("token", ACCOUNT)
        t.ok(reply.startswith("OK ") and reply != first,
             "after its real expiry a newer token is served")

        step(+3600)  # and an hour forward: tokens keep being served
        second = fx.ask("token", ACCOUNT)
        t.ok(second.startswith("OK "), "stepped an hour forward, a token is served")
        status = fx.ask("status", ACCOUNT)
        t.ok(status.startswith("OK "), "status answers")
        try:
            exp = json.loads(status[3:]).get("token_expires_at", 0)
            wall = time.time() + 3600
            t.ok(0 < exp - wall <= LIFETIME + 1,
                 "status shows the expiry in the (stepped) wall time: %.0f s from now"
                 % (exp - wall))
        except ValueError:
            t.ok(False, "status is JSON")
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
