#!/usr/bin/env python3
"""The HTTP server of `streamview run` against hostile and careless clients, over raw sockets.

Each case is a finding of the adversarial probe (issue 15, item 4). Memory is judged by the
server's VmRSS (/proc/<pid>/status), never by timings; "answers promptly" means within a
generous deadline (PROMPT_S), and every wait is on a condition.

 1. A chunked POST /events without a token is refused with 401 on its head, before its body;
    with a token, a chunked body is cut off with 413 at server.max_body_bytes. RSS stays flat.
 2. A Content-Length of 1 GB is refused with 413 while only a few KB were sent.
 3. 100,000 nested '[' (a JSON array body, and inside an NDJSON line): 400 with a JSON error or
    appended as a line to dead-letter later; the process lives.
 4. curl's default form Content-Type with an NDJSON body above 8 KiB is appended as NDJSON.
 5. Every error answer carries a JSON body {"error": ...} (an endless header line: 431, RSS
    flat); unknown parameters on ops routes and POST /views/rebuild?view=,,, are 400 (and
    start no rebuild).
 6. GET /dlq with an event holding invalid UTF-8 is valid JSON (U+FFFD, bytes in raw_base64).
 7. Pipelining: two GETs in one write get two answers in order; so does a POST /events.
 8. 50 clients sending headers at 1 byte/s, then 2,000 idle connections (server.max_connections
    is 64 here): /health/live, /health/ready and a view read still answer promptly.

    python3 tests/system/http_hardening.py --binary build/src/cli/streamview --source-dir .
"""

import argparse
import base64
import json
import os
import re
import resource
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

from harness import wait_until

TOKEN = "hardening-token-%d" % os.getpid()
MAX_BODY = 1 << 20       # server.max_body_bytes of the test config
MAX_CONNECTIONS = 64     # server.max_connections
HEADER_TIMEOUT_MS = 4000
IDLE_CONNECTIONS = 2000  # the probe's figure; the soft file limit is raised to allow it
PROMPT_S = 10.0          # "promptly": generous, for a loaded 2-core machine
RSS_GROWTH_LIMIT_MB = 48  # a buffered body of the sizes sent below would add >= 200 MB
FAILURES = []


def check(cond, what, detail=""):
    print(("  ok: " if cond else "  FAILED: ") + what + ("" if cond else " -- " + str(detail)[:600]))
    if not cond:
        FAILURES.append(what)
    return cond


# ------------------------------------------------------------------------------ raw HTTP

def parse_response(data):
    """One response from the start of `data` -> (status, headers, body, rest) or None."""
    end = data.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = data[:end].decode("latin-1").split("\r\n")
    status = int(head[0].split()[1])
    headers = {}
    for line in head[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    if len(data) < end + 4 + length:
        return None
    body = data[end + 4:end + 4 + length]
    return status, headers, body, data[end + 4 + length:]


def read_responses(sock, count, deadline_s=PROMPT_S * 6):
    """Reads `count` responses from `sock` (fewer if it closes)."""
    sock.settimeout(deadline_s)
    data, out = b"", []
    while len(out) < count:
        parsed = parse_response(data)
        if parsed:
            out.append(parsed[:3])
            data = parsed[3]
            continue
        try:
            chunk = sock.recv(65536)
        except (socket.timeout, ConnectionError):
            break
        if not chunk:
            break
        data += chunk
    return out


def connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=PROMPT_S * 6)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def request(port, method, path, body=b"", headers=None, auth=True):
    h = {"Host": "127.0.0.1", "Connection": "close", "Content-Length": str(len(body))}
    if auth:
        h["Authorization"] = "Bearer " + TOKEN
    h.update(headers or {})
    head = "%s %s HTTP/1.1\r\n%s\r\n" % (method, path,
                                         "".join("%s: %s\r\n" % kv for kv in h.items()))
    with connect(port) as s:
        s.sendall(head.encode() + body)
        got = read_responses(s, 1)
    if not got:
        return 0, {}, b""
    return got[0]


def json_of(body):
    try:
        return json.loads(body.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return None


def is_json_error(status, body):
    doc = json_of(body)
    return isinstance(doc, dict) and isinstance(doc.get("error"), str)


def answered_before_body(port, head, chunk, total, what):
    """Sends `head`, then up to `total` bytes of `chunk`s while watching for an answer.
    Returns (response or None, bytes of body sent before the answer)."""
    s = connect(port)
    s.sendall(head)
    sent, data = 0, b""
    try:
        while sent < total:
            readable, _, _ = select.select([s], [], [], 0)
            if readable:
                break
            try:
                s.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(chunk)
        s.settimeout(PROMPT_S * 6)
        while True:
            parsed = parse_response(data)
            if parsed:
                return parsed[:3], sent
            try:
                more = s.recv(65536)
            except (socket.timeout, ConnectionError):
                more = b""
            if not more:
                return None, sent
            data += more
    finally:
        s.close()


# ------------------------------------------------------------------------------- server

class Server:
    def __init__(self, args, tmp):
        self.binary, self.tmp = args.binary, tmp
        example = os.path.join(args.source_dir, "examples", "orders", "streamview.yaml")
        text = open(example).read()
        limits = ("  max_body_bytes: %d\n  max_connections: %d\n  header_timeout_ms: %d\n"
                  % (MAX_BODY, MAX_CONNECTIONS, HEADER_TIMEOUT_MS))
        text = re.sub(r"(?m)^server:.*\n", lambda m: m.group(0) + limits, text, count=1)
        self.config = os.path.join(tmp, "streamview.yaml")
        with open(self.config, "w") as f:
            f.write(text)
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        self.port = s.getsockname()[1]
        s.close()
        self.stderr = open(os.path.join(tmp, "server.stderr"), "w")
        self.proc = subprocess.Popen(
            [self.binary, "run", "--config", self.config, "--store", os.path.join(tmp, "h.db"),
             "--listen", "127.0.0.1:%d" % self.port],
            env=dict(os.environ, STREAMVIEW_TOKEN=TOKEN), stdout=subprocess.DEVNULL,
            stderr=self.stderr)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit("streamview run exited with %d" % self.proc.returncode)
            try:
                if request(self.port, "GET", "/health/startup")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise SystemExit("the server never started")

    def rss_mb(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
        return 0.0

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        if self.alive():
            self.proc.terminate()
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.stderr.close()


def lives(srv):
    try:
        return srv.alive() and request(srv.port, "GET", "/health/live")[0] == 200
    except OSError:
        return False


def event(order, seq, etype="OrderCreated", **fields):
    value = {"type": etype, "orderId": order, "sequence": seq, "eventId": "%s-%d" % (order, seq),
             "occurredAt": "2026-01-01T00:00:%02dZ" % (seq % 60)}
    value.update(fields)
    return json.dumps(value)


def created(order):
    return event(order, 1, customerId="c-1", currency="EUR")


# -------------------------------------------------------------------------------- cases

def case_chunked(srv):
    print("1. chunked POST /events: 401 on the head without a token, 413 at the limit with one")
    rss0 = srv.rss_mb()
    head = ("POST /events HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
            "Content-Type: application/x-ndjson\r\n\r\n").encode()
    piece = (created("o-chunk") + "\n").encode() * 1000
    chunk = b"%x\r\n%s\r\n" % (len(piece), piece)
    resp, sent = answered_before_body(srv.port, head, chunk, 256 << 20, "no token")
    check(resp is not None and resp[0] == 401 and is_json_error(resp[0], resp[2]),
          "no token: 401 with a JSON error", resp)
    check(sent < 64 << 20, "no token: answered before the body was sent (%d MB sent of 256)"
          % (sent >> 20), sent)
    authed = head.replace(b"Host: x\r\n", ("Host: x\r\nAuthorization: Bearer %s\r\n"
                                            % TOKEN).encode())
    resp, sent = answered_before_body(srv.port, authed, chunk, 256 << 20, "token")
    check(resp is not None and resp[0] == 413 and is_json_error(resp[0], resp[2]),
          "with a token: 413 with a JSON error at max_body_bytes", resp)
    check(sent < 64 << 20, "with a token: cut off early (%d MB sent of 256)" % (sent >> 20), sent)
    rss1 = srv.rss_mb()
    print("  VmRSS %.1f MB -> %.1f MB" % (rss0, rss1))
    check(rss1 - rss0 < RSS_GROWTH_LIMIT_MB, "RSS stays flat (grew %.1f MB)" % (rss1 - rss0))
    check(lives(srv), "the server lives")


def case_content_length(srv):
    print("2. Content-Length: 1 GB is refused from the head")
    for auth in (False, True):
        head = "POST /events HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000\r\n%s\r\n" % (
            "Authorization: Bearer %s\r\n" % TOKEN if auth else "")
        resp, sent = answered_before_body(srv.port, head.encode(), b"x" * 1024, 256 << 20, "")
        want = 413 if auth else (401, 413)
        ok = resp is not None and (resp[0] == want if auth else resp[0] in want)
        check(ok and is_json_error(resp[0], resp[2]),
              "%s: refused (%s) with a JSON error" % ("token" if auth else "no token",
                                                       resp and resp[0]), resp)
        check(sent < 64 << 20, "answered after %d KB of the body" % (sent >> 10), sent)


def case_nesting(srv):
    print("3. 100,000 nested '[' do not take the process down")
    # Balanced, so a recursive parser gets through the parse and recurses again to re-serialize
    # and to free the document.
    status, _, body = request(srv.port, "POST", "/events", b"[" * 100000 + b"]" * 100000)
    check(status == 400 and is_json_error(status, body), "JSON array body: 400 JSON error",
          (status, body[:200]))
    line = (b'{"type":"OrderCreated","orderId":"o-deep","x":' + b"[" * 100000 + b"]" * 100000 +
            b"}\n")
    status, _, body = request(srv.port, "POST", "/events", line)
    check(status in (200, 400) and json_of(body) is not None,
          "NDJSON line: appended (dead-lettered later) or 400", (status, body[:200]))
    check(lives(srv), "the server lives")


def case_form_type(srv):
    print("4. curl --data-binary's form Content-Type: the body is still NDJSON")
    lines = [created("o-form-%d" % i) for i in range(200)]
    body = ("\n".join(lines) + "\n").encode()
    check(len(body) > 8192, "body above 8 KiB (%d bytes)" % len(body))
    status, _, resp = request(srv.port, "POST", "/events", body,
                              {"Content-Type": "application/x-www-form-urlencoded"})
    doc = json_of(resp)
    check(status == 200 and doc and doc.get("appended") == 200, "200 appended 200", (status, resp))
    small = (created("o-form-small") + "\n").encode()
    status, _, resp = request(srv.port, "POST", "/events", small,
                              {"Content-Type": "application/x-www-form-urlencoded"})
    doc = json_of(resp)
    check(status == 200 and doc and doc.get("appended") == 1, "small form body: appended 1",
          (status, resp))


def case_error_bodies(srv):
    print("5. every error has a JSON body")
    cases = [("GET", "/no/such/route", True, 404), ("DELETE", "/events", True, 405),
             ("POST", "/events", False, 401), ("GET", "/lags?verbose=1", True, 400),
             ("POST", "/views/rebuild?organization_id=7", True, 400),
             ("POST", "/views/rebuild?view=,,,", True, 400),
             ("GET", "/dlq?limit=5", True, 400), ("POST", "/dlq/1/replay?x=1", True, 400),
             ("POST", "/events?tenant=a", True, 400),
             ("GET", "/views/orders_view?no_such_param=1", True, 400)]
    for method, path, auth, want in cases:
        status, _, body = request(srv.port, method, path, auth=auth)
        check(status == want and is_json_error(status, body), "%s %s -> %d JSON" %
              (method, path, want), (status, body[:200]))
    status, _, body = request(srv.port, "GET", "/lags", headers={"Authorization": "Bearer x"},
                              auth=False)
    check(status == 403 and is_json_error(status, body), "wrong token -> 403 JSON", status)
    # The rebuild that ?view=,,, used to start would show as running or done here.
    status, _, body = request(srv.port, "GET", "/views/rebuild")
    doc = json_of(body)
    check(status == 200 and doc and doc.get("state") == "idle",
          "no rebuild was started by the refused requests", (status, body[:200]))
    rss0 = srv.rss_mb()
    for _ in range(20):  # 20 heads of 4 MB: a server that kept them would grow by 80 MB
        resp, sent = answered_before_body(
            srv.port, b"GET /health/live HTTP/1.1\r\nHost: x\r\nX-Big: ", b"a" * 65536,
            4 << 20, "")
        if not (resp and resp[0] == 431 and is_json_error(resp[0], resp[2])):
            break
    check(resp and resp[0] == 431 and is_json_error(resp[0], resp[2]),
          "an endless header line -> 431 JSON", resp)
    check(srv.rss_mb() - rss0 < RSS_GROWTH_LIMIT_MB,
          "RSS stays flat under endless header lines (grew %.1f MB)" % (srv.rss_mb() - rss0))
    raw = b"GET /health/live HTTP/1.1\r\nHost x\r\n\r\n"  # a header line without a colon
    with connect(srv.port) as s:
        s.sendall(raw)
        got = read_responses(s, 1)
    check(got and got[0][0] == 400 and is_json_error(got[0][0], got[0][2]),
          "malformed head -> 400 JSON", got)


def case_dlq_utf8(srv):
    print("6. GET /dlq with an event holding invalid UTF-8")
    bad = b'{"type":"NoSuchType\xff\xfe","orderId":"o-utf8","sequence":1,"eventId":"u-1"}\n'
    status, _, body = request(srv.port, "POST", "/events", bad)
    check(status == 200, "the event is appended", (status, body))
    deadline = time.monotonic() + 120
    doc = None
    while time.monotonic() < deadline:
        status, _, body = request(srv.port, "GET", "/dlq")
        if status == 200 and b"o-utf8" in body:
            doc = json_of(body)
            break
        time.sleep(0.2)
    check(doc is not None, "GET /dlq is valid UTF-8 JSON holding the event", body[:300])
    if doc:
        letter = [d for d in doc["dead_letters"] if "o-utf8" in d["raw"]]
        check(letter and "\ufffd" in letter[0]["raw"], "invalid bytes show as U+FFFD", letter)
        check(letter and base64.b64decode(letter[0].get("raw_base64", "")) == bad.rstrip(b"\n"),
              "raw_base64 holds the exact bytes", letter)


def case_pipelining(srv):
    print("7. pipelined requests are answered in order")
    two = (b"GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n"
           b"GET /views/orders_view/o-form-1 HTTP/1.1\r\nHost: x\r\n\r\n")
    with connect(srv.port) as s:
        s.sendall(two)
        got = read_responses(s, 2)
    check(len(got) == 2, "two GETs in one write: two answers", got)
    if len(got) == 2:
        check(json_of(got[0][2]) == {"status": "live"}, "first answer is the first request", got)
        check(got[1][0] in (200, 404) and json_of(got[1][2]) is not None,
              "second answer is the row request", got[1])
    body = (created("o-pipe") + "\n").encode()
    post = ("POST /events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
            "Content-Length: %d\r\n\r\n" % (TOKEN, len(body))).encode() + body
    with connect(srv.port) as s:
        s.sendall(b"GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n" + post +
                  b"GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n")
        got = read_responses(s, 3)
    check(len(got) == 3 and json_of(got[1][2]) is not None and
          json_of(got[1][2]).get("appended") == 1, "a pipelined POST /events gets its answer", got)


def probes_answer(srv, what):
    """Each probe and a view read, on a fresh connection, within PROMPT_S."""
    for path in ("/health/live", "/health/ready", "/views/orders_view?limit=1"):
        started = time.monotonic()
        try:
            status, _, body = request(srv.port, "GET", path)
        except OSError as e:
            status, body = 0, str(e).encode()
        took = time.monotonic() - started
        check(status in (200, 503) and json_of(body) is not None and took < PROMPT_S,
              "%s: GET %s answered (%d) in %.2f s" % (what, path, status, took), body[:200])


def case_slow_and_idle(srv):
    print("8. slow and idle clients do not starve the others")
    stop = threading.Event()
    slow = []
    for _ in range(50):
        s = connect(srv.port)
        slow.append(s)

    bytes_dripped = [0]

    def drip():
        text = b"GET /health/live HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100
        for i in range(len(text)):
            if stop.is_set():
                return
            for s in slow:
                try:
                    s.send(text[i:i + 1])
                except OSError:
                    pass
            bytes_dripped[0] = i + 1
            time.sleep(1)

    dripper = threading.Thread(target=drip)
    dripper.start()
    try:
        # The slow heads are under way: two bytes of each sent (observed, not timed).
        wait_until(lambda: bytes_dripped[0] >= 2, "the slow clients' first bytes")
        probes_answer(srv, "50 slow clients")
        idle = []
        for _ in range(IDLE_CONNECTIONS):
            try:
                idle.append(socket.create_connection(("127.0.0.1", srv.port), timeout=30))
            except OSError:
                break
        check(len(idle) == IDLE_CONNECTIONS, "%d idle connections made" % len(idle))
        probes_answer(srv, "%d idle connections" % len(idle))
        for s in idle:
            s.close()
    finally:
        stop.set()
        dripper.join()
        for s in slow:
            s.close()
    # The slow clients' heads never completed: the header deadline closed them.
    check(lives(srv), "the server lives")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--binary", required=True)
    ap.add_argument("--source-dir", required=True)
    args = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = IDLE_CONNECTIONS + 200
    if soft < want and (hard == resource.RLIM_INFINITY or hard >= want):
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    tmp = tempfile.mkdtemp(prefix="sv-http-hardening-")
    srv = Server(args, tmp)
    try:
        for case in (case_chunked, case_content_length, case_nesting, case_form_type,
                     case_error_bodies, case_dlq_utf8, case_pipelining, case_slow_and_idle):
            case(srv)
            if not srv.alive():
                check(False, "the server died during %s" % case.__name__, srv.proc.returncode)
                break
    finally:
        srv.stop()
    check(srv.proc.returncode == 0, "SIGTERM: the server exits 0 (%s)" % srv.proc.returncode)
    if FAILURES:
        print("FAILED: %d checks (server log in %s)" % (len(FAILURES), tmp))
        for f in FAILURES:
            print("  - " + f)
        return 1
    shutil.rmtree(tmp, ignore_errors=True)
    print("http_hardening: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
