#!/usr/bin/env python3
"""Rebuild and dead-letter operations, through the streamview binary.

1. Zero-downtime rebuild: while `rebuild --all` (then `--view`) runs, a reader polls both views
   on its own connection; every read must see the full, consistent view (never empty, never
   half-built), and the oracle must pass afterwards.
2. A changed definition (another VAT rate) is detected at start and rebuilt; the oracle with
   the new rate passes.
3. A poison event parks only its key; `dlq replay --payload` applies the fix and the held events
   follow in order; `dlq discard` consumes a poison and releases its key.
4. A broken config fails at load with file:line:col.

    python3 tests/system/rebuild_and_dlq.py --binary build/src/cli/streamview --source-dir . \
        [--store-kind sqlite|postgres] [--orders N]
"""

import argparse
import json
import os
import re
import shutil
import sqlite3
import sys
import tempfile
import threading

from harness import run_checked, wait_until
from stores import Store

STORES = []
KIND = "sqlite"


def run(cmd, expect=0):
    return run_checked(cmd, timeout=900, ok_codes=(expect,))[0]


def check(cond, what):
    if not cond:
        print("FAILED: " + what)
        raise SystemExit(1)
    print("  ok: " + what)


COUNTS = "SELECT (SELECT count(*) FROM orders_view), (SELECT count(*) FROM order_items_view)"


def counts(store):
    return store.rows(COUNTS)[0]


def new_store(tmp, name):
    store = Store.create(KIND, tmp, name)
    STORES.append(store)
    return store


def rebuild_without_downtime(b, cfg, oracle, tmp, orders):
    print("1. rebuild beside the live views, swap atomically")
    events = os.path.join(tmp, "events.ndjson")
    store = new_store(tmp, "r")
    run([b, "gen", "orders", "--orders", str(orders), "--dup-rate", "0.05",
         "--reorder-rate", "0.05", "--malformed-rate", "0.002", "--out", events, "--quiet"])
    run([b, "ingest", "--config", cfg, "--store", store.arg, events])
    run([b, "run", "--config", cfg, "--store", store.arg, "--listen", "127.0.0.1:0",
         "--exit-when-caught-up"])
    run([sys.executable, oracle, "--events", events] + store.oracle_args())
    expected = counts(store)
    for args in (["--all"], ["--view", "order_items_view"]):
        seen, stop = [], threading.Event()

        def reader():
            if store.kind != "sqlite":
                while not stop.is_set():  # one statement, one snapshot, per read
                    seen.append(counts(store))
                return
            con = sqlite3.connect(store.arg, timeout=30)
            while not stop.is_set():
                seen.append(tuple(con.execute("SELECT count(*) FROM %s" % v).fetchone()[0]
                                  for v in ("orders_view", "order_items_view")))
            con.close()

        t = threading.Thread(target=reader)
        t.start()
        # Reads on both sides of the rebuild, counted rather than hoped for from its duration.
        wait_until(lambda: len(seen) >= 2, "two reads before the rebuild")
        r = run([b, "rebuild", "--config", cfg, "--store", store.arg] + args)
        after = len(seen)
        wait_until(lambda: len(seen) >= max(5, after + 2), "reads after the rebuild")
        stop.set()
        t.join()
        stats = json.loads(r.stdout.strip().splitlines()[-1])
        check(stats["events"] > 0, "rebuild %s replayed %d events" % (" ".join(args), stats["events"]))
        check(len(seen) >= 5 and all(c == expected for c in seen),
              "%d reads during rebuild %s all saw the full views %s"
              % (len(seen), " ".join(args), expected))
        run([sys.executable, oracle, "--events", events] + store.oracle_args())
        check(True, "oracle agrees after rebuild %s" % " ".join(args))
    active = dict(store.rows("SELECT view, version FROM sv_view_versions WHERE active"))
    tables = store.tables()
    check(active == {"orders_view": 2, "order_items_view": 3},
          "active versions moved forward: %s" % active)
    # One standby per view is kept for a rollback (engine.standby_versions); older ones go.
    check("orders_view__v1" in tables and "order_items_view__v2" in tables
          and "order_items_view__v1" not in tables,
          "the version each swap replaced is kept as the standby, older ones dropped")
    return events, store


def changed_definition(b, cfg, oracle, tmp, events, store):
    print("2. a changed definition is detected at start and rebuilt")
    with open(cfg) as f:
        text = f.read()
    changed = os.path.join(tmp, "changed.yaml")
    with open(changed, "w") as f:
        f.write(text.replace("vat_rate: 0.23", "vat_rate: 0.08"))
    r = run([b, "run", "--config", changed, "--store", store.arg, "--listen",
             "127.0.0.1:0", "--exit-when-caught-up"])
    check("definition changed" in r.stderr, "the engine says which views changed")
    run([sys.executable, oracle, "--events", events, "--vat", "0.08"] + store.oracle_args())
    check(True, "oracle with the new VAT rate agrees")


def ev(t, key, seq, **fields):
    e = {"type": t, "eventId": "%s-%d" % (key, seq), "occurredAt": "2026-01-05T10:00:0%dZ" % seq,
         "orderId": key}
    e.update(fields)
    return json.dumps({"key": key, "headers": {"x-sequence": str(seq)}, "value": e})


def dead_letters(b, cfg, tmp):
    print("3. poison events park only their key; replay and discard release it")
    store = new_store(tmp, "d")
    lines = [
        ev("OrderCreated", "a", 1, customerId="c1", currency="EUR",
           items=[{"sku": "S1", "qty": 1, "price": 10.0}]),
        ev("OrderCreated", "b", 1, customerId="c2", currency="EUR", items=[]),
        ev("OrderItemAdded", "a", 2, sku="S2", qty="3", price=2.0),  # poison: string qty
        ev("OrderStatusChanged", "a", 3, status="Paid"),              # held behind it
        ev("OrderStatusChanged", "b", 2, status="Paid"),              # other keys go on
        ev("OrderCreated", "c", 1, customerId="c3", currency="EUR", items=[]),
        ev("OrderStatusChanged", "c", 2, status={"not": "a string"}),  # poison
        ev("OrderStatusChanged", "c", 3, status="Shipped"),
        "{broken json",
    ]
    path = os.path.join(tmp, "poison.ndjson")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    run([b, "ingest", "--config", cfg, "--store", store.arg, path])
    run([b, "run", "--config", cfg, "--store", store.arg, "--listen", "127.0.0.1:0",
         "--exit-when-caught-up"])

    def row(key):
        rows = store.rows("SELECT status, item_count, total_net FROM orders_view "
                          "WHERE order_id = '%s'" % key)
        return rows[0] if rows else None

    listing = [json.loads(l) for l in run([b, "dlq", "list", "--config", cfg, "--store", store.arg,
                                            "--json"]).stdout.splitlines()]
    dls = [d for d in listing if "id" in d]
    parked = {d["key"]: d for d in listing if "held" in d}
    check(len(dls) == 3, "three dead letters: %s" % [d["reason"] for d in dls])
    by_key = {d["key"]: d for d in dls}
    check(by_key["a"]["parks_key"] and "operator" in by_key["a"]["reason"],
          "string qty is a dead letter that parks key a: %s" % by_key["a"]["reason"])
    check(by_key[""]["position"] == 9 and "unparseable" in by_key[""]["reason"],
          "broken JSON is a dead letter at its position")
    check(parked.get("a", {}).get("held") == 1 and parked.get("c", {}).get("held") == 1,
          "one event held behind each parked key")
    check(row("a") == ("Created", 1, 10.0), "key a stopped before its poison: %s" % (row("a"),))
    check(row("b") == ("Paid", 0, 0.0), "key b went on: %s" % (row("b"),))

    fixed = os.path.join(tmp, "fixed.json")
    with open(fixed, "w") as f:
        f.write(ev("OrderItemAdded", "a", 2, sku="S2", qty=3, price=2.0))
    run([b, "dlq", "replay", str(by_key["a"]["id"]), "--config", cfg, "--store", store.arg,
         "--payload", fixed])
    check(row("a") == ("Paid", 2, 16.0), "replayed fix applied, then the held event: %s"
          % (row("a"),))
    r = run([b, "dlq", "replay", str(by_key["c"]["id"]), "--config", cfg, "--store", store.arg],
            expect=1)
    check("still fails" in r.stderr, "replaying an unfixed poison fails and says why")
    run([b, "dlq", "discard", str(by_key["c"]["id"]), "--config", cfg, "--store", store.arg])
    check(row("c") == ("Shipped", 0, 0.0), "discard consumed the poison and released key c: %s"
          % (row("c"),))
    stats = json.loads(run([b, "stats", "--config", cfg, "--store", store.arg]).stdout)
    check(stats.get("orders/replayed_total") == 1 and stats.get("orders/discarded_total") == 1
          and stats.get("orders/released_total") == 2, "replay, discard and releases are counted")


def bad_config(b, cfg, tmp):
    print("4. a bad config fails at load with file:line:col")
    with open(cfg) as f:
        text = f.read()
    bad = os.path.join(tmp, "bad.yaml")
    with open(bad, "w") as f:
        f.write(text.replace("customer_id: e.customerId", "customer_id: e.customerId +"))
    r = run([b, "check", "--config", bad], expect=2)
    line = next(i + 1 for i, l in enumerate(text.splitlines()) if "customer_id: e.customerId" in l)
    check(re.search(r"bad\.yaml:%d:\d+: syntax error" % line, r.stderr) is not None,
          "the error names file and line %d: %s" % (line, r.stderr.strip()[:200]))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--binary", required=True)
    p.add_argument("--source-dir", required=True)
    p.add_argument("--store-kind", default="sqlite", choices=["sqlite", "postgres"])
    # The sanitizer build passes fewer: the same paths, at a fraction of the time.
    p.add_argument("--orders", type=int, default=30000)
    a = p.parse_args()
    global KIND
    KIND = a.store_kind
    cfg = os.path.join(a.source_dir, "examples", "orders", "streamview.yaml")
    oracle = os.path.join(a.source_dir, "tests", "oracle", "orders_oracle.py")
    tmp = tempfile.mkdtemp(prefix="sv-rebuild-dlq-")
    try:
        events, store = rebuild_without_downtime(a.binary, cfg, oracle, tmp, a.orders)
        changed_definition(a.binary, cfg, oracle, tmp, events, store)
        dead_letters(a.binary, cfg, tmp)
        bad_config(a.binary, cfg, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        for store in STORES:
            store.drop()
    print("PASSED")


if __name__ == "__main__":
    main()
