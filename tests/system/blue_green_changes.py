#!/usr/bin/env python3
"""Blue/green with a changed definition (`previous:`) of a view fed by a PostgreSQL change feed
(issue 19 item 4).

The source table `items` (id, amount, version) is changed by one writer committing transactions
the whole time (updates of a few rows, deletes, inserts; each also sets the row `~clock` to the
transaction's number), so the test knows the table after every commit. The view `items`:
version 1 labels its rows 'v1', version 2 'v2' and keeps `amount * 10` in `scaled`; both count in
`changes` the updates applied on top of a row's `version` at its insert or snapshot, so a row
equals the oracle only if no transaction reached that version twice or never. (Versions below
are the config's; the store numbers its own: the first start built the view from a snapshot, so
the config's version 1 is the store's second.)

1. The engine runs the v1 config under the writer.
2. It restarts with the v2 config (v1's definition under `previous:`): it serves version 1 at
   once and builds version 2 beside the loop from a new snapshot of the table (a temporary slot
   beside the live one), held after it (SV_TEST_TENANT_FOLD_HOLD) until the writer has
   committed more transactions: version 1 keeps being updated (reads advance), the snapshot's
   temporary slot is gone once it is read (nothing held on the source while the build waits),
   promotion is refused (409).
3. kill -9 during the build; the restarted engine serves version 1 and builds version 2 again.
4. The hold released: version 2 is built from its snapshot plus the transactions the loop
   applied after it (the progress line counts them: more than none), and becomes a maintained
   candidate.
5. POST promote under load (validated), POST rollback, POST promote.
6. The writer stopped: each version's table equals its own oracle of every transaction, and
   every read taken meanwhile equals the oracle of its label after the transaction its `~clock`
   row names. No temporary slot is left.

    blue_green_changes.py --binary build/src/cli/streamview [--store-kind sqlite|postgres]
"""

import os
import random
import re
import shutil
import signal
import subprocess
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from blue_green import TOKEN, Server, check, post  # noqa: E402
from blue_green_definition import log_count, log_has, versions_http  # noqa: E402
from harness import drop_change_feed, http_json, run_sql, start_test, wait_until  # noqa: E402
from stores import Store  # noqa: E402

SLOT = "sv_bg_cdc_%d" % os.getpid()
ROWS = 300
CLOCK = "~clock"

TABLES = "CREATE TABLE items (id text PRIMARY KEY, amount integer NOT NULL, " \
         "version integer NOT NULL DEFAULT 0);\n"

SOURCE = """
sources:
  shop:
    kind: postgres_changes
    dsn: "%(dsn)s"
    slot: %(slot)s
    tables: [items]
views:
  items:
"""

V1_BODY = """version: 1
source: shop
key: [id]
columns:
  id: text
  amount: integer
  label: text
  changes: integer
on:
  "*":
    set: {id: e.id, label: "'v1'"}
  items.insert:
    set: {amount: e.amount, changes: e.version}
  items.update:
    set: {amount: e.amount, changes: "coalesce(changes, 0) + 1"}
  items.delete:
    delete: true
"""

V2_BODY = """version: 2
source: shop
key: [id]
columns:
  id: text
  amount: integer
  label: text
  changes: integer
  scaled: integer
on:
  "*":
    set: {id: e.id, label: "'v2'"}
  items.insert:
    set: {amount: e.amount, changes: e.version, scaled: "e.amount * 10"}
  items.update:
    set: {amount: e.amount, changes: "coalesce(changes, 0) + 1", scaled: "e.amount * 10"}
  items.delete:
    delete: true
"""


def indent(text, by):
    return "".join(" " * by + line + "\n" for line in text.rstrip("\n").split("\n"))


def configs(dsn):
    head = SOURCE % {"dsn": dsn, "slot": SLOT}
    v1 = head + indent(V1_BODY, 4)
    v2 = head + indent(V2_BODY, 4) + "    previous:\n" + indent(V1_BODY, 6)
    return v1, v2


class Table:
    """The source table as the test wrote it: {id: (amount, version)} after each transaction."""

    def __init__(self, rnd):
        self.rows = {"k%03d" % i: (rnd.randrange(1000), rnd.randrange(3)) for i in range(ROWS)}
        self.rows[CLOCK] = (0, 0)
        self.states = [dict(self.rows)]  # states[k]: after k transactions

    def seed_sql(self):
        return "INSERT INTO items VALUES %s;\n" % ",".join(
            "('%s', %d, %d)" % (i, a, v) for i, (a, v) in sorted(self.rows.items()))

    def transaction(self, rnd, next_id):
        """The SQL of the next transaction; the table after it is appended to `states` by
        commit() once it is known to have committed."""
        rows = dict(self.states[-1])
        k = len(self.states)
        lines = ["BEGIN;"]
        for _ in range(rnd.randint(1, 5)):
            op = rnd.random()
            ids = sorted(i for i in rows if i != CLOCK)
            i = rnd.choice(ids)
            if op < 0.7:
                amount = rnd.randrange(1000)
                lines.append("UPDATE items SET amount = %d, version = version + 1 WHERE id = "
                             "'%s';" % (amount, i))
                rows[i] = (amount, rows[i][1] + 1)
            elif op < 0.85:
                lines.append("DELETE FROM items WHERE id = '%s';" % i)
                del rows[i]
            else:
                new, amount = "n%06d" % next_id(), rnd.randrange(1000)
                lines.append("INSERT INTO items VALUES ('%s', %d, 0);" % (new, amount))
                rows[new] = (amount, 0)
        lines.append("UPDATE items SET amount = %d, version = version + 1 WHERE id = '%s';"
                     % (k, CLOCK))
        rows[CLOCK] = (k, rows[CLOCK][1] + 1)
        lines.append("COMMIT;")
        return "\n".join(lines) + "\n", rows


def oracle(state, label):
    return {i: (a, label, v, a * 10 if label == "v2" else None) for i, (a, v) in state.items()}


class Writer:
    """One connection's transactions, in order, until stopped (psql reading them from a pipe, a
    few per call): table.states grows by one per committed transaction."""

    def __init__(self, dsn, table):
        self.dsn, self.table = dsn, table
        self.rnd = random.Random(2026)
        self.next = 0
        self.problems = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.loop)
        self.thread.start()

    def next_id(self):
        self.next += 1
        return self.next

    def loop(self):
        while not self.stop.is_set():
            script = ""
            for _ in range(4):
                sql, rows = self.table.transaction(self.rnd, self.next_id)
                # Counted before psql returns: reads are checked once the writer stopped.
                self.table.states.append(rows)
                script += sql
            r = subprocess.run(["psql", self.dsn, "-X", "-q", "-v", "ON_ERROR_STOP=1"],
                               input=script, capture_output=True, text=True)
            if r.returncode != 0:
                self.problems.append("writer: psql exit %d: %s" % (r.returncode, r.stderr))
                return

    def transactions(self):
        return len(self.table.states) - 1

    def close(self):
        self.stop.set()
        self.thread.join()


class Reader:
    """Whole-view reads over REST (one snapshot each): (transaction number, label, rows)."""

    def __init__(self, port_of):
        self.port_of = port_of
        self.reads, self.problems = [], []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.loop)
        self.thread.start()

    def loop(self):
        while not self.stop.is_set():
            # One page (the server's largest) holds the whole view: about ROWS rows.
            status, body, _ = http_json(self.port_of(), "/views/items?limit=1000", timeout=30)
            if status is None or status == 503:
                self.stop.wait(0.05)  # the server is restarting
                continue
            if status != 200:
                self.problems.append("%s: %s" % (status, body))
                continue
            rows = {r["id"]: (r["amount"], r["label"], r["changes"], r.get("scaled"))
                    for r in body["items"]}
            labels = {r[1] for r in rows.values()}
            if len(labels) != 1 or CLOCK not in rows or body.get("next_cursor"):
                self.problems.append("a read mixes versions or misses the clock: %s"
                                     % sorted(labels))
                continue
            self.reads.append((rows[CLOCK][0], labels.pop(), rows))

    def last(self):
        return self.reads[-1][0] if self.reads else -1

    def labels_since(self, start):
        return {r[1] for r in self.reads[start:]}

    def close(self):
        self.stop.set()
        self.thread.join()

    def check(self, states):
        problems = list(self.problems)
        for k, label, seen in self.reads:
            if k >= len(states):
                problems.append("a read stands at transaction %d, past the %d committed"
                                % (k, len(states) - 1))
                continue
            expected = oracle(states[k], label)
            if seen != expected:
                differing = sorted(i for i in set(seen) | set(expected)
                                   if seen.get(i) != expected.get(i))
                problems.append("a read (%s) at transaction %d differs from its oracle at %s: "
                                "%s vs %s" % (label, k, differing[:3],
                                              [seen.get(i) for i in differing[:3]],
                                              [expected.get(i) for i in differing[:3]]))
        return problems


def after_snapshot(log, nth, writer):
    """Waits for the log's `nth` snapshot read (the first start's is the first), then returns
    the writer's transactions so far: those after it committed after that snapshot."""
    wait_until(lambda: log_count(log, "change feed snapshot read") >= nth,
               "snapshot %d to be read" % nth, log=log)
    return writer.transactions()


def snapshot_slots(source):
    return source.query("SELECT count(*) FROM pg_replication_slots WHERE slot_name LIKE "
                        "'sv_snapshot_%' AND database = current_database()")


def version_rows(store, table, label):
    scaled = "scaled" if label == "v2" else "NULL"
    return {r[0]: tuple(r[1:]) for r in store.rows(
        "SELECT id, amount, label, changes, %s FROM %s" % (scaled, table))}


def main():
    os.environ["STREAMVIEW_TOKEN"] = TOKEN
    args, b, tmp = start_test(__doc__, "sv-bg-cdc-", store_kind=True)
    source = Store.create("postgres", tmp, "bg_cdc_source")
    store = Store.create(args.store_kind, tmp, "bg_cdc_store")
    table = Table(random.Random(19))
    run_sql(source.arg, TABLES + table.seed_sql())
    v1, v2 = configs(source.arg)
    cfg1, cfg2 = os.path.join(tmp, "v1.yaml"), os.path.join(tmp, "v2.yaml")
    for path, text in ((cfg1, v1), (cfg2, v2)):
        with open(path, "w") as f:
            f.write(text)
    hold = os.path.join(tmp, "hold-build")
    log = os.path.join(tmp, "run.log")
    server = writer = reader = None
    try:
        print("1. v1 under a writer")
        server = Server(b, cfg1, store, log).ready()
        reader = Reader(lambda: server.port)
        writer = Writer(source.arg, table)
        wait_until(lambda: writer.problems or reader.last() >= 40,
                   "the engine to apply the writer's first transactions", log=log)
        check(not writer.problems, "the writer commits (%s)" % writer.problems)
        # The first start built the view from a snapshot: its version is the store's count.
        serve = [n for n, v in versions_http(server).items() if v[0] == "active"][0]
        build = serve + 1
        versions = lambda: {n: v for n, v in versions_http(server).items()  # noqa: E731
                            if n in (serve, build)}

        print("2. restart with the v2 config: v1 serves and is updated while v2 builds")
        server.stop()
        with open(hold, "w"):
            pass
        os.environ["SV_TEST_TENANT_FOLD_HOLD"] = hold
        server = Server(b, cfg2, store, log).ready()
        wait_until(lambda: log_count(log, "folding shop beside the loop") >= 1,
                   "the background build of version 2 to start", log=log)
        check(log_has(log, "version %d (its previous: definition) serves and is kept current; "
                           "version %d (the config's definition) is built beside it"
                      % (serve, build)),
              "the engine said version %d serves while version %d is built" % (serve, build))
        roles = versions()
        check(roles.get(serve, ("",))[0] == "active" and roles.get(build, ("",))[0] == "leftover",
              "version %d active, version %d not yet kept: %s" % (serve, build, roles))
        reads_before = len(reader.reads)
        wait_until(lambda: len(reader.reads) > reads_before, "a read during the build")
        first = reader.reads[reads_before][0]
        after = after_snapshot(log, 2, writer)
        wait_until(lambda: writer.problems or reader.last() >= after + 20,
                   "version 1 to take 20 transactions committed after version 2's snapshot",
                   log=log)
        check(not writer.problems, "the writer commits during the build")
        check(reader.labels_since(reads_before) == {"v1"},
              "reads during the build are v1 (transactions %d to %d)" % (first, reader.last()))
        # The snapshot read, its temporary slot is gone while the build waits (held here).
        wait_until(lambda: snapshot_slots(source) == 0,
                   "the snapshot's temporary slot to go once the snapshot is read", log=log)
        check(os.path.exists(hold) and versions().get(build, ("",))[0] == "leftover",
              "version 2 still builds, without a slot held on the source")
        status, body, _ = post(server, "/views/items/promote")
        check(status == 409 and "being built" in body.get("error", ""),
              "promotion refused while version 2 builds: %s" % body.get("error"))

        print("3. kill -9 during the build; the restart serves v1 and builds v2 again")
        server.proc.kill()
        server.proc.wait()
        server = Server(b, cfg2, store, log).ready()
        wait_until(lambda: log_count(log, "folding shop beside the loop") >= 2,
                   "the build to start again", log=log)
        after = after_snapshot(log, 3, writer)
        wait_until(lambda: writer.problems or reader.last() >= after + 20,
                   "the restarted engine to apply transactions committed after the snapshot",
                   log=log)
        check(reader.labels_since(reads_before) == {"v1"}, "reads are still v1")

        print("4. the build released: v2 a maintained candidate")
        os.remove(hold)
        wait_until(lambda: log_has(log, "version %d is built and kept current" % build),
                   "version 2 built", log=log)
        with open(log) as f:
            tails = re.findall(r"rebuild items for every organization: \d+ events folded \((\d+) "
                               r"of them applied by the loop", f.read())
        check(tails and int(tails[-1]) > 0,
              "the build took the transactions the loop applied after its snapshot: %s" % tails)
        check(versions() == {serve: ("active", False, False), build: ("candidate", True, False)},
              "version %d is a maintained candidate beside the serving version %d: %s"
              % (build, serve, versions()))
        at = reader.last()
        wait_until(lambda: writer.problems or reader.last() >= at + 20,
                   "transactions applied after the build", log=log)

        print("5. promote, rollback, promote under load")
        status, body, _ = post(server, "/views/items/promote")
        check(status == 200 and body["active_version"] == build, "POST promote: %s" % body)
        reads_at = len(reader.reads)
        wait_until(lambda: len(reader.reads) >= reads_at + 3, "reads after the promotion")
        check(reader.labels_since(reads_at + 1) == {"v2"}, "reads are v2 after it")
        check(versions() == {serve: ("standby", True, False), build: ("active", False, False)},
              "version %d is kept current for a rollback: %s" % (serve, versions()))
        at = reader.last()
        wait_until(lambda: writer.problems or reader.last() >= at + 20,
                   "transactions applied after the promotion", log=log)
        status, body, _ = post(server, "/views/items/rollback")
        check(status == 200 and body["active_version"] == serve, "POST rollback: %s" % body)
        reads_at = len(reader.reads)
        wait_until(lambda: len(reader.reads) >= reads_at + 3, "reads after the rollback")
        check(reader.labels_since(reads_at + 1) == {"v1"}, "reads are v1 after it")
        at = reader.last()
        wait_until(lambda: writer.problems or reader.last() >= at + 20,
                   "transactions applied after the rollback", log=log)
        status, body, _ = post(server, "/views/items/promote")
        check(status == 200 and body["active_version"] == build,
              "POST promote again: %s" % body)
        reads_at = len(reader.reads)
        at = reader.last()
        wait_until(lambda: writer.problems or (reader.last() >= at + 20
                                               and len(reader.reads) >= reads_at + 3),
                   "transactions applied after the last promotion", log=log)

        print("6. every version and every read against the oracles")
        writer.close()
        check(not writer.problems, "the writer committed %d transactions (%s)"
              % (writer.transactions(), "; ".join(writer.problems)))
        n = writer.transactions()
        writer = None
        wait_until(lambda: reader.last() == n, "the engine to apply every transaction", log=log)
        reader.close()
        states = table.states
        check(version_rows(store, "items__v%d" % serve, "v1") == oracle(states[n], "v1"),
              "version %d equals the v1 oracle of all %d transactions" % (serve, n))
        check(version_rows(store, "items__v%d" % build, "v2") == oracle(states[n], "v2"),
              "version %d equals the v2 oracle of all %d transactions" % (build, n))
        problems = reader.check(states)
        labels = {r[1] for r in reader.reads}
        check(not problems and labels == {"v1", "v2"},
              "%d reads (%s), each equal to its label's oracle at its transaction (%s)"
              % (len(reader.reads), sorted(labels), "; ".join(problems[:3])))
        reader = None
        server.stop()
        server = None
        check(snapshot_slots(source) == 0, "no temporary snapshot slot is left")
    finally:
        if writer is not None:
            writer.close()
        if reader is not None:
            reader.close()
        if server is not None:
            server.proc.send_signal(signal.SIGKILL)
            server.proc.wait()
        os.environ.pop("SV_TEST_TENANT_FOLD_HOLD", None)
        # Even after a failure: a slot left behind would hold the cluster's WAL (the log and
        # the config stay in `tmp`).
        drop_change_feed(source, store, SLOT)
    shutil.rmtree(tmp, ignore_errors=True)
    print("PASSED")


if __name__ == "__main__":
    main()
