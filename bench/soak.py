#!/usr/bin/env python3
"""Soak: mixed writes and reads for N minutes with a kill -9 and restart of the engine every
K minutes; not in CI (BENCHMARKS.md has the figures).

Writes: `gen orders` piped into `streamview ingest --rate W` (the embedded log, alongside the
engine, as the README allows). Reads: reader processes pacing GET /views/orders_view/{id} and
GET /views/orders_view?limit=50 pages at R requests/s in total over keep-alive connections.
Every K minutes the engine (`run --listen`) is killed with SIGKILL and started again at once;
the restart window runs from the kill until /health/ready answers 200 again. Recorded: the
engine's RSS every few seconds, requests answered and failed (connection errors or statuses
other than 200/404) inside and outside restart windows, achieved write and read rates. At the
end the ingest stops, a final `run --exit-when-caught-up` drains the log, and the views must
equal tests/oracle/orders_oracle.py over the log's own lines (dumped from sv_log).

    python3 bench/soak.py --binary build/src/cli/streamview --source-dir . [--minutes 30]
        [--write-rate 20000] [--read-rate 2000] [--kill-every-min 3] [--json out.json]
"""

import argparse
import http.client
import json
import multiprocessing
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "system"))
from harness import WaitTimeout, free_port, wait_ready  # noqa: E402

READERS = 2             # processes
THREADS_PER_READER = 8  # keep-alive connections each
GRACE_S = 1.0           # around a restart window: requests in flight at the kill


def reader(port, rate, orders, stop_at, seed, out_path):
    """One reader process: paced GETs from THREADS_PER_READER threads; writes the failures'
    times and per-second counts to out_path as JSON."""
    import threading
    results = {"ok": 0, "failures": []}
    lock = threading.Lock()
    interval = THREADS_PER_READER / rate

    def worker(n):
        rnd = random.Random(seed * 100 + n)
        conn = None
        next_at = time.monotonic() + rnd.random() * interval
        while True:
            now = time.monotonic()
            if time.time() >= stop_at:
                break
            if next_at > now:
                time.sleep(next_at - now)
            next_at += interval
            if next_at < time.monotonic() - 1:  # behind by more than a second: do not burst
                next_at = time.monotonic()
            if rnd.random() < 0.8:
                path = "/views/orders_view/o-%07d" % rnd.randint(1, orders)
            else:
                path = "/views/orders_view?limit=50"
            ok = False
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                conn.request("GET", path)
                r = conn.getresponse()
                r.read()
                ok = r.status in (200, 404)
                if r.getheader("Connection", "").lower() == "close":
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException):
                if conn is not None:
                    conn.close()
                conn = None
            with lock:
                if ok:
                    results["ok"] += 1
                else:
                    results["failures"].append(time.time())

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(THREADS_PER_READER)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with open(out_path, "w") as f:
        json.dump(results, f)


def rss_kb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--binary", required=True)
    ap.add_argument("--source-dir", required=True)
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--write-rate", type=int, default=20000)
    ap.add_argument("--read-rate", type=int, default=2000)
    ap.add_argument("--kill-every-min", type=float, default=3)
    ap.add_argument("--rss-every-s", type=float, default=5)
    ap.add_argument("--json", help="write the figures here too")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir")
    args = ap.parse_args()

    binary = os.path.abspath(args.binary)
    src = os.path.abspath(args.source_dir)
    oracle = os.path.join(src, "tests", "oracle", "orders_oracle.py")
    tmp = tempfile.mkdtemp(prefix="sv-soak-")
    # The example config with enough HTTP workers for the readers' connections.
    config = os.path.join(tmp, "streamview.yaml")
    with open(os.path.join(src, "examples", "orders", "streamview.yaml")) as f:
        text = f.read()
    text = text.replace("  shutdown_grace_ms: 10000",
                        "  shutdown_grace_ms: 10000\n  threads: %d"
                        % (READERS * THREADS_PER_READER + 4))
    with open(config, "w") as f:
        f.write(text)
    store = os.path.join(tmp, "soak.db")
    run_log = os.path.join(tmp, "run.log")
    port = free_port()
    duration = args.minutes * 60
    orders = max(1000, int(args.write_rate * duration / 5))  # about 5 events per order
    print("soak: %.1f min, writes %d/s, reads %d/s, kill -9 every %.1f min (%s)"
          % (args.minutes, args.write_rate, args.read_rate, args.kill_every_min, tmp))

    subprocess.run([binary, "ingest", "--config", config, "--store", store, os.devnull],
                   check=True, capture_output=True)  # creates the store
    log_out = open(run_log, "ab")

    def start_engine():
        return subprocess.Popen([binary, "run", "--config", config, "--store", store,
                                 "--listen", "127.0.0.1:%d" % port],
                                stdout=log_out, stderr=subprocess.STDOUT)

    engine = start_engine()
    wait_ready(port, 200, proc=engine)
    t0 = time.time()
    stop_at = t0 + duration
    gen = subprocess.Popen([binary, "gen", "orders", "--orders", str(orders), "--seed", "17",
                            "--dup-rate", "0.01", "--reorder-rate", "0.01", "--malformed-rate",
                            "0.0005", "--out", "-", "--quiet"], stdout=subprocess.PIPE)
    ingest = subprocess.Popen([binary, "ingest", "--config", config, "--store", store,
                               "--rate", str(args.write_rate), "--batch",
                               str(max(100, args.write_rate // 10)), "-"],
                              stdin=gen.stdout, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    gen.stdout.close()
    readers = []
    for n in range(READERS):
        out = os.path.join(tmp, "reader%d.json" % n)
        p = multiprocessing.Process(target=reader, args=(port, args.read_rate / READERS, orders,
                                                         stop_at, n + 1, out))
        p.start()
        readers.append((p, out))

    rss = []          # (seconds since start, engine incarnation, KiB)
    windows = []      # (kill time, ready-again time)
    incarnation = 0
    next_kill = t0 + args.kill_every_min * 60
    next_rss = t0
    problems = []
    while time.time() < stop_at:
        now = time.time()
        if now >= next_rss:
            kb = rss_kb(engine.pid)
            if kb is not None:
                rss.append((round(now - t0, 1), incarnation, kb))
            next_rss += args.rss_every_s
        if engine.poll() is not None:
            problems.append("the engine exited by itself (%d) at %.0f s"
                            % (engine.returncode, now - t0))
            break
        if now >= next_kill and now < stop_at - 30:
            engine.kill()
            engine.wait()
            killed = time.time()
            engine = start_engine()
            incarnation += 1
            try:
                wait_ready(port, 200, proc=engine)
            except WaitTimeout as e:
                problems.append("restart %d: %s" % (incarnation, e))
                break
            windows.append((killed, time.time()))
            print("  kill %d at %.0f s: ready again after %.2f s"
                  % (incarnation, killed - t0, windows[-1][1] - killed))
            next_kill += args.kill_every_min * 60
        time.sleep(0.2)

    ingest.send_signal(signal.SIGTERM)
    ingest.wait()
    gen.kill()
    gen.wait()
    for p, _ in readers:
        p.join(timeout=120)
    elapsed = time.time() - t0
    db = sqlite3.connect(store, timeout=60)
    appended = db.execute("SELECT COALESCE(MAX(position), 0) FROM sv_log").fetchone()[0]
    applied_at_end = db.execute("SELECT COALESCE(MAX(position), 0) FROM sv_positions") \
        .fetchone()[0]
    db.close()
    engine.terminate()
    try:
        engine.wait(timeout=120)
    except subprocess.TimeoutExpired:
        engine.kill()
        engine.wait()

    ok = 0
    failed_in, failed_out = 0, 0
    for _, out in readers:
        with open(out) as f:
            res = json.load(f)
        ok += res["ok"]
        for t in res["failures"]:
            inside = any(k - GRACE_S <= t <= r + GRACE_S for k, r in windows)
            failed_in += inside
            failed_out += not inside
    # Drain the log and compare with the oracle over the log's own lines.
    started = time.time()
    r = subprocess.run([binary, "run", "--config", config, "--store", store,
                        "--exit-when-caught-up"], capture_output=True, text=True)
    drain = time.time() - started
    if r.returncode != 0:
        problems.append("final run failed: %s" % r.stderr[-2000:])
    events = os.path.join(tmp, "log.ndjson")
    db = sqlite3.connect(store)
    with open(events, "w") as f:
        for (raw,) in db.execute("SELECT raw FROM sv_log ORDER BY position"):
            f.write(raw + "\n")
    db.close()
    o = subprocess.run([sys.executable, oracle, "--events", events, "--db", store],
                       capture_output=True, text=True)
    if o.returncode != 0:
        problems.append("the oracle found differences: %s" % (o.stdout + o.stderr)[-2000:])
    if failed_out:
        problems.append("%d failed reads outside restart windows" % failed_out)

    by_life = {}
    for _, life, kb in rss:
        by_life.setdefault(life, []).append(kb)
    figures = {
        "minutes": round(elapsed / 60, 2),
        "write_rate_target": args.write_rate,
        "events_appended": appended,
        "write_rate_achieved": round(appended / elapsed),
        "applied_at_end_of_soak": applied_at_end,
        "final_drain_s": round(drain, 1),
        "read_rate_target": args.read_rate,
        "reads_ok": ok,
        "read_rate_achieved": round(ok / elapsed),
        "reads_failed_in_restart_windows": failed_in,
        "reads_failed_outside_restart_windows": failed_out,
        "kills": len(windows),
        "restart_to_ready_s": [round(r - k, 2) for k, r in windows],
        "rss_mib_per_engine_life": [
            {"life": life, "first": round(v[0] / 1024, 1), "max": round(max(v) / 1024, 1),
             "last": round(v[-1] / 1024, 1)} for life, v in sorted(by_life.items())],
        "oracle": (o.stdout.strip().splitlines() or [""])[-1],
        "problems": problems,
    }
    print(json.dumps(figures, indent=1))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"figures": figures, "rss_samples": rss}, f, indent=1)
    log_out.close()
    if problems:
        print("FAILED (files kept in %s):\n  %s" % (tmp, "\n  ".join(problems)))
        return 1
    if not args.keep:
        shutil.rmtree(tmp, ignore_errors=True)
    print("PASSED")
    return 0


if __name__ == "__main__":
    sys.exit(main())
