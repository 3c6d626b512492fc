#!/usr/bin/env python3
"""Autocomplete lookups (`lookups:` in the config) over views fed by a PostgreSQL change feed,
served by `streamview run --listen` from memory.

1. customers (three organizations, names drawn from a small vocabulary so prefixes collide) and
   carriers (some inactive) are in PostgreSQL before the first start. Once the snapshot is
   applied, GET /lookups/customers?org_id=..&q=.. equals this script's own ranking of the
   table's rows (labels starting with the query first, then labels with a later word that does;
   each in label order, ties by key), for many queries, organizations and limits; GET
   /lookups/carriers lists the active carriers only.
2. Read-your-writes: a customer renamed in PostgreSQL is found under its new name, and no longer
   under its old one, at the very next read that asks for the rename's position (min_position);
   likewise a deleted one, a new one, and a carrier made inactive.
3. Bad requests: an unknown lookup is 404, a scoped lookup without its scope and a bad limit are
   400, each with a JSON error body.

    lookups.py --binary build/src/cli/streamview
"""

import json
import os
import random
import subprocess
import sys
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (WaitTimeout, drop_slot, free_port, http_get, run_sql, start_test,  # noqa: E402
                     verdict, wait_until, wal_position_of)
from stores import Store  # noqa: E402

SLOT = "sv_lookups_%d" % os.getpid()

CONFIG = """
store:
  kind: sqlite
  path: {store}
sources:
  tms:
    kind: postgres_changes
    dsn: "{dsn}"
    slot: {slot}
    tables: [customers, carriers]
views:
  customers:
    source: tms
    key: [id]
    columns:
      id: integer
      org_id: text
      name: text
      city: text
    on:
      "*":
        set:
          id: e.id
      customers.insert:
        set: {{org_id: e.org_id, name: e.name, city: e.city}}
      customers.update:
        set: {{org_id: e.org_id, name: e.name, city: e.city}}
      customers.delete:
        delete: true
  carriers:
    source: tms
    key: [id]
    columns:
      id: integer
      name: text
      active: boolean
    on:
      "*":
        set:
          id: e.id
      carriers.insert:
        set: {{name: e.name, active: e.active}}
      carriers.update:
        set: {{name: e.name, active: e.active}}
      carriers.delete:
        delete: true
lookups:
  customers:
    view: customers
    label: name
    fields: [id, name, city]
    scope: org_id
    limit: 8
  carriers:
    view: carriers
    label: name
    where: {{active: true}}
    limit: 50
"""

WORDS = ["Acme", "acme-trans", "Ace", "Alpine", "Atlas", "Bolt", "Borealis", "Cargo",
         "Coastal", "Delta", "Express", "Freight", "Global", "GmbH", "Logistics", "Ltd",
         "North", "Nordic", "Pacific", "Rapid", "Transit", "Trans", "Zeta", "Z\u00e9nith"]


def fold(label):
    """The server's folding: ASCII letters lowered, runs of other ASCII bytes one space."""
    out, gap = bytearray(), False
    for b in label.encode():
        word = (48 <= b <= 57) or (65 <= b <= 90) or (97 <= b <= 122) or b >= 0x80
        if not word:
            gap = len(out) > 0
            continue
        if gap:
            out.append(32)
        gap = False
        out.append(b + 32 if 65 <= b <= 90 else b)
    return bytes(out)


def rank(rows, query, limit):
    """The oracle: ids of rows [(id, name)] best first."""
    q = fold(query)
    best = {}
    for rid, name in rows:
        f = fold(name)
        if f.startswith(q):
            best[rid] = (0, f, rid)
            continue
        if not q:
            continue
        for i in range(1, len(f)):
            if f[i - 1] == 32 and f[i:].startswith(q):
                cand = (1, f[i:], rid)
                if rid not in best or cand < best[rid]:
                    best[rid] = cand
    return [r for _, _, r in sorted(best.values())][:limit]


def name(rnd):
    return " ".join(rnd.choice(WORDS) for _ in range(rnd.randint(1, 3))) + \
        rnd.choice(["", "", ", Inc.", " & Co"])


def main():
    _, binary, tmp = start_test(__doc__, "sv-lookups-")
    source = Store.create("postgres", tmp, "lookups_src")
    problems = []
    rnd = random.Random(20261205)
    customers = {}  # id -> (org, name, city)
    carriers = {}   # id -> (name, active)
    for i in range(1, 1501):
        customers[i] = ("o-%d" % rnd.randint(1, 3), name(rnd), rnd.choice(["Berlin", "Oslo"]))
    for i in range(1, 41):
        carriers[i] = (name(rnd), rnd.random() < 0.7)

    def sql_text(s):
        return "'" + s.replace("'", "''") + "'"

    proc = None
    try:
        run_sql(source.arg,
                "CREATE TABLE customers (id integer PRIMARY KEY, org_id text NOT NULL, "
                "name text NOT NULL, city text);\n"
                "CREATE TABLE carriers (id integer PRIMARY KEY, name text NOT NULL, "
                "active boolean NOT NULL);\n" +
                "".join("INSERT INTO customers VALUES (%d, %s, %s, %s);\n"
                        % (i, sql_text(o), sql_text(n), sql_text(c))
                        for i, (o, n, c) in customers.items()) +
                "".join("INSERT INTO carriers VALUES (%d, %s, %s);\n"
                        % (i, sql_text(n), "true" if a else "false")
                        for i, (n, a) in carriers.items()))
        config = os.path.join(tmp, "lookups.yaml")
        with open(config, "w") as f:
            f.write(CONFIG.format(store=os.path.join(tmp, "lookups.db"), dsn=source.arg,
                                  slot=SLOT))
        port = free_port()
        log = open(os.path.join(tmp, "run.log"), "w")
        proc = subprocess.Popen([binary, "run", "--config", config, "--listen",
                                 "127.0.0.1:%d" % port], stdout=log, stderr=subprocess.STDOUT)

        def get(path):
            code, body = http_get(port, path)
            return code, (json.loads(body) if body else None)

        def lookup_ids(path):
            code, body = get(path)
            if code != 200:
                return None
            return [item["id"] for item in body["items"]]

        def snapshot_applied():
            code, body = get("/views/customers?limit=1&sort=-id")
            return code == 200 and body["items"] and body["items"][0]["id"] == 1500 and \
                get("/views/carriers?limit=1&sort=-id")[1]["items"][0]["id"] == 40

        wait_until(snapshot_applied, "the snapshot's last rows", proc=proc, log=log.name)

        def check_all(when):
            bad = 0
            by_org = {}
            for cid, (o, n, _) in customers.items():
                by_org.setdefault(o, []).append((cid, n))
            queries = ["", "a", "ac", "ACME", "acme t", "tr", "trans", "z\u00e9", "g", "x",
                       "co", "inc", "express fr"]
            for org in sorted(by_org):
                for q in queries:
                    for limit in (1, 8, 100):
                        path = "/lookups/customers?%s" % urllib.parse.urlencode(
                            {"org_id": org, "q": q, "limit": limit})
                        got = lookup_ids(path)
                        want = rank(by_org[org], q, limit)
                        if got != want:
                            bad += 1
                            if bad <= 3:
                                problems.append("%s: %s: got %r, oracle %r"
                                                % (when, path, got, want))
            active = sorted((cid, n) for cid, (n, a) in carriers.items() if a)
            got = lookup_ids("/lookups/carriers?limit=50")
            if got != rank(active, "", 50):
                bad += 1
                problems.append("%s: active carriers %r, oracle %r"
                                % (when, got, rank(active, "", 50)))
            if bad == 0:
                print("ok: %s: %d lookups equal the oracle's ranking"
                      % (when, len(by_org) * len(queries) * 3 + 1))

        check_all("after the snapshot")

        # Read-your-writes: the position of each change, taken inside its transaction after the
        # change (so the commit that carries it ends past it), is what the next read asks for.
        victim = next(c for c in sorted(customers) if customers[c][0] == "o-2")
        org, old_name, city = customers[victim]
        new_name = "Quokka Haulage %d" % victim
        pos = wal_position_of(source.arg, "UPDATE customers SET name = %s WHERE id = %d"
                              % (sql_text(new_name), victim))
        customers[victim] = (org, new_name, city)
        found = lookup_ids("/lookups/customers?org_id=o-2&q=quokka&min_position=%d" % pos)
        old = lookup_ids("/lookups/customers?org_id=o-2&q=%s&limit=100"
                         % urllib.parse.quote(old_name))
        if found != [victim] or victim in (old or []):
            problems.append("rename: under the new name %r, under the old %r" % (found, old))
        else:
            print("ok: a renamed customer is found under its new name at the next read")

        gone = next(c for c in sorted(customers, reverse=True) if customers[c][0] == "o-1")
        pos = wal_position_of(
            source.arg, "DELETE FROM customers WHERE id = %d; INSERT INTO customers VALUES "
            "(5000, 'o-1', 'Quokka Express', 'Oslo'); UPDATE carriers SET active = "
            "false WHERE id = (SELECT min(id) FROM carriers WHERE active)" % gone)
        first_active = min(c for c, (_, a) in carriers.items() if a)
        carriers[first_active] = (carriers[first_active][0], False)
        del customers[gone]
        customers[5000] = ("o-1", "Quokka Express", "Oslo")
        got = lookup_ids("/lookups/customers?org_id=o-1&q=quokka&min_position=%d" % pos)
        if got != [5000]:
            problems.append("insert: /lookups/customers?org_id=o-1&q=quokka gave %r" % got)
        check_all("after a rename, a delete, an insert and a carrier made inactive")

        for path, code_wanted in (("/lookups/nope", 404), ("/lookups/customers?q=a", 400),
                                  ("/lookups/customers?org_id=o-1&limit=0", 400),
                                  ("/lookups/customers?org_id=o-1&sort=x", 400)):
            code, body = get(path)
            if code != code_wanted or not isinstance(body, dict) or "error" not in body:
                problems.append("%s: %r %r, wanted %d with an error body"
                                % (path, code, body, code_wanted))
        print("ok: bad lookup requests get 4xx with a JSON error body")
    except WaitTimeout as e:
        problems.append(str(e))
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=120)
        drop_slot(source, SLOT)
        source.drop()
    return verdict(problems, tmp)


if __name__ == "__main__":
    sys.exit(main())
