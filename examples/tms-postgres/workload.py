#!/usr/bin/env python3
"""Runs seed 000's shipment life cycle against the example's schema (schema.sql).

Shipments are created with their consignments, move through Created -> Ordered -> Confirmed ->
PickedUp -> InTransit -> Delivered (on time or late against their requested delivery), get
corrected (cost, carrier, destination, due date, handling units, consignments added and
removed), raise and resolve exceptions, are cancelled and some are deleted; customers and
carriers are renamed now and then. Several organizations; each transaction holds 1-4 such
steps. Times are simulated (a clock that starts after the latest time in the database), so
a run is deterministic for a seed and a starting database: run it again on the same database
and it carries on where the last run left off (open shipments move on).

    python3 workload.py --dsn "$DSN" --shipments 1500 --orgs 5 --rate 0 --seed 1

Python 3 standard library only: SQL goes to one long-lived `psql` over its stdin.
"""

import argparse
import datetime
import random
import subprocess
import sys
import time

STATUSES = ["Created", "Ordered", "Confirmed", "PickedUp", "InTransit", "Delivered"]
CARRIERS = [("DHLPX", "DHL Parcel"), ("POSTNL", "PostNL"), ("UPS", "UPS Standard"),
            ("DPD", "DPD Classic"), ("GLS", "GLS Europe"), ("FEDEX", "FedEx Economy"),
            ("TNT", "TNT Express"), ("BPOST", "bpost")]
SERVICES = ["DFY-B2C", "DFY-B2B", "EXPRESS", "ECONOMY"]
PLACES = [("NL", "Amsterdam"), ("NL", "Rotterdam"), ("DE", "Berlin"), ("DE", "Hamburg"),
          ("BE", "Antwerp"), ("FR", "Paris"), ("FR", "Lyon"), ("PL", "Warsaw")]
UNIT_TYPES = ["Parcel", "Parcel", "Parcel", "Pallet", "Crate"]
EXCEPTION_TYPES = ["AddressIssue", "DeliveryFailed", "Damaged", "Delayed", "Customs"]
NAMES = ["Acme", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Tyrell", "Cyberdyne",
         "Soylent", "Hooli", "Vandelay", "Wonka", "Oscorp", "Gringotts", "Duff", "Monarch"]
BASE = datetime.datetime(2026, 1, 5, tzinfo=datetime.timezone.utc)
CUSTOMERS_PER_ORG = 20


def ts(seconds):
    """An SQL timestamptz literal, `seconds` after BASE."""
    t = BASE + datetime.timedelta(seconds=seconds)
    return "'%s'" % t.strftime("%Y-%m-%dT%H:%M:%SZ")


def q(s):
    return "'" + str(s).replace("'", "''") + "'"


def query_rows(dsn, sql):
    r = subprocess.run(["psql", dsn, "-X", "-q", "-A", "-t", "-F", "|", "-v", "ON_ERROR_STOP=1",
                        "-c", sql], capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit("psql failed: %s" % r.stderr.strip())
    return [line.split("|") for line in r.stdout.splitlines() if line]


class Shipment:
    __slots__ = ("id", "org", "status", "created", "picked", "requested_pickup",
                 "requested_delivery", "consignments", "open_exceptions", "weight")

    def __init__(self, sid, org, status, created, requested_pickup, requested_delivery):
        self.id, self.org, self.status, self.created = sid, org, status, created
        self.requested_pickup, self.requested_delivery = requested_pickup, requested_delivery
        self.picked = None
        self.consignments = {}   # id -> weight
        self.open_exceptions = []
        self.weight = 0.0


class Workload:
    def __init__(self, dsn, orgs, seed):
        self.rnd = random.Random(seed)
        self.orgs = ["org-%02d" % (i + 1) for i in range(orgs)]
        self.active = {}    # id -> Shipment (not delivered, cancelled or deleted)
        self.done = {}      # id -> Shipment (delivered or cancelled, still in the database)
        self.load(dsn)

    def load(self, dsn):
        """What an earlier run left: ids in use, the latest time, open shipments."""
        epoch = int(BASE.timestamp())

        def secs(text):
            return int(float(text)) - epoch

        rows = query_rows(dsn, """
            SELECT coalesce(max(id), 0),
                   coalesce(extract(epoch FROM max(updated_at))::bigint, %d)
            FROM shipments""" % epoch)
        self.next_shipment = int(rows[0][0]) + 1
        self.clock = secs(rows[0][1])
        rows = query_rows(dsn, "SELECT coalesce(max(id), 0) FROM consignments")
        self.next_consignment = int(rows[0][0]) + 1
        rows = query_rows(dsn, "SELECT coalesce(max(id), 0) FROM shipment_exceptions")
        self.next_exception = int(rows[0][0]) + 1
        for r in query_rows(dsn, """
                SELECT id, org_id, status, extract(epoch FROM created_at)::bigint,
                       extract(epoch FROM requested_pickup)::bigint,
                       extract(epoch FROM requested_delivery)::bigint,
                       coalesce(extract(epoch FROM picked_up_at)::bigint, -1), weight_kg
                FROM shipments ORDER BY id"""):
            s = Shipment(int(r[0]), r[1], r[2], secs(r[3]), secs(r[4]), secs(r[5]))
            s.picked = secs(r[6]) if r[6] != "-1" else None
            s.weight = float(r[7])
            (self.done if s.status in ("Delivered", "Cancelled") else self.active)[s.id] = s
        every = {**self.active, **self.done}
        for r in query_rows(dsn, "SELECT id, shipment_id, weight_kg FROM consignments "
                                 "ORDER BY id"):
            every[int(r[1])].consignments[int(r[0])] = float(r[2])
        for r in query_rows(dsn, "SELECT id, shipment_id FROM shipment_exceptions "
                                 "WHERE resolved_at IS NULL ORDER BY id"):
            every[int(r[1])].open_exceptions.append(int(r[0]))

    def setup_sql(self):
        out = ["BEGIN;"]
        for i, org in enumerate(self.orgs):
            out.append("INSERT INTO organizations VALUES (%s, %s) ON CONFLICT DO NOTHING;"
                       % (q(org), q("Organization %d" % (i + 1))))
            for j in range(CUSTOMERS_PER_ORG):
                cid = (i + 1) * 1000 + j
                name = "%s %s" % (NAMES[(i * 7 + j) % len(NAMES)],
                                  ["Corp", "Logistics", "GmbH", "BV", "Ltd"][j % 5])
                out.append("INSERT INTO customers VALUES (%d, %s, %s, %s, true) "
                           "ON CONFLICT DO NOTHING;"
                           % (cid, q(org), q("C%04d" % cid), q(name)))
        for code, name in CARRIERS:
            out.append("INSERT INTO carriers VALUES (%s, %s, true) ON CONFLICT DO NOTHING;"
                       % (q(code), q(name)))
        out.append("COMMIT;")
        return "\n".join(out) + "\n"

    # --- steps: each returns SQL statements -----------------------------------------------

    def tick(self):
        self.clock += self.rnd.randint(1, 240)
        return self.clock

    def create(self):
        r = self.rnd
        now = self.tick()
        sid = self.next_shipment
        self.next_shipment += 1
        org_index = r.randrange(len(self.orgs))
        org = self.orgs[org_index]
        customer = (org_index + 1) * 1000 + r.randrange(CUSTOMERS_PER_ORG)
        carrier = r.choice(CARRIERS)[0]
        (oc, ocity), (dc, dcity) = r.choice(PLACES), r.choice(PLACES)
        pickup = now + r.randint(2, 48) * 3600
        due = pickup + r.randint(1, 5) * 86400
        s = Shipment(sid, org, "Created", now, pickup, due)
        stmts = []
        cons = []
        for _ in range(r.choice([1, 1, 1, 2, 2, 3])):
            cid = self.next_consignment
            self.next_consignment += 1
            w = round(r.uniform(0.5, 400.0), 1)
            s.consignments[cid] = w
            cons.append("INSERT INTO consignments (id, shipment_id, org_id, reference, status, "
                        "handling_units, unit_type, weight_kg, created_at, updated_at) VALUES "
                        "(%d, %d, %s, %s, 'Created', %d, %s, %.1f, %s, %s);"
                        % (cid, sid, q(org), q("CON-%06d" % cid), r.randint(1, 6),
                           q(r.choice(UNIT_TYPES)), w, ts(now), ts(now)))
        s.weight = round(sum(s.consignments.values()), 1)
        stmts.append(
            "INSERT INTO shipments (id, org_id, customer_id, carrier_code, service, reference, "
            "status, status_at, origin_country, origin_city, destination_country, "
            "destination_city, inbound, created_at, requested_pickup, requested_delivery, cost, "
            "currency, weight_kg, updated_at) VALUES (%d, %s, %d, %s, %s, %s, 'Created', %s, "
            "%s, %s, %s, %s, %s, %s, %s, %s, %s, 'EUR', %.1f, %s);"
            % (sid, q(org), customer, q(carrier), q(r.choice(SERVICES)),
               q("SHP-2026-%06d" % sid), ts(now), q(oc), q(ocity), q(dc), q(dcity),
               "true" if r.random() < 0.2 else "false", ts(now), ts(pickup), ts(due),
               "%.2f" % r.uniform(4, 250) if r.random() < 0.9 else "NULL", s.weight, ts(now)))
        self.active[sid] = s
        return stmts + cons

    def advance(self, s):
        r = self.rnd
        now = self.tick()
        nxt = STATUSES[STATUSES.index(s.status) + 1]
        sets = ["status = %s" % q(nxt), "status_at = %s" % ts(now), "updated_at = %s" % ts(now)]
        extra = []
        if nxt == "Ordered":
            sets.append("ordered_at = %s" % ts(now))
        elif nxt == "Confirmed":
            sets.append("confirmed_at = %s" % ts(now))
            extra.append("UPDATE consignments SET tracking_number = 'JVGL' || lpad(id::text, 10, "
                         "'0'), updated_at = %s WHERE shipment_id = %d;" % (ts(now), s.id))
        elif nxt == "PickedUp":
            s.picked = s.requested_pickup + r.randint(-4, 8) * 1800
            sets.append("picked_up_at = %s" % ts(s.picked))
        elif nxt == "Delivered":
            if r.random() < 0.7:   # on time: before the requested delivery
                at = s.requested_delivery - r.randint(0, 40) * 1800
            else:                   # late
                at = s.requested_delivery + r.randint(1, 72) * 1800
            at = max(at, s.picked + 3600)
            sets.append("delivered_at = %s" % ts(at))
        s.status = nxt
        if nxt == "Delivered":
            self.done[s.id] = self.active.pop(s.id)
        return ["UPDATE shipments SET %s WHERE id = %d;" % (", ".join(sets), s.id),
                "UPDATE consignments SET status = %s, updated_at = %s WHERE shipment_id = %d;"
                % (q(nxt), ts(now), s.id)] + extra

    def cancel(self, s):
        now = self.tick()
        s.status = "Cancelled"
        self.done[s.id] = self.active.pop(s.id)
        return ["UPDATE shipments SET status = 'Cancelled', status_at = %s, cancelled_at = %s, "
                "updated_at = %s WHERE id = %d;" % (ts(now), ts(now), ts(now), s.id),
                "UPDATE consignments SET status = 'Cancelled', updated_at = %s "
                "WHERE shipment_id = %d;" % (ts(now), s.id)]

    def delete(self, s):
        self.tick()
        self.done.pop(s.id, None)
        self.active.pop(s.id, None)
        return ["DELETE FROM shipment_exceptions WHERE shipment_id = %d;" % s.id,
                "DELETE FROM consignments WHERE shipment_id = %d;" % s.id,
                "DELETE FROM shipments WHERE id = %d;" % s.id]

    def raise_exception(self, s):
        now = self.tick()
        eid = self.next_exception
        self.next_exception += 1
        s.open_exceptions.append(eid)
        return ["INSERT INTO shipment_exceptions VALUES (%d, %d, %s, %s, %s, NULL);"
                % (eid, s.id, q(s.org), q(self.rnd.choice(EXCEPTION_TYPES)), ts(now)),
                "UPDATE shipments SET updated_at = %s WHERE id = %d;" % (ts(now), s.id)]

    def resolve_exception(self, s):
        now = self.tick()
        eid = s.open_exceptions.pop(0)
        return ["UPDATE shipment_exceptions SET resolved_at = %s WHERE id = %d;" % (ts(now), eid)]

    def correct(self, s):
        r = self.rnd
        now = self.tick()
        kind = r.randrange(7)
        if kind == 0:
            return ["UPDATE shipments SET cost = %.2f, updated_at = %s WHERE id = %d;"
                    % (r.uniform(4, 250), ts(now), s.id)]
        if kind == 1:
            return ["UPDATE shipments SET carrier_code = %s, updated_at = %s WHERE id = %d;"
                    % (q(r.choice(CARRIERS)[0]), ts(now), s.id)]
        if kind == 2:
            dc, dcity = r.choice(PLACES)
            return ["UPDATE shipments SET destination_country = %s, destination_city = %s, "
                    "reference = reference || '-C', updated_at = %s WHERE id = %d;"
                    % (q(dc), q(dcity), ts(now), s.id)]
        if kind == 3:
            s.requested_delivery += r.randint(-1, 2) * 43200
            return ["UPDATE shipments SET requested_delivery = %s, updated_at = %s WHERE id = %d;"
                    % (ts(s.requested_delivery), ts(now), s.id)]
        if kind == 4 and s.consignments:
            cid = r.choice(sorted(s.consignments))
            return ["UPDATE consignments SET handling_units = %d, updated_at = %s WHERE id = %d;"
                    % (r.randint(1, 8), ts(now), cid)]
        if kind == 5 and len(s.consignments) > 1:
            cid = r.choice(sorted(s.consignments))
            del s.consignments[cid]
            s.weight = round(sum(s.consignments.values()), 1)
            return ["DELETE FROM consignments WHERE id = %d;" % cid,
                    "UPDATE shipments SET weight_kg = %.1f, updated_at = %s WHERE id = %d;"
                    % (s.weight, ts(now), s.id)]
        cid = self.next_consignment
        self.next_consignment += 1
        w = round(r.uniform(0.5, 400.0), 1)
        s.consignments[cid] = w
        s.weight = round(sum(s.consignments.values()), 1)
        return ["INSERT INTO consignments (id, shipment_id, org_id, reference, status, "
                "handling_units, unit_type, weight_kg, created_at, updated_at) VALUES "
                "(%d, %d, %s, %s, %s, %d, %s, %.1f, %s, %s);"
                % (cid, s.id, q(s.org), q("CON-%06d" % cid), q(s.status), r.randint(1, 6),
                   q(r.choice(UNIT_TYPES)), w, ts(now), ts(now)),
                "UPDATE shipments SET weight_kg = %.1f, updated_at = %s WHERE id = %d;"
                % (s.weight, ts(now), s.id)]

    def rename(self):
        r = self.rnd
        self.tick()
        if r.random() < 0.8:
            org_index = r.randrange(len(self.orgs))
            cid = (org_index + 1) * 1000 + r.randrange(CUSTOMERS_PER_ORG)
            return ["UPDATE customers SET name = %s WHERE id = %d;"
                    % (q("%s %s" % (r.choice(NAMES), r.choice(["Holding", "Group", "Intl"]))),
                       cid)]
        code, name = r.choice(CARRIERS)
        return ["UPDATE carriers SET name = %s WHERE code = %s;"
                % (q(("%s %s" % (name, r.choice(["", "NL", "EU", "Plus"]))).strip()), q(code))]

    def step(self, remaining):
        """One step of the life cycle; (statements, created?)."""
        r = self.rnd
        if remaining > 0 and (len(self.active) < 40 or r.random() < 0.12):
            return self.create(), True
        x = r.random()
        if self.active and x < 0.70:
            s = self.active[r.choice(sorted(self.active))]
            y = r.random()
            if y < 0.05 and s.status in ("Created", "Ordered", "Confirmed"):
                return self.cancel(s), False
            if y < 0.12 and s.status in ("PickedUp", "InTransit"):
                return self.raise_exception(s), False
            if y < 0.17 and s.open_exceptions:
                return self.resolve_exception(s), False
            if y < 0.27:
                return self.correct(s), False
            return self.advance(s), False
        if self.done and x < 0.80:
            s = self.done[r.choice(sorted(self.done))]
            if r.random() < 0.3:
                return self.delete(s), False
            if r.random() < 0.3:
                return self.raise_exception(s), False
            if s.open_exceptions:
                return self.resolve_exception(s), False
            return self.correct(s), False
        if x < 0.83:
            return self.rename(), False
        if self.active:
            s = self.active[r.choice(sorted(self.active))]
            return self.advance(s), False
        return self.rename(), False


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dsn", required=True, help="libpq connection string of the source database")
    ap.add_argument("--shipments", type=int, default=1000, help="shipments to create")
    ap.add_argument("--orgs", type=int, default=5, help="organizations")
    ap.add_argument("--rate", type=float, default=0,
                    help="transactions per second (0: as fast as possible)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--synchronous-commit", default="on", choices=["on", "off"],
                    help="the writer session's synchronous_commit (off: commits do not wait for "
                         "their WAL flush; the change feed sees the same transactions)")
    ap.add_argument("--finish", action="store_true",
                    help="also run every open shipment to its end (delivered or cancelled)")
    args = ap.parse_args()

    w = Workload(args.dsn, args.orgs, args.seed)
    psql = subprocess.Popen(["psql", args.dsn, "-X", "-q", "-v", "ON_ERROR_STOP=1"],
                            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    psql.stdin.write("SET synchronous_commit = %s;\n" % args.synchronous_commit)
    psql.stdin.write(w.setup_sql())
    started = time.monotonic()
    remaining, transactions, statements = args.shipments, 0, 0
    while remaining > 0 or (args.finish and w.active):
        stmts = []
        for _ in range(w.rnd.randint(1, 4)):
            step, created = w.step(remaining)
            remaining -= created
            stmts += step
            if remaining == 0 and not (args.finish and w.active):
                break
        psql.stdin.write("BEGIN;\n" + "\n".join(stmts) + "\nCOMMIT;\n")
        transactions += 1
        statements += len(stmts)
        if args.rate > 0:
            psql.stdin.flush()
            delay = started + transactions / args.rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
    psql.stdin.close()
    if psql.wait() != 0:
        print("workload: psql failed", file=sys.stderr)
        return 1
    elapsed = time.monotonic() - started
    print("workload: %d shipments created, %d transactions, %d statements in %.1f s "
          "(%.0f shipments/s, %.0f transactions/s); %d open, %d delivered or cancelled"
          % (args.shipments, transactions, statements, elapsed, args.shipments / elapsed,
             transactions / elapsed, len(w.active), len(w.done)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
