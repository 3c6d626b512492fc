#!/usr/bin/env python3
"""Live subscriptions (GET /views/{view}/subscribe, Server-Sent Events) under a running writer.

`shipments` (key id, tenant org_id outside the key: its deletes name no organization) and the
derived `status_counts` (tenant org_id inside its key) are fed by puts, moves between
organizations and deletes appended over POST /events while subscribers listen as o-1, o-2 and
the admin (API keys, auth configured as tenancy.py does). Checked against the events this
script wrote (the oracle):
- each subscriber's stream folded over the snapshot it read after `ready` (and again after any
  `reset`) equals the oracle's rows that caller may see, for both views;
- o-2's stream carries nothing of another organization: every upsert is o-2's row, every
  delete a key o-2 held;
- no credential or an unknown key: 401; an internal or unknown view: 404;
- a subscriber that disconnects and comes back with Last-Event-ID gets exactly the events a
  continuous subscriber of its organization got after that id;
- a subscriber that never reads does not hold commits back: the engine applies every appended
  event while it sits with unread bytes;
- filtered subscribers (the list route's filters: `status=late,delivered` as o-1,
  `status=booked&n.gte=3000` as the admin) folded over the same filtered read equal the oracle's
  matching rows (a row leaving the filter is a `delete`); a paging parameter or an unknown
  column is a 400;
- SIGTERM ends every stream and the process promptly.

    subscriptions.py --binary build/src/cli/streamview
"""

import json
import os
import random
import socket
import subprocess
import sys
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (SseStream, WaitTimeout, free_port, http_json, sha256_hex,  # noqa: E402
                     tcp_unread_bytes, start_test, verdict, wait_until)

KEYS = {"o-1": "sub-key-o1", "o-2": "sub-key-o2", "admin": "sub-key-admin"}
ORGS = ["o-1", "o-2", "o-3"]
TOKEN = "subscriptions-ops-token"


CONFIG = """
store:
  kind: sqlite
  path: {store}
sources:
  ops:
    key: id
    event_types: [shipment.put, shipment.deleted]
server:
  idle_timeout_ms: 3000
  subscriptions:
    heartbeat_ms: 300
    queue_events: 5000
  auth:
    api_keys:
      - {{sha256: {o1}, organization: o-1}}
      - {{sha256: {o2}, organization: o-2}}
      - {{sha256: {admin}, role: admin}}
views:
  shipments:
    source: ops
    key: [id]
    tenant: org_id
    columns:
      id: text
      org_id: text
      status: text
      n: integer
    on:
      "*": {{set: {{id: e.id}}}}
      shipment.put:
        set: {{id: e.id, org_id: e.org, status: e.status, n: e.n}}
      shipment.deleted: {{delete: true}}
derived_views:
  status_counts:
    tenant: org_id
    sql: "CREATE VIEW status_counts AS SELECT org_id, status, count(*) AS n FROM shipments GROUP BY org_id, status"
  status_step:
    internal: true
    sql: "CREATE VIEW status_step AS SELECT id, org_id FROM shipments"
"""

KEY_COLUMNS = {"shipments": ("id",), "status_counts": ("org_id", "status")}


def workload(rnd, batches, per_batch):
    """Batches of events and the oracle after each: id -> row."""
    rows, out, n = {}, [], 0
    for _ in range(batches):
        batch = []
        for _ in range(per_batch):
            n += 1
            sid = "s-%03d" % rnd.randrange(300)
            if sid in rows and rnd.random() < 0.15:
                batch.append({"type": "shipment.deleted", "id": sid, "eventId": "e%d" % n})
                del rows[sid]
                continue
            org = rnd.choice(ORGS)  # an existing shipment may move to another organization
            status = rnd.choice(["booked", "picked", "late", "delivered"])
            batch.append({"type": "shipment.put", "id": sid, "org": org, "status": status,
                          "n": n, "eventId": "e%d" % n})
            rows[sid] = {"id": sid, "org_id": org, "status": status, "n": n}
        out.append((batch, dict(rows)))
    return out


def visible(rows, view, org):
    """The oracle's rows of `view` that `org` (None: the admin) may see, by key."""
    if view == "shipments":
        return {(r["id"],): r for r in rows.values() if org is None or r["org_id"] == org}
    counts = {}
    for r in rows.values():
        if org is None or r["org_id"] == org:
            counts[(r["org_id"], r["status"])] = counts.get((r["org_id"], r["status"]), 0) + 1
    return {k: {"org_id": k[0], "status": k[1], "n": c} for k, c in counts.items()}


FILTERS = {"o-1": ("status=late,delivered", lambda r: r["status"] in ("late", "delivered")),
           "admin": ("status=booked&n.gte=3000",
                     lambda r: r["status"] == "booked" and r["n"] >= 3000)}


def read_all(port, view, bearer, query=""):
    rows, cursor = {}, None
    while True:
        path = ("/views/%s?limit=1000" % view + ("&" + query if query else "")
                + ("&cursor=" + cursor if cursor else ""))
        code, body, _ = http_json(port, path, bearer=bearer)
        if code != 200:
            raise RuntimeError("GET %s gave %r %r" % (path, code, body))
        for r in body["items"]:
            rows[tuple(r[c] for c in KEY_COLUMNS[view])] = r
        cursor = body["next_cursor"]
        if not cursor:
            return rows


class Subscriber:
    """A stream of one view as one caller, with the snapshots read after `ready` and `reset`."""

    def __init__(self, port, view, who, last_event_id=None, query=""):
        self.view, self.who, self.port, self.query = view, who, port, query
        self.snaps = []  # (index of the ready/reset event, rows)
        self.stream = SseStream(port, "/views/%s/subscribe" % view
                                + ("?" + query if query else ""), bearer=KEYS[who],
                                last_event_id=last_event_id, on_event=self._on_event)

    def _on_event(self, stream, event):
        if event[0] in ("ready", "reset"):
            # Read after the event arrived: it holds every change up to the event's id.
            self.snaps.append((len(stream.events), read_all(self.port, self.view,
                                                            KEYS[self.who], self.query)))

    def fold(self):
        events = self.stream.snapshot()
        if not self.snaps:
            return None
        at, rows = self.snaps[-1]
        state = dict(rows)
        for name, _, data in events[at + 1:]:
            key = tuple(data[c] for c in KEY_COLUMNS[self.view])
            if name == "upsert":
                state[key] = data
            elif name == "delete":
                state.pop(key, None)
        return state


def main():
    _, binary, tmp = start_test(__doc__, "sv-subscriptions-")
    problems = []
    config = os.path.join(tmp, "subscriptions.yaml")
    with open(config, "w") as f:
        f.write(CONFIG.format(store=os.path.join(tmp, "s.db"), o1=sha256_hex(KEYS["o-1"]),
                              o2=sha256_hex(KEYS["o-2"]), admin=sha256_hex(KEYS["admin"])))
    batches = workload(random.Random(20261206), 40, 150)
    port = free_port()
    log = open(os.path.join(tmp, "run.log"), "w")
    proc = subprocess.Popen([binary, "run", "--config", config, "--listen",
                             "127.0.0.1:%d" % port], stdout=log, stderr=subprocess.STDOUT,
                            env=dict(os.environ, STREAMVIEW_TOKEN=TOKEN))
    streams = []
    stalled = None

    def append(batch):
        body = "".join(json.dumps(e) + "\n" for e in batch).encode()
        req = urllib.request.Request("http://127.0.0.1:%d/events" % port, data=body,
                                     method="POST",
                                     headers={"Authorization": "Bearer " + TOKEN,
                                              "Content-Type": "application/x-ndjson"})
        with urllib.request.urlopen(req, timeout=60) as r:
            return json.loads(r.read())["last_position"]

    def applied():
        code, body, _ = http_json(port, "/views", bearer=KEYS["admin"])
        if code != 200:
            return -1
        return next(v["applied_position"] for v in body["views"] if v["name"] == "shipments")

    try:
        wait_until(lambda: http_json(port, "/views", bearer=KEYS["admin"])[0] == 200,
                   "the server to answer", proc=proc, log=log.name)
        last = 0
        for batch, _ in batches[:10]:
            last = append(batch)
        wait_until(lambda: applied() >= last, "the first batches applied", proc=proc,
                   log=log.name)

        # Refusals first: no credential, an unknown key, an internal and an unknown view.
        for what, bearer, path, want in (
                ("no credential", None, "/views/shipments/subscribe", 401),
                ("an unknown key", "not-a-key", "/views/shipments/subscribe", 401),
                ("the admin", KEYS["admin"], "/views/status_step/subscribe", 404),
                ("the admin", KEYS["admin"], "/views/nothing/subscribe", 404),
                ("the admin", KEYS["admin"], "/views/shipments/subscribe?after=x", 400),
                ("the admin", KEYS["admin"], "/views/shipments/subscribe?sort=id", 400),
                ("the admin", KEYS["admin"], "/views/shipments/subscribe?nosuch=1", 400),
                ("the admin", KEYS["admin"], "/views/shipments/subscribe?n.gte=x", 400)):
            s = SseStream(port, path, bearer=bearer)
            if s.status != want:
                problems.append("%s: GET %s gave %r, wanted %d" % (what, path, s.status, want))
        if not problems:
            print("ok: subscribing without a valid caller is 401; internal/unknown views 404")

        subs = {(who, view): Subscriber(port, view, who)
                for who in ("o-1", "o-2", "admin") for view in ("shipments", "status_counts")}
        streams.extend(s.stream for s in subs.values())
        for s in subs.values():
            if s.stream.status != 200:
                raise SystemExit("subscribe %s %s: %r %r" % (s.who, s.view, s.stream.status,
                                                            s.stream.error_body))
        # A subscriber that never reads: a small receive buffer, so the server's writes to it
        # back up soon.
        stalled = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stalled.connect(("127.0.0.1", port))
        stalled.sendall(("GET /views/shipments/subscribe HTTP/1.1\r\nHost: x\r\n"
                         "Authorization: Bearer %s\r\n\r\n" % KEYS["o-1"]).encode())
        resumer = Subscriber(port, "shipments", "o-1")
        streams.append(resumer.stream)
        filtered = {who: Subscriber(port, "shipments", who, query=FILTERS[who][0])
                    for who in FILTERS}
        streams.extend(f.stream for f in filtered.values())
        wait_until(lambda: all(s.snaps for s in subs.values()) and resumer.snaps
                   and all(f.snaps for f in filtered.values()),
                   "every subscriber's ready event and snapshot", proc=proc, log=log.name)

        for i, (batch, _) in enumerate(batches[10:], start=10):
            last = append(batch)
            if i == 16:
                # The resumer leaves after having seen some changes, and comes back later.
                wait_until(lambda: len(resumer.stream.snapshot()) > 1,
                           "the resumer to see a change", proc=proc, log=log.name)
                resumer.stream.close()
                wait_until(lambda: resumer.stream.ended, "the resumer's stream to end")
                resumed_after = max(e[1] for e in resumer.stream.snapshot() if e[1] is not None)
            if i == 28:
                resumed = SseStream(port, "/views/shipments/subscribe", bearer=KEYS["o-1"],
                                    last_event_id=resumed_after)
                streams.append(resumed)
        wait_until(lambda: applied() >= last, "every appended event applied (one subscriber "
                   "does not read)", proc=proc, log=log.name)
        unread = tcp_unread_bytes(stalled.getsockname()[1], port)
        print("ok: the engine applied all %d batches while a subscriber read nothing "
              "(%s bytes unread in its socket)" % (len(batches), unread))

        final = batches[-1][1]
        for (who, view), s in sorted(subs.items()):
            org = None if who == "admin" else who
            want = visible(final, view, org)
            try:
                wait_until(lambda: s.fold() == want,
                           "%s's stream of %s folded to the oracle" % (who, view),
                           timeout=120, proc=proc, log=log.name)
                resets = sum(1 for e in s.stream.snapshot() if e[0] == "reset")
                print("ok: %s's %s: snapshot + %d events (%d resets) = the oracle's %d rows"
                      % (who, view, len(s.stream.snapshot()), resets, len(want)))
            except WaitTimeout:
                got = s.fold() or {}
                diff = sorted(k for k in set(got) | set(want) if got.get(k) != want.get(k))
                problems.append("%s %s: fold differs from the oracle at %d keys, e.g. %r: %r "
                                "vs %r" % (who, view, len(diff), diff[:1],
                                           got.get(diff[0]) if diff else None,
                                           want.get(diff[0]) if diff else None))

        # Filtered subscribers: the oracle's matching rows; rows left the filter as deletes.
        for who, f in sorted(filtered.items()):
            org = None if who == "admin" else who
            want = {k: r for k, r in visible(final, "shipments", org).items()
                    if FILTERS[who][1](r)}
            try:
                wait_until(lambda: f.fold() == want,
                           "%s's stream of shipments?%s folded to the oracle" % (who, f.query),
                           timeout=120, proc=proc, log=log.name)
                events = f.stream.snapshot()
                upserts = [e for e in events if e[0] == "upsert"]
                misfits = [e for e in upserts if not FILTERS[who][1](e[2])
                           or (org is not None and e[2]["org_id"] != org)]
                if misfits:
                    problems.append("%s's filtered stream sent rows outside its filter: %r"
                                    % (who, misfits[:2]))
                print("ok: %s's shipments?%s: %d upserts, %d deletes = the oracle's %d rows"
                      % (who, f.query, len(upserts), sum(1 for e in events if e[0] == "delete"),
                         len(want)))
            except WaitTimeout:
                got = f.fold() or {}
                diff = sorted(k for k in set(got) | set(want) if got.get(k) != want.get(k))
                problems.append("%s filtered: fold differs from the oracle at %d keys, e.g. "
                                "%r: %r vs %r" % (who, len(diff), diff[:1],
                                                  got.get(diff[0]) if diff else None,
                                                  want.get(diff[0]) if diff else None))

        # o-2 never sees another organization's row, nor a delete of a key it never held.
        held = {sid for _, rows in batches for sid, r in rows.items() if r["org_id"] == "o-2"}
        leaks = [e for e in subs[("o-2", "shipments")].stream.snapshot()
                 if (e[0] == "upsert" and e[2]["org_id"] != "o-2")
                 or (e[0] == "delete" and e[2]["id"] not in held)]
        leaks += [e for e in subs[("o-2", "status_counts")].stream.snapshot()
                  if e[0] in ("upsert", "delete") and e[2]["org_id"] != "o-2"]
        if leaks:
            problems.append("o-2's streams carried other organizations' rows: %r" % leaks[:3])
        else:
            print("ok: o-2's streams carry only o-2's rows and keys")

        # The resumed stream holds exactly what the continuous o-1 subscriber got after the id.
        continuous = subs[("o-1", "shipments")].stream
        want = [e for e in continuous.snapshot() if e[0] in ("upsert", "delete", "reset")
                and e[1] > resumed_after]
        got = wait_until(lambda: [e for e in resumed.snapshot() if e[0] != "ready"]
                         if len(resumed.snapshot()) > len(want) else None,
                         "the resumed stream to catch up", proc=proc, log=log.name)
        if got != want:
            first = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b),
                         min(len(got), len(want)))
            problems.append("resume after %d: %d events, wanted %d; first difference at %d: %r"
                            " vs %r" % (resumed_after, len(got), len(want), first,
                                        got[first:first + 1], want[first:first + 1]))
        else:
            print("ok: Last-Event-ID %d resumed with exactly the %d events missed and after"
                  % (resumed_after, len(want)))

        open_streams = [s for s in streams if not s.ended]
        proc.terminate()
        wait_until(lambda: proc.poll() is not None, "the server to stop on SIGTERM", timeout=60)
        wait_until(lambda: all(s.ended for s in streams), "every stream to end at shutdown",
                   timeout=30)
        if proc.returncode != 0:
            problems.append("run exited %r after SIGTERM" % proc.returncode)
        else:
            print("ok: SIGTERM ended %d open streams and the process" % len(open_streams))
    except WaitTimeout as e:
        problems.append(str(e))
    finally:
        if stalled is not None:
            stalled.close()
        for s in streams:
            s.close()
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=120)
    return verdict(problems, tmp)


if __name__ == "__main__":
    sys.exit(main())
