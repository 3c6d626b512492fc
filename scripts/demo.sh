#!/usr/bin/env bash
# The first thing to run: installs, builds, then generates 2,000 orders (~10k events with
# duplicates, swaps and a few malformed lines), ingests them, runs the engine until caught up,
# shows the views and the dead letters, and checks everything with the independent oracle.
# KEEP=1 keeps the temp dir with the events and the store.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

bash scripts/setup.sh
bash scripts/build.sh release

sv="$root/build/src/cli/streamview"
config="$root/examples/orders/streamview.yaml"
tmp="$(mktemp -d -t streamview-demo.XXXXXX)"
if [[ "${KEEP:-0}" == 1 ]]; then
  echo "demo: files in $tmp"
else
  trap 'rm -rf "$tmp"' EXIT
fi
db="$tmp/orders.db"
cd "$tmp"

echo "== streamview gen orders"
"$sv" gen orders --orders 2000 --dup-rate 0.05 --reorder-rate 0.05 --malformed-rate 0.002 \
  --out events.ndjson
echo "== streamview ingest"
"$sv" ingest --config "$config" --store "$db" events.ndjson
echo "== streamview run --exit-when-caught-up"
"$sv" run --config "$config" --store "$db" --exit-when-caught-up

echo "== orders_view"
sqlite3 -header -column "$db" \
  "SELECT order_id, customer_id, status, total_net, total_gross, currency, item_count,
          last_event_sequence, updated_at
     FROM orders_view ORDER BY order_id LIMIT 5"
echo "== order_items_view"
sqlite3 -header -column "$db" \
  "SELECT * FROM order_items_view ORDER BY order_id, line_no LIMIT 5"
echo "== counts"
sqlite3 -header -column "$db" \
  "SELECT (SELECT count(*) FROM orders_view) AS orders,
          (SELECT count(*) FROM order_items_view) AS items,
          (SELECT count(*) FROM sv_dead_letters) AS dead_letters,
          (SELECT count(*) FROM orders_view WHERE status = 'Delivered') AS delivered"
echo "== streamview dlq list"
"$sv" dlq list --config "$config" --store "$db"
echo "== oracle"
python3 "$root/tests/oracle/orders_oracle.py" --events events.ndjson --db "$db"

# Derived views (seed 000's reporting views as SQL over the list views, kept exact in the
# transaction of each event): the transport example.
tms_config="$root/examples/tms/streamview.yaml"
tms_db="$tmp/tms.db"
echo "== streamview gen shipments | ingest | run (examples/tms: derived views)"
"$sv" gen shipments --shipments 3000 --out shipments.ndjson
"$sv" ingest --config "$tms_config" --store "$tms_db" shipments.ndjson
"$sv" run --config "$tms_config" --store "$tms_db" --exit-when-caught-up --listen 127.0.0.1:0
echo "== carrier_performance (derived: on-time rate, p95 transit days)"
sqlite3 -header -column "$tms_db" \
  "SELECT org_id, month, carrier_id, shipments, delivered, round(on_time_rate, 3) AS on_time_rate,
          round(p95_transit_days, 2) AS p95_transit_days, damaged + delayed + customs AS exceptions
     FROM carrier_performance ORDER BY org_id, month, carrier_id LIMIT 5"
echo "== dashboard_counters (derived)"
sqlite3 -header -column "$tms_db" "SELECT * FROM dashboard_counters ORDER BY org_id"
echo "== streamview verify (each derived view against its own SELECT run by SQLite)"
"$sv" verify --config "$tms_config" --store "$tms_db"
