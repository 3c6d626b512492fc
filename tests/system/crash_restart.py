#!/usr/bin/env python3
"""Crash/restart: exactly-once under kill -9, checked by the independent oracle.

gen 200,000 orders (about 1M events, with duplicates, swaps and malformed lines); ingest them;
then 20 times start `streamview run` (no exit flag) at once after the previous kill and kill -9
it at a moment chosen by progress: when the store's committed position reaches a random target
past the previous run's (every fourth run at its first commit, the others after a random share
of the remaining work), never after a fixed time; then a final `run --exit-when-caught-up`. The
views must equal the oracle's and sv_dead_letters must hold exactly the malformed lines, by
position. Each killed run must have committed past its predecessor, so the test cannot pass by
leaving all the work to the final run. On PostgreSQL a run started right after a kill may find
the killed engine's session still holding the engine lock: it must wait for it (bounded,
logging "waiting for the previous engine's session to end") and come up.

With --store-kind postgres the same runs go to a fresh PostgreSQL database; with
--pg-restarts N (PostgreSQL only) one long `run` keeps going while the server itself is
restarted N times mid-stream (`pg_ctl restart` through scripts/pg.sh, each once the run has
committed past a random target), then stopped for a few seconds, during which /health/ready must say 503 (and 200 again once it is back): the engine
must ride through (reconnect with backoff, resume from the stored position) and end equal to
the oracle.

    python3 tests/system/crash_restart.py --binary build/src/cli/streamview --source-dir . \
        [--store-kind sqlite|postgres] [--pg-restarts 3]
"""

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

from harness import (WaitTimeout, committed_position, free_port, kill_targets,
                     run_and_kill_at_position, run_checked, tail, wait_ready, wait_until)
from stores import Store

TIMEOUT_S = 1800
WAITING_LINE = "waiting for the previous engine's session to end"


def run(cmd):
    return run_checked(cmd, timeout=TIMEOUT_S)


def ready_or_none(port, status, proc):
    try:
        return wait_ready(port, status, proc=proc)
    except WaitTimeout as e:
        print("  %s" % e)
        return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--binary", required=True)
    ap.add_argument("--source-dir", required=True)
    ap.add_argument("--orders", type=int, default=200000)
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--keep", action="store_true", help="keep the temp dir")
    ap.add_argument("--store-kind", default="sqlite", choices=["sqlite", "postgres"])
    ap.add_argument("--pg-restarts", type=int, default=0,
                    help="restart PostgreSQL this many times under one run instead of kills")
    args = ap.parse_args()

    binary = os.path.abspath(args.binary)
    config = os.path.join(os.path.abspath(args.source_dir), "examples", "orders",
                          "streamview.yaml")
    oracle = os.path.join(os.path.abspath(args.source_dir), "tests", "oracle",
                          "orders_oracle.py")
    tmp = tempfile.mkdtemp(prefix="sv-crash-restart-")
    events = os.path.join(tmp, "events.ndjson")
    store = Store.create(args.store_kind, tmp, "crash")
    pg_sh = os.path.join(os.path.abspath(args.source_dir), "scripts", "pg.sh")
    log = os.path.join(tmp, "run.log")
    rnd = random.Random(args.seed)
    t0 = time.monotonic()

    _, t = run([binary, "gen", "orders", "--orders", str(args.orders), "--seed", str(args.seed),
                "--dup-rate", "0.03", "--reorder-rate", "0.03", "--malformed-rate", "0.001",
                "--out", events])
    print("gen: %d orders in %.1fs (%s)" % (args.orders, t, tmp))
    r, t = run([binary, "ingest", "--config", config, "--store", store.arg, events])
    last = json.loads(r.stdout.strip().splitlines()[-1])["last_position"]
    print("ingest: %s in %.1fs" % (r.stdout.strip(), t))

    positions = [committed_position(store)]
    problems = []
    mid_stream = 0
    kill_phase = time.monotonic()
    if args.pg_restarts > 0:
        if store.kind != "postgres" or not os.environ.get("SV_PG_DIR"):
            print("FAILED: --pg-restarts needs --store-kind postgres and SV_PG_DIR (pg.sh)")
            return 1
        args.kills = 0
        port = free_port()
        with open(log, "ab") as out:
            proc = subprocess.Popen([binary, "run", "--config", config, "--store", store.arg,
                                     "--listen", "127.0.0.1:%d" % port],
                                    stdout=out, stderr=subprocess.STDOUT)
            for i in range(args.pg_restarts):
                start = committed_position(store)
                target = kill_targets(rnd, start, last, args.pg_restarts, i)
                try:
                    before = wait_until(
                        lambda: (lambda p: p if p >= target else None)(committed_position(store)),
                        "pg restart %d: a commit at or past position %d" % (i + 1, target),
                        proc=proc, log=log)
                except WaitTimeout as e:
                    print("FAILED: %s" % e)
                    return 1
                r = subprocess.run(["bash", pg_sh, "restart"], capture_output=True, text=True)
                if r.returncode != 0:
                    problems.append("pg restart %d failed: %s" % (i + 1, r.stderr.strip()))
                    break
                after = committed_position(store)
                mid_stream += 0 < before < last
                positions.append(after)
                print("pg restart %d: position %d before, %d after" % (i + 1, before, after))
                if proc.poll() is not None:
                    print("FAILED: run exited with %d after pg restart %d:\n%s"
                          % (proc.returncode, i + 1, tail(log)))
                    return 1
            # A longer outage: readiness must report it, and recover.
            if proc.poll() is None and not problems:
                ready_or_none(port, 200, proc)
                subprocess.run(["bash", pg_sh, "pause"], check=True)
                down = ready_or_none(port, 503, proc)
                time.sleep(2)  # the outage's length, not a synchronization
                subprocess.run(["bash", pg_sh, "resume"], check=True)
                up = ready_or_none(port, 200, proc)
                print("server stopped: /health/ready %s; back: %s" % (down, up))
                if down is None or "store" not in down:
                    problems.append("/health/ready did not report the store outage: %r" % down)
                if up is None:
                    problems.append("/health/ready did not recover after the store came back")
            # The same run must catch up on its own after the restarts.
            try:
                wait_until(lambda: committed_position(store) >= last,
                           "the run to catch up to position %d after the restarts" % last,
                           timeout=600, interval=0.5, proc=proc, log=log)
            except WaitTimeout as e:
                print("FAILED: %s" % e)
                return 1
            caught_up = committed_position(store)
            print("after the restarts the run reached position %d of %d" % (caught_up, last))
            if caught_up < last:
                problems.append("the run did not catch up after the restarts (%d of %d)"
                                % (caught_up, last))
            proc.terminate()
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    for i in range(args.kills):
        before = positions[-1]
        target = kill_targets(rnd, before, last, args.kills, i)
        started = time.monotonic()
        try:
            seen = run_and_kill_at_position([binary, "run", "--config", config, "--store",
                                             store.arg, "--listen", "127.0.0.1:0"],
                                            store, target, "run %d" % (i + 1), log)
        except WaitTimeout as e:
            print("FAILED: %s" % e)
            return 1
        after = committed_position(store)
        positions.append(after)
        mid_stream += 0 < seen < last
        print("kill %2d at position %d (target %d, %.1fs): %d -> %d (+%d)"
              % (i + 1, seen, target, time.monotonic() - started, before, after, after - before))
        if after < before:
            problems.append("kill %d: position went back from %d to %d" % (i + 1, before, after))
    kill_phase = time.monotonic() - kill_phase
    if args.kills and store.kind == "postgres":
        with open(log, errors="replace") as f:
            print("restarts that waited for the killed engine's session: %d"
                  % f.read().count(WAITING_LINE))
    if positions[-1] == positions[0]:
        problems.append("no run committed anything before it was killed")
    if mid_stream == 0:
        problems.append("no kill landed while the engine was behind the log")

    _, t = run([binary, "run", "--config", config, "--store", store.arg, "--listen",
                "127.0.0.1:0", "--exit-when-caught-up"])
    final_position = committed_position(store)
    print("final run --exit-when-caught-up: %.1fs, position %d of %d"
          % (t, final_position, last))

    problems += store.integrity_problems()

    started = time.monotonic()
    r = subprocess.run([sys.executable, oracle, "--events", events] + store.oracle_args(),
                       capture_output=True, text=True, timeout=TIMEOUT_S)
    print((r.stdout + r.stderr).strip())
    print("timings: kill phase %.1fs, oracle %.1fs, total %.1fs"
          % (kill_phase, time.monotonic() - started, time.monotonic() - t0))
    if r.returncode != 0:
        problems.append("the oracle found differences")
    if problems:
        print("FAILED (files kept in %s):\n  %s" % (tmp, "\n  ".join(problems)))
        return 1
    if not args.keep:
        shutil.rmtree(tmp, ignore_errors=True)
        store.drop()
    print("PASSED")
    return 0


if __name__ == "__main__":
    sys.exit(main())
