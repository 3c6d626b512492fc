#!/usr/bin/env bash
# What an idle engine costs on PostgreSQL: `streamview run` on the orders example over an empty
# embedded log for SECONDS, then a burst of appends; reports the statements its database ran
# (pg_stat_database.xact_commit, every backend of that database) and the engine's CPU time while
# idle, and how long the burst took to be committed (the tail waits on the appends' NOTIFY).
# Usage: bench/pg_idle.sh [SECONDS]  (needs SV_TEST_PG_DSN: `eval "$(bash scripts/pg.sh start)"`)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
bin=${SV_BIN:-build/src/cli/streamview}  # SV_BIN: another build, for side-by-side runs
: "${SV_TEST_PG_DSN:?run eval \"\$(bash scripts/pg.sh start)\" first}"
db=sv_idle_$$
tmp=$(mktemp -d /tmp/sv-pg-idle.XXXXXX)
cfg=examples/orders/streamview.yaml
psql_admin() { psql "$SV_TEST_PG_DSN" -qAtX -v ON_ERROR_STOP=1 -c "$1"; }
cleanup() {
  kill "$run_pid" 2>/dev/null || true
  wait "$run_pid" 2>/dev/null || true
  psql_admin "DROP DATABASE IF EXISTS $db WITH (FORCE)" || true
  rm -rf "$tmp"
}
run_pid=
trap cleanup EXIT
psql_admin "CREATE DATABASE $db"
store="postgresql:///$db?host=127.0.0.1&port=$SV_PG_PORT&user=postgres"
commits() { psql_admin "SELECT xact_commit FROM pg_stat_database WHERE datname = '$db'"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$run_pid/stat"; }

"$bin" ingest --config "$cfg" --store "$store" /dev/null >/dev/null  # creates the store
"$bin" run --config "$cfg" --store "$store" 2>"$tmp/run.log" &
run_pid=$!
# Started once its first poll ran: the engine's positions exist.
for _ in $(seq 600); do
  grep -q '"started"\|listening\|caught up' "$tmp/run.log" 2>/dev/null && break
  sleep 0.1
done
sleep 1
c0=$(commits); t0=$(cpu_ticks)
sleep "$seconds"
c1=$(commits); t1=$(cpu_ticks)
hz=$(getconf CLK_TCK)
echo "idle ${seconds} s: $(( (c1 - c0) / seconds )) transactions/s in the store's database," \
  "engine CPU $(awk -v t=$((t1 - t0)) -v hz="$hz" -v s="$seconds" 'BEGIN{printf "%.1f", 100*t/hz/s}') %"
"$bin" gen orders --orders 2000 --seed 3 --out "$tmp/events.ndjson" --quiet
events=$(wc -l < "$tmp/events.ndjson")
start=$(date +%s%N)
"$bin" ingest --config "$cfg" --store "$store" "$tmp/events.ndjson" >/dev/null
end_position=$events
until [ "$(psql "postgresql:///$db?host=127.0.0.1&port=$SV_PG_PORT&user=postgres" -qAtX -c \
  "SELECT COALESCE(MAX(position), 0) FROM streamview.sv_positions" 2>/dev/null || echo 0)" \
  -ge "$end_position" ]; do
  sleep 0.01
done
echo "a burst of $events events appended and committed in $(( ($(date +%s%N) - start) / 1000000 )) ms"
