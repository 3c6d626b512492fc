#!/usr/bin/env bash
# Every row of issue 20's table in one sitting, then the table: each measure's target, the
# command that measured it and its summary line (the figure, its split and the bare baseline of
# the same run). About 20 minutes on the development machine (2 vCPUs) at the issue's sizes.
#
#   bash scripts/build.sh release && bash bench/all.sh
#   SCALE=0.02 bash bench/all.sh     # every size × 0.02: a smoke run of the scripts (~2 min)
#   ONLY="rebuild derived" bash bench/all.sh   # some rows (names: rebuild kafka derived
#                                              # pg_steady http http_covering growth cold_start)
#
# PostgreSQL rows use the cluster SV_TEST_PG_DSN names, or start a private one (scripts/pg.sh).
# Each script's full output is kept in $OUT (default /tmp/sv-bench-all) as <row>.log.
set -uo pipefail
cd "$(dirname "$0")/.."
scale=${SCALE:-1}
out=${OUT:-/tmp/sv-bench-all}
mkdir -p "$out"
only=" ${ONLY:-rebuild kafka derived pg_steady http http_covering growth cold_start} "
size() { python3 -c "import sys; print(max(1000, int($1 * $scale)))"; }

pg_started=""
if [[ "$only" == *" pg_steady "* && -z "${SV_TEST_PG_DSN:-}" ]]; then
  eval "$(bash scripts/pg.sh start)"
  pg_started=1
fi
trap '[ -n "$pg_started" ] && bash scripts/pg.sh stop' EXIT

declare -a rows
# row NAME "measure" "target" COMMAND... : runs COMMAND into $out/NAME.log (with its time).
row() {
  local name=$1 measure=$2 target=$3
  shift 3
  [[ "$only" == *" $name "* ]] || return 0
  echo "== $name: $*" >&2
  local start=$SECONDS
  "$@" > "$out/$name.log" 2>&1
  local rc=$?
  rows+=("$name|$measure|$target|$*|$rc|$((SECONDS - start))")
}

row rebuild "SQLite rebuild, 1M orders (5.05M events); peak RSS" \
  "≥ 500k events/s, ≤ 1.3× bare write; RSS ≤ 768 MiB" \
  bash bench/rebuild.sh "$(size 1000000)"
row kafka "Kafka, 4 partitions → SQLite, 1M orders" "≥ 300k events/s, ≥ 0.7× bare consume" \
  env SKIP_STEADY=1 bash bench/kafka.sh "$(size 1000000)"
row derived "derived graph catch-up (list + daily + p95), 830k shipments; peak RSS" \
  "≥ 0.8× base view alone, ≥ 250k events/s; RSS ≤ 768 MiB" \
  bash bench/derived.sh "$(size 830000)"
pg_steady() {
  local db="sv_bench_steady_$$"
  # --store takes a URI: the keyword DSN's host, port and user, on a fresh database per run.
  local uri
  uri=$(python3 -c 'import sys; kv = dict(p.split("=", 1) for p in sys.argv[1].split())
print("postgresql://%s@%s:%s/" % (kv.get("user", "postgres"), kv.get("host", "127.0.0.1"),
                                   kv.get("port", "5432")))' "$SV_TEST_PG_DSN")
  for run in 1 2 3; do
    psql "$SV_TEST_PG_DSN" -qc "DROP DATABASE IF EXISTS $db" -qc "CREATE DATABASE $db" >/dev/null
    echo "run $run: $(STORE="$uri$db" bash bench/steady.sh 10000 "$(size 60000)" | grep latency)"
  done
  psql "$SV_TEST_PG_DSN" -qc "DROP DATABASE IF EXISTS $db" >/dev/null
}
row pg_steady "PostgreSQL steady, 10k events/s, p99 append → committed (3 runs)" \
  "p99 ≤ 30 ms in 3 runs of 3" pg_steady
row http "filtered page of 50, 10M rows, while ingesting 10k events/s" \
  "p99 ≤ 10 ms at ≥ 5k req/s" bash bench/http.sh "$(size 10000000)" 10000 20
row http_covering "the same page, its index covering (README \"Reads\"), while ingesting 10k events/s" \
  "p99 ≤ 10 ms at ≥ 5k req/s" env INDEX=covering bash bench/http.sh "$(size 10000000)" 10000 20
if [[ -f bench/growth.sh ]]; then
  row growth "cost per event as the data grows (TMS, 2 base + 7 derived views)" \
    "rate at 500k ≥ 0.9× rate at 20k; RSS bounded by config" bash bench/growth.sh
fi
row cold_start "cold start: open a 10M-row store, serve the first GET" "≤ 1 s" \
  bash bench/cold_start.sh "$(size 10000000)"

# The table: each row's summary lines (the scripts' own last words), with the command.
echo
echo "| row | measure | target | result (summary lines of \$OUT/<row>.log) | command | s |"
echo "|---|---|---|---|---|---|"
for r in "${rows[@]}"; do
  IFS='|' read -r name measure target cmd rc secs <<< "$r"
  summary=$(grep -E "events/s|latency|requests/s|first GET|ratio|rebuild time|engine/bare|catch-up" \
    "$out/$name.log" | grep -v "^==" | tail -4 | tr '\n' ' ' | sed 's/|/\//g')
  [[ "$rc" == 0 ]] || summary="FAILED (exit $rc): $(tail -2 "$out/$name.log" | tr '\n' ' ')"
  echo "| $name | $measure | $target | ${summary:0:600} | \`$cmd\` | $secs |"
done
