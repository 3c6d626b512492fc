#!/usr/bin/env bash
# Cold start (issue 20): open a store holding ROWS rows (default 10,000,000) in orders_view and
# serve the first GET. Prints the time from starting `streamview run` to the first 200 answer of
# GET /orders/{id}, and of /health/startup, three times: each after dropping the page cache
# (as root; otherwise with whatever the cache holds, said in the output).
# Usage: bench/cold_start.sh [ROWS]. Needs a release build in build/.
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${1:-10000000}
bin=${SV_BIN:-build/src/cli/streamview}
tmp=$(mktemp -d /tmp/sv-cold.XXXXXX)
# (no kill here: the Python driver stops each run; `kill 0` would end the caller's whole group)
trap 'rm -rf "$tmp"' EXIT
cfg=examples/orders/streamview.yaml
build/bench/fill_orders_view --config "$cfg" --store "$tmp/sv.db" --rows "$rows" >/dev/null
echo "store: $rows rows, $(du -m "$tmp/sv.db" | cut -f1) MiB"
for run in 1 2 3; do
  sync
  if echo 3 > /proc/sys/vm/drop_caches 2>/dev/null; then cache="page cache dropped"; else cache="page cache as it was"; fi
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  python3 - "$bin" "$cfg" "$tmp/sv.db" "$port" "$run ($cache)" <<'PY'
import subprocess, sys, time, urllib.request
binary, cfg, store, port, run = sys.argv[1:]
started = time.monotonic()
proc = subprocess.Popen([binary, "run", "--config", cfg, "--store", store, "--listen",
                         "127.0.0.1:" + port], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
def first_ok(path):
    while True:
        try:
            with urllib.request.urlopen("http://127.0.0.1:%s%s" % (port, path), timeout=5) as r:
                if r.status == 200:
                    return time.monotonic() - started
        except Exception:
            pass
        if proc.poll() is not None:
            raise SystemExit("streamview exited %d" % proc.returncode)
        time.sleep(0.005)
get = first_ok("/orders/o-0000042")
startup = first_ok("/health/startup")
proc.terminate()
proc.wait()
print("run %s: first GET /orders/{id} answered 200 after %.3f s; /health/startup 200 after %.3f s"
      % (run, get, startup))
PY
done
