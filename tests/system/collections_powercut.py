#!/usr/bin/env python3
"""Collections survive power cuts: a PUT answered 2xx is on disk (SQLite, fault VFS).

A collection has no log behind it: the row written by a PUT is the only copy, so its commit
must be synced before the answer. A client increments one counter by read-modify-write
(If-Match + an Idempotency-Key per increment). Each round lets a few increments be
acknowledged (the moment is chosen from that progress, never from a clock), then arms a power
cut at the next file write of the engine's process (src/store/sqlite/fault_vfs.h: every write
not yet fsynced is dropped, the process exits 86). After the reboot:
- every acknowledged increment is there (n ≥ acknowledged), at most the one in flight more;
- the request in flight, sent again with its Idempotency-Key, is applied exactly once;
and at the end n = the increments made, and _version = n + 1 (versions never skipped).

    collections_powercut.py --binary build/src/cli/streamview
"""

import argparse
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import verdict  # noqa: E402
from powercut import NOTES_CONFIG, POWER_CUT_EXIT, PowerCutEngine  # noqa: E402

TOKEN = "powercut-token"
ROUNDS = 6
ACKED_PER_ROUND = 4

CONFIG = NOTES_CONFIG + """collections:
  counters:
    key: [name]
    columns: {{name: text, n: integer}}
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="sv-coll-cut-")
    problems = []
    engine = PowerCutEngine(os.path.abspath(args.binary), tmp, CONFIG, TOKEN)
    engine.start()
    code, _ = engine.call("PUT", "/views/counters/c", {"n": 0},
                          {"If-None-Match": "*", "Idempotency-Key": "create"})
    if code != 201:
        print("FAILED: creating the counter answered %s" % code)
        return 1
    made = 0  # increments acknowledged or settled after a cut: the oracle's n
    try:
        for rnd in range(ROUNDS):
            acked_this_round, in_flight = 0, None
            while True:
                status, row = engine.call("GET", "/views/counters/c")
                if status is None:
                    break  # the cut came on a read's write (none expected) or the engine's own
                body = {"n": row["n"] + 1}
                headers = {"If-Match": '"%d"' % row["_version"],
                           "Idempotency-Key": "inc-%d-%d" % (rnd, acked_this_round)}
                status, answer = engine.call("PUT", "/views/counters/c", body, headers)
                if status is None:
                    in_flight = (body, headers)
                    break
                if status != 200:
                    problems.append("round %d: PUT answered %s %s" % (rnd, status, answer))
                    return verdict(problems, tmp)
                made += 1
                acked_this_round += 1
                if acked_this_round == ACKED_PER_ROUND:
                    engine.arm_power_cut()
            exit_code = engine.reboot()
            if exit_code != POWER_CUT_EXIT:
                problems.append("round %d: the engine exited %s, not by the power cut (%d)"
                                % (rnd, exit_code, POWER_CUT_EXIT))
                break
            engine.start()
            _, row = engine.call("GET", "/views/counters/c")
            if row is None or row["n"] < made:
                problems.append("round %d: %d increments acknowledged, the counter after the cut "
                                "holds %s: an acknowledged write was lost"
                                % (rnd, made, None if row is None else row["n"]))
            elif row["n"] > made + (1 if in_flight else 0):
                problems.append("round %d: the counter holds %d, more than the %d made"
                                % (rnd, row["n"], made))
            if in_flight is not None:
                # Sent again with its key: applied now, or answered as a replay if it was.
                status, answer = engine.call("PUT", "/views/counters/c", *in_flight)
                if status != 200 or answer is None:
                    problems.append("round %d: the retried PUT answered %s %s"
                                    % (rnd, status, answer))
                made += 1  # either way the increment is in now, exactly once
            _, row = engine.call("GET", "/views/counters/c")
            if row is None or row["n"] != made or row["_version"] != made + 1:
                problems.append("round %d: after settling, n=%s _version=%s, expected n=%d "
                                "_version=%d" % (rnd, row and row["n"], row and row["_version"],
                                                 made, made + 1))
            if problems:
                break
    finally:
        engine.stop()
    if not problems:
        print("%d power cuts; %d increments, each acknowledged one kept, none applied twice"
              % (ROUNDS, made))
    return verdict(problems, tmp)


if __name__ == "__main__":
    sys.exit(main())
