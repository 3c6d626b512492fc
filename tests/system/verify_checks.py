"""`streamview verify` and `/views/verify` driven and their reports checked: the steps shared by
verify_source.py (an embedded log) and verify_changes.py (a PostgreSQL change feed), which corrupt
different views but expect the same of verify (Python 3 standard library only)."""

import json
import subprocess

from harness import free_port, http_json, wait_until


def active_table(store, view):
    """The table holding the active version of `view`: where rows are corrupted behind the
    engine's back."""
    return store.query("SELECT table_name FROM sv_view_versions WHERE view = '%s' AND active"
                       % view)


def cli_runner(binary, common):
    """cli(*argv, codes=(0,)): runs `binary argv common` and returns the CompletedProcess;
    SystemExit with its stderr when it exits with a code not in `codes`."""
    def cli(*argv, codes=(0,)):
        r = subprocess.run([binary] + list(argv) + common, capture_output=True, text=True,
                           timeout=900)
        if r.returncode not in codes:
            raise SystemExit("%s: exit %d: %s" % (" ".join(argv), r.returncode,
                                                  r.stderr[-1500:]))
        return r
    return cli


def source_lines(stdout):
    """{view: report} of the `"check": "source"` lines `streamview verify` prints."""
    out = {}
    for line in stdout.splitlines():
        rep = json.loads(line)
        if rep.get("check") == "source":
            out[rep["view"]] = rep
    return out


def named(rep):
    return {kind: set(rep.get(kind + "_keys", [])) for kind in ("missing", "extra", "differing")}


def check_named(problems, what, reports, expected):
    """Each view of `expected` ({view: {kind: keys}}) compared, naming exactly those keys."""
    for view, kinds in expected.items():
        rep = reports.get(view)
        if rep is None or "skipped" in rep:
            problems.append("%s: no comparison of %s: %s" % (what, view, rep))
            continue
        if named(rep) != kinds or any(rep[k] != len(v) for k, v in kinds.items()):
            problems.append("%s: %s names %s (counts %s), expected %s"
                            % (what, view, named(rep),
                               {k: rep[k] for k in kinds}, kinds))


def clean(reports):
    return all("skipped" not in r and r["missing"] == r["extra"] == r["differing"] == 0
               for r in reports.values())


def check_corrupted(problems, cli, expected):
    """`verify` of a store corrupted behind the engine's back exits 1 naming exactly `expected`;
    returns its reports."""
    r = cli("verify", codes=(0, 1))
    if r.returncode != 1:
        problems.append("verify of a corrupted store exited %d: %s" % (r.returncode,
                                                                     r.stderr[-1500:]))
    reports = source_lines(r.stdout)
    check_named(problems, "verify", reports, expected)
    print("verify names: %s" % {v: named(rep) for v, rep in reports.items()
                                if "skipped" not in rep})
    return reports


def check_tenant_then_repair(problems, cli, tenant, of_tenant, untenanted, repaired):
    """`verify --tenant` names only `of_tenant` and skips `untenanted` (a view without a tenant
    column); `verify --repair` repairs `repaired` ({view: rows}), and a verify after it is
    clean."""
    r = cli("verify", "--tenant", tenant, codes=(0, 1))
    reports = source_lines(r.stdout)
    check_named(problems, "verify --tenant %s" % tenant, reports, of_tenant)
    if r.returncode != 1 or "skipped" not in reports.get(untenanted, {}):
        problems.append("verify --tenant %s: exit %d, %s (no tenant column) %s"
                        % (tenant, r.returncode, untenanted, reports.get(untenanted)))

    r = cli("verify", "--repair", codes=(0, 1))
    done = {v: rep.get("repaired") for v, rep in source_lines(r.stdout).items()}
    if r.returncode != 0 or done != repaired:
        problems.append("verify --repair: exit %d, repaired %s: %s"
                        % (r.returncode, done, r.stdout[-1500:]))
    r = cli("verify", codes=(0, 1))
    if r.returncode != 0 or not clean(source_lines(r.stdout)):
        problems.append("verify after the repair: exit %d: %s" % (r.returncode, r.stdout))


class LiveVerify:
    """An engine started with `run --listen` (`args` after it, output to `log_path`) and its
    `/views/verify`, called as `bearer`; waits fail at once, with the log's tail, when the engine
    has exited."""

    def __init__(self, binary, args, log_path, bearer, env=None):
        self.port, self.bearer, self.log_path = free_port(), bearer, log_path
        self.log = open(log_path, "w")
        self.proc = subprocess.Popen([binary, "run", "--listen", "127.0.0.1:%d" % self.port]
                                     + args, stdout=self.log, stderr=subprocess.STDOUT, env=env)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=120)
        self.log.close()

    def call(self, method, path):
        return http_json(self.port, path, method=method, bearer=self.bearer, timeout=120)

    def wait(self, predicate, what, **kwargs):
        return wait_until(predicate, what, proc=self.proc, log=self.log_path, **kwargs)

    def wait_ready(self):
        self.wait(lambda: self.call("GET", "/health/ready")[0] == 200, "the server to be ready")

    def status(self):
        """The verify state (GET /views/verify), None when it does not answer 200."""
        code, body, _ = self.call("GET", "/views/verify")
        return body if code == 200 else None

    def ended(self, runs):
        """The state once verify run `runs` (counted since the start) has ended."""
        return self.wait(lambda: (lambda s: s if s and s["runs"] >= runs and
                                  s["state"] != "running" else None)(self.status()),
                         "verify run %d to end" % runs, timeout=600)

    def run(self, problems, path, runs):
        """POST `path` (a verify) and waits for it to end as run `runs`: (its state, {view:
        report}), or (None, None) with a problem when the POST is not accepted."""
        code, body, _ = self.call("POST", path)
        if code != 202:
            problems.append("POST %s: %s %s" % (path, code, body))
            return None, None
        status = self.ended(runs)
        return status, reports_of(status)


def reports_of(status):
    """{view: report} of a `/views/verify` state."""
    return {v["view"]: v for v in status.get("views", [])}
