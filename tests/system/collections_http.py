#!/usr/bin/env python3
"""Collections written over HTTP (issue 21 item 2), through `streamview run --listen`, on SQLite
or PostgreSQL (--store-kind postgres, with SV_TEST_PG_DSN).

Collections `counters`, `carts` (tenant `org`, part of its key) and `strict`
(require_preconditions) are written with PUT/DELETE /views/{c}/{key...}; checked:
- no credential: 401 on writes and on reads of a tenant collection; a source-fed view: 405;
- rounds of concurrent PUTs from several threads with the same If-Match: exactly one 2xx per
  round, the rest 412 with the current version; then free-running read-modify-write
  increments from several threads: the final row equals the serial oracle (one increment per
  2xx), each 2xx returned a distinct version, versions 2..final all taken;
- an Idempotency-Key / Event-Id replayed is applied once (a changed body is not applied, the
  answer is 200 "replayed"); a key whose first request failed with 412 may be used again;
- bad bodies (a wrong type, an unknown column, not JSON, a key differing from the path): 400
  with a JSON error naming the column; nothing written;
- If-None-Match: * on an existing row: 412; GET's ETag is the version, If-None-Match: 304;
  `strict` without a precondition: 428; DELETE with a stale If-Match: 412, then 204;
- tenancy: o-2 reads, writes and deletes nothing of o-1 (404), cannot write a row naming o-1
  (403), lists only its rows; the admin lists every row;
- /metrics counts the writes by outcome as observed; /openapi.json documents the routes.

    collections_http.py --binary build/src/cli/streamview [--store-kind postgres]
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import free_port, http_get, sha256_hex, verdict, wait_until  # noqa: E402
from stores import Store  # noqa: E402

KEYS = {"o-1": "key-for-o1", "o-2": "key-for-o2", "admin": "key-for-the-admin"}
THREADS = 6
ROUNDS = 8
INCREMENTS_PER_THREAD = 15


CONFIG = """
store:
{store}
sources:
  ops:
    key: id
    event_types: [note.created]
server:
  auth:
    api_keys:
      - {{sha256: {o1}, organization: o-1}}
      - {{sha256: {o2}, organization: o-2}}
      - {{sha256: {admin}, role: admin}}
views:
  notes:
    source: ops
    key: [id]
    columns: {{id: text, body: text}}
    on:
      note.created:
        set: {{id: e.id, body: e.body}}
collections:
  counters:
    key: [name]
    columns: {{name: text, n: integer}}
  carts:
    key: [org, cart_id]
    tenant: org
    columns:
      org: text
      cart_id: text
      qty: integer
      price: numeric
      paid: boolean
      at: timestamp
      meta: json
  strict:
    key: [id]
    require_preconditions: true
    columns: {{id: integer, v: text}}
"""


class Client:
    def __init__(self, port):
        self.port = port

    def call(self, method, path, body=None, who="admin", headers=None):
        """(status, decoded JSON or raw bytes, headers)."""
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
        req = urllib.request.Request("http://127.0.0.1:%d%s" % (self.port, path), method=method,
                                     data=data)
        if who is not None:
            req.add_header("X-API-Key", KEYS[who])
        for name, value in (headers or {}).items():
            req.add_header(name, value)
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                raw = resp.read()
                return resp.status, json.loads(raw) if raw else None, resp.headers
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                return e.code, json.loads(raw) if raw else None, e.headers
            except ValueError:
                return e.code, raw, e.headers


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    ap.add_argument("--store-kind", default="sqlite", choices=["sqlite", "postgres"])
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="sv-collections-")
    store = Store.create(args.store_kind, tmp, "collections")
    if store.kind == "sqlite":
        store_yaml = "  kind: sqlite\n  path: %s" % store.arg
    else:
        store_yaml = "  kind: postgres\n  dsn: %s" % store.arg
    config = os.path.join(tmp, "streamview.yaml")
    with open(config, "w") as f:
        f.write(CONFIG.format(store=store_yaml, o1=sha256_hex(KEYS["o-1"]), o2=sha256_hex(KEYS["o-2"]),
                              admin=sha256_hex(KEYS["admin"])))
    problems = []

    def check(ok, what, detail=""):
        print("%s %s%s" % ("ok  " if ok else "FAIL", what, "" if ok else ": " + str(detail)))
        if not ok:
            problems.append(what)
        return ok

    port = free_port()
    log = open(os.path.join(tmp, "run.log"), "w")
    proc = subprocess.Popen([args.binary, "run", "--config", config, "--listen",
                             "127.0.0.1:%d" % port], stdout=log, stderr=subprocess.STDOUT)
    c = Client(port)
    try:
        wait_until(lambda: http_get(port, "/health/live")[0] == 200, "the server to listen",
                   proc=proc, log=log.name)
        check_auth_and_routes(c, check)
        check_same_if_match_rounds(c, check)
        conflicts = check_serial_oracle(c, check)
        check_replays(c, check)
        check_bad_bodies(c, check)
        check_preconditions(c, check)
        check_tenancy(c, check)
        check_metrics(c, check, conflicts)
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        log.close()
    if store.kind == "postgres":
        store.drop()
    return verdict(problems, tmp)


def check_auth_and_routes(c, check):
    print("1. callers and routes")
    code, body, _ = c.call("PUT", "/views/counters/a", {"n": 1}, who=None)
    check(code == 401 and isinstance(body, dict) and "error" in body,
          "PUT without a credential: 401 JSON", (code, body))
    code, _, _ = c.call("DELETE", "/views/counters/a", who=None)
    check(code == 401, "DELETE without a credential: 401", code)
    code, _, _ = c.call("GET", "/views/carts", who=None)
    check(code == 401, "GET of a tenant collection without a credential: 401", code)
    code, body, _ = c.call("PUT", "/views/notes/x", {"body": "b"})
    check(code == 405, "PUT on a source-fed view: 405", (code, body))
    code, _, _ = c.call("PUT", "/views/nothing/x", {"n": 1})
    check(code == 404, "PUT on no collection: 404", code)
    code, body, _ = c.call("PUT", "/views/counters/a/b", {"n": 1})
    check(code == 400 and body.get("parameter") == "key", "a key of two segments for one: 400",
          (code, body))


def put_counter(c, name, n, version):
    return c.call("PUT", "/views/counters/" + name, {"n": n},
                  headers={"If-Match": '"%d"' % version})


def check_same_if_match_rounds(c, check):
    print("2. rounds of %d PUTs with the same If-Match" % THREADS)
    code, body, headers = c.call("PUT", "/views/counters/race", {"n": 0},
                                 headers={"If-None-Match": "*"})
    check(code == 201 and body == {"version": 1} and headers.get("ETag") == '"1"',
          "create with If-None-Match: *: 201, version 1", (code, body))
    version = 1
    oracle = 0
    for rnd in range(ROUNDS):
        barrier = threading.Barrier(THREADS)
        results = [None] * THREADS

        def one(t, rnd=rnd, barrier=barrier, results=results, version=version):
            barrier.wait()
            results[t] = put_counter(c, "race", rnd * 100 + t, version)

        threads = [threading.Thread(target=one, args=(t,)) for t in range(THREADS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        winners = [t for t, r in enumerate(results) if 200 <= r[0] < 300]
        losers = [r for r in results if r[0] == 412]
        ok = (len(winners) == 1 and len(losers) == THREADS - 1 and
              all(r[1].get("current_version") == version + 1 for r in losers) and
              results[winners[0]][1] == {"version": version + 1})
        check(ok, "round %d: exactly one 2xx (version %d), %d x 412 with the current version"
              % (rnd, version + 1, THREADS - 1), [(r[0], r[1]) for r in results])
        if winners:
            oracle = rnd * 100 + winners[0]
            version += 1
    code, row, headers = c.call("GET", "/views/counters/race")
    check(code == 200 and row.get("n") == oracle and row.get("_version") == version and
          headers.get("ETag") == '"%d"' % version,
          "the row is the last winner's, at version %d" % version, (code, row))


def check_serial_oracle(c, check):
    print("3. read-modify-write increments from %d threads" % THREADS)
    code, _, _ = c.call("PUT", "/views/counters/sum", {"n": 0})
    check(code == 201, "create without a precondition: 201", code)
    lock = threading.Lock()
    won_versions = []
    conflicts = [0]
    errors = []

    def worker():
        done = 0
        while done < INCREMENTS_PER_THREAD:
            code, row, headers = c.call("GET", "/views/counters/sum")
            if code != 200:
                errors.append(("GET", code, row))
                return
            version = int(headers["ETag"].strip('"'))
            code, body, _ = put_counter(c, "sum", row["n"] + 1, version)
            if code == 200:
                with lock:
                    won_versions.append(body["version"])
                done += 1
            elif code == 412:
                with lock:
                    conflicts[0] += 1
            else:
                errors.append(("PUT", code, body))
                return

    threads = [threading.Thread(target=worker) for _ in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    check(not errors, "no answer but 200 or 412", errors[:3])
    total = THREADS * INCREMENTS_PER_THREAD
    code, row, _ = c.call("GET", "/views/counters/sum")
    check(code == 200 and row["n"] == total and row["_version"] == total + 1,
          "final row equals the serial oracle (n=%d, version %d)" % (total, total + 1), row)
    check(sorted(won_versions) == list(range(2, total + 2)),
          "each 2xx returned a distinct version, 2..%d all taken" % (total + 1),
          sorted(won_versions)[:10])
    print("    (%d conflicts answered 412)" % conflicts[0])
    return conflicts[0]


def check_replays(c, check):
    print("4. idempotency keys")
    key = {"Idempotency-Key": "req-1"}
    code, body, _ = c.call("PUT", "/views/counters/idem", {"n": 5}, headers=key)
    check(code == 201 and body == {"version": 1}, "first request: 201", (code, body))
    code, body, headers = c.call("PUT", "/views/counters/idem", {"n": 5}, headers=key)
    check(code == 200 and body == {"replayed": True, "version": 1} and
          headers.get("Idempotent-Replayed") == "true", "the replay: 200 replayed, version 1",
          (code, body))
    code, body, _ = c.call("PUT", "/views/counters/idem", {"n": 9},
                           headers={"Event-Id": "req-1"})
    check(code == 200 and body.get("replayed") is True,
          "the same id as Event-Id with another body: replayed", (code, body))
    code, row, _ = c.call("GET", "/views/counters/idem")
    check(row == {"name": "idem", "n": 5, "_version": 1, "_last_event_id": "req-1"},
          "applied once: n=5, version 1", row)
    code, body, _ = c.call("PUT", "/views/counters/idem", {"n": 7},
                           headers={"Idempotency-Key": "req-2", "If-Match": '"9"'})
    check(code == 412 and body.get("current_version") == 1, "a stale If-Match: 412", (code, body))
    code, body, _ = c.call("PUT", "/views/counters/idem", {"n": 7},
                           headers={"Idempotency-Key": "req-2", "If-Match": '"1"'})
    check(code == 200 and body == {"version": 2},
          "the key of a request that failed with 412 applies once retried", (code, body))
    code, _, _ = c.call("DELETE", "/views/counters/idem", headers={"Event-Id": "del-1"})
    check(code == 204, "DELETE: 204", code)
    code, body, _ = c.call("DELETE", "/views/counters/idem", headers={"Event-Id": "del-1"})
    check(code == 200 and body == {"replayed": True, "version": 0},
          "the DELETE replayed: 200 replayed", (code, body))
    code, body, _ = c.call("PUT", "/views/counters/idem", {"n": 1},
                           headers={"Idempotency-Key": "req-1"})
    code2, _, _ = c.call("GET", "/views/counters/idem")
    check(code == 200 and body.get("replayed") is True and code2 == 404,
          "an old key stays applied: the deleted row is not recreated", (code, body, code2))
    code, _, _ = c.call("DELETE", "/views/counters/idem")
    check(code == 404, "DELETE of no row: 404", code)


def check_bad_bodies(c, check):
    print("5. bad bodies")
    cases = [({"n": "seven"}, "n"), ({"n": 1.5}, "n"), ({"m": 1}, "m"),
             ({"name": "other", "n": 1}, "name")]
    for body, column in cases:
        code, answer, _ = c.call("PUT", "/views/counters/bad", body)
        check(code == 400 and isinstance(answer, dict) and answer.get("parameter") == column and
              column in answer.get("error", ""), "%s: 400 naming %r" % (body, column),
              (code, answer))
    for raw in (b"{not json", b"[1, 2]", b"[" * 500 + b"]" * 500):
        code, answer, _ = c.call("PUT", "/views/counters/bad", raw)
        check(code == 400 and isinstance(answer, dict) and answer.get("parameter") == "body",
              "%r...: 400 on the body" % raw[:12], (code, answer))
    code, answer, _ = c.call("PUT", "/views/carts/o-1/x", {"at": "yesterday"}, who="o-1")
    check(code == 400 and answer.get("parameter") == "at", "a bad timestamp: 400 naming 'at'",
          (code, answer))
    code, _, _ = c.call("GET", "/views/counters/bad")
    check(code == 404, "nothing was written", code)


def check_preconditions(c, check):
    print("6. preconditions")
    code, body, _ = c.call("PUT", "/views/counters/race", {"n": 1},
                           headers={"If-None-Match": "*"})
    check(code == 412 and body.get("current_version", 0) > 1,
          "If-None-Match: * on an existing row: 412", (code, body))
    code, _, headers = c.call("GET", "/views/counters/race")
    etag = headers.get("ETag")
    code, _, _ = c.call("GET", "/views/counters/race", headers={"If-None-Match": etag})
    check(code == 304, "GET with If-None-Match of the ETag: 304", code)
    code, body, _ = c.call("PUT", "/views/counters/race", {"n": 1}, headers={"If-Match": "3"})
    check(code == 400 and body.get("parameter") == "If-Match", "an unquoted If-Match: 400",
          (code, body))
    code, body, _ = c.call("PUT", "/views/strict/1", {"v": "a"})
    check(code == 428, "require_preconditions without one: 428", (code, body))
    code, body, _ = c.call("PUT", "/views/strict/1", {"v": "a"}, headers={"If-None-Match": "*"})
    check(code == 201, "require_preconditions with If-None-Match: *: 201", (code, body))
    code, body, _ = c.call("PUT", "/views/strict/1", {"v": "b"}, headers={"If-Match": "*"})
    check(code == 200 and body == {"version": 2}, "If-Match: * on an existing row: 200",
          (code, body))
    code, body, _ = c.call("DELETE", "/views/strict/1", headers={"If-Match": '"1"'})
    check(code == 412 and body.get("current_version") == 2, "DELETE with a stale If-Match: 412",
          (code, body))
    code, _, _ = c.call("DELETE", "/views/strict/1", headers={"If-Match": '"2"'})
    check(code == 204, "DELETE with the current If-Match: 204", code)
    # Created again, the row goes on from version 2: a client holding the deleted row's ETag
    # cannot overwrite the new one (no ETag ever names two different rows).
    code, body, _ = c.call("PUT", "/views/strict/1", {"v": "c"}, headers={"If-None-Match": "*"})
    check(code == 201 and body == {"version": 3}, "created again: 201 at version 3",
          (code, body))
    code, body, _ = c.call("PUT", "/views/strict/1", {"v": "d"}, headers={"If-Match": '"1"'})
    check(code == 412 and body.get("current_version") == 3,
          "the deleted row's first ETag does not match the new row: 412", (code, body))
    code, body, _ = c.call("PUT", "/views/strict/2", {"v": "a"}, headers={"If-Match": "*"})
    check(code == 412 and body.get("current_version") == 0, "If-Match: * on no row: 412",
          (code, body))


def check_tenancy(c, check):
    print("7. organizations")
    row = {"qty": 2, "price": 2.5, "paid": True, "at": "2026-01-02T03:04:05Z",
           "meta": {"a": [1, 2]}}
    code, body, _ = c.call("PUT", "/views/carts/o-1/c1", row, who="o-1")
    check(code == 201, "o-1 writes its cart: 201", (code, body))
    code, got, _ = c.call("GET", "/views/carts/o-1/c1", who="o-1")
    check(code == 200 and got.get("org") == "o-1" and got.get("qty") == 2 and
          got.get("price") == 2.5 and got.get("paid") is True and
          str(got.get("at", "")).startswith("2026-01-02T03:04:05") and
          got.get("meta") in ({"a": [1, 2]}, '{"a":[1,2]}'),
          "the row reads back as written, org set from the caller", got)
    code, _, _ = c.call("PUT", "/views/carts/o-2/c2", {"qty": 1}, who="o-2")
    check(code == 201, "o-2 writes its cart: 201", code)
    code, _, _ = c.call("GET", "/views/carts/o-1/c1", who="o-2")
    check(code == 404, "o-2 reads o-1's cart: 404", code)
    code, _, _ = c.call("PUT", "/views/carts/o-1/c1", {"qty": 99}, who="o-2")
    check(code == 404, "o-2 writes o-1's cart: 404", code)
    code, _, _ = c.call("DELETE", "/views/carts/o-1/c1", who="o-2")
    check(code == 404, "o-2 deletes o-1's cart: 404", code)
    code, body, _ = c.call("PUT", "/views/carts/o-2/c3", {"org": "o-1", "qty": 1}, who="o-2")
    check(code == 403 and body.get("parameter") == "org",
          "o-2 writes a row naming o-1: 403", (code, body))
    code, body, _ = c.call("GET", "/views/carts", who="o-2")
    check(code == 200 and [r["cart_id"] for r in body["items"]] == ["c2"],
          "o-2 lists only its cart", (code, body))
    code, body, _ = c.call("GET", "/views/carts?org=o-1", who="o-2")
    check(code == 200 and body["items"] == [], "o-2 filtering on org=o-1 finds nothing",
          (code, body))
    code, got, _ = c.call("GET", "/views/carts/o-1/c1", who="o-1")
    check(got.get("qty") == 2 and got.get("_version") == 1, "o-1's cart is untouched", got)
    code, body, _ = c.call("GET", "/views/carts")
    check(code == 200 and sorted((r["org"], r["cart_id"]) for r in body["items"]) ==
          [("o-1", "c1"), ("o-2", "c2")], "the admin lists every cart", (code, body))


def check_metrics(c, check, conflicts):
    print("8. /metrics")
    code, text = http_get(c.port, "/metrics")
    counts = {}
    for m in re.finditer(r'^streamview_collection_writes_total\{([^}]*)\} (\S+)$', text or "",
                         re.M):
        labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
        counts[(labels.get("collection"), labels.get("method"), labels.get("outcome"))] = \
            float(m.group(2))
    updated = ROUNDS + THREADS * INCREMENTS_PER_THREAD
    check(counts.get(("counters", "PUT", "updated")) == updated + 1,
          "counters' updates counted (%d)" % (updated + 1), counts)
    check(counts.get(("counters", "PUT", "conflict")) == conflicts + ROUNDS * (THREADS - 1) + 2,
          "counters' conflicts counted", counts)
    check(counts.get(("counters", "PUT", "replayed")) == 3, "replays counted", counts)
    code, body, _ = c.call("GET", "/views")
    listed = {v["name"]: v for v in body.get("views", [])} if isinstance(body, dict) else {}
    check(code == 200 and listed.get("carts", {}).get("writable") is True and
          listed["carts"].get("key") == ["org", "cart_id"] and
          listed["carts"].get("source") is None and "writable" not in listed.get("notes", {}),
          "GET /views lists the collections as writable, the views not", sorted(listed))
    code, doc, _ = c.call("GET", "/openapi.json", who=None)
    paths = doc.get("paths", {}) if isinstance(doc, dict) else {}
    row = paths.get("/views/carts/{org}/{cart_id}", {})
    check(code == 200 and {"get", "put", "delete"} <= set(row) and "/views/carts" in paths,
          "/openapi.json documents the collection's list, GET, PUT and DELETE", sorted(paths))


if __name__ == "__main__":
    sys.exit(main())
