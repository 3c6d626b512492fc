#!/usr/bin/env bash
# Rebuild throughput of orders_view + order_items_view from the embedded log, against a bare
# SQLite loop writing the same final rows, in the same run. Usage: bench/rebuild.sh [ORDERS]
# (default 1,000,000 orders ≈ 5M events). Needs a release build in build/.
set -euo pipefail
cd "$(dirname "$0")/.."
orders=${1:-1000000}
bin=${SV_BIN:-build/src/cli/streamview}  # SV_BIN: another build, for side-by-side runs
tmp=$(mktemp -d /tmp/sv-rebuild.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
cfg=examples/orders/streamview.yaml

"$bin" gen orders --orders "$orders" --seed 7 --dup-rate 0.01 --reorder-rate 0.01 \
  --malformed-rate 0 --out "$tmp/events.ndjson" --quiet
events=$(wc -l < "$tmp/events.ndjson")
echo "workload: $orders orders, $events log records"
start=$(date +%s%N)
"$bin" ingest --config "$cfg" --store "$tmp/sv.db" "$tmp/events.ndjson" >/dev/null
echo "ingest: $(( ($(date +%s%N) - start) / 1000000 )) ms"
# First build of the views happens at the first run: use rebuild --all, the measured path.
rebuild_json=$("$bin" rebuild --config "$cfg" --store "$tmp/sv.db" --all 2>"$tmp/rebuild.log")
sed -n 's/.*"msg":"\(rebuild [^"]*\)".*/  \1/p' "$tmp/rebuild.log" | grep -v "ETA" || true
echo "rebuild: $rebuild_json"
bare_json=$(build/bench/bare_sqlite_writer --from "$tmp/sv.db" --to "$tmp/bare.db" \
  orders_view order_items_view)
echo "bare sqlite loop, same rows: $bare_json"
python3 - "$rebuild_json" "$bare_json" <<'PY'
import json, sys
r, b = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(f"rebuild {r['events_per_second']:,.0f} events/s in {r['total_seconds']:.2f} s "
      f"(fold {r['fold_seconds']:.2f} s, write {r['write_seconds']:.2f} s, {r['threads']} fold threads, "
      f"peak RSS {r['peak_rss_mib']:.0f} MiB); bare loop writes the same {b['rows']:,} rows in "
      f"{b['seconds']:.2f} s ({b['rows_per_second']:,.0f} rows/s); "
      f"rebuild time / bare write time = {r['total_seconds'] / b['seconds']:.2f}")
PY
