#!/usr/bin/env python3
"""Change-feed initial snapshot: N rows exist in the table when the engine first starts; it
reads them in the new slot's exported snapshot while a writer keeps inserting and updating
rows. Measures the first start (snapshot read and committed, then caught up with the writes
made meanwhile), the engine's peak RSS, and checks the view equals the table afterwards.

    eval "$(bash scripts/pg.sh start)"
    python3 bench/pg_changes_snapshot.py [--rows 1000000]

Prints one JSON line.
"""

import argparse
import json
import os
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pg_changes import CONFIG, fresh_database, psql  # noqa: E402

WRITER = """\\set id random(1, {rows})
UPDATE orders SET status = 'paid', amount = amount + 1 WHERE id = :id;
INSERT INTO orders SELECT greatest(max(id), {rows}) + 1, 'late', 'new', 1.25 FROM orders
  WHERE id > {rows} ON CONFLICT DO NOTHING;
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--binary", default="build/src/cli/streamview")
    args = ap.parse_args()
    admin, db, dsn = fresh_database("sv_bench_snapshot")
    tmp = tempfile.mkdtemp(prefix="sv-bench-snapshot-")
    config = os.path.join(tmp, "bench.yaml")
    store = os.path.join(tmp, "bench.db")
    script = os.path.join(tmp, "writer.sql")
    with open(config, "w") as f:
        f.write(CONFIG.format(store=store, dsn=dsn))
    with open(script, "w") as f:
        f.write(WRITER.format(rows=args.rows))
    binary = os.path.abspath(args.binary)
    writer = None
    try:
        psql(dsn, "CREATE TABLE orders (id integer PRIMARY KEY, customer text, status text, "
                  "amount numeric(12, 2)); "
                  "INSERT INTO orders SELECT g, 'c' || (g %% 1000), 'new', g %% 997 + 0.25 "
                  "FROM generate_series(1, %d) g; ANALYZE orders" % args.rows)
        # One connection writing all along (single-row transactions, as fast as it goes).
        writer = subprocess.Popen(["pgbench", "-n", "-f", script, "-c", "1", "-T", "3600", dsn],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1)  # the writer is connected and writing before the slot is made
        log = os.path.join(tmp, "engine.log")
        t0 = time.monotonic()
        with open(log, "w") as out:
            r = subprocess.run([binary, "run", "--config", config, "--exit-when-caught-up"],
                               stdout=out, stderr=subprocess.STDOUT)
        first_start = time.monotonic() - t0
        peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        if r.returncode != 0:
            raise SystemExit("the engine failed: see %s" % log)
        writer.terminate()
        writer.wait()
        writer = None
        subprocess.run([binary, "run", "--config", config, "--exit-when-caught-up"],
                       check=True, capture_output=True)
        read = None
        with open(log) as f:
            for line in f:
                if "change feed snapshot read" in line:
                    read = json.loads(line)
        want = psql(dsn, "SELECT count(*), sum(amount) FROM orders")
        got = sqlite3.connect(store).execute(
            "SELECT count(*), printf('%.2f', sum(amount)) FROM order_list").fetchone()
        if want != "%d|%s" % got:
            raise SystemExit("the view differs from the table: %r vs %r" % (got, want))
        print(json.dumps({
            "rows": args.rows, "snapshot_read_rows_per_s": int(read["rows_per_second"]),
            "first_start_s": round(first_start, 1),
            "rows_per_s_first_start": round(args.rows / first_start),
            "engine_peak_rss_mib": round(peak_mib), "view_rows_after": got[0]}))
    finally:
        if writer is not None:
            writer.kill()
            writer.wait()
        subprocess.run(["psql", dsn, "-X", "-q", "-c",
                        "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                        "WHERE NOT active"], capture_output=True)
        psql(admin, "DROP DATABASE IF EXISTS %s WITH (FORCE)" % db)
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
