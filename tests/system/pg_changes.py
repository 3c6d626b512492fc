#!/usr/bin/env python3
"""A PostgreSQL change feed (source kind postgres_changes) keeps views equal to the source
tables through a concurrent random workload and engine crashes.

1. The source database (a fresh database in the cluster of SV_TEST_PG_DSN, separate from the
   store) holds `shipments` with rows already in it: the engine's first start reads them in
   the slot's exported snapshot.
2. The first start crashes in the middle of its snapshot (an injected fault once half the
   table is read, the slot made): nothing is committed, and the next start snapshots anew.
   Writers on several connections run random transactions (inserts, updates, deletes, some
   rolled back, some failing on deadlocks), a share of them started with each engine run, so
   every run has writes going on (whatever the machine's speed); the engine is SIGKILLed each
   time the store's committed position has moved past the previous kill (moments chosen from
   observed progress, never from a clock), and restarted. Then the source server itself is
   restarted (scripts/pg.sh restart) under a running engine, after a commit of it was seen: the
   engine reconnects by itself and applies a row written after the restart.
3. After the writers finish, one run catches up (--exit-when-caught-up), a second one finds
   nothing left to apply (the first did not stop early), and then:
   - shipment_list equals SELECT ... FROM shipments run by PostgreSQL itself (the oracle);
   - every row's `changes` (1 per update event applied, started from the row's version at its
     insert or snapshot) equals the source row's `version` (1 per committed update): no change
     was applied twice or lost;
   - the derived view by_org (count and sum per organization over shipment_list) equals the
     same GROUP BY over the source table;
   - the slot's confirmed flush position is the stored position (acknowledged after commit,
     never ahead of it).

With --same-database the store's schema (streamview) lives in the source database itself, beside
the tables it follows.

    pg_changes.py --binary build/src/cli/streamview [--store-kind sqlite|postgres]
        [--same-database]
"""

import argparse
import os
import random
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (WaitTimeout, check_groups, check_slot_at_store, close,  # noqa: E402
                     committed_position, drop_change_feed, kill_at_position, run_sql, verdict,
                     wait_until)
from stores import Store  # noqa: E402

TABLE = """
CREATE TABLE shipments (
  id integer PRIMARY KEY,
  org text NOT NULL,
  status text NOT NULL,
  cost numeric(12, 2) NOT NULL,
  tags text[],
  meta jsonb,
  version integer NOT NULL DEFAULT 0,
  doc text
);
-- Stored out of line: an update that leaves doc alone does not resend it (pgoutput 'u').
ALTER TABLE shipments ALTER COLUMN doc SET STORAGE EXTERNAL;
"""
DOC = "(SELECT string_agg(md5(random()::text), '') FROM generate_series(1, 100))"

CONFIG = """
store:
  kind: {store_kind}
  {store_where}
sources:
  shop:
    kind: postgres_changes
    dsn: "{dsn}"
    slot: {slot}
    tables: [shipments]
views:
  shipment_list:
    source: shop
    key: [id]
    columns:
      id: integer
      org: text
      status: text
      cost: numeric
      tag_count: integer
      meta_x: integer
      doc: text
      changes: integer
    on:
      "*":
        set:
          id: e.id
          org: e.org
          status: e.status
          cost: e.cost
          tag_count: "coalesce(cardinality(e.tags), 0)"
          meta_x: e.meta.x
          doc: e.doc
      shipments.insert:
        set:
          changes: e.version
      shipments.update:
        set:
          changes: "coalesce(changes, 0) + 1"
      shipments.delete:
        delete: true
derived_views:
  by_org:
    sql: "CREATE VIEW by_org AS SELECT org, count(*) AS n, sum(cost) AS cost FROM shipment_list GROUP BY org"
"""

# Slots are the cluster's, not the database's: one per run.
SLOT = "sv_test_%d" % os.getpid()
ORGS = ["o%d" % i for i in range(7)]
STATUSES = ["new", "picked", "transit", "delivered", "late"]


def insert_sql(rnd, i):
    tags = "ARRAY[%s]::text[]" % ",".join("'t%d'" % rnd.randrange(9) for _ in range(rnd.randrange(4)))
    meta = "'{\"x\": %d}'" % rnd.randrange(100) if rnd.random() < 0.8 else "NULL"
    return ("INSERT INTO shipments (id, org, status, cost, tags, meta, doc) VALUES "
            "(%d, '%s', '%s', %d.%02d, %s, %s, %s) ON CONFLICT (id) DO NOTHING;"
            % (i, rnd.choice(ORGS), rnd.choice(STATUSES), rnd.randrange(1000), rnd.randrange(100),
               tags if rnd.random() < 0.7 else "NULL", meta, DOC if rnd.random() < 0.4 else "NULL"))


def statement(rnd, ids):
    i = rnd.randrange(1, ids)
    op = rnd.random()
    if op < 0.4:
        return insert_sql(rnd, i)
    if op < 0.85:
        return ("UPDATE shipments SET status = '%s', cost = cost + %d.25, org = '%s', "
                "tags = array_append(tags, 'u'), meta = jsonb_build_object('x', %d), "
                "version = version + 1%s WHERE id = %d;"
                % (rnd.choice(STATUSES), rnd.randrange(5), rnd.choice(ORGS), rnd.randrange(100),
                   ", doc = " + DOC if rnd.random() < 0.1 else "", i))
    return "DELETE FROM shipments WHERE id = %d;" % i


def workload(rnd, transactions, ids):
    """The writer's transactions, each a script fragment."""
    out = []
    for _ in range(transactions):
        lines = ["BEGIN;"]
        for _ in range(rnd.randint(1, 12)):
            lines.append(statement(rnd, ids))
        lines.append("ROLLBACK;" if rnd.random() < 0.1 else "COMMIT;")
        out.append("\n".join(lines) + "\n")
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--binary", required=True)
    ap.add_argument("--store-kind", default="sqlite", choices=["sqlite", "postgres"])
    ap.add_argument("--same-database", action="store_true",
                    help="the store's schema in the source database itself (PostgreSQL store)")
    ap.add_argument("--rows", type=int, default=3000)
    ap.add_argument("--writers", type=int, default=4)
    ap.add_argument("--transactions", type=int, default=1000)
    ap.add_argument("--kills", type=int, default=20)
    args = ap.parse_args()
    binary = os.path.abspath(args.binary)
    tmp = tempfile.mkdtemp(prefix="sv-pg-changes-")
    source = Store.create("postgres", tmp, "cdc_source")
    if args.same_database:
        # One database for both: the views' schema (streamview) beside the source tables.
        store = Store("postgres", source.arg, admin_dsn=source.admin_dsn, dbname=source.dbname)
    else:
        store = Store.create(args.store_kind, tmp, "cdc_store")
    rnd = random.Random(17)
    problems = []
    writers = []
    try:
        run_sql(source.arg, TABLE + "\n".join(insert_sql(rnd, i) for i in range(1, args.rows)))
        config = os.path.join(tmp, "cdc.yaml")
        with open(config, "w") as f:
            where = ("dsn: \"%s\"" if store.kind == "postgres" else "path: %s") % store.arg
            f.write(CONFIG.format(store_kind=store.kind, store_where=where, dsn=source.arg,
                                  slot=SLOT))
        log = os.path.join(tmp, "run.log")
        cmd = [binary, "run", "--config", config, "--store", store.arg]

        # Each writer's transactions in one share per engine run, started with that run: every
        # run is killed while writes go on, whatever the machine's speed (no pacing by time).
        shares = []
        for w in range(args.writers):
            txs = workload(random.Random(100 + w), args.transactions, args.rows * 2)
            for k in range(args.kills):
                script = os.path.join(tmp, "writer%d_%d.sql" % (w, k))
                with open(script, "w") as f:
                    f.write("".join(txs[k::args.kills]))
                shares.append((k, script))

        def start_writers(run):
            for k, script in shares:
                if k == run:
                    writers.append(subprocess.Popen(
                        ["psql", source.arg, "-X", "-q", "-v", "ON_ERROR_STOP=0", "-f", script],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

        # A crash in the middle of the initial snapshot, injected once half the table is read
        # (the slot made, nothing committed): the next start snapshots anew.
        with open(log, "ab") as out:
            out.write(b"--- run crashed during the snapshot\n")
            out.flush()
            crashed = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, timeout=600,
                                     env=dict(os.environ, SV_TEST_CRASH_IN_SNAPSHOT_AT_ROW=str(
                                         args.rows // 2)))
        slot_made = source.query("SELECT count(*) FROM pg_replication_slots WHERE slot_name = "
                                 "'%s'" % SLOT)
        if crashed.returncode != 9 or slot_made != 1 or committed_position(store) != 0:
            print("FAILED: the run told to crash in its snapshot exited %d, slot made %s, "
                  "committed position %s (see %s)" % (crashed.returncode, slot_made,
                                                      committed_position(store), log))
            return 1
        print("crashed during the snapshot (slot made, half the table read): nothing committed")

        seen = 0
        for k in range(args.kills):
            start_writers(k)
            with open(log, "ab") as out:
                out.write(("--- run %d\n" % (k + 1)).encode())
                out.flush()
                proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
            try:
                seen = kill_at_position(proc, store, seen + 1, "run %d" % (k + 1), log=log)
            except WaitTimeout as e:
                print("FAILED: %s" % e)
                return 1
            print("kill %d at committed position %d" % (k + 1, seen))
        # The server restarted mid-stream (writers still connected lose their sessions there).
        pg_sh = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts",
                             "pg.sh")
        if not os.environ.get("SV_PG_DIR"):
            print("FAILED: the server restart needs SV_PG_DIR (eval \"$(bash scripts/pg.sh start)\")")
            return 1
        def write_and_wait(marker, what):
            run_sql(source.arg, "INSERT INTO shipments (id, org, status, cost) VALUES "
                                "(%d, 'o0', 'new', 1.00);" % marker)
            wait_until(lambda: store.query("SELECT count(*) FROM shipment_list WHERE id = %d"
                                           % marker) == 1, what, proc=proc, log=log)

        with open(log, "ab") as out:
            out.write(b"--- run across a source server restart\n")
            out.flush()
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
        try:
            # Writers may be done by now: a row of our own is there to be applied.
            write_and_wait(args.rows * 2 + 2, "a row written before the restart in the view")
            r = subprocess.run(["bash", pg_sh, "restart"], capture_output=True, text=True)
            if r.returncode != 0:
                print("FAILED: pg.sh restart: %s" % r.stderr.strip())
                return 1
            write_and_wait(args.rows * 2 + 1, "the row written after the restart in the view")
            print("source server restarted: the running engine reconnected and applied a later row")
            # Said as the source's outage, not the store's (with the SQLite store, the store
            # never went down; a PostgreSQL store in the same cluster goes down with it).
            with open(log, "rb") as f:
                across = f.read().split(b"--- run across a source server restart")[-1]
            if args.store_kind == "sqlite" and (b"source shop unavailable" not in across
                                                or b"store unavailable" in across):
                print("FAILED: the engine's log across the source restart does not name the "
                      "source as unavailable (or blames the store); see %s" % log)
                return 1
        except WaitTimeout as e:
            print("FAILED: %s" % e)
            return 1
        finally:
            proc.kill()
            proc.wait()
        for w in writers:
            w.wait(timeout=600)
        print("writers done")

        with open(log, "ab") as out:
            out.write(b"--- final run\n")
            out.flush()
            r = subprocess.run(cmd + ["--exit-when-caught-up"], stdout=out,
                               stderr=subprocess.STDOUT, timeout=600)
        if r.returncode != 0:
            problems.append("the final run exited %d (see %s)" % (r.returncode, log))
        # A second run finds nothing left: the first did not stop before the end (a stop
        # halfway looks like lost changes in the comparison below, though none were lost).
        # (Rows, not positions: a heartbeat may move the position with no change.)
        view_sql = "SELECT * FROM shipment_list ORDER BY id"
        after_final = store.rows(view_sql)
        with open(log, "ab") as out:
            out.write(b"--- second final run\n")
            out.flush()
            subprocess.run(cmd + ["--exit-when-caught-up"], stdout=out, stderr=subprocess.STDOUT,
                           timeout=600)
        if store.rows(view_sql) != after_final:
            problems.append("the final run called itself caught up at position %s; a second run "
                            "changed the view" % committed_position(store))

        want = source.rows("SELECT id, org, status, cost, coalesce(cardinality(tags), 0), "
                           "(meta->>'x')::int, doc, version FROM shipments ORDER BY id")
        got = store.rows("SELECT id, org, status, cost, tag_count, meta_x, doc, changes "
                         "FROM shipment_list ORDER BY id")
        print("source rows %d, view rows %d" % (len(want), len(got)))
        got_by_id = {row[0]: row for row in got}
        want_ids = {row[0] for row in want}
        for row in want:
            g = got_by_id.get(row[0])
            if g is None:
                problems.append("shipment %s missing from the view" % row[0])
            elif g[1:3] != row[1:3] or not close(g[3], row[3]) or g[4:6] != row[4:6]:
                problems.append("shipment %s: view %r, source %r" % (row[0], g[:6], row[:6]))
            elif g[6] != row[6]:
                problems.append("shipment %s: doc %s in the view, %s at the source (an unchanged "
                                "TOASTed value must keep its value)"
                                % (row[0], "NULL" if g[6] is None else "%d chars" % len(g[6]),
                                   "NULL" if row[6] is None else "%d chars" % len(row[6])))
            elif g[7] != row[7]:
                problems.append("shipment %s: %s updates applied, %s committed"
                                % (row[0], g[7], row[7]))
        for i in got_by_id:
            if i not in want_ids:
                problems.append("shipment %s in the view but deleted at the source" % i)

        want_orgs = source.rows("SELECT org, count(*), sum(cost) FROM shipments GROUP BY org "
                                "ORDER BY org")
        got_orgs = store.rows("SELECT org, n, cost FROM by_org ORDER BY org")
        check_groups(problems, "by_org", got_orgs, want_orgs)
        check_slot_at_store(problems, source, store, SLOT)
    finally:
        for w in writers:
            if w.poll() is None:
                w.kill()
        drop_change_feed(source, store, SLOT)
    return verdict(problems, tmp)


if __name__ == "__main__":
    sys.exit(main())
