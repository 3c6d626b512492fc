#!/usr/bin/env python3
"""Derived views under kill -9, checked two independent ways.

The transport example (examples/tms: a shipment list view and seed 000's reporting views as
derived SQL views) over `gen shipments` (duplicates and swaps included): ingest, then several
times start `streamview run` and kill -9 it at a moment chosen by progress (once the store's
committed position reaches a random target past the previous run's; never after a fixed
time), then a final
`run --exit-when-caught-up`. Then:
  1. `streamview verify` — every derived view equals its own SELECT run by the store over the
     base tables (the reconciliation a user runs), and drift is reported when there is some
     (checked by tampering with a copy);
  2. dashboard_counters and carrier_performance equal what this script computes from the
     generated events alone (its own fold of each shipment's lifecycle, its own percentiles).
And over REST, seed 000's list query (one organization, newest first, over the index
[org_id, created_at]) walked by cursor equals the stored rows in that order; without the
organization the sort is a 400 naming the rule.

    python3 tests/system/derived_views.py --binary build/src/cli/streamview --source-dir . \
        [--store-kind sqlite|postgres]
"""

import argparse
import json
import math
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import urllib.parse
from collections import defaultdict
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from harness import (WaitTimeout, close, committed_position, free_port, http_get, kill_targets,
                     run_and_kill_at_position, run_checked, wait_until)
from stores import Store

TIMEOUT_S = 1200


def run(cmd, ok_codes=(0,)):
    return run_checked(cmd, timeout=TIMEOUT_S, ok_codes=ok_codes)[0]


def parse_time(s):
    return datetime.strptime(s.replace("Z", ""), "%Y-%m-%dT%H:%M:%S.%f")


def fold(events_path):
    """Each shipment's final state, from its events in sequence order (duplicates dropped)."""
    by_id = defaultdict(dict)
    with open(events_path) as f:
        for line in f:
            e = json.loads(line)
            by_id[e["shipmentId"]][e["sequence"]] = e
    shipments = {}
    for sid, events in by_id.items():
        s = None
        for seq in sorted(events):
            e = events[seq]
            t, at = e["type"], parse_time(e["occurredAt"])
            if t == "ShipmentCreated":
                s = {"org": e["orgId"], "carrier": e["carrierId"], "status": "Created",
                     "created": at, "promised": parse_time(e["promisedAt"]), "picked": None,
                     "on_time": None, "transit": None}
            elif t == "CarrierAssigned":
                s["carrier"] = e["carrierId"]
            elif t == "StatusChanged":
                s["status"] = e["status"]
                if e["status"] == "PickedUp":
                    s["picked"] = at
                if e["status"] == "Delivered":
                    s["on_time"] = at <= s["promised"]
                    # SQL's round(x, 3): half away from zero (Python's round() is half even).
                    secs = Decimal(int((at - s["picked"]).total_seconds())) if s["picked"] else None
                    s["transit"] = (float((secs / 86400).quantize(Decimal("0.001"), ROUND_HALF_UP))
                                    if secs is not None else None)
            elif t == "ShipmentDeleted":
                s = None
        if s is not None:
            shipments[sid] = s
    return shipments


def percentile_cont(values, p):
    v = sorted(values)
    if not v:
        return None
    pos = p * (len(v) - 1)
    lo = math.floor(pos)
    hi = math.ceil(pos)
    return v[lo] + (v[hi] - v[lo]) * (pos - lo)


def expected_views(shipments):
    dash = defaultdict(lambda: {"shipments": 0, "active": 0, "in_exception": 0, "delivered": 0,
                                "delivered_late": 0, "carriers": set()})
    perf = defaultdict(lambda: {"shipments": 0, "delivered": 0, "on_time": 0, "late": 0,
                                "transit": []})
    for s in shipments.values():
        d = dash[s["org"]]
        d["shipments"] += 1
        d["active"] += s["status"] in ("Created", "PickedUp", "InTransit")
        d["in_exception"] += s["status"] == "Exception"
        d["delivered"] += s["status"] == "Delivered"
        d["delivered_late"] += s["status"] == "Delivered" and s["on_time"] is False
        d["carriers"].add(s["carrier"])
        p = perf[(s["org"], s["created"].strftime("%Y-%m"), s["carrier"])]
        p["shipments"] += 1
        p["delivered"] += s["status"] == "Delivered"
        p["on_time"] += s["on_time"] is True
        p["late"] += s["on_time"] is False
        if s["transit"] is not None:
            p["transit"].append(s["transit"])
    dash_rows = {org: (d["shipments"], d["active"], d["in_exception"], d["delivered"],
                       d["delivered_late"], len(d["carriers"])) for org, d in dash.items()}
    perf_rows = {k: (p["shipments"], p["delivered"], p["on_time"], p["late"],
                     percentile_cont(p["transit"], 0.95)) for k, p in perf.items()}
    return dash_rows, perf_rows


def check_org_newest_first(port, store):
    """Seed 000's list query over REST: one organization, newest first, over the index
    [org_id, created_at], walked page by page with next_cursor; equal to the stored rows in
    (created_at, shipment_id) descending order. Without the organization it is a 400 that says
    why."""
    problems = []
    org = store.rows("SELECT org_id, count(*) FROM shipments_view GROUP BY org_id "
                     "ORDER BY count(*) DESC, org_id LIMIT 1")[0][0]
    want = [r[0] for r in store.rows(
        "SELECT shipment_id FROM shipments_view WHERE org_id = '%s' "
        "ORDER BY created_at DESC, shipment_id DESC" % org)]
    got = []
    cursor = None
    for _ in range(10000):
        path = "/views/shipments_view?org_id=%s&sort=-created_at&limit=37" % org
        status, body = http_get(port, path + ("&cursor=%s" % cursor if cursor else ""))
        if status != 200:
            return ["GET %s: %s %s" % (path, status, body[:300])]
        page = json.loads(body)
        got.extend(item["shipment_id"] for item in page["items"])
        cursor = page.get("next_cursor")
        if not cursor:
            break
    if got != want:
        problems.append("org_id=%s&sort=-created_at walked by cursor: %d rows, %d stored; first "
                        "difference at %s" % (org, len(got), len(want), next(
                            (i for i, (a, b) in enumerate(zip(got, want)) if a != b),
                            min(len(got), len(want)))))
    else:
        print("REST: org_id=%s&sort=-created_at walked by cursor: %d rows, newest first" %
              (org, len(got)))
    status, body = http_get(port, "/views/shipments_view?sort=-created_at")
    if status != 400 or "fixed by an equality filter" not in body:
        problems.append("sort=-created_at without org_id: %s %s (want a 400 naming the rule)"
                        % (status, body[:300]))
    return problems


def check_derived_route(port, store):
    """A derived view on a route of its own (`api: {path: /daily_metrics, time_column: day}`):
    one organization's days walked by page newest first are the stored rows of that
    organization; from=/to= on its time column keep the days in [from, to); a row by its key."""
    problems = []
    org = store.rows("SELECT org_id FROM daily_metrics GROUP BY org_id ORDER BY count(*) DESC, "
                     "org_id LIMIT 1")[0][0]
    stored = store.query("SELECT count(*) FROM daily_metrics WHERE org_id = '%s'" % org)

    def walk(query, page_size):
        """Every item of /daily_metrics?query, page by page; None on an error status."""
        items = []
        for page in range(1, 100000):
            status, body = http_get(port, "/daily_metrics?%s&page=%d&pageSize=%d"
                                    % (query, page, page_size))
            if status != 200:
                problems.append("GET /daily_metrics?%s page %d: %s %s"
                                % (query, page, status, body[:300]))
                return None
            got = json.loads(body)["items"]
            if not got:
                return items
            items.extend(got)
        return items

    items = walk("org_id=%s&sort=-day" % org, 50)
    if items is None:
        return problems
    days = [item["day"] for item in items]
    if len(items) != int(stored) or days != sorted(days, reverse=True):
        problems.append("/daily_metrics?org_id=%s&sort=-day by page: %d rows (%d stored), newest "
                        "first: %s" % (org, len(items), int(stored), days == sorted(days, reverse=True)))
    if items:
        middle = sorted(set(days))[len(set(days)) // 2]
        last = sorted(set(days))[-1]
        got = walk("org_id=%s&from=%s&to=%s" % (org, middle, last), 1000)
        want = sum(1 for d in days if middle <= d < last)
        if got is not None and (len(got) != want or
                                any(not middle <= i["day"] < last for i in got)):
            problems.append("/daily_metrics from=%s to=%s: %d rows, want %d in [from, to)"
                            % (middle, last, len(got), want))
        first = items[0]
        key = "/".join(urllib.parse.quote(str(first[c]), safe="") for c in
                       ("org_id", "day", "carrier_id", "service", "origin_country",
                        "destination_country"))
        status, body = http_get(port, "/daily_metrics/" + key)
        if status != 200 or json.loads(body) != first:
            problems.append("/daily_metrics/%s: %s %s, want %r" % (key, status, body[:300], first))
    if not problems:
        print("REST: /daily_metrics (a derived view's own route): %d rows of %s by page, newest "
              "first; from/to; a row by its key" % (len(items), org))
    return problems


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--binary", required=True)
    ap.add_argument("--source-dir", required=True)
    ap.add_argument("--shipments", type=int, default=60000)
    ap.add_argument("--kills", type=int, default=6)
    ap.add_argument("--store-kind", default="sqlite", choices=["sqlite", "postgres"])
    args = ap.parse_args()
    binary = os.path.abspath(args.binary)
    config = os.path.join(os.path.abspath(args.source_dir), "examples", "tms", "streamview.yaml")
    tmp = tempfile.mkdtemp(prefix="sv-derived-")
    events = os.path.join(tmp, "events.ndjson")
    store = Store.create(args.store_kind, tmp, "derived")
    rnd = random.Random(5)
    problems = []

    run([binary, "gen", "shipments", "--shipments", str(args.shipments), "--seed", "5",
         "--dup-rate", "0.03", "--reorder-rate", "0.03", "--out", events])
    # The log's last 20,000 lines arrive after the kills, so the final run always has work
    # (and metrics to show) however far the killed runs got.
    with open(events) as f:
        lines = f.readlines()
    head, tail = os.path.join(tmp, "head.ndjson"), os.path.join(tmp, "tail.ndjson")
    with open(head, "w") as f:
        f.writelines(lines[:-20000])
    with open(tail, "w") as f:
        f.writelines(lines[-20000:])
    r = run([binary, "ingest", "--config", config, "--store", store.arg, head])
    last = json.loads(r.stdout.strip().splitlines()[-1])["last_position"]
    print("ingest: %d records" % last)

    mid_stream = 0
    log = os.path.join(tmp, "run.log")
    for i in range(args.kills):
        before = committed_position(store)
        target = kill_targets(rnd, before, last, args.kills, i)
        try:
            seen = run_and_kill_at_position([binary, "run", "--config", config, "--store",
                                             store.arg, "--listen", "127.0.0.1:0"],
                                            store, target, "run %d" % (i + 1), log)
        except WaitTimeout as e:
            print("FAILED: %s" % e)
            return 1
        position = committed_position(store)
        mid_stream += 0 < seen < last
        print("kill %d at position %d (target %d): committed %d -> %d of %d"
              % (i + 1, seen, target, before, position, last))
        if position <= before < last:
            problems.append("kill %d: position did not move past %d" % (i + 1, before))
    if mid_stream == 0:
        problems.append("no kill landed mid-stream: the test proved nothing about crashes")
    r = run([binary, "ingest", "--config", config, "--store", store.arg, tail])
    last = json.loads(r.stdout.strip().splitlines()[-1])["last_position"]
    # The last run serves /metrics while it catches up: derived rows written, per view.
    port = free_port()
    proc = subprocess.Popen([binary, "run", "--config", config, "--store", store.arg,
                             "--listen", "127.0.0.1:%d" % port],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    metrics = ""
    try:
        wait_until(lambda: committed_position(store) >= last,
                   "the last run to catch up to position %d" % last, interval=0.2, proc=proc)
        # The server may still be starting; the monitor publishes after commits.
        metrics = wait_until(lambda: (lambda m: m if 'streamview_derived_rows_written_total{view='
                                      '"carrier_performance"}' in m else None)(
                                          http_get(port, "/metrics")[1]),
                             "/metrics to show derived rows written", interval=0.1, proc=proc)
        problems.extend(check_org_newest_first(port, store))
        problems.extend(check_derived_route(port, store))
    except WaitTimeout as e:
        problems.append(str(e))
    finally:
        # Whatever failed above, the engine does not outlive the test.
        proc.terminate()
        proc.wait(timeout=60)
    written = [line for line in metrics.splitlines()
               if line.startswith("streamview_derived_rows_written_total{")]
    print("metrics: %s" % "; ".join(written))
    if len(written) != 4 or any(float(line.split()[-1]) <= 0 for line in written):
        problems.append("/metrics lacks derived rows written per view: %s" % written)

    # 1. Reconciliation against the store's own SELECT.
    r = run([binary, "verify", "--config", config, "--store", store.arg], ok_codes=(0, 1))
    lines = [json.loads(line) for line in r.stdout.strip().splitlines()]
    # Against the source (every view, key by key), then against the store's own SELECT.
    for rep in lines:
        if rep["check"] == "source" and "skipped" not in rep and (
                rep["missing"] or rep["extra"] or rep["differing"]):
            problems.append("drift from the source in %s: %s" % (rep["view"], rep))
    reports = [rep for rep in lines if rep["check"] == "select"]
    for rep in reports:
        print("verify: %s" % json.dumps(rep))
        if rep["missing"] or rep["unexpected"]:
            problems.append("drift in %s: %s" % (rep["view"], rep))
    if {rep["view"] for rep in reports} != {"daily_metrics", "carrier_performance",
                                            "dashboard_counters", "consignment_list"}:
        problems.append("verify did not report every derived view: %s" % reports)
    if store.kind == "sqlite":
        tampered = os.path.join(tmp, "tampered.db")
        shutil.copy(store.arg, tampered)
        con = sqlite3.connect(tampered)
        table = con.execute("SELECT table_name FROM sv_view_versions WHERE view = "
                            "'carrier_performance' AND active").fetchone()[0]
        con.execute("UPDATE %s SET late = late + 1 WHERE org_id = %s" % (table, "'org-01'"))
        con.commit()
        con.close()
        r = run([binary, "verify", "--config", config, "--store", tampered], ok_codes=(0, 1))
        if r.returncode != 1 or '"view":"carrier_performance","rows"' not in r.stdout:
            problems.append("verify missed a tampered row: %s" % r.stdout)
        else:
            print("verify reports a tampered row as drift (exit 1)")

    # Rebuilds: of everything (derived views computed from the rebuilt rows as they are
    # written, swapped with them) and of one derived view alone (from the stored rows).
    for args_ in (["--all"], ["--view", "carrier_performance"], ["--view", "shipments_view"]):
        run([binary, "rebuild", "--config", config, "--store", store.arg] + args_)
        r = run([binary, "verify", "--config", config, "--store", store.arg], ok_codes=(0, 1))
        if r.returncode != 0:
            problems.append("drift after rebuild %s: %s" % (" ".join(args_), r.stdout))
        else:
            print("verify after rebuild %s: no drift" % " ".join(args_))

    # 2. The events' own answer.
    dash, perf = expected_views(fold(events))
    got_dash = {row[0]: tuple(row[1:]) for row in store.rows(
        "SELECT org_id, shipments, active, in_exception, delivered, delivered_late, carriers "
        "FROM dashboard_counters")}
    if {k: tuple(int(x) for x in v) for k, v in got_dash.items()} != dash:
        problems.append("dashboard_counters differ from the events:\n got %s\nwant %s"
                        % (sorted(got_dash.items()), sorted(dash.items())))
    got_perf = {(row[0], row[1], row[2]): row[3:] for row in store.rows(
        "SELECT org_id, month, carrier_id, shipments, delivered, on_time, late, "
        "p95_transit_days FROM carrier_performance")}
    if set(got_perf) != set(perf):
        problems.append("carrier_performance groups differ: %d vs %d"
                        % (len(got_perf), len(perf)))
    else:
        bad = [k for k in perf if tuple(int(x) for x in got_perf[k][:4]) != perf[k][:4]
               or not close(got_perf[k][4], perf[k][4])]
        if bad:
            problems.append("carrier_performance differs in %d groups, e.g. %s: got %s want %s"
                            % (len(bad), bad[0], got_perf[bad[0]], perf[bad[0]]))
    print("oracle: %d shipments, %d orgs, %d carrier-month groups"
          % (sum(v[0] for v in dash.values()), len(dash), len(perf)))

    store.drop()
    if problems:
        for p in problems:
            print("FAILED: " + p)
        return 1
    shutil.rmtree(tmp, ignore_errors=True)
    print("ok: derived views exact after %d kills (store SELECT and events oracle)" % args.kills)
    return 0


if __name__ == "__main__":
    sys.exit(main())
