#!/usr/bin/env python3
"""Time-relative derived views move with the clock, with no new event.

`streamview run` with SV_TEST_CLOCK_FILE (TESTING.md): shipments with due times and creation
times are ingested, then the clock file is moved past due times and across midnight while no
event comes; each time the views read over REST must equal what this script computes from
the events at that clock (`overdue`: WHERE delivered IS NULL AND due < now(); `daily`:
count(*) FILTER (WHERE created >= current_date) and FILTER (WHERE created >= now() - 7 days)).
Then the engine is killed (-9) and started again at a later clock: the views catch up.

    python3 tests/system/timed_views.py --binary build/src/cli/streamview
"""

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
from datetime import datetime, timedelta, timezone

from harness import free_port, http_get, run_checked, wait_until

CONFIG = """
store:
  kind: sqlite
  path: {db}
sources:
  s:
    kind: log
    key: id
    type: type
    event_types: [Put]
engine:
  poll_idle_ms: 50
server:
  listen: 127.0.0.1:{port}
views:
  shipments:
    source: s
    key: [id]
    columns:
      id: text
      org: text
      due: timestamp
      delivered: timestamp
      created: timestamp
    on:
      Put:
        set:
          id: e.id
          org: e.org
          due: CAST(e.due AS timestamp)
          delivered: CAST(e.delivered AS timestamp)
          created: CAST(e.created AS timestamp)
derived_views:
  overdue:
    sql: |
      CREATE VIEW overdue AS SELECT id, org FROM shipments
      WHERE delivered IS NULL AND due < now()
  daily:
    sql: |
      CREATE VIEW daily AS SELECT org,
        count(*) FILTER (WHERE created >= current_date) AS today,
        count(*) FILTER (WHERE created >= now() - interval '7 days') AS week,
        count(*) AS total
      FROM shipments GROUP BY org
"""


def iso(t):
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def oracle(shipments, now):
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    overdue = sorted(s["id"] for s in shipments.values()
                     if s["delivered"] is None and s["due"] < now)
    daily = {}
    for s in shipments.values():
        d = daily.setdefault(s["org"], {"today": 0, "week": 0, "total": 0})
        d["total"] += 1
        d["today"] += s["created"] >= midnight
        d["week"] += s["created"] >= now - timedelta(days=7)
    return overdue, daily


def served(port):
    status, body = http_get(port, "/views/overdue?limit=1000")
    if status != 200:
        return None
    overdue = sorted(item["id"] for item in json.loads(body)["items"])
    status, body = http_get(port, "/views/daily?limit=1000")
    if status != 200:
        return None
    daily = {i["org"]: {"today": i["today"], "week": i["week"], "total": i["total"]}
             for i in json.loads(body)["items"]}
    return overdue, daily


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="sv_timed_")
    rnd = random.Random(6)
    port = free_port()
    config = os.path.join(tmp, "c.yaml")
    with open(config, "w") as f:
        f.write(CONFIG.format(db=os.path.join(tmp, "t.db"), port=port))
    clock_file = os.path.join(tmp, "clock")
    now = datetime(2026, 12, 6, 21, 0, tzinfo=timezone.utc)
    shipments, lines = {}, []
    for i in range(300):
        created = now - timedelta(seconds=rnd.randrange(10 * 86400))
        due = now + timedelta(seconds=rnd.randrange(-86400, 2 * 86400))
        delivered = created + timedelta(hours=1) if rnd.random() < 0.2 else None
        s = {"id": "s%d" % i, "org": "o%d" % rnd.randrange(3), "due": due,
             "delivered": delivered, "created": created}
        shipments[s["id"]] = s
        lines.append(json.dumps({"type": "Put", "id": s["id"], "org": s["org"], "due": iso(due),
                                 "created": iso(created),
                                 "delivered": iso(delivered) if delivered else None}))
    events = os.path.join(tmp, "events.ndjson")
    with open(events, "w") as f:
        f.write("\n".join(lines) + "\n")
    run_checked([args.binary, "ingest", "--config", config, events], timeout=300)

    env = dict(os.environ, SV_TEST_CLOCK_FILE=clock_file)
    problems = []

    def set_clock(t):
        with open(clock_file + ".new", "w") as f:
            f.write(iso(t))
        os.replace(clock_file + ".new", clock_file)

    def start():
        log = open(os.path.join(tmp, "run.log"), "a")
        return subprocess.Popen([args.binary, "run", "--config", config], env=env,
                                stdout=log, stderr=subprocess.STDOUT)

    def check(proc, t, what):
        want = oracle(shipments, t)
        try:
            wait_until(lambda: served(port) == want, what, timeout=60, proc=proc,
                       log=os.path.join(tmp, "run.log"))
        except Exception as e:  # noqa: BLE001 - reported with the difference
            problems.append("%s: %s; served %s, want %s" % (what, e, served(port), want))

    set_clock(now)
    proc = start()
    check(proc, now, "views at the start clock")
    # Past due times, then across midnight, then a week on: no event meanwhile.
    for step in [timedelta(minutes=30), timedelta(hours=2, minutes=59, seconds=59),
                 timedelta(seconds=2), timedelta(hours=5), timedelta(days=3)]:
        now += step
        set_clock(now)
        check(proc, now, "views at " + iso(now))
    proc.kill()
    proc.wait()
    now += timedelta(days=2)
    set_clock(now)
    proc = start()
    check(proc, now, "views after a kill -9 and a restart at " + iso(now))
    proc.kill()
    proc.wait()
    if problems:
        print("FAIL\n" + "\n".join(problems) + "\n(kept %s)" % tmp)
        sys.exit(1)
    shutil.rmtree(tmp)
    print("ok: 7 clock moves checked against the oracle")


if __name__ == "__main__":
    main()
