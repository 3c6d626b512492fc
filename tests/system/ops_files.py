#!/usr/bin/env python3
"""The operations files under ops/ hold what they claim:
- ops/prometheus: `promtool check rules` and `promtool test rules` pass (each alert fires on the
  series that should fire it, after its `for`, and not on a near miss);
- ops/grafana: every metric a dashboard panel queries is a family the engine exports: the
  names are checked against GET /metrics of `streamview run` over the TMS example with demo
  events applied;
- ops/kubernetes: the manifests parse; one replica with the Recreate strategy (one engine per
  store); the three probes on the HTTP port at /health/live, /health/ready, /health/startup; a
  grace period longer than the config's shutdown_grace_ms; a PodDisruptionBudget and a Service
  that select the pods; the ConfigMap's config passes `streamview check`.

    ops_files.py --binary build/src/cli/streamview --source-dir .
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import WaitTimeout, free_port, http_get, verdict, wait_until  # noqa: E402


def check_alerts(src, problems):
    rules = os.path.join(src, "ops", "prometheus")
    for cmd in (["promtool", "check", "rules", "streamview-alerts.yml"],
                ["promtool", "test", "rules", "streamview-alerts.test.yml"]):
        r = subprocess.run(cmd, cwd=rules, capture_output=True, text=True)
        if r.returncode != 0:
            problems.append("%s: %s" % (" ".join(cmd), (r.stdout + r.stderr)[-1500:]))
        else:
            print("ok: %s" % " ".join(cmd))


def check_dashboard(src, binary, tmp, problems):
    with open(os.path.join(src, "ops", "grafana", "streamview-dashboard.json")) as f:
        dashboard = json.load(f)
    used = set()
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            for name in re.findall(r"\b((?:streamview|http|kafka)_[a-z0-9_]+)", target["expr"]):
                used.add(re.sub(r"_(bucket|sum|count)$", "", name))
    config = os.path.join(src, "examples", "tms", "streamview.yaml")
    store = os.path.join(tmp, "tms.db")
    events = os.path.join(tmp, "events.ndjson")
    subprocess.run([binary, "gen", "shipments", "--shipments", "300", "--out", events,
                    "--quiet"], check=True, capture_output=True)
    subprocess.run([binary, "ingest", "--config", config, "--store", store, events], check=True,
                   capture_output=True)
    port = free_port()
    log = open(os.path.join(tmp, "run.log"), "w")
    proc = subprocess.Popen([binary, "run", "--config", config, "--store", store, "--listen",
                             "127.0.0.1:%d" % port], stdout=log, stderr=subprocess.STDOUT)
    try:
        # The counters reach /metrics once the engine has published the commit that applied the
        # demo events (the store shows the rows a moment before): wait for every family the
        # dashboard needs, and name the ones that never come.
        families = set()

        def exported():
            code, text = http_get(port, "/metrics")
            if code == 200:
                families.update(re.findall(r"^# TYPE (\S+)", text, re.M))
            return used <= families
        try:
            wait_until(exported, "every metric the dashboard queries", proc=proc, log=log.name)
        except WaitTimeout:
            pass
    finally:
        proc.terminate()
        proc.wait(timeout=120)
    missing = sorted(used - families)
    if missing or not used:
        problems.append("dashboard queries metrics /metrics does not export: %r (exported: %r)"
                        % (missing, sorted(families)))
    else:
        print("ok: the dashboard's %d panels query %d metrics, each exported by /metrics"
              % (len(dashboard["panels"]), len(used)))


def check_kubernetes(src, binary, tmp, problems):
    with open(os.path.join(src, "ops", "kubernetes", "streamview.yaml")) as f:
        docs = {d["kind"]: d for d in yaml.safe_load_all(f) if d}
    before = len(problems)
    for kind in ("ConfigMap", "Deployment", "PodDisruptionBudget", "Service"):
        if kind not in docs:
            problems.append("kubernetes: no %s" % kind)
    if len(problems) > before:
        return
    config_text = docs["ConfigMap"]["data"]["streamview.yaml"]
    config = yaml.safe_load(config_text)
    path = os.path.join(tmp, "k8s.yaml")
    with open(path, "w") as f:
        f.write(config_text)
    r = subprocess.run([binary, "check", "--config", path], capture_output=True, text=True,
                       env=dict(os.environ, STREAMVIEW_PG_DSN="host=127.0.0.1 dbname=x"))
    if r.returncode != 0:
        problems.append("kubernetes: the ConfigMap's config fails check: %s" % r.stderr[-800:])
    spec = docs["Deployment"]["spec"]
    pod = spec["template"]["spec"]
    container = pod["containers"][0]
    port = {p["name"]: p["containerPort"] for p in container["ports"]}
    listen_port = int(config["server"]["listen"].rsplit(":", 1)[1])
    if spec.get("replicas") != 1 or spec.get("strategy", {}).get("type") != "Recreate":
        problems.append("kubernetes: want replicas 1 and strategy Recreate, got %r / %r"
                        % (spec.get("replicas"), spec.get("strategy")))
    for probe, path_want in (("livenessProbe", "/health/live"), ("readinessProbe", "/health/ready"),
                             ("startupProbe", "/health/startup")):
        get = container.get(probe, {}).get("httpGet", {})
        target = get.get("port")
        target = port.get(target, target)
        if get.get("path") != path_want or target != listen_port:
            problems.append("kubernetes: %s is %r, wanted %s on port %d"
                            % (probe, get, path_want, listen_port))
    grace_ms = config["server"].get("shutdown_grace_ms", 10000)
    if pod.get("terminationGracePeriodSeconds", 30) * 1000 <= grace_ms + 5000:
        problems.append("kubernetes: terminationGracePeriodSeconds %r is not above the config's "
                        "shutdown_grace_ms %d + 5 s" % (pod.get("terminationGracePeriodSeconds"),
                                                         grace_ms))
    labels = spec["template"]["metadata"]["labels"]
    for kind, selector in (("Deployment", spec["selector"]["matchLabels"]),
                           ("PodDisruptionBudget",
                            docs["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"]),
                           ("Service", docs["Service"]["spec"]["selector"])):
        if any(labels.get(k) != v for k, v in selector.items()):
            problems.append("kubernetes: the %s's selector %r does not select the pods %r"
                            % (kind, selector, labels))
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    if not any(a.startswith(mounts.get("config", "/nowhere")) for a in container["args"]):
        problems.append("kubernetes: the container's --config is not in the mounted ConfigMap")
    if len(problems) == before:
        print("ok: the kubernetes manifests: one Recreate replica, three probes on port %d, "
              "grace %ds > %d ms, PDB and Service select the pods, the config passes check"
              % (listen_port, pod["terminationGracePeriodSeconds"], grace_ms))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--binary", required=True)
    ap.add_argument("--source-dir", required=True)
    args = ap.parse_args()
    binary = os.path.abspath(args.binary)
    src = os.path.abspath(args.source_dir)
    tmp = tempfile.mkdtemp(prefix="sv-ops-")
    problems = []
    check_alerts(src, problems)
    check_dashboard(src, binary, tmp, problems)
    check_kubernetes(src, binary, tmp, problems)
    return verdict(problems, tmp)


if __name__ == "__main__":
    sys.exit(main())
