#!/usr/bin/env python3
"""Change-feed commit-to-view latency at a steady transaction rate: pgbench commits single-row
transactions (an upsert of a random order) at a fixed rate while the engine runs; the engine's
latency report gives, for every change applied, the time from its source commit (the commit
timestamp the stream carries) to the engine's commit of the view rows.

    eval "$(bash scripts/pg.sh start)"
    python3 bench/pg_changes_steady.py [--tps 5000] [--seconds 30]

Prints one JSON line: the rate pgbench reached, the changes applied, and the latency
percentiles in milliseconds. The view is checked against the table before it prints.
"""

import argparse
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pg_changes import CONFIG, fresh_database, psql  # noqa: E402

UPSERT = """\\set id random(1, 200000)
INSERT INTO orders VALUES (:id, 'c', 'new', 1.25)
  ON CONFLICT (id) DO UPDATE SET status = 'paid', amount = orders.amount + 1;
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tps", type=int, default=5000)
    ap.add_argument("--seconds", type=int, default=30)
    ap.add_argument("--binary", default="build/src/cli/streamview")
    args = ap.parse_args()
    admin, db, dsn = fresh_database("sv_bench_steady")
    tmp = tempfile.mkdtemp(prefix="sv-bench-steady-")
    config = os.path.join(tmp, "bench.yaml")
    store = os.path.join(tmp, "bench.db")
    report = os.path.join(tmp, "latency.json")
    script = os.path.join(tmp, "upsert.sql")
    with open(config, "w") as f:
        f.write(CONFIG.format(store=store, dsn=dsn))
    with open(script, "w") as f:
        f.write(UPSERT)
    binary = os.path.abspath(args.binary)
    engine = None
    try:
        psql(dsn, "CREATE TABLE orders (id integer PRIMARY KEY, customer text, status text, "
                  "amount numeric(12, 2))")
        subprocess.run([binary, "run", "--config", config, "--exit-when-caught-up"], check=True,
                       capture_output=True)
        log = open(os.path.join(tmp, "engine.log"), "w")
        engine = subprocess.Popen([binary, "run", "--config", config, "--latency-report", report],
                                  stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while psql(dsn, "SELECT count(*) FROM pg_replication_slots WHERE active") != "1":
            if time.monotonic() > deadline or engine.poll() is not None:
                raise SystemExit("the engine did not start streaming")
            time.sleep(0.05)
        bench = subprocess.run(["pgbench", "-n", "-f", script, "-R", str(args.tps), "-T",
                                str(args.seconds), "-c", "8", "-j", "2", dsn],
                               capture_output=True, text=True, check=True)
        tps = float(re.search(r"tps = ([0-9.]+)", bench.stdout).group(1))
        # Everything committed before the marker is applied once the marker is.
        psql(dsn, "INSERT INTO orders VALUES (0, 'marker', 'new', 0)")
        deadline = time.monotonic() + 600
        while True:
            try:
                if sqlite3.connect(store, timeout=30).execute(
                        "SELECT count(*) FROM order_list WHERE id = 0").fetchone()[0] == 1:
                    break
            except sqlite3.OperationalError:
                pass
            if time.monotonic() > deadline or engine.poll() is not None:
                raise SystemExit("the engine did not apply the marker")
            time.sleep(0.05)
        engine.send_signal(signal.SIGTERM)
        engine.wait(timeout=120)
        engine = None
        want = psql(dsn, "SELECT count(*), sum(amount) FROM orders")
        got = sqlite3.connect(store).execute(
            "SELECT count(*), printf('%.2f', sum(amount)) FROM order_list").fetchone()
        if want != "%d|%s" % got:
            raise SystemExit("the view differs from the table: %r vs %r" % (got, want))
        with open(report) as f:
            lat = json.load(f)
        print(json.dumps({
            "target_tps": args.tps, "pgbench_tps": round(tps), "seconds": args.seconds,
            "changes_applied": lat["events"], "p50_ms": round(lat["p50_us"] / 1000, 1),
            "p99_ms": round(lat["p99_us"] / 1000, 1), "p999_ms": round(lat["p999_us"] / 1000, 1),
            "max_ms": round(lat["max_us"] / 1000, 1)}))
    finally:
        if engine is not None:
            engine.kill()
            engine.wait()
        subprocess.run(["psql", dsn, "-X", "-q", "-c",
                        "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                        "WHERE NOT active"], capture_output=True)
        psql(admin, "DROP DATABASE IF EXISTS %s WITH (FORCE)" % db)
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
