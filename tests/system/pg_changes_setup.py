#!/usr/bin/env python3
"""A change-feed source refuses to start, saying what to change, when the source database or a
table cannot be followed; and it never carries on silently after its slot is lost.

Each case starts `streamview run` and expects it to exit non-zero with the message:
1. a table without a primary key;
2. a role without the REPLICATION attribute;
3. a slot of that name made by another plugin (test_decoding);
4. the slot dropped behind the engine's back after views were built from it: the restart
   says the slot is gone and changes may be lost, instead of snapshotting anew over views
   that already hold rows; a slot created again under that name is ahead of the views and
   refused likewise; `streamview rebuild` re-snapshots (a new slot), and the views then equal
   the table, rows changed while no slot kept them included. A TRUNCATE between two inserts of
   one transaction leaves the view (and the derived view over it) with the later row only. Then
   the slot lost while an engine runs: its walsender terminated and the slot dropped, the engine
   exits saying so.
5. `streamview drop-slot` for a source taken out of the config: refused while an engine streams
   from the slot (whose lag and health /lags and /metrics show meanwhile), then drops the slot
   and the publication; a second call says there is none.
6. the slot invalidated by the server (`wal_status = 'lost'`: max_slot_wal_keep_size set low for
   the moment, WAL written and checkpointed until the server gives the slot up): the next start
   says so; `streamview rebuild` re-snapshots and the view equals the table.

    pg_changes_setup.py --binary build/src/cli/streamview
"""

import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (WaitTimeout, drop_slot, free_port, http_get, psql, start_test,  # noqa: E402
                     verdict, wait_until)
from stores import Store  # noqa: E402

CONFIG = """
store:
  kind: sqlite
  path: {store}
sources:
  shop:
    kind: postgres_changes
    dsn: "{dsn}"
    tables: [{tables}]
views:
  items:
    source: shop
    key: [id]
    columns:
      id: integer
      name: text
    on:
      "*":
        set:
          id: e.id
      items.insert:
        set:
          name: e.name
      items.update:
        set:
          name: e.name
      items.delete:
        delete: true
derived_views:
  by_name:
    sql: "CREATE VIEW by_name AS SELECT name, count(*) AS n FROM items GROUP BY name"
"""


def query(dsn, sql):
    r = subprocess.run(["psql", dsn, "-X", "-q", "-A", "-t", "-c", sql], capture_output=True,
                       text=True)
    return r.stdout.strip()


def slot_streamed(dsn, active, proc=None):
    """Waits until slot sv_shop is (active) or is not (not active) streamed from. False at the
    deadline or once `proc` exited: what follows then fails with what it finds."""
    want = "1" if active else "0"
    try:
        wait_until(lambda: query(dsn, "SELECT count(*) FROM pg_replication_slots WHERE "
                                      "slot_name = 'sv_shop' AND active") == want,
                   "slot sv_shop %s" % ("streamed from" if active else "let go"), timeout=120,
                   proc=proc)
        return True
    except WaitTimeout:
        return False


def run(binary, tmp, name, dsn, tables, extra_args=()):
    config = os.path.join(tmp, name + ".yaml")
    with open(config, "w") as f:
        f.write(CONFIG.format(store=os.path.join(tmp, name + ".db"), dsn=dsn,
                              tables=", ".join(tables)))
    return subprocess.run([binary, "run", "--config", config, "--exit-when-caught-up",
                           *extra_args], capture_output=True, text=True, timeout=300)


def main():
    _, binary, tmp = start_test(__doc__, "sv-pg-setup-")
    source = Store.create("postgres", tmp, "cdc_setup")
    problems = []

    def expect_refusal(what, result, message):
        out = result.stdout + result.stderr
        if result.returncode == 0 or message not in out:
            problems.append("%s: exit %d, want non-zero with %r; output: %s"
                            % (what, result.returncode, message, out[-600:]))
        else:
            print("ok: %s -> %s" % (what, message))

    try:
        psql(source.arg, "CREATE TABLE items (id integer PRIMARY KEY, name text); "
                         "CREATE TABLE loose (id integer, name text); "
                         "INSERT INTO items VALUES (1, 'a'), (2, 'b')")
        expect_refusal("a table without a primary key",
                       run(binary, tmp, "nokey", source.arg, ["items", "loose"]),
                       "table loose has no primary key")

        role = "sv_norepl_%d" % os.getpid()
        psql(source.admin_dsn, "DROP ROLE IF EXISTS %s; CREATE ROLE %s LOGIN" % (role, role))
        no_repl = source.arg.replace("postgres@", role + "@", 1)
        expect_refusal("a role without REPLICATION",
                       run(binary, tmp, "norepl", no_repl, ["items"]),
                       "lacks the REPLICATION attribute")

        psql(source.arg, "SELECT pg_create_logical_replication_slot('sv_shop', 'test_decoding')")
        expect_refusal("a slot of another plugin", run(binary, tmp, "plugin", source.arg, ["items"]),
                       "uses plugin test_decoding")
        psql(source.arg, "SELECT pg_drop_replication_slot('sv_shop')")

        first = run(binary, tmp, "lost", source.arg, ["items"])
        if first.returncode != 0:
            problems.append("the first run failed: %s" % (first.stdout + first.stderr)[-800:])
        psql(source.arg, "SELECT pg_drop_replication_slot('sv_shop')")
        psql(source.arg, "INSERT INTO items VALUES (3, 'c')")
        expect_refusal("the slot dropped behind the engine's back",
                       run(binary, tmp, "lost", source.arg, ["items"]), "is gone")
        psql(source.arg, "SELECT pg_create_logical_replication_slot('sv_shop', 'pgoutput')")
        psql(source.arg, "UPDATE items SET name = 'B' WHERE id = 2")
        expect_refusal("a slot made again under that name",
                       run(binary, tmp, "lost", source.arg, ["items"]), "ahead of the views")
        lost_config = os.path.join(tmp, "lost.yaml")
        rebuilt = subprocess.run([binary, "rebuild", "--config", lost_config, "--view", "items"],
                                 capture_output=True, text=True, timeout=300)
        psql(source.arg, "DELETE FROM items WHERE id = 1; INSERT INTO items VALUES (4, 'd')")
        after = run(binary, tmp, "lost", source.arg, ["items"])
        want = [(2, "B"), (3, "c"), (4, "d")]
        got = Store("sqlite", os.path.join(tmp, "lost.db")).rows(
            "SELECT id, name FROM items ORDER BY id")
        if rebuilt.returncode != 0 or after.returncode != 0 or [tuple(r) for r in got] != want:
            problems.append("re-snapshot: rebuild exit %d, run exit %d, view %r, want %r; %s"
                            % (rebuilt.returncode, after.returncode, got, want,
                               (rebuilt.stdout + rebuilt.stderr + after.stderr)[-800:]))
        else:
            print("ok: streamview rebuild re-snapshots: %r" % got)

        # TRUNCATE inside a transaction, between an insert before it and one after it: the view
        # keeps only the row inserted after it, and the derived view follows.
        psql(source.arg, "BEGIN; INSERT INTO items VALUES (5, 'e'); TRUNCATE items; "
                         "INSERT INTO items VALUES (6, 'f'); COMMIT")
        after = run(binary, tmp, "lost", source.arg, ["items"])
        got = Store("sqlite", os.path.join(tmp, "lost.db")).rows(
            "SELECT id, name FROM items ORDER BY id")
        got_names = Store("sqlite", os.path.join(tmp, "lost.db")).rows(
            "SELECT name, n FROM by_name ORDER BY name")
        if after.returncode != 0 or [tuple(r) for r in got] != [(6, "f")] or \
                [tuple(r) for r in got_names] != [("f", 1)]:
            problems.append("TRUNCATE: run exit %d, view %r, by_name %r, want [(6, 'f')] and "
                            "[('f', 1)]; %s" % (after.returncode, got, got_names,
                                                after.stderr[-800:]))
        else:
            print("ok: TRUNCATE clears the view and its derived view: %r, %r" % (got, got_names))

        # While running: the walsender terminated and the slot dropped before it reconnects.
        live = subprocess.Popen([binary, "run", "--config", lost_config], stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        active = "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'sv_shop'"
        slot_streamed(source.arg, True, proc=live)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and live.poll() is None and \
                query(source.arg, active) != "0":
            query(source.arg, "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots "
                  "WHERE slot_name = 'sv_shop' AND active")
            query(source.arg, "SELECT pg_drop_replication_slot(slot_name) FROM "
                  "pg_replication_slots WHERE slot_name = 'sv_shop' AND NOT active")
        try:
            out, _ = live.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            live.kill()
            out, _ = live.communicate()
        expect_refusal("the slot dropped under a running engine",
                       subprocess.CompletedProcess(live.args, live.returncode, out, ""),
                       "is gone")
        psql(source.admin_dsn, "DROP ROLE IF EXISTS %s" % role)

        drop = [binary, "drop-slot", "--dsn", source.arg, "--slot", "sv_shop",
                "--publication", "sv_shop"]
        config = os.path.join(tmp, "dropme.yaml")
        run(binary, tmp, "dropme", source.arg, ["items"])  # writes the config, makes the slot
        port = free_port()
        live = subprocess.Popen([binary, "run", "--config", config, "--listen",
                                 "127.0.0.1:%d" % port], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL,
                                env=dict(os.environ, STREAMVIEW_TOKEN="setup-test"))
        try:
            # Observed streaming (the slot active), not assumed after a while.
            slot_streamed(source.arg, True, proc=live)
            # The slot's own lag and health, in /lags and /metrics, once read from the server.
            def upstream():
                code, body = http_get(port, "/lags",
                                      headers={"Authorization": "Bearer setup-test"})
                if code != 200:
                    return None
                return json.loads(body)["sources"][0].get("upstream")
            try:
                seen = wait_until(upstream, "/lags to show the slot's lag")
                _, metrics = http_get(port, "/metrics")
                want = ['streamview_source_upstream_lag_bytes{source="shop"}',
                        'streamview_source_upstream_lag_seconds{source="shop"}',
                        'streamview_source_upstream_ok{source="shop"} 1']
                if seen["problem"] is not None or seen["lag_bytes"] < 0 or \
                        not all(m in metrics for m in want):
                    problems.append("slot lag: /lags upstream %r; metrics lack some of %r"
                                    % (seen, want))
                else:
                    print("ok: the slot's lag in /lags (%r) and /metrics" % seen)
            except WaitTimeout as e:
                problems.append(str(e))
            expect_refusal("drop-slot while an engine streams from it",
                           subprocess.run(drop, capture_output=True, text=True, timeout=120),
                           "is in use by server process")
        finally:
            live.terminate()
            live.wait(timeout=120)
        # The stopped engine's walsender lets the slot go a moment later.
        slot_streamed(source.arg, False)
        dropped = subprocess.run(drop, capture_output=True, text=True, timeout=120)
        left = query(source.arg, "SELECT (SELECT count(*) FROM pg_replication_slots WHERE "
                     "slot_name = 'sv_shop') + (SELECT count(*) FROM pg_publication WHERE "
                     "pubname = 'sv_shop')")
        if dropped.returncode != 0 or "dropped replication slot sv_shop" not in dropped.stdout \
                or left != "0":
            problems.append("drop-slot: exit %d, output %r, %s slot/publication left"
                            % (dropped.returncode, dropped.stdout + dropped.stderr, left))
        else:
            print("ok: drop-slot -> %s" % dropped.stdout.strip())
        expect_refusal("drop-slot of a slot that is not there",
                       subprocess.run(drop, capture_output=True, text=True, timeout=120),
                       "no replication slot named sv_shop")

        # The server invalidates the slot (wal_status 'lost') once it removed WAL the slot still
        # needed, past max_slot_wal_keep_size: the next start says so; a rebuild re-snapshots.
        walloss = run(binary, tmp, "walloss", source.arg, ["items"])
        if walloss.returncode != 0:
            problems.append("the walloss run failed: %s" % (walloss.stdout + walloss.stderr)[-800:])
        slot_status = "SELECT wal_status FROM pg_replication_slots WHERE slot_name = 'sv_shop'"
        try:
            psql(source.admin_dsn, "ALTER SYSTEM SET max_slot_wal_keep_size = '1MB'")
            psql(source.admin_dsn, "SELECT pg_reload_conf()")
            psql(source.arg, "INSERT INTO items VALUES (7, 'g')")
            # WAL written, switched and checkpointed until the server gives the slot up
            # (observed, not assumed: each round adds a segment's worth and checks).
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline and query(source.arg, slot_status) != "lost":
                psql(source.arg, "DROP TABLE IF EXISTS filler; CREATE TABLE filler AS SELECT g, "
                                 "md5(g::text) AS m FROM generate_series(1, 100000) g")
                psql(source.admin_dsn, "SELECT pg_switch_wal()")
                psql(source.admin_dsn, "CHECKPOINT")
        finally:
            psql(source.admin_dsn, "ALTER SYSTEM RESET max_slot_wal_keep_size")
            psql(source.admin_dsn, "SELECT pg_reload_conf()")
        if query(source.arg, slot_status) != "lost":
            problems.append("the slot was never invalidated: wal_status %r"
                            % query(source.arg, slot_status))
        else:
            expect_refusal("the slot invalidated by the server (wal_status lost)",
                           run(binary, tmp, "walloss", source.arg, ["items"]),
                           "was invalidated: the server removed WAL it still needed")
            walloss_config = os.path.join(tmp, "walloss.yaml")
            rebuilt = subprocess.run([binary, "rebuild", "--config", walloss_config, "--view",
                                      "items"], capture_output=True, text=True, timeout=300)
            after = run(binary, tmp, "walloss", source.arg, ["items"])
            want = [tuple(r) for r in source.rows("SELECT id, name FROM items ORDER BY id")]
            got = [tuple(r) for r in Store("sqlite", os.path.join(tmp, "walloss.db")).rows(
                "SELECT id, name FROM items ORDER BY id")]
            if rebuilt.returncode != 0 or after.returncode != 0 or got != want:
                problems.append("after the slot was lost: rebuild exit %d, run exit %d, view %r, "
                                "table %r; %s" % (rebuilt.returncode, after.returncode, got, want,
                                                  (rebuilt.stderr + after.stderr)[-800:]))
            else:
                print("ok: streamview rebuild re-snapshots after the slot was lost: %r" % got)
    finally:
        drop_slot(source, "sv_shop")
        source.drop()
    return verdict(problems, tmp)


if __name__ == "__main__":
    sys.exit(main())
