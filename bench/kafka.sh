#!/usr/bin/env bash
# Kafka source throughput and latency on librdkafka's mock cluster (3 brokers, 4 partitions),
# everything on this machine's cores: the mock, the producer and the consumer.
#   bench/kafka.sh [ORDERS] [RATE]   (defaults 1,000,000 orders ≈ 5M events; 20,000 events/s)
#   LANES=n / BATCH_EVENTS=n override the engine's settings for A/B runs; SKIP_STEADY=1 /
#   ONLY_STEADY=1 run one half.
# 1. A bare librdkafka consume loop over the stream (kafka_tool bare), then the engine into
#    SQLite views over the same stream (`streamview run`), each while the producer streams it:
#    the mock keeps only ~5 MiB per partition, so the producer is paced by the consumer
#    group's lag (--max-lag). Engine time runs from its partition assignment to the last
#    commit, so the group join does not count.
# 2. Steady state: RATE events/s produced; p99 from produce (message timestamp) to commit.
# Needs a release build in build/.
set -euo pipefail
cd "$(dirname "$0")/.."
orders=${1:-1000000}
rate=${2:-20000}
bin=${SV_BIN:-build/src/cli/streamview}  # SV_BIN: another build, for side-by-side runs
tool=build/tests/kafka_tool
tmp=$(mktemp -d /tmp/sv-kafka.XXXXXX)
mock_pid=0
trap 'kill $mock_pid 2>/dev/null || true; pkill -P $$ 2>/dev/null || true; [ -n "${KEEP:-}" ] || rm -rf "$tmp"' EXIT
max_lag=${MAX_LAG:-40000}   # records in flight, all partitions: ~10 MB of the mock's ~20 MB

mkfifo "$tmp/mock.in"
"$tool" mock --brokers 3 < "$tmp/mock.in" > "$tmp/mock.out" &
mock_pid=$!
exec 7>"$tmp/mock.in"
for _ in $(seq 50); do grep -q bootstrap "$tmp/mock.out" 2>/dev/null && break; sleep 0.1; done
bootstrap=$(awk '/^bootstrap/{print $2}' "$tmp/mock.out")
for t in bench.bare bench.engine bench.steady; do echo "topic $t 4" >&7; done
sleep 0.5

"$bin" gen orders --orders "$orders" --seed 7 --dup-rate 0.01 --reorder-rate 0.01 \
  --malformed-rate 0 --out "$tmp/events.ndjson" --quiet
events=$(wc -l < "$tmp/events.ndjson")
echo "workload: $orders orders, $events records; mock cluster $bootstrap"

config() {  # topic group store: the orders example on a Kafka topic, without its server
  python3 - "$bootstrap" "$1" "$2" "$3" > "$tmp/$2.yaml" <<'PY'
import os, re, sys
bootstrap, topic, group, store = sys.argv[1:]
text = open("examples/orders/streamview.yaml").read()
text = re.sub(r"    kind: log[^\n]*\n", "    kind: kafka\n    brokers: \"%s\"\n    topics: [%s]\n"
              "    group_id: %s\n    properties:\n      session.timeout.ms: \"6000\"\n"
              % (bootstrap, topic, group), text)
text = text.replace("path: orders.db", "path: " + store)
text = re.sub(r"\nserver:.*?\n(?=\S)", "\n", text, flags=re.S)
for knob in ("lanes", "batch_events"):  # A/B runs: LANES=1, BATCH_EVENTS=5000
    value = os.environ.get(knob.upper())
    if value:
        text = re.sub(r"\n  %s: [^\n]*" % knob, "", text)
        text = text.replace("\nengine:\n", "\nengine:\n  %s: %s\n" % (knob, value), 1)
print(text)
PY
  echo "$tmp/$2.yaml"
}

if [ -z "${ONLY_STEADY:-}" ]; then
# 1a. bare loop
"$tool" bare --bootstrap "$bootstrap" --topic bench.bare --expect "$events" --group bare \
  > "$tmp/bare.json" &
bare_pid=$!
"$tool" produce --bootstrap "$bootstrap" --topic bench.bare --max-lag $max_lag --group bare \
  "$tmp/events.ndjson" > "$tmp/produce_bare.json"
wait $bare_pid
echo "bare consume loop: $(cat "$tmp/bare.json"); producer: $(cat "$tmp/produce_bare.json")"

# 1b. the engine, started once the producer has encoded the workload (else its assignment
# would come seconds before the first record)
cfg=$(config bench.engine engine "$tmp/engine.db")
"$tool" produce --bootstrap "$bootstrap" --topic bench.engine --max-lag $max_lag --group engine \
  "$tmp/events.ndjson" > "$tmp/produce_engine.json" 2> "$tmp/produce_engine.err" &
produce_pid=$!
for _ in $(seq 1200); do grep -q encoded "$tmp/produce_engine.err" && break; sleep 0.1; done
"$bin" run --config "$cfg" 2> "$tmp/engine.log" &
run_pid=$!
wait $produce_pid
python3 - "$tmp/engine.db" "$events" <<'PY'
import sqlite3, sys, time
db, want = sys.argv[1], int(sys.argv[2])
while True:
    c = sqlite3.connect(db, timeout=30)
    n = c.execute("SELECT coalesce(sum(position), 0) FROM sv_positions").fetchone()[0]
    c.close()
    if n >= want:
        break
    time.sleep(0.05)
PY
kill -TERM $run_pid; wait $run_pid || true
python3 - "$tmp/engine.log" "$events" "$tmp/bare.json" "$tmp/engine.db" <<'PY'
import datetime, json, sqlite3, sys
log, events, bare = sys.argv[1], int(sys.argv[2]), json.load(open(sys.argv[3]))
def ts(line):
    return datetime.datetime.fromisoformat(json.loads(line)["ts"].rstrip("Z")).timestamp()
lines = [l for l in open(log) if l.startswith("{")]
assigned = min(ts(l) for l in lines if "partitions assigned" in l)
# The last commit: the store's last write is the final position; the log's last line is the
# clean stop that follows it.
stopped = max(ts(l) for l in lines if "stopped cleanly" in l or "SIGTERM" in l or "stopping" in l)
c = sqlite3.connect(sys.argv[4])
rows = c.execute("SELECT count(*) FROM orders_view").fetchone()[0]
secs = stopped - assigned
print(f"engine: {events:,} events from assignment to caught up in <= {secs:.2f} s = "
      f">= {events / secs:,.0f} events/s into SQLite ({rows:,} orders); bare loop "
      f"{bare['records_per_second']:,.0f} records/s; engine/bare = {events / secs / bare['records_per_second']:.2f}")
PY
echo "producer (engine run): $(cat "$tmp/produce_engine.json")"
fi

[ -n "${SKIP_STEADY:-}" ] && exit 0
# 2. steady state
head -n $(( rate * 20 )) "$tmp/events.ndjson" > "$tmp/steady.ndjson"
cfg=$(config bench.steady steady "$tmp/steady.db")
"$bin" run --config "$cfg" --latency-report "$tmp/latency.json" 2> "$tmp/steady.log" &
run_pid=$!
for _ in $(seq 300); do grep -q "partitions assigned" "$tmp/steady.log" && break; sleep 0.1; done
sleep 1
"$tool" produce --bootstrap "$bootstrap" --topic bench.steady --rate "$rate" \
  "$tmp/steady.ndjson" > /dev/null
sleep 2
kill -TERM $run_pid; wait $run_pid || true
echo "steady at $rate events/s for $(wc -l < "$tmp/steady.ndjson") events: produce-to-commit latency $(cat "$tmp/latency.json")"
