#!/usr/bin/env python3
"""What a promotion costs when derived views read the promoted view (issue 19, blue/green).

The view `items` of tests/system/blue_green_definition.py, one row per key, deployed again with
`previous:` (version 2 labels its rows 'v2'): once version 2 is built beside version 1, POST
promote and POST rollback are timed on the running engine (SQLite store). Without derived views
a switch only points readers at the other table; with them (`by_label`, one row per label, and
`item_list`, one row per key) the engine computes them again from the version switched to and
writes the difference in the switch's transaction, while the loop waits.

    python3 bench/promote_derived.py [--keys 200000] [--binary build/src/cli/streamview]

Prints one line per variant: the switch's wall time (the HTTP call) and the engine's own lines
of rows written. by_label is checked against the switched-to label and the key count after each
switch. PERF_OUT=<file>: `perf record` of the engine during the promotion with derived views.
"""

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "system"))
from blue_green import TOKEN, Server, post, run  # noqa: E402
from blue_green_definition import DERIVED, V1_VIEW, V2_CONFIG, log_has  # noqa: E402
from harness import http_json, wait_until  # noqa: E402
from stores import Store  # noqa: E402

ITEM_LIST = """
  item_list:
    sql: |
      CREATE VIEW item_list AS SELECT id, label, amount FROM items
"""


def switch(server, path):
    start = time.monotonic()
    status, body, _ = post(server, path)
    seconds = time.monotonic() - start
    if status != 200:
        raise SystemExit("%s: %s %s" % (path, status, body))
    return seconds


def variant(binary, keys, derived, tmp):
    store = Store.create("sqlite", tmp, "promote")
    cfg1, cfg2 = os.path.join(tmp, "v1.yaml"), os.path.join(tmp, "v2.yaml")
    extra = (DERIVED.rstrip("\n") + ITEM_LIST) if derived else ""
    with open(cfg1, "w") as f:
        f.write(V1_VIEW + extra)
    with open(cfg2, "w") as f:
        f.write(V2_CONFIG + "\n" + extra)
    events = os.path.join(tmp, "events.ndjson")
    with open(events, "w") as f:
        for i in range(keys):
            f.write(json.dumps({"type": "Set", "id": "k%07d" % i, "amount": i % 1000,
                                "eventId": "e%d" % i}) + "\n")
    run([binary, "ingest", "--config", cfg1, "--store", store.arg, events])
    run([binary, "run", "--config", cfg1, "--store", store.arg, "--exit-when-caught-up"])
    log = os.path.join(tmp, "run.log")
    server = Server(binary, cfg2, store, log).ready()
    try:
        wait_until(lambda: log_has(log, "version 2 is built and kept current"),
                   "version 2 built beside version 1", timeout=1800, log=log)
        perf = None
        if derived and os.environ.get("PERF_OUT"):  # a profile of the promotion (perf record)
            perf = subprocess.Popen(["perf", "record", "-F", "999", "-g", "-o",
                                     os.environ["PERF_OUT"], "-p", str(server.proc.pid)],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1)  # perf attached before the call (a profile, not a verdict)
        promote = switch(server, "/views/items/promote")
        if perf is not None:
            perf.send_signal(signal.SIGINT)
            perf.wait()
        if derived:
            _, body, _ = http_json(server.port, "/views/by_label", timeout=60)
            assert [(r["label"], r["keys"]) for r in body["items"]] == [("v2", keys)], body
        rollback = switch(server, "/views/items/rollback")
        if derived:
            _, body, _ = http_json(server.port, "/views/by_label", timeout=60)
            assert [(r["label"], r["keys"]) for r in body["items"]] == [("v1", keys)], body
    finally:
        server.stop()
    with open(log) as f:
        written = [line.strip() for line in f if "computed again from version" in line]
    store.drop()
    return promote, rollback, written


def main():
    os.environ["STREAMVIEW_TOKEN"] = TOKEN
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--keys", type=int, default=200000)
    ap.add_argument("--binary", default="build/src/cli/streamview")
    args = ap.parse_args()
    print("machine: %d cpus, load %s" % (os.cpu_count(), os.getloadavg()))
    for derived in (False, True):
        tmp = tempfile.mkdtemp(prefix="sv-promote-derived-")
        try:
            promote, rollback, written = variant(args.binary, args.keys, derived, tmp)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        print("%s, %d keys: promote %.3f s, rollback %.3f s" % (
            "by_label + item_list read items" if derived else "no derived view", args.keys,
            promote, rollback))
        for line in written:
            print("  " + line[-160:])


if __name__ == "__main__":
    main()
