#!/usr/bin/env bash
# The 3-view graph of issue 6 — shipments_view, daily_metrics and a p95-transit aggregate
# (examples/tms) — over the shipments workload, into SQLite. Measures, in the same run:
#   catch-up: `run --exit-when-caught-up` over the whole log (the steady path, batch commits);
#   rebuild:  `rebuild --all` (parallel fold, bulk writes, derived views computed from the
#             rebuilt base table and swapped in the same transaction);
#   and the same two with the base view alone, for the cost of the derived views.
# Usage: bench/derived.sh [SHIPMENTS] (default 830,000 ≈ 5M events). Needs build/ (release).
set -euo pipefail
cd "$(dirname "$0")/.."
shipments=${1:-830000}
bin=${SV_BIN:-build/src/cli/streamview}  # SV_BIN: another build, for side-by-side runs
tmp=$(mktemp -d /tmp/sv-derived.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
python3 - "$tmp" <<'PY'
import sys
tmp = sys.argv[1]
s = open('examples/tms/streamview.yaml').read()
head = s[:s.index('  consignments_view:')]
daily = s[s.index('  daily_metrics:'):s.index('  # Per organization x month x carrier')]
p95 = '''  transit_p95:
    sql: |
      CREATE VIEW transit_p95 AS
      SELECT org_id, carrier_id, service, count(*) AS shipments,
             percentile_cont(0.95) WITHIN GROUP (ORDER BY transit_days) AS p95_transit_days
      FROM shipments_view GROUP BY org_id, carrier_id, service
'''
open(f'{tmp}/graph.yaml', 'w').write(head + 'derived_views:\n' + daily + p95)
open(f'{tmp}/base.yaml', 'w').write(head)
PY
"$bin" gen shipments --shipments "$shipments" --seed 7 --out "$tmp/events.ndjson" --quiet
events=$(wc -l < "$tmp/events.ndjson")
echo "workload: $shipments shipments, $events log records"
for cfg in graph base; do
  db="$tmp/$cfg.db"
  "$bin" ingest --config "$tmp/$cfg.yaml" --store "$db" "$tmp/events.ndjson" >/dev/null
  start=$(date +%s%N)
  /usr/bin/time -f "%M" -o "$tmp/rss" "$bin" run --config "$tmp/$cfg.yaml" --store "$db" \
    --exit-when-caught-up --listen 127.0.0.1:0 2>/dev/null
  ms=$(( ($(date +%s%N) - start) / 1000000 ))
  echo "$cfg catch-up: $events events in $ms ms = $(( events * 1000 / ms )) events/s, peak RSS $(( $(cat "$tmp/rss") / 1024 )) MiB"
  json=$("$bin" rebuild --config "$tmp/$cfg.yaml" --store "$db" --all 2>/dev/null)
  echo "$cfg rebuild: $json"
done
sqlite3 "$tmp/graph.db" "SELECT 'rows: shipments_view ' || (SELECT count(*) FROM shipments_view) ||
  ', daily_metrics ' || (SELECT count(*) FROM daily_metrics) ||
  ', transit_p95 ' || (SELECT count(*) FROM transit_p95)"
