#!/usr/bin/env python3
"""Read-your-writes on a partitioned source: the Kafka source on librdkafka's mock cluster.

A producer writes orders keyed over 4 partitions and learns, from its delivery reports, the
offset of its last message in each partition. It reads with min_position built from those
(partition, offset) pairs in the documented plain form "<topic>/<partition>:<offset + 1>,...".
Checked:
1. Every answer (200) to such a read holds every order written (a 503 + Retry-After only says
   "not yet": the reader retries); the answer's X-StreamView-Position token covers the pairs.
2. A read naming one partition one record beyond what it holds never answers 200, however far
   the other partitions are: 503 + Retry-After, naming that partition.
3. The X-StreamView-Position token of a read, sent back as min_position, is satisfied at once.
4. A plain integer (ambiguous over partitions), a malformed token and an unknown topic are
   400 with a JSON error naming min_position.

    python3 tests/system/kafka_read_your_writes.py --binary build/src/cli/streamview \
        --kafka-tool build/tests/kafka_tool --source-dir .
"""

import json
import os
import shutil
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request

from harness import decode_position
from kafka_source import Harness, Mock, fail, get, kafka_test_args, serve, wait_for

TOPIC = "ryw"
PARTITIONS = 4


def read(base, path, params):
    """GET -> (status, JSON body, headers)."""
    url = base + path + "?" + urllib.parse.urlencode(params)
    try:
        with urllib.request.urlopen(url, timeout=60) as r:
            return r.status, json.loads(r.read() or b"null"), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null"), dict(e.headers)


def orders(tag, count):
    """NDJSON envelopes creating `count` orders o-<tag>-NN (one event each, sequence 1)."""
    lines = []
    for i in range(count):
        oid = "o-%s-%02d" % (tag, i)
        value = {"type": "OrderCreated", "eventId": "ev-%s" % oid,
                 "occurredAt": "2026-01-05T10:00:%02d.000Z" % i, "orderId": oid,
                 "customerId": "c-ryw", "currency": "EUR",
                 "items": [{"itemId": "i-%s" % oid, "sku": "SKU-1", "qty": 1, "price": 2.5}]}
        lines.append(json.dumps({"key": oid, "headers": {"x-sequence": "1"}, "value": value}))
    return lines


def produce(h, tmp, tag, count):
    """Produces the orders; -> (their ids, {partition number: last offset delivered})."""
    path = os.path.join(tmp, tag + ".ndjson")
    lines = orders(tag, count)
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    out = json.loads(h.produce(TOPIC, path).stdout.strip().splitlines()[-1])
    if out["produced"] != count:
        fail("produced %r of %d" % (out, count))
    return ([json.loads(line)["key"] for line in lines],
            {int(p): o for p, o in out["last_offsets"].items()})


def plain_form(last_offsets, extra=None):
    """The documented plain min_position: <topic>/<partition>:<last offset + 1>,..."""
    want = {p: o + 1 for p, o in last_offsets.items()}
    want.update(extra or {})
    return ",".join("%s/%d:%d" % (TOPIC, p, o) for p, o in sorted(want.items())), want


def read_your_writes(base, ids, last_offsets, what):
    """Reads with min_position from the delivery reports until 200; the answer must hold
    every id. -> the answer's position header."""
    min_position, want = plain_form(last_offsets)
    answers = {}

    def answered():
        status, body, headers = read(base, "/views/orders_view",
                                     [("min_position", min_position), ("limit", "1000")])
        if status == 503 and headers.get("Retry-After"):
            return False
        answers["last"] = (status, body, headers)
        return True

    wait_for(answered, "%s: a 200 to min_position=%s" % (what, min_position))
    status, body, headers = answers["last"]
    if status != 200:
        fail("%s: min_position=%s -> %d %r" % (what, min_position, status, body))
    got = {row["order_id"] for row in body["items"]}
    missing = [i for i in ids if i not in got]
    if missing:
        fail("%s: the read answered before the writes were applied: %d of %d orders missing "
             "(%s...); position %r" % (what, len(missing), len(ids), missing[:3],
                                       headers.get("X-StreamView-Position")))
    token = headers.get("X-StreamView-Position")
    applied = decode_position(token)
    # Partition ids are topic index << 20 | partition; one topic here.
    if applied is None or any(applied.get(p, 0) < o for p, o in want.items()):
        fail("%s: X-StreamView-Position %r does not cover %r" % (what, token, want))
    print("  %s: min_position=%s -> 200 with all %d orders; position %r" %
          (what, min_position, len(ids), applied))
    return token


def main():
    args = kafka_test_args()
    tmp = tempfile.mkdtemp(prefix="sv-kafka-ryw-")
    mock = Mock(args.kafka_tool)
    proc = None
    try:
        mock.topic(TOPIC, PARTITIONS)
        h = Harness(args, tmp, mock)
        config = h.config("ryw", TOPIC)
        proc, base = serve(h, config)
        wait_for(lambda: get(base + "/health/ready")[0] == 200, "ready", proc=proc)

        print("1. read-your-writes over %d partitions" % PARTITIONS)
        ids, last = produce(h, tmp, "a", 40)
        if len(last) < 2:
            fail("the orders reached %d partition(s); the test needs several" % len(last))
        read_your_writes(base, ids, last, "first batch")
        ids, last = produce(h, tmp, "b", 40)
        token = read_your_writes(base, ids, last, "second batch, produced while running")

        print("2. a partition one record short holds the read, whatever the others reach")
        lagging = min(last)
        min_position, _ = plain_form(last, {lagging: last[lagging] + 2})
        status, body, headers = read(base, "/views/orders_view", [("min_position", min_position)])
        label = "%s/%d:%d" % (TOPIC, lagging, last[lagging] + 2)
        if status != 503 or not headers.get("Retry-After") or label not in body.get("error", ""):
            fail("min_position=%s (partition %d one record beyond its end) -> %d %r, want 503 "
                 "+ Retry-After naming %s" % (min_position, lagging, status, body, label))
        print("  min_position=%s -> 503: %s" % (min_position, body["error"]))

        print("3. the response's token, sent back, is satisfied at once")
        status, body, headers = read(base, "/views/orders_view/o-b-00", [("min_position", token)])
        if status != 200 or body.get("order_id") != "o-b-00":
            fail("min_position=<token %s> -> %d %r" % (token, status, body))

        print("4. GET /views shows every partition's applied position and a usable token")
        status, body, _ = read(base, "/views", [])
        view = next((v for v in body.get("views", []) if v.get("name") == "orders_view"), None)
        if status != 200 or view is None:
            fail("GET /views -> %d %r" % (status, body))
        applied = view.get("applied_positions", {})
        for partition, offset in last.items():
            label = "%s/%d" % (TOPIC, partition)
            if applied.get(label, 0) < offset + 1:
                fail("/views applied_positions %r: %s below %d" % (applied, label, offset + 1))
        if view.get("applied_position") != sum(applied.values()):
            fail("/views applied_position %r is not the sum of %r"
                 % (view.get("applied_position"), applied))
        status, body, _ = read(base, "/views/orders_view", [("min_position", view.get("position"))])
        if status != 200:
            fail("min_position=<the /views token> -> %d %r" % (status, body))
        print("  applied_positions %r" % applied)

        print("5. malformed min_position -> 400 naming it")
        for bad in ("7", "sv1.%%", "sv1.OTk5OTk5OTk5OTk6MQ", "other/0:1", "%s/0:x" % TOPIC):
            status, body, _ = read(base, "/views/orders_view", [("min_position", bad)])
            if status != 400 or body.get("parameter") != "min_position":
                fail("min_position=%s -> %d %r, want 400 naming min_position" % (bad, status, body))
            print("  %s -> 400: %s" % (bad, body["error"]))
        print("PASSED")
        return 0
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=120)
        mock.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
