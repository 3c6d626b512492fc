#!/usr/bin/env python3
"""Blue/green view versions, through the streamview binary (issue 19 item 4).

A view `items` in two definitions: version 1 labels every row 'v1', version 2 'v2' (a visible
difference, the same columns). A reader thread pages the view over REST the whole time and
asserts that every page is all 'v1' or all 'v2', never a mix.

1. v1 served; the server restarts with the v2 config: v2 is built beside v1 while v1 is served
   (the reader sees v1 pages, then v2 pages, never a mix, never v1 again after v2).
2. `views list` / GET /views/items/versions: v2 active, v1 the standby, not lagging.
3. The running v2 engine refuses to roll back to v1 (a definition it does not run) with 409.
4. Rollback (`views rollback` with the v1 config, then the v1 server): reads are v1 at once.
5. Promote again (`views promote` with the v2 config: validated, the differing labels shown).
6. Same definition under a running engine: POST /views/items/rebuild, then POST rollback and
   POST promote while the reader reads; then a write makes the standby lag, and a rollback is
   refused (409, "lags").
7. `views drop`: the active version is refused, the standby is dropped; `views list` agrees.
8. `rebuild --no-promote` with the v1 config builds a candidate beside the serving v2 version;
   `views promote` switches to it.

    python3 tests/system/blue_green.py --binary build/src/cli/streamview [--store-kind postgres]
"""

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading

from harness import free_port, http_json, wait_ready, wait_until
from stores import Store

KEYS = 400
TOKEN = "blue-green-token"

CONFIG = """
sources:
  s:
    kind: log
    key: id
    type: type
    event_id: eventId
    event_types: [Set]
views:
  items:
    version: %(version)d
    source: s
    key: [id]
    columns:
      id: text
      amount: integer
      label: text
    api:
      path: /items
    on:
      Set:
        set:
          id: e.id
          amount: e.amount
          label: "'v%(version)d'"
"""


def check(cond, what):
    if not cond:
        print("FAILED: " + what)
        raise SystemExit(1)
    print("  ok: " + what)


def run(cmd, expect=0):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    if r.returncode != expect:
        print("FAILED (exit %d, expected %d): %s\n%s\n%s"
              % (r.returncode, expect, " ".join(cmd), r.stdout[-3000:], r.stderr[-3000:]))
        raise SystemExit(1)
    return r


class Reader:
    """Reads /views/items continuously on its own thread, all of it in one page (one read, one
    snapshot). `labels` holds one entry per read ('v1' or 'v2'); a read mixing labels, or
    missing rows, is a problem. (Pages of a cursor walk are separate reads: a walk across a
    switch may see both versions, each page one of them.)"""

    def __init__(self, port_of):
        self.port_of = port_of
        self.labels, self.problems, self.unreachable = [], [], 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.loop)
        self.thread.start()

    def walk(self, port):
        status, body, _ = http_json(port, "/views/items?limit=%d" % (KEYS + 10), timeout=30)
        if status is None or status == 503:
            return None  # the server is restarting
        if status != 200:
            self.problems.append("%s: %s" % (status, body))
            return None
        labels = {r["label"] for r in body["items"]}
        if len(labels) != 1:
            self.problems.append("a read mixes versions: %s" % sorted(labels))
        if len(body["items"]) != KEYS:
            self.problems.append("a read saw %d rows, not %d" % (len(body["items"]), KEYS))
        return labels.pop() if len(labels) == 1 else None

    def loop(self):
        while not self.stop.is_set():
            label = self.walk(self.port_of())
            if label is None:
                self.unreachable += 1
            else:
                self.labels.append(label)

    def count(self):
        return len(self.labels)

    def wait_walks(self, label, n, what):
        """Waits for `n` more complete walks, all seeing `label`."""
        start = self.count()
        wait_until(lambda: self.problems or self.count() >= start + n, what)
        check(not self.problems, "reader: no mixed page (%s)" % "; ".join(self.problems[:3]))
        later = self.labels[start:]
        check(all(l == label for l in later), "%s: %d walks all %s" % (what, len(later), label))

    def close(self):
        self.stop.set()
        self.thread.join()


class Server:
    def __init__(self, b, cfg, store, log):
        self.port = free_port()
        self.log = open(log, "a")
        self.proc = subprocess.Popen(
            [b, "run", "--config", cfg, "--store", store.arg, "--listen",
             "127.0.0.1:%d" % self.port], stdout=subprocess.DEVNULL, stderr=self.log)

    def ready(self):
        wait_ready(self.port, 200, proc=self.proc)
        return self

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        check(self.proc.wait(timeout=120) == 0, "server stopped cleanly")
        self.log.close()


def versions_cli(b, cfg, store):
    r = run([b, "views", "list", "--config", cfg, "--store", store.arg, "--view", "items",
             "--json"])
    return {int(v["version"]): v for v in map(json.loads, r.stdout.splitlines())}


def roles(versions):
    return {n: v["role"] + ("(lags)" if v["lags"] else "") for n, v in versions.items()}


def post(server, path):
    return http_json(server.port, path, method="POST", body=b"", bearer=TOKEN)


def main():
    os.environ["STREAMVIEW_TOKEN"] = TOKEN  # the ops routes' bearer token
    p = argparse.ArgumentParser()
    p.add_argument("--binary", required=True)
    p.add_argument("--store-kind", default="sqlite", choices=["sqlite", "postgres"])
    a = p.parse_args()
    b = a.binary
    tmp = tempfile.mkdtemp(prefix="sv-blue-green-")
    store = Store.create(a.store_kind, tmp, "bluegreen")
    cfg = {}
    for version in (1, 2):
        cfg[version] = os.path.join(tmp, "v%d.yaml" % version)
        with open(cfg[version], "w") as f:
            f.write(CONFIG % {"version": version})
    events = os.path.join(tmp, "events.ndjson")
    with open(events, "w") as f:
        for i in range(KEYS * 3):
            f.write(json.dumps({"type": "Set", "id": "k%04d" % (i % KEYS), "amount": i,
                                "eventId": "e%d" % i}) + "\n")
    log = os.path.join(tmp, "run.log")
    server = None
    reader = None
    try:
        run([b, "ingest", "--config", cfg[1], "--store", store.arg, events])
        print("1. v2 is built beside v1 while v1 is served")
        server = Server(b, cfg[1], store, log).ready()
        wait_until(lambda: len(http_json(server.port, "/views/items?limit=%d" % KEYS)[1]
                               .get("items", [])) == KEYS, "v1 to hold every key")
        reader = Reader(lambda: server.port)
        reader.wait_walks("v1", 3, "v1 served")
        server.stop()
        server = Server(b, cfg[2], store, log)  # its start-up rebuild builds v2 beside v1
        server.ready()
        start = reader.count()
        wait_until(lambda: reader.problems or (reader.count() > start
                                               and reader.labels[-1] == "v2"),
                   "reads of v2 after the swap")
        first_v2 = reader.labels.index("v2")
        check(all(l == "v1" for l in reader.labels[:first_v2])
              and all(l == "v2" for l in reader.labels[first_v2:]),
              "reads went from v1 to v2 once (%d v1 walks, then v2)" % first_v2)
        reader.wait_walks("v2", 2, "v2 served")

        print("2. views list: v2 active, v1 its standby")
        listed = versions_cli(b, cfg[2], store)
        check(roles(listed) == {1: "standby", 2: "active"}, "views list: %s" % roles(listed))
        check(listed[1]["config_version"] == 1 and listed[2]["config_version"] == 2
              and listed[1]["rows"] == KEYS and listed[2]["rows"] == KEYS,
              "config versions and row counts listed")
        status, body, _ = http_json(server.port, "/views/items/versions", bearer=TOKEN)
        check(status == 200 and {v["version"]: v["role"] for v in body["versions"]}
              == {1: "standby", 2: "active"}, "GET /views/items/versions agrees: %s" % body)

        print("3. the v2 engine cannot roll back to a definition it does not run")
        status, body, _ = post(server, "/views/items/rollback")
        check(status == 409 and "another definition" in body["error"],
              "POST rollback refused with 409: %s" % body.get("error"))

        print("4. rollback: v1 again, at once")
        server.stop()
        r = run([b, "views", "rollback", "--config", cfg[1], "--store", store.arg, "--view",
                 "items"])
        check("version 1" in r.stdout, "views rollback: %s" % r.stdout.strip())
        check(roles(versions_cli(b, cfg[1], store)) == {1: "active", 2: "candidate"},
              "views list after the rollback")
        server = Server(b, cfg[1], store, log).ready()
        reader.wait_walks("v1", 3, "v1 served right after the rollback")
        check(roles(versions_cli(b, cfg[1], store)) == {1: "active", 2: "candidate"},
              "no rebuild at start: the active version is the config's")

        print("5. promote v2 again, validated")
        server.stop()
        r = run([b, "views", "promote", "--config", cfg[2], "--store", store.arg, "--view",
                 "items", "--sample", "50"])
        check("differs (the definition changed)" in r.stdout and "version 2" in r.stdout,
              "views promote compared the versions:\n" + r.stdout.strip())
        server = Server(b, cfg[2], store, log).ready()
        reader.wait_walks("v2", 3, "v2 served after the promotion")

        print("6. the same definition, switched by the running engine")
        status, _, _ = post(server, "/views/items/rebuild")
        check(status == 202, "POST /views/items/rebuild accepted")
        wait_until(lambda: http_json(server.port, "/views/rebuild", bearer=TOKEN)[1]
                   .get("state") == "done", "the rebuild to finish")
        reader.wait_walks("v2", 2, "reads during and after the rebuild")
        status, body, _ = post(server, "/views/items/rollback")
        check(status == 200 and body["active_version"] == 2, "POST rollback: %s" % body)
        reader.wait_walks("v2", 2, "reads after the rollback")
        status, body, _ = post(server, "/views/items/promote")
        check(status == 200 and body["active_version"] == 3, "POST promote: %s" % body)
        reader.wait_walks("v2", 2, "reads after the promotion")
        status, body, _ = http_json(server.port, "/events", method="POST", bearer=TOKEN, body=(
            json.dumps({"type": "Set", "id": "k0001", "amount": -1, "eventId": "late"}) + "\n"
        ).encode())
        check(status in (200, 202), "an event posted")
        wait_until(lambda: http_json(server.port, "/views/items/k0001")[1].get("amount") == -1,
                   "the event applied")
        status, body, _ = post(server, "/views/items/rollback")
        check(status == 409 and "lags" in body["error"], "a lagging standby is refused: %s"
              % body.get("error"))

        print("7. drop")
        reader.close()
        check(not reader.problems, "the reader never saw a mix: %d walks" % reader.count())
        reader = None
        server.stop()
        server = None
        run([b, "views", "drop", "--config", cfg[2], "--store", store.arg, "--view", "items",
             "--version", "3"], expect=1)
        check(True, "dropping the active version is refused")
        run([b, "views", "drop", "--config", cfg[2], "--store", store.arg, "--view", "items",
             "--version", "2"])
        check(roles(versions_cli(b, cfg[2], store)) == {3: "active"},
              "views list: only the active version is left")
        check("items__v2" not in store.tables(), "its table is gone")

        print("8. built beside, promoted later: rebuild --no-promote, then views promote")
        run([b, "rebuild", "--config", cfg[1], "--store", store.arg, "--view", "items",
             "--no-promote"])
        check(roles(versions_cli(b, cfg[1], store)) == {3: "active", 4: "candidate"},
              "the v1 build is a candidate beside the serving version")
        check(store.rows("SELECT DISTINCT label FROM items") == [("v2",)], "v2 still served")
        run([b, "views", "promote", "--config", cfg[1], "--store", store.arg, "--view", "items"])
        check(roles(versions_cli(b, cfg[1], store)) == {3: "standby", 4: "active"},
              "promoted; the version it replaced is the standby")
        check(store.rows("SELECT DISTINCT label FROM items") == [("v1",)], "v1 served")
    finally:
        if reader is not None:
            reader.close()
        if server is not None:
            server.proc.kill()
            server.proc.wait()
        store.drop()
    shutil.rmtree(tmp, ignore_errors=True)
    print("PASSED")


if __name__ == "__main__":
    main()
