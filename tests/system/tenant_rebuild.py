#!/usr/bin/env python3
"""Per-tenant rebuild (issue 19 item 2): one organization out of 20 rebuilt while the stream runs.

Shipments of 20 organizations go into the embedded log; `shipments` declares `tenant: org_id`,
and the derived `status_counts` groups it per organization and status. Every event counts
itself into the row (`updates`), so an event applied twice or lost shows. Organization o-3's
rows are corrupted in the store behind the engine's back (changed, deleted, a ghost added),
then, with `run --listen`:
- the refusals: an organization's key asking for another organization (403) or for every view
  (403), an unknown parameter, a view without tenant column, a derived view (400), no key (401);
- o-3's own key rebuilds `shipments` for o-3 (202) while events keep coming for o-3 and others:
  the fold is held (test hook SV_TEST_TENANT_FOLD_HOLD) until events appended after the rebuild
  began are applied by the loop, so the rebuild must replay that tail before its swap; the
  source declares `organization: org`, so the fold reads o-3's keys' records only, and of the
  tail too (their count, from the events written, is in the progress line);
- meanwhile readers of other organizations (their own keys) read their rows and their groups
  of the derived view over and over: no read fails, and no count, sum of `updates` or position
  ever goes back; while the rebuild still runs they see the events sent during it (the
  oracle's counts); o-3's reads never fail either;
- after the swap and more events, every view (base and derived) equals the oracle computed from
  the events this script wrote, and the progress line says the tail was replayed.
Then offline: o-5 corrupted, `streamview rebuild --view shipments --where "org_id = 'o-5'"`
restores the oracle; bad --where / views are refused naming the view.

    tenant_rebuild.py --binary build/src/cli/streamview
"""

import argparse
import hashlib
import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import decode_position, free_port, http_json, verdict, wait_until  # noqa: E402

ORGS = ["o-%d" % i for i in range(1, 21)]
REBUILT = "o-3"
WATCHED = ["o-1", "o-2", "o-10", "o-20"]  # other organizations, read throughout
ADMIN = "key-for-the-admin"
STATUSES = ["booked", "picked", "in_transit", "delivered", "late"]


def key_of(org):
    return "key-for-" + org


def sha(text):
    return hashlib.sha256(text.encode()).hexdigest()


CONFIG = """
store:
  kind: sqlite
  path: {store}
sources:
  ops:
    key: id
    organization: org
    event_types: [shipment.created, shipment.moved, carrier.upserted]
server:
  auth:
    api_keys:
{keys}
views:
  shipments:
    source: ops
    key: [id]
    tenant: org_id
    columns:
      id: text
      org_id: text
      status: text
      updates: {{type: integer, default: 0}}
    indexes:
      - [org_id, status]
    on:
      shipment.created:
        set: {{id: e.id, org_id: e.org, status: e.status, updates: updates + 1}}
      shipment.moved:
        set: {{id: e.id, status: e.status, updates: updates + 1}}
  carriers:
    source: ops
    key: [id]
    columns:
      id: text
      name: text
    on:
      carrier.upserted:
        set: {{id: e.id, name: e.name}}
derived_views:
  status_counts:
    tenant: org_id
    sql: "CREATE VIEW status_counts AS SELECT org_id, status, count(*) AS n, sum(updates) AS total FROM shipments GROUP BY org_id, status"
"""


class Oracle:
    """The views as the events written so far make them."""

    def __init__(self, rnd):
        self.rnd = rnd
        self.shipments = {}  # id -> [org, status, updates]
        self.records = {}  # id -> its events in the log
        self.next_id = 0
        # Rows deleted behind the engine's back get no more events: a move would make the live
        # loop create a row without organization (a NULL group key the derived view refuses).
        self.frozen = set()

    def create(self, org):
        sid = "s-%05d" % self.next_id
        self.next_id += 1
        status = self.rnd.choice(STATUSES)
        self.shipments[sid] = [org, status, 1]
        self.records[sid] = 1
        return {"type": "shipment.created", "id": sid, "org": org, "status": status}

    def move(self, sid):
        status = self.rnd.choice(STATUSES)
        row = self.shipments[sid]
        row[1] = status
        row[2] += 1
        self.records[sid] += 1
        return {"type": "shipment.moved", "id": sid, "status": status}

    def events(self, creates_per_org, moves, orgs=ORGS):
        out = [self.create(org) for _ in range(creates_per_org) for org in orgs]
        ids = sorted(set(self.shipments) - self.frozen)
        out += [self.move(self.rnd.choice(ids)) for _ in range(moves)]
        return out

    def rows(self):
        return sorted((sid, r[0], r[1], r[2]) for sid, r in self.shipments.items())

    def groups(self):
        g = {}
        for org, status, updates in self.shipments.values():
            n, total = g.get((org, status), (0, 0))
            g[(org, status)] = (n + 1, total + updates)
        return sorted((org, status, n, total) for (org, status), (n, total) in g.items())


def store_views(path):
    db = sqlite3.connect(path, timeout=30)
    try:
        rows = sorted(db.execute("SELECT id, org_id, status, updates FROM shipments"))
        groups = sorted(db.execute("SELECT org_id, status, n, total FROM status_counts"))
    finally:
        db.close()
    return rows, groups


def compare(problems, what, store_path, oracle):
    rows, groups = store_views(store_path)
    expected_rows, expected_groups = oracle.rows(), oracle.groups()
    if rows != expected_rows:
        diff = sorted(set(rows) ^ set(expected_rows))[:6]
        problems.append("%s: shipments differ from the oracle (%d rows vs %d), e.g. %s"
                        % (what, len(rows), len(expected_rows), diff))
    if groups != expected_groups:
        diff = sorted(set(groups) ^ set(expected_groups))[:6]
        problems.append("%s: status_counts differs from the oracle, e.g. %s" % (what, diff))


def corrupt(store_path, org, oracle):
    """Changes, deletes and adds rows of `org` in the active physical table, the engine stopped;
    the deleted ones get no more events (oracle.frozen)."""
    db = sqlite3.connect(store_path, timeout=30)
    try:
        table = db.execute("SELECT table_name FROM sv_view_versions WHERE view = 'shipments' "
                           "AND active").fetchone()[0]
        ids = [r[0] for r in db.execute("SELECT id FROM %s WHERE org_id = ? ORDER BY id" % table,
                                        (org,))]
        for sid in ids[:10]:
            db.execute("UPDATE %s SET status = 'corrupt', updates = 999 WHERE id = ?" % table,
                       (sid,))
        for sid in ids[10:15]:
            db.execute("DELETE FROM %s WHERE id = ?" % table, (sid,))
            oracle.frozen.add(sid)
        db.execute("INSERT INTO %s (id, org_id, status, updates) VALUES (?, ?, 'booked', 7)"
                   % table, ("ghost-" + org, org))
        db.commit()
    finally:
        db.close()


def ingest(binary, config, tmp, lines, name):
    path = os.path.join(tmp, name)
    with open(path, "w") as f:
        f.writelines(json.dumps(line) + "\n" for line in lines)
    r = subprocess.run([binary, "ingest", "--config", config, path], capture_output=True,
                       text=True, timeout=600)
    if r.returncode != 0:
        raise SystemExit("ingest failed: %s" % r.stderr[-800:])


class Http:
    def __init__(self, port):
        self.port = port

    def call(self, method, path, key=None, body=None):
        return http_json(self.port, path, method=method, bearer=key, body=body, timeout=60)


class Reader(threading.Thread):
    """Reads one organization's rows and derived groups with its own key until stopped; keeps
    every failure and every step back."""

    def __init__(self, http, org, monotone):
        super().__init__(daemon=True)
        self.http, self.org, self.monotone = http, org, monotone
        self.stop = threading.Event()
        self.reads = 0
        self.problems = []
        self.last = (0, 0, 0, 0)  # (position, rows, sum of updates, grouped rows) of the last read

    def run(self):
        last = (0, 0, 0, 0)
        while not self.stop.is_set():
            code, body, headers = self.http.call("GET", "/views/shipments?limit=1000",
                                                 key=key_of(self.org))
            code2, body2, _ = self.http.call("GET", "/views/status_counts?limit=1000",
                                             key=key_of(self.org))
            if code != 200 or code2 != 200:
                self.problems.append("%s: a read failed: %s %s / %s %s"
                                     % (self.org, code, body, code2, body2))
                continue
            self.reads += 1
            if any(r["org_id"] != self.org for r in body["items"] + body2["items"]):
                self.problems.append("%s: a read returned another organization's row" % self.org)
            position = decode_position(headers.get("X-StreamView-Position"))
            if not position:
                self.problems.append("%s: a read without a position token" % self.org)
                position = {}
            now = (sum(position.values()), len(body["items"]),
                   sum(r["updates"] for r in body["items"]),
                   sum(r["n"] for r in body2["items"]))
            if self.monotone and any(a < b for a, b in zip(now, last)):
                self.problems.append("%s: a read went back in time: (position, rows, updates, "
                                     "grouped rows) %s after %s" % (self.org, now, last))
            last = self.last = now


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--binary", required=True)
    args = ap.parse_args()
    binary = os.path.abspath(args.binary)
    tmp = tempfile.mkdtemp(prefix="sv-tenant-rebuild-")
    problems = []
    oracle = Oracle(random.Random(20261206))
    store_path = os.path.join(tmp, "t.db")
    keys = "\n".join("      - {sha256: %s, organization: %s}" % (sha(key_of(o)), o) for o in ORGS)
    keys += "\n      - {sha256: %s, role: admin}" % sha(ADMIN)
    config = os.path.join(tmp, "tenant_rebuild.yaml")
    with open(config, "w") as f:
        f.write(CONFIG.format(store=store_path, keys=keys))

    # Before: 20 organizations, built by a first run, then o-3 corrupted behind its back.
    carriers = [{"type": "carrier.upserted", "id": "c-%d" % i, "name": "C%d" % i}
                for i in range(3)]
    ingest(binary, config, tmp, oracle.events(120, 2400) + carriers, "a.ndjson")
    r = subprocess.run([binary, "run", "--config", config, "--exit-when-caught-up"],
                       capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        raise SystemExit("first run failed: %s" % r.stderr[-800:])
    compare(problems, "after the first run", store_path, oracle)
    corrupt(store_path, REBUILT, oracle)

    hold = os.path.join(tmp, "hold-the-fold")
    open(hold, "w").close()
    port = free_port()
    log = open(os.path.join(tmp, "run.log"), "w")
    env = dict(os.environ, SV_TEST_TENANT_FOLD_HOLD=hold)
    proc = subprocess.Popen([binary, "run", "--config", config, "--listen",
                             "127.0.0.1:%d" % port], stdout=log, stderr=subprocess.STDOUT,
                            env=env)
    http = Http(port)
    readers = [Reader(http, org, True) for org in WATCHED] + [Reader(http, REBUILT, False)]
    try:
        wait_until(lambda: http.call("GET", "/health/ready")[0] == 200, "the server to be ready",
                   proc=proc, log=log.name)

        refusals = [
            ("POST", "/views/shipments/rebuild?tenant=o-4", key_of(REBUILT), 403,
             "another organization"),
            ("POST", "/views/rebuild", key_of(REBUILT), 403, "every view by an organization"),
            ("POST", "/views/shipments/rebuild", None, 401, "no key"),
            ("POST", "/views/shipments/rebuild?organization_id=o-1", ADMIN, 400,
             "an unknown parameter"),
            ("POST", "/views/carriers/rebuild?tenant=o-1", ADMIN, 400, "a view without tenant"),
            ("POST", "/views/status_counts/rebuild?tenant=o-1", ADMIN, 400, "a derived view"),
            ("POST", "/views/nosuch/rebuild?tenant=o-1", ADMIN, 404, "no such view"),
        ]
        for method, path, key, status, what in refusals:
            code, body, _ = http.call(method, path, key=key)
            if code != status or not isinstance(body, dict) or "error" not in body:
                problems.append("%s (%s %s): expected %d with a JSON error, got %s %s"
                                % (what, method, path, status, code, body))

        for reader in readers:
            reader.start()
        wait_until(lambda: all(r.reads >= 3 for r in readers), "the readers' first reads",
                   proc=proc, log=log.name)

        # o-3's own key: its organization is implied (an explicit org_id=o-3 is the same).
        code, body, _ = http.call("POST", "/views/shipments/rebuild?org_id=o-3",
                                  key=key_of(REBUILT))
        if code != 202 or body.get("tenant") != REBUILT:
            problems.append("the tenant rebuild was not accepted: %s %s" % (code, body))

        def progress():
            return http.call("GET", "/views/rebuild", key=ADMIN)[1]
        wait_until(lambda: "beside the loop" in (progress() or {}).get("progress", ""),
                   "the tenant rebuild's fold to begin", proc=proc, log=log.name)
        # The fold reads o-3's keys' records only (the source's `organization:` index).
        folded_before = sum(oracle.records[sid] for sid, row in oracle.shipments.items()
                            if row[0] == REBUILT)
        # Events while the fold is held: for o-3 and the others, applied by the loop.
        during = oracle.events(4, 600)
        code, body, _ = http.call("POST", "/events", key=ADMIN,
                                  body="".join(json.dumps(e) + "\n" for e in during).encode())
        if code != 200:
            raise SystemExit("POST /events failed: %s %s" % (code, body))
        last_position = body["last_position"]

        def applied():
            code, lags, _ = http.call("GET", "/lags", key=ADMIN)
            return code == 200 and all(p["position"] >= last_position
                                       for s in lags["sources"] for p in s["partitions"])
        wait_until(applied, "the events sent during the rebuild to be applied", proc=proc,
                   log=log.name)
        if (progress() or {}).get("state") != "running":
            problems.append("the rebuild ended while its fold was held: %s" % progress())
        # Every reader reads a few more times while the rebuild is still running.
        reads_then = [r.reads for r in readers]
        wait_until(lambda: all(r.reads >= n + 3 for r, n in zip(readers, reads_then)),
                   "reads during the rebuild", proc=proc, log=log.name)
        # ... and other organizations see the events sent during it: served and updated.
        for reader in readers[:len(WATCHED)]:
            mine = [r for r in oracle.shipments.values() if r[0] == reader.org]
            expected = (len(mine), sum(r[2] for r in mine), len(mine))
            if reader.last[1:] != expected:
                problems.append("%s during the rebuild: (rows, updates, grouped rows) %s, the "
                                "oracle says %s" % (reader.org, reader.last[1:], expected))
        os.remove(hold)
        done = wait_until(lambda: (lambda p: p if p and p["state"] != "running" else None)(
            progress()), "the tenant rebuild to end", proc=proc, log=log.name)
        if done["state"] != "done":
            problems.append("the tenant rebuild failed: %s" % done)
        # The tail's records of o-3's keys (new ones included); the others' are left aside.
        during_o3 = sum(1 for e in during if oracle.shipments[e["id"]][0] == REBUILT)
        tail_note = "%d events folded (%d of them applied by the loop" % (
            folded_before + during_o3, during_o3)
        if tail_note not in done.get("progress", ""):
            problems.append("the rebuild did not replay the %d events of o-3 in the tail: %s"
                            % (during_o3, done.get("progress")))
        if "the organization's keys only" not in done.get("progress", ""):
            problems.append("the fold did not read the log by its organization index: %s"
                            % done.get("progress"))

        after = oracle.events(2, 300)
        code, body, _ = http.call("POST", "/events", key=ADMIN,
                                  body="".join(json.dumps(e) + "\n" for e in after).encode())
        last_position = body["last_position"]
        wait_until(applied, "the events sent after the rebuild to be applied", proc=proc,
                   log=log.name)
        for reader in readers:
            reader.stop.set()
        for reader in readers:
            reader.join(timeout=120)
            problems.extend(reader.problems[:5])
        print("reads during the test: %s" % {r.org: r.reads for r in readers})
        compare(problems, "after the tenant rebuild under load", store_path, oracle)
    finally:
        for reader in readers:
            reader.stop.set()
        proc.terminate()
        proc.wait(timeout=120)
        log.close()

    # Offline, through the CLI.
    corrupt(store_path, "o-5", oracle)
    r = subprocess.run([binary, "rebuild", "--config", config, "--view", "shipments", "--where",
                        "org_id = 'o-5'"], capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        problems.append("rebuild --where failed: %s" % r.stderr[-800:])
    compare(problems, "after rebuild --where org_id = 'o-5'", store_path, oracle)
    for cli_args, named in [(["--view", "shipments", "--where", "status = 'late'"], "org_id"),
                            (["--view", "carriers", "--tenant", "o-1"], "carriers"),
                            (["--view", "status_counts", "--tenant", "o-1"], "status_counts")]:
        r = subprocess.run([binary, "rebuild", "--config", config] + cli_args,
                           capture_output=True, text=True, timeout=600)
        if r.returncode == 0 or named not in r.stderr:
            problems.append("rebuild %s: expected a refusal naming %s, got %d %s"
                            % (" ".join(cli_args), named, r.returncode, r.stderr[-400:]))
    return verdict(problems, tmp)


if __name__ == "__main__":
    sys.exit(main())
