#!/usr/bin/env python3
"""One config mixing a change feed with the embedded log: orders arrive as events (ingested into
the log), customers live in a PostgreSQL table (followed through its change feed), and a derived
view joins the two.

1. customers rows exist before the first start (read in the slot's snapshot); order events are
   ingested; a run catches up.
2. Then both sides move: customers renamed, added and deleted in PostgreSQL, more orders (some
   cancelled) ingested; a second run catches up.
3. A TRUNCATE of notes, which shares the view customer_activity with customers, becomes a dead
   letter naming that view (its rows cannot be told apart); the rest stays equal to the oracle.
4. After each run, `order_names` (orders JOIN customers, maintained incrementally from two
   sources) equals the join this script computes from the events it wrote and the customers
   table as PostgreSQL returns it (the oracle).

    pg_changes_mixed.py --binary build/src/cli/streamview
"""

import json
import os
import random
import subprocess
import sys
from decimal import Decimal

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import drop_slot, psql, start_test, verdict  # noqa: E402
from stores import Store  # noqa: E402

CONFIG = """
store:
  kind: sqlite
  path: {store}
sources:
  orders:
    key: orderId
    event_types: [order.placed, order.cancelled]
  shop:
    kind: postgres_changes
    dsn: "{dsn}"
    slot: {slot}
    tables: [customers, notes]
views:
  order_list:
    source: orders
    key: [id]
    columns:
      id: text
      customer_id: integer
      amount: numeric
    on:
      "*":
        set:
          id: e.orderId
      order.placed:
        set:
          customer_id: e.customerId
          amount: e.amount
      order.cancelled:
        delete: true
  customer_list:
    source: shop
    key: [id]
    columns:
      id: integer
      name: text
    on:
      "*":
        set:
          id: e.id
      customers.insert:
        set:
          name: e.name
      customers.update:
        set:
          name: e.name
      customers.delete:
        delete: true
  customer_activity:
    source: shop
    key: [id]
    columns:
      id: integer
      name: text
      last_note: text
    on:
      customers.insert:
        set:
          id: e.id
          name: e.name
      notes.insert:
        set:
          id: e.customer_id
          last_note: e.body
derived_views:
  order_names:
    sql: "CREATE VIEW order_names AS SELECT o.id, o.amount, c.name FROM order_list o JOIN customer_list c ON o.customer_id = c.id"
"""

SLOT = "sv_mixed_%d" % os.getpid()


def main():
    _, binary, tmp = start_test(__doc__, "sv-pg-mixed-")
    source = Store.create("postgres", tmp, "cdc_mixed")
    rnd = random.Random(20261205)
    problems = []
    orders = {}  # id -> (customer_id, amount): what the log says, cancelled ones removed
    try:
        psql(source.arg, "CREATE TABLE notes (id integer PRIMARY KEY, customer_id integer, "
                         "body text); "
                         "CREATE TABLE customers (id integer PRIMARY KEY, name text NOT NULL); "
                         "INSERT INTO customers SELECT i, 'customer ' || i "
                         "FROM generate_series(1, 40) i")
        config = os.path.join(tmp, "mixed.yaml")
        store_path = os.path.join(tmp, "mixed.db")
        with open(config, "w") as f:
            f.write(CONFIG.format(store=store_path, dsn=source.arg, slot=SLOT))
        next_order = [0]

        def ingest(placed, cancelled):
            lines = []
            for _ in range(placed):
                next_order[0] += 1
                oid = "o%d" % next_order[0]
                customer = rnd.randint(1, 60)  # some have no customer (yet)
                amount = "%d.%02d" % (rnd.randint(1, 999), rnd.randint(0, 99))
                orders[oid] = (customer, Decimal(amount))
                lines.append({"type": "order.placed", "orderId": oid, "customerId": customer,
                              "amount": Decimal(amount)})
            for oid in rnd.sample(sorted(orders), cancelled):
                del orders[oid]
                lines.append({"type": "order.cancelled", "orderId": oid})
            path = os.path.join(tmp, "events.ndjson")
            with open(path, "w") as f:
                for line in lines:
                    f.write(json.dumps({k: (float(v) if isinstance(v, Decimal) else v)
                                        for k, v in line.items()}) + "\n")
            r = subprocess.run([binary, "ingest", "--config", config, path], capture_output=True,
                               text=True, timeout=300)
            if r.returncode != 0:
                raise SystemExit("ingest failed: %s" % r.stderr[-800:])

        def catch_up_and_compare(when):
            r = subprocess.run([binary, "run", "--config", config, "--exit-when-caught-up"],
                               capture_output=True, text=True, timeout=600)
            if r.returncode != 0:
                problems.append("%s: run exited %d: %s" % (when, r.returncode, r.stderr[-800:]))
                return
            names = dict((int(i), n) for i, n in (
                line.split("|", 1) for line in psql(source.arg, "SELECT id, name FROM customers")
                .splitlines() if line))
            want = sorted((oid, amount, names[c]) for oid, (c, amount) in orders.items()
                          if c in names)
            got = sorted((oid, Decimal(str(amount)).quantize(Decimal("0.01")), name)
                         for oid, amount, name in Store("sqlite", store_path).rows(
                             "SELECT id, amount, name FROM order_names"))
            if got != want:
                missing = [w for w in want if w not in got][:5]
                extra = [g for g in got if g not in want][:5]
                problems.append("%s: order_names has %d rows, the oracle %d; missing %r, extra %r"
                                % (when, len(got), len(want), missing, extra))
            else:
                print("ok: %s: order_names equals the join of the log's orders and the table's "
                      "customers (%d rows)" % (when, len(got)))

        ingest(placed=300, cancelled=20)
        catch_up_and_compare("first run (snapshot + log)")

        psql(source.arg, "UPDATE customers SET name = 'renamed ' || id WHERE id % 3 = 0; "
                         "INSERT INTO customers SELECT i, 'late ' || i "
                         "FROM generate_series(41, 55) i; "
                         "DELETE FROM customers WHERE id % 7 = 0")
        ingest(placed=200, cancelled=40)
        catch_up_and_compare("second run (changes on both sides)")

        # A TRUNCATE of a table that shares a view with another: that view cannot tell its rows
        # apart, so the TRUNCATE becomes a dead letter naming it; views of the other table
        # alone are untouched (the join still equals the oracle).
        psql(source.arg, "INSERT INTO notes VALUES (1, 1, 'hello'); TRUNCATE notes")
        catch_up_and_compare("after a TRUNCATE of notes")
        dlq = subprocess.run([binary, "dlq", "list", "--config", config, "--json"],
                             capture_output=True, text=True, timeout=120)
        if "TRUNCATE of notes: view customer_activity is also fed by other events" \
                not in dlq.stdout:
            problems.append("no dead letter for the TRUNCATE of notes: %s"
                            % (dlq.stdout + dlq.stderr)[-800:])
        else:
            print("ok: a TRUNCATE of a table sharing a view is a dead letter naming the view")
    finally:
        drop_slot(source, SLOT)
        source.drop()
    return verdict(problems, tmp)


if __name__ == "__main__":
    sys.exit(main())
