#!/usr/bin/env bash
# Rebuild throughput of orders_view + order_items_view from the embedded log into PostgreSQL,
# against a bare COPY of the same final rows in the same run (one connection, psql \copy of
# text, then the same primary keys and indexes; binary COPY too).
#
#   bash bench/pg_rebuild.sh [ORDERS]     # default 1,000,000 orders ≈ 5M events
#
# Uses the cluster SV_TEST_PG_DSN names, or starts a private one (scripts/pg.sh) and stops it
# afterwards. Needs a release build in build/.
set -euo pipefail
cd "$(dirname "$0")/.."
orders=${1:-1000000}
bin=${SV_BIN:-build/src/cli/streamview}  # SV_BIN: another build, for side-by-side runs
cfg=examples/orders/streamview.yaml
tmp=$(mktemp -d /tmp/sv-pg-rebuild.XXXXXX)
chmod 0755 "$tmp"
started_pg=0
if [[ -z "${SV_TEST_PG_DSN:-}" ]]; then
  pg_env="$(bash scripts/pg.sh start)"
  eval "$pg_env"
  started_pg=1
fi
db="svbench_$$"
cleanup() {
  psql "$SV_TEST_PG_DSN" -Xq -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$tmp"
  if ((started_pg)); then bash scripts/pg.sh stop; fi
}
trap cleanup EXIT
psql "$SV_TEST_PG_DSN" -Xq -c "CREATE DATABASE $db"
host=$(sed -n 's/.*host=\([^ ]*\).*/\1/p' <<<"$SV_TEST_PG_DSN")
port=$(sed -n 's/.*port=\([^ ]*\).*/\1/p' <<<"$SV_TEST_PG_DSN")
user=$(sed -n 's/.*user=\([^ ]*\).*/\1/p' <<<"$SV_TEST_PG_DSN")
uri="postgresql://${user:-postgres}@${host:-127.0.0.1}:${port:-5432}/$db"
ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }

"$bin" gen orders --orders "$orders" --seed 7 --dup-rate 0.01 --reorder-rate 0.01 \
  --malformed-rate 0 --out "$tmp/events.ndjson" --quiet
events=$(wc -l < "$tmp/events.ndjson")
echo "workload: $orders orders, $events log records"
start=$(date +%s%N)
"$bin" ingest --config "$cfg" --store "$uri" "$tmp/events.ndjson" >/dev/null
echo "ingest into PostgreSQL: $(ms "$start") ms"
rm -f "$tmp/events.ndjson"
rebuild_json=$("$bin" rebuild --config "$cfg" --store "$uri" --all 2>"$tmp/rebuild.log")
sed -n 's/.*"msg":"\(rebuild [^"]*\)".*/  \1/p' "$tmp/rebuild.log" | grep -v "ETA" || true
echo "rebuild: $rebuild_json"

# The bare COPY: the same final rows, exported (not timed), loaded into empty tables of the
# same columns on one connection, then the same primary keys and secondary indexes.
q() { psql "$uri" -XAtq -v ON_ERROR_STOP=1 "$@"; }
q -c "CREATE SCHEMA bare"
rows=0
copy_ms=0
copy_bin_ms=0
index_ms=0
for view in orders_view order_items_view; do
  table=$(q -c "SELECT table_name FROM streamview.sv_view_versions WHERE view = '$view' AND active")
  n=$(q -c "SELECT count(*) FROM public.\"$table\"")
  rows=$((rows + n))
  q -c "\\copy public.\"$table\" TO '$tmp/$view.txt'"
  q -c "\\copy public.\"$table\" TO '$tmp/$view.bin' WITH (FORMAT binary)"
  for fmt in txt bin; do
    q -c "SET client_min_messages = warning; DROP TABLE IF EXISTS bare.\"$view\"; CREATE TABLE bare.\"$view\" (LIKE public.\"$table\")"
    opt=""
    [[ $fmt == bin ]] && opt="WITH (FORMAT binary)"
    start=$(date +%s%N)
    q -c "\\copy bare.\"$view\" FROM '$tmp/$view.$fmt' $opt"
    t=$(ms "$start")
    if [[ $fmt == txt ]]; then copy_ms=$((copy_ms + t)); else copy_bin_ms=$((copy_bin_ms + t)); fi
  done
  # Same primary key and indexes, built after the load (as the rebuild does).
  ddl=$(q -c "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'public.\"$table\"'::regclass AND contype = 'p'")
  idx=$(q -c "SELECT replace(pg_get_indexdef(indexrelid), 'public.$table', 'bare.$view') || ';' FROM pg_index WHERE indrelid = 'public.\"$table\"'::regclass AND NOT indisprimary" |
    sed "s/INDEX $table/INDEX bare_$table/")
  start=$(date +%s%N)
  q -c "ALTER TABLE bare.\"$view\" ADD $ddl; $idx"
  index_ms=$((index_ms + $(ms "$start")))
done
echo "bare COPY of the same $rows rows: text ${copy_ms} ms, binary ${copy_bin_ms} ms; then primary keys + indexes ${index_ms} ms"
python3 - "$rebuild_json" "$rows" "$copy_ms" "$copy_bin_ms" "$index_ms" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
rows, text_ms, bin_ms, idx_ms = (int(x) for x in sys.argv[2:])
bare_text = (text_ms + idx_ms) / 1000
bare_bin = (bin_ms + idx_ms) / 1000
print(f"rebuild {r['events_per_second']:,.0f} events/s in {r['total_seconds']:.2f} s "
      f"(fold {r['fold_seconds']:.2f} s, write {r['write_seconds']:.2f} s, {r['threads']} fold "
      f"threads, peak RSS {r['peak_rss_mib']:.0f} MiB); bare text COPY {rows / (text_ms / 1000):,.0f} "
      f"rows/s ({text_ms / 1000:.2f} s), bare binary COPY {rows / (bin_ms / 1000):,.0f} rows/s "
      f"({bin_ms / 1000:.2f} s), + keys/indexes {idx_ms / 1000:.2f} s; rebuild time / bare "
      f"(text COPY + indexes) = {r['total_seconds'] / bare_text:.2f}, / bare (binary COPY + "
      f"indexes) = {r['total_seconds'] / bare_bin:.2f}; rebuild write phase / bare binary = "
      f"{r['write_seconds'] / bare_bin:.2f}")
PY
