#!/usr/bin/env python3
"""Crash safety under injected disk faults (src/store/sqlite/fault_vfs.h), checked by the oracle.

--scenario powercut: 20 simulated power cuts (every write not yet fsynced is dropped), each at
a moment chosen by progress (the Nth fsync of a process, after the engine committed more), 10
while `ingest` appends (a `run` engine applying beside it) and 10 while `run` applies and
answers POST /events. After each cut: every acknowledged append (an `ingest` that returned, a
POST /events answered 2xx) is in the log, and the log is exactly a prefix of the input (nothing
twice, nothing missing); feeding resumes from the log's end. At the end the views must equal
the oracle's: the engine's own commits (synchronous=NORMAL) lost nothing it did not redo, and
applied nothing twice.

--scenario disk: a full disk (ENOSPC) and failing fsyncs (EIO), from a moment chosen by
progress: `ingest` stops and says what it appended and where to resume (--skip-lines), and the
resumed ingest completes the log exactly; `run` stops applying, names the error, answers 503 on
/health/ready and POST /events, keeps serving reads, and once the fault is cleared (through the
control file) catches up; the views equal the oracle's.

    python3 tests/system/fault_injection.py --binary build/src/cli/streamview --source-dir . \
        --scenario powercut|disk
"""

import argparse
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

from crash_restart import free_port, run, tail, wait_ready
from harness import WaitTimeout, wait_until

POWER_CUT_EXIT = 86  # kPowerCutExitCode in fault_vfs.h
DEADLINE_S = 180
TOKEN = "fault-test-token"


def wait_for(what, condition, timeout_s=DEADLINE_S):
    try:
        return wait_until(condition, what, timeout=timeout_s)
    except WaitTimeout as e:
        raise SystemExit("FAILED: %s" % e)


def http(port, method, path, body=None, auth=False):
    """(status, body text); status None when the connection failed."""
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), data=body, method=method)
    if body is not None:
        req.add_header("Content-Type", "application/x-ndjson")
    if auth:
        req.add_header("Authorization", "Bearer " + TOKEN)
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except OSError:
        return None, ""


class Harness:
    def __init__(self, args):
        self.binary = os.path.abspath(args.binary)
        source_dir = os.path.abspath(args.source_dir)
        self.oracle = os.path.join(source_dir, "tests", "oracle", "orders_oracle.py")
        self.tmp = tempfile.mkdtemp(prefix="sv-faults-")
        self.db = os.path.join(self.tmp, "orders.db")
        self.fault_dir = os.path.join(self.tmp, "fault")
        self.log = os.path.join(self.tmp, "run.log")
        # Small batches: many engine commits, so faults land between and inside them.
        with open(os.path.join(source_dir, "examples", "orders", "streamview.yaml")) as f:
            config = f.read().replace("engine:\n", "engine:\n  batch_events: 100\n", 1)
        self.config = os.path.join(self.tmp, "streamview.yaml")
        with open(self.config, "w") as f:
            f.write(config)
        # The final catch-up needs no server (a run that ends right after it started can hang
        # in the HTTP library's stop, a race outside this test's subject).
        self.config_no_server = os.path.join(self.tmp, "no_server.yaml")
        with open(self.config_no_server, "w") as f:
            f.write(re.sub(r"\nserver:.*?\n(?=\S)", "\n", config, count=1, flags=re.S))
        self.events = os.path.join(self.tmp, "events.ndjson")
        run([self.binary, "gen", "orders", "--orders", str(args.orders), "--seed", "5",
             "--dup-rate", "0.03", "--reorder-rate", "0.03", "--malformed-rate", "0.002",
             "--out", self.events])
        with open(self.events, "rb") as f:
            self.lines = f.read().split(b"\n")
        if self.lines and self.lines[-1] == b"":
            self.lines.pop()
        assert all(line.strip() for line in self.lines), "gen wrote a blank line"
        self.procs = []
        self.problems = []
        self.started = time.monotonic()

    def env(self, fault=None, shim=True):
        env = dict(os.environ, STREAMVIEW_TOKEN=TOKEN)
        env.pop("SV_FAULT", None)
        env.pop("SV_FAULT_DIR", None)
        if shim:
            env["SV_FAULT_DIR"] = self.fault_dir
        if fault:
            env["SV_FAULT"] = fault
        return env

    def control(self, spec):
        """Changes the fault spec of every process on the fault directory."""
        os.makedirs(self.fault_dir, exist_ok=True)
        path = os.path.join(self.fault_dir, "control")
        with open(path + ".tmp", "w") as f:
            f.write(spec)
        os.rename(path + ".tmp", path)

    def powered_off(self):
        return os.path.exists(os.path.join(self.fault_dir, "powercut"))

    def start_run(self, fault=None):
        port = free_port()
        out = open(self.log, "ab")
        out.write(b"--- run on port %d\n" % port)
        out.flush()
        proc = subprocess.Popen([self.binary, "run", "--config", self.config, "--store", self.db,
                                 "--listen", "127.0.0.1:%d" % port], stdout=out,
                                stderr=subprocess.STDOUT, env=self.env(fault))
        out.close()
        self.procs.append(proc)
        wait_for("run to become ready", lambda: self.powered_off() or
                 http(port, "GET", "/health/ready")[0] == 200 or proc.poll() is not None)
        if proc.poll() is not None and not self.powered_off():
            raise SystemExit("FAILED: run exited with %d:\n%s" % (proc.returncode, tail(self.log)))
        return proc, port

    def ingest(self, start, count, fault=None, shim=True, batch=50):
        """Feeds lines [start, start+count) through `ingest`; returns the CompletedProcess."""
        body = b"\n".join(self.lines[start:start + count]) + b"\n"
        return subprocess.run([self.binary, "ingest", "--config", self.config, "--store", self.db,
                               "--batch", str(batch), "-"], input=body, capture_output=True,
                              env=self.env(fault, shim), timeout=DEADLINE_S)

    def reboot(self):
        """After a power cut: every process gone, shared memory gone, the fault state reset."""
        # The cut is done (files restored under the fault directory's lock, which every write
        # takes and then finds the power off): the others die now, or at their next write.
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        self.procs = []
        shutil.rmtree(self.fault_dir, ignore_errors=True)
        for suffix in ("-shm",):
            if os.path.exists(self.db + suffix):
                os.unlink(self.db + suffix)

    def log_rows(self):
        db = sqlite3.connect(self.db, timeout=60)
        db.text_factory = bytes  # malformed lines need not be UTF-8
        try:
            return db.execute("SELECT position, raw FROM sv_log ORDER BY position").fetchall()
        except sqlite3.OperationalError:
            return []
        finally:
            db.close()

    def committed(self):
        db = sqlite3.connect(self.db, timeout=60)
        try:
            return db.execute("SELECT COALESCE(MAX(position), 0) FROM sv_positions").fetchone()[0]
        except sqlite3.OperationalError:
            return 0
        finally:
            db.close()

    def check_log(self, acked, what):
        """The log is a prefix of the input holding at least the acknowledged lines."""
        rows = self.log_rows()
        for i, (position, raw) in enumerate(rows):
            if position != i + 1 or i >= len(self.lines) or raw != self.lines[i]:
                self.problems.append("%s: log position %d holds %r, expected line %d %r"
                                     % (what, position, raw[:60], i + 1,
                                        self.lines[i][:60] if i < len(self.lines) else None))
                break
        if len(rows) < acked:
            self.problems.append("%s: %d lines acknowledged, only %d in the log"
                                 % (what, acked, len(rows)))
        return len(rows)

    def finish(self):
        """Feeds the rest, catches up without faults, compares with the oracle."""
        self.reboot()
        end = self.check_log(0, "before the final run")
        if end < len(self.lines):
            r = self.ingest(end, len(self.lines) - end, shim=False, batch=10000)
            if r.returncode != 0:
                self.problems.append("final ingest failed: %s" % r.stderr.decode()[-500:])
        self.check_log(len(self.lines), "final")
        _, t = run([self.binary, "run", "--config", self.config_no_server, "--store", self.db,
                    "--exit-when-caught-up"])
        print("final run --exit-when-caught-up: %.1fs" % t)
        r = subprocess.run([sys.executable, self.oracle, "--events", self.events, "--db", self.db],
                           capture_output=True, text=True, timeout=DEADLINE_S * 5)
        print((r.stdout + r.stderr).strip()[-3000:])
        if r.returncode != 0:
            self.problems.append("the oracle found differences")
        if self.problems:
            print("FAILED (files kept in %s):\n  %s" % (self.tmp, "\n  ".join(self.problems)))
            return 1
        shutil.rmtree(self.tmp, ignore_errors=True)
        print("PASSED")
        return 0


def powercut(h, cuts_per_phase):
    acked = 0  # the input lines acknowledged so far (a prefix)
    chunk = 300
    # 1. Cuts while `ingest` appends (batches of 50: one fsync each), a `run` engine beside it.
    for i in range(cuts_per_phase):
        end = h.check_log(acked, "ingest cut %d" % i)
        if end >= len(h.lines) - 2 * chunk:
            raise SystemExit("FAILED: the workload is too small for the cuts")
        h.start_run()
        r = h.ingest(end, chunk)
        if r.returncode != 0:
            raise SystemExit("FAILED: ingest without a fault: %s" % r.stderr.decode()[-2000:])
        acked = json.loads(r.stdout.decode().strip().splitlines()[-1])["last_position"]
        at_sync = 1 + i % 6  # the chunk takes 6 appends
        r = h.ingest(acked, chunk, fault="powercut_at_sync=%d" % at_sync)
        if r.returncode == 0:
            acked = json.loads(r.stdout.decode().strip().splitlines()[-1])["last_position"]
        elif r.returncode != POWER_CUT_EXIT:
            raise SystemExit("FAILED: ingest exit %d: %s" % (r.returncode, r.stderr.decode()[-2000:]))
        if not h.powered_off():
            h.problems.append("ingest cut %d (sync %d): no power cut happened" % (i, at_sync))
        h.reboot()
        end = h.check_log(acked, "ingest cut %d" % i)
        print("ingest cut %2d at fsync %d: %d lines acknowledged, %d in the log, %d applied"
              % (i + 1, at_sync, acked, end, h.committed()))
    # 2. Cuts while `run` applies a backlog (batches of 100) and answers POST /events: at the
    #    Nth file write of the engine process (its commits, the POST appends, checkpoints).
    behind = 0
    for i in range(cuts_per_phase):
        end = h.check_log(acked, "run cut %d" % i)
        if end + chunk * 4 > len(h.lines):
            raise SystemExit("FAILED: the workload is too small for the cuts")
        r = h.ingest(end, chunk * 2, shim=False, batch=10000)
        if r.returncode != 0:
            raise SystemExit("FAILED: ingest: %s" % r.stderr.decode()[-2000:])
        acked = end = end + chunk * 2
        before = h.committed()
        at_write = 40 + 45 * i
        h.control("powercut_at_write=%d" % at_write)
        proc, port = h.start_run()
        while not h.powered_off() and end + 20 < len(h.lines):
            body = b"\n".join(h.lines[end:end + 20]) + b"\n"
            status, text = http(port, "POST", "/events", body, auth=True)
            if status != 200:
                if not h.powered_off() and proc.poll() is None:
                    h.problems.append("POST /events answered %s before any cut: %s"
                                      % (status, text[:300]))
                break
            last = json.loads(text)["last_position"]
            if last != end + 20:
                h.problems.append("POST /events appended up to %d, expected %d" % (last, end + 20))
            acked = end = last
        wait_for("the power cut", h.powered_off)
        h.reboot()
        end = h.check_log(acked, "run cut %d" % i)
        applied = h.committed()
        behind += applied < end
        print("run cut %2d at write %d: %d lines acknowledged, %d in the log, %d applied (was %d) "
              "at %.1fs" % (i + 1, at_write, acked, end, applied, before,
                            time.monotonic() - h.started))
    if behind == 0:
        h.problems.append("no run cut landed while the engine was behind the log")
    return h.finish()


def ready_problem(port):
    status, text = http(port, "GET", "/health/ready")
    return text if status == 503 else None


def disk(h):
    # 1. ingest on a full disk: says what it appended and where to resume.
    n = len(h.lines) // 4
    r = h.ingest(0, n, fault="enospc_after_bytes=600000", batch=100)
    err = r.stderr.decode()
    out = r.stdout.decode().strip().splitlines()
    print("ingest on a full disk: exit %d, %s\n  %s" % (r.returncode, out, err.strip()[-400:]))
    if r.returncode == 0 or "full" not in err or "--skip-lines" not in err or not out:
        raise SystemExit("FAILED: ingest on a full disk did not stop with a resume hint")
    report = json.loads(out[-1])
    end = h.check_log(report["appended"], "ingest ENOSPC")
    if end != report["appended"] or report["last_position"] != end or \
            report["resume_skip_lines"] != end or end == 0:
        h.problems.append("ingest on a full disk reported %s, the log holds %d" % (report, end))
    # Resumed as it says (the same input, --skip-lines), with no fault.
    body = b"\n".join(h.lines[0:n]) + b"\n"
    r = subprocess.run([h.binary, "ingest", "--config", h.config, "--store", h.db, "--skip-lines",
                        str(report["resume_skip_lines"]), "-"], input=body, capture_output=True,
                       env=h.env(shim=False), timeout=DEADLINE_S)
    if r.returncode != 0:
        raise SystemExit("FAILED: resumed ingest: %s" % r.stderr.decode()[-2000:])
    end = h.check_log(n, "resumed ingest")
    # 2. ingest whose 4th fsync fails (EIO): the same report; nothing after it appended.
    r = h.ingest(end, 500, fault="eio_at_sync=4", batch=100)
    err = r.stderr.decode()
    report = json.loads(r.stdout.decode().strip().splitlines()[-1]) if r.stdout.strip() else {}
    print("ingest with a failing fsync: exit %d, %s" % (r.returncode, report))
    appended = report.get("appended", -1)
    if r.returncode == 0 or "I/O error" not in err or not 0 < appended < 500:
        h.problems.append("ingest with a failing 4th fsync: exit %d, %s, %s"
                          % (r.returncode, report, err[-300:]))
    if h.check_log(end + appended, "ingest EIO") != end + appended:
        h.problems.append("after the failed fsync the log does not hold exactly the %d lines "
                          "ingest reported" % appended)
    end += appended

    # 3. run on a full disk, then with failing fsyncs: not ready, reads served, nothing acked.
    for fault, words in (("enospc_after_bytes=0", "full"), ("eio_from_sync=1", "I/O error")):
        proc, port = h.start_run()
        end = h.check_log(0, fault)
        r = h.ingest(end, 100, shim=False, batch=10000)
        end += 100
        # The moment: once the engine has applied everything before it.
        wait_for("the engine to commit", lambda: h.committed() >= end)
        h.control(fault)
        # More work, appended by a process without the fault, until the engine has had to
        # write (grow the files, sync the WAL) and failed.
        problem = None
        while problem is None and end + 100 < len(h.lines):
            r = h.ingest(end, 100, shim=False, batch=10000)
            if r.returncode != 0:
                raise SystemExit("FAILED: ingest: %s" % r.stderr.decode()[-2000:])
            end += 100
            problem = ready_problem(port)
        if problem is None:
            problem = wait_for("/health/ready to say 503", lambda: ready_problem(port))
        print("%s: /health/ready 503 %s" % (fault, problem.strip()))
        if words not in problem:
            h.problems.append("%s: /health/ready does not name the error: %s" % (fault, problem))
        status, _ = http(port, "GET", "/views/orders_view?limit=5")
        if status != 200:
            h.problems.append("%s: reads answered %s while the disk failed" % (fault, status))
        # An append may still succeed on a full disk when it fits in space the WAL already has
        # (and is then synced); with failing fsyncs it never may. Either way: acknowledged =
        # in the log, refused = not in it.
        status, text = http(port, "POST", "/events", b"\n".join(h.lines[end:end + 10]) + b"\n",
                            auth=True)
        print("%s: POST /events answered %s %s" % (fault, status, text.strip()[:200]))
        if status == 200:
            if fault.startswith("eio"):
                h.problems.append("%s: POST /events acknowledged: %s" % (fault, text))
            end += 10
        if h.check_log(end, fault) != end:
            h.problems.append("%s: the log does not hold exactly the acknowledged lines" % fault)
        if proc.poll() is not None:
            raise SystemExit("FAILED: run exited under %s:\n%s" % (fault, tail(h.log)))
        if words not in tail(h.log, 20000):
            h.problems.append("%s: the engine's log does not name the error" % fault)
        h.control("")
        wait_for("/health/ready to recover", lambda: ready_problem(port) is None and
                 http(port, "GET", "/health/ready")[0] == 200)
        wait_for("the engine to catch up", lambda: h.committed() >= end)
        print("%s cleared: ready again, caught up at %d" % (fault, end))
        proc.send_signal(signal.SIGTERM)
        if proc.wait(timeout=DEADLINE_S) != 0:
            h.problems.append("%s: run exited with %d after SIGTERM" % (fault, proc.returncode))
        shutil.rmtree(h.fault_dir, ignore_errors=True)
    return h.finish()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--binary", required=True)
    ap.add_argument("--source-dir", required=True)
    ap.add_argument("--scenario", required=True, choices=["powercut", "disk"])
    ap.add_argument("--orders", type=int, default=4000)
    ap.add_argument("--cuts-per-phase", type=int, default=10)
    args = ap.parse_args()
    h = Harness(args)
    started = time.monotonic()
    try:
        if args.scenario == "powercut":
            code = powercut(h, args.cuts_per_phase)
        else:
            code = disk(h)
    finally:
        for proc in h.procs:
            if proc.poll() is None:
                proc.kill()
    print("total %.1fs" % (time.monotonic() - started))
    return code


if __name__ == "__main__":
    sys.exit(main())
