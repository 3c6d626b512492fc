#!/usr/bin/env python3
"""Change-feed catch-up: N row changes committed in PostgreSQL while the engine is stopped, then
applied into SQLite views; beside it, pg_recvlogical draining a second pgoutput slot over the
same changes to /dev/null (the bare decode-and-send floor of the server), in the same run.

    eval "$(bash scripts/pg.sh start)"
    python3 bench/pg_changes.py [--changes 1000000] [--binary build/src/cli/streamview]

The workload: inserts of N/2 rows in transactions of 10,000, then N/2 updates of them (two
columns each), in transactions of 10,000. Prints one JSON line with both rates and their ratio.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

CONFIG = """
store:
  kind: sqlite
  path: {store}
engine:
  batch_events: 50000
sources:
  shop:
    kind: postgres_changes
    dsn: "{dsn}"
    tables: [orders]
views:
  order_list:
    source: shop
    key: [id]
    columns:
      id: integer
      customer: text
      status: text
      amount: numeric
      updates: {{type: integer, default: 0}}
    on:
      "*":
        set:
          id: e.id
          customer: e.customer
          status: e.status
          amount: e.amount
      orders.insert:
        set:
          updates: 0
      orders.update:
        set:
          updates: "updates + 1"
      orders.delete:
        delete: true
"""


def psql(dsn, sql):
    r = subprocess.run(["psql", dsn, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit("psql: %s: %s" % (sql[:200], r.stderr.strip()))
    return r.stdout.strip()


def fresh_database(name):
    """(admin DSN, name, DSN) of an empty database `name` in SV_TEST_PG_DSN's cluster."""
    admin = os.environ.get("SV_TEST_PG_DSN")
    if not admin:
        raise SystemExit("needs SV_TEST_PG_DSN (eval \"$(bash scripts/pg.sh start)\")")
    psql(admin, "DROP DATABASE IF EXISTS %s WITH (FORCE)" % name)
    psql(admin, "CREATE DATABASE %s" % name)
    return admin, name, re.sub(r"dbname=\S+", "dbname=" + name, admin)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--changes", type=int, default=1_000_000)
    ap.add_argument("--binary", default="build/src/cli/streamview")
    args = ap.parse_args()
    admin, db, dsn = fresh_database("sv_bench_changes")
    tmp = tempfile.mkdtemp(prefix="sv-bench-changes-")
    config = os.path.join(tmp, "bench.yaml")
    store = os.path.join(tmp, "bench.db")
    with open(config, "w") as f:
        f.write(CONFIG.format(store=store, dsn=dsn))
    binary = os.path.abspath(args.binary)
    try:
        psql(dsn, "CREATE TABLE orders (id integer PRIMARY KEY, customer text, status text, "
                  "amount numeric(12, 2))")
        # The engine's first start: publication, slot, (empty) snapshot.
        subprocess.run([binary, "run", "--config", config, "--exit-when-caught-up"], check=True,
                       capture_output=True)
        psql(dsn, "SELECT pg_create_logical_replication_slot('bare', 'pgoutput')")
        half = args.changes // 2
        step = 10_000
        t0 = time.monotonic()
        for lo in range(0, half, step):
            psql(dsn, "INSERT INTO orders SELECT g, 'c' || (g %% 1000), 'new', g %% 997 + 0.25 "
                      "FROM generate_series(%d, %d) g" % (lo + 1, min(lo + step, half)))
        for lo in range(0, half, step):
            psql(dsn, "UPDATE orders SET status = 'paid', amount = amount + 1 "
                      "WHERE id BETWEEN %d AND %d" % (lo + 1, min(lo + step, half)))
        written = time.monotonic() - t0
        end = psql(dsn, "SELECT pg_current_wal_lsn()")

        t0 = time.monotonic()
        subprocess.run(["pg_recvlogical", "-d", dsn, "--slot", "bare", "--start", "--endpos",
                        end, "-o", "proto_version=1", "-o", "publication_names=sv_shop",
                        "--no-loop", "-f", "/dev/null"], check=True)
        bare = time.monotonic() - t0

        t0 = time.monotonic()
        r = subprocess.run([binary, "run", "--config", config, "--exit-when-caught-up"],
                           capture_output=True, text=True)
        engine = time.monotonic() - t0
        if r.returncode != 0:
            raise SystemExit("the engine failed: %s" % r.stderr[-2000:])
        import sqlite3
        rows, updates = sqlite3.connect(store).execute(
            "SELECT count(*), sum(updates) FROM order_list").fetchone()
        if rows != half or updates != half:
            raise SystemExit("views wrong after catch-up: %d rows, %d updates (want %d, %d)"
                             % (rows, updates, half, half))
        print(json.dumps({
            "changes": 2 * half, "write_s": round(written, 1),
            "pg_recvlogical_s": round(bare, 2),
            "pg_recvlogical_changes_per_s": round(2 * half / bare),
            "engine_s": round(engine, 2), "engine_changes_per_s": round(2 * half / engine),
            "ratio_to_pg_recvlogical": round(bare / engine, 2)}))
    finally:
        subprocess.run(["psql", dsn, "-X", "-q", "-c",
                        "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots"],
                       capture_output=True)
        psql(admin, "DROP DATABASE IF EXISTS %s WITH (FORCE)" % db)
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
