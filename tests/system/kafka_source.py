#!/usr/bin/env python3
"""The Kafka source against librdkafka's mock cluster (the real Kafka protocol over loopback),
checked by the independent oracle.

1. A generated workload (duplicates, swaps, malformed lines) produced keyed over 4 partitions;
   `run --exit-when-caught-up` -> the views equal the oracle, the dead letters are the oracle's
   (by key) and the same number reached the `<topic>.dlq` topic; `rebuild --all` replays the
   topic into new versions -> still equal.
2. kill -9 while producing: 5 runs, each killed once the store's committed offsets pass a
   random target beyond the previous run's (a moment chosen by progress, not a clock), then a
   final run -> equal, and every killed run made progress. Runs 2 and 3 instead end themselves
   right after their first commit that wrote dead letters, before the copies for the
   `<topic>.dlq` topic are sent (SV_TEST_EXIT_AFTER_DEAD_LETTER_COMMIT): afterwards the topic
   holds a copy of every dead letter in the store (by its x-dlq-id header; duplicates allowed),
   sent again from the store's outbox.
3. Brokers down while producing: readiness turns 503 naming the brokers, nothing is lost; the
   brokers come back -> readiness 200 and the views equal the oracle.
4. A topic whose head was dropped by retention: rebuild refuses loudly; --allow-partial builds.
0. /lags with the brokers unreachable (no partition assigned yet) answers, per view, zeros
   instead of taking the engine down.
5. Scale-out: two engines in one consumer group share one PostgreSQL store
   (store.shared_by_partition), split the partitions, and together equal the oracle (needs
   SV_TEST_PG_DSN, as scripts/test.sh provides; skipped without it unless SV_TEST_REQUIRE_PG=1).
   While they run, `rebuild --all` and `dlq discard` are refused (the partitions' owners fence
   them); with the group stopped, the discard goes ahead.

    python3 tests/system/kafka_source.py --binary build/src/cli/streamview \
        --kafka-tool build/tests/kafka_tool --source-dir .
"""

import argparse
import json
import os
import random
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

from harness import WaitTimeout, free_port, kill_targets, wait_until

TIMEOUT_S = 600
ORDERS = 6000  # ~32k events, ~8 MB: well under the mock's ~5 MiB per partition over 4


def run(cmd, check=True, timeout=TIMEOUT_S):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        print("FAILED (exit %d): %s" % (r.returncode, " ".join(cmd)))
        print(r.stdout[-4000:])
        print(r.stderr[-4000:])
        raise SystemExit(1)
    return r


def fail(msg):
    print("FAILED: " + msg)
    raise SystemExit(1)


class Mock:
    """kafka_tool mock: a 3-broker mock cluster driven over stdin."""

    def __init__(self, tool):
        self.p = subprocess.Popen([tool, "mock", "--brokers", "3"], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)
        line = self.p.stdout.readline().split()
        if len(line) != 2 or line[0] != "bootstrap":
            fail("mock cluster did not start: %r" % line)
        self.bootstrap = line[1]

    def command(self, text):
        self.p.stdin.write(text + "\n")
        self.p.stdin.flush()
        return self.p.stdout.readline().strip()

    def topic(self, name, partitions):
        out = self.command("topic %s %d" % (name, partitions))
        if not out.endswith(": 0"):
            fail("cannot create topic %s: %s" % (name, out))

    def close(self):
        self.p.stdin.close()
        self.p.wait(timeout=30)


class Harness:
    def __init__(self, args, tmp, mock):
        self.binary, self.tool, self.tmp, self.mock = args.binary, args.kafka_tool, tmp, mock
        self.oracle = os.path.join(args.source_dir, "tests", "oracle", "orders_oracle.py")
        self.example = os.path.join(args.source_dir, "examples", "orders", "streamview.yaml")

    def config(self, name, topic, extra_properties=None, stash_max_age_ms=60000):
        """The orders example with a Kafka source on `topic`, group `name`, store name.db."""
        text = open(self.example).read()
        text = text.replace("stash_max_age_ms: 60000", "stash_max_age_ms: %d" % stash_max_age_ms)
        props = {"session.timeout.ms": "6000", "heartbeat.interval.ms": "500"}
        props.update(extra_properties or {})
        kafka = ("    kind: kafka\n    brokers: \"%s\"\n    topics: [%s]\n    group_id: %s\n"
                 "    properties:\n%s" % (self.mock.bootstrap, topic, name,
                                        "".join("      %s: \"%s\"\n" % kv for kv in props.items())))
        text = re.sub(r"    kind: log[^\n]*\n", kafka, text)
        text = text.replace("path: orders.db", "path: %s" % os.path.join(self.tmp, name + ".db"))
        path = os.path.join(self.tmp, name + ".yaml")
        with open(path, "w") as f:
            f.write(text)
        return path

    def gen(self, name, orders, seed):
        path = os.path.join(self.tmp, name + ".ndjson")
        run([self.binary, "gen", "orders", "--orders", str(orders), "--seed", str(seed),
             "--dup-rate", "0.03", "--reorder-rate", "0.03", "--malformed-rate", "0.002",
             "--out", path, "--quiet"])
        return path

    def produce(self, topic, path, rate=0, background=False):
        cmd = [self.tool, "produce", "--bootstrap", self.mock.bootstrap, "--topic", topic, path]
        if rate:
            cmd += ["--rate", str(rate)]
        if background:
            return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        return run(cmd)

    def count(self, topic):
        return int(run([self.tool, "count", "--bootstrap", self.mock.bootstrap, "--topic",
                        topic]).stdout.strip())

    def header_values(self, topic, name):
        return run([self.tool, "header", "--bootstrap", self.mock.bootstrap, "--topic", topic,
                    "--name", name]).stdout.split()

    def catch_up(self, config):
        run([self.binary, "run", "--config", config, "--listen", "127.0.0.1:0", "--exit-when-caught-up"])

    def check_oracle(self, events, name, what):
        r = run([sys.executable, self.oracle, "--events", events, "--db",
                 os.path.join(self.tmp, name + ".db"), "--dead-letter-keys"], check=False)
        if r.returncode != 0:
            fail("%s: oracle mismatch\n%s%s" % (what, r.stdout, r.stderr))
        print("  %s: %s" % (what, r.stdout.strip()))

    def store_rows(self, name, sql):
        db = sqlite3.connect(os.path.join(self.tmp, name + ".db"))
        try:
            return db.execute(sql).fetchall()
        finally:
            db.close()

    def dead_letters(self, name):
        return self.store_rows(name, "SELECT count(*) FROM sv_dead_letters")[0][0]

    def dead_letter_ids(self, name):
        return {str(r[0]) for r in self.store_rows(name, "SELECT id FROM sv_dead_letters")}

    def outbox(self, name):
        return self.store_rows(name, "SELECT count(*) FROM sv_dead_letter_outbox")[0][0]

    def positions(self, name):
        db = sqlite3.connect(os.path.join(self.tmp, name + ".db"), timeout=30)
        try:
            return sum(r[0] for r in db.execute("SELECT position FROM sv_positions"))
        except sqlite3.OperationalError:
            return 0
        finally:
            db.close()


TOKEN = "kafka-test-token"


def get(url):
    req = urllib.request.Request(url, headers={"Authorization": "Bearer " + TOKEN})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")
    except (urllib.error.URLError, ConnectionError):
        return 0, None


def serve(h, config):
    """`run --listen` on a free port -> (process, base URL)."""
    port = free_port()
    p = subprocess.Popen([h.binary, "run", "--config", config, "--listen", "127.0.0.1:%d" % port],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         env=dict(os.environ, STREAMVIEW_TOKEN=TOKEN))
    return p, "http://127.0.0.1:%d" % port


def wait_for(predicate, what, proc=None):
    try:
        return wait_until(predicate, what, interval=0.2, proc=proc)
    except WaitTimeout as e:
        fail(str(e))


def scenario_lags_unassigned(h):
    print("0. /lags before any partition is assigned (brokers unreachable)")
    config = h.config("unassigned", "orders.unassigned")
    text = open(config).read().replace(h.mock.bootstrap, "127.0.0.1:%d" % free_port())
    with open(config, "w") as f:
        f.write(text)
    p, base = serve(h, config)
    try:
        # /lags answers 503 while the engine is starting (its store may have no tables yet).
        wait_for(lambda: get(base + "/health/startup")[0] == 200, "the engine to start")
        for _ in range(5):
            status, body = get(base + "/lags")
            if status != 200 or p.poll() is not None:
                fail("/lags before assignment: HTTP %d %s, engine exit code %s"
                     % (status, body, p.poll()))
        views = {v["view"]: v for v in body["views"]}
        if views.get("orders_view", {}).get("lag") != 0 or body["sources"][0]["partitions"]:
            fail("/lags before assignment: want no partitions and lag 0: %s" % body)
        print("  /lags answered 5 times with no partition assigned: %s" % views["orders_view"])
    finally:
        p.terminate()
        p.wait(timeout=60)


def scenario_basic(h):
    print("1. produce, consume, dead-letter topic, rebuild")
    h.mock.topic("orders.events", 4)
    h.mock.topic("orders.events.dlq", 1)
    events = h.gen("basic", ORDERS, 21)
    h.produce("orders.events", events)
    config = h.config("basic", "orders.events")
    h.catch_up(config)
    h.check_oracle(events, "basic", "after catch-up")
    stored = h.dead_letters("basic")
    wait_for(lambda: h.count("orders.events.dlq") == stored,
             "%d dead letters on orders.events.dlq" % stored)
    print("  %d dead letters in the store and on orders.events.dlq" % stored)
    r = run([h.binary, "rebuild", "--config", config, "--all"])
    if json.loads(r.stdout.strip().splitlines()[-1])["events"] != h.count("orders.events"):
        fail("rebuild replayed %s, the topic holds %d" % (r.stdout.strip(), h.count("orders.events")))
    h.check_oracle(events, "basic", "after rebuild --all")
    if h.count("orders.events.dlq") != stored:
        fail("the rebuild produced dead letters to the topic again")


def scenario_kill(h):
    print("2. kill -9 while producing")
    h.mock.topic("orders.kill", 4)
    h.mock.topic("orders.kill.dlq", 1)
    events = h.gen("kill", ORDERS, 22)
    # A killed member stays in the group until its session times out: keep that short (the
    # mock refuses less than about 3 s), and give each run time to rejoin and work.
    config = h.config("kill", "orders.kill", {"session.timeout.ms": "3000",
                                               "heartbeat.interval.ms": "500"})
    total = sum(1 for _ in open(events))
    producer = h.produce("orders.kill", events, rate=1500, background=True)
    rng = random.Random(7)
    progressed = []
    for i in range(5):
        before = h.positions("kill")
        target = kill_targets(rng, before, total, 5, i)
        # Runs 2 and 3 end themselves right after their first commit that wrote dead letters,
        # before the copies are sent; the others are killed at their target.
        exits_itself = i in (1, 2)
        env = dict(os.environ)
        if exits_itself:
            env["SV_TEST_EXIT_AFTER_DEAD_LETTER_COMMIT"] = "1"
        p = subprocess.Popen([h.binary, "run", "--config", config, "--listen", "127.0.0.1:0"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        try:
            if exits_itself:
                wait_for(lambda: p.poll() is not None,
                         "run %d to end itself after a commit with dead letters" % (i + 1))
            else:
                wait_for(lambda: h.positions("kill") >= target,
                         "run %d to commit offsets past %d (from %d)" % (i + 1, target, before),
                         proc=p)
        finally:
            if p.poll() is None:
                p.kill()
            p.wait()
        if exits_itself and p.returncode != 9:
            fail("run %d exited with %d, not 9 (the injected exit)" % (i + 1, p.returncode))
        progressed.append(h.positions("kill"))
    out, err = producer.communicate(timeout=TIMEOUT_S)
    if producer.returncode != 0:
        fail("producer: %s %s" % (out, err))
    print("  positions after each kill: %s" % progressed)
    if progressed[-1] == 0 or len(set(progressed)) < 3:
        fail("the killed runs made no progress: %s" % progressed)
    h.catch_up(config)
    h.check_oracle(events, "kill", "after 5 kills and a final run")
    stored = h.dead_letter_ids("kill")
    copies = h.header_values("orders.kill.dlq", "x-dlq-id")
    if set(copies) != stored:
        fail("orders.kill.dlq holds copies of %d of the %d dead letters (missing ids %s, "
             "unknown ids %s)" % (len(set(copies) & stored), len(stored),
                                  sorted(stored - set(copies), key=int)[:20],
                                  sorted(set(copies) - stored)[:20]))
    # A run that stops waits for its copies' delivery reports, which empty the outbox.
    if h.outbox("kill") != 0:
        fail("%d dead letters left in the outbox after a clean stop" % h.outbox("kill"))
    print("  all %d dead letters on orders.kill.dlq (%d copies sent twice), outbox empty"
          % (len(stored), len(copies) - len(set(copies))))


def scenario_brokers_down(h):
    print("3. brokers down while producing")
    h.mock.topic("orders.down", 4)
    events = h.gen("down", ORDERS, 23)
    lines = open(events).read().splitlines(keepends=True)
    first, second = os.path.join(h.tmp, "down1.ndjson"), os.path.join(h.tmp, "down2.ndjson")
    with open(first, "w") as f:
        f.writelines(lines[:len(lines) // 2])
    with open(second, "w") as f:
        f.writelines(lines[len(lines) // 2:])
    # The outage may outlast the example's 60 s gap limit; gaps must wait for the brokers.
    config = h.config("down", "orders.down", {"reconnect.backoff.max.ms": "1000"},
                      stash_max_age_ms=600000)
    started = time.monotonic()
    p, base = serve(h, config)
    try:
        h.produce("orders.down", first)
        total_first = len(lines) // 2
        wait_for(lambda: h.positions("down") == total_first, "the first half to be applied")
        wait_for(lambda: get(base + "/health/ready")[0] == 200, "ready after the first half")
        for b in (1, 2, 3):
            h.mock.command("down %d" % b)
        producer = h.produce("orders.down", second, background=True)
        status, body = wait_for(lambda: (lambda r: r if r[0] == 503 else None)(
            get(base + "/health/ready")), "not ready with the brokers down")
        # librdkafka's error callback says "N/N brokers are down", the statistics callback
        # lists each broker's state: either way the problem names the brokers.
        if not any("broker" in problem for problem in body["problems"]):
            fail("readiness does not name the brokers: %s" % body)
        print("  brokers down: /health/ready %d after %.1f s: %s"
              % (status, time.monotonic() - started, body["problems"][0][:100]))
        # Up again once the outage was observed (readiness 503 above): its length is not what
        # is tested, and a fixed wait would tie the test to the machine's speed.
        for b in (1, 2, 3):
            h.mock.command("up %d" % b)
        out, err = producer.communicate(timeout=TIMEOUT_S)
        if producer.returncode != 0:
            fail("producer: %s %s" % (out, err))
        wait_for(lambda: h.positions("down") == len(lines), "every record applied after recovery")
        wait_for(lambda: get(base + "/health/ready")[0] == 200, "ready again after recovery")
        lag = get(base + "/lags")[1]
        parts = lag["sources"][0]["partitions"]
        if len(parts) != 4 or any(q["lag"] != 0 or q["topic"] != "orders.down" for q in parts):
            fail("lags after recovery: %s" % parts)
        print("  brokers back: ready, %d partitions at lag 0 after %.1f s"
              % (len(parts), time.monotonic() - started))
    finally:
        p.terminate()
        p.wait(timeout=60)
    h.check_oracle(events, "down", "after brokers down and up")


def scenario_retention(h):
    print("4. retention dropped the head of the topic")
    h.mock.topic("orders.big", 1)
    events = h.gen("big", 6 * ORDERS, 24)  # ~50 MB into one partition: the mock keeps ~5 MiB
    h.produce("orders.big", events)
    config = h.config("big", "orders.big")
    # A first run on a topic that lost its head must not silently build partial views.
    r = run([h.binary, "run", "--config", config, "--listen", "127.0.0.1:0", "--exit-when-caught-up"],
            check=False,
            timeout=120)
    if r.returncode == 0 or "no longer retained" not in r.stderr:
        fail("run over a truncated topic did not stop: exit %d %s" % (r.returncode,
                                                                      r.stderr[-2000:]))
    print("  run stopped: %s" % re.search(r"no longer retained[^\"]*", r.stderr).group(0)[:80])
    r = run([h.binary, "rebuild", "--config", config, "--all"], check=False)
    if r.returncode == 0 or "retention dropped" not in r.stderr:
        fail("rebuild over a truncated topic did not refuse: exit %d %s" % (r.returncode,
                                                                           r.stderr[-2000:]))
    print("  refused: %s" % re.search(r"retention dropped[^\"]*", r.stderr).group(0)[:90])
    r = run([h.binary, "rebuild", "--config", config, "--all", "--allow-partial"])
    replayed = json.loads(r.stdout.strip().splitlines()[-1])["events"]
    if not 0 < replayed < sum(1 for _ in open(events)):
        fail("--allow-partial replayed %d records" % replayed)
    print("  --allow-partial replayed the %d retained records" % replayed)
    h.catch_up(config)  # and the engine goes on from there
    if h.positions("big") != sum(1 for _ in open(events)):
        fail("after --allow-partial the run did not reach the end of the topic")


def scenario_group_on_postgres(h):
    print("5. two engines, one consumer group, one shared PostgreSQL store")
    if not os.environ.get("SV_TEST_PG_DSN"):
        if os.environ.get("SV_TEST_REQUIRE_PG") == "1":
            fail("SV_TEST_REQUIRE_PG=1 but SV_TEST_PG_DSN is not set")
        print("  skipped: no SV_TEST_PG_DSN")
        return
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import stores  # noqa: E402  (tests/system/stores.py)
    store = stores.Store.create("postgres", h.tmp, "kafka_group")
    try:
        h.mock.topic("orders.group", 4)
        events = h.gen("group", ORDERS, 25)
        total = sum(1 for _ in open(events))
        config = h.config("group", "orders.group")
        text = open(config).read()
        text = re.sub(r"store:\n(  .*\n)+", "store:\n  kind: postgres\n  dsn: \"%s\"\n"
                      "  shared_by_partition: true\n" % store.arg, text, count=1)
        with open(config, "w") as f:
            f.write(text)
        logs = [os.path.join(h.tmp, "group_%d.log" % i) for i in range(2)]
        engines = []
        try:
            for log in logs:
                with open(log, "w") as err:
                    # Each engine its own port: two servers may not share one.
                    engines.append(subprocess.Popen(
                        [h.binary, "run", "--config", config,
                         "--listen", "127.0.0.1:%d" % free_port()],
                        stdout=subprocess.DEVNULL, stderr=err))
                wait_for(lambda: "partitions assigned" in open(log).read(),
                         "engine %d to be assigned partitions" % len(engines))
            producer = h.produce("orders.group", events, rate=6000, background=True)
            out, err = producer.communicate(timeout=TIMEOUT_S)
            if producer.returncode != 0:
                fail("producer: %s %s" % (out, err))
            wait_for(lambda: (store.query("SELECT COALESCE(SUM(position), 0) FROM sv_positions")
                              or 0) >= total, "both engines to apply every record")
            for p in engines:
                if p.poll() is not None:
                    fail("an engine exited: %s" % open(logs[engines.index(p)]).read()[-2000:])
            # Work outside the engines' loops is fenced by the partitions' owners.
            dead = store.query("SELECT MIN(id) FROM sv_dead_letters WHERE state = 'open'")
            if dead is None:
                fail("no open dead letter to try the fence with")
            for cmd in (["rebuild", "--all"], ["dlq", "discard", str(dead)]):
                r = run([h.binary] + cmd + ["--config", config], check=False)
                if r.returncode == 0 or "owned by a running engine" not in r.stderr:
                    fail("`%s` while the group runs was not refused (exit %d): %s"
                         % (" ".join(cmd), r.returncode, r.stderr[-1500:]))
            print("  rebuild and dlq discard refused while the group owns the partitions")
        finally:
            for p in engines:
                p.terminate()
            for p in engines:
                p.wait(timeout=60)
        shares = []
        for log in logs:
            counts = [int(m) for m in re.findall(r'"msg":"kafka partitions assigned".*?"partitions":"(\d+)"',
                                                 open(log).read())]
            shares.append(counts[-1] if counts else 0)
        if sorted(shares) != [2, 2]:
            fail("the group did not split 4 partitions between the engines: %s" % shares)
        r = run([sys.executable, h.oracle, "--events", events, "--dead-letter-keys"]
                + store.oracle_args(), check=False)
        if r.returncode != 0:
            fail("two engines on one store: oracle mismatch\n%s%s" % (r.stdout, r.stderr))
        print("  partitions per engine %s; %s" % (shares, r.stdout.strip()))
        # With the group stopped, nobody owns the partitions: the same operation goes ahead.
        run([h.binary, "dlq", "discard", str(dead), "--config", config])
        state = store.query("SELECT state FROM sv_dead_letters WHERE id = %d" % dead)
        if state != "discarded":
            fail("dlq discard with the group stopped left dead letter %d %s" % (dead, state))
        print("  dlq discard went ahead with the group stopped")
    finally:
        store.drop()


def kafka_test_args():
    """--binary, --kafka-tool, --source-dir: what every Kafka system test is given."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    ap.add_argument("--kafka-tool", required=True)
    ap.add_argument("--source-dir", required=True)
    return ap.parse_args()


def main():
    args = kafka_test_args()
    tmp = tempfile.mkdtemp(prefix="sv-kafka-")
    mock = Mock(args.kafka_tool)
    try:
        h = Harness(args, tmp, mock)
        scenario_lags_unassigned(h)
        scenario_basic(h)
        scenario_kill(h)
        scenario_brokers_down(h)
        scenario_retention(h)
        scenario_group_on_postgres(h)
    finally:
        mock.close()
        shutil.rmtree(tmp, ignore_errors=True)
    print("kafka_source: 6 passed, 0 failed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
