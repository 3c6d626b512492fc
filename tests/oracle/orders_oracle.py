#!/usr/bin/env python3
"""Independent oracle for the orders example (examples/orders/streamview.yaml).

Reads an NDJSON workload and computes, without any StreamView code, what orders_view,
order_items_view and sv_dead_letters must hold once every line has been processed; then
compares that with a StreamView SQLite store.

    python3 tests/oracle/orders_oracle.py --events FILE --db DB [--vat 0.23]

Exit 0 with a one-line summary when the store matches, 1 with the first differences otherwise,
2 on usage or I/O errors. Python 3 standard library only.
"""

import argparse
import datetime
import json
import math
import re
import shutil
import sqlite3
import subprocess
import sys
import time

DECLARED_TYPES = {"OrderCreated", "OrderItemAdded", "OrderStatusChanged", "OrderPurged"}
MAX_DIFFS = 20

ORDERS_COLUMNS = ["order_id", "customer_id", "status", "total_net", "total_gross", "currency",
                  "item_count", "last_event_sequence", "last_event_id", "updated_at"]
ORDERS_REALS = {"total_net", "total_gross"}
ITEMS_COLUMNS = ["order_id", "line_no", "sku", "qty", "price", "net_line_total",
                 "gross_line_total"]
ITEMS_REALS = {"price", "net_line_total", "gross_line_total"}
REAL_TOLERANCE = 1e-6


class DeadLetter(Exception):
    """The line cannot be decoded into an event."""


class TypeErrorInEvent(Exception):
    """The event decodes but a handler cannot evaluate it (e.g. qty is a string)."""


def round2(x):
    """round(x, 2) rounding half away from zero, as C's round() does."""
    if x is None:
        return None
    r = math.floor(abs(x) * 100 + 0.5) / 100
    return -r if x < 0 else r


def _reject_constant(name):
    raise ValueError("not JSON: " + name)


_TIME_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2}))?(?:\.(\d+))?"
    r"([Zz]|[+-]\d{2}(?::?\d{2})?)?)?$")


# Already in the normalised form (the generator's): returned as is when the day exists.
_CANONICAL_RE = re.compile(
    r"\d{4}-(?:0[1-9]|1[0-2])-(\d{2})T(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d\.\d{6}Z")


def normalise_time(text):
    """ISO-8601 text -> 'YYYY-MM-DDTHH:MM:SS.ffffffZ' in UTC (fixed width, so text order is time order)
    (microsecond precision, like the engine's timestamps); None when not a timestamp."""
    if not isinstance(text, str):
        return None
    m = _CANONICAL_RE.fullmatch(text)
    if m and "01" <= m.group(1) <= "28":
        return text
    m = _TIME_RE.match(text)
    if not m:
        return None
    year, month, day, hour, minute, second, frac, zone = m.groups()
    micros = int((frac or "0")[:6].ljust(6, "0"))
    try:
        t = datetime.datetime(int(year), int(month), int(day), int(hour or 0),
                              int(minute or 0), int(second or 0), micros)
    except ValueError:
        return None
    if zone and zone not in ("Z", "z"):
        sign = 1 if zone[0] == "+" else -1
        digits = zone[1:].replace(":", "")
        offset = datetime.timedelta(hours=int(digits[:2]), minutes=int(digits[2:4] or 0))
        t -= sign * offset
    return t.strftime("%Y-%m-%dT%H:%M:%S") + ".%06dZ" % t.microsecond


def number(value):
    """A JSON number as a Python number; None stays None (SQL NULL); anything else is a type
    error."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeErrorInEvent("not a number: %r" % (value,))
    return value


def mul(a, b):
    return None if a is None or b is None else a * b


def decode(raw):
    """One line -> (key, type, sequence or None, event_id, event). Raises DeadLetter."""
    try:
        obj = json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as e:
        raise DeadLetter("not valid JSON: %s" % e)
    if not isinstance(obj, dict):
        raise DeadLetter("not a JSON object")
    headers = {}
    key = None
    event = obj
    if isinstance(obj.get("value"), dict) and ("key" in obj or "headers" in obj):
        event = obj["value"]
        key = obj.get("key")
        if isinstance(obj.get("headers"), dict):
            headers = obj["headers"]
    if key is None or key == "":
        key = event.get("orderId")
    if isinstance(key, bool) or not isinstance(key, (str, int)) or key == "":
        raise DeadLetter("no key")
    key = str(key)
    etype = event.get("type")
    if not isinstance(etype, str) or etype == "":
        raise DeadLetter("no type")
    if etype not in DECLARED_TYPES:
        raise DeadLetter("unknown type " + etype)
    seq = headers.get("x-sequence")
    if seq is None:
        seq = event.get("sequence")
    if seq is not None:
        try:
            if isinstance(seq, bool) or isinstance(seq, float):
                raise ValueError
            seq = int(seq)
        except ValueError:
            raise DeadLetter("bad sequence %r" % (seq,))
    occurred = event.get("occurredAt")
    if isinstance(occurred, str) and normalise_time(occurred) is None:
        raise DeadLetter("occurredAt is not an ISO-8601 timestamp")
    return key, etype, seq, event.get("eventId"), event


class Model:
    """The two views as the example config defines them."""

    def __init__(self, vat):
        self.vat = vat
        self.orders = {}  # order_id -> row dict
        self.items = {}   # (order_id, line_no) -> row dict

    def apply(self, etype, seq, event_id, e):
        # Evaluate everything first, so a type error changes nothing.
        factor = 1 + self.vat
        order_id = e.get("orderId")
        if etype == "OrderPurged":
            self.orders.pop(order_id, None)
            return
        old = self.orders.get(order_id)
        row = dict(old) if old else {c: None for c in ORDERS_COLUMNS}
        if old is None:
            row["item_count"] = 0  # column default
        new_items = []
        if etype == "OrderCreated":
            items = e.get("items")
            if items is not None and not isinstance(items, list):
                raise TypeErrorInEvent("items is not an array")
            items = items or []
            lines = []
            for i in items:
                if not isinstance(i, dict):
                    raise TypeErrorInEvent("item is not an object")
                lines.append((i, number(i.get("qty")), number(i.get("price"))))
            total = None
            for _, q, p in lines:
                v = mul(q, p)
                if v is not None:
                    total = v if total is None else total + v
            if total is None:
                total = 0
            row["customer_id"] = e.get("customerId")
            row["status"] = "Created"
            row["currency"] = e.get("currency")
            row["total_net"] = round2(total)
            row["total_gross"] = round2(total * factor)
            row["item_count"] = len(items)
            for n, (i, q, p) in enumerate(lines, 1):
                new_items.append({"order_id": order_id, "line_no": n, "sku": i.get("sku"),
                                  "qty": q, "price": p, "net_line_total": round2(mul(q, p)),
                                  "gross_line_total": round2(mul(mul(q, p), factor))})
        elif etype == "OrderItemAdded":
            q, p = number(e.get("qty")), number(e.get("price"))
            base = old["total_net"] if old and old["total_net"] is not None else 0
            qp = mul(q, p)
            s = None if qp is None else base + qp
            row["total_net"] = round2(s)
            row["total_gross"] = round2(mul(s, factor))
            row["item_count"] = (old["item_count"] if old and old["item_count"] is not None
                                 else 0) + 1
            new_items.append({"order_id": order_id, "line_no": row["item_count"],
                              "sku": e.get("sku"), "qty": q, "price": p,
                              "net_line_total": round2(qp),
                              "gross_line_total": round2(mul(qp, factor))})
        elif etype == "OrderStatusChanged":
            row["status"] = e.get("status")
        row["order_id"] = order_id
        row["last_event_sequence"] = seq
        row["last_event_id"] = event_id
        row["updated_at"] = normalise_time(e.get("occurredAt"))
        self.orders[order_id] = row
        for item in new_items:
            self.items[(item["order_id"], item["line_no"])] = item


class KeyState:
    __slots__ = ("next_seq", "stash", "parked", "seen_ids")

    def __init__(self):
        self.next_seq = 1
        self.stash = {}  # sequence -> (line_no, type, event_id, event)
        self.parked = False
        self.seen_ids = set()


def expected_state(events_path, vat):
    model = Model(vat)
    keys = {}
    dead = []  # (line number, reason)
    lines = 0
    applied = 0
    with open(events_path, "rb") as f:
        for line_no, raw in enumerate(f, 1):
            lines = line_no
            raw = raw.rstrip(b"\n")
            if not raw.strip():
                continue  # blank lines are not events (the generator writes none)
            try:
                key, etype, seq, event_id, event = decode(raw)
            except DeadLetter as e:
                dead.append((line_no, str(e)))
                continue
            st = keys.get(key)
            if st is None:
                st = keys[key] = KeyState()
            if st.parked:
                continue  # held behind the key's poison event
            if seq is None:  # unordered: applied on arrival, duplicates by event id
                if event_id is not None:
                    if event_id in st.seen_ids:
                        continue
                    st.seen_ids.add(event_id)
                try:
                    model.apply(etype, None, event_id, event)
                    applied += 1
                except TypeErrorInEvent as e:
                    dead.append((line_no, "type error: %s" % e))
                    st.parked = True
                continue
            if seq < st.next_seq or seq in st.stash:
                continue  # duplicate
            st.stash[seq] = (line_no, etype, event_id, event)
            while st.next_seq in st.stash:
                n, t, eid, ev = st.stash.pop(st.next_seq)
                try:
                    model.apply(t, st.next_seq, eid, ev)
                    applied += 1
                except TypeErrorInEvent as e:
                    dead.append((n, "type error: %s" % e))
                    st.parked = True
                    break
                st.next_seq += 1
    parked = sum(1 for s in keys.values() if s.parked)
    gaps = sum(1 for s in keys.values() if s.stash and not s.parked)
    dead.sort()
    return model, dead, {"lines": lines, "applied": applied, "keys": len(keys),
                         "parked": parked, "gaps": gaps}


def same(a, b, real):
    """Reals within REAL_TOLERANCE, everything else exactly (None only equals None)."""
    numbers = (int, float)
    if real and isinstance(a, numbers) and isinstance(b, numbers) \
            and not isinstance(a, bool) and not isinstance(b, bool):
        return abs(a - b) <= REAL_TOLERANCE
    return a == b


class PostgresDb:
    """The few reads the comparison makes, from a PostgreSQL store, through `psql` (standard
    library only): each row comes back as JSON, so numbers stay numbers and NULL stays None;
    timestamps are turned into the canonical text form the comparison expects."""

    _TS_RE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?\+00:00")

    def __init__(self, dsn, schema, view_schema):
        self.dsn = dsn
        self.schema = schema
        self.view_schema = view_schema

    def _quote(self, name):
        return '"%s"' % name.replace('"', '""')

    def execute(self, sql):
        # The comparison's SQL names bare tables: views live in the view schema, sv_* tables in
        # the engine's schema.
        def table(m):
            name = m.group(1)
            schema = self.schema if name.startswith("sv_") else self.view_schema
            return "FROM %s.%s" % (self._quote(schema), self._quote(name))
        sql = re.sub(r"FROM (\w+)", table, sql)
        cmd = ["psql", self.dsn, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
               "-c", "SET TimeZone = 'UTC'",
               "-c", "SELECT row_to_json(q)::text FROM (%s) AS q" % sql]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            raise sqlite3.Error("psql: %s" % r.stderr.strip())
        rows = []
        for line in r.stdout.splitlines():
            if not line.strip():
                continue
            obj = json.loads(line)
            row = []
            for v in obj.values():
                if isinstance(v, str) and self._TS_RE.fullmatch(v):
                    v = normalise_time(v)
                row.append(v)
            rows.append(tuple(row))
        return _Rows(rows)


class _Rows(list):
    def fetchall(self):
        return list(self)


def compare_table(name, columns, reals, key_columns, expected_rows, db, diffs):
    rows = db.execute("SELECT %s FROM %s" % (", ".join(columns), name)).fetchall()
    actual = {}
    for r in rows:
        d = dict(zip(columns, r))
        k = tuple(d[c] for c in key_columns)
        if k in actual:
            diffs.append("%s: duplicate row for key %r" % (name, k))
        actual[k] = d
    expected = {tuple(r[c] for c in key_columns): r for r in expected_rows}
    if len(actual) != len(expected) or len(rows) != len(expected):
        diffs.append("%s: %d rows in the store, %d expected" % (name, len(rows), len(expected)))
    for k in sorted(expected, key=repr):
        if len(diffs) >= MAX_DIFFS:
            return len(rows)
        exp = expected[k]
        act = actual.get(k)
        if act is None:
            diffs.append("%s: missing row %r, expected %r" % (name, k, exp))
            continue
        for c in columns:
            if not same(exp[c], act[c], c in reals):
                diffs.append("%s %r: %s is %r, expected %r" % (name, k, c, act[c], exp[c]))
    for k in sorted(actual, key=repr):
        if len(diffs) >= MAX_DIFFS:
            break
        if k not in expected:
            diffs.append("%s: unexpected row %r" % (name, actual[k]))
    return len(rows)


SELFTEST_EVENTS = [
    # 1: o-1 created with two items
    {"type": "OrderCreated", "eventId": "e1", "occurredAt": "2026-01-05T10:00:00.120Z",
     "orderId": "o-1", "customerId": "c-1", "currency": "EUR",
     "items": [{"itemId": "a", "sku": "SKU-1", "qty": 2, "price": 19.99},
               {"itemId": "b", "sku": "SKU-2", "qty": 1, "price": 5.6}], "sequence": 1},
    # 2: o-1 seq 3 arrives before seq 2 (stashed)
    {"key": "o-1", "headers": {"x-sequence": "3"},
     "value": {"type": "OrderStatusChanged", "eventId": "e3", "orderId": "o-1",
               "occurredAt": "2026-01-05T10:00:02.000Z", "status": "Shipped"}},
    '{"type":"OrderCreated","orderId":"o-',  # 3: truncated
    # 4: o-1 seq 2 fills the gap, then seq 3 applies
    {"key": "o-1", "headers": {"x-sequence": "2"},
     "value": {"type": "OrderItemAdded", "eventId": "e2", "orderId": "o-1",
               "occurredAt": "2026-01-05T10:00:01.5Z", "sku": "SKU-9", "qty": 3,
               "price": 0.35}},
    None,  # 5: duplicate of line 1
    {"type": "OrderCreated", "eventId": "e4", "occurredAt": "2026-01-05T11:00:00+01:00",
     "orderId": "o-2", "customerId": "c-2", "currency": "USD",
     "items": [{"sku": "SKU-3", "qty": 1, "price": 10.0}], "sequence": 1},
    # 7: type error: parks o-2
    {"type": "OrderItemAdded", "eventId": "e5", "occurredAt": "2026-01-05T10:00:03Z",
     "orderId": "o-2", "sku": "SKU-4", "qty": "3", "price": 1.0, "sequence": 2},
    # 8: held behind the poison event
    {"type": "OrderStatusChanged", "eventId": "e6", "occurredAt": "2026-01-05T10:00:04Z",
     "orderId": "o-2", "status": "Cancelled", "sequence": 3},
    {"type": "OrderTeleported", "eventId": "e7", "orderId": "x-000001", "sequence": 1},  # 9
    {"type": "OrderStatusChanged", "eventId": "e8", "status": "X", "sequence": 1},  # 10
    {"eventId": "e9", "orderId": "o-1", "sequence": 4},  # 11: no type
]
# Worked out by hand from examples/orders/streamview.yaml (vat 0.23), not by Model.
SELFTEST_ORDERS = [
    ("o-1", "c-1", "Shipped", 46.63, 57.35, "EUR", 3, 3, "e3", "2026-01-05T10:00:02.000000Z"),
    ("o-2", "c-2", "Created", 10.0, 12.3, "USD", 1, 1, "e4", "2026-01-05T10:00:00.000000Z"),
]
SELFTEST_ITEMS = [
    ("o-1", 1, "SKU-1", 2, 19.99, 39.98, 49.18),
    ("o-1", 2, "SKU-2", 1, 5.6, 5.6, 6.89),
    ("o-1", 3, "SKU-9", 3, 0.35, 1.05, 1.29),
    ("o-2", 1, "SKU-3", 1, 10.0, 10.0, 12.3),
]
SELFTEST_DEAD = [3, 7, 9, 10, 11]


def self_test():
    """Runs the oracle against a hand-made store: it must pass, and fail on each defect."""
    import os
    import subprocess
    import tempfile

    tmp = tempfile.mkdtemp(prefix="orders-oracle-")
    events = os.path.join(tmp, "events.ndjson")
    with open(events, "w") as f:
        for ev in SELFTEST_EVENTS:
            if ev is None:
                ev = SELFTEST_EVENTS[0]
            f.write((ev if isinstance(ev, str) else json.dumps(ev)) + "\n")

    def make_db(name, mutate=None):
        path = os.path.join(tmp, name)
        db = sqlite3.connect(path)
        db.execute("CREATE TABLE orders_view__v1 (%s, PRIMARY KEY (order_id))"
                   % ", ".join(ORDERS_COLUMNS))
        db.execute("CREATE TABLE order_items_view__v1 (%s, PRIMARY KEY (order_id, line_no))"
                   % ", ".join(ITEMS_COLUMNS))
        db.execute("CREATE VIEW orders_view AS SELECT * FROM orders_view__v1")
        db.execute("CREATE VIEW order_items_view AS SELECT * FROM order_items_view__v1")
        db.execute("CREATE TABLE sv_dead_letters (id INTEGER PRIMARY KEY, position INTEGER, "
                   "reason TEXT)")
        orders = [list(r) for r in SELFTEST_ORDERS]
        items = [list(r) for r in SELFTEST_ITEMS]
        dead = list(SELFTEST_DEAD)
        if mutate:
            mutate(orders, items, dead)
        db.executemany("INSERT INTO orders_view__v1 VALUES (%s)"
                       % ",".join("?" * len(ORDERS_COLUMNS)), orders)
        db.executemany("INSERT INTO order_items_view__v1 VALUES (%s)"
                       % ",".join("?" * len(ITEMS_COLUMNS)), items)
        db.executemany("INSERT INTO sv_dead_letters (position, reason) VALUES (?, 'x')",
                       [(p,) for p in dead])
        db.commit()
        db.close()
        return path

    def set_value(table, row, col, value):
        def mutate(orders, items, dead):
            (orders if table == "orders" else items)[row][col] = value
        return mutate

    cases = [
        ("hand-made store", None, 0),
        ("total within tolerance", set_value("orders", 0, 3, 46.63 + 1e-9), 0),
        ("wrong total_gross", set_value("orders", 0, 4, 57.36), 1),
        ("wrong status", set_value("orders", 1, 2, "Cancelled"), 1),
        ("sequence as text", set_value("orders", 0, 7, "3"), 1),
        ("wrong updated_at", set_value("orders", 1, 9, "2026-01-05T11:00:00.000000Z"), 1),
        ("wrong line price", set_value("items", 2, 4, 0.36), 1),
        ("missing item", lambda o, i, d: i.pop(), 1),
        ("extra order", lambda o, i, d: o.append(["o-3"] + [None] * 9), 1),
        ("missing dead letter", lambda o, i, d: d.pop(), 1),
        ("dead letter at the wrong position", lambda o, i, d: d.__setitem__(1, 8), 1),
    ]
    failures = 0
    for n, (name, mutate, want) in enumerate(cases):
        db = make_db("case%d.db" % n, mutate)
        r = subprocess.run([sys.executable, os.path.abspath(__file__), "--events", events,
                            "--db", db], capture_output=True, text=True)
        ok = r.returncode == want
        failures += not ok
        print("%s %s (exit %d, want %d)" % ("ok  " if ok else "FAIL", name, r.returncode, want))
        if not ok or want:
            print("     " + (r.stdout + r.stderr).strip().replace("\n", "\n     "))
    print("self-test: %s" % ("passed" if not failures else "%d FAILED" % failures))
    if not failures:
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if failures else 0


def line_keys(events_path, line_numbers):
    """The key a keyed producer gives each of these lines: an envelope's key, else the
    event's orderId, else none ("")."""
    keys = []
    with open(events_path, "rb") as f:
        for line_no, raw in enumerate(f, 1):
            if line_no not in line_numbers:
                continue
            key = ""
            try:
                obj = json.loads(raw)
            except ValueError:
                obj = None
            if isinstance(obj, dict):
                if "value" in obj and isinstance(obj.get("key"), str):
                    key = obj["key"]
                elif isinstance(obj.get("orderId"), str):
                    key = obj["orderId"]
            keys.append(key)
    return keys


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", help="the NDJSON workload (as ingested)")
    ap.add_argument("--db", help="the StreamView SQLite store")
    ap.add_argument("--pg", metavar="DSN", help="a StreamView PostgreSQL store (read with psql)")
    ap.add_argument("--pg-schema", default="streamview", help="its engine schema")
    ap.add_argument("--pg-view-schema", default="public", help="its view schema")
    ap.add_argument("--vat", type=float, default=0.23, help="params.vat_rate (default 0.23)")
    ap.add_argument("--dead-letter-keys", action="store_true",
                    help="compare dead letters by key (a partitioned source such as Kafka "
                         "numbers records per partition, not by line)")
    ap.add_argument("--self-test", action="store_true",
                    help="check the oracle itself against a hand-made store")
    args = ap.parse_args()
    if args.self_test:
        return self_test()
    if not args.events or not (args.db or args.pg):
        ap.error("--events and --db (or --pg) are required")

    started = time.monotonic()
    try:
        model, dead, info = expected_state(args.events, args.vat)
    except OSError as e:
        print("oracle: cannot read %s: %s" % (args.events, e), file=sys.stderr)
        return 2
    if args.pg:
        db = PostgresDb(args.pg, args.pg_schema, args.pg_view_schema)
        args.db = "postgres schema %s" % args.pg_schema
    else:
        try:
            db = sqlite3.connect("file:%s?mode=ro" % args.db, uri=True)
        except sqlite3.Error as e:
            print("oracle: cannot open %s: %s" % (args.db, e), file=sys.stderr)
            return 2

    diffs = []
    try:
        n_orders = compare_table("orders_view", ORDERS_COLUMNS, ORDERS_REALS, ["order_id"],
                                 model.orders.values(), db, diffs)
        n_items = compare_table("order_items_view", ITEMS_COLUMNS, ITEMS_REALS,
                                ["order_id", "line_no"], model.items.values(), db, diffs)
        positions = [r[0] for r in
                     db.execute("SELECT position FROM sv_dead_letters ORDER BY position")]
        stored_keys = (sorted(r[0] for r in db.execute("SELECT key FROM sv_dead_letters"))
                       if args.dead_letter_keys else [])
    except sqlite3.Error as e:
        print("oracle: cannot query %s: %s" % (args.db, e), file=sys.stderr)
        return 2
    expected_positions = [n for n, _ in dead]
    if args.dead_letter_keys:
        expected_keys = sorted(line_keys(args.events, set(expected_positions)))
        if stored_keys != expected_keys:
            missing = sorted(set(expected_keys) - set(stored_keys))[:5]
            extra = sorted(set(stored_keys) - set(expected_keys))[:5]
            diffs.append("sv_dead_letters: keys differ: %d stored, %d expected; missing %s, "
                         "unexpected %s" % (len(stored_keys), len(expected_keys), missing, extra))
    elif positions != expected_positions:
        diffs.append("sv_dead_letters: %d rows in the store, %d expected%s"
                     % (len(positions), len(expected_positions),
                        ", at other positions" if len(positions) == len(expected_positions)
                        else ""))
        actual_set, expected_set = set(positions), set(expected_positions)
        reasons = dict(dead)
        for n in expected_positions:
            if len(diffs) >= MAX_DIFFS:
                break
            if n not in actual_set:
                diffs.append("sv_dead_letters: no row for line %d (%s)" % (n, reasons[n]))
        for p in positions:
            if len(diffs) >= MAX_DIFFS:
                break
            if p not in expected_set:
                diffs.append("sv_dead_letters: unexpected row at position %r" % (p,))
        if len(positions) != len(actual_set) and len(diffs) < MAX_DIFFS:
            diffs.append("sv_dead_letters: some positions appear more than once")

    elapsed = time.monotonic() - started
    if diffs:
        print("oracle: MISMATCH between %s and %s" % (args.events, args.db))
        for d in diffs[:MAX_DIFFS]:
            print("  " + d)
        return 1
    note = ""
    if info["gaps"]:
        note = ", %d keys with unfilled gaps" % info["gaps"]
    print("oracle: OK %d lines, %d events applied, %d orders, %d items, %d dead letters, "
          "%d parked keys%s (%.1fs)" % (info["lines"], info["applied"], n_orders, n_items,
                                        len(dead), info["parked"], note, elapsed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
