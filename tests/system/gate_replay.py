#!/usr/bin/env python3
"""The gate decides from the input alone: one log through 1, 2 and 4 lanes, through a run split
by a restart, and through a 4-worker rebuild gives identical views, gate state and counters.

The log (generated here, seeded) mixes keys with a sequence (duplicates, swaps that stash, a
gap that never fills and expires into a dead letter, poison events that park their key and hold
its later events) and keys without one, deduplicated by event id over `dedup_window` positions:
repeats a few positions after the original (dropped) and far after it (applied again). The far
repeats are what lane-local windows decided differently: a lane sees fewer ids between the two
than the source does. Keys without a sequence and without poison are also checked against the
rule computed here (a repeat within `dedup_window` positions of its id's last application is a
duplicate).

    python3 tests/system/gate_replay.py --binary build/src/cli/streamview [--store-kind sqlite]
"""

import json
import os
import random
import re
import sys

from harness import start_test, verdict
from lanes import DUMPS, differences, run
from stores import Store

WINDOW = 40  # gate.dedup_window, in positions

CONFIG = """
store: {kind: sqlite, path: unused.db}
sources:
  s:
    kind: log
    key: id
    type: type
    sequence: {field: seq}
    event_id: eid
    first_sequence: 1
    unknown_types: dead_letter
    event_types: [Set, Add, Price]
gate: {stash_max_age_ms: 1000000000, stash_max_events: 4, dedup_window: %d}
engine:
  lanes: %d
  batch_events: 300
  rebuild_threads: 4
views:
  v:
    source: s
    key: [id]
    columns: {id: text, total: integer, n: {type: integer, default: 0}, net: real}
    on:
      Set: {set: {id: e.id, total: e.value, n: n + 1}}
      Add: {set: {id: e.id, total: "coalesce(total, 0) + e.value", n: n + 1}}
      Price: {set: {id: e.id, net: e.value * 10, n: n + 1}}
"""

# What the engine keeps (as lanes.py compares it), with this config's view. The reason of an
# expired stash names its log time, which is each ingest's own: normalized() masks it.
STATE = dict({"v": "SELECT * FROM v ORDER BY id"},
             **{name: sql for name, sql in DUMPS.items() if name.startswith("sv_")})
STATE.pop("sv_counters")  # compared apart: a rebuild keeps the live counters
COUNTERS = "SELECT * FROM sv_counters ORDER BY 1"


def generate(seed):
    """Event lines in log order, and the keys whose totals the dedup rule alone decides."""
    rnd = random.Random(seed)
    streams = []
    checked = []
    for k in range(240):
        key = "k%03d" % k
        events = []
        if k % 2 == 0:  # sequenced
            n = rnd.randint(4, 12)
            for seq in range(1, n + 1):
                events.append({"id": key, "type": "Set" if seq == 1 else "Add", "seq": seq,
                               "value": rnd.randint(1, 9)})
            if k % 10 == 0 and n >= 3:  # a gap that never fills: 7 events wait behind it
                del events[1]
                events += [{"id": key, "type": "Add", "seq": n + 1 + i, "value": 1}
                           for i in range(6)]
            elif k % 6 == 0:  # a swap: one event stashes until the next one fills the gap
                i = rnd.randint(1, len(events) - 2)
                events[i], events[i + 1] = events[i + 1], events[i]
            for i in rnd.sample(range(len(events)), 2):  # redeliveries: duplicates
                events.insert(i + 1, dict(events[i]))
        else:  # no sequence: event ids
            n = rnd.randint(4, 14)
            for i in range(n):
                events.append({"id": key, "type": "Add", "eid": "%s-e%d" % (key, i),
                               "value": rnd.randint(1, 9)})
            if k % 9 != 4:  # (poisoned keys: equality only)
                checked.append(key)
        if k % 9 == 4:  # poison: parks the key, its later events are held
            at = rnd.randint(1, len(events) - 1)
            events.insert(at, {"id": key, "type": "Price", "value": "cheap", "eid": key + "-p"})
        streams.append(events)
    # Interleave the keys' streams, each in its own order.
    order = [i for i, s in enumerate(streams) for _ in s]
    rnd.shuffle(order)
    cursor = [0] * len(streams)
    log = []
    for i in order:
        log.append(streams[i][cursor[i]])
        cursor[i] += 1
    # Repeats of events without a sequence: near (dropped) and far (applied again).
    for _ in range(160):
        i = rnd.randrange(len(log))
        if "seq" in log[i] or log[i]["type"] != "Add":
            continue
        distance = rnd.choice([rnd.randint(3, 25), rnd.randint(70, 160)])
        log.insert(min(len(log), i + distance), dict(log[i]))
    return [json.dumps(e, separators=(",", ":")) for e in log], checked


def expected_totals(lines, keys):
    """Totals by the dedup rule, computed from the log for keys without sequence or poison."""
    wanted = set(keys)
    seen = {}
    totals = {}
    for position, line in enumerate(lines, start=1):  # the log's positions: 1, 2, ...
        e = json.loads(line)
        if e["id"] not in wanted:
            continue
        last = seen.get(e["eid"])
        if last is not None and abs(position - last) <= WINDOW:
            continue
        seen[e["eid"]] = position
        totals[e["id"]] = totals.get(e["id"], 0) + e["value"]
    return totals


def normalized(rows, name):
    if name != "sv_dead_letters":
        return rows
    return [tuple(re.sub(r" since .*$", " since <log time>", str(c)) for c in r) for r in rows]


def dump(store):
    out = {name: normalized(store.rows(sql), name) for name, sql in STATE.items()}
    out["counters"] = store.rows(COUNTERS)
    return out


def main():
    args, binary, tmp = start_test(__doc__, "sv-gate-replay-", store_kind=True)
    lines, checked = generate(16)
    halves = (lines[:len(lines) // 2], lines[len(lines) // 2:])
    files = []
    for i, part in enumerate(halves):
        files.append(os.path.join(tmp, "events%d.ndjson" % i))
        with open(files[-1], "w") as f:
            f.write("\n".join(part) + "\n")
    stores = []

    def config(lanes):
        path = os.path.join(tmp, "lanes%d.yaml" % lanes)
        with open(path, "w") as f:
            f.write(CONFIG % (WINDOW, lanes))
        return path

    def engine_run(store, lanes):
        return run([binary, "run", "--config", config(lanes), "--store", store.arg, "--listen",
                    "127.0.0.1:0", "--exit-when-caught-up"])

    def build(name, lanes, restart=False):
        store = Store.create(args.store_kind, tmp, name)
        stores.append(store)
        for f in files:
            run([binary, "ingest", "--config", config(lanes), "--store", store.arg, f])
            if restart:
                engine_run(store, lanes)
        if not restart:
            engine_run(store, lanes)
        return store

    failures = []
    every = list(STATE) + ["counters"]
    print("1. %d events through 1, 2 and 4 lanes" % len(lines))
    reference = dump(build("lanes1", 1))
    counters = dict(reference["counters"])
    print("  one lane: %d keys, %d dead letters, %d pending; counters %s"
          % (len(reference["v"]), len(reference["sv_dead_letters"]), len(reference["sv_pending"]),
             {k: v for k, v in counters.items() if not k.startswith("s/type/")}))
    for counter in ("s/duplicates_total", "s/out_of_order_total", "s/stashed_total",
                    "s/stash_expired_total", "s/parked_total", "s/held_total"):
        if counters.get(counter, 0) == 0:
            failures.append("the workload has no %s" % counter)
    totals = {r[0]: r[1] for r in reference["v"]}
    want = expected_totals(lines, checked)
    wrong = ["%s: %s, by the rule %s" % (k, totals.get(k), v) for k, v in sorted(want.items())
             if totals.get(k) != v]
    print("  %d keys without a sequence checked against the dedup rule: %s"
          % (len(want), "as computed" if not wrong else "; ".join(wrong[:5])))
    failures += ["rule: " + w for w in wrong]
    for lanes in (2, 4):
        diff = differences(reference, dump(build("lanes%d" % lanes, lanes)), every)
        print("  %d lanes: %s" % (lanes, "equal" if not diff else "; ".join(diff)))
        failures += ["%d lanes: %s" % (lanes, d) for d in diff]

    print("2. the log in two halves, the engine restarted between them (2 lanes)")
    diff = differences(reference, dump(build("restart", 2, restart=True)), every)
    print("  restarted: %s" % ("equal" if not diff else "; ".join(diff)))
    failures += ["restart: %s" % d for d in diff]

    print("3. rebuild --all of the one-lane store with 4 fold workers")
    r = run([binary, "rebuild", "--all", "--config", config(1), "--store", stores[0].arg])
    if "folding again" in r.stdout + r.stderr:
        failures.append("rebuild: the fold fell back to one thread")
    diff = differences(reference, dump(stores[0]), list(STATE))
    print("  rebuilt: %s" % ("equal" if not diff else "; ".join(diff)))
    failures += ["rebuild: %s" % d for d in diff]

    return verdict(failures, tmp, stores)

if __name__ == "__main__":
    sys.exit(main())
