#!/usr/bin/env python3
"""Per-tenant rebuild of views fed by a PostgreSQL change feed (issue 19 item 2).

The source tables and views are verify_changes.py's: `shipments` (organizations o0..o6) and
`carriers`; `shipment_list` (tenant: org; `changes` counts the updates applied on top of the
row's `version`, so it equals the source's `version` only if no transaction is applied twice or
lost), `carrier_list` (no tenant column) and the derived `by_org`. A change feed keeps no
history: the rebuild folds a new snapshot of its tables (a temporary slot beside the live one),
then the live transactions committed after it (by commit LSN: one straddling it comes whole
from the stream), and swaps the organization's rows once the stream has passed the snapshot.
- Running (`run --listen`): o5's rows of `shipment_list` are corrupted behind the engine's back
  (changed, deleted, a ghost added); writers commit transactions (several rows each, on several
  connections) all along, o5's other rows among them (updates, moves between organizations,
  inserts, deletes). `POST /views/shipment_list/rebuild?tenant=o5` is held after its snapshot
  (SV_TEST_TENANT_FOLD_HOLD) until transactions committed after it are applied by the loop,
  which the rebuild's progress line must count as replayed. Meanwhile a reader reads the frozen
  organization o6 (no writer touches it) from the store over and over: never a row missing or
  changed. After the swap every view equals the oracle PostgreSQL computes from the source
  tables.
- Refusals still say why: a derived view (`by_org`), a view without tenant column
  (`carrier_list`), over HTTP and on the command line.
- Offline, o6 corrupted and transactions waiting in the slot: `streamview rebuild --view
  shipment_list --tenant o6` runs the stream up to its snapshot and restores the oracle. No
  temporary slot is left.

    tenant_rebuild_changes.py --binary build/src/cli/streamview [--store-kind sqlite|postgres]
"""

import argparse
import os
import random
import re
import subprocess
import sys
import tempfile
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (drop_change_feed, free_port, http_json, run_sql, verdict,  # noqa: E402
                     wait_until)
from stores import Store  # noqa: E402
from verify_checks import cli_runner  # noqa: E402
from tenant_rebuild import sha  # noqa: E402
from verify_changes import (ADMIN, CONFIG, ORGS, ROWS, STATUSES, TABLES,  # noqa: E402
                            active_table, compare, seed_sql)

SLOT = "sv_tenant_cdc_%d" % os.getpid()
REBUILT = "o5"
FROZEN = "o6"  # no writer touches its rows: read throughout, never missing
MOVING = ORGS[:6]  # the organizations writers move rows between (o5 among them)


class Writers:
    """Writers on several connections committing transactions until stopped, on every row
    except o6's and the corrupted ones (each a psql session reading its transactions from a
    pipe)."""

    def __init__(self, dsn, count, seed, ids):
        self.dsn, self.ids = dsn, ids
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.committed = 0
        self.next = 100000
        self.problems = []
        self.threads = [threading.Thread(target=self.run, args=(seed + w, w), daemon=True)
                        for w in range(count)]

    def next_id(self):
        with self.lock:
            self.next += 1
            return self.next

    def transaction(self, rnd):
        lines = ["BEGIN;"]
        for _ in range(rnd.randint(1, 8)):
            op = rnd.random()
            i = rnd.choice(self.ids)
            if op < 0.55:
                lines.append("UPDATE shipments SET status = '%s', cost = cost + %d, org = '%s', "
                             "version = version + 1 WHERE id = %d;"
                             % (rnd.choice(STATUSES), rnd.randrange(50), rnd.choice(MOVING), i))
            elif op < 0.7:
                lines.append("DELETE FROM shipments WHERE id = %d;" % i)
                lines.append("INSERT INTO shipments VALUES (%d, '%s', 'new', %d) ON CONFLICT "
                             "(id) DO NOTHING;" % (i, rnd.choice(MOVING), rnd.randrange(1000)))
            elif op < 0.9:
                lines.append("INSERT INTO shipments VALUES (%d, '%s', 'new', %d) ON CONFLICT "
                             "(id) DO NOTHING;"
                             % (self.next_id(), rnd.choice(MOVING), rnd.randrange(1000)))
            else:
                lines.append("INSERT INTO carriers VALUES ('c-%d', 'N%d') ON CONFLICT (id) DO "
                             "UPDATE SET name = excluded.name;"
                             % (rnd.randrange(3, 8), rnd.randrange(99)))
        lines.append("COMMIT;" if rnd.random() < 0.9 else "ROLLBACK;")
        return "\n".join(lines) + "\n"

    def run(self, seed, w):
        rnd = random.Random(seed)
        while not self.stop.is_set():
            script = "".join(self.transaction(rnd) for _ in range(5))
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


def corrupt(store, org):
    """Changes, deletes and adds rows of `org` in the active table of `shipment_list`; returns
    the ids touched (no writer may touch them afterwards)."""
    ships = active_table(store, "shipment_list")
    ids = sorted(int(r[0]) for r in store.rows("SELECT id FROM %s WHERE org = '%s'"
                                               % (ships, org)))
    changed, deleted = ids[:4], ids[4:7]
    store.execute(
        "UPDATE {s} SET status = 'corrupt', changes = 99 WHERE id IN ({c});"
        "DELETE FROM {s} WHERE id IN ({d});"
        "INSERT INTO {s} (id, org, status, cost, changes) VALUES (99999{n}, '{o}', 'new', 7, "
        "0);".format(
            s=ships, o=org, n=ORGS.index(org),
            c=",".join(map(str, changed)), d=",".join(map(str, deleted))))
    return set(changed) | set(deleted)


class FrozenReader(threading.Thread):
    """Reads the frozen organization's rows from the store until stopped: every read must
    equal the first."""

    def __init__(self, store, org):
        super().__init__(daemon=True)
        self.store, self.org = store, org
        self.stop = threading.Event()
        self.reads = 0
        self.problems = []

    def read(self):
        ships = active_table(self.store, "shipment_list")
        groups = active_table(self.store, "by_org")
        rows = self.store.rows("SELECT id, org, status, cost, changes FROM %s WHERE org = '%s' "
                               "ORDER BY id" % (ships, self.org))
        group = self.store.rows("SELECT org, n, cost FROM %s WHERE org = '%s'"
                                % (groups, self.org))
        return [tuple(map(str, r)) for r in rows], [tuple(map(str, r)) for r in group]

    def run(self):
        first = self.read()
        while not self.stop.is_set():
            now = self.read()
            self.reads += 1
            if now != first and len(self.problems) < 5:
                self.problems.append(
                    "%s's rows changed during the rebuild of another organization: %d rows "
                    "(first read %d), group %s (first %s), e.g. %s"
                    % (self.org, len(now[0]), len(first[0]), now[1], first[1],
                       sorted(set(now[0]) ^ set(first[0]))[:4]))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--binary", required=True)
    ap.add_argument("--store-kind", default="sqlite", choices=["sqlite", "postgres"])
    args = ap.parse_args()
    binary = os.path.abspath(args.binary)
    tmp = tempfile.mkdtemp(prefix="sv-tenant-cdc-")
    source = Store.create("postgres", tmp, "tenant_cdc_source")
    store = Store.create(args.store_kind, tmp, "tenant_cdc_store")
    problems = []
    rnd = random.Random(20261207)
    writers = None
    reader = None
    proc = None
    log = None
    try:
        run_sql(source.arg, TABLES + seed_sql(rnd))
        config = os.path.join(tmp, "tenant_rebuild_changes.yaml")
        where = ("dsn: \"%s\"" if store.kind == "postgres" else "path: %s") % store.arg
        with open(config, "w") as f:
            f.write(CONFIG.format(store_kind=store.kind, store_where=where, dsn=source.arg,
                                  slot=SLOT, admin=sha(ADMIN)))
        common = ["--config", config, "--store", store.arg]
        cli = cli_runner(binary, common)

        cli("run", "--exit-when-caught-up")
        compare(problems, "after the first run", store, source)
        touched = corrupt(store, REBUILT)
        frozen_ids = {i for i in range(1, ROWS + 1) if ORGS[i % len(ORGS)] == FROZEN}
        writable = [i for i in range(1, ROWS + 1) if i not in frozen_ids and i not in touched]

        hold = os.path.join(tmp, "hold-the-fold")
        open(hold, "w").close()
        port = free_port()
        log = open(os.path.join(tmp, "run.log"), "w")
        proc = subprocess.Popen([binary, "run", "--listen", "127.0.0.1:%d" % port] + common,
                                stdout=log, stderr=subprocess.STDOUT,
                                env=dict(os.environ, SV_TEST_TENANT_FOLD_HOLD=hold))

        def call(method, path):
            return http_json(port, path, method=method, bearer=ADMIN, timeout=120)

        def progress():
            code, body, _ = call("GET", "/views/rebuild")
            return body if code == 200 else {}

        def marker_applied(marker):
            """A carrier written now is in the view: the engine applied everything before it."""
            run_sql(source.arg, "INSERT INTO carriers VALUES ('%s', 'm') ON CONFLICT (id) DO "
                                "NOTHING;" % marker)
            wait_until(lambda: store.query("SELECT count(*) FROM %s WHERE id = '%s'"
                                           % (active_table(store, "carrier_list"), marker)) == 1,
                       "marker %s applied" % marker, proc=proc, log=log.name)

        wait_until(lambda: call("GET", "/health/ready")[0] == 200, "the server to be ready",
                   proc=proc, log=log.name)
        for path, said in [("/views/by_org/rebuild?tenant=o5", "derived"),
                           ("/views/carrier_list/rebuild?tenant=o5", "no tenant column")]:
            code, body, _ = call("POST", path)
            if code != 400 or said not in str((body or {}).get("error")):
                problems.append("POST %s: expected 400 saying '%s', got %s %s"
                                % (path, said, code, body))

        reader = FrozenReader(store, FROZEN)
        reader.start()
        writers = Writers(source.arg, 3, 900, writable)
        writers.start()
        wait_until(lambda: writers.committed >= 30 or writers.problems,
                   "the writers' first transactions", proc=proc, log=log.name)
        code, body, _ = call("POST", "/views/shipment_list/rebuild?tenant=%s" % REBUILT)
        if code != 202 or (body or {}).get("tenant") != REBUILT:
            problems.append("the tenant rebuild was not accepted: %s %s" % (code, body))
        wait_until(lambda: "beside the loop" in progress().get("progress", ""),
                   "the tenant rebuild's fold to begin", proc=proc, log=log.name)
        # Transactions committed after the rebuild began (after its snapshot, or straddling
        # it), applied by the loop while the fold is held.
        committed = writers.committed
        wait_until(lambda: writers.committed >= committed + 30 or writers.problems,
                   "transactions committed during the rebuild", proc=proc, log=log.name)
        marker_applied("m-during")
        if progress().get("state") != "running":
            problems.append("the rebuild ended while its fold was held: %s" % progress())
        reads_then = reader.reads
        wait_until(lambda: reader.reads >= reads_then + 3, "reads of %s during the rebuild"
                   % FROZEN, proc=proc, log=log.name)
        os.remove(hold)
        done = wait_until(lambda: (lambda p: p if p and p.get("state") != "running" else None)(
            progress()), "the tenant rebuild to end", timeout=600, proc=proc, log=log.name)
        if done.get("state") != "done":
            problems.append("the tenant rebuild failed: %s" % done)
        tail = re.search(r"\((\d+) of them applied by the loop", done.get("progress", ""))
        if tail is None or int(tail.group(1)) <= 0:
            problems.append("the rebuild replayed no records of the loop: %s"
                            % done.get("progress"))
        # Its snapshot read o5's rows of `shipments` only (carriers feeds no rebuilt view), and
        # rows moved into o5 after it were read from the snapshot by key before their changes.
        moved = re.search(r"snapshot of its rows of shipments only, (\d+) rows moved into it",
                          done.get("progress", ""))
        if moved is None or int(moved.group(1)) <= 0:
            problems.append("the snapshot was not limited to %s, or no row moved into it was "
                            "read by key: %s" % (REBUILT, done.get("progress")))
        print("live tenant rebuild of %s: %s" % (REBUILT, done.get("progress")))
        writers.finish()
        problems.extend(writers.problems)
        marker_applied("m-end")
        reader.stop.set()
        reader.join(timeout=120)
        problems.extend(reader.problems)
        print("%d reads of %s during the test, %d transactions committed"
              % (reader.reads, FROZEN, writers.committed))
        compare(problems, "after the tenant rebuild under load", store, source)
    finally:
        if writers is not None:
            writers.finish()
        if reader is not None:
            reader.stop.set()
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=120)
        if log is not None:
            log.close()

    # Offline: o6 corrupted, transactions waiting in the slot.
    corrupt(store, FROZEN)
    offline = Writers(source.arg, 1, 77, writable)
    run_sql(source.arg, "".join(offline.transaction(random.Random(5)) for _ in range(20)))
    r = cli("rebuild", "--view", "shipment_list", "--tenant", FROZEN, codes=(0, 1))
    if r.returncode != 0:
        problems.append("rebuild --tenant %s failed: %s" % (FROZEN, r.stderr[-1500:]))
    compare(problems, "after rebuild --tenant %s" % FROZEN, store, source)
    for argv, named in [(["--view", "by_org", "--tenant", "o1"], "by_org"),
                        (["--view", "carrier_list", "--tenant", "o1"], "carrier_list")]:
        r = cli("rebuild", *argv, codes=(0, 1, 2))
        if r.returncode == 0 or named not in r.stderr:
            problems.append("rebuild %s: expected a refusal naming %s, got %d %s"
                            % (" ".join(argv), named, r.returncode, r.stderr[-400:]))
    if source.query("SELECT count(*) FROM pg_replication_slots WHERE slot_name LIKE "
                    "'sv_snapshot_%' AND database = current_database()") != 0:
        problems.append("a tenant rebuild's temporary slot outlived it")
    result = verdict(problems, tmp)
    drop_change_feed(source, store, SLOT)
    return result


if __name__ == "__main__":
    sys.exit(main())
