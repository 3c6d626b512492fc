#!/usr/bin/env python3
"""Lag per organization (issue 19 item 6; seed 000 Part 8's lag, per org for tenant views).

`shipments` (tenant: org_id) is fed by a sequenced source (`sequence: {field: seq}`). With
`run --listen`, events of organizations o-a and o-b arrive with gaps: each o-a shipment gets its
create (seq 1) and moves 3 and 4, each o-b shipment its create and move 3, o-c's arrive in
order. The gate stashes every event behind a gap; a move carries no organization, so the engine
finds it in the row the move would change. /metrics must say, per (view, org), exactly the
stashed events this script counted (`streamview_view_org_lag_events`) and an age of the oldest
within the time they have waited (`streamview_view_org_lag_seconds`); o-c has no waiting event.
Then the missing moves (seq 2) are sent: the stashes drain, both gauges go to 0, and the view
equals the oracle of every event sent.

    org_lag.py --binary build/src/cli/streamview
"""

import json
import os
import re
import sqlite3
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (WaitTimeout, free_port, http_get, http_json, sha256_hex,  # noqa: E402
                     start_test, verdict, wait_until)

CONFIG = """
store: {{kind: sqlite, path: {store}}}
sources:
  ops:
    key: id
    sequence: {{field: seq}}
    first_sequence: 1
    event_types: [shipment.created, shipment.moved]
gate: {{stash_max_age_ms: 3600000, stash_max_events: 1000}}
server:
  auth:
    api_keys:
      - {{sha256: {token}, role: admin}}
views:
  shipments:
    source: ops
    key: [id]
    tenant: org_id
    columns:
      id: text
      org_id: text
      status: text
      n: {{type: integer, default: 0}}
    on:
      shipment.created:
        set: {{id: e.id, org_id: e.org, status: e.status, n: n + 1}}
      shipment.moved:
        set: {{id: e.id, status: e.status, n: n + 1}}
"""

TOKEN = "org-lag-token"
# org -> (shipments, the move sequences sent before the gap is filled)
PLAN = {"o-a": (4, [3, 4]), "o-b": (3, [3]), "o-c": (5, [2, 3])}


def created(sid, org):
    return {"type": "shipment.created", "id": sid, "org": org, "status": "booked", "seq": 1}


def moved(sid, seq):
    return {"type": "shipment.moved", "id": sid, "status": "s%d" % seq, "seq": seq}


def org_lags(port):
    """{(metric, view, org): value} of the per-organization lag families on /metrics."""
    code, text = http_get(port, "/metrics", headers={"Authorization": "Bearer " + TOKEN})
    if code != 200:
        return None
    out = {}
    for m in re.finditer(r'^(streamview_view_org_lag_(?:events|seconds))\{org="([^"]*)",'
                         r'view="([^"]*)"\} (\S+)$', text, re.M):
        out[(m.group(1), m.group(3), m.group(2))] = float(m.group(4))
    return out


def main():
    _, binary, tmp = start_test(__doc__, "sv-org-lag-")
    problems = []
    store = os.path.join(tmp, "lag.db")
    config = os.path.join(tmp, "org_lag.yaml")
    with open(config, "w") as f:
        f.write(CONFIG.format(store=store, token=sha256_hex(TOKEN)))
    port = free_port()
    log = open(os.path.join(tmp, "run.log"), "w")
    proc = subprocess.Popen([binary, "run", "--config", config, "--listen",
                             "127.0.0.1:%d" % port], stdout=log, stderr=subprocess.STDOUT)

    def send(events):
        code, body, _ = http_json(port, "/events", method="POST", bearer=TOKEN,
                                  body="".join(json.dumps(e) + "\n" for e in events).encode())
        if code != 200:
            raise SystemExit("POST /events: %s %s" % (code, body))

    try:
        wait_until(lambda: http_json(port, "/health/ready")[0] == 200, "the server to be ready",
                   proc=proc, log=log.name)
        first, expected_waiting, oracle = [], {}, {}
        for org, (count, moves) in PLAN.items():
            for i in range(count):
                sid = "%s-%d" % (org, i)
                first.append(created(sid, org))
                first.extend(moved(sid, seq) for seq in moves)
                # Stashed: every move past a missing sequence.
                waiting = [seq for seq in moves if any(s not in moves for s in range(2, seq))]
                expected_waiting[org] = expected_waiting.get(org, 0) + len(waiting)
                oracle[sid] = (sid, org, "s%d" % max(moves + [2]), 1 + len(set(moves + [2])))
        sent_at = time.time()
        send(first)
        expected = {("streamview_view_org_lag_events", "shipments", org): float(n)
                    for org, n in expected_waiting.items() if n > 0}
        print("stashed events per organization, as sent: %s" % expected_waiting)

        last = {}

        def counts_reached():
            lags = org_lags(port)
            if lags is None:
                return False
            last.clear()
            last.update(lags)
            events = {k: v for k, v in lags.items() if k[0].endswith("_events") and v > 0}
            return events == expected

        try:
            wait_until(counts_reached, "the per-organization lag of the stashed events",
                       proc=proc, log=log.name)
        except WaitTimeout:
            problems.append("per-organization lag events %s, the script counted %s"
                            % ({k: v for k, v in last.items() if k[0].endswith("_events")},
                               expected))
        waited = time.time() - sent_at
        for org in ("o-a", "o-b"):
            age = last.get(("streamview_view_org_lag_seconds", "shipments", org))
            if age is None or not 0 <= age <= waited + 5:
                problems.append("lag seconds of %s: %s, its events have waited at most %.1fs"
                                % (org, age, waited))
        if any(k[2] == "o-c" and v != 0 for k, v in last.items()):
            problems.append("o-c has no waiting event, yet: %s" % last)

        # The gaps filled: every stash drains, and the lag goes to 0.
        send([moved("%s-%d" % (org, i), 2) for org, (count, moves) in PLAN.items()
              if 2 not in moves for i in range(count)])

        def drained():
            lags = org_lags(port)
            if lags is None:
                return False
            last.clear()
            last.update(lags)
            listed = {k for k in lags if k[2] in ("o-a", "o-b")}
            return len(listed) == 4 and all(v == 0 for v in lags.values())

        try:
            wait_until(drained, "the per-organization lag to go to 0", proc=proc, log=log.name)
        except WaitTimeout:
            problems.append("after the gaps were filled, per-organization lag %s" % last)
        db = sqlite3.connect(store, timeout=30)
        try:
            rows = sorted(db.execute("SELECT id, org_id, status, n FROM shipments"))
        finally:
            db.close()
        if rows != sorted(oracle.values()):
            problems.append("shipments differ from the oracle: %s" %
                            sorted(set(rows) ^ set(oracle.values()))[:6])
        print("after the gaps were filled: %s" % sorted(last.items()))
    finally:
        proc.terminate()
        proc.wait(timeout=120)
        log.close()
    return verdict(problems, tmp)


if __name__ == "__main__":
    sys.exit(main())
