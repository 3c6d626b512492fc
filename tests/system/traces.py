#!/usr/bin/env python3
"""Traces (README "Traces") against an OTLP/HTTP receiver run by this test (a collector cannot
run here): it takes POST /v1/traces bodies (OTLP JSON) and keeps their spans.

1. Embedded log, sample_ratio 0: envelopes with a sampled `traceparent` header, a malformed
   one, an unsampled one and none are ingested; `run --listen` applies them; GETs with a
   sampled traceparent, a malformed one and none are made. The receiver gets, for the sampled
   event, poll (parent = the sent span) -> decode, apply, commit (parent = poll) in time order
   with their attributes; for the GET, http.request (parent = the sent span, kind server) ->
   store.read; and no span of any other trace (ratio 0: nothing starts a trace).
   The response echoes `traceresponse`; a malformed traceparent is never an error.
2. sample_ratio 1: a GET with a malformed traceparent is a new root trace (no parent, a fresh
   trace id), echoed in `traceresponse`; a poll without traced events is a root poll + commit.
3. Kafka (librdkafka's mock cluster): a message whose header carries the traceparent is traced
   under it, with its partition and offset.

    python3 tests/system/traces.py --binary build/src/cli/streamview \
        --kafka-tool build/tests/kafka_tool --source-dir .
"""

import argparse
import http.server
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import urllib.error
import urllib.request

from harness import free_port, wait_until

SENT_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
SENT_SPAN = "00f067aa0ba902b7"
HTTP_TRACE = "0af7651916cd43dd8448eb211c80319c"
HTTP_SPAN = "b7ad6b7169203331"
KAFKA_TRACE = "5c1fa5e1b0b04f0f8f0f9a3c2d1e0b7a"
KAFKA_SPAN = "1234567890abcdef"
UNSAMPLED_TRACE = "11111111111111111111111111111111"
MALFORMED = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0"  # flags one digit short


def traceparent(trace, span, flags="01"):
    return "00-%s-%s-%s" % (trace, span, flags)


def fail(msg):
    print("FAILED: " + msg)
    raise SystemExit(1)


class Receiver:
    """An OTLP/HTTP JSON receiver: keeps every span posted to /v1/traces."""

    def __init__(self):
        self.spans, self.requests, self.bad = [], [], []
        self.lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver.lock:
                    receiver.requests.append((self.path, self.headers.get("Content-Type")))
                    try:
                        doc = json.loads(body)
                        for rs in doc["resourceSpans"]:
                            service = {a["key"]: a["value"] for a in rs["resource"]["attributes"]}
                            for ss in rs["scopeSpans"]:
                                for s in ss["spans"]:
                                    s["_service"] = service["service.name"]["stringValue"]
                                    receiver.spans.append(s)
                    except (ValueError, KeyError) as e:
                        receiver.bad.append("%r: %s" % (e, body[:200]))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def of_trace(self, trace_id):
        with self.lock:
            return [s for s in self.spans if s["traceId"] == trace_id]

    def all(self):
        with self.lock:
            return list(self.spans)

    def close(self):
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()  # the port refuses connections from now on
            self.server = None


def attrs(span):
    out = {}
    for a in span.get("attributes", []):
        v = a["value"]
        out[a["key"]] = int(v["intValue"]) if "intValue" in v else v.get("stringValue")
    return out


def by_name(spans, name):
    found = [s for s in spans if s["name"] == name]
    if len(found) != 1:
        fail("expected one %s span, got %d: %s" % (name, len(found), json.dumps(spans)[:2000]))
    return found[0]


def times(span):
    return int(span["startTimeUnixNano"]), int(span["endTimeUnixNano"])


def check_id_shapes(spans):
    for s in spans:
        if not re.fullmatch(r"[0-9a-f]{32}", s["traceId"]) or \
                not re.fullmatch(r"[0-9a-f]{16}", s["spanId"]):
            fail("bad ids in %s" % s)
        start, end = times(s)
        if not 0 < start <= end:
            fail("bad times in %s" % s)


def envelope(key, seq, headers, **fields):
    value = {"type": "OrderCreated", "eventId": "%s-%d" % (key, seq),
             "occurredAt": "2024-05-01T10:00:00.000Z", "orderId": key, "customerId": "c-1",
             "currency": "EUR", "items": [{"sku": "s-1", "qty": 2, "price": 5.0}]}
    value.update(fields)
    h = {"x-sequence": str(seq)}
    h.update(headers)
    return json.dumps({"key": key, "headers": h, "value": value})


def write_config(source_dir, tmp, name, ratio, endpoint_port, source_block=None):
    text = open(os.path.join(source_dir, "examples", "orders", "streamview.yaml")).read()
    text = text.replace("path: orders.db", "path: %s" % os.path.join(tmp, name + ".db"))
    if source_block is not None:
        text = re.sub(r"    kind: log[^\n]*\n", source_block, text)
    text += ("\ntracing:\n  endpoint: http://127.0.0.1:%d\n  sample_ratio: %s\n"
             "  service_name: sv-trace-test\n  batch_size: 16\n  flush_ms: 100\n"
             % (endpoint_port, ratio))
    path = os.path.join(tmp, name + ".yaml")
    with open(path, "w") as f:
        f.write(text)
    return path


def run(cmd, timeout=300):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        fail("exit %d: %s\n%s\n%s" % (r.returncode, " ".join(cmd), r.stdout[-2000:],
                                      r.stderr[-4000:]))
    return r


def get(port, path, headers):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()
    except (urllib.error.URLError, ConnectionError):
        return 0, {}, b""  # not listening yet


class Engine:
    def __init__(self, binary, config, tmp, name):
        self.port = free_port()
        self.log_path = os.path.join(tmp, name + ".log")
        self.log = open(self.log_path, "w")
        self.p = subprocess.Popen([binary, "run", "--config", config, "--listen",
                                   "127.0.0.1:%d" % self.port], stdout=self.log,
                                  stderr=subprocess.STDOUT)

    def stop(self):
        self.p.send_signal(signal.SIGTERM)
        if self.p.wait(timeout=60) != 0:
            fail("engine exited %d; log: %s" % (self.p.returncode, open(self.log_path).read()[-3000:]))
        self.log.close()


def span_counts(port):
    """streamview_trace_spans_total by outcome, scraped from /metrics."""
    status, _, body = get(port, "/metrics", {})
    if status != 200:
        fail("/metrics answered %d" % status)
    counts = {"exported": 0, "dropped": 0, "failed": 0}
    for m in re.finditer(r'^streamview_trace_spans_total\{outcome="(\w+)"\} (\S+)$',
                         body.decode() if isinstance(body, bytes) else body, re.M):
        counts[m.group(1)] = int(float(m.group(2)))
    return counts


def check_event_trace(spans, trace, parent, source, event_type, partition=None):
    """poll (parent: the sent span) -> decode, apply, commit; returns the decode attributes."""
    check_id_shapes(spans)
    poll = by_name(spans, "poll")
    decode, apply_, commit = (by_name(spans, n) for n in ("decode", "apply", "commit"))
    if poll.get("parentSpanId") != parent:
        fail("poll's parent is %r, not the sent %s" % (poll.get("parentSpanId"), parent))
    for child in (decode, apply_, commit):
        if child.get("parentSpanId") != poll["spanId"]:
            fail("%s is not a child of poll: %s" % (child["name"], child))
    if len({s["spanId"] for s in spans}) != len(spans) or parent in {s["spanId"] for s in spans}:
        fail("span ids repeat: %s" % spans)
    order = [times(poll), times(decode), times(apply_), times(commit)]
    for (a_start, a_end), (b_start, b_end) in zip(order, order[1:]):
        if not a_end <= b_start:
            fail("spans out of order poll -> decode -> apply -> commit: %s" % order)
    a = attrs(decode)
    if a.get("sv.source") != source or a.get("sv.event_type") != event_type or \
            a.get("sv.outcome") != "ok" or not isinstance(a.get("sv.offset"), int):
        fail("decode attributes: %s" % a)
    if partition is not None and a.get("sv.partition") != partition:
        fail("decode partition %s, expected %s" % (a.get("sv.partition"), partition))
    if attrs(apply_).get("sv.views") != 2 or attrs(apply_).get("sv.offset") != a["sv.offset"]:
        fail("apply attributes: %s" % attrs(apply_))
    # OrderCreated with one item writes its orders_view row and one order_items_view row.
    if attrs(commit).get("sv.rows_written", 0) < 2 or attrs(commit).get("sv.source") != source:
        fail("commit attributes: %s" % attrs(commit))
    if attrs(poll).get("sv.source") != source or attrs(poll).get("sv.traced_events") != 1:
        fail("poll attributes: %s" % attrs(poll))
    if poll.get("kind") != 5:
        fail("poll kind %s, expected 5 (consumer)" % poll.get("kind"))
    return a


def log_phase(args, tmp):
    receiver = Receiver()
    config = write_config(args.source_dir, tmp, "log", "0", receiver.port)
    events = os.path.join(tmp, "log.ndjson")
    with open(events, "w") as f:
        f.write(envelope("o-traced", 1, {"traceparent": traceparent(SENT_TRACE, SENT_SPAN)}) + "\n")
        f.write(envelope("o-malformed", 1, {"traceparent": MALFORMED}) + "\n")
        f.write(envelope("o-unsampled", 1,
                         {"traceparent": traceparent(UNSAMPLED_TRACE, SENT_SPAN, "00")}) + "\n")
        f.write(envelope("o-plain", 1, {}) + "\n")
    run([args.binary, "ingest", "--config", config, events])
    engine = Engine(args.binary, config, tmp, "log")
    try:
        def applied():
            status, _, _ = get(engine.port, "/views/orders_view/o-plain", {})
            return status == 200
        wait_until(applied, "the events applied", proc=engine.p)
        status, headers, body = get(engine.port, "/views/orders_view/o-traced",
                                    {"traceparent": traceparent(HTTP_TRACE, HTTP_SPAN)})
        if status != 200 or json.loads(body).get("order_id") != "o-traced":
            fail("GET with traceparent: %d %s" % (status, body[:300]))
        echoed = headers.get("traceresponse", "")
        if not re.fullmatch("00-%s-[0-9a-f]{16}-01" % HTTP_TRACE, echoed):
            fail("traceresponse %r does not carry the request's trace" % echoed)
        status, headers, _ = get(engine.port, "/views/orders_view/o-plain",
                                 {"traceparent": MALFORMED})
        if status != 200:
            fail("a malformed traceparent made the GET fail: %d" % status)
        if "traceresponse" in headers:
            fail("ratio 0: a malformed traceparent must not start a recorded trace")
        wait_until(lambda: len(receiver.of_trace(SENT_TRACE)) >= 4 and
                   len(receiver.of_trace(HTTP_TRACE)) >= 2, "the spans exported",
                   proc=engine.p)
        # /metrics counts what the receiver got (the counter moves once the response is read;
        # ratio 0: the scrapes themselves carry no traceparent, so record no span).
        wait_until(lambda: span_counts(engine.port)["exported"] == len(receiver.all()),
                   "streamview_trace_spans_total{outcome=exported} = the spans received",
                   proc=engine.p)
        if span_counts(engine.port)["dropped"] or span_counts(engine.port)["failed"]:
            fail("spans dropped or failed with a live receiver: %s" % span_counts(engine.port))
    finally:
        engine.stop()

    check_event_trace(receiver.of_trace(SENT_TRACE), SENT_TRACE, SENT_SPAN, "orders",
                      "OrderCreated")
    decode = by_name(receiver.of_trace(SENT_TRACE), "decode")
    if attrs(decode).get("sv.key") != "o-traced":
        fail("the traced decode span is not o-traced's: %s" % attrs(decode))
    http_spans = receiver.of_trace(HTTP_TRACE)
    check_id_shapes(http_spans)
    request = by_name(http_spans, "http.request")
    read = by_name(http_spans, "store.read")
    if request.get("parentSpanId") != HTTP_SPAN or request.get("kind") != 2:
        fail("http.request is not a server span under the sent parent: %s" % request)
    if echoed.split("-")[2] != request["spanId"]:
        fail("traceresponse names span %s, the request span is %s" % (echoed, request["spanId"]))
    if read.get("parentSpanId") != request["spanId"]:
        fail("store.read is not a child of http.request: %s" % read)
    a = attrs(request)
    if a.get("http.request.method") != "GET" or a.get("http.response.status_code") != 200 or \
            a.get("url.path") != "/views/orders_view/o-traced" or not a.get("http.route"):
        fail("http.request attributes: %s" % a)
    if attrs(read).get("sv.rows") != 1:
        fail("store.read attributes: %s" % attrs(read))
    r_start, r_end = times(request)
    s_start, s_end = times(read)
    if not r_start <= s_start <= s_end <= r_end:
        fail("store.read is not inside http.request")
    others = [s for s in receiver.all() if s["traceId"] not in (SENT_TRACE, HTTP_TRACE)]
    if others:
        fail("ratio 0 recorded spans of other traces: %s" % json.dumps(others)[:2000])
    if any(s["_service"] != "sv-trace-test" for s in receiver.all()):
        fail("service.name not the configured one")
    if receiver.bad or any(p != "/v1/traces" or t != "application/json"
                           for p, t in receiver.requests):
        fail("bad export requests: %s %s" % (receiver.bad, receiver.requests))
    receiver.close()
    print("log + http traces: ok (%d spans in %d requests)"
          % (len(http_spans) + 4, len(receiver.requests)))


def ratio_one_phase(args, tmp):
    receiver = Receiver()
    config = write_config(args.source_dir, tmp, "ratio1", "1", receiver.port)
    events = os.path.join(tmp, "ratio1.ndjson")
    with open(events, "w") as f:
        f.write(envelope("o-root", 1, {}) + "\n")
    run([args.binary, "ingest", "--config", config, events])
    engine = Engine(args.binary, config, tmp, "ratio1")
    try:
        wait_until(lambda: get(engine.port, "/views/orders_view/o-root", {})[0] == 200,
                   "the event applied", proc=engine.p)
        status, headers, _ = get(engine.port, "/views/orders_view/o-root",
                                 {"traceparent": MALFORMED})
        if status != 200:
            fail("a malformed traceparent made the GET fail: %d" % status)
        echoed = headers.get("traceresponse", "")
        m = re.fullmatch("00-([0-9a-f]{32})-([0-9a-f]{16})-01", echoed)
        if not m or m.group(1) == SENT_TRACE:
            fail("a malformed traceparent did not start a new trace: %r" % echoed)
        new_trace = m.group(1)
        wait_until(lambda: any(s["name"] == "http.request" for s in receiver.of_trace(new_trace))
                   and any(s["name"] == "commit" for s in receiver.all()),
                   "the root spans exported", proc=engine.p)
        # The receiver gone, a traced request's spans cannot be sent: counted as failed.
        receiver.close()
        get(engine.port, "/views/orders_view/o-root", {})
        wait_until(lambda: span_counts(engine.port)["failed"] >= 1,
                   "streamview_trace_spans_total{outcome=failed} counting the refused export",
                   proc=engine.p)
    finally:
        engine.stop()
    request = by_name(receiver.of_trace(new_trace), "http.request")
    if request.get("parentSpanId"):
        fail("the malformed traceparent's request span has a parent: %s" % request)
    polls = [s for s in receiver.all() if s["name"] == "poll" and attrs(s).get("sv.records")]
    if not polls or any(p.get("parentSpanId") for p in polls):
        fail("no root poll span: %s" % polls)
    commits = [s for s in receiver.all() if s["name"] == "commit" and
               s.get("parentSpanId") == polls[0]["spanId"]]
    if len(commits) != 1 or commits[0]["traceId"] != polls[0]["traceId"]:
        fail("the root poll has no commit child: %s" % commits)
    receiver.close()
    print("ratio 1 roots: ok")


def kafka_phase(args, tmp):
    receiver = Receiver()
    mock = subprocess.Popen([args.kafka_tool, "mock", "--brokers", "1"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        line = mock.stdout.readline().split()
        if len(line) != 2 or line[0] != "bootstrap":
            fail("mock cluster did not start: %r" % line)
        bootstrap = line[1]
        mock.stdin.write("topic traced 2\n")
        mock.stdin.flush()
        if not mock.stdout.readline().strip().endswith(": 0"):
            fail("cannot create the topic")
        block = ("    kind: kafka\n    brokers: \"%s\"\n    topics: [traced]\n"
                 "    group_id: traces\n" % bootstrap)
        config = write_config(args.source_dir, tmp, "kafka", "0", receiver.port, block)
        events = os.path.join(tmp, "kafka.ndjson")
        with open(events, "w") as f:
            f.write(envelope("k-traced", 1,
                             {"traceparent": traceparent(KAFKA_TRACE, KAFKA_SPAN)}) + "\n")
            f.write(envelope("k-plain", 1, {}) + "\n")
        run([args.kafka_tool, "produce", "--bootstrap", bootstrap, "--topic", "traced", events])
        # Exits once caught up; the spans queued are sent before it returns.
        run([args.binary, "run", "--config", config, "--listen", "127.0.0.1:0",
             "--exit-when-caught-up"])
        wait_until(lambda: len(receiver.of_trace(KAFKA_TRACE)) >= 4, "the Kafka spans")
        decode = check_event_trace(receiver.of_trace(KAFKA_TRACE), KAFKA_TRACE, KAFKA_SPAN,
                                   "orders", "OrderCreated")
        if decode.get("sv.partition") not in (0, 1) or decode.get("sv.key") != "k-traced":
            fail("Kafka decode attributes: %s" % decode)
        others = [s for s in receiver.all() if s["traceId"] != KAFKA_TRACE]
        if others:
            fail("ratio 0 recorded other traces: %s" % others)
    finally:
        mock.stdin.close()
        mock.wait(timeout=30)
        receiver.close()
    print("kafka traces: ok")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    ap.add_argument("--kafka-tool", required=True)
    ap.add_argument("--source-dir", required=True)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="sv-traces-")
    try:
        log_phase(args, tmp)
        ratio_one_phase(args, tmp)
        kafka_phase(args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("traces: all checks passed")


if __name__ == "__main__":
    sys.exit(main())
