"""Waiting and progress helpers shared by the system tests (Python 3 standard library only).

The discipline (TESTING.md, "Crash and timing discipline"): a test chooses the moment of a
kill, a restart or a check from observed progress (positions committed, rows written, a metric),
never from a clock, and every wait polls a condition with a generous deadline that fails with a
message saying what did not happen. A slow machine then makes a test slower, never wrong.
"""

import argparse
import base64
import hashlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

# Long enough for a loaded 2-core machine; a healthy run meets each condition in seconds.
DEADLINE_S = 180.0


class WaitTimeout(Exception):
    """A polled condition did not hold within its deadline."""


def wait_until(predicate, what, timeout=DEADLINE_S, interval=0.05, proc=None, log=None):
    """Polls predicate() until it returns something truthy, and returns that.

    Raises WaitTimeout("timed out after N s waiting for <what>") at the deadline, or at once
    when `proc` (a Popen the condition depends on) has exited; `log` (a path) adds its tail.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            raise WaitTimeout("the process exited with %d while waiting for %s%s"
                              % (proc.returncode, what, log_tail_suffix(log)))
        if time.monotonic() > deadline:
            raise WaitTimeout("timed out after %.0f s waiting for %s%s"
                              % (timeout, what, log_tail_suffix(log)))
        time.sleep(interval)


def log_tail_suffix(log):
    return (":\n" + tail(log)) if log and os.path.exists(log) else ""


def tail(path, n=3000):
    """The last n bytes of a file, as text."""
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        f.seek(max(0, f.tell() - n))
        return f.read().decode("utf-8", "replace")


def start_test(doc, tmp_prefix, store_kind=False):
    """The start of a system test's main(): its arguments, described by the first paragraph of
    `doc` (--binary; --store-kind sqlite|postgres with `store_kind`), and a fresh temporary
    folder named from `tmp_prefix`. Returns (args, the binary's absolute path, the folder)."""
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    ap.add_argument("--binary", required=True)
    if store_kind:
        ap.add_argument("--store-kind", default="sqlite", choices=["sqlite", "postgres"])
    args = ap.parse_args()
    return args, os.path.abspath(args.binary), tempfile.mkdtemp(prefix=tmp_prefix)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def decode_position(token):
    """An X-StreamView-Position token -> {partition id: position}; None when it is not one.
    Clients treat the token as opaque; tests read its version-1 payload (base64url of
    "<partition>:<position>,...") to compare it with what they wrote."""
    if not token or not token.startswith("sv1."):
        return None
    payload = token[4:]
    try:
        text = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode()
        return {int(p): int(o) for p, o in (pair.split(":") for pair in text.split(",") if pair)}
    except ValueError:
        return None


def close(a, b):
    """Numbers equal up to float rounding (a store's real against the oracle's numeric); NULLs
    equal only to NULLs."""
    if a is None or b is None:
        return a is None and b is None
    return abs(float(a) - float(b)) <= 1e-6 * max(1.0, abs(float(b)))


def committed_position(store):
    """The highest position committed by any source (0 before the first commit); `store` is a
    stores.Store, read with sqlite3 or psql while the engine writes."""
    return store.query("SELECT MAX(position) FROM sv_positions") or 0


def check_groups(problems, what, got, want):
    """Rows (group key, count, sum) of a view against the source's: equal, the sums up to float
    rounding."""
    if [r[:2] for r in got] != [r[:2] for r in want] or not all(
            close(g[2], w[2]) for g, w in zip(got, want)):
        problems.append("%s %r, source %r" % (what, got, want))


def check_slot_at_store(problems, source, store, slot):
    """The change feed's slot has confirmed exactly the store's committed position: not behind
    it, and never ahead either (a slot ahead of the views reads as recreated, changes lost)."""
    stored = committed_position(store)
    flushed = source.query("SELECT confirmed_flush_lsn - '0/0' FROM pg_replication_slots "
                           "WHERE slot_name = '%s'" % slot)
    if flushed is None or int(flushed) != int(stored):
        problems.append("slot confirmed flush %s, stored position %s: they differ"
                        % (flushed, stored))


def http_get(port, path, timeout=30, headers=None):
    """(status, body text) of GET http://127.0.0.1:port/path; (None, "") when not reachable."""
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace")
    except (OSError, ValueError):
        return None, ""


def http_json(port, path, method="GET", bearer=None, api_key=None, body=None, timeout=30):
    """(status, decoded JSON body or the raw bytes, headers) of a request to the server on
    `port` as a caller (`bearer`: Authorization, `api_key`: X-API-Key); (None, error text, {})
    when it is not reachable."""
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), method=method,
                                 data=body)
    if bearer is not None:
        req.add_header("Authorization", "Bearer " + bearer)
    if api_key is not None:
        req.add_header("X-API-Key", api_key)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read() or b"null"), resp.headers
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            return e.code, json.loads(raw), e.headers
        except ValueError:
            return e.code, raw, e.headers
    except (OSError, ValueError) as e:
        return None, str(e), {}


def wait_ready(port, status, timeout=DEADLINE_S, proc=None):
    """Polls /health/ready until it answers `status`; returns the body (WaitTimeout if not)."""
    def answered():
        code, body = http_get(port, "/health/ready", timeout=10)
        return body or True if code == status else None
    return wait_until(answered, "/health/ready to answer %d" % status, timeout=timeout,
                      interval=0.1, proc=proc)


def kill_at_position(proc, store, target, what, log=None):
    """SIGKILLs `proc` as soon as the store's committed position reaches `target` (the moment
    is chosen by progress; the engine keeps going between the poll and the kill, so it lands
    at or after `target`). Returns the position seen at the kill."""
    seen = wait_until(lambda: (lambda p: p if p >= target else None)(committed_position(store)),
                      "%s: a commit at or past position %d" % (what, target), proc=proc,
                      log=log, interval=0.02)
    proc.kill()
    proc.wait()
    return seen


def run_and_kill_at_position(cmd, store, target, what, log):
    """Starts `cmd` (output appended to `log`, after a "--- what" line) and SIGKILLs it once
    the store's committed position reaches `target`; returns the position seen at the kill.
    WaitTimeout (with the process killed) when it never gets there."""
    with open(log, "ab") as out:
        out.write(("--- %s\n" % what).encode())
        out.flush()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    try:
        return kill_at_position(proc, store, target, what, log=log)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def kill_targets(rnd, before, last, count, index):
    """The committed position at which kill `index` of `count` (0-based) fires, for an engine
    that has committed `before` of a log ending at `last`: every fourth kill fires at its first
    commit after starting (startup and recovery paths), the others after a random share of the
    remaining work that leaves enough for the kills still to come."""
    if index % 4 == 3:
        step = 1
    else:
        step = max(1, int((last - before) * rnd.uniform(0.3, 1.7) / (count - index + 2)))
    # Past the log's end nothing more is committed: a run started there is killed at once.
    return min(last, before + step)


def run_checked(cmd, timeout=1800, ok_codes=(0,), **kwargs):
    """subprocess.run that raises SystemExit with the output on an unexpected exit code; returns
    (CompletedProcess, seconds)."""
    started = time.monotonic()
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kwargs)
    elapsed = time.monotonic() - started
    if r.returncode not in ok_codes:
        print("FAILED (exit %d, %.1fs): %s" % (r.returncode, elapsed, " ".join(cmd)))
        print(r.stdout[-4000:])
        print(r.stderr[-4000:])
        raise SystemExit(1)
    return r, elapsed


def tcp_unread_bytes(local_port, remote_port):
    """Bytes received but not yet read by the process owning the loopback IPv4 socket
    127.0.0.1:local_port <-> :remote_port (from /proc/net/tcp), None when there is no such
    socket: lets a test see that a server has read a request, not guess it from a delay."""
    if remote_port is None:
        return None
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            local, remote, queues = fields[1], fields[2], fields[4]
            if (int(local.split(":")[1], 16) == local_port
                    and int(remote.split(":")[1], 16) == remote_port):
                return int(queues.split(":")[1], 16)
    return None


def run_sql(dsn, sql):
    """Runs an SQL script with psql, stopping at the first error (raised as SystemExit)."""
    r = subprocess.run(["psql", dsn, "-X", "-q", "-v", "ON_ERROR_STOP=1"], input=sql,
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit("psql failed: %s" % r.stderr.strip()[-2000:])


def wal_position_of(dsn, sql):
    """Runs `sql` in one transaction and returns the WAL position taken inside it, after the
    change: its commit ends past it, so a read with this min_position sees the change."""
    r = subprocess.run(["psql", dsn, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"],
                       input="BEGIN;\n%s;\nSELECT pg_current_wal_insert_lsn() - '0/0'::pg_lsn;\n"
                             "COMMIT;\n" % sql, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit("psql failed: %s" % r.stderr)
    return int(r.stdout.split()[0])


def verdict(problems, tmp, stores=(), keep=False):
    """Prints the problems found (the first 30) and returns 1, or removes `tmp` and drops
    `stores` (stores.Store; both kept with `keep`), prints PASSED and returns 0."""
    if problems:
        for p in problems[:30]:
            print("FAILED: %s" % p)
        print("(%d problems; logs in %s)" % (len(problems), tmp))
        return 1
    if not keep:
        shutil.rmtree(tmp, ignore_errors=True)
        for store in stores:
            store.drop()
    print("PASSED")
    return 0


def psql(dsn, sql):
    """Runs `sql` (one -c command) with psql, stopping at the first error (raised as
    SystemExit); returns the output, unaligned and without headers."""
    r = subprocess.run(["psql", dsn, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit("psql failed: %s: %s" % (sql, r.stderr.strip()))
    return r.stdout


def sha256_hex(text):
    """How the config names an API key (`sha256:`)."""
    return hashlib.sha256(text.encode()).hexdigest()


def drop_slot(source, slot):
    """Drops replication slot `slot` of the `source` database (a stores.Store), so that it holds
    no WAL; quiet when there is none or it cannot (a test's cleanup)."""
    subprocess.run(["psql", source.arg, "-X", "-q", "-c",
                    "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                    "WHERE slot_name = '%s'" % slot], capture_output=True)


def drop_change_feed(source, store, slot):
    """A change-feed test's cleanup: its slot, then both databases."""
    drop_slot(source, slot)
    store.drop()
    source.drop()


class SseStream:
    """A Server-Sent Events subscription (GET `path` on the server at `port`) read by a thread
    of its own: `events` collects (name, id or None, data decoded from JSON) in arrival order.
    `status` is the HTTP status (and `error_body` the body when it is not 200). `on_event(stream,
    event)`, when given, runs on the reader thread for each event before it is appended."""

    def __init__(self, port, path, bearer=None, last_event_id=None, on_event=None):
        import http.client
        import threading
        self.events = []
        self.ended = False
        self.on_event = on_event
        self._lock = threading.Lock()
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=DEADLINE_S)
        headers = {"Accept": "text/event-stream"}
        if bearer is not None:
            headers["Authorization"] = "Bearer " + bearer
        if last_event_id is not None:
            headers["Last-Event-ID"] = str(last_event_id)
        self.conn.connect()
        self._sock = self.conn.sock  # the response owns it once the head is read
        self.conn.request("GET", path, headers=headers)
        self.resp = self.conn.getresponse()
        self.status = self.resp.status
        self.error_body = None
        if self.status != 200:
            self.error_body = self.resp.read()
            self.conn.close()
            self.ended = True
            return
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self):
        name, ident, data = None, None, None
        try:
            while True:
                line = self.resp.readline()
                if not line:
                    break
                line = line.decode("utf-8").rstrip("\r\n")
                if line == "":
                    if name is not None:
                        event = (name, ident, json.loads(data) if data else None)
                        if self.on_event is not None:
                            self.on_event(self, event)
                        with self._lock:
                            self.events.append(event)
                    name, ident, data = None, None, None
                elif line.startswith(":"):
                    continue
                elif line.startswith("event: "):
                    name = line[7:]
                elif line.startswith("id: "):
                    ident = int(line[4:])
                elif line.startswith("data: "):
                    data = line[6:]
        except (OSError, ValueError):
            pass
        self.ended = True

    def snapshot(self):
        with self._lock:
            return list(self.events)

    def close(self):
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.conn.close()
