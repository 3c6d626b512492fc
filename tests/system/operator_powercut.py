#!/usr/bin/env python3
"""Operator actions survive power cuts: a switch or a discard answered 2xx is on disk.

An operator's action (promote, rollback, a dead letter's discard, a rebuild reported done) is
acknowledged once; a power cut after the answer must not undo it, even though the engine's
ordinary commits may lose their last transactions (the log redoes those, but nothing redoes an
operator's action). Each step below: the action is answered (the moment chosen from that
answer, never from a clock), a power cut is armed at the engine's next file write
(src/store/sqlite/fault_vfs.h: writes not yet synced are dropped, the process exits 86), an
event is posted to make the engine write, and after the reboot the action must be there:
1. a malformed line is a dead letter; `POST /dlq/{id}/discard` → the letter stays discarded;
2. `POST /views/notes/rebuild?promote=false` done → version 2 is there as a candidate;
3. `POST /views/notes/promote` → version 2 stays active;
4. `POST /views/notes/rollback` → version 1 stays active;
and the view's rows equal the events posted (every acknowledged append kept, none twice).

    operator_powercut.py --binary build/src/cli/streamview
"""

import argparse
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import verdict, wait_until  # noqa: E402
from powercut import NOTES_CONFIG, POWER_CUT_EXIT, PowerCutEngine  # noqa: E402

TOKEN = "operator-cut-token"


class Run:
    def __init__(self, engine, problems):
        self.engine, self.problems = engine, problems
        self.notes = {}  # the oracle: every note acknowledged by POST /events

    def post_notes(self, first, count, extra_lines=()):
        lines = list(extra_lines)
        batch = {}
        for i in range(first, first + count):
            batch["n-%d" % i] = "body %d" % i
            lines.append(json.dumps({"type": "note.created", "id": "n-%d" % i,
                                     "body": batch["n-%d" % i]}))
        status, answer = self.engine.call("POST", "/events",
                                          raw=("\n".join(lines) + "\n").encode())
        if status is not None and 200 <= status < 300:
            self.notes.update(batch)
        return status, answer

    def applied(self):
        status, page = self.engine.call("GET", "/views/notes?limit=1000")
        if status != 200:
            return None
        return {row["id"]: row["body"] for row in page.get("items", [])}

    def wait_applied(self):
        wait_until(lambda: self.applied() == self.notes, "the posted notes applied",
                   proc=self.engine.proc, log=self.engine.log)

    def active_version(self):
        status, answer = self.engine.call("GET", "/views/notes/versions")
        if status != 200:
            return None, answer
        active = [v["version"] for v in answer["versions"] if v["role"] == "active"]
        return (active[0] if len(active) == 1 else None), answer["versions"]

    def cut_and_reboot(self, step, next_note):
        """Arms the cut, posts one note so the engine writes, reboots; False if it failed."""
        self.engine.arm_power_cut()
        self.post_notes(next_note, 1)  # its answer, if any, is only kept in the oracle
        code = self.engine.reboot()
        if code != POWER_CUT_EXIT:
            self.problems.append("%s: the engine exited %s, not by the power cut (%d)"
                                 % (step, code, POWER_CUT_EXIT))
            return False
        self.engine.start()
        # The note posted as the cut came was either acknowledged (kept) or not (maybe lost).
        applied = self.applied() or {}
        if "n-%d" % next_note in applied and "n-%d" % next_note not in self.notes:
            self.notes["n-%d" % next_note] = "body %d" % next_note
        self.wait_applied()
        return True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="sv-op-cut-")
    problems = []
    engine = PowerCutEngine(os.path.abspath(args.binary), tmp, NOTES_CONFIG, TOKEN)
    run = Run(engine, problems)
    try:
        engine.start()
        # 1. A discard.
        status, _ = run.post_notes(0, 20, extra_lines=["{not json at all"])
        if status != 200 and status != 202:
            problems.append("POST /events answered %s" % status)
            return verdict(problems, tmp)
        run.wait_applied()
        _, dlq = engine.call("GET", "/dlq?state=open")
        letters = dlq.get("dead_letters", []) if dlq else []
        if len(letters) != 1:
            problems.append("expected one open dead letter, /dlq says %s" % dlq)
            return verdict(problems, tmp)
        letter = letters[0]["id"]
        status, answer = engine.call("POST", "/dlq/%d/discard" % letter)
        if status != 200:
            problems.append("discard answered %s %s" % (status, answer))
            return verdict(problems, tmp)
        if not run.cut_and_reboot("discard", 100):
            return verdict(problems, tmp)
        _, dlq = engine.call("GET", "/dlq")
        states = [d.get("state") for d in (dlq or {}).get("dead_letters", [])
                  if d.get("id") == letter]
        if states != ["discarded"]:
            problems.append("dead letter %d was discarded (answered 200) but after the power "
                            "cut its state is %s" % (letter, states))

        # 2. A rebuild beside the serving version, reported done.
        run.post_notes(200, 20)
        run.wait_applied()
        status, answer = engine.call("POST", "/views/notes/rebuild?promote=false")
        if status != 202:
            problems.append("rebuild answered %s %s" % (status, answer))
            return verdict(problems, tmp)

        def rebuild_done():
            _, state = engine.call("GET", "/views/rebuild")
            return state is not None and state.get("state") in ("done", "failed")
        wait_until(rebuild_done, "the rebuild done", proc=engine.proc, log=engine.log)
        _, versions = run.active_version()
        if [v["version"] for v in versions or []] != [1, 2]:
            problems.append("after the rebuild the versions are %s" % versions)
            return verdict(problems, tmp)
        if not run.cut_and_reboot("rebuild", 300):
            return verdict(problems, tmp)
        active, versions = run.active_version()
        if active != 1 or [v["version"] for v in versions or []] != [1, 2]:
            problems.append("the rebuild reported done, but after the power cut the versions "
                            "are %s" % versions)
            return verdict(problems, tmp)

        # 3 and 4. Promote, then roll back.
        for step, want, next_note in (("promote", 2, 400), ("rollback", 1, 500)):
            run.post_notes(next_note - 50, 20)
            run.wait_applied()
            status, answer = engine.call("POST", "/views/notes/%s" % step)
            if status != 200 or answer.get("active_version") != want:
                problems.append("%s answered %s %s" % (step, status, answer))
                break
            if not run.cut_and_reboot(step, next_note):
                break
            active, versions = run.active_version()
            if active != want:
                problems.append("%s to version %d answered 200, but after the power cut the "
                                "active version is %s (%s)" % (step, want, active, versions))
        if not problems:
            print("4 operator actions, each followed by a power cut, all kept; %d notes, each "
                  "acknowledged one applied once" % len(run.notes))
    finally:
        engine.stop()
    return verdict(problems, tmp)


if __name__ == "__main__":
    sys.exit(main())
