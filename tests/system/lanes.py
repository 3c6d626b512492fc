#!/usr/bin/env python3
"""Lanes (engine.lanes): a source's keys processed concurrently must give exactly what one
lane gives, and what the independent oracle computes.

1. gen orders with duplicates, swaps, long delays (stashes) and malformed lines; ingest the same
   file into one store per lane count (1, 2, 3); `run --exit-when-caught-up` with that many
   lanes. Each store passes the oracle, and every table the engine keeps (views, key states,
   pending events, dead letters, event ids, counters, positions) is equal to the one-lane
   store's.
2. A log ingested with another key field than the one the engine runs with (the stored routing
   keys are not the gate keys): the engine notices before any effect, says "lanes off", goes on
   with one lane, and the store equals the one-lane store of scenario 1.
3. `rebuild --all` of that store with 2 fold threads: the fold notices the same, folds again on
   one thread, and the views and key states equal scenario 1's.

    python3 tests/system/lanes.py --binary build/src/cli/streamview --source-dir . \
        [--store-kind sqlite|postgres]
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile

from harness import run_checked, verdict
from stores import Store

TIMEOUT_S = 900

# What the engine keeps, in an order that does not depend on how lanes interleaved. Dead-letter
# ids are assigned in commit order, so they are left out; everything else must be identical.
DUMPS = {
    "orders_view": "SELECT * FROM orders_view ORDER BY order_id",
    "order_items_view": "SELECT * FROM order_items_view ORDER BY order_id, line_no",
    "sv_keys": "SELECT * FROM sv_keys ORDER BY 1, 2",
    # (not log_time_us: each store ingested the file at its own time)
    "sv_pending": "SELECT source, partition, position, key, sequence, held, raw FROM sv_pending "
                  "ORDER BY 1, 2, 3",
    "sv_dead_letters": "SELECT source, partition, position, key, reason, raw, state, parks_key "
                       "FROM sv_dead_letters ORDER BY source, partition, position",
    "sv_event_ids": "SELECT * FROM sv_event_ids ORDER BY 1, 2",
    "sv_counters": "SELECT * FROM sv_counters ORDER BY 1",
    "sv_positions": "SELECT * FROM sv_positions ORDER BY 1, 2",
}


def run(cmd):
    return run_checked(cmd, timeout=TIMEOUT_S)[0]


def config_with(base, tmp, name, lanes, key_field=None):
    """The orders example with `engine.lanes: lanes` (and another source key field)."""
    text = open(base).read()
    text = text.replace("\nengine:\n", "\nengine:\n  lanes: %d\n" % lanes, 1)
    if key_field:
        text = re.sub(r"(\n    key: )orderId", r"\g<1>" + key_field, text, count=1)
    path = os.path.join(tmp, name + ".yaml")
    with open(path, "w") as f:
        f.write(text)
    return path


def dump(store):
    return {name: store.rows(sql) for name, sql in DUMPS.items()}


def differences(reference, other, names=DUMPS):
    out = []
    for name in names:
        a, b = reference[name], other[name]
        if a != b:
            missing = [r for r in a if r not in set(b)][:3]
            extra = [r for r in b if r not in set(a)][:3]
            out.append("%s: %d vs %d rows; only in one lane: %s; only here: %s"
                       % (name, len(a), len(b), missing, extra))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--binary", required=True)
    ap.add_argument("--source-dir", required=True)
    ap.add_argument("--orders", type=int, default=30000)
    ap.add_argument("--store-kind", default="sqlite", choices=["sqlite", "postgres"])
    args = ap.parse_args()
    binary = os.path.abspath(args.binary)
    base = os.path.join(os.path.abspath(args.source_dir), "examples", "orders", "streamview.yaml")
    oracle = os.path.join(os.path.abspath(args.source_dir), "tests", "oracle", "orders_oracle.py")
    tmp = tempfile.mkdtemp(prefix="sv-lanes-")
    events = os.path.join(tmp, "events.ndjson")
    run([binary, "gen", "orders", "--orders", str(args.orders), "--seed", "11", "--dup-rate",
         "0.05", "--reorder-rate", "0.05", "--delay-rate", "0.01", "--malformed-rate", "0.002",
         "--out", events, "--quiet"])
    failures = []
    stores = []

    def build(name, lanes, ingest_key=None):
        store = Store.create(args.store_kind, tmp, name)
        stores.append(store)
        ingest_cfg = config_with(base, tmp, name + "-ingest", lanes, ingest_key)
        run([binary, "ingest", "--config", ingest_cfg, "--store", store.arg, events])
        cfg = config_with(base, tmp, name, lanes)
        r = run([binary, "run", "--config", cfg, "--store", store.arg, "--listen", "127.0.0.1:0",
                 "--exit-when-caught-up"])
        o = subprocess.run([sys.executable, oracle, "--events", events] + store.oracle_args(),
                           capture_output=True, text=True, timeout=TIMEOUT_S)
        if o.returncode != 0:
            failures.append("%s: oracle: %s" % (name, (o.stdout + o.stderr).strip()[-2000:]))
        return store, r.stderr

    print("1. the same log with 1, 2 and 3 lanes")
    one, _ = build("lanes1", 1)
    reference = dump(one)
    print("  one lane: %d orders, %d items, %d dead letters, %d pending"
          % (len(reference["orders_view"]), len(reference["order_items_view"]),
             len(reference["sv_dead_letters"]), len(reference["sv_pending"])))
    if not reference["sv_dead_letters"] or not reference["sv_pending"]:
        failures.append("the workload left no dead letters or no pending events to compare")
    for lanes in (2, 3):
        store, log = build("lanes%d" % lanes, lanes)
        if "lanes off" in log:
            failures.append("%d lanes: fell back to one lane on a consistent log" % lanes)
        diff = differences(reference, dump(store))
        print("  %d lanes: %s" % (lanes, "equal" if not diff else "; ".join(diff)))
        failures += ["%d lanes: %s" % (lanes, d) for d in diff]

    print("2. routing keys that are not the gate keys")
    store, log = build("mismatch", 2, ingest_key="customerId")
    if "lanes off" not in log:
        failures.append("mismatch: the engine did not say it turned lanes off")
    diff = differences(reference, dump(store))
    print("  2 lanes, routed by customerId: %s" % ("equal" if not diff else "; ".join(diff)))
    failures += ["mismatch: %s" % d for d in diff]

    print("3. a rebuild of that log folds by key on 2 threads, then again on one")
    cfg = config_with(base, tmp, "mismatch-rebuild", 2)
    text = open(cfg).read().replace("\nengine:\n", "\nengine:\n  rebuild_threads: 2\n", 1)
    with open(cfg, "w") as f:
        f.write(text)
    r = run([binary, "rebuild", "--all", "--config", cfg, "--store", store.arg])
    if "folding again on one thread" not in r.stdout + r.stderr:
        failures.append("rebuild: the misrouted fold was not noticed")
    rebuilt = dump(store)
    diff = [d for d in differences(reference, rebuilt)
            if d.split(":")[0] in ("orders_view", "order_items_view", "sv_keys", "sv_positions")]
    print("  rebuilt: %s" % ("equal" if not diff else "; ".join(diff)))
    failures += ["rebuild: %s" % d for d in diff]

    return verdict(failures, tmp, stores)


if __name__ == "__main__":
    sys.exit(main())
