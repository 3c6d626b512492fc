#!/usr/bin/env python3
"""Defects of issue 15 item 5 that need the real binary and store.

1. A rebuild killed (-9) while it writes its shadow tables leaves them behind; the next start
   removes them (and the next rebuild does too), on SQLite and PostgreSQL.

    python3 tests/system/defects.py --binary build/src/cli/streamview --source-dir . \
        [--store-kind sqlite|postgres]

Every crash moment is chosen from observed progress (the shadow table holds rows), never from a
clock; every wait has a generous deadline.
"""

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from stores import Store
from rebuild_and_dlq import check, run

STORES = []
KIND = "sqlite"
DEADLINE_S = 600


def new_store(tmp, name):
    store = Store.create(KIND, tmp, name)
    STORES.append(store)
    return store


def version_tables(store):
    """Physical view tables (<view>__v<N>) present in the store."""
    return {t for t in store.tables() if re.fullmatch(r"\w+__v\d+", t)}


def active_tables(store):
    return {r[0] for r in store.rows(
        "SELECT table_name FROM sv_view_versions WHERE active %s" %
        ("<> 0" if store.kind == "sqlite" else ""))}


def kept_tables(store):
    """Inactive versions kept on purpose (a swap's standby): not leftovers."""
    sqlite = store.kind == "sqlite"
    return {r[0] for r in store.rows(
        "SELECT v.table_name FROM sv_view_versions v JOIN sv_view_version_notes n "
        "ON n.view = v.view AND n.version = v.version WHERE %s AND %s"
        % ("v.active = 0" if sqlite else "NOT v.active", "n.kept <> 0" if sqlite else "n.kept"))}


def shadow_with_rows(store, active):
    for t in sorted(version_tables(store) - active - kept_tables(store)):
        try:
            n = store.query('SELECT count(*) FROM "%s"' % t)
        except Exception:  # dropped or not yet committed between listing and counting
            continue
        if n:
            return t
    return None


def kill_rebuild_midway(b, cfg, store, tmp, args):
    """Starts `rebuild args` and kill -9s it once a shadow table holds rows. Returns the shadow
    table seen, or None when every attempt finished before one was seen."""
    for attempt in range(5):
        active = active_tables(store)
        log = open(os.path.join(tmp, "rebuild-%d.log" % attempt), "w")
        p = subprocess.Popen([b, "rebuild", "--config", cfg, "--store", store.arg] + args,
                             stdout=log, stderr=subprocess.STDOUT)
        deadline = time.time() + DEADLINE_S
        seen = None
        while p.poll() is None and time.time() < deadline:
            seen = shadow_with_rows(store, active)
            if seen:
                os.kill(p.pid, signal.SIGKILL)
                break
            time.sleep(0.01)
        p.wait()
        log.close()
        if seen:
            return seen
        print("  (rebuild attempt %d finished before its shadow table was seen; again)" % attempt)
    return None


def leftover_shadow_tables(b, cfg, oracle, tmp):
    print("1. a rebuild killed midway leaves no shadow table behind after the next start")
    events = os.path.join(tmp, "events.ndjson")
    store = new_store(tmp, "shadow")
    run([b, "gen", "orders", "--orders", "60000", "--out", events, "--quiet"])
    run([b, "ingest", "--config", cfg, "--store", store.arg, events])
    run([b, "run", "--config", cfg, "--store", store.arg, "--listen", "127.0.0.1:0",
         "--exit-when-caught-up"])
    for how, restart in (
            ("the next start", ["run", "--listen", "127.0.0.1:0", "--exit-when-caught-up"]),
            ("the next rebuild", ["rebuild", "--view", "orders_view"])):
        shadow = kill_rebuild_midway(b, cfg, store, tmp, ["--all"])
        check(shadow is not None, "kill -9 landed while the rebuild had written rows to %s" % shadow)
        check(shadow in version_tables(store), "%s is still there after the kill" % shadow)
        run([b] + restart[:1] + ["--config", cfg, "--store", store.arg] + restart[1:])
        kept = kept_tables(store)
        left = version_tables(store) - active_tables(store) - kept
        check(not left, "%s removed the leftover version tables (left: %s)" % (how, sorted(left)))
        inactive = store.query("SELECT count(*) FROM sv_view_versions WHERE active %s" %
                               ("= 0" if store.kind == "sqlite" else "IS NOT TRUE"))
        check(inactive == len(kept), "no inactive version is recorded but the kept standbys "
              "(%s, kept %s)" % (inactive, sorted(kept)))
        run([sys.executable, oracle, "--events", events] + store.oracle_args())
        check(True, "oracle agrees after %s" % how)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--binary", required=True)
    p.add_argument("--source-dir", required=True)
    p.add_argument("--store-kind", default="sqlite", choices=["sqlite", "postgres"])
    a = p.parse_args()
    global KIND
    KIND = a.store_kind
    cfg = os.path.join(a.source_dir, "examples", "orders", "streamview.yaml")
    oracle = os.path.join(a.source_dir, "tests", "oracle", "orders_oracle.py")
    tmp = tempfile.mkdtemp(prefix="sv-defects-")
    try:
        leftover_shadow_tables(a.binary, cfg, oracle, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        for store in STORES:
            store.drop()
    print("PASSED")


if __name__ == "__main__":
    main()
