#!/usr/bin/env python3
"""Blue/green with a changed definition, built in the background (issue 19 item 4).

The view `items` of blue_green.py: version 1 labels rows 'v1', version 2 'v2' and declares
`version: 2`. The v2 config keeps the v1 definition under `previous:`. A writer appends events
the whole time (`ingest`, beside the engine); a reader takes whole-view reads (one snapshot each).

1. The engine runs the v1 config under the writer.
2. It restarts with the v2 config: it serves version 1 at once and builds version 2 beside it
   in the background. The build is held after its replay (SV_TEST_TENANT_FOLD_HOLD, a file the
   test removes) so that events arrive meanwhile without timing: version 1 keeps being
   updated (the engine applies a few hundred more events), a promotion is refused (409) and a
   subscription (GET /views/items/subscribe) streams version 1's rows.
3. kill -9 while version 2 builds (held); the restarted engine serves version 1 again and
   builds version 2 again.
4. The hold released: version 2 becomes a maintained candidate, not lagging.
5. POST promote under load (validated: counts and sampled keys), POST rollback, POST promote:
   each switch is at once and readers never see a mix. A subscription open across each switch
   gets a `reset` after the old version's rows; with other columns it then ends and a new one
   streams the new version's rows, otherwise the same stream does.
6. After the writer stops: version 1's table equals the oracle of every event labelled 'v1',
   version 2's the 'v2' oracle, and every read taken meanwhile equals the oracle of its own
   label after as many events as it counts.
7. `views drop` of version 1 (the previous one); the v2 config starts again with nothing left
   to build and serves version 2.

Both configs declare a lookup over the view's labels (`lookups:`): during the build, after each
switch and at the end, every entry GET /lookups/items_by_label lists is of the version serving
(its label and its columns), and at the end the entries equal the view's rows. Both also declare
a derived view over the view's labels (`by_label`): it follows the version serving — every read
of it equals the oracle of one label after as many events as it counts, it shows v1 while v2 is
built, and the switch's answer comes once it shows the version switched to (it is computed again
in the switch's transaction).

With --changed-columns, version 2 also changes the view's columns and key: it drops `total`, adds
`biggest` (the greatest amount of the key's events) and is keyed by (label, id). Each read must
then show one version's columns on every row (v1: total, v2: biggest), the label matching them;
GET /views, GET /views/items/{key...} (by `id` under v1, by `v2/id` under v2, the other form
refused) and /openapi.json follow the version active at read time; a filter on a column the
active version lacks is a 400 naming it; and promotion validates keys and counts.

    python3 tests/system/blue_green_definition.py --binary build/src/cli/streamview \
        [--store-kind postgres] [--changed-columns]
"""

import argparse
import os
import shutil
import signal
import subprocess
import tempfile
import threading

from blue_green import CONFIG, KEYS, TOKEN, Server, Writer, check, post, run, versions_cli
from harness import SseStream, committed_position, http_json, wait_until
from stores import Store

# A lookup over the labels of every key (the label, constant per version, matches them all).
LOOKUP = """
lookups:
  items_by_label:
    view: items
    label: label
    max_limit: 1000
"""
# A derived view over the columns both versions have: one row per label.
DERIVED = """
derived_views:
  by_label:
    sql: |
      CREATE VIEW by_label AS
      SELECT label, count(*) AS keys, sum(events) AS events, sum(amount) AS amount
      FROM items GROUP BY label
"""
V1_VIEW = CONFIG % {"version": 1}
# The v2 config: the view as v2, and v1's definition under `previous:` (indented one level).
V1_BODY = V1_VIEW.split("  items:\n", 1)[1]
PREVIOUS = "\n    previous:\n" + "".join(
    "  " + line + "\n" for line in V1_BODY.rstrip("\n").split("\n"))
V2_CONFIG = (CONFIG % {"version": 2}).rstrip("\n") + PREVIOUS
# --changed-columns: version 2 drops `total`, adds `biggest` and is keyed by (label, id).
V2_CHANGED_CONFIG = (CONFIG % {"version": 2}).replace(
    "    key: [id]\n", "    key: [label, id]\n").replace(
    "      total: integer\n", "      biggest: integer\n").replace(
    '          total: "coalesce(total, 0) + e.amount"\n',
    '          biggest: "greatest(coalesce(biggest, 0), e.amount)"\n').rstrip("\n") + PREVIOUS
assert "biggest" in V2_CHANGED_CONFIG and "total" not in V2_CHANGED_CONFIG.split("previous:")[0]
assert "key: [label, id]" in V2_CHANGED_CONFIG.split("previous:")[0]

COLUMNS = {"v1": {"id", "amount", "label", "events", "total"},
           "v2": {"id", "amount", "label", "events", "total"}}
LAST = {"v1": "total", "v2": "total"}  # the fourth value of a row, by label


def change_columns():
    COLUMNS["v2"] = {"id", "amount", "label", "events", "biggest"}
    LAST["v2"] = "biggest"


def oracle_at(events, n, label):
    rows = {}
    for e in events[:n]:
        _, _, c, last = rows.get(e["id"], (None, None, 0, 0))
        last = max(last, e["amount"]) if LAST[label] == "biggest" else last + e["amount"]
        rows[e["id"]] = (e["amount"], label, c + 1, last)
    return rows


def derived_row(events, n, label):
    """The oracle of by_label's row after `n` events: (keys, amount)."""
    rows = oracle_at(events, n, label)
    return len(rows), sum(r[0] for r in rows.values())


def derived_label(server):
    """The label by_label shows now ("" before any event, None on a failed read)."""
    status, body, _ = http_json(server.port, "/views/by_label", timeout=30)
    if status != 200 or len(body["items"]) > 1:
        print("  GET /views/by_label: %s %s" % (status, body))
        return None
    return body["items"][0]["label"] if body["items"] else ""


def version_rows(store, table, label):
    return {r[0]: tuple(r[1:]) for r in store.rows(
        "SELECT id, amount, label, events, %s FROM %s" % (LAST[label], table))}


def lookup_entries(server):
    """The entries of the lookup (all of them), by id; None when the request fails."""
    status, body, _ = http_json(server.port, "/lookups/items_by_label?q=v&limit=1000",
                                timeout=30)
    if status != 200:
        print("  GET /lookups/items_by_label: %s %s" % (status, body))
        return None
    return {r["id"]: r for r in body["items"]}


def lookup_problems(server, label):
    """Every entry of the lookup is of `label`'s version (its label and its columns)."""
    entries = lookup_entries(server)
    if not entries:
        return ["the lookup lists nothing"]
    return ["lookup entry %s: %s" % (k, row_problem(r) or r) for k, r in entries.items()
            if row_problem(r) or r["label"] != label][:3]


def row_problem(row):
    """None when `row` (a REST row) has exactly the columns of the version its label names."""
    label = row.get("label")
    if label not in COLUMNS or set(row) != COLUMNS[label]:
        return "a row mixes versions: label %r with columns %s" % (label, sorted(row))
    return None


class LabelledReader:
    """Whole-view reads (one snapshot each), kept with the label they show; check() compares
    each with the oracle of that label after as many events as it counts."""

    def __init__(self, port_of):
        self.port_of = port_of
        self.reads, self.problems = [], []
        self.derived_reads = []  # (events, label, (keys, amount)) of by_label
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.loop)
        self.thread.start()

    def loop(self):
        while not self.stop.is_set():
            status, body, _ = http_json(self.port_of(), "/views/items?limit=%d" % (KEYS + 10),
                                        timeout=30)
            if status is None or status == 503:
                self.stop.wait(0.05)  # the server is restarting: a back-off, no verdict waits on it
                continue
            if status != 200:
                self.problems.append("%s: %s" % (status, body))
                continue
            mixed = [p for p in map(row_problem, body["items"]) if p]
            if mixed:
                self.problems.append(mixed[0])
                continue
            rows = {r["id"]: (r["amount"], r["label"], r["events"], r[LAST[r["label"]]])
                    for r in body["items"]}
            labels = {r[1] for r in rows.values()}
            if len(labels) > 1:
                self.problems.append("a read mixes versions: %s" % sorted(labels))
            self.reads.append((sum(r[2] for r in rows.values()), labels.pop() if labels else "",
                               rows))
            status, body, _ = http_json(self.port_of(), "/views/by_label", timeout=30)
            if status == 200 and len(body["items"]) > 1:
                self.problems.append("by_label mixes versions: %s" % body["items"])
            elif status == 200 and body["items"]:
                r = body["items"][0]
                self.derived_reads.append((r["events"], r["label"], (r["keys"], r["amount"])))

    def labels_since(self, start):
        return [r[1] for r in self.reads[start:]]

    def close(self):
        self.stop.set()
        self.thread.join()

    def check(self, events):
        problems = list(self.problems)
        for n, label, seen in self.derived_reads:
            if n > len(events) or seen != derived_row(events, n, label):
                problems.append("a read of by_label (%s) of %d events: %s, the oracle %s"
                                % (label, n, seen, derived_row(events, n, label)))
        for n, label, seen in self.reads:
            if n > len(events):
                problems.append("a read counts %d events, more than the %d appended"
                                % (n, len(events)))
                continue
            expected = oracle_at(events, n, label)
            if seen != expected:
                differing = sorted(k for k in set(seen) | set(expected)
                                   if seen.get(k) != expected.get(k))
                problems.append("a read (%s) of %d events differs from the oracle at %s"
                                % (label, n, differing[:3]))
        return problems


def stream_rows(stream, after=-1):
    """The rows of the stream's upserts after its event number `after`."""
    return [e[2] for e in stream.snapshot()[after + 1:] if e[0] == "upsert"]


def stream_problems(rows, label):
    """What is wrong with upserts that should all be rows of `label`."""
    problems = ["%s: %s" % (row_problem(r) or "label", r) for r in rows
                if row_problem(r) or r.get("label") != label]
    return problems[:3]


def check_stream_switched(server, stream, since, was, now, changed_columns):
    """After a switch from `was` to `now` (the stream had `since` events before it): the stream
    says `reset` and its rows since the one before (or its start) are `was`'s. With other
    columns the stream ends (the client subscribes again, as EventSource does) and a new one
    carries `now`'s rows; otherwise the rows after the reset are `now`'s. Returns the stream
    that follows the view."""
    def resets():
        return [i for i, e in enumerate(stream.snapshot()) if e[0] == "reset"]
    wait_until(lambda: any(i >= since for i in resets()),
               "a reset on the stream after the switch to %s" % now)
    events = stream.snapshot()
    reset = [i for i in resets() if i >= since][0]
    previous = ([-1] + [i for i in resets() if i < since])[-1]
    before = [e[2] for e in events[previous + 1:reset] if e[0] == "upsert"]
    problems = stream_problems(before, was)
    check(before and not problems, "%d upserts before the reset are %s's rows (%s)"
          % (len(before), was, "; ".join(problems)))
    if changed_columns:
        wait_until(lambda: stream.ended, "the stream to end after the switch to other columns")
        check(stream_rows(stream, reset) == [], "no upsert after the reset of an ended stream")
        stream.close()
        stream = SseStream(server.port, "/views/items/subscribe")
        check(stream.status == 200, "a subscription after the switch to %s: %s %s"
              % (now, stream.status, stream.error_body))
        reset = -1
    wait_until(lambda: len(stream_rows(stream, reset)) >= 5,
               "upserts on the stream after the switch to %s" % now)
    problems = stream_problems(stream_rows(stream, reset), now)
    check(not problems, "the stream's upserts after the switch are %s's rows (%s)"
          % (now, "; ".join(problems)))
    return stream


def log_has(log, text):
    with open(log) as f:
        return text in f.read()


def log_count(log, text):
    with open(log) as f:
        return f.read().count(text)


def versions_http(server):
    status, body, _ = http_json(server.port, "/views/items/versions", bearer=TOKEN)
    if status != 200:
        return {}
    return {v["version"]: (v["role"], v["maintained"], v["lags"]) for v in body["versions"]}


def active_columns_agree(server, label):
    """GET /views, a row and /openapi.json show `label`'s columns; a filter on a column of the
    other version is a 400 naming it. Returns the problems found."""
    problems = []
    status, body, _ = http_json(server.port, "/views")
    listed = [v for v in body.get("views", []) if v["name"] == "items"] if status == 200 else []
    if not listed or {c["name"] for c in listed[0]["columns"]} != COLUMNS[label]:
        problems.append("GET /views lists %s" % (listed[0]["columns"] if listed else body))
    status, page, _ = http_json(server.port, "/views/items?limit=1")
    key = page["items"][0]["id"] if status == 200 and page["items"] else "k0000"
    # The active version's key: `id` under v1, (label, id) under v2 (with changed columns).
    new_key = LAST["v2"] == "biggest"
    right, wrong = key, "v2/" + key
    if new_key and label == "v2":
        right, wrong = wrong, right
    for path in ("/views/items/" + right, "/items/" + right):  # and the compatibility route
        status, row, _ = http_json(server.port, path)
        if status != 200 or row_problem(row) or row["label"] != label:
            problems.append("GET %s: %s %s" % (path, status, row))
    if new_key:
        status, row, _ = http_json(server.port, "/views/items/" + wrong)
        if status < 400 or status >= 500:
            problems.append("GET /views/items/%s (the other version's key): %s %s"
                            % (wrong, status, row))
    status, doc, _ = http_json(server.port, "/openapi.json")
    other = LAST["v1" if label == "v2" else "v2"]
    params = set()
    if status == 200:
        params = {q["name"] for q in doc["paths"]["/views/items"]["get"]["parameters"]}
    if LAST[label] not in params or other in params:
        problems.append("/openapi.json lists the filters %s" % sorted(params))
    status, body, _ = http_json(server.port, "/views/items?%s=1" % other)
    if status != 400 or other not in str(body):
        problems.append("a filter on %s (not in %s): %s %s" % (other, label, status, body))
    return problems


def main():
    os.environ["STREAMVIEW_TOKEN"] = TOKEN
    p = argparse.ArgumentParser()
    p.add_argument("--binary", required=True)
    p.add_argument("--store-kind", default="sqlite", choices=["sqlite", "postgres"])
    p.add_argument("--changed-columns", action="store_true")
    a = p.parse_args()
    if a.changed_columns:
        change_columns()
    b = a.binary
    tmp = tempfile.mkdtemp(prefix="sv-bg-definition-")
    store = Store.create(a.store_kind, tmp, "bgdefinition")
    cfg1, cfg2 = os.path.join(tmp, "v1.yaml"), os.path.join(tmp, "v2.yaml")
    with open(cfg1, "w") as f:
        f.write(V1_VIEW + LOOKUP + DERIVED)
    with open(cfg2, "w") as f:
        f.write((V2_CHANGED_CONFIG if a.changed_columns else V2_CONFIG) + "\n" + LOOKUP + DERIVED)
    hold = os.path.join(tmp, "hold-build")
    log = os.path.join(tmp, "run.log")
    appended = []
    server = writer = reader = None
    try:
        print("1. v1 under a writer")
        server = Server(b, cfg1, store, log).ready()
        writer = Writer(b, cfg1, store, tmp, appended)
        reader = LabelledReader(lambda: server.port)
        wait_until(lambda: writer.problems or committed_position(store) >= 400,
                   "the engine to apply the writer's first events")

        print("2. restart with the v2 config: v1 serves and is updated while v2 builds")
        server.stop()
        with open(hold, "w"):
            pass
        os.environ["SV_TEST_TENANT_FOLD_HOLD"] = hold
        server = Server(b, cfg2, store, log).ready()
        wait_until(lambda: log_count(log, "folding s beside the loop") >= 1,
                   "the background build of version 2 to start")
        check(log_has(log, "version 1 (its previous: definition) serves and is kept current"),
              "the engine said version 1 serves while version 2 is built")
        check(versions_http(server).get(2, ("",))[0] == "leftover"
              and versions_http(server).get(1, ("",))[0] == "active",
              "version 1 active, version 2 not yet kept: %s" % versions_http(server))
        reads_before = len(reader.reads)
        wait_until(lambda: len(reader.reads) > reads_before, "a read during the build")
        first = reader.reads[reads_before][0]
        wait_until(lambda: writer.problems or reader.reads[-1][0] >= first + 300,
                   "reads of version 1 to advance by 300 events while version 2 builds")
        check(not writer.problems, "the writer appends")
        check(set(reader.labels_since(reads_before)) == {"v1"},
              "reads during the build are v1 (from %d to %d events)"
              % (first, reader.reads[-1][0]))
        status, body, _ = post(server, "/views/items/promote")
        check(status == 409 and "being built" in body.get("error", ""),
              "promotion refused while version 2 builds: %s" % body.get("error"))
        problems = lookup_problems(server, "v1")
        check(not problems, "the lookup lists v1's entries while v2 builds (%s)"
              % "; ".join(problems))
        check(derived_label(server) == "v1", "by_label follows v1 while v2 builds")
        if a.changed_columns:
            problems = active_columns_agree(server, "v1")
            check(not problems, "v1's columns served while v2 builds (%s)" % "; ".join(problems))
        # A stream follows the serving version's rows: v1's, in v1's columns.
        stream = SseStream(server.port, "/views/items/subscribe")
        check(stream.status == 200, "a subscription while v1 serves: %s %s"
              % (stream.status, stream.error_body))
        wait_until(lambda: writer.problems or len(stream_rows(stream)) >= 20,
                   "20 upserts on the stream while v1 serves")
        problems = stream_problems(stream_rows(stream), "v1")
        check(not problems, "the stream's upserts are v1's rows (%s)" % "; ".join(problems))
        stream.close()

        print("3. kill -9 during the build; the restart serves v1 and builds v2 again")
        server.proc.kill()
        server.proc.wait()
        killed_at = committed_position(store)
        server = Server(b, cfg2, store, log).ready()
        wait_until(lambda: log_count(log, "folding s beside the loop") >= 2,
                   "the build to start again")
        wait_until(lambda: writer.problems or committed_position(store) >= killed_at + 200,
                   "the restarted engine to apply events")

        print("4. the build released: v2 a maintained candidate")
        os.remove(hold)
        wait_until(lambda: log_has(log, "version 2 is built and kept current"),
                   "version 2 built", log=log)
        check(versions_http(server) == {1: ("active", False, False),
                                        2: ("candidate", True, False)},
              "version 2 is a maintained candidate beside the serving version 1: %s"
              % versions_http(server))
        built_at = committed_position(store)
        wait_until(lambda: writer.problems or committed_position(store) >= built_at + 200,
                   "events applied after the build")

        print("5. promote, rollback, promote under load")
        stream = SseStream(server.port, "/views/items/subscribe")
        wait_until(lambda: writer.problems or len(stream_rows(stream)) >= 5,
                   "upserts on a stream before the promotion")
        since = len(stream.snapshot())
        status, body, _ = post(server, "/views/items/promote")
        check(status == 200 and body["active_version"] == 2, "POST promote: %s" % body)
        stream = check_stream_switched(server, stream, since, "v1", "v2", a.changed_columns)
        check(derived_label(server) == "v2", "by_label follows v2 once the promotion answers")
        compared = [l for l in body["checks"] if l.startswith("compared ")]
        check(len(compared) == 2 and not any(l.startswith("rows not compared")
                                             for l in body["checks"]),
              "validation compared sampled keys both ways: %s" % compared)
        if a.changed_columns:
            # v2's rows found in v1 by `id` (v1's key, a key column of v2's); v1's rows looked up
            # in v2 by (label, id) find none ('v1' is no label of v2): said, not refused.
            strict = [l for l in compared if " of items__v2 with " in l]
            lenient = [l for l in compared if " of items__v1 with " in l and " unmatched" in l]
            check(len(strict) == 1 and "unmatched" not in strict[0] and len(lenient) == 1,
                  "v2's rows matched in v1 by id, v1's in v2 by (label, id) unmatched: %s"
                  % compared)
            problems = active_columns_agree(server, "v2")
            check(not problems, "v2's columns served after the promotion (%s)"
                  % "; ".join(problems))
        reads_at = len(reader.reads)
        wait_until(lambda: len(reader.reads) >= reads_at + 3, "reads after the promotion")
        check(set(reader.labels_since(reads_at + 1)) == {"v2"}, "reads are v2 after it")
        problems = lookup_problems(server, "v2")
        check(not problems, "the lookup lists v2's entries after the promotion (%s)"
              % "; ".join(problems))
        check(versions_http(server) == {1: ("standby", True, False), 2: ("active", False, False)},
              "version 1 is kept current for a rollback: %s" % versions_http(server))
        at = committed_position(store)
        wait_until(lambda: writer.problems or committed_position(store) >= at + 200,
                   "events applied after the promotion")
        since = len(stream.snapshot())
        status, body, _ = post(server, "/views/items/rollback")
        check(status == 200 and body["active_version"] == 1, "POST rollback: %s" % body)
        stream = check_stream_switched(server, stream, since, "v2", "v1", a.changed_columns)
        stream.close()
        check(derived_label(server) == "v1", "by_label follows v1 once the rollback answers")
        if a.changed_columns:
            problems = active_columns_agree(server, "v1")
            check(not problems, "v1's columns served after the rollback (%s)"
                  % "; ".join(problems))
        reads_at = len(reader.reads)
        wait_until(lambda: len(reader.reads) >= reads_at + 3, "reads after the rollback")
        check(set(reader.labels_since(reads_at + 1)) == {"v1"}, "reads are v1 after it")
        problems = lookup_problems(server, "v1")
        check(not problems, "the lookup lists v1's entries after the rollback (%s)"
              % "; ".join(problems))
        at = committed_position(store)
        wait_until(lambda: writer.problems or committed_position(store) >= at + 200,
                   "events applied after the rollback")
        status, body, _ = post(server, "/views/items/promote")
        check(status == 200 and body["active_version"] == 2, "POST promote again: %s" % body)
        check(derived_label(server) == "v2", "by_label follows v2 again")

        print("6. every version and every read against the oracles")
        at = committed_position(store)
        wait_until(lambda: writer.problems or committed_position(store) >= at + 100,
                   "events applied after the last promotion")
        writer.close()
        check(not writer.problems, "the writer appended %d events (%s)"
              % (len(appended), "; ".join(writer.problems)))
        writer = None
        wait_until(lambda: sum(r["events"] for r in http_json(
            server.port, "/views/items?limit=%d" % (KEYS + 10))[1].get("items", []))
            == len(appended), "the engine to apply every event")
        reader.close()
        status, body, _ = http_json(server.port, "/views/items?limit=%d" % (KEYS + 10))
        check(status == 200 and lookup_entries(server) == {r["id"]: r for r in body["items"]},
              "the lookup's entries equal the view's rows (v2's)")
        n = len(appended)
        check(version_rows(store, "items__v1", "v1") == oracle_at(appended, n, "v1"),
              "version 1 equals the v1 oracle of all %d events" % n)
        check(version_rows(store, "items__v2", "v2") == oracle_at(appended, n, "v2"),
              "version 2 equals the v2 oracle of all %d events" % n)
        problems = reader.check(appended)
        labels = {r[1] for r in reader.reads} - {""}  # "": a read before the first event
        check(not problems and labels == {"v1", "v2"},
              "%d reads (%s), each one snapshot equal to its label's oracle at its position (%s)"
              % (len(reader.reads), sorted(labels), "; ".join(problems[:3])))
        derived_labels = {r[1] for r in reader.derived_reads}
        check(derived_labels == {"v1", "v2"}, "%d reads of by_label, of %s, each equal to its "
              "label's oracle" % (len(reader.derived_reads), sorted(derived_labels)))
        status, body, _ = http_json(server.port, "/views/by_label")
        check(status == 200 and [(r["label"], r["keys"], r["amount"], r["events"])
                                 for r in body["items"]]
              == [("v2",) + derived_row(appended, n, "v2") + (n,)],
              "by_label equals the v2 oracle of all %d events" % n)
        reader = None
        server.stop()
        server = None

        print("7. drop version 1; the v2 config starts with nothing to build")
        del os.environ["SV_TEST_TENANT_FOLD_HOLD"]
        run([b, "views", "drop", "--config", cfg2, "--store", store.arg, "--view", "items",
             "--version", "1"])
        check({k: v["role"] for k, v in versions_cli(b, cfg2, store).items()} == {2: "active"},
              "views list: only version 2 is left")
        check("items__v1" not in store.tables(), "version 1's table is gone")
        server = Server(b, cfg2, store, log).ready()
        check(versions_http(server) == {2: ("active", False, False)}, "started: version 2 only")
        status, body, _ = http_json(server.port, "/views/items?limit=%d" % (KEYS + 10))
        check(status == 200 and {r["label"] for r in body["items"]} == {"v2"}, "v2 served")
        server.stop()
        server = None
    finally:
        if writer is not None:
            writer.close()
        if reader is not None:
            reader.close()
        if server is not None:
            server.proc.send_signal(signal.SIGKILL)
            server.proc.wait()
        store.drop()
    shutil.rmtree(tmp, ignore_errors=True)
    print("PASSED")


if __name__ == "__main__":
    main()
