#!/usr/bin/env bash
# Autocomplete lookups over HTTP at ROWS rows (default 1,000,000): a lookup over orders_view's
# customer_id, the first read's load time, then wrk with random prefixes for SECONDS (default 20).
# Usage: bench/lookup_http.sh [ROWS] [SECONDS]. Needs a release build in build/ and wrk.
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${1:-1000000}
seconds=${2:-20}
bin=${SV_BIN:-build/src/cli/streamview}
tmp=$(mktemp -d /tmp/sv-lookup-http.XXXXXX)
run_pid=""  # empty, never 0: `kill 0` would end the caller's whole process group
trap 'kill $run_pid 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$tmp"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
sed 's/^  shutdown_grace_ms: 10000/  shutdown_grace_ms: 10000\n  threads: 16/' \
  examples/orders/streamview.yaml > "$tmp/streamview.yaml"
cat >> "$tmp/streamview.yaml" <<'YAML'
lookups:
  customers:
    view: orders_view
    label: customer_id
    fields: [order_id, customer_id, status]
YAML
cfg=$tmp/streamview.yaml
build/bench/fill_orders_view --config "$cfg" --store "$tmp/sv.db" --rows "$rows" >/dev/null
"$bin" run --config "$cfg" --store "$tmp/sv.db" --listen "127.0.0.1:$port" 2>"$tmp/run.log" &
run_pid=$!
for _ in $(seq 1 300); do
  curl -sf "$base/health/startup" >/dev/null 2>&1 && break
  sleep 0.2
done
load=$(curl -s -o /dev/null -w '%{time_total}' "$base/lookups/customers?q=c-1")
rss=$(awk '/VmRSS/ {print $2}' "/proc/$run_pid/status")
echo "first read after startup (waits for the preload of $rows rows begun at startup): ${load} s; server RSS after: $((rss / 1024)) MiB"
out=$(wrk -t2 -c16 -d"${seconds}s" --latency -s bench/wrk/lookup.lua "$base")
python3 - "$out" <<'PY'
import re, sys
out = sys.argv[1]
rps = re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)
lat = dict(re.findall(r"^\s+(50|90|99)%\s+([\d.]+\w+)", out, re.M))
non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
print(f"GET /lookups/customers?q=c-<1-3 digits>&limit=10: {float(rps):,.0f} requests/s, "
      f"p50 {lat.get('50')}, p90 {lat.get('90')}, p99 {lat.get('99')}, "
      f"non-2xx {non2xx.group(1) if non2xx else 0}")
PY
