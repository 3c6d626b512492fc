#!/usr/bin/env python3
"""Blue/green view versions, through the streamview binary (issue 19 item 4).

A view `items` in two definitions: version 1 labels every row 'v1', version 2 'v2' (a visible
difference, the same columns). A reader thread pages the view over REST the whole time and
asserts that every page is all 'v1' or all 'v2', never a mix.

1. v1 served; the server restarts with the v2 config: v2 is built beside v1 while v1 is served
   (the reader sees v1 pages, then v2 pages, never a mix, never v1 again after v2).
2. `views list` / GET /views/items/versions: v2 active, v1 the standby, not lagging.
3. The running v2 engine refuses to roll back to v1 (a definition it does not run) with 409.
4. Rollback (`views rollback` with the v1 config, then the v1 server): reads are v1 at once.
5. Promote again (`views promote` with the v2 config: validated, the differing labels shown).
6. Same definition under a running engine: POST /views/items/rebuild, then POST rollback and
   POST promote while the reader reads; a write reaches the version the promotion left (it is
   maintained): a rollback to it works at once; after another rebuild, a write makes the
   rebuild's standby (not maintained) lag, and a rollback is refused (409, "lags").
7. `views drop`: the active version is refused, the standby is dropped; `views list` agrees.
8. `rebuild --no-promote` with the v1 config builds a candidate beside the serving v2 version;
   `views promote` switches to it.
9. A candidate kept current under load: a writer appends events the whole time (`ingest`,
   beside the engine); POST /views/items/rebuild?promote=false builds the candidate; events
   keep arriving; the engine is killed (kill -9) once it has applied a few hundred events past
   the build, and restarted: the candidate is still maintained; POST promote succeeds under
   load, and so does POST rollback; then every version's rows equal an oracle folded here from
   every event appended, and every read taken meanwhile (one snapshot each) equals the oracle
   after as many events as it counts: no read mixes versions or positions. `views drop`.

    python3 tests/system/blue_green.py --binary build/src/cli/streamview [--store-kind postgres]
"""

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import tempfile
import threading

from harness import committed_position, free_port, http_json, run_checked, wait_ready, wait_until
from stores import Store

KEYS = 400
TOKEN = "blue-green-token"

CONFIG = """
sources:
  s:
    kind: log
    key: id
    type: type
    event_id: eventId
    event_types: [Set]
views:
  items:
    version: %(version)d
    source: s
    key: [id]
    columns:
      id: text
      amount: integer
      label: text
      events: integer
      total: integer
    api:
      path: /items
    on:
      Set:
        set:
          id: e.id
          amount: e.amount
          label: "'v%(version)d'"
          events: "coalesce(events, 0) + 1"
          total: "coalesce(total, 0) + e.amount"
"""


def check(cond, what):
    if not cond:
        print("FAILED: " + what)
        raise SystemExit(1)
    print("  ok: " + what)


def run(cmd, expect=0):
    return run_checked(cmd, timeout=900, ok_codes=(expect,))[0]


class Reader:
    """Reads /views/items continuously on its own thread, all of it in one page (one read, one
    snapshot). `labels` holds one entry per read ('v1' or 'v2'); a read mixing labels, or
    missing rows, is a problem. (Pages of a cursor walk are separate reads: a walk across a
    switch may see both versions, each page one of them.)"""

    def __init__(self, port_of):
        self.port_of = port_of
        self.labels, self.problems, self.unreachable = [], [], 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.loop)
        self.thread.start()

    def walk(self, port):
        status, body, _ = http_json(port, "/views/items?limit=%d" % (KEYS + 10), timeout=30)
        if status is None or status == 503:
            return None  # the server is restarting
        if status != 200:
            self.problems.append("%s: %s" % (status, body))
            return None
        labels = {r["label"] for r in body["items"]}
        if len(labels) != 1:
            self.problems.append("a read mixes versions: %s" % sorted(labels))
        if len(body["items"]) != KEYS:
            self.problems.append("a read saw %d rows, not %d" % (len(body["items"]), KEYS))
        return labels.pop() if len(labels) == 1 else None

    def loop(self):
        while not self.stop.is_set():
            label = self.walk(self.port_of())
            if label is None:
                self.unreachable += 1
            else:
                self.labels.append(label)

    def count(self):
        return len(self.labels)

    def wait_walks(self, label, n, what):
        """Waits for `n` more complete walks, all seeing `label`."""
        start = self.count()
        wait_until(lambda: self.problems or self.count() >= start + n, what)
        check(not self.problems, "reader: no mixed page (%s)" % "; ".join(self.problems[:3]))
        later = self.labels[start:]
        check(all(l == label for l in later), "%s: %d walks all %s" % (what, len(later), label))

    def close(self):
        self.stop.set()
        self.thread.join()


class Server:
    def __init__(self, b, cfg, store, log):
        self.port = free_port()
        self.log = open(log, "a")
        self.proc = subprocess.Popen(
            [b, "run", "--config", cfg, "--store", store.arg, "--listen",
             "127.0.0.1:%d" % self.port], stdout=subprocess.DEVNULL, stderr=self.log)

    def ready(self):
        wait_ready(self.port, 200, proc=self.proc)
        return self

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        check(self.proc.wait(timeout=120) == 0, "server stopped cleanly")
        self.log.close()


class Writer:
    """Appends Set events the whole time on its own thread, in chunks, each through `streamview
    ingest` (beside the engine, running or not). `events` holds every event appended, in log
    order (a chunk is added once its ingest returned: durable). Bounded: it stops by itself
    after MAX_CHUNKS chunks."""
    CHUNK = 25
    MAX_CHUNKS = 2000

    def __init__(self, b, cfg, store, tmp, events):
        self.b, self.cfg, self.store, self.tmp = b, cfg, store, tmp
        self.events = events
        self.problems = []
        self.rnd = random.Random(19)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.loop)
        self.thread.start()

    def loop(self):
        path = os.path.join(self.tmp, "chunk.ndjson")
        for chunk in range(self.MAX_CHUNKS):
            if self.stop.is_set():
                return
            batch = [{"type": "Set", "id": "k%04d" % self.rnd.randrange(KEYS),
                      "amount": self.rnd.randrange(1, 1000), "eventId": "w%d-%d" % (chunk, i)}
                     for i in range(self.CHUNK)]
            with open(path, "w") as f:
                f.writelines(json.dumps(e) + "\n" for e in batch)
            r = subprocess.run([self.b, "ingest", "--config", self.cfg, "--store",
                                self.store.arg, path], capture_output=True, text=True,
                               timeout=300)
            if r.returncode != 0:
                self.problems.append("ingest failed: " + r.stderr[-500:])
                return
            self.events.extend(batch)

    def close(self):
        self.stop.set()
        self.thread.join()


def fold(events, label):
    """The oracle: items as the view folds `events` (in log order)."""
    rows = {}
    for e in events:
        _, _, n, total = rows.get(e["id"], (None, None, 0, 0))
        rows[e["id"]] = (e["amount"], label, n + 1, total + e["amount"])
    return rows


class SnapshotReader:
    """Reads all of /views/items in one page (one read, one snapshot) continuously, keeping
    each read's rows; check() compares each with the oracle after as many events as the read
    counts (the sum of `events`): a read mixing versions or positions matches no prefix."""

    def __init__(self, port_of):
        self.port_of = port_of
        self.reads, self.problems = [], []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.loop)
        self.thread.start()

    def loop(self):
        while not self.stop.is_set():
            status, body, _ = http_json(self.port_of(), "/views/items?limit=%d" % (KEYS + 10),
                                        timeout=30)
            if status is None or status == 503:
                self.stop.wait(0.05)  # the server is restarting: a back-off, no verdict waits on it
                continue
            if status != 200:
                self.problems.append("%s: %s" % (status, body))
                continue
            rows = {r["id"]: (r["amount"], r["label"], r["events"], r["total"])
                    for r in body["items"]}
            self.reads.append((sum(r[2] for r in rows.values()), rows))

    def close(self):
        self.stop.set()
        self.thread.join()

    def check(self, events, label):
        """Problems of the reads against the oracle folded from `events`."""
        problems = list(self.problems)
        rows = {}
        applied = 0
        for n, seen in sorted(self.reads, key=lambda r: r[0]):
            if n > len(events):
                problems.append("a read counts %d events, more than the %d appended"
                                % (n, len(events)))
                break
            while applied < n:
                e = events[applied]
                _, _, c, total = rows.get(e["id"], (None, None, 0, 0))
                rows[e["id"]] = (e["amount"], label, c + 1, total + e["amount"])
                applied += 1
            if seen != rows:
                differing = sorted(k for k in set(seen) | set(rows) if seen.get(k) != rows.get(k))
                problems.append("a read of %d events differs from the oracle at %s: %s vs %s"
                                % (n, differing[:3], [seen.get(k) for k in differing[:2]],
                                   [rows.get(k) for k in differing[:2]]))
        return problems


def table_rows(store, table):
    return {r[0]: tuple(r[1:]) for r in store.rows(
        "SELECT id, amount, label, events, total FROM %s" % table)}


def versions_cli(b, cfg, store):
    r = run([b, "views", "list", "--config", cfg, "--store", store.arg, "--view", "items",
             "--json"])
    return {int(v["version"]): v for v in map(json.loads, r.stdout.splitlines())}


def roles(versions):
    return {n: v["role"] + ("(lags)" if v["lags"] else "") for n, v in versions.items()}


def post(server, path):
    return http_json(server.port, path, method="POST", body=b"", bearer=TOKEN)


def rebuild_by_engine(server):
    """POST /views/items/rebuild (accepted), then waits for the rebuild's state `done`."""
    status, _, _ = post(server, "/views/items/rebuild")
    check(status == 202, "POST /views/items/rebuild accepted")
    wait_until(lambda: http_json(server.port, "/views/rebuild", bearer=TOKEN)[1]
               .get("state") == "done", "the rebuild to finish")


def append_one(server, appended, event):
    """POSTs one Set event, records it in `appended` and waits until the view shows it."""
    status, _, _ = http_json(server.port, "/events", method="POST", bearer=TOKEN,
                             body=(json.dumps(event) + "\n").encode())
    check(status in (200, 202), "event %s posted" % event["eventId"])
    appended.append(event)
    wait_until(lambda: http_json(server.port, "/views/items/" + event["id"])[1].get("amount")
               == event["amount"], "event %s applied" % event["eventId"])


def main():
    os.environ["STREAMVIEW_TOKEN"] = TOKEN  # the ops routes' bearer token
    p = argparse.ArgumentParser()
    p.add_argument("--binary", required=True)
    p.add_argument("--store-kind", default="sqlite", choices=["sqlite", "postgres"])
    a = p.parse_args()
    b = a.binary
    tmp = tempfile.mkdtemp(prefix="sv-blue-green-")
    store = Store.create(a.store_kind, tmp, "bluegreen")
    cfg = {}
    for version in (1, 2):
        cfg[version] = os.path.join(tmp, "v%d.yaml" % version)
        with open(cfg[version], "w") as f:
            f.write(CONFIG % {"version": version})
    events = os.path.join(tmp, "events.ndjson")
    appended = [{"type": "Set", "id": "k%04d" % (i % KEYS), "amount": i, "eventId": "e%d" % i}
                for i in range(KEYS * 3)]  # every event of the log, in order (the oracle's)
    with open(events, "w") as f:
        f.writelines(json.dumps(e) + "\n" for e in appended)
    log = os.path.join(tmp, "run.log")
    server = None
    reader = None
    writer = None
    try:
        run([b, "ingest", "--config", cfg[1], "--store", store.arg, events])
        print("1. v2 is built beside v1 while v1 is served")
        server = Server(b, cfg[1], store, log).ready()
        wait_until(lambda: len(http_json(server.port, "/views/items?limit=%d" % KEYS)[1]
                               .get("items", [])) == KEYS, "v1 to hold every key")
        reader = Reader(lambda: server.port)
        reader.wait_walks("v1", 3, "v1 served")
        server.stop()
        server = Server(b, cfg[2], store, log)  # its start-up rebuild builds v2 beside v1
        server.ready()
        start = reader.count()
        wait_until(lambda: reader.problems or (reader.count() > start
                                               and reader.labels[-1] == "v2"),
                   "reads of v2 after the swap")
        first_v2 = reader.labels.index("v2")
        check(all(l == "v1" for l in reader.labels[:first_v2])
              and all(l == "v2" for l in reader.labels[first_v2:]),
              "reads went from v1 to v2 once (%d v1 walks, then v2)" % first_v2)
        reader.wait_walks("v2", 2, "v2 served")

        print("2. views list: v2 active, v1 its standby")
        listed = versions_cli(b, cfg[2], store)
        check(roles(listed) == {1: "standby", 2: "active"}, "views list: %s" % roles(listed))
        check(listed[1]["config_version"] == 1 and listed[2]["config_version"] == 2
              and listed[1]["rows"] == KEYS and listed[2]["rows"] == KEYS,
              "config versions and row counts listed")
        status, body, _ = http_json(server.port, "/views/items/versions", bearer=TOKEN)
        check(status == 200 and {v["version"]: v["role"] for v in body["versions"]}
              == {1: "standby", 2: "active"}, "GET /views/items/versions agrees: %s" % body)

        print("3. the v2 engine cannot roll back to a definition it does not run")
        status, body, _ = post(server, "/views/items/rollback")
        check(status == 409 and "another definition" in body["error"],
              "POST rollback refused with 409: %s" % body.get("error"))

        print("4. rollback: v1 again, at once")
        server.stop()
        r = run([b, "views", "rollback", "--config", cfg[1], "--store", store.arg, "--view",
                 "items"])
        check("version 1" in r.stdout, "views rollback: %s" % r.stdout.strip())
        check(roles(versions_cli(b, cfg[1], store)) == {1: "active", 2: "candidate"},
              "views list after the rollback")
        server = Server(b, cfg[1], store, log).ready()
        reader.wait_walks("v1", 3, "v1 served right after the rollback")
        check(roles(versions_cli(b, cfg[1], store)) == {1: "active", 2: "candidate"},
              "no rebuild at start: the active version is the config's")

        print("5. promote v2 again, validated")
        server.stop()
        r = run([b, "views", "promote", "--config", cfg[2], "--store", store.arg, "--view",
                 "items", "--sample", "50"])
        check("differs (the definition changed)" in r.stdout and "version 2" in r.stdout,
              "views promote compared the versions:\n" + r.stdout.strip())
        server = Server(b, cfg[2], store, log).ready()
        reader.wait_walks("v2", 3, "v2 served after the promotion")

        print("6. the same definition, switched by the running engine")
        rebuild_by_engine(server)
        reader.wait_walks("v2", 2, "reads during and after the rebuild")
        status, body, _ = post(server, "/views/items/rollback")
        check(status == 200 and body["active_version"] == 2, "POST rollback: %s" % body)
        reader.wait_walks("v2", 2, "reads after the rollback")
        status, body, _ = post(server, "/views/items/promote")
        check(status == 200 and body["active_version"] == 3, "POST promote: %s" % body)
        reader.wait_walks("v2", 2, "reads after the promotion")
        append_one(server, appended, {"type": "Set", "id": "k0001", "amount": -1,
                                      "eventId": "late"})
        # The promotion left version 2 maintained: the event reached it too, and a rollback to
        # it is allowed at once.
        status, body, _ = post(server, "/views/items/rollback")
        check(status == 200 and body["active_version"] == 2,
              "POST rollback to the maintained version 2 after the event: %s" % body)
        check(http_json(server.port, "/views/items/k0001")[1].get("amount") == -1,
              "version 2 holds the event")
        status, body, _ = post(server, "/views/items/promote")
        check(status == 200 and body["active_version"] == 3, "POST promote: %s" % body)
        # A rebuild's standby is not maintained: once an event arrives it lags, and is refused.
        rebuild_by_engine(server)
        append_one(server, appended, {"type": "Set", "id": "k0002", "amount": -2,
                                      "eventId": "late2"})
        status, body, _ = post(server, "/views/items/rollback")
        check(status == 409 and "lags" in body["error"], "a lagging standby is refused: %s"
              % body.get("error"))

        print("7. drop")
        reader.close()
        check(not reader.problems, "the reader never saw a mix: %d walks" % reader.count())
        reader = None
        server.stop()
        server = None
        run([b, "views", "drop", "--config", cfg[2], "--store", store.arg, "--view", "items",
             "--version", "4"], expect=1)
        check(True, "dropping the active version is refused")
        run([b, "views", "drop", "--config", cfg[2], "--store", store.arg, "--view", "items",
             "--version", "3"])
        check(roles(versions_cli(b, cfg[2], store)) == {4: "active"},
              "views list: only the active version is left")
        check("items__v3" not in store.tables(), "its table is gone")

        print("8. built beside, promoted later: rebuild --no-promote, then views promote")
        run([b, "rebuild", "--config", cfg[1], "--store", store.arg, "--view", "items",
             "--no-promote"])
        check(roles(versions_cli(b, cfg[1], store)) == {4: "active", 5: "candidate"},
              "the v1 build is a candidate beside the serving version")
        check(store.rows("SELECT DISTINCT label FROM items") == [("v2",)], "v2 still served")
        run([b, "views", "promote", "--config", cfg[1], "--store", store.arg, "--view", "items"])
        check(roles(versions_cli(b, cfg[1], store)) == {4: "standby", 5: "active"},
              "promoted; the version it replaced is the standby")
        check(store.rows("SELECT DISTINCT label FROM items") == [("v1",)], "v1 served")

        print("9. a candidate kept current under load, across a crash; promote, rollback, drop")
        server = Server(b, cfg[1], store, log).ready()
        writer = Writer(b, cfg[1], store, tmp, appended)
        reader = SnapshotReader(lambda: server.port)
        start = committed_position(store)
        wait_until(lambda: writer.problems or committed_position(store) >= start + 200,
                   "the engine to apply the writer's first events")
        status, body, _ = post(server, "/views/items/rebuild?promote=false")
        check(status == 202, "POST /views/items/rebuild?promote=false accepted: %s" % body)
        wait_until(lambda: http_json(server.port, "/views/rebuild", bearer=TOKEN)[1]
                   .get("state") in ("done", "failed"), "the unpromoted build to finish")
        check(http_json(server.port, "/views/rebuild", bearer=TOKEN)[1]["state"] == "done",
              "the candidate was built")
        built_at = committed_position(store)
        status, body, _ = http_json(server.port, "/views/items/versions", bearer=TOKEN)
        listed = {v["version"]: v for v in body["versions"]}
        check({n: (v["role"], v["maintained"], v["lags"]) for n, v in listed.items()}
              == {4: ("standby", False, True), 5: ("active", False, False),
                  6: ("candidate", True, False)},
              "version 6 is a maintained candidate beside the serving version 5: %s" % body)
        # The crash: once the engine applied a few hundred events past the build.
        wait_until(lambda: writer.problems or committed_position(store) >= built_at + 300,
                   "events applied after the build")
        server.proc.kill()
        server.proc.wait()
        killed_at = committed_position(store)
        check(killed_at >= built_at + 300, "killed (-9) at position %d, %d past the build"
              % (killed_at, killed_at - built_at))
        server = Server(b, cfg[1], store, log).ready()
        wait_until(lambda: writer.problems or committed_position(store) >= killed_at + 200,
                   "the restarted engine to apply events")
        status, body, _ = http_json(server.port, "/views/items/versions", bearer=TOKEN)
        check({v["version"]: (v["role"], v["maintained"], v["lags"]) for v in body["versions"]}
              .get(6) == ("candidate", True, False),
              "after the restart the candidate is still maintained and current: %s" % body)
        status, body, _ = post(server, "/views/items/promote")
        check(status == 200 and body["active_version"] == 6,
              "POST promote under load: %s" % body)
        promoted_at = committed_position(store)
        wait_until(lambda: writer.problems or committed_position(store) >= promoted_at + 200,
                   "events applied after the promotion")
        status, body, _ = post(server, "/views/items/rollback")
        check(status == 200 and body["active_version"] == 5,
              "POST rollback under load (the version left was maintained): %s" % body)
        rolled_at = committed_position(store)
        wait_until(lambda: writer.problems or committed_position(store) >= rolled_at + 100,
                   "events applied after the rollback")
        writer.close()
        check(not writer.problems, "the writer appended %d events (%s)"
              % (len(appended), "; ".join(writer.problems)))
        writer = None
        wait_until(lambda: sum(r["events"] for r in http_json(
            server.port, "/views/items?limit=%d" % (KEYS + 10))[1].get("items", []))
            == len(appended), "the engine to apply every event")
        reader.close()
        oracle = fold(appended, "v1")
        for version in (5, 6):
            check(table_rows(store, "items__v%d" % version) == oracle,
                  "version %d equals the oracle of all %d events" % (version, len(appended)))
        check(table_rows(store, "items") == oracle, "the served view equals the oracle")
        problems = reader.check(appended, "v1")
        check(not problems and len(reader.reads) > 0,
              "%d reads, each one snapshot equal to the oracle at its position (%s)"
              % (len(reader.reads), "; ".join(problems[:3])))
        reader = None
        server.stop()
        server = None
        run([b, "views", "drop", "--config", cfg[1], "--store", store.arg, "--view", "items",
             "--version", "6"])
        run([b, "views", "drop", "--config", cfg[1], "--store", store.arg, "--view", "items",
             "--version", "4"])
        check(roles(versions_cli(b, cfg[1], store)) == {5: "active"},
              "views drop: only the active version is left")
        check("items__v6" not in store.tables(), "the candidate's table is gone")
    finally:
        if writer is not None:
            writer.close()
        if reader is not None:
            reader.close()
        if server is not None:
            server.proc.kill()
            server.proc.wait()
        store.drop()
    shutil.rmtree(tmp, ignore_errors=True)
    print("PASSED")


if __name__ == "__main__":
    main()
