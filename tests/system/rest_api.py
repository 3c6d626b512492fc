#!/usr/bin/env python3
"""The REST server of `streamview run --listen`, driven over loopback HTTP and checked against
the independent oracle (tests/oracle/orders_oracle.py, imported as a module: every expected row
is computed from the events this test generated or posted, never by StreamView).

Covers: POST /events (NDJSON and JSON array, 401/403), X-StreamView-Position and read-your-writes
(min_position / X-StreamView-Min-Position, 503 + Retry-After), GET /views, /views/{view} with
filters, IN lists, ranges, from/to, sorts, cursors (next and prev) and Link headers, rows by key
with ETag / If-None-Match, the /orders compatibility route with page=, 400s naming the parameter,
injection attempts, keyset pagination under concurrent writes, ops (/lags, rebuild, /dlq) with
their auth, probes, /metrics (values checked against the workload) and /openapi.json (every
documented path served, every used route documented); SIGTERM must exit 0 promptly.

    python3 tests/system/rest_api.py --binary build/src/cli/streamview --source-dir .

Python 3 standard library only. Every failed check is reported (the run goes on where it can);
exit 1 if any failed.
"""

import argparse
import datetime
import http.client
import importlib.util
import json
import math
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request

from harness import (DEADLINE_S, SseStream, WaitTimeout, decode_position,  # noqa: E402
                     tcp_unread_bytes, wait_until)
from stores import Store

TOKEN = "rest-test-token-%d" % os.getpid()
VAT = 0.23
ORDERS_TYPES = {"order_id": "text", "customer_id": "text", "status": "text",
                "total_net": "numeric", "total_gross": "numeric", "currency": "text",
                "item_count": "integer", "last_event_sequence": "integer",
                "last_event_id": "text", "updated_at": "timestamp"}
ITEMS_TYPES = {"order_id": "text", "line_no": "integer", "sku": "text", "qty": "integer",
               "price": "numeric", "net_line_total": "numeric", "gross_line_total": "numeric"}
TS_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")
READ_WAIT_S = 2.0  # server.read_wait_ms in examples/orders/streamview.yaml
# "Exits within a few seconds" of SIGTERM, with idle keep-alive connections open: well under
# the server's 30 s keep-alive idle deadline (what a shutdown that waited on idle connections
# would take), with room for a loaded machine.
SHUTDOWN_LIMIT_S = 12.0

FAILURES = []


class Fatal(Exception):
    pass


def check(cond, what, detail=""):
    if cond:
        print("  ok: " + what)
    else:
        msg = what + ((" -- " + detail) if detail else "")
        print("  FAILED: " + msg)
        FAILURES.append(msg)
    return cond


def require(cond, what, detail=""):
    if not check(cond, what, detail):
        raise Fatal(what)


def short(x, n=400):
    s = x if isinstance(x, str) else repr(x)
    return s if len(s) <= n else s[:n] + "..."


# ---------------------------------------------------------------------------------------- HTTP

class Resp:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # lower-case name -> value
        self.body = body
        self.json = None
        try:
            self.json = json.loads(body.decode("utf-8")) if body else None
        except ValueError:
            pass

    def header(self, name):
        return self.headers.get(name.lower())

    def __repr__(self):
        return "HTTP %d %s" % (self.status, short(self.body.decode("utf-8", "replace"), 300))


def encode_params(params):
    return urllib.parse.urlencode(params, quote_via=urllib.parse.quote, safe="")


class Client:
    def __init__(self, port):
        self.port = port
        self.local = threading.local()

    def _conn(self, fresh=False):
        c = getattr(self.local, "conn", None)
        if c is None or fresh:
            if c is not None:
                c.close()
            c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            self.local.conn = c
        return c

    def request(self, method, path, params=None, headers=None, body=None, auth=False):
        url = path
        if params:
            url += "?" + encode_params(params)
        h = dict(headers or {})
        if auth:
            h["Authorization"] = "Bearer " + TOKEN
        if isinstance(body, str):
            body = body.encode("utf-8")
        for attempt in range(2):
            conn = self._conn(fresh=attempt > 0)
            try:
                conn.request(method, url, body=body, headers=h)
                r = conn.getresponse()
                data = r.read()
                hdrs = {k.lower(): v for k, v in r.getheaders()}
                if hdrs.get("connection", "").lower() == "close":
                    conn.close()
                    self.local.conn = None
                return Resp(r.status, hdrs, data)
            except (http.client.HTTPException, ConnectionError, OSError):
                self.local.conn = None
                conn.close()
                if attempt == 1:
                    raise
        raise AssertionError("unreachable")

    def get(self, path, params=None, **kw):
        return self.request("GET", path, params=params, **kw)

    def post(self, path, body=None, params=None, **kw):
        return self.request("POST", path, params=params, body=body, **kw)


def parse_links(value):
    """Link header -> {rel: url}."""
    out = {}
    for url, rel in re.findall(r'<([^>]*)>\s*;\s*rel="([^"]+)"', value or ""):
        out[rel] = url
    return out


def split_url(url):
    parsed = urllib.parse.urlsplit(url)
    return parsed.path, urllib.parse.parse_qsl(parsed.query, keep_blank_values=True)


# ------------------------------------------------------------------------------------- metrics

def parse_metrics(text):
    """Prometheus text -> (types {family: type}, samples [(name, labels dict, value)])."""
    types, samples = {}, []
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            parts = line.split()
            types[parts[2]] = parts[3]
            continue
        if not line or line.startswith("#"):
            continue
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)', line)
        if not m:
            raise ValueError("bad metrics line: %r" % line)
        labels = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        samples.append((m.group(1), labels, float(m.group(3))))
    return types, samples


def metric_sum(samples, name, **labels):
    return sum(v for n, l, v in samples
               if n == name and all(l.get(k) == want for k, want in labels.items()))


def metric_present(samples, name):
    return any(n == name for n, _, _ in samples)


# -------------------------------------------------------------------------------------- oracle

def load_oracle(source_dir):
    path = os.path.join(source_dir, "tests", "oracle", "orders_oracle.py")
    spec = importlib.util.spec_from_file_location("orders_oracle", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def envelope(key, seq, etype, occurred, event_id, **fields):
    value = {"type": etype, "eventId": event_id, "occurredAt": occurred, "orderId": key}
    value.update(fields)
    return json.dumps({"key": key, "headers": {"x-sequence": str(seq)}, "value": value})


def ts(base, seconds):
    t = base + datetime.timedelta(seconds=seconds)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (t.microsecond // 1000)


def key_of_items(r):
    return (r["order_id"], r["line_no"])


def sort_expected(rows, col, desc, key_cols):
    def k(r):
        v = r[col] if col else None
        head = () if col is None else ((0,) if v is None else (1, v))
        return head + tuple(r[c] for c in key_cols)
    return sorted(rows, key=k, reverse=desc)


# --------------------------------------------------------------------------------------- tests

class Test:
    def __init__(self, args):
        self.binary = os.path.abspath(args.binary)
        self.source_dir = os.path.abspath(args.source_dir)
        self.config = os.path.join(self.source_dir, "examples", "orders", "streamview.yaml")
        self.oracle = load_oracle(self.source_dir)
        self.orders = args.orders
        self.seed = args.seed
        self.tmp = tempfile.mkdtemp(prefix="sv-rest-api-")
        self.store_obj = Store.create(args.store_kind, self.tmp, "rest")
        self.store = self.store_obj.arg
        self.log_path = os.path.join(self.tmp, "log.ndjson")
        self.log = []          # every line appended to the embedded log, in position order
        self.post_lock = threading.Lock()
        self.proc = None
        self.client = None
        self.used_routes = set()  # (method, documented path) this test exercised
        self.rng = random.Random(self.seed)
        self.base_time = datetime.datetime(2026, 2, 1, 9, 0, 0)
        self.clock = 0.0

    # ---- helpers

    def run(self, cmd):
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        if r.returncode != 0:
            raise Fatal("exit %d: %s\n%s\n%s" % (r.returncode, " ".join(cmd), r.stdout[-2000:],
                                                 r.stderr[-2000:]))
        return r

    def next_time(self):
        self.clock += 0.25
        return ts(self.base_time, self.clock)

    def use(self, method, path):
        self.used_routes.add((method, path))

    def expected(self):
        with open(self.log_path, "w") as f:
            for line in self.log:
                f.write(line + "\n")
        model, dead, info = self.oracle.expected_state(self.log_path, VAT)
        return model, dead, info

    def post_events(self, lines, as_array=False, expect_status=200):
        """Appends lines through POST /events (serialised with other posts) and records them."""
        with self.post_lock:
            if as_array:
                body = "[" + ",".join(lines) + "]"
                ctype = "application/json"
            else:
                body = "\n".join(lines) + "\n"
                ctype = "application/x-ndjson"
            r = self.client.post("/events", body, headers={"Content-Type": ctype}, auth=True)
            if r.status != expect_status:
                return r, None
            if r.status == 200:
                before = len(self.log)
                ok = (isinstance(r.json, dict) and r.json.get("appended") == len(lines)
                      and r.json.get("last_position") == before + len(lines))
                if not ok:
                    FAILURES.append("POST /events of %d lines at log end %d answered %s"
                                    % (len(lines), before, r))
                    print("  FAILED: " + FAILURES[-1])
                self.log.extend(lines)
                return r, len(self.log)
            return r, None

    def wait_applied(self, position, timeout=DEADLINE_S):
        """Until the views have applied `position` (min_position reads, retried on 503)."""
        deadline = time.monotonic() + timeout
        while True:
            r = self.client.get("/views/orders_view", [("limit", "1"),
                                                        ("min_position", str(position))])
            if r.status == 200:
                return r
            if r.status != 503 or time.monotonic() > deadline:
                raise Fatal("views did not reach position %d: %s" % (position, r))

    def scrape(self):
        r = self.client.get("/metrics")
        if r.status != 200:
            raise Fatal("GET /metrics: %s" % r)
        return parse_metrics(r.body.decode("utf-8"))

    def poll_metric(self, name, want, timeout=DEADLINE_S, **labels):
        """The metric's sum over matching series, polled until it equals `want` (or timeout)."""
        got = [None]

        def reached():
            got[0] = metric_sum(self.scrape()[1], name, **labels)
            return abs(got[0] - want) < 1e-9

        try:
            wait_until(reached, "%s to reach %s" % (name, want), timeout=timeout)
        except WaitTimeout:
            pass  # the caller checks the value it gets
        return got[0]

    def walk(self, path, params, follow_links=False, limit_key="limit", check_links=True,
             between=None, what=""):
        """All pages of a cursor walk: (items, responses). Checks cursors against Link."""
        items, responses = [], []
        request_path, request_params = path, list(params)
        base_params = [(n, v) for n, v in params if n not in ("cursor", "min_position")]
        for page in range(100000):
            r = self.client.get(request_path, request_params)
            if r.status != 200 or not isinstance(r.json, dict):
                check(False, "walk %s page %d answers 200" % (what or path, page + 1),
                      "GET %s?%s -> %s" % (request_path, encode_params(request_params), r))
                return None, responses
            responses.append(r)
            body = r.json
            items.extend(body.get("items", []))
            nc, pc = body.get("next_cursor"), body.get("prev_cursor")
            links = parse_links(r.header("Link"))
            if check_links:
                problems = []
                if page == 0 and (pc is not None or "prev" in links):
                    problems.append("first page has a prev cursor/link")
                if page > 0 and (pc is None or "prev" not in links):
                    problems.append("page %d has no prev cursor/link" % (page + 1))
                if (nc is None) != ("next" not in links):
                    problems.append("next_cursor %r vs Link %r" % (nc, r.header("Link")))
                for rel, cur in (("next", nc), ("prev", pc)):
                    if rel in links and cur is not None:
                        lp, lq = split_url(links[rel])
                        want = base_params + [("cursor", cur)]
                        if lp != path or sorted(lq) != sorted(want):
                            problems.append("Link rel=%s is %r, expected %s?%s"
                                            % (rel, links[rel], path, encode_params(want)))
                if problems:
                    check(False, "walk %s: cursors and Link headers agree" % (what or path),
                          "; ".join(problems))
                    check_links = False  # report once per walk
            if nc is None:
                break
            if follow_links and "next" in links:
                request_path, request_params = split_url(links["next"])
            else:
                request_path = path
                request_params = [(n, v) for n, v in params if n != "cursor"] + [("cursor", nc)]
            if between is not None:
                between()
        return items, responses

    def compare_rows(self, what, got, expected_rows, columns, reals, key):
        """got (API rows, in order) against expected rows (oracle, in order)."""
        problems = []
        if len(got) != len(expected_rows):
            problems.append("%d rows, expected %d" % (len(got), len(expected_rows)))
        gk = [key(r) for r in got]
        if len(set(gk)) != len(gk):
            problems.append("duplicate keys in the result")
        for i, (g, e) in enumerate(zip(got, expected_rows)):
            if len(problems) > 5:
                break
            if key(g) != key(e):
                problems.append("row %d is %r, expected %r" % (i, key(g), key(e)))
                continue
            if set(g) != set(columns):
                problems.append("row %r has columns %s" % (key(g), sorted(g)))
                continue
            for c in columns:
                if not self.oracle.same(e[c], g[c], c in reals):
                    problems.append("row %r: %s is %r, expected %r" % (key(g), c, g[c], e[c]))
        if len(got) != len(expected_rows):
            missing = set(map(key, expected_rows)) - set(gk)
            extra = set(gk) - set(map(key, expected_rows))
            problems.append("missing %s extra %s" % (short(sorted(missing)[:5]),
                                                     short(sorted(extra)[:5])))
        return check(not problems, what, "; ".join(problems))

    def check_types(self, what, rows, types):
        bad = []
        for r in rows:
            for c, t in types.items():
                v = r.get(c)
                if v is None:
                    continue
                ok = {"text": isinstance(v, str),
                      "integer": isinstance(v, int) and not isinstance(v, bool),
                      "numeric": isinstance(v, (int, float)) and not isinstance(v, bool),
                      "timestamp": isinstance(v, str) and TS_RE.match(v) is not None}[t]
                if not ok:
                    bad.append("%s=%r" % (c, v))
            if len(bad) > 3:
                break
        check(not bad, what, ", ".join(bad))

    def position_of(self, r):
        """The embedded log's position in the response's X-StreamView-Position token."""
        position = decode_position(r.header("X-StreamView-Position"))
        return None if position is None else position.get(0, 0)

    # ---- phases

    def setup(self):
        print("0. generate, ingest, start `streamview run --listen`")
        events = os.path.join(self.tmp, "events.ndjson")
        self.run([self.binary, "gen", "orders", "--orders", str(self.orders), "--seed",
                  str(self.seed), "--dup-rate", "0.05", "--reorder-rate", "0.05",
                  "--malformed-rate", "0", "--out", events, "--quiet"])
        with open(events) as f:
            lines = [l.rstrip("\n") for l in f if l.strip()]
        n_a = int(len(lines) * 0.8)
        n_b = int(len(lines) * 0.9)
        self.chunks = (lines[:n_a], lines[n_a:n_b], lines[n_b:])
        part_a = os.path.join(self.tmp, "a.ndjson")
        with open(part_a, "w") as f:
            f.write("\n".join(self.chunks[0]) + "\n")
        r = self.run([self.binary, "ingest", "--config", self.config, "--store", self.store,
                      part_a])
        out = json.loads(r.stdout.strip().splitlines()[-1])
        require(out == {"appended": n_a, "last_position": n_a}, "CLI ingest of %d lines" % n_a,
                r.stdout)
        self.log.extend(self.chunks[0])

        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        self.port = s.getsockname()[1]
        s.close()
        env = dict(os.environ, STREAMVIEW_TOKEN=TOKEN)
        self.stderr_path = os.path.join(self.tmp, "server.stderr")
        self.stderr_file = open(self.stderr_path, "w")
        self.proc = subprocess.Popen(
            [self.binary, "run", "--config", self.config, "--store", self.store, "--listen",
             "127.0.0.1:%d" % self.port], env=env, stdout=subprocess.DEVNULL,
            stderr=self.stderr_file)
        self.client = Client(self.port)
        live = None
        startup = None

        def started():
            nonlocal live, startup
            try:
                if live is None:
                    live = self.client.get("/health/live")
                startup = self.client.get("/health/startup")
            except OSError:
                return False  # not listening yet
            if startup.status != 200:
                check(startup.status == 503, "/health/startup before start is 503",
                      repr(startup))
            return startup.status == 200

        try:
            wait_until(started, "/health/startup to answer 200", proc=self.proc)
        except WaitTimeout as e:
            raise Fatal(str(e))
        r = startup
        self.use("get", "/health/live")
        self.use("get", "/health/startup")
        check(live.status == 200 and live.json == {"status": "live"}, "/health/live is 200",
              repr(live))
        check(r.json == {"status": "started"}, "/health/startup is 200 once started", repr(r))

    def ingest_over_http(self):
        print("1. catch up, then POST /events (NDJSON and a JSON array); events_total follows")
        self.wait_applied(len(self.log))
        _, _, info = self.expected()
        got = self.poll_metric("streamview_events_total", info["applied"], source="orders")
        check(got == info["applied"],
              "after the CLI ingest, sum(streamview_events_total) == the oracle's applied events "
              "(%d)" % info["applied"], "got %r" % got)
        before = info["applied"]
        r, p = self.post_events(self.chunks[1])
        check(p is not None, "POST /events NDJSON (%d lines) -> 200" % len(self.chunks[1]), repr(r))
        r, p = self.post_events(self.chunks[2], as_array=True)
        check(p is not None, "POST /events JSON array (%d events) -> 200" % len(self.chunks[2]),
              repr(r))
        self.use("post", "/events")
        r = self.wait_applied(len(self.log))
        check(self.position_of(r) is not None and self.position_of(r) >= len(self.log),
              "X-StreamView-Position (%s) >= the last posted position %d"
              % (r.header("X-StreamView-Position"), len(self.log)))
        _, _, info = self.expected()
        got = self.poll_metric("streamview_events_total", info["applied"], source="orders")
        check(got == info["applied"],
              "sum(streamview_events_total) rose by exactly the applied events posted "
              "(%d -> %d)" % (before, info["applied"]), "got %r" % got)
        r = self.client.post("/events", self.chunks[0][0], params=[("source", "nope")], auth=True)
        check(r.status == 404 and isinstance(r.json, dict) and r.json.get("parameter") == "source",
              "POST /events?source=nope -> 404 naming source", repr(r))
        r = self.client.post("/events", '[{"type": "OrderCreated"', auth=True)
        check(r.status == 400 and isinstance(r.json, dict) and r.json.get("parameter") == "body",
              "POST /events with a broken JSON array -> 400 naming body", repr(r))
        # An empty body appends nothing.
        # (last_position: the CLI prints 0 when nothing was appended; the log end is fine too.)
        r = self.client.post("/events", "", auth=True)
        check(r.status == 200 and isinstance(r.json, dict) and r.json.get("appended") == 0
              and r.json.get("last_position") in (0, len(self.log)),
              "POST /events with an empty body appends nothing", repr(r))
        r = self.client.get("/lags", auth=True)
        check(r.status == 200 and r.json["sources"][0]["partitions"][0]["end"] == len(self.log),
              "the log ends at %d after the refused and empty POSTs" % len(self.log),
              repr(r)[:300])

    def probes_and_lags(self, label):
        print("%s. probes and /lags once caught up" % label)
        end = len(self.log)
        self.wait_applied(end)
        r = self.client.get("/health/ready")
        check(r.status == 200 and r.json == {"status": "ready", "problems": []},
              "/health/ready is 200 {status: ready, problems: []}", repr(r))
        self.use("get", "/health/ready")
        r = self.client.get("/lags", auth=True)
        self.use("get", "/lags")
        require(r.status == 200 and isinstance(r.json, dict), "GET /lags -> 200", repr(r))
        j = r.json
        problems = []
        try:
            (src,) = j["sources"]
            if src["source"] != "orders":
                problems.append("source %r" % src["source"])
            (part,) = src["partitions"]
            want = {"partition": 0, "position": end, "end": end, "lag": 0, "state": "caught_up"}
            for k, v in want.items():
                if part.get(k) != v:
                    problems.append("partition %s=%r, expected %r" % (k, part.get(k), v))
            sa = part.get("seconds_since_advance")
            if not isinstance(sa, (int, float)) or sa < 0:
                problems.append("seconds_since_advance=%r" % sa)
            views = {v["view"]: v for v in j["views"]}
            if set(views) != {"orders_view", "order_items_view"}:
                problems.append("views %s" % sorted(views))
            for name, v in views.items():
                if (v.get("source"), v.get("applied_position"), v.get("lag"),
                        v.get("staleness_seconds")) != ("orders", end, 0, 0):
                    problems.append("view %s: %s" % (name, v))
        except (KeyError, TypeError, ValueError) as e:
            problems.append("shape: %r" % e)
        check(not problems, "/lags: position == end == %d, lag 0, caught_up, views lag 0" % end,
              "; ".join(problems) + " in " + short(r.body.decode(), 600))
        let = (j.get("sources") or [{}])[0].get("last_event_time")
        ok = isinstance(let, str) and TS_RE.match(let) is not None
        if ok:
            t = datetime.datetime.strptime(let, "%Y-%m-%dT%H:%M:%S.%fZ")
            ok = abs((datetime.datetime.utcnow() - t).total_seconds()) < 3600
        check(ok, "/lags last_event_time is the (recent) log time of the last applied record",
              "got %r after %d records were applied" % (let, end))
        _, samples = self.scrape()
        for view in ("orders_view", "order_items_view"):
            lag = [v for n, l, v in samples if n == "streamview_view_lag_events"
                   and l.get("view") == view]
            st = [v for n, l, v in samples if n == "streamview_view_staleness_seconds"
                  and l.get("view") == view]
            check(lag == [0.0] and st == [0.0],
                  "metrics: %s lag 0 and staleness 0 when caught up" % view,
                  "lag %r staleness %r" % (lag, st))

    def views_listing(self):
        print("2. GET /views")
        r = self.client.get("/views")
        self.use("get", "/views")
        require(r.status == 200 and isinstance(r.json, dict), "GET /views -> 200", repr(r))
        views = {v.get("name"): v for v in r.json.get("views", [])}
        self.views_doc = views
        check(set(views) == {"orders_view", "order_items_view"}, "both views listed",
              short(sorted(views)))
        o, i = views.get("orders_view", {}), views.get("order_items_view", {})
        check([(c.get("name"), c.get("type")) for c in o.get("columns", [])]
              == list(ORDERS_TYPES.items()),
              "orders_view columns with their declared types, in order", short(o.get("columns")))
        check([(c.get("name"), c.get("type")) for c in i.get("columns", [])]
              == list(ITEMS_TYPES.items()),
              "order_items_view columns with their declared types, in order",
              short(i.get("columns")))
        check(o.get("key") == ["order_id"] and i.get("key") == ["order_id", "line_no"],
              "keys", "%r %r" % (o.get("key"), i.get("key")))
        check(o.get("indexes") == [["status", "updated_at"], ["customer_id"], ["updated_at"]]
              and i.get("indexes") == [["order_id"]], "indexes as configured",
              "%r %r" % (o.get("indexes"), i.get("indexes")))
        check(sorted(o.get("sortable") or []) == ["customer_id", "status", "updated_at"]
              and i.get("sortable") == ["order_id"], "sortable = leading index columns",
              "%r %r" % (o.get("sortable"), i.get("sortable")))
        check(o.get("time_column") == "updated_at" and "time_column" in i
              and i.get("time_column") is None, "time_column", "%r %r"
              % (o.get("time_column"), i.get("time_column")))
        check(all(v.get("source") == "orders" for v in views.values()), "source")
        check(all(isinstance(v.get("version"), int) and v["version"] >= 1
                  for v in views.values()), "active versions", short(
                      {k: v.get("version") for k, v in views.items()}))
        check(all(v.get("applied_position") == len(self.log) for v in views.values()),
              "applied_position == log end %d" % len(self.log),
              short({k: v.get("applied_position") for k, v in views.items()}))

    def reads_against_oracle(self):
        print("3. view reads against the oracle")
        model, _, info = self.expected()
        check(info["gaps"] == 0, "the workload leaves no unfilled gaps", repr(info))
        orders = list(model.orders.values())
        items = list(model.items.values())
        oc, orl = self.oracle.ORDERS_COLUMNS, self.oracle.ORDERS_REALS
        ic, irl = self.oracle.ITEMS_COLUMNS, self.oracle.ITEMS_REALS
        okey = lambda r: r["order_id"]
        by_key = sort_expected(orders, None, False, ["order_id"])
        self.use("get", "/views/orders_view")
        self.use("get", "/views/order_items_view")

        # Key order, limit 97, by next_cursor.
        got, resps = self.walk("/views/orders_view", [("limit", "97")], what="key order")
        if got is not None:
            self.compare_rows("orders_view key order, %d pages of 97: the oracle's %d rows"
                              % (len(resps), len(orders)), got, by_key, oc, orl, okey)
            self.check_types("orders_view values are typed (text/integer/numeric/ISO time)",
                             got, ORDERS_TYPES)
            check(all(len(x.json["items"]) == 97 for x in resps[:-1]) and
                  1 <= len(resps[-1].json["items"]) <= 97, "every page but the last is full")
            pos = [self.position_of(x) for x in resps]
            check(all(p == len(self.log) for p in pos),
                  "every page carries X-StreamView-Position == %d" % len(self.log), short(pos))
            self.api_orders = {r["order_id"]: r for r in got}
        else:
            self.api_orders = {r["order_id"]: r for r in orders}
        # Default limit.
        r = self.client.get("/views/orders_view")
        check(r.status == 200 and len(r.json["items"]) == 50, "default limit is 50", repr(r))
        r = self.client.get("/views/orders_view", [("limit", "1000")])
        check(r.status == 200 and len(r.json["items"]) == min(1000, len(orders)),
              "limit=1000 (the max) is allowed", repr(r)[:200])

        # sort=-updated_at, following the Link headers.
        got, resps = self.walk("/views/orders_view", [("sort", "-updated_at"), ("limit", "200")],
                               follow_links=True, what="sort=-updated_at")
        if got is not None:
            exp = sort_expected(orders, "updated_at", True, ["order_id"])
            self.compare_rows("sort=-updated_at walked by Link rel=next: (updated_at, order_id) "
                              "descending", got, exp, oc, orl, okey)

        # sort=status with an IN filter on two statuses the oracle has.
        counts = {}
        for r in orders:
            counts[r["status"]] = counts.get(r["status"], 0) + 1
        statuses = sorted(counts, key=lambda s: (counts[s], s))
        print("  final statuses: %s" % counts)
        pick = [s for s in statuses if counts[s] >= 2][:2]
        if len(pick) < 2:
            pick = statuses[:2]
        flt = ",".join(pick)
        got, _ = self.walk("/views/orders_view", [("status", flt), ("sort", "status"),
                                                  ("limit", "37")], what="status IN")
        if got is not None:
            exp = sort_expected([r for r in orders if r["status"] in pick], "status", False,
                                ["order_id"])
            self.compare_rows("status=%s&sort=status: (status, order_id) ascending" % flt,
                              got, exp, oc, orl, okey)
        got, _ = self.walk("/views/orders_view", [("status", pick[0]), ("sort", "-status"),
                                                  ("limit", "11")], what="status eq")
        if got is not None:
            exp = sort_expected([r for r in orders if r["status"] == pick[0]], "status", True,
                                ["order_id"])
            self.compare_rows("status=%s&sort=-status" % pick[0], got, exp, oc, orl, okey)
        # sort=-customer_id with a currency filter.
        currency = sorted({r["currency"] for r in orders})[0]
        got, _ = self.walk("/views/orders_view", [("currency", currency),
                                                  ("sort", "-customer_id"), ("limit", "101")],
                           what="sort=-customer_id")
        if got is not None:
            exp = sort_expected([r for r in orders if r["currency"] == currency], "customer_id",
                                True, ["order_id"])
            self.compare_rows("currency=%s&sort=-customer_id" % currency, got, exp, oc, orl, okey)
        # sort=order_id (the key) descending.
        got, _ = self.walk("/views/orders_view", [("sort", "-order_id"), ("limit", "500")],
                           what="sort=-order_id")
        if got is not None:
            self.compare_rows("sort=-order_id (the key, descending)", got, by_key[::-1], oc, orl,
                              okey)

        # total_gross range: bounds are values the API returned (already checked against the
        # oracle), so the boundary rows test >= and < exactly.
        vals = sorted({r["total_gross"] for r in self.api_orders.values()
                       if r["total_gross"] is not None})
        lo, hi = vals[len(vals) // 4], vals[3 * len(vals) // 4]
        got, _ = self.walk("/views/orders_view", [("total_gross.gte", repr(lo)),
                                                  ("total_gross.lt", repr(hi)),
                                                  ("limit", "250")], what="total_gross range")
        if got is not None:
            keys = {k for k, r in self.api_orders.items()
                    if r["total_gross"] is not None and lo <= r["total_gross"] < hi}
            exp = [r for r in by_key if r["order_id"] in keys]
            self.compare_rows("total_gross.gte=%r&total_gross.lt=%r (lower bound included, upper "
                              "excluded)" % (lo, hi), got, exp, oc, orl, okey)
            check(any(r["total_gross"] == lo for r in got)
                  and not any(r["total_gross"] == hi for r in got),
                  "the row at the lower bound is in, the one at the upper bound is out")
        got, _ = self.walk("/views/orders_view", [("item_count.gt", "2"),
                                                  ("item_count.lte", "4"), ("limit", "500")],
                           what="item_count range")
        if got is not None:
            exp = [r for r in by_key if r["item_count"] is not None and 2 < r["item_count"] <= 4]
            self.compare_rows("item_count.gt=2&item_count.lte=4", got, exp, oc, orl, okey)

        # Text search for autocomplete: prefix and contains, case-insensitive (the probe is
        # upper-cased), against the oracle's rows.
        customer = sorted(r["customer_id"] for r in by_key if r["customer_id"])[len(by_key) // 2]
        for op, probe in (("prefix", customer[:len(customer) - 1].upper()),
                          ("contains", customer[1:].upper())):
            got, _ = self.walk("/views/orders_view", [("customer_id." + op, probe),
                                                      ("limit", "100")], what="." + op)
            if got is not None:
                low = probe.lower()
                exp = [r for r in by_key if r["customer_id"] and (
                    r["customer_id"].lower().startswith(low) if op == "prefix"
                    else low in r["customer_id"].lower())]
                self.compare_rows("customer_id.%s=%s (case-insensitive)" % (op, probe), got, exp,
                                  oc, orl, okey)
                check(len(exp) > 0, "customer_id.%s=%s matches rows" % (op, probe))

        # from/to on updated_at.
        times = sorted({r["updated_at"] for r in orders if r["updated_at"]})
        t_from, t_to = times[len(times) // 3], times[2 * len(times) // 3]
        got, _ = self.walk("/views/orders_view", [("from", t_from), ("to", t_to),
                                                  ("sort", "updated_at"), ("limit", "150")],
                           what="from/to")
        exp = sort_expected([r for r in orders if r["updated_at"] and
                             t_from <= r["updated_at"] < t_to], "updated_at", False, ["order_id"])
        if got is not None:
            self.compare_rows("from=%s&to=%s&sort=updated_at (>= from, < to)" % (t_from, t_to),
                              got, exp, oc, orl, okey)
        # The same instants written with a +02:00 offset.
        def with_offset(t):
            d = datetime.datetime.strptime(t, "%Y-%m-%dT%H:%M:%S.%fZ")
            d += datetime.timedelta(hours=2)
            return d.strftime("%Y-%m-%dT%H:%M:%S.%f") + "+02:00"
        got, _ = self.walk("/views/orders_view", [("from", with_offset(t_from)),
                                                  ("to", with_offset(t_to)),
                                                  ("sort", "updated_at"), ("limit", "1000")],
                           what="from/to offset")
        if got is not None:
            self.compare_rows("from/to with a +02:00 offset select the same rows", got, exp, oc,
                              orl, okey)
        # Whole seconds, no fraction.
        whole = t_from[:19] + "Z"
        got, _ = self.walk("/views/orders_view", [("from", whole), ("limit", "1000")],
                           what="from whole seconds")
        if got is not None:
            norm = self.oracle.normalise_time(whole)
            self.compare_rows("from=%s (no fraction)" % whole, got,
                              [r for r in by_key if r["updated_at"] and r["updated_at"] >= norm],
                              oc, orl, okey)

        # prev_cursor from page 3 gives page 2 exactly (key order and sort=-updated_at).
        for params, exp_all in (([("limit", "97")], by_key),
                                ([("sort", "-updated_at"), ("limit", "61")],
                                 sort_expected(orders, "updated_at", True, ["order_id"]))):
            n = int(dict(params)["limit"])
            pages = []
            cursor = None
            for _ in range(3):
                p = params + ([("cursor", cursor)] if cursor else [])
                r = self.client.get("/views/orders_view", p)
                pages.append(r)
                cursor = r.json.get("next_cursor") if r.status == 200 else None
                if not cursor:
                    break
            if len(pages) < 3 or any(x.status != 200 for x in pages):
                check(False, "three pages for the prev test", short(pages))
                continue
            r2 = self.client.get("/views/orders_view", params + [("cursor",
                                                                   pages[2].json["prev_cursor"])])
            k2 = [x["order_id"] for x in pages[1].json["items"]]
            check(r2.status == 200 and [x["order_id"] for x in r2.json["items"]] == k2
                  and k2 == [x["order_id"] for x in exp_all[n:2 * n]],
                  "%s: prev_cursor of page 3 gives page 2 exactly" % encode_params(params),
                  repr(r2)[:300])
            if r2.status == 200:
                check(r2.json.get("next_cursor") is not None
                      and "next" in parse_links(r2.header("Link")),
                      "page 2 reached backward has a next cursor and link", repr(r2.headers))
                r1 = self.client.get("/views/orders_view",
                                     params + [("cursor", r2.json.get("prev_cursor") or "")])
                check(r1.status == 200 and [x["order_id"] for x in r1.json["items"]]
                      == [x["order_id"] for x in exp_all[:n]]
                      and r1.json.get("prev_cursor") is None
                      and "prev" not in parse_links(r1.header("Link")),
                      "%s: its prev_cursor gives page 1, which has no prev"
                      % encode_params(params), repr(r1)[:300])
                if r1.status == 200 and r1.json.get("next_cursor"):
                    r2b = self.client.get("/views/orders_view",
                                          params + [("cursor", r1.json["next_cursor"])])
                    check(r2b.status == 200 and [x["order_id"] for x in r2b.json["items"]] == k2,
                          "and page 1's next_cursor leads to page 2 again", repr(r2b)[:300])

        # order_items_view (composite key) walked fully; and the key descending.
        ikey = key_of_items
        iexp = sorted(items, key=ikey)
        got, resps = self.walk("/views/order_items_view", [("limit", "997")], what="items")
        if got is not None:
            self.compare_rows("order_items_view walked fully in (order_id, line_no) order: the "
                              "oracle's %d rows" % len(items), got, iexp, ic, irl, ikey)
            self.check_types("order_items_view values are typed", got, ITEMS_TYPES)
        got, _ = self.walk("/views/order_items_view", [("sort", "-order_id"), ("limit", "1000")],
                           what="items desc")
        if got is not None:
            self.compare_rows("order_items_view sort=-order_id: key descending", got, iexp[::-1],
                              ic, irl, ikey)
        some = iexp[len(iexp) // 2]["order_id"]
        got, _ = self.walk("/views/order_items_view", [("order_id", some)], what="items of one")
        if got is not None:
            self.compare_rows("order_items_view?order_id=%s" % some, got,
                              [r for r in iexp if r["order_id"] == some], ic, irl, ikey)
        got, _ = self.walk("/views/order_items_view", [("line_no", "1,3"), ("qty.gte", "2"),
                                                        ("limit", "1000")], what="items IN")
        if got is not None:
            self.compare_rows("order_items_view?line_no=1,3&qty.gte=2", got,
                              [r for r in iexp if r["line_no"] in (1, 3) and r["qty"] is not None
                               and r["qty"] >= 2], ic, irl, ikey)

        # Rows by key, ETag, If-None-Match.
        print("  rows by key")
        self.use("get", "/views/orders_view/{order_id}")
        self.use("get", "/views/order_items_view/{order_id}/{line_no}")
        sample = by_key[len(by_key) // 3]
        r = self.client.get("/views/orders_view/" + urllib.parse.quote(sample["order_id"]))
        ok = r.status == 200 and isinstance(r.json, dict)
        check(ok and all(self.oracle.same(sample[c], r.json.get(c), c in orl) for c in oc)
              and set(r.json) == set(oc), "GET /views/orders_view/%s equals the oracle's row"
              % sample["order_id"], repr(r))
        etag = r.header("ETag")
        check(etag is not None and len(etag) > 2 and etag.startswith('"'), "the row has an ETag",
              repr(etag))
        check(self.position_of(r) == len(self.log), "the row carries X-StreamView-Position",
              repr(r.headers))
        r2 = self.client.get("/views/orders_view/" + sample["order_id"],
                             headers={"If-None-Match": etag or '"x"'})
        check(r2.status == 304 and r2.body == b"", "If-None-Match with that ETag -> 304, no body",
              repr(r2))
        r3 = self.client.get("/views/orders_view/" + sample["order_id"],
                             headers={"If-None-Match": '"0000000000000000"'})
        check(r3.status == 200 and r3.header("ETag") == etag, "another ETag -> 200 with the row",
              repr(r3))
        other = by_key[len(by_key) // 3 + 1]
        r4 = self.client.get("/views/orders_view/" + other["order_id"])
        check(r4.status == 200 and r4.header("ETag") != etag, "another row has another ETag",
              "%r %r" % (etag, r4.header("ETag")))
        r = self.client.get("/views/orders_view/no-such-order")
        check(r.status == 404 and isinstance(r.json, dict) and "error" in r.json,
              "absent key -> 404 JSON", repr(r))
        r = self.client.get("/views/orders_view/%s/1" % sample["order_id"])
        check(r.status == 400 and isinstance(r.json, dict) and "error" in r.json,
              "two key segments for a one-column key -> 400", repr(r))
        it = iexp[len(iexp) // 2]
        r = self.client.get("/views/order_items_view/%s/%d" % (it["order_id"], it["line_no"]))
        check(r.status == 200 and isinstance(r.json, dict)
              and all(self.oracle.same(it[c], r.json.get(c), c in irl) for c in ic),
              "GET /views/order_items_view/%s/%d equals the oracle" % (it["order_id"],
                                                                       it["line_no"]), repr(r))
        r = self.client.get("/views/order_items_view/%s/999" % it["order_id"])
        check(r.status == 404 and isinstance(r.json, dict), "absent composite key -> 404",
              repr(r))
        r = self.client.get("/views/order_items_view/%s" % it["order_id"])
        check(r.status == 400 and isinstance(r.json, dict) and "error" in r.json,
              "one key segment for a two-column key -> 400", repr(r))
        r = self.client.get("/views/order_items_view/%s/one" % it["order_id"])
        check(r.status == 400 and isinstance(r.json, dict) and r.json.get("parameter") == "line_no",
              "a non-integer line_no -> 400 naming line_no", repr(r))
        r = self.client.get("/views/order_items_view/%s/1/2" % it["order_id"])
        check(r.status == 400, "three key segments for a two-column key -> 400", repr(r))
        r = self.client.get("/views/no_such_view")
        check(r.status == 404 and isinstance(r.json, dict) and r.json.get("error") != "no such route",
              "an unknown view -> 404 JSON", repr(r))
        r = self.client.get("/views/no_such_view/x")
        check(r.status == 404, "a row of an unknown view -> 404", repr(r))

        # Compatibility route /orders.
        print("  /orders compatibility route")
        self.use("get", "/orders")
        self.use("get", "/orders/{order_id}")
        got, n = [], 0
        page_ok = True
        for page in range(1, 10000):
            r = self.client.get("/orders", [("page", str(page)), ("pageSize", "250")])
            if r.status != 200:
                check(False, "GET /orders?page=%d&pageSize=250 -> 200" % page, repr(r))
                page_ok = False
                break
            n += 1
            body = r.json
            got.extend(body.get("items", []))
            links = parse_links(r.header("Link"))
            last = len(got) >= len(by_key)
            problems = []
            if body.get("page") != page or body.get("pageSize") != 250:
                problems.append("page/pageSize %r/%r" % (body.get("page"), body.get("pageSize")))
            if last == ("next" in links):
                problems.append("rel=next %s on %s page" % ("present" if not last else "missing",
                                                            "the last" if last else "a middle"))
            if "next" in links:
                lp, lq = split_url(links["next"])
                if lp != "/orders" or sorted(lq) != sorted([("pageSize", "250"),
                                                           ("page", str(page + 1))]):
                    problems.append("rel=next %r" % links["next"])
            if (page > 1) != ("prev" in links):
                problems.append("rel=prev %r on page %d" % (links.get("prev"), page))
            if "prev" in links:
                lp, lq = split_url(links["prev"])
                if lp != "/orders" or sorted(lq) != sorted([("pageSize", "250"),
                                                           ("page", str(page - 1))]):
                    problems.append("rel=prev %r" % links["prev"])
            if problems:
                check(False, "/orders page %d: body page/pageSize and Link rel=next/prev with "
                      "page=" % page, "; ".join(problems))
                page_ok = False
            if not body.get("items") or "next" not in links:
                break
        if page_ok:
            check(True, "/orders pages carry page, pageSize and Link rel=next/prev with page=")
        self.compare_rows("/orders walked by page= (%d pages of 250): the oracle in key order"
                          % n, got, by_key, oc, orl, okey)
        r = self.client.get("/orders", [("page", str(n + 5)), ("pageSize", "250")])
        check(r.status == 200 and r.json.get("items") == [] and
              "next" not in parse_links(r.header("Link")),
              "a page past the end is empty, without rel=next", repr(r)[:300])
        pick1 = pick[0]
        got, n = [], 0
        for page in range(1, 10000):
            r = self.client.get("/orders", [("status", pick1), ("from", t_from), ("to", t_to),
                                             ("sort", "-updated_at"), ("pageSize", "7"),
                                             ("page", str(page))])
            if r.status != 200:
                check(False, "/orders with status/from/to/sort/page", repr(r))
                break
            got.extend(r.json["items"])
            if "next" not in parse_links(r.header("Link")):
                break
        exp = sort_expected([r for r in orders if r["status"] == pick1 and r["updated_at"]
                             and t_from <= r["updated_at"] < t_to], "updated_at", True,
                            ["order_id"])
        self.compare_rows("/orders?status=%s&from&to&sort=-updated_at by page" % pick1, got, exp,
                          oc, orl, okey)
        got, _ = self.walk("/orders", [("status", pick1), ("pageSize", "13")], what="/orders cursor")
        if got is not None:
            self.compare_rows("/orders without page= walks by cursor", got,
                              [r for r in by_key if r["status"] == pick1], oc, orl, okey)
        r = self.client.get("/orders/" + sample["order_id"])
        check(r.status == 200 and isinstance(r.json, dict)
              and all(self.oracle.same(sample[c], r.json.get(c), c in orl) for c in oc)
              and r.header("ETag") == etag and self.position_of(r) is not None,
              "GET /orders/{id} is the same row, ETag and position header", repr(r))
        r = self.client.get("/orders/no-such-order")
        check(r.status == 404 and isinstance(r.json, dict), "/orders/{absent} -> 404", repr(r))
        self.by_key = by_key
        self.statuses = pick

    def bad_requests(self):
        print("4. malformed requests -> 400 naming the parameter; injection matches nothing")
        good = self.client.get("/views/orders_view", [("sort", "-updated_at"), ("limit", "5")])
        other_sort_cursor = good.json["next_cursor"]
        key_cursor = self.client.get("/views/orders_view",
                                     [("limit", "5")]).json["next_cursor"]
        items_cursor = self.client.get("/views/order_items_view",
                                       [("limit", "5")]).json["next_cursor"]
        damaged = key_cursor[:-3] + ("A" if key_cursor[-3] != "A" else "B") + key_cursor[-2:]
        V, O, I = "/views/orders_view", "/orders", "/views/order_items_view"
        cases = [
            (V, [("bogus", "1")], "bogus", "unknown parameter"),
            (V, [("page", "2")], "page", "page= on the native route"),
            (V, [("nosuchcol.gt", "1")], "nosuchcol.gt", "filter on a non-column"),
            (V, [("status.like", "x")], "status.like", "unknown operator"),
            (V, [("sort", "total_net")], "sort", "sort on a non-sortable column"),
            (V, [("sort", "-nosuch")], "sort", "sort on a non-column"),
            (V, [("sort", "")], "sort", "empty sort"),
            (V, [("item_count", "abc")], "item_count", "malformed integer"),
            (V, [("item_count", "1.5")], "item_count", "a fraction for an integer"),
            (V, [("item_count", "99999999999999999999")], "item_count", "integer out of range"),
            (V, [("item_count", "")], "item_count", "empty integer"),
            (V, [("last_event_sequence.gt", "2x")], "last_event_sequence.gt", "malformed integer"),
            (V, [("total_gross.gt", "12abc")], "total_gross.gt", "malformed number"),
            (V, [("total_gross.gt", "nan")], "total_gross.gt", "nan"),
            (V, [("total_gross.lte", "1e999")], "total_gross.lte", "an infinite number"),
            (V, [("updated_at.gte", "yesterday")], "updated_at.gte", "malformed timestamp"),
            (V, [("from", "2024-13-01T00:00:00Z")], "from", "month 13"),
            (V, [("to", "2024-02-30T00:00:00Z")], "to", "February 30th"),
            (V, [("from", "2024-01-01T00:00:00 01:00")], "from", "an offset whose + was decoded"),
            (V, [("limit", "0")], "limit", "limit 0"),
            (V, [("limit", "1001")], "limit", "limit above max_limit"),
            (V, [("limit", "-1")], "limit", "negative limit"),
            (V, [("limit", "ten")], "limit", "non-integer limit"),
            (V, [("cursor", "garbage!")], "cursor", "garbage cursor"),
            (V, [("cursor", "AAAAAAAAAAAA")], "cursor", "well-formed base64, not a cursor"),
            (V, [("cursor", damaged)], "cursor", "a damaged cursor"),
            (V, [("sort", "status"), ("cursor", other_sort_cursor)], "cursor",
             "a cursor made for another sort"),
            (V, [("cursor", other_sort_cursor)], "cursor",
             "a sort=-updated_at cursor without the sort"),
            (V, [("sort", "-order_id"), ("cursor", key_cursor)], "cursor",
             "a key-ascending cursor with the key descending"),
            (V, [("cursor", items_cursor)], "cursor", "a cursor of another view"),
            (V, [("status", "Paid"), ("status", "Shipped")], "status", "a repeated parameter"),
            (V, [("status", "Paid,,Shipped")], "status", "an empty IN element"),
            (V, [("min_position", "soon")], "min_position", "a malformed min_position"),
            (I, [("from", "2024-01-01T00:00:00Z")], "from", "from= on a view without time column"),
            (O, [("page", "2"), ("cursor", key_cursor)], "page", "page with cursor"),
            (O, [("page", "0")], "page", "page 0"),
            (O, [("page", "x")], "page", "non-integer page"),
            (O, [("pageSize", "1001")], "pageSize", "pageSize above max"),
            (O, [("pageSize", "0")], "pageSize", "pageSize 0"),
            (O, [("pageSize", "10"), ("limit", "10")], ("limit", "pageSize"),
             "pageSize and limit together"),
            (O, [("bogus", "1")], "bogus", "unknown parameter on /orders"),
        ]
        for path, params, param, what in cases:
            r = self.client.get(path, params)
            names = param if isinstance(param, tuple) else (param,)
            ok = (r.status == 400 and isinstance(r.json, dict) and isinstance(r.json.get("error"), str)
                  and r.json.get("parameter") in names)
            check(ok, "400 {error, parameter: %s}: %s (%s?%s)"
                  % ("|".join(names), what, path, short(encode_params(params), 80)), repr(r))
        r = self.client.get(V, headers={"X-StreamView-Min-Position": "-3"})
        check(r.status == 400 and r.json.get("parameter") == "X-StreamView-Min-Position",
              "400 for a negative X-StreamView-Min-Position header", repr(r))
        r = self.client.get(V, [("item_count", "<script>alert(1)</script>")])
        check(r.status == 400 and b"<script>" not in r.body, "a 400 does not echo the value",
              repr(r))

        total = len(self.by_key)
        for params in ([("status", "' OR 1=1 --")], [("status", "Paid' OR '1'='1")],
                       [("order_id", "x'); DROP TABLE orders_view; --")],
                       [("customer_id", "\" OR \"\"=\"")], [("status", "%' OR 1=1 --,x")],
                       [("status.gt", "' OR 1=1 --"), ("status.lt", "")]):
            r = self.client.get(V, params)
            check(r.status == 200 and r.json.get("items") == [] and r.json.get("next_cursor") is None,
                  "injection attempt %s -> 200, no rows" % short(encode_params(params), 70),
                  repr(r))
        r = self.client.get(V, [("sort", "status; DROP TABLE orders_view")])
        check(r.status == 400 and r.json.get("parameter") == "sort",
              "an injection through sort= is a 400", repr(r))
        r = self.client.get("/views/orders_view/" + urllib.parse.quote("' OR '1'='1", safe=""))
        check(r.status == 404, "an injection through the key path -> 404", repr(r))
        r = self.client.get(O, [("status", "' OR 1=1 --"), ("page", "1")])
        check(r.status == 200 and r.json.get("items") == [],
              "injection attempt on /orders -> 200, no rows", repr(r))
        got, _ = self.walk(V, [("limit", "1000")], check_links=False, what="after injections")
        check(got is not None and len(got) == total, "orders_view still has its %d rows" % total,
              "%s rows" % (None if got is None else len(got)))
        r = self.client.get("/nope")
        check(r.status == 404 and isinstance(r.json, dict) and r.json.get("error") == "no such route",
              "an unknown route -> 404 {error: no such route}", repr(r))

    def read_your_writes(self):
        print("5. read-your-writes with min_position; 503 + Retry-After past the log end")
        local = self.oracle.Model(VAT)
        for i in range(12):
            oid = "o-ryw-%03d" % i
            items = [{"itemId": "r%d-%d" % (i, n), "sku": "SKU-R%d" % n, "qty": n + 1,
                      "price": round(3.1 * (n + 1) + i, 2)} for n in range(1 + i % 3)]
            t1 = self.next_time()
            line = envelope(oid, 1, "OrderCreated", t1, "ryw-%d-1" % i, customerId="c-ryw",
                            currency="EUR", items=items)
            r, p = self.post_events([line], as_array=(i % 2 == 1))
            if p is None:
                check(False, "POST /events for %s" % oid, repr(r))
                continue
            ev = json.loads(line)["value"]
            local.apply("OrderCreated", 1, ev["eventId"], ev)
            exp = local.orders[oid]
            path = "/orders/%s" % oid if i % 2 == 0 else "/views/orders_view/%s" % oid
            if i % 3 == 0:
                g = self.client.get(path, headers={"X-StreamView-Min-Position": str(p)})
            else:
                g = self.client.get(path, [("min_position", str(p))])
            ok = (g.status == 200 and isinstance(g.json, dict) and
                  all(self.oracle.same(exp[c], g.json.get(c), c in self.oracle.ORDERS_REALS)
                      for c in self.oracle.ORDERS_COLUMNS))
            check(ok and (self.position_of(g) or 0) >= p,
                  "POST %s (position %d), then GET %s with min_position: 200 with the new row, "
                  "position header >= %d" % (oid, p, path, p),
                  "%r, position header %r" % (g, g.header("X-StreamView-Position")))
            etag = g.header("ETag")
            line2 = envelope(oid, 2, "OrderStatusChanged", self.next_time(), "ryw-%d-2" % i,
                             status="Shipped")
            r, p2 = self.post_events([line2])
            if p2 is None:
                check(False, "POST status change for %s" % oid, repr(r))
                continue
            ev = json.loads(line2)["value"]
            local.apply("OrderStatusChanged", 2, ev["eventId"], ev)
            g = self.client.get("/views/orders_view", [("order_id", oid),
                                                        ("min_position", str(p2))])
            ok = (g.status == 200 and len(g.json.get("items", [])) == 1 and
                  g.json["items"][0].get("status") == "Shipped"
                  and g.json["items"][0].get("updated_at") == local.orders[oid]["updated_at"])
            check(ok and (self.position_of(g) or 0) >= p2,
                  "status change read back through the list route with min_position=%d" % p2,
                  repr(g))
            g = self.client.get("/views/orders_view/" + oid, headers={"If-None-Match": etag or ""})
            check(g.status == 200 and g.header("ETag") not in (None, etag),
                  "after the change the old ETag no longer matches (200, new ETag)", repr(g))
            it = self.client.get("/views/order_items_view/%s/1" % oid,
                                 [("min_position", str(p2))])
            exp_item = local.items[(oid, 1)]
            check(it.status == 200 and all(
                self.oracle.same(exp_item[c], it.json.get(c), c in self.oracle.ITEMS_REALS)
                for c in self.oracle.ITEMS_COLUMNS), "its first item line reads back", repr(it))
        far = len(self.log) + 1000000
        for how in ("param", "header", "row"):
            started = time.monotonic()
            if how == "param":
                r = self.client.get("/views/orders_view", [("min_position", str(far))])
            elif how == "header":
                r = self.client.get("/orders", headers={"X-StreamView-Min-Position": str(far)})
            else:
                r = self.client.get("/views/orders_view/o-ryw-000", [("min_position", str(far))])
            took = time.monotonic() - started
            check(r.status == 503 and r.header("Retry-After") is not None and
                  isinstance(r.json, dict) and "error" in r.json,
                  "min_position %d (%s) far past the log end -> 503 + Retry-After" % (far, how),
                  repr(r) + " " + short(r.headers))
            # Never sooner than read_wait_ms; the upper bound only catches a wait that does not
            # end (a loaded machine may answer late).
            check(READ_WAIT_S * 0.8 <= took <= READ_WAIT_S + 60,
                  "... after waiting read_wait_ms (%.2f s)" % took)
        r = self.client.get("/views/orders_view", [("min_position", str(len(self.log)))])
        check(r.status == 200, "min_position == the log end -> 200", repr(r))
        token = r.header("X-StreamView-Position")
        for form, value in (("the response's token", token), ("the plain form 0:<position>",
                                                              "0:%d" % len(self.log))):
            g = self.client.get("/views/orders_view/o-ryw-000", [("min_position", value)])
            check(g.status == 200 and g.header("X-StreamView-Position") == token,
                  "min_position as %s (%s) -> 200, same position" % (form, value), repr(g))
        for bad in ("sv1.!!", "sv1.OTo1", "1:5", "0:-1", "0:1,0:2"):
            g = self.client.get("/views/orders_view", [("min_position", bad)])
            check(g.status == 400 and isinstance(g.json, dict) and
                  g.json.get("parameter") == "min_position" and "position" in g.json.get("error", ""),
                  "min_position=%s (no such token or partition) -> 400 naming it" % bad, repr(g))

    def metrics_flow(self):
        print("6. /metrics: families, histograms and values that follow the events")
        self.wait_applied(len(self.log))
        types, samples = self.scrape()
        self.use("get", "/metrics")
        for fam, typ in (("streamview_events_total", "counter"),
                         ("streamview_duplicates_total", "counter"),
                         ("streamview_out_of_order_total", "counter"),
                         ("streamview_upserts_duration_seconds", "histogram"),
                         ("http_requests_duration_seconds", "histogram"),
                         ("streamview_view_lag_events", "gauge"),
                         ("streamview_view_staleness_seconds", "gauge")):
            check(types.get(fam) == typ and (metric_present(samples, fam) or
                                             metric_present(samples, fam + "_count")),
                  "family %s (%s) present" % (fam, typ), "TYPE %r" % types.get(fam))
        _, _, info = self.expected()
        got = metric_sum(samples, "streamview_events_total", source="orders")
        check(got == info["applied"], "sum(streamview_events_total) == oracle applied %d"
              % info["applied"], "got %r" % got)
        by_type = {l.get("type"): v for n, l, v in samples if n == "streamview_events_total"}
        check(set(by_type) == {"OrderCreated", "OrderItemAdded", "OrderStatusChanged"}
              and all(v > 0 for v in by_type.values()),
              "streamview_events_total has a series per applied event type", short(by_type))
        dups = metric_sum(samples, "streamview_duplicates_total", source="orders")
        ooo = metric_sum(samples, "streamview_out_of_order_total", source="orders")
        check(dups > 0, "duplicates were counted (dup-rate 0.05): %r" % dups)

        for fam in ("streamview_upserts_duration_seconds", "http_requests_duration_seconds"):
            series = {}
            for n, l, v in samples:
                if n.startswith(fam + "_"):
                    lk = tuple(sorted((k, x) for k, x in l.items() if k != "le"))
                    series.setdefault(lk, {"b": []})
                    if n == fam + "_bucket":
                        le = float("inf") if l.get("le") == "+Inf" else float(l["le"])
                        series[lk]["b"].append((le, v))
                    elif n == fam + "_sum":
                        series[lk]["sum"] = v
                    elif n == fam + "_count":
                        series[lk]["count"] = v
            problems = []
            for lk, s in series.items():
                b = sorted(s["b"])
                if not b or b[-1][0] != float("inf") or "count" not in s or "sum" not in s:
                    problems.append("%s: incomplete" % (lk,))
                    continue
                if any(b[i][1] > b[i + 1][1] for i in range(len(b) - 1)):
                    problems.append("%s: buckets not cumulative" % (lk,))
                if b[-1][1] != s["count"] or s["sum"] < 0:
                    problems.append("%s: +Inf %r count %r sum %r" % (lk, b[-1][1], s["count"],
                                                                   s["sum"]))
            total = sum(s.get("count", 0) for s in series.values())
            check(series and not problems and total > 0,
                  "%s: _bucket (cumulative, +Inf == _count), _sum, _count; %d observations"
                  % (fam, total), "; ".join(problems[:3]))
        upserts_before = metric_sum(samples, "streamview_upserts_duration_seconds_count")

        # Exactly one duplicate and one out-of-order event; then one applied event.
        dup_line = self.log[-1]  # o-ryw-011 seq 2, already applied
        ooo_line = envelope("o-ryw-011", 1, "OrderCreated", self.next_time(), "ryw-11-1b",
                            customerId="c-x", currency="USD", items=[])
        new_line = envelope("o-metrics-1", 1, "OrderCreated", self.next_time(), "met-1",
                            customerId="c-m", currency="EUR",
                            items=[{"sku": "SKU-M", "qty": 2, "price": 4.5}])
        r, p = self.post_events([dup_line, ooo_line, new_line])
        if p is not None:
            self.wait_applied(p)
            got_d = self.poll_metric("streamview_duplicates_total", dups + 1, source="orders")
            got_o = self.poll_metric("streamview_out_of_order_total", ooo + 1, source="orders")
            got_e = self.poll_metric("streamview_events_total", info["applied"] + 1,
                                     source="orders")
            check(got_d == dups + 1, "a re-sent event: streamview_duplicates_total +1",
                  "%r -> %r" % (dups, got_d))
            check(got_o == ooo + 1, "an older sequence: streamview_out_of_order_total +1",
                  "%r -> %r" % (ooo, got_o))
            check(got_e == info["applied"] + 1, "one new order: streamview_events_total +1",
                  "%r -> %r" % (info["applied"], got_e))
            _, samples = self.scrape()
            check(metric_sum(samples, "streamview_upserts_duration_seconds_count")
                  > upserts_before, "streamview_upserts_duration_seconds_count grew with commits")
        else:
            check(False, "POST of dup/ooo/new events", repr(r))

        # http_requests_duration_seconds counts requests by route and status.
        lbl = dict(method="GET", route="/views/{view}/{key}", status="404")
        _, samples = self.scrape()
        base = metric_sum(samples, "http_requests_duration_seconds_count", **lbl)
        for _ in range(7):
            self.client.get("/views/order_items_view/none/1")
        got = self.poll_metric("http_requests_duration_seconds_count", base + 7, **lbl)
        check(got == base + 7, "7 requests answered 404 on /views/{view}/{key}: "
              "http_requests_duration_seconds_count +7", "%r -> %r" % (base, got))
        _, samples = self.scrape()
        routes = {l.get("route") for n, l, v in samples
                  if n == "http_requests_duration_seconds_count"}
        check(not any("o-0" in (x or "") or "?" in (x or "") for x in routes),
              "route labels are patterns, not paths", short(sorted(routes)))

    def dead_letters(self):
        print("7. /dlq: poison events (dead letters, a parked key)")
        lines = [
            "{not json at all",
            envelope("o-poison", 1, "OrderCreated", self.next_time(), "p-1", customerId="c-p",
                     currency="EUR", items=[{"sku": "SKU-P", "qty": 1, "price": 10.0}]),
            envelope("o-poison", 2, "OrderItemAdded", self.next_time(), "p-2", sku="S",
                     qty="3", price=2.0),
            envelope("o-poison", 3, "OrderStatusChanged", self.next_time(), "p-3", status="Paid"),
        ]
        start = len(self.log)
        r, p = self.post_events(lines)
        if p is None:
            check(False, "POST poison events", repr(r))
            return
        self.wait_applied(p)
        model, dead, info = self.expected()
        r = self.client.get("/dlq", auth=True)
        self.use("get", "/dlq")
        require(r.status == 200 and isinstance(r.json, dict), "GET /dlq -> 200", repr(r))
        dls = r.json.get("dead_letters")
        parked = r.json.get("parked_keys")
        check(isinstance(dls, list) and isinstance(parked, list),
              "/dlq has dead_letters and parked_keys lists", short(r.json))
        dls = dls or []
        check(sorted(d.get("position") for d in dls) == [n for n, _ in dead],
              "dead letters at the oracle's positions %s" % [n for n, _ in dead],
              short([(d.get("position"), d.get("reason")) for d in dls]))
        by_pos = {d.get("position"): d for d in dls}
        bj, tp = by_pos.get(start + 1, {}), by_pos.get(start + 3, {})
        check(bj.get("parks_key") is False and bj.get("raw") == lines[0]
              and bj.get("state") == "open" and bj.get("source") == "orders",
              "the broken line is an open dead letter with its raw text", short(bj))
        check(tp.get("parks_key") is True and tp.get("key") == "o-poison"
              and tp.get("state") == "open" and isinstance(tp.get("id"), int)
              and TS_RE.match(str(tp.get("created"))) is not None,
              "the type error parks key o-poison", short(tp))
        check([x for x in (parked or []) if x.get("key") == "o-poison"]
              == [{"source": "orders", "key": "o-poison", "held": 1, "stashed": 0}]
              and len(parked or []) == info["parked"],
              "parked_keys: o-poison with its one held event", short(parked))
        r = self.client.get("/dlq", [("state", "open")], auth=True)
        check(r.status == 200 and len(r.json.get("dead_letters", [])) == len(dead),
              "/dlq?state=open", repr(r)[:200])
        r = self.client.get("/dlq", [("state", "bogus")], auth=True)
        check(r.status == 400, "/dlq?state=bogus -> 400", repr(r))
        r = self.client.get("/orders/o-poison")
        exp = model.orders.get("o-poison")
        check(r.status == 200 and exp is not None and all(
            self.oracle.same(exp[c], r.json.get(c), c in self.oracle.ORDERS_REALS)
            for c in self.oracle.ORDERS_COLUMNS), "o-poison stopped before its poison event",
            repr(r))
        _, samples = self.scrape()
        errs = {l.get("view"): v for n, l, v in samples if n == "streamview_view_errors_total"}
        check(errs == {"orders_view": float(len(dead)), "order_items_view": float(len(dead))},
              "streamview_view_errors_total == %d dead letters for each view" % len(dead),
              short(errs))
        for path in ("/dlq/999999/replay", "/dlq/999999/discard"):
            r = self.client.post(path, "", auth=True)
            check(r.status == 404 and isinstance(r.json, dict) and "error" in r.json,
                  "POST %s (no such dead letter) -> 404 JSON" % path, repr(r))
        self.use("post", "/dlq/{id}/replay")
        self.use("post", "/dlq/{id}/discard")
        if self.store_obj.kind == "postgres":
            # PostgreSQL text cannot hold a NUL byte or invalid UTF-8: the body is wrong, so
            # 400 with a JSON error, never 503 ("retry"), and nothing is appended.
            for what, raw in (("a NUL byte", b'{"type":"OrderCreated","orderId":"o-nul\x00"}\n'),
                              ("invalid UTF-8", b'{"type":"OrderCreated","orderId":"o-\xff"}\n')):
                r = self.client.post("/events", raw, auth=True)
                check(r.status == 400 and isinstance(r.json, dict) and "error" in r.json,
                      "POST /events with %s on PostgreSQL -> 400 JSON" % what, repr(r))

    def auth(self):
        print("8. ops routes and POST /events need the bearer token")
        routes = [("GET", "/lags"), ("GET", "/dlq"), ("GET", "/views/rebuild"),
                  ("POST", "/views/orders_view/rebuild"), ("POST", "/views/rebuild"),
                  ("POST", "/events"), ("POST", "/dlq/1/replay"), ("POST", "/dlq/1/discard")]
        end = len(self.log)
        for method, path in (("get", "/lags"), ("get", "/dlq"), ("get", "/views/rebuild"),
                             ("post", "/views/{view}/rebuild"), ("post", "/views/rebuild"),
                             ("post", "/events"), ("post", "/dlq/{id}/replay"),
                             ("post", "/dlq/{id}/discard")):
            self.use(method, path)
        for method, path in routes:
            body = envelope("o-unauth", 1, "OrderCreated", self.next_time(), "u-1",
                            items=[]) if path == "/events" else ""
            for hdr, want, what in ((None, 401, "no Authorization"),
                                    ("Basic " + TOKEN, 401, "not a Bearer"),
                                    ("Bearer wrong", 403, "a wrong token"),
                                    ("Bearer " + TOKEN + "x", 403, "a longer token"),
                                    ("Bearer " + TOKEN[:-1], 403, "a shorter token")):
                headers = {"Authorization": hdr} if hdr else {}
                r = self.client.request(method, path, headers=headers,
                                        body=body if method == "POST" else None)
                ok = r.status == want and isinstance(r.json, dict) and "error" in r.json
                if want == 401:
                    ok = ok and r.header("WWW-Authenticate") is not None
                check(ok, "%s %s with %s -> %d JSON" % (method, path, what, want), repr(r))
        r = self.client.get("/views/rebuild", auth=True)
        check(r.status == 200 and r.json.get("state") == "idle",
              "no rebuild was started by the refused requests", repr(r))
        r = self.client.get("/lags", auth=True)
        check(r.status == 200 and r.json["sources"][0]["partitions"][0]["end"] == end,
              "refused POST /events appended nothing", repr(r)[:300])

    def openapi(self):
        print("9. /openapi.json: every documented path is served; every used route documented")
        r = self.client.get("/openapi.json")
        self.use("get", "/openapi.json")
        require(r.status == 200 and isinstance(r.json, dict), "GET /openapi.json -> 200", repr(r))
        doc = r.json
        check(doc.get("openapi") == "3.0.3", "openapi 3.0.3", repr(doc.get("openapi")))
        paths = doc.get("paths", {})
        check(isinstance(paths, dict) and len(paths) > 10, "paths", short(list(paths)))
        model, _, _ = self.expected()
        first_item = min(model.items)  # (order_id, line_no) of a row that exists
        subst = {"view": "orders_view", "order_id": first_item[0], "line_no": str(first_item[1]),
                 "id": "999999"}
        for path, ops in sorted(paths.items()):
            concrete = re.sub(r"\{([^}]+)\}", lambda m: urllib.parse.quote(
                subst.get(m.group(1), "x"), safe=""), path)
            for method, op in ops.items():
                secured = bool(op.get("security"))
                if method == "get" and path.endswith("/subscribe"):
                    # A stream: its head is the answer; the body never ends by itself.
                    stream = SseStream(self.client.port, concrete)
                    stream.close()
                    check(stream.status == 200 and stream.resp.getheader("Content-Type") ==
                          "text/event-stream", "documented GET %s (%s) streams events" %
                          (path, concrete), repr(stream.status))
                elif method == "get":
                    r = self.client.get(concrete)
                    if secured:
                        ok = r.status == 401
                        r2 = self.client.get(concrete, auth=True)
                        ok = ok and r2.status == 200
                    else:
                        ok = r.status == 200
                    check(ok, "documented GET %s (%s) is served%s" % (
                        path, concrete, ", needs the token" if secured else ""), repr(r))
                elif method == "post":
                    # Without the token: proves the route exists and is guarded as documented,
                    # and mutates nothing.
                    r = self.client.post(concrete, "")
                    not_route = r.status in (404, 405) and isinstance(r.json, dict) and \
                        r.json.get("error") in ("no such route", "method not allowed")
                    check(not not_route and (r.status == 401 if secured else True),
                          "documented POST %s (%s) is routed%s" % (
                              path, concrete, " and needs the token" if secured else ""),
                          repr(r))
                else:
                    check(False, "documented method %s %s is one the server has" % (method, path))
        self.documented = {(m, p) for p, ops in paths.items() for m in ops}
        lop = paths.get("/views/orders_view", {}).get("get", {})
        names = {p.get("name") for p in lop.get("parameters", [])}
        want = {"status", "status.gte", "total_gross.lt", "from", "to", "sort", "limit", "cursor",
                "min_position"}
        check(want <= names, "/views/orders_view documents its filters, sort, limit, cursor",
              short(sorted(want - names)))
        cop = paths.get("/orders", {}).get("get", {})
        names = {p.get("name") for p in cop.get("parameters", [])}
        check({"page", "pageSize", "status", "from", "to", "sort"} <= names,
              "/orders documents page and pageSize", short(sorted(names)))
        iop = paths.get("/views/order_items_view/{order_id}/{line_no}", {}).get("get", {})
        check([p.get("name") for p in iop.get("parameters", []) if p.get("in") == "path"]
              == ["order_id", "line_no"], "the composite key's path parameters", short(iop))
        check("from" not in {p.get("name") for p in
                             paths.get("/views/order_items_view", {}).get("get", {})
                             .get("parameters", [])},
              "no from/to documented for a view without a time column")

    def special_keys(self):
        print("10. keys that need URL escaping")
        local = self.oracle.Model(VAT)
        keys = ["o sp\u00fc", "o-pct%41", "o/slash", "o?q=1#f", "o+plus"]
        lines = []
        for n, k in enumerate(keys):
            lines.append(envelope(k, 1, "OrderCreated", self.next_time(), "sk-%d" % n,
                                  customerId="c-s", currency="EUR", items=[]))
            v = json.loads(lines[-1])["value"]
            local.apply("OrderCreated", 1, v["eventId"], v)
        r, p = self.post_events(lines)
        if p is None:
            check(False, "POST special keys", repr(r))
            return
        self.wait_applied(p)
        for k in keys:
            for prefix in ("/views/orders_view/", "/orders/"):
                path = prefix + urllib.parse.quote(k, safe="")
                r = self.client.get(path)
                check(r.status == 200 and isinstance(r.json, dict)
                      and r.json.get("order_id") == k,
                      "GET %s (key %r) -> 200 with that row" % (path, k), repr(r))
            r = self.client.get("/views/orders_view", [("order_id", k)])
            check(r.status == 200 and [x.get("order_id") for x in r.json.get("items", [])] == [k],
                  "?order_id=%s filters to that row" % urllib.parse.quote(k, safe=""), repr(r))

    def concurrent_walks(self):
        print("11. pagination while events are being posted")
        model, _, info = self.expected()
        pre = {k: r for k, r in model.orders.items()}
        pre_keys = set(pre)
        seqs = {k: r["last_event_sequence"] for k, r in pre.items()
                if k.startswith("o-0") and r["last_event_sequence"] is not None}
        candidates = sorted(seqs)
        stop = threading.Event()
        touched = set()
        posted = [0]
        pages = [0]  # pages the readers fetched, to keep the writer in step
        errors = []
        rng = random.Random(self.seed + 1)

        def writer():
            n = 0
            while not stop.is_set():
                lines = []
                oid = "o-conc-%05d" % n
                n += 1
                lines.append(envelope(oid, 1, "OrderCreated", self.next_time(), "c-%d" % n,
                                      customerId="c-c", currency="EUR",
                                      items=[{"sku": "S", "qty": 1, "price": 1.0}]))
                for _ in range(3):
                    k = rng.choice(candidates)
                    seqs[k] += 1
                    touched.add(k)
                    lines.append(envelope(k, seqs[k], "OrderStatusChanged", self.next_time(),
                                          "c-%s-%d" % (k, seqs[k]),
                                          status=rng.choice(["Paid", "Shipped", "Returned"])))
                touched.add(oid)
                r, p = self.post_events(lines)
                if p is None:
                    errors.append(repr(r))
                    return
                posted[0] += 1
                # In step with the readers (observed, not timed): the next batch once a reader
                # has fetched another page, so every walk sees writes whatever the machine's speed.
                last_pages = pages[0]
                wait_until(lambda: pages[0] > last_pages or stop.is_set(),
                           "a reader to fetch another page")

        results = {}

        def reader(name, params):
            def next_page():
                # A page fetched; the next one after the writer has posted again.
                seen = posted[0]
                pages[0] += 1
                wait_until(lambda: posted[0] > seen or errors, "the writer's next POST")

            got, resps = self.walk("/views/orders_view", params, check_links=False,
                                   between=next_page, what="concurrent " + name)
            results[name] = (got, resps)

        t = threading.Thread(target=writer)
        t.start()
        wait_until(lambda: posted[0] >= 1 or errors, "the writer's first POST")
        readers = [threading.Thread(target=reader, args=("key", [("limit", "50")])),
                   threading.Thread(target=reader, args=("-updated_at",
                                                         [("sort", "-updated_at"),
                                                          ("limit", "50")]))]
        for x in readers:
            x.start()
        for x in readers:
            x.join()
        stop.set()
        t.join()
        check(not errors, "the writer's POSTs succeeded", short(errors))
        check(posted[0] >= 5, "the writer posted %d batches during the walks" % posted[0])
        got, resps = results.get("key", (None, []))
        if got is not None:
            keys = [r["order_id"] for r in got]
            dup = len(keys) - len(set(keys))
            missing = pre_keys - set(keys)
            pos = [self.position_of(x) or 0 for x in resps]
            check(pos[-1] > pos[0], "the data moved during the key walk (position %d -> %d)"
                  % (pos[0], pos[-1]))
            check(dup == 0 and not missing and keys == sorted(keys),
                  "key-order walk under writes: every pre-existing key exactly once, no "
                  "duplicates (%d rows, %d pages)" % (len(keys), len(resps)),
                  "%d duplicates, missing %s" % (dup, short(sorted(missing)[:10])))
        got, resps = results.get("-updated_at", (None, []))
        if got is not None:
            keys = [r["order_id"] for r in got]
            dup = len(keys) - len(set(keys))
            stable = pre_keys - touched
            missing = stable - set(keys)
            order = [(r["updated_at"], r["order_id"]) for r in got]
            check(dup == 0 and not missing and order == sorted(order, reverse=True),
                  "sort=-updated_at walk under writes: every untouched pre-existing row exactly "
                  "once (%d of %d), no duplicates, in order" % (len(stable), len(pre_keys)),
                  "%d duplicates, missing %s" % (dup, short(sorted(missing)[:10])))
        self.wait_applied(len(self.log))
        self.full_oracle_check("after the concurrent writes")

    def full_oracle_check(self, when):
        model, _, _ = self.expected()
        got, _ = self.walk("/views/orders_view", [("limit", "1000")], check_links=False)
        if got is not None:
            self.compare_rows("orders_view == oracle %s (%d rows)" % (when, len(model.orders)),
                              got, sort_expected(list(model.orders.values()), None, False,
                                                 ["order_id"]),
                              self.oracle.ORDERS_COLUMNS, self.oracle.ORDERS_REALS,
                              lambda r: r["order_id"])
        got, _ = self.walk("/views/order_items_view", [("limit", "1000")], check_links=False)
        if got is not None:
            self.compare_rows("order_items_view == oracle %s (%d rows)" % (when, len(model.items)),
                              got, sorted(model.items.values(), key=key_of_items),
                              self.oracle.ITEMS_COLUMNS, self.oracle.ITEMS_REALS, key_of_items)
        return model

    def rebuild(self):
        print("12. POST /views/orders_view/rebuild while reading")
        self.wait_applied(len(self.log))
        model, _, _ = self.expected()
        want_keys = sorted(model.orders)
        v0 = self.client.get("/views").json["views"]
        versions = {v["name"]: v["version"] for v in v0}
        r = self.client.post("/views/no_such_view/rebuild", "", auth=True)
        check(r.status == 404 and isinstance(r.json, dict), "rebuild of an unknown view -> 404",
              repr(r))
        r = self.client.post("/views/rebuild", "", params=[("view", "nope")], auth=True)
        check(r.status == 404, "POST /views/rebuild?view=nope -> 404", repr(r))
        stop = threading.Event()
        walks = []

        def reader():
            while not stop.is_set():
                items, resps = [], []
                cursor = None
                while True:
                    p = [("limit", "1000")] + ([("cursor", cursor)] if cursor else [])
                    x = self.client.get("/views/orders_view", p)
                    resps.append(x)
                    if x.status != 200:
                        break
                    items.extend(y["order_id"] for y in x.json["items"])
                    cursor = x.json.get("next_cursor")
                    if not cursor:
                        break
                walks.append((items, [x.status for x in resps],
                              [len(x.json["items"]) if x.json and "items" in x.json else -1
                               for x in resps]))

        t = threading.Thread(target=reader)
        t.start()
        wait_until(lambda: walks, "a first full read before the rebuild")
        r = self.client.post("/views/orders_view/rebuild", "", auth=True)
        self.use("post", "/views/{view}/rebuild")
        check(r.status == 202 and isinstance(r.json, dict) and r.json.get("state") == "running"
              and r.json.get("views") == ["orders_view"],
              "POST /views/orders_view/rebuild -> 202 {state: running, views: [orders_view]}",
              repr(r))
        states = []
        final = None

        def rebuild_ended():
            nonlocal final
            g = self.client.get("/views/rebuild", auth=True)
            if g.status != 200:
                check(False, "GET /views/rebuild -> 200", repr(g))
                return True
            states.append(g.json.get("state"))
            if g.json.get("state") != "running":
                final = g.json
            return final is not None

        try:
            wait_until(rebuild_ended, "the rebuild to end", timeout=120, interval=0.02)
        except WaitTimeout:
            pass  # checked below: final stays None
        self.use("get", "/views/rebuild")
        swapped = len(walks)
        wait_until(lambda: len(walks) >= swapped + 2, "a full read begun after the rebuild")
        stop.set()
        t.join()
        seq = [s for i, s in enumerate(states) if i == 0 or states[i - 1] != s]
        print("  GET /views/rebuild states seen after the 202: %s" % " -> ".join(seq))
        check(final is not None and final.get("state") == "done" and final.get("error") is None
              and seq in (["done"], ["running", "done"]),
              "GET /views/rebuild goes running -> done", "states %s, final %s" % (seq,
                                                                                  short(final)))
        if final:
            check(final.get("views") == ["orders_view"] and isinstance(final.get("seconds"),
                                                                      (int, float))
                  and final["seconds"] > 0 and TS_RE.match(str(final.get("started")))
                  and TS_RE.match(str(final.get("finished")))
                  and final["finished"] >= final["started"],
                  "the finished rebuild reports views, started, finished, seconds", short(final))
        bad = [w for w in walks if w[0] != want_keys or any(s != 200 for s in w[1])]
        check(walks and not bad, "%d full reads during the rebuild all returned every row (never "
              "empty or partial)" % len(walks),
              short([(len(w[0]), w[1], w[2]) for w in bad[:3]]))
        v1 = {v["name"]: v["version"] for v in self.client.get("/views").json["views"]}
        check(v1.get("orders_view") == versions.get("orders_view", 0) + 1 and
              v1.get("order_items_view") == versions.get("order_items_view"),
              "orders_view's version moved forward by one, order_items_view's did not",
              "%s -> %s" % (versions, v1))
        self.full_oracle_check("after the rebuild")
        if final:
            _, samples = self.scrape()
            got = [(n, l.get("view"), v) for n, l, v in samples
                   if n in ("streamview_rebuild_duration_seconds_sum",
                            "streamview_rebuild_duration_seconds_count")]
            check(len(got) == 2
                  and all(view == "orders_view" for _, view, _ in got)
                  and any(n.endswith("_count") and v == 1 for n, _, v in got)
                  and any(n.endswith("_sum") and abs(v - final["seconds"]) < 1e-3
                          for n, _, v in got),
                  "the histogram streamview_rebuild_duration_seconds{view=orders_view} holds one "
                  "observation: the rebuild's seconds", short(got))
        # The engine keeps applying after the rebuild.
        _, samples = self.scrape()
        before = metric_sum(samples, "streamview_events_total", source="orders")
        line = envelope("o-after-rebuild", 1, "OrderCreated", self.next_time(), "ar-1",
                        customerId="c-a", currency="EUR", items=[])
        r, p = self.post_events([line])
        if p is not None:
            g = self.client.get("/orders/o-after-rebuild", [("min_position", str(p))])
            check(g.status == 200, "events posted after the rebuild are applied and readable",
                  repr(g))
            got = self.poll_metric("streamview_events_total", before + 1, source="orders")
            check(got == before + 1, "streamview_events_total +1 after the rebuild",
                  "%r -> %r" % (before, got))

    def shutdown(self):
        print("13. SIGTERM with an idle keep-alive connection and a request in flight")
        # Clients (scrapers, connection pools) keep idle connections open; they must not hold
        # up the exit. An in-flight read-your-writes wait must get a complete response.
        idle = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        idle.request("GET", "/health/live")
        idle.getresponse().read()
        inflight = {}
        sent = threading.Event()

        def waiter():
            c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            try:
                c.request("GET", "/views/orders_view?min_position=%d" % (len(self.log) + 10**6))
                inflight["port"] = c.sock.getsockname()[1]
                sent.set()
                r = c.getresponse()
                inflight["status"] = r.status
                inflight["body"] = r.read()
            except (OSError, http.client.HTTPException) as e:
                inflight["error"] = repr(e)
            finally:
                c.close()

        t = threading.Thread(target=waiter)
        t.start()
        # In flight = the server has read the request (its socket holds no unread bytes).
        sent.wait(DEADLINE_S)
        wait_until(lambda: "error" in inflight or "status" in inflight
                   or tcp_unread_bytes(self.port, inflight.get("port")) == 0,
                   "the server to read the request in flight")
        self.proc.send_signal(signal.SIGTERM)
        started = time.monotonic()
        try:
            rc = self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            rc = None
        took = time.monotonic() - started
        t.join()
        idle.close()
        check(rc == 0 and took < SHUTDOWN_LIMIT_S,
              "SIGTERM: exit 0 within %.0f s (exit %r after %.2f s)" % (SHUTDOWN_LIMIT_S, rc, took))
        check(inflight.get("status") in (200, 503),
              "the request in flight at SIGTERM got a complete response", short(inflight))
        if rc is None:
            self.proc.kill()
            self.proc.wait()
        self.stderr_file.flush()
        with open(self.stderr_path, errors="replace") as f:
            check("stopped cleanly" in f.read(), "the server logged 'stopped cleanly'")

    def main(self):
        started = time.monotonic()
        try:
            self.setup()
            self.ingest_over_http()
            self.probes_and_lags("1b")
            self.views_listing()
            self.reads_against_oracle()
            self.bad_requests()
            self.read_your_writes()
            self.metrics_flow()
            self.dead_letters()
            self.auth()
            self.special_keys()
            self.openapi()
            self.concurrent_walks()
            self.rebuild()
            self.probes_and_lags("12b")
            self.full_oracle_check("at the end")
            missing = sorted(self.used_routes - getattr(self, "documented", set()))
            check(not missing, "every route this test used is in /openapi.json (%d routes)"
                  % len(self.used_routes), short(missing))
            self.shutdown()
        except Fatal as e:
            FAILURES.append("fatal: %s" % e)
            print("FATAL: %s" % e)
        except Exception as e:  # a crash of the test or the server
            import traceback
            traceback.print_exc()
            FAILURES.append("exception: %r" % e)
        finally:
            if self.proc is not None and self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            if self.proc is not None:
                self.stderr_file.close()
                if self.proc.returncode not in (0, None) or FAILURES:
                    with open(self.stderr_path, errors="replace") as f:
                        tail = f.read()[-3000:]
                    print("server stderr (tail):\n" + tail)
        print("%.1f s" % (time.monotonic() - started))
        if FAILURES:
            print("FAILED: %d checks (files in %s)" % (len(FAILURES), self.tmp))
            for f in FAILURES:
                print("  - " + short(f, 600))
            return 1
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.store_obj.drop()
        print("PASSED")
        return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--binary", required=True)
    ap.add_argument("--source-dir", required=True)
    ap.add_argument("--orders", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--store-kind", default="sqlite", choices=["sqlite", "postgres"])
    return Test(ap.parse_args()).main()


if __name__ == "__main__":
    sys.exit(main())
