#!/usr/bin/env python3
"""A source transaction far larger than a batch reaches the views whole, once, in bounded memory.

The source server streams it while it runs (protocol v2: the replication connection's
logical_decoding_work_mem is set to its minimum, 64kB, through the dsn); the engine's source
spools it (past `spool_memory_rows` in a temporary file) and hands it over in pages that the
engine writes into one open store transaction.

1. A table with rows is snapshotted (a run that exits when caught up).
2. One transaction rolled back after 30k inserts; then one committed transaction of ~100k
   inserts, an update of every earlier row, deletes, and a savepoint of 20k inserts and updates
   rolled back (its rows streamed before the rollback, so the engine must drop them itself).
3. A run told to die once the 3rd page of that transaction is written into the open store
   transaction (SV_TEST_EXIT_IN_OPEN_BATCH_AT_PAGE, an injected fault): it exits 9, and the store
   shows nothing of the transaction (the views and the position as after step 1).
4. A run to the end: the view equals the source table (PostgreSQL's own SELECT, the oracle),
   each row's applied update count equals its committed `version` (nothing applied twice), the
   derived per-organization view equals the GROUP BY over the table, and the slot's flush is the
   stored position. Its peak RSS is printed (bench/pg_changes_big_tx.py measures the bound).

    pg_changes_big_tx.py --binary build/src/cli/streamview [--store-kind sqlite|postgres]
"""

import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (check_groups, check_slot_at_store, committed_position,  # noqa: E402
                     drop_change_feed, run_sql, start_test, verdict)
from stores import Store  # noqa: E402

CONFIG = """
store:
  kind: {store_kind}
  {store_where}
engine:
  batch_events: 20000
sources:
  feed:
    kind: postgres_changes
    dsn: "{dsn}"
    slot: {slot}
    tables: [items]
    spool_memory_rows: 2000
    spool_dir: {spool}
views:
  item_list:
    source: feed
    key: [id]
    columns:
      id: integer
      org: text
      n: integer
      changes: integer
    on:
      "*":
        set:
          id: e.id
          org: e.org
          n: e.n
      items.insert:
        set:
          changes: e.version
      items.update:
        set:
          changes: "coalesce(changes, 0) + 1"
      items.delete:
        delete: true
derived_views:
  by_org:
    sql: "CREATE VIEW by_org AS SELECT org, count(*) AS c, sum(n) AS n FROM item_list GROUP BY org"
"""

SLOT = "sv_big_%d" % os.getpid()
ROWS = 2000
BIG = 100000
DOOMED = 20000


def with_decoding_memory(dsn):
    option = "options=-c%20logical_decoding_work_mem%3D64kB"
    if dsn.startswith("postgres"):
        return dsn + ("&" if "?" in dsn else "?") + option
    return dsn + " options='-c logical_decoding_work_mem=64kB'"


def main():
    args, binary, tmp = start_test(__doc__, "sv-pg-big-tx-", store_kind=True)
    source = Store.create("postgres", tmp, "big_source")
    store = Store.create(args.store_kind, tmp, "big_store")
    problems = []
    try:
        run_sql(source.arg, "CREATE TABLE items (id integer PRIMARY KEY, org text NOT NULL, "
                            "n integer NOT NULL, version integer NOT NULL DEFAULT 0);"
                            "INSERT INTO items (id, org, n) SELECT g, 'o' || (g %% 7), g "
                            "FROM generate_series(1, %d) g;" % ROWS)
        spool = os.path.join(tmp, "spool")
        os.mkdir(spool)
        config = os.path.join(tmp, "big.yaml")
        with open(config, "w") as f:
            where = ("dsn: \"%s\"" if args.store_kind == "postgres" else "path: %s") % store.arg
            f.write(CONFIG.format(store_kind=args.store_kind, store_where=where,
                                  dsn=with_decoding_memory(source.arg).replace('"', '\\"'),
                                  slot=SLOT, spool=spool))
        log = os.path.join(tmp, "run.log")
        cmd = [binary, "run", "--config", config, "--store", store.arg]

        def run(what, env=None):
            # Every run ends by itself: caught up, or killed by its injected fault.
            with open(log, "ab") as out:
                out.write(("--- %s\n" % what).encode())
                out.flush()
                proc = subprocess.Popen(cmd + ["--exit-when-caught-up"],
                                        stdout=out, stderr=subprocess.STDOUT,
                                        env=dict(os.environ, **(env or {})))
                _, status, usage = os.wait4(proc.pid, 0)
                proc.returncode = os.waitstatus_to_exitcode(status)
            return proc.returncode, usage.ru_maxrss // 1024

        view_sql = "SELECT id, org, n, changes FROM item_list ORDER BY id"
        code, _ = run("snapshot")
        before = store.rows(view_sql)
        position_before = committed_position(store)
        if code != 0 or len(before) != ROWS:
            print("FAILED: the first run exited %d with %d rows in the view (see %s)"
                  % (code, len(before), log))
            return 1
        print("snapshot: %d rows" % len(before))

        run_sql(source.arg, "BEGIN; INSERT INTO items (id, org, n) SELECT g, 'x', 0 FROM "
                            "generate_series(300001, 330000) g; ROLLBACK;")
        run_sql(source.arg, (
            "BEGIN;"
            "INSERT INTO items (id, org, n) SELECT g, 'o' || (g %% 5), g %% 1000 "
            "FROM generate_series(10001, %d) g;"
            "UPDATE items SET n = n + 1, version = version + 1 WHERE id <= %d;"
            "SAVEPOINT doomed;"
            "INSERT INTO items (id, org, n) SELECT g, 'doomed', -1 FROM generate_series(200001, %d) g;"
            "UPDATE items SET n = -1, version = version + 100 WHERE id <= 1000;"
            "ROLLBACK TO SAVEPOINT doomed;"
            "DELETE FROM items WHERE id %% 10 = 0 AND id <= %d;"
            "COMMIT;") % (10000 + BIG, ROWS, 200000 + DOOMED, ROWS))
        streamed = source.query("SELECT count(*) FROM items")
        print("source transaction committed: %s rows in the table" % streamed)

        code, _ = run("killed in the open batch", {"SV_TEST_EXIT_IN_OPEN_BATCH_AT_PAGE": "3"})
        if code != 9:
            problems.append("the run told to die in its open batch exited %d (see %s)"
                            % (code, log))
        elif store.rows(view_sql) != before or committed_position(store) != position_before:
            problems.append("after a crash in the middle of a source transaction the store shows "
                            "part of it (%d view rows, position %s; %d rows and %s before)"
                            % (len(store.rows(view_sql)), committed_position(store), len(before),
                               position_before))
        else:
            print("died with 3 pages written into the open store transaction: nothing of it "
                  "committed")

        code, peak_mib = run("to the end")
        if code != 0:
            problems.append("the last run exited %d (see %s)" % (code, log))
        print("applied the transaction: peak RSS %d MiB" % peak_mib)

        want = source.rows("SELECT id, org, n, version FROM items ORDER BY id")
        got = store.rows(view_sql)
        print("source rows %d, view rows %d" % (len(want), len(got)))
        if len(want) != len(got):
            problems.append("%d rows at the source, %d in the view" % (len(want), len(got)))
        for w, g in zip(want, got):
            if tuple(w) != tuple(g):
                problems.append("row at the source %r, in the view %r" % (w, g))
                if len(problems) > 20:
                    break
        want_orgs = source.rows("SELECT org, count(*), sum(n) FROM items GROUP BY org ORDER BY org")
        got_orgs = store.rows("SELECT org, c, n FROM by_org ORDER BY org")
        check_groups(problems, "by_org", got_orgs, want_orgs)
        check_slot_at_store(problems, source, store, SLOT)
        stats = source.rows("SELECT stream_txns, spill_txns FROM pg_stat_replication_slots "
                            "WHERE slot_name = '%s'" % SLOT)
        print("server: streamed %s transactions, spilled %s" % (stats[0][0], stats[0][1])
              if stats else "server: no slot statistics")
        if os.listdir(spool):
            problems.append("the spool directory is not empty: %s" % os.listdir(spool))
    finally:
        drop_change_feed(source, store, SLOT)
    return verdict(problems, tmp)


if __name__ == "__main__":
    sys.exit(main())
