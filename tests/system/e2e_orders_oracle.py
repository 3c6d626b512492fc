#!/usr/bin/env python3
"""End to end through the streamview binary, checked by the independent oracle.

1. gen 20,000 orders with duplicates, swaps, long delays and malformed lines; ingest the file
   into a fresh store; `run --exit-when-caught-up`; the oracle must pass.
2. The same file ingested in 3 chunks with a `run --exit-when-caught-up` after each (gaps and
   parked keys carried across runs); the oracle must pass.

    python3 tests/system/e2e_orders_oracle.py --binary build/src/cli/streamview --source-dir . \
        [--store-kind sqlite|postgres]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

from harness import run_checked, verdict
from stores import Store

TIMEOUT_S = 900


def run(cmd, **kwargs):
    """(CompletedProcess, seconds) of cmd; on failure prints its output and raises
    SystemExit(1)."""
    return run_checked(cmd, timeout=TIMEOUT_S, **kwargs)


def count_lines(path):
    with open(path, "rb") as f:
        return sum(1 for _ in f)


class Harness:
    def __init__(self, binary, source_dir, tmp):
        self.binary = binary
        self.config = os.path.join(source_dir, "examples", "orders", "streamview.yaml")
        self.oracle = os.path.join(source_dir, "tests", "oracle", "orders_oracle.py")
        self.tmp = tmp

    def ingest(self, store, path, expect_appended, expect_last):
        r, t = run([self.binary, "ingest", "--config", self.config, "--store", store.arg, path])
        out = json.loads(r.stdout.strip().splitlines()[-1])
        if out.get("appended") != expect_appended or out.get("last_position") != expect_last:
            print("FAILED: ingest of %s printed %s, expected appended %d, last_position %d"
                  % (path, r.stdout.strip(), expect_appended, expect_last))
            raise SystemExit(1)
        print("  ingest %s: %s (%.1fs)" % (os.path.basename(path), r.stdout.strip(), t))

    def catch_up(self, store):
        _, t = run([self.binary, "run", "--config", self.config, "--store", store.arg,
                    "--listen", "127.0.0.1:0",
                    "--exit-when-caught-up"])
        print("  run --exit-when-caught-up: %.1fs" % t)

    def check(self, events, store):
        r = subprocess.run([sys.executable, self.oracle, "--events", events] +
                           store.oracle_args(),
                           capture_output=True, text=True, timeout=TIMEOUT_S)
        print("  " + (r.stdout + r.stderr).strip().replace("\n", "\n  "))
        return r.returncode == 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--binary", required=True)
    ap.add_argument("--source-dir", required=True)
    ap.add_argument("--orders", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--keep", action="store_true", help="keep the temp dir")
    ap.add_argument("--store-kind", default="sqlite", choices=["sqlite", "postgres"])
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="sv-e2e-orders-")
    h = Harness(os.path.abspath(args.binary), os.path.abspath(args.source_dir), tmp)
    events = os.path.join(tmp, "events.ndjson")
    _, t = run([h.binary, "gen", "orders", "--orders", str(args.orders), "--seed",
                str(args.seed), "--dup-rate", "0.05", "--reorder-rate", "0.05", "--delay-rate",
                "0.01", "--malformed-rate", "0.002", "--out", events])
    total = count_lines(events)
    print("gen: %d orders, %d lines (%.1fs) in %s" % (args.orders, total, t, tmp))

    failures = []
    print("scenario 1: one ingest, one run")
    stores = []
    store = Store.create(args.store_kind, tmp, "one")
    stores.append(store)
    h.ingest(store, events, total, total)
    h.catch_up(store)
    if not h.check(events, store):
        failures.append("one ingest")

    print("scenario 2: three chunks, a run after each")
    store = Store.create(args.store_kind, tmp, "chunks")
    stores.append(store)
    with open(events, "rb") as f:
        lines = f.readlines()
    bounds = [0, total // 3, 2 * total // 3, total]
    for i in range(3):
        chunk = os.path.join(tmp, "chunk%d.ndjson" % (i + 1))
        with open(chunk, "wb") as f:
            f.writelines(lines[bounds[i]:bounds[i + 1]])
        h.ingest(store, chunk, bounds[i + 1] - bounds[i], bounds[i + 1])
        h.catch_up(store)
    if not h.check(events, store):
        failures.append("three chunks")

    return verdict(failures, tmp, stores, keep=args.keep)


if __name__ == "__main__":
    sys.exit(main())
