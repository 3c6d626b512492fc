#!/usr/bin/env python3
"""One engine per SQLite store, whatever the file is called: while `run` drives orders.db, a
second `run` (and `rebuild`) naming the same file through a symlink, a hard link or another
relative path is refused with a clear error (before it serves anything); once the first
stops, the alias works.

    python3 tests/system/engine_lock.py --binary build/src/cli/streamview --source-dir .
"""

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile

from crash_restart import free_port, tail, wait_ready

DEADLINE_S = 120


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--binary", required=True)
    ap.add_argument("--source-dir", required=True)
    args = ap.parse_args()
    binary = os.path.abspath(args.binary)
    config = os.path.join(os.path.abspath(args.source_dir), "examples", "orders",
                          "streamview.yaml")
    tmp = tempfile.mkdtemp(prefix="sv-engine-lock-")
    db = os.path.join(tmp, "orders.db")
    subprocess.run([binary, "ingest", "--config", config, "--store", db, "/dev/null"],
                   check=True, capture_output=True, timeout=DEADLINE_S)
    os.symlink("orders.db", os.path.join(tmp, "alias.db"))
    os.link(db, os.path.join(tmp, "hardlink.db"))
    os.mkdir(os.path.join(tmp, "sub"))
    log = os.path.join(tmp, "run.log")
    port = free_port()
    with open(log, "wb") as out:
        first = subprocess.Popen([binary, "run", "--config", config, "--store", db, "--listen",
                                  "127.0.0.1:%d" % port], stdout=out, stderr=subprocess.STDOUT)
    problems = []
    try:
        if wait_ready(port, 200, DEADLINE_S) is None:
            print("FAILED: the first run never became ready:\n" + tail(log))
            return 1
        for name, cwd in (("alias.db", tmp), ("hardlink.db", tmp), ("../orders.db", "sub")):
            for cmd in (["run", "--listen", "127.0.0.1:0", "--exit-when-caught-up"],
                        ["rebuild", "--all"]):
                r = subprocess.run([binary, cmd[0], "--config", config, "--store", name] + cmd[1:],
                                   capture_output=True, text=True, timeout=DEADLINE_S,
                                   cwd=os.path.join(tmp, cwd))
                ok = r.returncode != 0 and "another streamview process" in r.stderr
                print("%s --store %s (from %s): exit %d %s" % (cmd[0], name, cwd, r.returncode,
                                                               "refused" if ok else "NOT refused"))
                if not ok:
                    problems.append("%s --store %s started beside the engine on orders.db: %s"
                                    % (cmd[0], name, r.stderr.strip()[-300:]))
    finally:
        first.send_signal(signal.SIGTERM)
        first.wait(timeout=DEADLINE_S)
    r = subprocess.run([binary, "rebuild", "--config", config, "--store", "alias.db", "--all"], capture_output=True, text=True,
                       timeout=DEADLINE_S, cwd=tmp)
    if r.returncode != 0:
        problems.append("rebuild --store alias.db failed after the first stopped: %s"
                        % r.stderr[-300:])
    if problems:
        print("FAILED (files kept in %s):\n  %s" % (tmp, "\n  ".join(problems)))
        return 1
    shutil.rmtree(tmp, ignore_errors=True)
    print("PASSED")
    return 0


if __name__ == "__main__":
    sys.exit(main())
