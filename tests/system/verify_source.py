#!/usr/bin/env python3
"""Verify against the source, with repair (issue 19 items 3 and 6).

Shipments of 12 organizations go into the embedded log (`shipments` declares `tenant: org_id`;
`carriers` has no tenant column; the derived `status_counts` groups shipments per organization
and status with a count, a sum and an average). After a first run, rows are corrupted behind
the engine's back, directly in the store: one column of a base-view row UPDATEd, a row
DELETEd, a bogus row INSERTed, on `shipments`, `carriers` and the derived `status_counts`.
- `streamview verify` exits 1 and names exactly those keys, per view and kind (missing, extra,
  differing), with per-organization counts; `--tenant o-1` names only o-1's;
- `streamview verify --repair` rewrites them: a following verify is clean (exit 0) and every
  view equals the oracle computed from the events this script wrote.
Then with `run --listen`, while a writer keeps POSTing events, `POST /views/verify` is clean
(never flags rows in flight): the fold is held (SV_TEST_TENANT_FOLD_HOLD) until events sent
after the verify began were applied by the loop, so they are compared in both sides; the report
says it replayed them. /metrics exports streamview_view_drift_rows and
streamview_verify_runs_total; a row corrupted under the running engine is found (the metric
says 1), `?repair=true` restores it, and the views equal the oracle at the end.

    verify_source.py --binary build/src/cli/streamview [--store-kind sqlite|postgres]
"""

import json
import os
import random
import re
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import http_get, http_json, start_test, verdict  # noqa: E402
from stores import Store  # noqa: E402
from tenant_rebuild import Oracle, sha  # noqa: E402
from verify_checks import (LiveVerify, active_table, check_corrupted,  # noqa: E402
                           check_named, check_tenant_then_repair, clean, cli_runner,
                           reports_of, source_lines)

ORGS = ["o-%d" % i for i in range(1, 13)]
ADMIN = "key-for-the-admin"

CONFIG = """
store:
  kind: sqlite
  path: {tmp}/unused.db
sources:
  ops:
    key: id
    event_types: [shipment.created, shipment.moved, carrier.upserted]
server:
  auth:
    api_keys:
      - {{sha256: {admin}, role: admin}}
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
    sql: "CREATE VIEW status_counts AS SELECT org_id, status, count(*) AS n, sum(updates) AS total, avg(updates) AS mean FROM shipments GROUP BY org_id, status"
"""


def views_of(store):
    shipments = sorted(store.rows("SELECT id, org_id, status, updates FROM shipments"))
    groups = sorted(store.rows("SELECT org_id, status, n, total FROM status_counts"))
    carriers = sorted(store.rows("SELECT id, name FROM carriers"))
    return shipments, groups, carriers


def compare(problems, what, store, oracle, carriers):
    shipments, groups, stored_carriers = views_of(store)
    for name, got, expected in [("shipments", shipments, oracle.rows()),
                                ("status_counts", groups, oracle.groups()),
                                ("carriers", stored_carriers, sorted(carriers.items()))]:
        if got != [tuple(r) for r in expected]:
            diff = sorted(set(got) ^ set(tuple(r) for r in expected))[:6]
            problems.append("%s: %s differs from the oracle, e.g. %s" % (what, name, diff))


def corrupt(store, oracle):
    """One UPDATE (one column), one DELETE, one INSERT on each view; returns what verify must
    name: {view: {kind: set of keys}} and the keys of o-1 among them."""
    ships = active_table(store, "shipments")
    groups = active_table(store, "status_counts")
    carriers = active_table(store, "carriers")
    o1 = sorted(r[0] for r in store.rows("SELECT id FROM %s WHERE org_id = 'o-1'" % ships))
    o2 = sorted(r[0] for r in store.rows("SELECT id FROM %s WHERE org_id = 'o-2'" % ships))
    changed, deleted = o1[3], o2[5]
    oracle.frozen.add(deleted)  # no more events for it (a move would recreate it half)
    g1 = sorted(store.rows("SELECT org_id, status FROM %s WHERE org_id = 'o-1'" % groups))[0]
    g3 = sorted(store.rows("SELECT org_id, status FROM %s WHERE org_id = 'o-3'" % groups))[0]
    store.execute(
        "UPDATE {s} SET status = 'corrupt' WHERE id = '{changed}';"
        "DELETE FROM {s} WHERE id = '{deleted}';"
        "INSERT INTO {s} (id, org_id, status, updates) VALUES ('ghost-1', 'o-1', 'booked', 7);"
        "UPDATE {g} SET n = n + 5 WHERE org_id = '{g1o}' AND status = '{g1s}';"
        "DELETE FROM {g} WHERE org_id = '{g3o}' AND status = '{g3s}';"
        "INSERT INTO {g} (org_id, status, n, total, mean) VALUES ('o-9', 'bogus', 1, 1, 1.0);"
        "UPDATE {cr} SET name = 'corrupt' WHERE id = 'c-1';"
        "DELETE FROM {cr} WHERE id = 'c-2';"
        "INSERT INTO {cr} (id, name) VALUES ('c-ghost', 'nobody');".format(
            s=ships, g=groups, cr=carriers, changed=changed, deleted=deleted, g1o=g1[0],
            g1s=g1[1], g3o=g3[0], g3s=g3[1]))
    expected = {
        "shipments": {"differing": {changed}, "missing": {deleted}, "extra": {"ghost-1"}},
        "status_counts": {"differing": {"%s,%s" % g1}, "missing": {"%s,%s" % g3},
                          "extra": {"o-9,bogus"}},
        "carriers": {"differing": {"c-1"}, "missing": {"c-2"}, "extra": {"c-ghost"}},
    }
    of_o1 = {
        "shipments": {"differing": {changed}, "missing": set(), "extra": {"ghost-1"}},
        "status_counts": {"differing": {"%s,%s" % g1}, "missing": set(), "extra": set()},
    }
    return expected, of_o1


class Writer(threading.Thread):
    """POSTs batches of events until stopped; counts the batches answered."""

    def __init__(self, port, oracle):
        super().__init__(daemon=True)
        self.port, self.oracle = port, oracle
        self.stop = threading.Event()
        self.batches = 0
        self.last_position = 0
        self.problems = []

    def run(self):
        while not self.stop.is_set():
            events = self.oracle.events(1, 40, orgs=ORGS[:4])
            body = "".join(json.dumps(e) + "\n" for e in events).encode()
            code, answer, _ = http_json(self.port, "/events", method="POST", bearer=ADMIN,
                                        body=body, timeout=60)
            if code != 200:
                self.problems.append("POST /events: %s %s" % (code, answer))
                return
            self.last_position = answer["last_position"]
            self.batches += 1


def metric(port, name, labels):
    """The value of metric `name` whose labels are exactly `labels` on /metrics, or None."""
    code, text = http_get(port, "/metrics")
    if code != 200:
        return None
    for line in text.splitlines():
        m = re.match(r'^([a-z_]+)(?:\{(.*)\})? (\S+)$', line)
        if m is None or m.group(1) != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ""))
        if found == labels:
            return float(m.group(3))
    return None


def main():
    args, binary, tmp = start_test(__doc__, "sv-verify-source-", store_kind=True)
    store = Store.create(args.store_kind, tmp, "verify_source")
    problems = []
    oracle = Oracle(random.Random(20261206))
    config = os.path.join(tmp, "verify_source.yaml")
    with open(config, "w") as f:
        f.write(CONFIG.format(tmp=tmp, admin=sha(ADMIN)))
    common = ["--config", config, "--store", store.arg]

    cli = cli_runner(binary, common)

    carriers = {"c-%d" % i: "C%d" % i for i in range(4)}
    events = oracle.events(40, 900, orgs=ORGS)
    events += [{"type": "carrier.upserted", "id": k, "name": v} for k, v in carriers.items()]
    path = os.path.join(tmp, "a.ndjson")
    with open(path, "w") as f:
        f.writelines(json.dumps(e) + "\n" for e in events)
    cli("ingest", path)
    cli("run", "--exit-when-caught-up")
    compare(problems, "after the first run", store, oracle, carriers)
    r = cli("verify", codes=(0, 1))
    if r.returncode != 0 or not clean(source_lines(r.stdout)):
        problems.append("verify of an untouched store: exit %d: %s" % (r.returncode, r.stdout))

    # Corrupted behind the engine's back: verify names exactly those keys.
    expected, of_o1 = corrupt(store, oracle)
    reports = check_corrupted(problems, cli, expected)
    counts = {o["tenant"]: o for o in reports.get("shipments", {}).get("organizations", [])}
    if counts.get("o-1", {}).get("live") != counts.get("o-1", {}).get("source", -1) + 1 or \
            counts.get("o-2", {}).get("live") != counts.get("o-2", {}).get("source", -1) - 1:
        problems.append("per-organization counts of shipments: o-1 %s, o-2 %s (a ghost in o-1, "
                        "a row gone from o-2)" % (counts.get("o-1"), counts.get("o-2")))
    check_tenant_then_repair(problems, cli, "o-1", of_o1, "carriers",
                             {"shipments": 3, "carriers": 3, "status_counts": 3})
    compare(problems, "after verify --repair", store, oracle, carriers)

    # Live: verify while the stream writes.
    hold = os.path.join(tmp, "hold-the-fold")
    open(hold, "w").close()
    live = LiveVerify(binary, common, os.path.join(tmp, "run.log"), ADMIN,
                      env=dict(os.environ, SV_TEST_TENANT_FOLD_HOLD=hold))
    port = live.port
    writer = Writer(port, oracle)

    def applied(position):
        code, lags, _ = live.call("GET", "/lags")
        return code == 200 and all(p["position"] >= position
                                   for s in lags["sources"] for p in s["partitions"])

    try:
        live.wait_ready()
        code, body, _ = http_json(port, "/views/verify", method="POST")
        if code != 401:
            problems.append("POST /views/verify without a token: %s %s" % (code, body))
        writer.start()
        live.wait(lambda: writer.batches >= 3 or writer.problems, "the writer's first batches")
        code, body, _ = live.call("POST", "/views/verify")
        if code != 202:
            problems.append("POST /views/verify: %s %s" % (code, body))
        code, body, _ = live.call("POST", "/views/verify")
        if code != 409:
            problems.append("a second POST /views/verify while one runs: %s %s" % (code, body))
        # Events sent after the verify began, applied by the loop while the fold is held.
        batches = writer.batches
        live.wait(lambda: writer.batches >= batches + 3 or writer.problems,
                  "batches written during the verify")
        position = writer.last_position
        live.wait(lambda: applied(position), "the events sent during the verify to be applied")
        if (live.status() or {}).get("state") != "running":
            problems.append("the verify ended while its fold was held: %s" % live.status())
        os.remove(hold)
        status = live.ended(1)
        if status["state"] != "clean" or not clean(reports_of(status)):
            problems.append("verify while the stream writes flagged rows: %s" % status)
        if status.get("events_during_check", 0) <= 0:
            problems.append("the verify replayed no events of the loop: %s" % status)
        print("live verify: %s, %d events folded, %d of them applied by the loop meanwhile"
              % (status["state"], status.get("events", 0), status.get("events_during_check", 0)))
        if metric(port, "streamview_verify_runs_total", {}) != 1 or metric(
                port, "streamview_view_drift_rows", {"view": "shipments", "kind": "missing"}) != 0:
            problems.append("/metrics after a clean verify: runs %s, shipments missing %s"
                            % (metric(port, "streamview_verify_runs_total", {}),
                               metric(port, "streamview_view_drift_rows",
                                      {"view": "shipments", "kind": "missing"})))

        # A row corrupted under the running engine (carriers: the writer never touches them).
        store.execute("UPDATE %s SET name = 'corrupt' WHERE id = 'c-3'"
                      % active_table(store, "carriers"))
        for runs, path, state in [(2, "/views/verify", "drift"),
                                  (3, "/views/verify?repair=true", "drift"),
                                  (4, "/views/verify", "clean")]:
            status, reports = live.run(problems, path, runs)
            if status is None:
                continue
            expected = {"carriers": {"differing": {"c-3"}, "missing": set(), "extra": set()}}
            if state == "drift":
                check_named(problems, "POST %s" % path, reports, expected)
            drift = metric(port, "streamview_view_drift_rows",
                           {"view": "carriers", "kind": "differing"})
            if status["state"] != state or drift != (1 if state == "drift" else 0):
                problems.append("POST %s: state %s, drift metric %s (expected %s)"
                                % (path, status["state"], drift, state))
        writer.stop.set()
        writer.join(timeout=120)
        problems.extend(writer.problems)
        live.wait(lambda: applied(writer.last_position), "the writer's events to be applied")
    finally:
        writer.stop.set()
        live.stop()
    compare(problems, "after the live verifies", store, oracle, carriers)

    # On schedule (`verify:` in the config, repair on): a row corrupted under the running engine
    # is put back without anyone asking.
    scheduled = os.path.join(tmp, "scheduled.yaml")
    with open(scheduled, "w") as f:
        f.write(CONFIG.format(tmp=tmp, admin=sha(ADMIN)) +
                "verify:\n  schedule: \"@every 1s\"\n  repair: true\n")
    live = LiveVerify(binary, ["--config", scheduled, "--store", store.arg],
                      os.path.join(tmp, "scheduled.log"), ADMIN)
    try:
        live.wait_ready()
        live.wait(lambda: (live.status() or {}).get("runs", 0) >= 1, "a first scheduled verify")
        table = active_table(store, "carriers")
        store.execute("UPDATE %s SET name = 'corrupt' WHERE id = 'c-0'" % table)
        live.wait(lambda: store.query("SELECT name FROM %s WHERE id = 'c-0'" % table) == "C0",
                  "the scheduled verify to repair c-0")
        print("a scheduled verify repaired a row corrupted under the running engine (%s runs)"
              % live.status().get("runs"))
    except Exception as e:  # noqa: BLE001 - reported as a problem with the log's tail
        problems.append("scheduled verify: %s" % e)
    finally:
        live.stop()
    r = cli("verify", codes=(0, 1))
    if r.returncode != 0 or not clean(source_lines(r.stdout)):
        problems.append("verify at the end: exit %d: %s" % (r.returncode, r.stdout))
    result = verdict(problems, tmp)
    if result == 0:
        store.drop()
    return result


if __name__ == "__main__":
    sys.exit(main())
