#!/usr/bin/env python3
"""Confluent-framed Kafka records checked against a schema registry (issue 21, item 3).

A schema registry runs in this test (the Confluent one is a Java service that cannot run here):
GET /schemas/ids/N answers the registered JSON Schemas, AVRO for one id, 404 for the others, and
401 without the configured basic-auth credentials. The records go through librdkafka's mock
cluster (the real Kafka protocol), framed as Confluent's serializer frames them: magic byte 0,
the schema id in 4 bytes, the JSON document.

1. Valid records under ids 1 and 2, records breaking their writer schema (a minimum, a
   pattern), an unknown id, an AVRO id, an unframed JSON record and a 2-byte record:
   `run --exit-when-caught-up` -> the view equals the oracle of the valid records; each bad one
   is a dead letter whose reason names what is wrong (the JSON pointer and rule for a
   violation); the registry was asked once per id.
2. Registry down: records under a new id wait (readiness 503 naming the registry, no dead
   letter, nothing applied); the registry comes back -> every record applied once, ready again.
3. `rebuild --all` replays the topic through the same frames and schemas -> equal again.

    python3 tests/system/kafka_registry.py --binary build/src/cli/streamview \
        --kafka-tool build/tests/kafka_tool
"""

import argparse
import base64
import collections
import http.server
import json
import os
import random
import shutil
import sqlite3
import subprocess
import tempfile
import threading

from harness import free_port, http_get, run_checked, wait_until
from kafka_source import Mock  # librdkafka's mock cluster, driven over stdin

USER, PASSWORD = "sv", "registry-secret"
TOKEN = "registry-test-token"

DEPOSIT_V1 = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "required": ["type", "accountId", "amount", "eventId"],
    "properties": {
        "type": {"const": "Deposited"},
        "accountId": {"type": "string"},
        "amount": {"type": "integer", "minimum": 1},
        "eventId": {"type": "string"},
    },
}
DEPOSIT_V2 = json.loads(json.dumps(DEPOSIT_V1))
DEPOSIT_V2["properties"]["currency"] = {"type": "string", "pattern": "^[A-Z]{3}$"}
SCHEMAS = {
    1: {"schemaType": "JSON", "schema": json.dumps(DEPOSIT_V1)},
    2: {"schemaType": "JSON", "schema": json.dumps(DEPOSIT_V2)},
    3: {"schema": json.dumps({"type": "record", "name": "Deposited", "fields": []})},  # AVRO
    4: {"schemaType": "JSON", "schema": json.dumps(DEPOSIT_V2)},
}

CONFIG = """
store:
  kind: sqlite
  path: {store}
sources:
  payments:
    kind: kafka
    brokers: "{bootstrap}"
    topics: [payments]
    group_id: registry-test
    dead_letter_topic: false
    properties: {{session.timeout.ms: "6000", heartbeat.interval.ms: "500"}}
    schema_registry:
      url: http://127.0.0.1:{registry_port}
      timeout_ms: 2000
      username: {user}
      password_env: SV_TEST_REGISTRY_PASSWORD
    key: accountId
    event_id: eventId
    event_types: [Deposited]
server:
  token_env: STREAMVIEW_TOKEN
views:
  accounts:
    source: payments
    key: [account_id]
    columns:
      account_id: text
      balance: {{type: integer, default: 0}}
      deposits: {{type: integer, default: 0}}
    on:
      Deposited:
        set:
          account_id: e.accountId
          balance: "coalesce(balance, 0) + e.amount"
          deposits: "coalesce(deposits, 0) + 1"
"""


def fail(msg):
    print("FAILED: " + msg)
    raise SystemExit(1)


class Registry:
    """The registry's GET /schemas/ids/{id}, with basic auth; start() and stop() on one port."""

    def __init__(self):
        self.port = free_port()
        self.asked = collections.Counter()
        self.server = None
        self.thread = None

    def start(self):
        registry = self
        expected = "Basic " + base64.b64encode(("%s:%s" % (USER, PASSWORD)).encode()).decode()

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def answer(self, status, body):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/vnd.schemaregistry.v1+json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                if self.headers.get("Authorization") != expected:
                    return self.answer(401, {"error_code": 401, "message": "Unauthorized"})
                parts = self.path.strip("/").split("/")
                if len(parts) != 3 or parts[:2] != ["schemas", "ids"] or not parts[2].isdigit():
                    return self.answer(404, {"error_code": 404, "message": "HTTP 404 Not Found"})
                schema_id = int(parts[2])
                registry.asked[schema_id] += 1
                if schema_id not in SCHEMAS:
                    return self.answer(404, {"error_code": 40403, "message": "Schema not found"})
                return self.answer(200, SCHEMAS[schema_id])

        http.server.ThreadingHTTPServer.allow_reuse_address = True
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


class Workload:
    """Records to produce and what the view and the dead letters must be after them."""

    def __init__(self, seed):
        self.rnd = random.Random(seed)
        self.lines = []
        self.balance = collections.Counter()
        self.deposits = collections.Counter()
        self.dead = collections.Counter()  # reason fragment -> count
        self.n = 0

    def deposit(self, schema_id, good=True, currency=None):
        self.n += 1
        account = "a%d" % self.rnd.randrange(40)
        amount = self.rnd.randrange(1, 500) if good else -self.rnd.randrange(0, 50)
        event = {"type": "Deposited", "accountId": account, "amount": amount,
                 "eventId": "e%d" % self.n}
        if currency is not None:
            event["currency"] = currency
        self.lines.append({"key": account, "value": event, "confluent_schema_id": schema_id})
        return account, amount

    def valid(self, schema_id):
        account, amount = self.deposit(schema_id, currency="EUR" if schema_id != 1 else None)
        self.balance[account] += amount
        self.deposits[account] += 1

    def write(self, path, lines):
        with open(path, "w") as f:
            for line in lines:
                f.write(json.dumps(line) + "\n")


def query(store, sql):
    """Rows of `sql` on the SQLite store while the engine writes ([] before its tables exist)."""
    db = sqlite3.connect(store, timeout=30)
    try:
        return db.execute(sql).fetchall()
    except sqlite3.OperationalError:
        return []
    finally:
        db.close()


def view_rows(store):
    return {a: (b, d) for a, b, d in query(store, "SELECT account_id, balance, deposits FROM accounts")}


def dead_letters(store):
    return [r[0] for r in query(store, "SELECT reason FROM sv_dead_letters ORDER BY id")]


def positions(store):
    return sum(r[0] for r in query(store, "SELECT position FROM sv_positions"))


def check_view(store, w, what):
    expected = {a: (w.balance[a], w.deposits[a]) for a in w.balance}
    got = view_rows(store)
    if got != expected:
        diff = sorted(set(got.items()) ^ set(expected.items()))[:10]
        fail("%s: view differs from the oracle (%d vs %d rows): %s"
             % (what, len(got), len(expected), diff))
    print("  %s: %d accounts equal the oracle" % (what, len(expected)))


def produce(args, mock, path):
    run_checked([args.kafka_tool, "produce", "--bootstrap", mock.bootstrap, "--topic",
                 "payments", path], timeout=600)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    ap.add_argument("--kafka-tool", required=True)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="sv-registry-")
    env = dict(os.environ, SV_TEST_REGISTRY_PASSWORD=PASSWORD, STREAMVIEW_TOKEN=TOKEN)
    mock = Mock(args.kafka_tool)
    mock.topic("payments", 2)
    registry = Registry()
    registry.start()
    store = os.path.join(tmp, "payments.db")
    config = os.path.join(tmp, "payments.yaml")
    with open(config, "w") as f:
        f.write(CONFIG.format(store=store, bootstrap=mock.bootstrap, registry_port=registry.port,
                              user=USER))
    try:
        print("1. framed records, valid and not")
        w = Workload(7)
        for _ in range(300):
            w.valid(1)
        for _ in range(300):
            w.valid(2)
        bad = [(1, dict(good=False), "at /amount"),
               (2, dict(currency="eur"), "at /currency"),
               (99, {}, "schema id 99 is not in the registry"),
               (3, {}, "schema id 3 is AVRO")]
        for schema_id, kwargs, reason in bad:
            for _ in range(3):
                w.deposit(schema_id, **kwargs)
                w.dead[reason] += 1
        w.lines.append({"key": "a1", "value": {"type": "Deposited", "accountId": "a1",
                                               "amount": 5, "eventId": "plain"}})
        w.dead["its first byte is 123, not the magic byte 0"] += 1
        w.lines.append({"key": "a1", "value": {}, "value_hex": "0000"})
        w.dead["2 bytes, fewer than the magic byte"] += 1
        w.rnd.shuffle(w.lines)
        first = os.path.join(tmp, "first.ndjson")
        w.write(first, w.lines)
        produce(args, mock, first)
        run_checked([args.binary, "run", "--config", config, "--exit-when-caught-up"], env=env)
        check_view(store, w, "after the first run")
        reasons = dead_letters(store)
        got = collections.Counter()
        for reason in reasons:
            matched = [frag for frag in w.dead if frag in reason]
            if len(matched) != 1:
                fail("dead letter reason matches %d expected reasons: %r" % (len(matched), reason))
            got[matched[0]] += 1
        if got != w.dead:
            fail("dead letters %s, expected %s" % (dict(got), dict(w.dead)))
        violation = next(r for r in reasons if "/currency" in r)
        if "registry id 2" not in violation or "pattern" not in violation:
            fail("a pattern violation does not name its schema and rule: %r" % violation)
        if any(n != 1 for n in registry.asked.values()) or set(registry.asked) != {1, 2, 3, 99}:
            fail("the registry was asked %s, once per id expected" % dict(registry.asked))
        print("  %d dead letters with their reasons, e.g. %r; registry asked once per id"
              % (len(reasons), violation[:120]))

        print("2. registry down: records wait, nothing dead-lettered")
        registry.stop()
        before = len(w.lines)
        for _ in range(200):
            w.valid(4)
        second_lines = w.lines[before:]
        second = os.path.join(tmp, "second.ndjson")
        w.write(second, second_lines)
        produce(args, mock, second)
        committed = positions(store)
        port = free_port()
        proc = subprocess.Popen([args.binary, "run", "--config", config, "--listen",
                                 "127.0.0.1:%d" % port], env=env, stdout=subprocess.DEVNULL,
                                stderr=open(os.path.join(tmp, "run2.log"), "w"))
        try:
            def not_ready_naming_registry():
                status, body = http_get(port, "/health/ready")
                return status == 503 and "schema registry" in body
            wait_until(not_ready_naming_registry, "readiness 503 naming the registry", proc=proc)
            if positions(store) != committed or len(dead_letters(store)) != len(reasons):
                fail("records moved while the registry was down")
            print("  readiness 503 naming the registry; nothing applied or dead-lettered")
            registry.start()
            wait_until(lambda: positions(store) == committed + len(second_lines),
                       "the waiting records to be applied", proc=proc)
            wait_until(lambda: http_get(port, "/health/ready")[0] == 200, "ready again",
                       proc=proc)
        finally:
            proc.terminate()
            proc.wait(timeout=60)
        if len(dead_letters(store)) != len(reasons):
            fail("the outage dead-lettered records: %s" % dead_letters(store)[len(reasons):])
        check_view(store, w, "after the registry came back")

        print("3. rebuild --all replays the framed topic")
        run_checked([args.binary, "rebuild", "--all", "--config", config], env=env)
        check_view(store, w, "after rebuild --all")
    finally:
        mock.close()
    shutil.rmtree(tmp, ignore_errors=True)
    print("PASS")


if __name__ == "__main__":
    main()
