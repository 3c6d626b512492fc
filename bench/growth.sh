#!/usr/bin/env bash
# Cost per event as the data grows (issue 20): a TMS config of 2 base views (examples/tms's
# shipments_view and consignments_view) and 7 derived views written plainly, as a new user
# would — 2 joins, 5 aggregates (a p95 percentile, a COUNT DISTINCT, a JSON array) — caught up
# from the embedded log by `run --exit-when-caught-up` at several sizes, in one sitting. The
# per-event rate should not fall as the log grows: the ratio of the largest to the smallest
# size is the figure (target ≥ 0.9), and peak RSS should follow the config, not the input.
#
#   bash bench/growth.sh [SIZES...]          # default: 20000 100000 (shipments; ≈ 6 events each)
#   SV_STORE=postgres bash bench/growth.sh   # PostgreSQL store (the cluster SV_TEST_PG_DSN names)
#   SV_PERF=1 ...                            # also `perf record -g` each run (perf-<N>.data here)
# SV_BIN: the streamview binary (default build/src/cli/streamview; buildc/ if build/ is absent).
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=("$@")
((${#sizes[@]})) || sizes=(20000 100000)
bin=${SV_BIN:-build/src/cli/streamview}
[[ -x "$bin" ]] || bin=buildc/src/cli/streamview
store=${SV_STORE:-sqlite}
tmp=$(mktemp -d /tmp/sv-growth.XXXXXX)
chmod 0755 "$tmp"
dbs=()
cleanup() {
  for db in "${dbs[@]}"; do
    psql "$SV_TEST_PG_DSN" -Xq -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  done
  [[ -n "${SV_KEEP:-}" ]] || rm -rf "$tmp"
}
trap cleanup EXIT

python3 - "$tmp" <<'PY'
import sys
tmp = sys.argv[1]
s = open('examples/tms/streamview.yaml').read()
# examples/tms: the two base views and four derived views (daily_metrics, carrier_performance
# with its p95, dashboard_counters with COUNT DISTINCT, the consignment_list join) ...
s = s.replace('server:\n  listen: 127.0.0.1:8080\n', 'server:\n  listen: 127.0.0.1:0\n')
# ... and three more a shipment detail page asks for: a shipment's consignments as a JSON
# array, the shipment row joined with it, and handling units by organization and unit type
# over the consignment_list join.
s += '''
  shipment_consignments:
    sql: |
      CREATE VIEW shipment_consignments AS
      SELECT shipment_id, count(*) AS consignments, sum(units) AS units,
             json_agg(json_build_object('id', consignment_id, 'type', unit_type,
                                        'units', units, 'kg', weight_kg) ORDER BY added_at) AS items
      FROM consignments_view
      GROUP BY shipment_id

  shipment_detail:
    sql: |
      CREATE VIEW shipment_detail AS
      SELECT s.shipment_id, s.org_id, s.reference, s.status, s.carrier_id, s.created_at,
             c.consignments, c.units, c.items
      FROM shipments_view s LEFT JOIN shipment_consignments c ON s.shipment_id = c.shipment_id

  units_by_org:
    sql: |
      CREATE VIEW units_by_org AS
      SELECT org_id, unit_type, count(*) AS consignments, sum(units) AS units,
             sum(weight_kg) AS weight_kg, avg(weight_kg) AS avg_weight_kg
      FROM consignment_list
      GROUP BY org_id, unit_type
'''
open(f'{tmp}/growth.yaml', 'w').write(s)
PY

store_for() {  # the --store argument of one run
  if [[ $store == postgres ]]; then
    local db="svgrowth_$$_$1"
    psql "$SV_TEST_PG_DSN" -Xq -c "CREATE DATABASE $db"
    dbs+=("$db")
    local host port user
    host=$(sed -n 's/.*host=\([^ ]*\).*/\1/p' <<<"$SV_TEST_PG_DSN")
    port=$(sed -n 's/.*port=\([^ ]*\).*/\1/p' <<<"$SV_TEST_PG_DSN")
    user=$(sed -n 's/.*user=\([^ ]*\).*/\1/p' <<<"$SV_TEST_PG_DSN")
    echo "postgresql://${user:-postgres}@${host:-127.0.0.1}:${port:-5432}/$db"
  else
    echo "$tmp/growth-$1.db"
  fi
}

echo "store $store, load average $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores, binary $bin"
first_rate=""
for n in "${sizes[@]}"; do
  "$bin" gen shipments --shipments "$n" --seed 7 --out "$tmp/events.ndjson" --quiet
  events=$(wc -l <"$tmp/events.ndjson")
  uri=$(store_for "$n")
  "$bin" ingest --config "$tmp/growth.yaml" --store "$uri" "$tmp/events.ndjson" >/dev/null
  rm -f "$tmp/events.ndjson"
  runner=()
  [[ -n "${SV_PERF:-}" ]] && runner=(perf record -g -o "perf-$n.data" --)
  start=$(date +%s%N)
  /usr/bin/time -f "%e %U %S %M" -o "$tmp/rss" "${runner[@]}" "$bin" run --config "$tmp/growth.yaml" \
    --store "$uri" --exit-when-caught-up 2>"$tmp/run-$n.log" || { cat "$tmp/run-$n.log"; exit 1; }
  ms=$(( ($(date +%s%N) - start) / 1000000 ))
  rate=$(( events * 1000 / ms ))
  [[ -n $first_rate ]] || first_rate=$rate
  ratio=$(python3 -c "print(f'{$rate / $first_rate:.2f}')")
  echo "$n shipments: $events events in $ms ms = $rate events/s (${ratio}x the first size)," \
    "peak RSS $(( $(tail -1 "$tmp/rss" | cut -d" " -f4) / 1024 )) MiB, cpu user+sys $(tail -1 "$tmp/rss" | cut -d" " -f2-3) s"
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
