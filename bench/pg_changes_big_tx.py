#!/usr/bin/env python3
"""Change feed, one huge source transaction: N rows inserted in a single transaction after the
engine's first start, then applied by one run. The server streams it while it runs (protocol
v2), the source spools it past `spool_memory_rows` in a temporary file, and the engine writes it
in pages into one open store transaction. Measures the run's wall time and peak RSS for each N
given, so that memory can be compared across transaction sizes (bounded: it must not grow with
N), and checks the view equals the table.

    eval "$(bash scripts/pg.sh start)"
    python3 bench/pg_changes_big_tx.py [--rows 100000,1000000]

Prints one JSON line per size.
"""

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pg_changes import CONFIG, fresh_database, psql  # noqa: E402


def run_engine(binary, config, log):
    """(exit code, seconds, peak RSS in MiB) of one run to the end."""
    t0 = time.monotonic()
    with open(log, "a") as out:
        proc = subprocess.Popen([binary, "run", "--config", config, "--exit-when-caught-up"],
                                stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
    return os.waitstatus_to_exitcode(status), time.monotonic() - t0, usage.ru_maxrss / 1024


def measure(binary, rows):
    admin, db, dsn = fresh_database("sv_bench_big_tx")
    tmp = tempfile.mkdtemp(prefix="sv-bench-big-tx-")
    config = os.path.join(tmp, "bench.yaml")
    store = os.path.join(tmp, "bench.db")
    log = os.path.join(tmp, "engine.log")
    with open(config, "w") as f:
        f.write(CONFIG.format(store=store, dsn=dsn))
    try:
        psql(dsn, "CREATE TABLE orders (id integer PRIMARY KEY, customer text, status text, "
                  "amount numeric(12, 2)); INSERT INTO orders VALUES (0, 'c', 'new', 1)")
        code, _, _ = run_engine(binary, config, log)
        if code != 0:
            raise SystemExit("the first run failed: see %s" % log)
        psql(dsn, "INSERT INTO orders SELECT g, 'c' || (g %% 1000), 'new', g %% 997 + 0.25 "
                  "FROM generate_series(1, %d) g" % rows)
        code, seconds, peak_mib = run_engine(binary, config, log)
        if code != 0:
            raise SystemExit("the run failed: see %s" % log)
        want = psql(dsn, "SELECT count(*), sum(amount) FROM orders")
        got = sqlite3.connect(store).execute(
            "SELECT count(*), printf('%.2f', sum(amount)) FROM order_list").fetchone()
        if want != "%d|%s" % got:
            raise SystemExit("the view differs from the table: %r vs %r" % (got, want))
        stats = psql(dsn, "SELECT stream_txns, spill_txns FROM pg_stat_replication_slots")
        return {"transaction_rows": rows, "run_s": round(seconds, 1),
                "rows_per_s": round(rows / seconds), "engine_peak_rss_mib": round(peak_mib),
                "server_streamed_spilled": stats}
    finally:
        subprocess.run(["psql", dsn, "-X", "-q", "-c",
                        "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                        "WHERE NOT active"], capture_output=True)
        psql(admin, "DROP DATABASE IF EXISTS %s WITH (FORCE)" % db)
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", default="100000,1000000")
    ap.add_argument("--binary", default="build/src/cli/streamview")
    args = ap.parse_args()
    for rows in (int(r) for r in args.rows.split(",")):
        print(json.dumps(measure(os.path.abspath(args.binary), rows)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
