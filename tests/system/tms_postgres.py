#!/usr/bin/env python3
"""Seed 000's transport-management example on the PostgreSQL change feed
(examples/tms-postgres): every view equals an oracle computed by PostgreSQL itself from the
source tables.

1. A fresh source database gets the example's schema.sql, and the example's workload.py runs
   the shipment life cycle against it (5 organizations, 1500 shipments: creates, status
   changes, pickups, deliveries on time and late, corrections, exceptions, cancellations,
   deletes), as fast as it can, before the engine's first start.
2. `streamview run` starts on the example's own config (its slot, publication and store
   pointed at this test's), snapshots the tables and serves the views over REST. Caught up is
   observed, not waited for: a marker transaction's WAL position (taken inside it, so its
   commit ends past it) is the min_position every view is read with.
3. Every view the example serves — the six source tables mirrored and seed 000's six views
   (shipment_list, consignment_list, daily_metrics, carrier_performance, dashboard_counters,
   realtime_ops) — read whole over REST, page by page, equals the oracle: plain SQL over the
   source tables written here (correlated subqueries, jsonb_agg / jsonb_object_agg,
   percentile_cont), not the views' SQL.
4. With the engine streaming, more workload runs (the open shipments move on, more are
   created, corrected, cancelled, deleted), a parent shipment's reference and status and a
   carrier's name are changed: the consignment list shows the new parent context at the next
   read asking for that change's position; then every view equals the oracle again, and
   `streamview verify` finds every derived view (the chains' intermediate ones too) equal to
   its own SELECT run by the store.
5. ops_today (time-relative: today, past the pickup slot, overdue, the last 7 days' trend) is read at the
   engine's clock, which this test sets (SV_TEST_CLOCK_FILE); the clock is moved across
   midnight and then 3 days on with no source change, and the view follows it to the oracle
   computed at that clock.

    tms_postgres.py --binary build/src/cli/streamview --source-dir . [--store-kind sqlite|postgres]
"""

import argparse
import datetime
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (WaitTimeout, close, drop_change_feed, free_port, http_json,  # noqa: E402
                     run_sql, verdict, wait_until, wal_position_of)
from stores import Store  # noqa: E402

SLOT = "sv_tms_test_%d" % os.getpid()
ADMIN_KEY = "tms-admin-key"       # the example's demo admin key (README.md)
STATUSES = "ARRAY['Created','Ordered','Confirmed','PickedUp','InTransit','Delivered','Cancelled']"

# --- the oracle: plain SQL over the source tables ----------------------------------------------

SORT_KEY = ("replace(to_char({t}, 'YYYY-MM-DD HH24:MI:SS'), ' ', 'T') || 'Z_' || {ref}")

ORACLE = {
    "organizations": ("id", "SELECT id, name FROM organizations"),
    "customers": ("id", "SELECT id, org_id, code, name, active FROM customers"),
    "carriers": ("code", "SELECT code, name, active FROM carriers"),
    "shipments": ("id", "SELECT * FROM shipments"),
    "consignments": ("id", "SELECT * FROM consignments"),
    "shipment_exceptions": ("id", "SELECT * FROM shipment_exceptions"),
    "shipment_list": ("id", """
        SELECT s.id, s.org_id, s.reference, s.status,
               array_position(%s, s.status) AS status_order,
               s.carrier_code, c.name AS carrier_label, s.service, s.customer_id,
               cu.name AS customer_name, cu.code AS customer_code,
               s.origin_country, s.origin_city, s.destination_country, s.destination_city,
               s.inbound, s.created_at, s.ordered_at, s.confirmed_at, s.requested_pickup,
               s.requested_delivery, s.picked_up_at, s.delivered_at, s.cancelled_at,
               s.status AS last_event_code, s.status_at AS last_event_at,
               %s AS sort_key,
               CASE WHEN s.delivered_at IS NOT NULL
                    THEN NOT (s.delivered_at > s.requested_delivery) END AS on_time,
               (extract(epoch FROM s.delivered_at) - extract(epoch FROM s.requested_delivery))
                 / 3600.0 AS variance_hours,
               (extract(epoch FROM s.confirmed_at) - extract(epoch FROM s.ordered_at))
                 / 3600.0 AS order_to_confirm_hours,
               (extract(epoch FROM s.delivered_at) - extract(epoch FROM s.picked_up_at))
                 / 3600.0 AS pickup_to_delivery_hours,
               (extract(epoch FROM s.delivered_at) - extract(epoch FROM s.created_at))
                 / 3600.0 AS total_transit_hours,
               (extract(epoch FROM s.delivered_at) - extract(epoch FROM s.picked_up_at))
                 / 86400.0 AS transit_days,
               s.cost, s.currency, s.weight_kg,
               (SELECT count(*) FROM consignments k WHERE k.shipment_id = s.id)
                 AS consignment_count,
               (SELECT coalesce(sum(k.handling_units), 0) FROM consignments k
                 WHERE k.shipment_id = s.id) AS handling_unit_count,
               (SELECT count(*) FROM shipment_exceptions x WHERE x.shipment_id = s.id)
                 AS exception_count,
               (SELECT count(*) FROM shipment_exceptions x
                 WHERE x.shipment_id = s.id AND x.resolved_at IS NULL) AS open_exception_count,
               jsonb_build_object('name', cu.name, 'code', cu.code) AS customer,
               jsonb_build_object('code', s.status, 'timestamp', s.status_at) AS last_event,
               jsonb_build_object('created', s.created_at, 'ordered', s.ordered_at,
                                  'confirmed', s.confirmed_at, 'pickedUp', s.picked_up_at,
                                  'delivered', s.delivered_at) AS timestamps,
               jsonb_build_object(
                 'requestedDelivery', s.requested_delivery, 'actualDelivery', s.delivered_at,
                 'onTime', CASE WHEN s.delivered_at IS NOT NULL
                                THEN s.delivered_at <= s.requested_delivery END,
                 'varianceHours', (extract(epoch FROM s.delivered_at)
                                   - extract(epoch FROM s.requested_delivery)) / 3600.0) AS sla,
               jsonb_build_object(
                 'orderToConfirm', (extract(epoch FROM s.confirmed_at)
                                    - extract(epoch FROM s.ordered_at)) / 3600.0,
                 'pickupToDelivery', (extract(epoch FROM s.delivered_at)
                                      - extract(epoch FROM s.picked_up_at)) / 3600.0,
                 'totalTransit', (extract(epoch FROM s.delivered_at)
                                  - extract(epoch FROM s.created_at)) / 3600.0) AS durations,
               (SELECT jsonb_agg(jsonb_build_object('type', x.type, 'at', x.at,
                                                    'resolvedAt', x.resolved_at)
                                 ORDER BY x.at, x.id)
                  FROM shipment_exceptions x WHERE x.shipment_id = s.id) AS exceptions,
               s.updated_at
        FROM shipments s JOIN carriers c ON c.code = s.carrier_code
             JOIN customers cu ON cu.id = s.customer_id"""
                      % (STATUSES, SORT_KEY.format(t="s.created_at", ref="s.reference"))),
    "consignment_list": ("id", """
        SELECT k.id, k.org_id, k.reference, k.status, k.tracking_number,
               k.handling_units AS handling_unit_count, k.weight_kg AS handling_unit_weight_kg,
               k.unit_type, k.created_at, %s AS sort_key, k.shipment_id,
               s.reference AS shipment_reference, s.status AS shipment_status, s.carrier_code,
               (SELECT name FROM carriers c WHERE c.code = s.carrier_code) AS carrier_label,
               s.origin_country, s.origin_city, s.destination_country, s.destination_city,
               k.updated_at
        FROM consignments k JOIN shipments s ON s.id = k.shipment_id"""
                         % SORT_KEY.format(t="k.created_at", ref="k.reference")),
    "daily_metrics": (["org_id", "day", "carrier_code", "service", "origin_country",
                       "destination_country", "inbound"], """
        WITH s AS (
          SELECT s.*, date_trunc('day', s.created_at) AS day,
                 (SELECT count(*) FROM consignments k WHERE k.shipment_id = s.id) AS n_cons,
                 (SELECT coalesce(sum(handling_units), 0) FROM consignments k
                   WHERE k.shipment_id = s.id) AS n_units
          FROM shipments s),
        per_status AS (
          SELECT org_id, day, carrier_code, service, origin_country, destination_country,
                 inbound, status, count(*) AS n
          FROM s GROUP BY 1, 2, 3, 4, 5, 6, 7, 8),
        statuses AS (
          SELECT org_id, day, carrier_code, service, origin_country, destination_country,
                 inbound, jsonb_object_agg(status, n) AS by_status
          FROM per_status GROUP BY 1, 2, 3, 4, 5, 6, 7),
        totals AS (
          SELECT org_id, day, carrier_code, service, origin_country, destination_country,
                 inbound, count(*) AS shipments, sum(n_cons) AS consignments,
                 sum(n_units) AS handling_units,
                 avg(n_units) AS avg_handling_units_per_shipment,
                 sum(weight_kg) AS weight_kg, avg(weight_kg) AS avg_weight_kg_per_shipment,
                 sum(cost) AS total_cost, avg(cost) AS avg_cost_per_shipment
          FROM s GROUP BY 1, 2, 3, 4, 5, 6, 7)
        SELECT t.org_id, t.day, t.carrier_code, t.service, t.origin_country,
               t.destination_country, t.inbound, t.shipments, st.by_status, t.consignments,
               t.handling_units, t.avg_handling_units_per_shipment, t.weight_kg,
               t.avg_weight_kg_per_shipment, t.total_cost, t.avg_cost_per_shipment
        FROM totals t JOIN statuses st USING (org_id, day, carrier_code, service,
                                              origin_country, destination_country, inbound)"""),
    "carrier_performance": (["org_id", "month", "carrier_code"], """
        WITH s AS (
          SELECT s.*, to_char(s.created_at, 'YYYY-MM') AS month,
                 (extract(epoch FROM s.delivered_at) - extract(epoch FROM s.picked_up_at))
                   / 86400.0 AS transit,
                 (SELECT count(*) FROM consignments k WHERE k.shipment_id = s.id) AS n_cons
          FROM shipments s),
        by_type AS (
          SELECT s.org_id, s.month, s.carrier_code, x.type, count(*) AS n
          FROM shipment_exceptions x JOIN s ON s.id = x.shipment_id GROUP BY 1, 2, 3, 4),
        exc AS (
          SELECT org_id, month, carrier_code, sum(n) AS total,
                 jsonb_object_agg(type, n) AS by_type
          FROM by_type GROUP BY 1, 2, 3),
        perf AS (
          SELECT org_id, month, carrier_code, count(*) AS shipments,
                 sum(n_cons) AS consignments, sum(weight_kg) AS weight_kg,
                 count(*) FILTER (WHERE status = 'Created') AS created,
                 count(*) FILTER (WHERE status = 'Ordered') AS ordered,
                 count(*) FILTER (WHERE status = 'Confirmed') AS confirmed,
                 count(*) FILTER (WHERE status = 'PickedUp') AS picked_up,
                 count(*) FILTER (WHERE status = 'InTransit') AS in_transit,
                 count(*) FILTER (WHERE status = 'Delivered') AS delivered,
                 count(*) FILTER (WHERE status = 'Cancelled') AS cancelled,
                 count(*) FILTER (WHERE status = 'Delivered'
                                  AND delivered_at <= requested_delivery) AS delivered_on_time,
                 count(*) FILTER (WHERE status = 'Delivered'
                                  AND delivered_at > requested_delivery) AS delivered_late,
                 avg(transit) AS avg_transit_days, min(transit) AS min_transit_days,
                 max(transit) AS max_transit_days,
                 percentile_cont(0.95) WITHIN GROUP (ORDER BY transit) AS p95_transit_days,
                 sum(cost) AS total_cost, avg(cost) AS avg_cost_per_shipment
          FROM s GROUP BY 1, 2, 3)
        SELECT p.org_id, p.month, p.carrier_code, c.name AS carrier_label, p.shipments,
               p.consignments, p.weight_kg, p.created, p.ordered, p.confirmed, p.picked_up,
               p.in_transit, p.delivered, p.cancelled, p.delivered_on_time, p.delivered_late,
               CASE WHEN p.delivered > 0 THEN p.delivered_on_time::numeric / p.delivered END
                 AS on_time_rate,
               p.avg_transit_days, p.min_transit_days, p.max_transit_days, p.p95_transit_days,
               p.total_cost, p.avg_cost_per_shipment, coalesce(e.total, 0) AS exceptions_total,
               e.by_type AS exceptions_by_type
        FROM perf p JOIN carriers c ON c.code = p.carrier_code
             LEFT JOIN exc e USING (org_id, month, carrier_code)"""),
    "dashboard_counters": ("org_id", """
        SELECT o.org_id, count(*) AS shipments,
               (SELECT jsonb_object_agg(status, n) FROM (SELECT status, count(*) AS n
                  FROM shipments z WHERE z.org_id = o.org_id GROUP BY status) q) AS by_status,
               count(*) FILTER (WHERE status IN ('Created', 'Ordered')) AS awaiting_confirmation,
               count(*) FILTER (WHERE status = 'Confirmed') AS awaiting_pickup,
               count(*) FILTER (WHERE status IN ('PickedUp', 'InTransit')) AS in_transit,
               (SELECT count(*) FROM shipment_exceptions x
                 WHERE x.org_id = o.org_id AND x.resolved_at IS NULL) AS exceptions_unresolved,
               (SELECT jsonb_object_agg(carrier_code, jsonb_build_object('total', n,
                                                                         'inTransit', t))
                  FROM (SELECT carrier_code, count(*) AS n,
                               count(*) FILTER (WHERE status IN ('PickedUp', 'InTransit')) AS t
                        FROM shipments z WHERE z.org_id = o.org_id GROUP BY carrier_code) q)
                 AS by_carrier
        FROM shipments o GROUP BY o.org_id"""),
    "realtime_ops": ("org_id", """
        SELECT o.org_id,
               count(*) FILTER (WHERE status IN ('Created', 'Ordered')) AS awaiting_confirmation,
               count(*) FILTER (WHERE status = 'Confirmed') AS awaiting_pickup,
               count(*) FILTER (WHERE status IN ('PickedUp', 'InTransit')) AS in_transit,
               count(picked_up_at) AS shipped,
               count(*) FILTER (WHERE status = 'Delivered') AS delivered,
               (SELECT jsonb_object_agg(carrier_code, jsonb_build_object('shipped', n,
                                                                         'delivered', d))
                  FROM (SELECT carrier_code, count(picked_up_at) AS n,
                               count(*) FILTER (WHERE status = 'Delivered') AS d
                        FROM shipments z WHERE z.org_id = o.org_id GROUP BY carrier_code) q)
                 AS by_carrier,
               (SELECT count(*) FROM shipment_exceptions x
                 WHERE x.org_id = o.org_id AND x.resolved_at IS NULL) AS open_exceptions,
               (SELECT jsonb_agg(jsonb_build_object('shipmentId', x.shipment_id,
                                                    'reference', z.reference, 'type', x.type,
                                                    'at', x.at) ORDER BY x.at, x.id)
                  FROM shipment_exceptions x JOIN shipments z ON z.id = x.shipment_id
                 WHERE x.org_id = o.org_id AND x.resolved_at IS NULL) AS exceptions
        FROM shipments o GROUP BY o.org_id"""),
    # Time-relative: at the engine's clock (SV_TEST_CLOCK_FILE), {now} here.
    "ops_today": ("org_id", """
        SELECT org_id,
               count(*) FILTER (WHERE created_at >= date_trunc('day', {now})) AS created_today,
               count(*) FILTER (WHERE picked_up_at >= date_trunc('day', {now})) AS pickups_today,
               count(*) FILTER (WHERE delivered_at >= date_trunc('day', {now}))
                 AS delivered_today,
               count(*) FILTER (WHERE status = 'Confirmed' AND requested_pickup < {now})
                 AS awaiting_pickup_past_slot,
               count(*) FILTER (WHERE status NOT IN ('Delivered', 'Cancelled')
                                  AND requested_delivery < {now}) AS overdue,
               count(*) FILTER (WHERE created_at >= date_trunc('day', {now}) - interval '6 days')
                 AS created_last_7_days,
               (SELECT jsonb_agg(jsonb_build_object('date', day, 'created', n,
                                                    'delivered', d) ORDER BY day)
                  FROM (SELECT to_char(created_at, 'YYYY-MM-DD') AS day, count(*) AS n,
                               count(delivered_at) AS d
                        FROM shipments z WHERE z.org_id = o.org_id
                          AND created_at >= date_trunc('day', {now}) - interval '6 days'
                        GROUP BY 1) q) AS daily_trend
        FROM shipments o GROUP BY org_id"""),
}

TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}(:\d{2})?)?")


def norm(v):
    """A value as compared: timestamps as epoch seconds, JSON containers recursively."""
    if isinstance(v, str) and TIMESTAMP.fullmatch(v):
        t = v.replace(" ", "T")
        if t.endswith("Z"):
            t = t[:-1] + "+00:00"
        elif re.search(r"[+-]\d{2}$", t):
            t += ":00"
        return ("ts", datetime.datetime.fromisoformat(t).timestamp())
    if isinstance(v, list):
        return [norm(x) for x in v]
    if isinstance(v, dict):
        return {k: norm(x) for k, x in v.items()}
    return v


def same(a, b):
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return close(a, b)
    if isinstance(a, tuple) and isinstance(b, tuple):
        return a[0] == b[0] and abs(a[1] - b[1]) < 1e-3   # timestamps: to the millisecond
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return a == b


def key_of(row, key):
    cols = key if isinstance(key, list) else [key]
    return tuple(json.dumps(norm(row[c]), sort_keys=True) for c in cols)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--binary", required=True)
    ap.add_argument("--source-dir", required=True)
    ap.add_argument("--store-kind", default="sqlite", choices=["sqlite", "postgres"])
    ap.add_argument("--shipments", type=int, default=1500)
    ap.add_argument("--orgs", type=int, default=5)
    args = ap.parse_args()
    binary = os.path.abspath(args.binary)
    example = os.path.join(os.path.abspath(args.source_dir), "examples", "tms-postgres")
    tmp = tempfile.mkdtemp(prefix="sv-tms-postgres-")
    source = Store.create("postgres", tmp, "tms_source")
    store = Store.create(args.store_kind, tmp, "tms_store")
    problems = []
    proc = None
    log = os.path.join(tmp, "run.log")
    started = time.monotonic()
    try:
        with open(os.path.join(example, "schema.sql")) as f:
            run_sql(source.arg, f.read())

        def workload(shipments, seed):
            t0 = time.monotonic()
            r = subprocess.run([sys.executable, os.path.join(example, "workload.py"),
                                "--dsn", source.arg, "--shipments", str(shipments),
                                "--orgs", str(args.orgs), "--seed", str(seed), "--rate", "0",
                                "--synchronous-commit", "off"],
                               capture_output=True, text=True, timeout=900)
            if r.returncode != 0:
                raise SystemExit("workload.py failed: %s %s" % (r.stdout, r.stderr))
            print("ok: %s (%.1f s)" % (r.stdout.strip(), time.monotonic() - t0))

        workload(args.shipments, 7)

        # The example's config, its slot and publication made this run's own (slots are the
        # cluster's), the store this test's.
        with open(os.path.join(example, "streamview.yaml")) as f:
            text = f.read()
        text = text.replace("slot: sv_tms", "slot: " + SLOT)
        text = text.replace("publication: sv_tms", "publication: " + SLOT)
        if text.count(SLOT) != 2:
            raise SystemExit("the example's config no longer names its slot and publication")
        config = os.path.join(tmp, "streamview.yaml")
        with open(config, "w") as f:
            f.write(text)
        port = free_port()
        # The engine's clock (what now() of ops_today reads) is this test's: two hours after
        # the workload's last simulated creation, moved on later with no source change.
        clock_file = os.path.join(tmp, "clock")
        clock = {"us": 0}

        def set_clock(us):
            clock["us"] = us
            with open(clock_file + ".tmp", "w") as f:
                f.write(str(us))
            os.replace(clock_file + ".tmp", clock_file)

        last = subprocess.run(["psql", source.arg, "-X", "-A", "-t", "-c",
                               "SELECT (extract(epoch FROM max(created_at)) * 1000000)::bigint "
                               "FROM shipments"], capture_output=True, text=True, check=True)
        set_clock(int(last.stdout.strip()) + 2 * 3600 * 1000000)
        env = dict(os.environ, TMS_SOURCE_DSN=source.arg, STREAMVIEW_TOKEN="tms-test-token",
                   SV_TEST_CLOCK_FILE=clock_file)
        with open(log, "w") as out:
            proc = subprocess.Popen([binary, "run", "--config", config, "--store", store.arg,
                                     "--listen", "127.0.0.1:%d" % port], stdout=out,
                                    stderr=subprocess.STDOUT, env=env)

        def get(path):
            return http_json(port, path, api_key=ADMIN_KEY, timeout=60)

        def caught_up(view, pos):
            def at():
                code, body, _ = get("/views/%s?limit=1&min_position=%d" % (view, pos))
                return code == 200
            wait_until(at, "%s to apply position %d" % (view, pos), proc=proc, log=log)

        def read_all(view):
            rows, cursor = [], None
            while True:
                path = "/views/%s?limit=1000" % view
                if cursor:
                    path += "&cursor=" + urllib.parse.quote(cursor)
                code, body, _ = get(path)
                if code != 200:
                    raise SystemExit("GET %s: %r %r" % (path, code, body))
                rows += body["items"]
                cursor = body.get("next_cursor")
                if not cursor:
                    return rows

        def oracle(sql):
            r = subprocess.run(["psql", source.arg, "-X", "-q", "-A", "-t", "-v",
                                "ON_ERROR_STOP=1", "-c", "SET TimeZone = 'UTC'", "-c",
                                "SELECT coalesce(json_agg(t), '[]') FROM (%s) t" % sql],
                               capture_output=True, text=True)
            if r.returncode != 0:
                raise SystemExit("oracle query failed: %s\n%s" % (r.stderr, sql))
            return json.loads(r.stdout)

        def clock_sql():
            return "to_timestamp(%d / 1000000.0)" % clock["us"]

        def compare_all(when, views=ORACLE):
            marker = wal_position_of(
                source.arg, "UPDATE organizations SET name = name WHERE id = 'org-01'")
            for view in views:
                caught_up(view, marker)
            total = 0
            for view in views:
                key, sql = ORACLE[view]
                want = {key_of(r, key): r for r in oracle(sql.replace("{now}", clock_sql()))}
                got = {key_of(r, key): r for r in read_all(view)}
                bad = []
                for k in sorted(set(want) | set(got)):
                    w, g = want.get(k), got.get(k)
                    if w is None or g is None:
                        bad.append("%s %s only in %s" % (view, k, "the view" if w is None
                                                          else "the oracle"))
                        continue
                    if w.keys() != g.keys():
                        bad.append("%s %s: columns %s, oracle %s"
                                   % (view, k, sorted(g), sorted(w)))
                        continue
                    diff = [c for c in w if not same(norm(g[c]), norm(w[c]))]
                    if diff:
                        bad.append("%s %s: %s" % (view, k, ", ".join(
                            "%s = %r, oracle %r" % (c, g[c], w[c]) for c in diff[:4])))
                if not want:
                    bad.append("%s: the oracle has no rows (the workload did nothing?)" % view)
                if bad:
                    problems.extend("%s: %s" % (when, b) for b in bad[:5])
                    problems.append("%s: %s: %d of %d rows differ" % (when, view, len(bad),
                                                                       len(want)))
                else:
                    print("ok: %s: %s equals the oracle (%d rows)" % (when, view, len(want)))
                total += len(want)
            return total

        def clock_moves(label, us):
            # No source change: ops_today follows the clock alone, at its next idle tick.
            set_clock(us)
            key, sql = ORACLE["ops_today"]
            want = {key_of(r, key): r for r in oracle(sql.replace("{now}", clock_sql()))}

            def equal():
                got = {key_of(r, key): r for r in read_all("ops_today")}
                return got.keys() == want.keys() and all(
                    same(norm(got[k][c]), norm(want[k][c])) for k in want for c in want[k])
            try:
                wait_until(equal, "ops_today to follow the clock %s" % label, proc=proc, log=log)
                print("ok: the clock %s with no source change: ops_today equals the oracle "
                      "(%s)" % (label, sorted(want.values(), key=lambda r: r["org_id"])[0]))
            except WaitTimeout:
                problems.append("the clock %s: ops_today %r, oracle %r"
                                % (label, read_all("ops_today")[:2], list(want.values())[:2]))

        t0 = time.monotonic()
        rows = compare_all("after the snapshot")
        print("ok: snapshot applied and %d rows compared in %.1f s" % (rows, time.monotonic() - t0))

        # The list query of seed 000: one organization, newest first, over [org_id, created_at].
        code, body, _ = get("/views/shipment_list?org_id=org-02&sort=-created_at&limit=20")
        want = [r["id"] for r in oracle("SELECT id FROM shipments WHERE org_id = 'org-02' "
                                         "ORDER BY created_at DESC, id DESC LIMIT 20")]
        got = [r["id"] for r in body["items"]] if code == 200 else (code, body)
        if got != want:
            problems.append("shipment_list?org_id=org-02&sort=-created_at: %r, oracle %r"
                            % (got, want))
        else:
            print("ok: an organization's shipments newest first, by the declared index")

        # An organization's key (the example's demo keys) sees its own rows only.
        code, body, _ = http_json(port, "/views/dashboard_counters?limit=100",
                                  api_key="tms-org-02-key")
        orgs = sorted(r["org_id"] for r in body["items"]) if code == 200 else (code, body)
        code2, _, _ = http_json(port, "/views/shipment_list/%d" % oracle(
            "SELECT min(id) AS id FROM shipments WHERE org_id = 'org-01'")[0]["id"],
            api_key="tms-org-02-key")
        if orgs != ["org-02"] or code2 != 404:
            problems.append("org-02's key: dashboard_counters rows of %r, org-01's shipment %r"
                            % (orgs, code2))
        else:
            print("ok: an organization's key reads its own rows only")

        # Streaming: the open shipments move on, more are created, corrected, deleted.
        workload(args.shipments // 5, 8)

        # A parent shipment changes: its consignments' rows show it at the next read.
        sid, cid = oracle("SELECT k.shipment_id AS s, k.id AS c FROM consignments k "
                          "ORDER BY k.id LIMIT 1")[0].values()
        pos = wal_position_of(
            source.arg, "UPDATE shipments SET reference = reference || '-P', status = "
            "'Cancelled', cancelled_at = '2026-03-01T00:00:00Z' WHERE id = %d; "
            "UPDATE carriers SET name = name || ' (renamed)' WHERE code = "
            "(SELECT carrier_code FROM shipments WHERE id = %d)" % (sid, sid))
        # A 503 says the position is not applied yet (the read waited server.read_wait_ms):
        # asked again until it is.
        code, body, _ = wait_until(
            lambda: (lambda r: r if r[0] != 503 else None)(
                get("/views/consignment_list/%d?min_position=%d" % (cid, pos))),
            "consignment_list to apply position %d" % pos, proc=proc, log=log)
        want = oracle("SELECT s.reference, s.status, c.name FROM shipments s JOIN carriers c "
                      "ON c.code = s.carrier_code WHERE s.id = %d" % sid)[0]
        if code != 200 or (body["shipment_reference"], body["shipment_status"],
                           body["carrier_label"]) != (want["reference"], want["status"],
                                                      want["name"]):
            problems.append("consignment %d after its shipment changed: %r %r, oracle %r"
                            % (cid, code, body, want))
        else:
            print("ok: consignment %d shows its shipment's new reference, status and carrier "
                  "name at the next read" % cid)

        compare_all("after more workload while streaming")
        clock_moves("moved past midnight and pickup slots (+1 day 5 h)",
                    clock["us"] + (29 * 3600) * 1000000)
        clock_moves("moved 3 days on (due times pass)", clock["us"] + 3 * 86400 * 1000000)

        # The chain's intermediate views too (sl_*, cp_*, org_*…): each equals its own SELECT
        # run by the store (`streamview verify`, on the stopped engine's store).
        proc.terminate()
        proc.wait(timeout=120)
        proc = None
        r = subprocess.run([binary, "verify", "--config", config, "--store", store.arg],
                           capture_output=True, text=True, env=env, timeout=600)
        # Both checks: every view against a new snapshot of the source tables (the stream run
        # up to it), derived views against their SELECT.
        drift = [line for line in r.stdout.splitlines()
                 if any(json.loads(line).get(k) for k in ("missing", "unexpected", "extra",
                                                          "differing"))]
        checks = [json.loads(line) for line in r.stdout.splitlines()]
        against_source = [c["view"] for c in checks
                          if c.get("check") == "source" and "skipped" not in c]
        skipped = [(c["view"], c["skipped"]) for c in checks
                   if c.get("check") == "source" and "skipped" in c]
        if r.returncode != 0 or drift or not against_source:
            problems.append("verify: exit %d: %s %s (compared with the source: %s; skipped: %s)"
                            % (r.returncode, drift[:5], r.stderr[-2000:], against_source,
                               skipped))
        else:
            print("ok: verify: %d views equal a new snapshot of the source tables (skipped: %s), "
                  "every derived view its SELECT run by the store (%d lines)"
                  % (len(against_source), skipped, len(checks)))
        print("ok: %.0f s in all" % (time.monotonic() - started))
    except WaitTimeout as e:
        problems.append(str(e))
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        drop_change_feed(source, store, SLOT)
    return verdict(problems, tmp)


if __name__ == "__main__":
    sys.exit(main())
