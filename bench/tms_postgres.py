#!/usr/bin/env python3
"""Seed 000's TMS on the change feed (examples/tms-postgres): catch-up from ~1M source rows.

Fills the example's source schema in bulk (generate_series: shipments in every status, 1-3
consignments each, an exception on every fifth), starts `streamview run` on the example's
config for the first time (the change feed's snapshot, the 6 base views and 26 derived views
built from it) and times it to caught up; then runs the example's workload writer against the
stopped engine's source and times a second start catching up with those transactions.

    eval "$(bash scripts/pg.sh start)"
    python3 bench/tms_postgres.py [--shipments 312500] [--store sqlite|postgres]
        [--workload-shipments 20000]

Prints one JSON line.
"""

import argparse
import json
import os
import resource
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pg_changes import fresh_database, psql  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLE = os.path.join(ROOT, "examples", "tms-postgres")

FILL = """
INSERT INTO organizations SELECT 'org-' || lpad(o::text, 2, '0'), 'Organization ' || o
  FROM generate_series(1, {orgs}) o;
INSERT INTO customers SELECT o * 1000 + j, 'org-' || lpad(o::text, 2, '0'),
    'C' || (o * 1000 + j), 'Customer ' || (o * 1000 + j), true
  FROM generate_series(1, {orgs}) o, generate_series(0, 19) j;
INSERT INTO carriers VALUES ('DHLPX', 'DHL Parcel', true), ('POSTNL', 'PostNL', true),
  ('UPS', 'UPS Standard', true), ('DPD', 'DPD Classic', true), ('GLS', 'GLS Europe', true),
  ('FEDEX', 'FedEx Economy', true), ('TNT', 'TNT Express', true), ('BPOST', 'bpost', true);
-- Status by g % 10: Created ×2, Ordered, Confirmed, PickedUp, InTransit, Delivered ×3,
-- Cancelled; delivered 1-5 days after creation against a 3-day due time.
INSERT INTO shipments
SELECT g, org, (g % {orgs} + 1) * 1000 + (g / {orgs}) % 20,
  (ARRAY['DHLPX','POSTNL','UPS','DPD','GLS','FEDEX','TNT','BPOST'])[g % 8 + 1],
  (ARRAY['DFY-B2C','DFY-B2B','EXPRESS','ECONOMY'])[g % 4 + 1],
  'SHP-2026-' || lpad(g::text, 7, '0'), st, created + interval '1 hour' * (g % 10),
  'NL', 'Amsterdam', 'DE', (ARRAY['Berlin','Hamburg'])[g % 2 + 1], g % 7 = 0, created,
  CASE WHEN g % 10 >= 2 THEN created + interval '1 hour' END,
  CASE WHEN g % 10 >= 3 THEN created + interval '2 hours' END,
  created + interval '1 day', created + interval '3 days',
  CASE WHEN g % 10 BETWEEN 4 AND 8 THEN created + interval '1 day' END,
  CASE WHEN g % 10 BETWEEN 6 AND 8 THEN created + interval '1 day' * (1 + g % 5) END,
  CASE WHEN g % 10 = 9 THEN created + interval '3 hours' END,
  (g % 500) + 10.5, 'EUR', (g % 300) + 0.5, created + interval '1 hour' * (g % 10)
FROM (SELECT g, 'org-' || lpad((g % {orgs} + 1)::text, 2, '0') AS org,
             timestamptz '2026-01-05 00:00:00+00' + interval '37 seconds' * g AS created,
             (ARRAY['Created','Created','Ordered','Confirmed','PickedUp','InTransit',
                    'Delivered','Delivered','Delivered','Cancelled'])[g % 10 + 1] AS st
      FROM generate_series(1, {shipments}) g) s;
INSERT INTO consignments
SELECT s.id * 4 + k, s.id, s.org_id, 'CON-' || (s.id * 4 + k), s.status,
  'TRK' || (s.id * 4 + k), 1 + (s.id + k) % 4,
  (ARRAY['Parcel','Parcel','Parcel','Pallet','Crate'])[(s.id + k) % 5 + 1],
  s.weight_kg / (1 + s.id % 3), s.created_at, s.updated_at
FROM shipments s, generate_series(1, 3) k WHERE k <= 1 + s.id % 3;
INSERT INTO shipment_exceptions
SELECT id, id, org_id,
  (ARRAY['AddressIssue','DeliveryFailed','Damaged','Delayed','Customs'])[(id / 5) % 5 + 1],
  created_at + interval '20 hours',
  CASE WHEN id % 10 = 0 THEN created_at + interval '30 hours' END
FROM shipments WHERE id % 5 = 0;
ANALYZE;
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shipments", type=int, default=312_500)  # ≈ 1M source rows
    ap.add_argument("--orgs", type=int, default=20)
    ap.add_argument("--workload-shipments", type=int, default=20_000)
    ap.add_argument("--store", choices=["sqlite", "postgres"], default="sqlite")
    ap.add_argument("--keep", action="store_true", help="keep the engine's logs and store")
    ap.add_argument("--binary", default=os.path.join(ROOT, "build/src/cli/streamview"))
    args = ap.parse_args()
    binary = os.path.abspath(args.binary)
    admin, db, dsn = fresh_database("sv_bench_tms")
    store_db = None
    tmp = tempfile.mkdtemp(prefix="sv-bench-tms-")
    slot = "sv_bench_tms_%d" % os.getpid()
    with open(os.path.join(EXAMPLE, "streamview.yaml")) as f:
        text = f.read().replace("slot: sv_tms", "slot: " + slot)
    config = os.path.join(tmp, "streamview.yaml")
    with open(config, "w") as f:
        f.write(text.replace("publication: sv_tms", "publication: " + slot))
    if args.store == "postgres":
        _, store_db, store = fresh_database("sv_bench_tms_store")
    else:
        store = os.path.join(tmp, "tms.db")
    env = dict(os.environ, TMS_SOURCE_DSN=dsn)

    def run_engine(log_name):
        t0 = time.monotonic()
        with open(os.path.join(tmp, log_name), "w") as out:
            r = subprocess.run([binary, "run", "--config", config, "--store", store,
                                "--listen", "127.0.0.1:%d" % free_port(),
                                "--exit-when-caught-up"], stdout=out, stderr=subprocess.STDOUT,
                               env=env)
        if r.returncode != 0:
            raise SystemExit("the engine failed: see %s" % os.path.join(tmp, log_name))
        return time.monotonic() - t0

    def view_count(view):
        if args.store == "postgres":
            return int(psql(store, "SELECT count(*) FROM %s" % view))
        return sqlite3.connect(store).execute("SELECT count(*) FROM %s" % view).fetchone()[0]

    try:
        psql(dsn, open(os.path.join(EXAMPLE, "schema.sql")).read())
        t0 = time.monotonic()
        psql(dsn, FILL.format(orgs=args.orgs, shipments=args.shipments))
        fill_s = time.monotonic() - t0
        counts = {t: int(psql(dsn, "SELECT count(*) FROM %s" % t))
                  for t in ("organizations", "customers", "carriers", "shipments",
                            "consignments", "shipment_exceptions")}
        source_rows = sum(counts.values())
        first_s = run_engine("first.log")
        first_rss = peak_rss_mib()
        if view_count("shipment_list") != counts["shipments"]:
            raise SystemExit("shipment_list holds %d rows, the source %d shipments"
                             % (view_count("shipment_list"), counts["shipments"]))
        before = int(psql(dsn, "SELECT pg_current_wal_lsn() - '0/0'"))
        t0 = time.monotonic()
        w = subprocess.run([sys.executable, os.path.join(EXAMPLE, "workload.py"), "--dsn", dsn,
                            "--shipments", str(args.workload_shipments),
                            "--orgs", str(args.orgs), "--synchronous-commit", "off"],
                           capture_output=True, text=True)
        if w.returncode != 0:
            raise SystemExit("workload: %s" % w.stderr[-800:])
        workload_s = time.monotonic() - t0
        wal_bytes = int(psql(dsn, "SELECT pg_current_wal_lsn() - '0/0'")) - before
        transactions = None
        for word in w.stdout.split(","):
            if "transactions" in word and "/s" not in word:
                transactions = int(word.split()[0])
        second_s = run_engine("second.log")
        print(json.dumps({
            "store": args.store, "source_rows": source_rows, "source_tables": counts,
            "fill_s": round(fill_s, 1),
            "first_start_s": round(first_s, 1),
            "first_start_source_rows_per_s": round(source_rows / first_s),
            "workload_transactions": transactions, "workload_s": round(workload_s, 1),
            "workload_wal_mib": round(wal_bytes / 2**20, 1),
            "second_start_s": round(second_s, 1),
            "second_start_transactions_per_s":
                round(transactions / second_s) if transactions else None,
            "engine_peak_rss_mib": round(max(first_rss, peak_rss_mib())),
            "shipment_list_rows": view_count("shipment_list")}))
    finally:
        subprocess.run(["psql", dsn, "-X", "-q", "-c",
                        "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                        "WHERE slot_name = '%s' AND NOT active" % slot], capture_output=True)
        psql(admin, "DROP DATABASE IF EXISTS %s WITH (FORCE)" % db)
        if store_db:
            psql(admin, "DROP DATABASE IF EXISTS %s WITH (FORCE)" % store_db)
        if args.keep:
            print("kept: %s" % tmp, file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
