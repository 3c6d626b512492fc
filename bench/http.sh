#!/usr/bin/env bash
# HTTP read throughput and latency on a large orders_view while events are being ingested.
# Usage: bench/http.sh [ROWS] [RATE] [SECONDS]   (defaults 10,000,000 rows, 10,000 events/s, 20 s)
# INDEX=covering bench/http.sh ...: the same with the page's index covering (below).
# Needs a release build in build/ and wrk (scripts/setup.sh installs it).
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${1:-10000000}
rate=${2:-10000}
seconds=${3:-20}
bin=${SV_BIN:-build/src/cli/streamview}  # SV_BIN: another build, for side-by-side runs
tmp=$(mktemp -d /tmp/sv-http.XXXXXX)
trap 'kill $run_pid $ingest_pid 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$tmp"' EXIT
run_pid=""  # empty, never 0: `kill 0` would end the caller's whole process group
ingest_pid=""
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
# The example config, with as many HTTP workers as wrk connections.
sed 's/^  shutdown_grace_ms: 10000/  shutdown_grace_ms: 10000\n  threads: 16/' \
  examples/orders/streamview.yaml > "$tmp/streamview.yaml"
# INDEX=covering: the page's index made covering — the filter, the sort, the key, then every column
# a page returns (README "Reads"), so a page reads one index range instead of seeking a table
# leaf per row; its cost is a wider index entry rewritten by every event (BENCHMARKS.md, issue 20).
if [[ "${INDEX:-}" == covering ]]; then
  sed -i 's/^      - \[status, updated_at\] .*/      - [status, updated_at, order_id, customer_id, total_net, total_gross, currency, item_count, last_event_sequence, last_event_id]/' \
    "$tmp/streamview.yaml"
  grep -q "updated_at, order_id, customer_id" "$tmp/streamview.yaml"
fi
cfg=$tmp/streamview.yaml

start=$(date +%s)
build/bench/fill_orders_view --config "$cfg" --store "$tmp/sv.db" --rows "$rows" >/dev/null
echo "filled orders_view with $rows rows in $(( $(date +%s) - start )) s"
"$bin" gen orders --orders 300000 --seed 5 --dup-rate 0.01 --reorder-rate 0.01 \
  --out "$tmp/events.ndjson" --quiet
"$bin" run --config "$cfg" --store "$tmp/sv.db" --listen "127.0.0.1:$port" 2>"$tmp/run.log" &
run_pid=$!
for _ in $(seq 1 300); do
  curl -sf "$base/health/startup" >/dev/null 2>&1 && break
  sleep 0.2
done
"$bin" ingest --config "$cfg" --store "$tmp/sv.db" --rate "$rate" --batch $(( rate / 1000 )) \
  "$tmp/events.ndjson" >/dev/null &
ingest_pid=$!
sleep 2

report() {  # name, wrk output
  python3 - "$1" "$2" <<'PY'
import re, sys
name, out = sys.argv[1], sys.argv[2]
rps = re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)
lat = dict(re.findall(r"^\s+(50|90|99)%\s+([\d.]+\w+)", out, re.M))
non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
print(f"{name}: {float(rps):,.0f} requests/s, p50 {lat.get('50')}, p90 {lat.get('90')}, "
      f"p99 {lat.get('99')}, non-2xx {non2xx.group(1) if non2xx else 0}")
PY
}
out=$(ROWS=$rows wrk -t2 -c16 -d"${seconds}s" --latency -s bench/wrk/get_order.lua "$base")
report "GET /orders/{id}" "$out"
out=$(wrk -t2 -c16 -d"${seconds}s" --latency -s bench/wrk/page.lua "$base")
report "GET /orders?status=S&sort=-updated_at&limit=50" "$out"
# The 1000th page by cursor versus the first, same filter and sort.
first="/orders?status=Shipped&sort=-updated_at&limit=50"
page1000=$(python3 - "$base" "$first" <<'PY'
import json, sys, urllib.request
base, path = sys.argv[1], sys.argv[2]
for _ in range(999):
    with urllib.request.urlopen(base + path) as r:
        link = r.headers["Link"]
    path = link.split(">")[0].lstrip("<")
print(path)
PY
)
out=$(PATH_TO_GET="$first" wrk -t2 -c16 -d"${seconds}s" --latency -s bench/wrk/fixed.lua "$base")
report "page 1 of status=Shipped by -updated_at" "$out"
out=$(PATH_TO_GET="$page1000" wrk -t2 -c16 -d"${seconds}s" --latency -s bench/wrk/fixed.lua "$base")
report "page 1000 of the same, by cursor" "$out"
lag=$(curl -s "$base/metrics" | grep '^streamview_view_lag_events{view="orders_view"}' || true)
echo "while ingesting at $rate events/s; at the end: $lag"
