#!/usr/bin/env bash
# Steady state: `streamview run` while events are appended at a fixed rate; reports the latency
# from append to commit in the views (p50/p99/p99.9). Usage: bench/steady.sh [RATE] [ORDERS]
# (RUN_PREFIX="perf record -g --" profiles the engine process.) STORE=postgresql://... runs it
# against an (empty) PostgreSQL database instead of a fresh SQLite file.
# BATCH=N: events per append (default RATE/1000, i.e. 1,000 appends a second).
set -euo pipefail
cd "$(dirname "$0")/.."
rate=${1:-20000}
orders=${2:-100000}
bin=${SV_BIN:-build/src/cli/streamview}  # SV_BIN: another build, for side-by-side runs
tmp=$(mktemp -d /tmp/sv-steady.XXXXXX)
cfg=${SV_CONFIG:-examples/orders/streamview.yaml}  # SV_CONFIG: another config (A/B)
store=${STORE:-$tmp/sv.db}
trap 'kill "$run_pid" 2>/dev/null || true; rm -rf "$tmp"' EXIT

"$bin" gen orders --orders "$orders" --seed 11 --dup-rate 0.01 --reorder-rate 0.01 \
  --out "$tmp/events.ndjson" --quiet
events=$(wc -l < "$tmp/events.ndjson")
"$bin" ingest --config "$cfg" --store "$store" /dev/null >/dev/null   # creates the store
${RUN_PREFIX:-} "$bin" run --config "$cfg" --store "$store" --latency-report "$tmp/latency.json" \
  2>"$tmp/run.log" &
run_pid=$!
sleep 1
# Appends of rate/1000 lines every millisecond.
batch=${BATCH:-$(( rate / 1000 > 0 ? rate / 1000 : 1 ))}  # BATCH: events per append
start=$(date +%s%N)
"$bin" ingest --config "$cfg" --store "$store" --rate "$rate" --batch "$batch" \
  "$tmp/events.ndjson" >/dev/null
elapsed=$(( ($(date +%s%N) - start) / 1000000 ))
sleep 2
kill -TERM "$run_pid"
wait "$run_pid" || true
echo "appended $events events in ${elapsed} ms (target rate $rate/s, batches of $batch)"
echo "append-to-commit latency: $(cat "$tmp/latency.json")"
