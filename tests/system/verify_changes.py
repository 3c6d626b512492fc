#!/usr/bin/env python3
"""Verify against the source for a PostgreSQL change feed (issue 19 item 3).

The source database holds `shipments` (organizations o0..o6) and `carriers`; the views are
`shipment_list` (tenant: org), `carrier_list` and the derived `by_org` (count and sum per
organization); `shipment_list.changes` counts the updates applied on top of the row's `version`
at its insert or snapshot, so it equals the source's `version` only if no transaction is
applied twice or lost, whichever side of the snapshot it committed on. A change feed's replay
is a new snapshot of its tables, taken now through a temporary slot beside the live one: the
verify folds it, then the live records after it, and compares once the engine's stream has
passed the snapshot. Writers never touch the frozen rows
(organizations o5 and o6, carriers c-0..c-2), so that what is corrupted stays corrupted.
- With the engine stopped and transactions of the source waiting in its slot (the views behind
  the snapshot), `streamview verify` runs the stream up to the snapshot and finds nothing.
- View rows corrupted behind the engine's back (UPDATE, DELETE, INSERT on `shipment_list`,
  `carrier_list` and `by_org`): `streamview verify` exits 1 and names exactly those keys;
  `--tenant o5` only o5's; `--repair` rewrites them, a following verify is clean and every view
  equals the oracle computed by PostgreSQL from the source tables.
- With `run --listen` and writers committing transactions (several rows each, on several
  connections) all along, `POST /views/verify` is clean: its fold is held after the snapshot
  (SV_TEST_TENANT_FOLD_HOLD) until the engine has applied transactions committed after the
  verify began, which the report counts as replayed from the loop. A carrier corrupted under the
  running engine is named, `?repair=true` puts it back, and a verify with the tables idle ends
  (the stream is asked for a heartbeat past the snapshot) clean. The views equal the oracle at
  the end.

    verify_changes.py --binary build/src/cli/streamview [--store-kind sqlite|postgres]
"""

import os
import random
import subprocess
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import committed_position, drop_change_feed, run_sql, start_test, verdict  # noqa: E402
from stores import Store  # noqa: E402
from tenant_rebuild import sha  # noqa: E402
from verify_checks import (LiveVerify, active_table, check_corrupted,  # noqa: E402
                           check_named, check_tenant_then_repair, clean, cli_runner,
                           reports_of, source_lines)

ADMIN = "key-for-the-admin"
SLOT = "sv_verify_%d" % os.getpid()
ORGS = ["o%d" % i for i in range(7)]
LIVE_ORGS = ORGS[:5]  # o5 and o6 are frozen: no writer touches their rows
STATUSES = ["new", "picked", "transit", "delivered"]
ROWS = 600

TABLES = """
CREATE TABLE shipments (
  id integer PRIMARY KEY,
  org text NOT NULL,
  status text NOT NULL,
  cost integer NOT NULL,
  version integer NOT NULL DEFAULT 0
);
CREATE TABLE carriers (id text PRIMARY KEY, name text NOT NULL);
"""

CONFIG = """
store:
  kind: {store_kind}
  {store_where}
sources:
  shop:
    kind: postgres_changes
    dsn: "{dsn}"
    slot: {slot}
    tables: [shipments, carriers]
server:
  auth:
    api_keys:
      - {{sha256: {admin}, role: admin}}
views:
  shipment_list:
    source: shop
    key: [id]
    tenant: org
    columns:
      id: integer
      org: text
      status: text
      cost: integer
      changes: integer
    on:
      "*":
        set: {{id: e.id}}
      shipments.insert:
        set: {{org: e.org, status: e.status, cost: e.cost, changes: e.version}}
      shipments.update:
        set: {{org: e.org, status: e.status, cost: e.cost, changes: "coalesce(changes, 0) + 1"}}
      shipments.delete:
        delete: true
  carrier_list:
    source: shop
    key: [id]
    columns:
      id: text
      name: text
    on:
      "*":
        set: {{id: e.id}}
      carriers.insert:
        set: {{name: e.name}}
      carriers.update:
        set: {{name: e.name}}
      carriers.delete:
        delete: true
derived_views:
  by_org:
    tenant: org
    sql: "CREATE VIEW by_org AS SELECT org, count(*) AS n, sum(cost) AS cost FROM shipment_list GROUP BY org"
"""


def seed_sql(rnd):
    rows = ["(%d, '%s', '%s', %d, %d)" % (i, ORGS[i % len(ORGS)], rnd.choice(STATUSES),
                                          rnd.randrange(1000), rnd.randrange(3))
            for i in range(1, ROWS + 1)]
    carriers = ["('c-%d', 'C%d')" % (i, i) for i in range(8)]
    return ("INSERT INTO shipments VALUES %s;\nINSERT INTO carriers VALUES %s;\n"
            % (",".join(rows), ",".join(carriers)))


def live_ids():
    return [i for i in range(1, ROWS + 1) if ORGS[i % len(ORGS)] in LIVE_ORGS]


def transaction(rnd, next_id):
    """One transaction of a writer: several statements on unfrozen rows only."""
    ids = live_ids()
    lines = ["BEGIN;"]
    for _ in range(rnd.randint(1, 8)):
        op = rnd.random()
        i = rnd.choice(ids)
        if op < 0.5:
            lines.append("UPDATE shipments SET status = '%s', cost = cost + %d, org = '%s', "
                         "version = version + 1 WHERE id = %d;"
                         % (rnd.choice(STATUSES), rnd.randrange(50), rnd.choice(LIVE_ORGS), i))
        elif op < 0.65:
            lines.append("DELETE FROM shipments WHERE id = %d;" % i)
            lines.append("INSERT INTO shipments VALUES (%d, '%s', 'new', %d) ON CONFLICT (id) "
                         "DO NOTHING;" % (i, rnd.choice(LIVE_ORGS), rnd.randrange(1000)))
        elif op < 0.85:
            lines.append("INSERT INTO shipments VALUES (%d, '%s', 'new', %d) ON CONFLICT (id) "
                         "DO NOTHING;" % (next_id(), rnd.choice(LIVE_ORGS), rnd.randrange(1000)))
        else:
            lines.append("INSERT INTO carriers VALUES ('c-%d', 'N%d') ON CONFLICT (id) DO UPDATE "
                         "SET name = excluded.name;" % (rnd.randrange(3, 8), rnd.randrange(99)))
    lines.append("COMMIT;" if rnd.random() < 0.9 else "ROLLBACK;")
    return "\n".join(lines) + "\n"


class Writers:
    """Writers on several connections committing transactions until stopped (each a psql
    session reading its transactions from a pipe)."""

    def __init__(self, dsn, count, seed):
        self.dsn, self.count, self.seed = dsn, count, seed
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.committed = 0
        self.next = 100000
        self.problems = []
        self.threads = [threading.Thread(target=self.run, args=(w,), daemon=True)
                        for w in range(count)]

    def next_id(self):
        with self.lock:
            self.next += 1
            return self.next

    def run(self, w):
        rnd = random.Random(self.seed + w)
        while not self.stop.is_set():
            script = "".join(transaction(rnd, self.next_id) for _ in range(5))
            r = subprocess.run(["psql", self.dsn, "-X", "-q", "-v", "ON_ERROR_STOP=0"],
                               input=script, capture_output=True, text=True)
            if r.returncode != 0:
                self.problems.append("writer %d: psql exit %d: %s" % (w, r.returncode, r.stderr))
                return
            with self.lock:
                self.committed += 5

    def start(self):
        for t in self.threads:
            t.start()

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(timeout=300)


def oracle(source):
    """The views as PostgreSQL computes them from the source tables."""
    return {
        "shipment_list": source.rows("SELECT id, org, status, cost, version FROM shipments "
                                     "ORDER BY id"),
        "carrier_list": source.rows("SELECT id, name FROM carriers ORDER BY id"),
        "by_org": source.rows("SELECT org, count(*), sum(cost) FROM shipments GROUP BY org "
                              "ORDER BY org"),
    }


def views_of(store):
    return {
        "shipment_list": store.rows("SELECT id, org, status, cost, changes FROM shipment_list "
                                    "ORDER BY id"),
        "carrier_list": store.rows("SELECT id, name FROM carrier_list ORDER BY id"),
        "by_org": store.rows("SELECT org, n, cost FROM by_org ORDER BY org"),
    }


def compare(problems, what, store, source):
    want, got = oracle(source), views_of(store)
    for view in want:
        w = [tuple(str(v) for v in r) for r in want[view]]
        g = [tuple(str(v) for v in r) for r in got[view]]
        if w != g:
            diff = sorted(set(w) ^ set(g))[:6]
            problems.append("%s: %s differs from the oracle (%d rows vs %d), e.g. %s"
                            % (what, view, len(g), len(w), diff))


def corrupt(store):
    """One UPDATE, one DELETE, one INSERT on each view, on frozen rows; returns what verify
    must name, all of it and o5's."""
    ships = active_table(store, "shipment_list")
    groups = active_table(store, "by_org")
    carriers = active_table(store, "carrier_list")
    o5 = sorted(int(r[0]) for r in store.rows("SELECT id FROM %s WHERE org = 'o5'" % ships))
    o6 = sorted(int(r[0]) for r in store.rows("SELECT id FROM %s WHERE org = 'o6'" % ships))
    changed, deleted = o5[2], o6[4]
    store.execute(
        "UPDATE {s} SET status = 'corrupt' WHERE id = {changed};"
        "DELETE FROM {s} WHERE id = {deleted};"
        "INSERT INTO {s} (id, org, status, cost, changes) VALUES (999999, 'o5', 'new', 7, 0);"
        "UPDATE {g} SET n = n + 5 WHERE org = 'o5';"
        "DELETE FROM {g} WHERE org = 'o6';"
        "INSERT INTO {g} (org, n, cost) VALUES ('ghost', 1, 1);"
        "UPDATE {cr} SET name = 'corrupt' WHERE id = 'c-0';"
        "DELETE FROM {cr} WHERE id = 'c-1';"
        "INSERT INTO {cr} (id, name) VALUES ('c-ghost', 'nobody');".format(
            s=ships, g=groups, cr=carriers, changed=changed, deleted=deleted))
    expected = {
        "shipment_list": {"differing": {str(changed)}, "missing": {str(deleted)},
                          "extra": {"999999"}},
        "by_org": {"differing": {"o5"}, "missing": {"o6"}, "extra": {"ghost"}},
        "carrier_list": {"differing": {"c-0"}, "missing": {"c-1"}, "extra": {"c-ghost"}},
    }
    of_o5 = {
        "shipment_list": {"differing": {str(changed)}, "missing": set(), "extra": {"999999"}},
        "by_org": {"differing": {"o5"}, "missing": set(), "extra": set()},
    }
    return expected, of_o5


def main():
    args, binary, tmp = start_test(__doc__, "sv-verify-changes-", store_kind=True)
    source = Store.create("postgres", tmp, "verify_cdc_source")
    store = Store.create(args.store_kind, tmp, "verify_cdc_store")
    problems = []
    rnd = random.Random(20261206)
    writers = None
    live = None
    try:
        run_sql(source.arg, TABLES + seed_sql(rnd))
        config = os.path.join(tmp, "verify_changes.yaml")
        where = ("dsn: \"%s\"" if store.kind == "postgres" else "path: %s") % store.arg
        with open(config, "w") as f:
            f.write(CONFIG.format(store_kind=store.kind, store_where=where, dsn=source.arg,
                                  slot=SLOT, admin=sha(ADMIN)))
        common = ["--config", config, "--store", store.arg]

        cli = cli_runner(binary, common)

        cli("run", "--exit-when-caught-up")
        compare(problems, "after the first run", store, source)

        # Transactions waiting in the slot: the views stand behind the snapshot verify takes.
        rnd_pending = random.Random(7)
        counter = [200000]

        def pending_id():
            counter[0] += 1
            return counter[0]
        run_sql(source.arg, "".join(transaction(rnd_pending, pending_id) for _ in range(40)))
        before = committed_position(store)
        r = cli("verify", codes=(0, 1))
        reports = source_lines(r.stdout)
        if r.returncode != 0 or not clean(reports) or set(reports) != {
                "shipment_list", "carrier_list", "by_org"}:
            problems.append("verify with transactions waiting in the slot: exit %d: %s %s"
                            % (r.returncode, r.stdout, r.stderr[-1500:]))
        if committed_position(store) <= before:
            problems.append("verify did not bring the views past the snapshot (position %s, "
                            "before %s)" % (committed_position(store), before))
        compare(problems, "after a verify that ran the stream", store, source)
        print("verify with changes waiting in the slot: clean, position %s -> %s"
              % (before, committed_position(store)))

        # Corrupted behind the engine's back: verify names exactly those keys.
        expected, of_o5 = corrupt(store)
        run_sql(source.arg, "".join(transaction(rnd_pending, pending_id) for _ in range(10)))
        check_corrupted(problems, cli, expected)
        check_tenant_then_repair(problems, cli, "o5", of_o5, "carrier_list",
                                 {"shipment_list": 3, "carrier_list": 3, "by_org": 3})
        compare(problems, "after verify --repair", store, source)

        # Live: verify while writers commit transactions all along.
        hold = os.path.join(tmp, "hold-the-fold")
        open(hold, "w").close()
        live = LiveVerify(binary, common, os.path.join(tmp, "run.log"), ADMIN,
                          env=dict(os.environ, SV_TEST_TENANT_FOLD_HOLD=hold))

        def marker_applied(marker):
            """A carrier written now is in the view: the engine applied everything before it."""
            run_sql(source.arg, "INSERT INTO carriers VALUES ('%s', 'm') ON CONFLICT (id) DO "
                                "NOTHING;" % marker)
            live.wait(lambda: store.query("SELECT count(*) FROM %s WHERE id = '%s'"
                                          % (active_table(store, "carrier_list"), marker)) == 1,
                      "marker %s applied" % marker)

        live.wait_ready()
        writers = Writers(source.arg, 3, 500)
        writers.start()
        live.wait(lambda: writers.committed >= 30 or writers.problems,
                  "the writers' first transactions")
        code, body, _ = live.call("POST", "/views/verify")
        if code != 202:
            problems.append("POST /views/verify: %s %s" % (code, body))
        # Transactions committed after the verify began (so after its snapshot, or straddling
        # it), applied by the loop while the fold is held.
        committed = writers.committed
        live.wait(lambda: writers.committed >= committed + 30 or writers.problems,
                  "transactions committed during the verify")
        marker_applied("m-during")
        if (live.status() or {}).get("state") != "running":
            problems.append("the verify ended while its fold was held: %s" % live.status())
        os.remove(hold)
        status = live.ended(1)
        reports = reports_of(status)
        if status["state"] != "clean" or not clean(reports) or len(reports) != 3:
            problems.append("verify while the source tables are written flagged rows: %s"
                            % status)
        if status.get("events_during_check", 0) <= 0:
            problems.append("the verify replayed no records of the loop: %s" % status)
        print("live verify: %s, %d records folded, %d of them from the loop after the snapshot"
              % (status["state"], status.get("events", 0), status.get("events_during_check", 0)))

        # A carrier corrupted under the running engine (c-2: no writer touches it).
        store.execute("UPDATE %s SET name = 'corrupt' WHERE id = 'c-2'"
                      % active_table(store, "carrier_list"))
        for runs, path, state in [(2, "/views/verify", "drift"),
                                  (3, "/views/verify?repair=true", "drift")]:
            status, reports = live.run(problems, path, runs)
            if status is None:
                continue
            check_named(problems, "POST %s" % path, reports,
                        {"carrier_list": {"differing": {"c-2"}, "missing": set(),
                                          "extra": set()},
                         "shipment_list": {"differing": set(), "missing": set(), "extra": set()}})
            if status["state"] != state:
                problems.append("POST %s: state %s, expected %s" % (path, status["state"], state))
        writers.finish()
        problems.extend(writers.problems)
        marker_applied("m-end")
        # The tables idle: only a heartbeat moves the stream past the snapshot.
        code, body, _ = live.call("POST", "/views/verify")
        status = live.ended(4) if code == 202 else {"state": "not started: %s %s"
                                                              % (code, body)}
        if status["state"] != "clean":
            problems.append("verify with the tables idle: %s" % status)
        print("after the repair, with the tables idle: %s" % status["state"])
    finally:
        if writers is not None:
            writers.finish()
        if live is not None:
            live.stop()
    compare(problems, "at the end", store, source)
    if source.query("SELECT count(*) FROM pg_replication_slots WHERE slot_name LIKE "
                    "'sv_snapshot_%' AND database = current_database()") != 0:
        problems.append("a verify's temporary slot outlived it")
    result = verdict(problems, tmp)
    drop_change_feed(source, store, SLOT)
    return result


if __name__ == "__main__":
    sys.exit(main())
