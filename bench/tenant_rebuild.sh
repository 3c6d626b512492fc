#!/usr/bin/env bash
# One organization's rebuild against the whole view's, on the same store, for each kind of
# source, then again with the table doubled (the other organizations grown, the rebuilt one the
# same size): a tenant rebuild whose time follows its organization stays about the same.
#   - embedded log + SQLite: shipments of 20 organizations (each created, then moved about once)
#     in the log, the source declaring `organization: org` (named by creations only); a tenant
#     view and a derived view grouping it per organization.
#   - change feed (PostgreSQL source table `shipments`, SQLite store): the same rows as a table,
#     read by a postgres_changes source; the tenant rebuild's snapshot reads o-3's rows only.
# Usage: bench/tenant_rebuild.sh [SHIPMENTS_PER_ORG] (default 25,000: 500,000 rows at 1x).
# The change feed needs SV_TEST_PG_DSN (a cluster with wal_level=logical; scripts/pg.sh) and is
# skipped without it (ONLY=log or ONLY=cdc: one kind only; NO_ORG_INDEX=1: the log's source
# without `organization:`, so its tenant rebuild folds the whole log). Needs a release build in build/
# (SV_BIN: another binary).
set -euo pipefail
shopt -s inherit_errexit  # a failed run inside $(...) stops the script
cd "$(dirname "$0")/.."
per_org=${1:-25000}
bin=${SV_BIN:-build/src/cli/streamview}
tmp=$(mktemp -d /tmp/sv-tenant-rebuild.XXXXXX)
db="sv_bench_tenant_$$"
slot="sv_bench_tenant_$$"
cleanup() {
  if [[ -n "${SV_TEST_PG_DSN:-}" ]]; then
    psql "$SV_TEST_PG_DSN" -Xq -c "SELECT pg_drop_replication_slot(slot_name) FROM
      pg_replication_slots WHERE slot_name = '$slot' AND active_pid IS NULL" >/dev/null 2>&1 || true
    psql "$SV_TEST_PG_DSN" -Xq -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
echo "machine: $(nproc) cpus, $(uptime)"

# secs CMD...: runs CMD (stdout kept in $tmp/out.json), prints its wall seconds.
secs() {
  local start end
  start=$(date +%s%N)
  "$@" > "$tmp/out.json" 2>"$tmp/err.log" || { tail -5 "$tmp/err.log" >&2; exit 1; }
  end=$(date +%s%N)
  awk -v ns=$((end - start)) 'BEGIN { printf "%.2f", ns / 1e9 }'
}
# best CMD...: the lower of two runs (the page cache warm for the second).
best() {
  local a b
  a=$(secs "$@")
  b=$(secs "$@")
  awk -v a="$a" -v b="$b" 'BEGIN { printf "%.2f", (a < b ? a : b) }'
}
ratio() { awk -v t="$1" -v f="$2" 'BEGIN { printf "%.2f", t / f }'; }

# ---- embedded log + SQLite
log_config() {  # $1: directory
  local org_field="organization: org,"
  [[ -n "${NO_ORG_INDEX:-}" ]] && org_field=""  # the whole log folded, for comparison
  cat > "$1/bench.yaml" <<YAML
store: {kind: sqlite, path: $1/sv.db}
sources:
  ops: {key: id, $org_field event_types: [shipment.created, shipment.moved]}
views:
  shipments:
    source: ops
    key: [id]
    tenant: org_id
    columns: {id: text, org_id: text, status: text, updates: {type: integer, default: 0}}
    indexes: [[org_id, status]]
    on:
      shipment.created: {set: {id: e.id, org_id: e.org, status: e.status, updates: updates + 1}}
      shipment.moved: {set: {id: e.id, status: e.status, updates: updates + 1}}
derived_views:
  status_counts:
    tenant: org_id
    sql: "CREATE VIEW status_counts AS SELECT org_id, status, count(*) AS n, sum(updates) AS total FROM shipments GROUP BY org_id, status"
YAML
}
# log_events PER_ORG OTHERS_FACTOR: o-3 has PER_ORG shipments, every other organization
# PER_ORG × OTHERS_FACTOR; each created, then as many moves as shipments, at random.
log_events() {
  python3 - "$1" "$2" <<'PY'
import json, random, sys
per_org, factor = int(sys.argv[1]), int(sys.argv[2])
rnd = random.Random(7); statuses = ["booked", "picked", "late"]
ids = []
for org in range(1, 21):
    for i in range(per_org if org == 3 else per_org * factor):
        ids.append(("s-%02d-%08d" % (org, i), "o-%d" % org))
rnd.shuffle(ids)
for sid, org in ids:
    print(json.dumps({"type": "shipment.created", "id": sid, "org": org,
                      "status": rnd.choice(statuses)}))
for _ in range(len(ids)):
    print(json.dumps({"type": "shipment.moved", "id": ids[rnd.randrange(len(ids))][0],
                      "status": rnd.choice(statuses)}))
PY
}
declare -A tenant_s full_s first_s
log_case() {  # $1: 1 or 2 (the other organizations' size)
  local dir="$tmp/log$1"
  mkdir -p "$dir"
  log_config "$dir"
  log_events "$per_org" "$1" > "$dir/events.ndjson"
  local events rows
  events=$(wc -l < "$dir/events.ndjson")
  "$bin" ingest --config "$dir/bench.yaml" "$dir/events.ndjson" >/dev/null
  rm -f "$dir/events.ndjson"
  # The first catch-up (with `organization:`, the engine keeps its index only when idle).
  local run_s
  run_s=$(secs "$bin" run --config "$dir/bench.yaml" --exit-when-caught-up)
  rows=$(( per_org * (1 + 19 * $1) ))
  full_s[log$1]=$(best "$bin" rebuild --config "$dir/bench.yaml" --view shipments)
  # The first one also builds the log's organization index (one read of the whole log); the
  # next ones read only the records appended since (none here).
  first_s[log$1]=$(secs "$bin" rebuild --config "$dir/bench.yaml" --view shipments --tenant o-3)
  tenant_s[log$1]=$(best "$bin" rebuild --config "$dir/bench.yaml" --view shipments --tenant o-3)
  echo "log ${1}x: $rows rows, $events events: run ${run_s} s, full ${full_s[log$1]} s, o-3 ${tenant_s[log$1]} s" \
    "(the first, building the index: ${first_s[log$1]} s; $(cat "$tmp/out.json"))"
  rm -rf "$dir"
}
if [[ "${ONLY:-}" != cdc ]]; then
  log_case 1
  log_case 2
fi

# ---- change feed: PostgreSQL source table, SQLite store
if [[ -n "${SV_TEST_PG_DSN:-}" && "${ONLY:-}" != log ]]; then
  psql "$SV_TEST_PG_DSN" -Xq -c "CREATE DATABASE $db" >/dev/null
  src=$(python3 -c 'import sys; kv = dict(p.split("=", 1) for p in sys.argv[1].split())
kv["dbname"] = sys.argv[2]; print(" ".join("%s=%s" % i for i in kv.items()))' "$SV_TEST_PG_DSN" "$db")
  q() { psql "$src" -XAtq -v ON_ERROR_STOP=1 "$@"; }
  # add_rows FROM COUNT ORGS_SQL: shipments FROM+1 .. FROM+COUNT, spread over the organizations
  # the array ORGS_SQL names.
  add_rows() {
    q -c "INSERT INTO shipments SELECT $1 + i, ($3)[i % array_length($3, 1) + 1],
            (ARRAY['booked','picked','late'])[i % 3 + 1], i % 5
          FROM generate_series(1, $2) i"
  }
  q -c "CREATE TABLE shipments (id bigint PRIMARY KEY, org_id text NOT NULL, status text,
          updates integer NOT NULL DEFAULT 0); CREATE INDEX ON shipments (org_id)"
  all="ARRAY(SELECT 'o-' || g FROM generate_series(1, 20) g)"
  others="ARRAY(SELECT 'o-' || g FROM generate_series(1, 20) g WHERE g <> 3)"
  add_rows 0 $((per_org * 20)) "$all"
  cat > "$tmp/cdc.yaml" <<YAML
store: {kind: sqlite, path: $tmp/cdc.db}
sources:
  shop: {kind: postgres_changes, dsn: "$src", slot: $slot, tables: [shipments]}
views:
  shipment_list:
    source: shop
    key: [id]
    tenant: org_id
    columns: {id: integer, org_id: text, status: text, updates: integer}
    indexes: [[org_id, status]]
    on:
      "*": {set: {id: e.id}}
      shipments.insert: {set: {org_id: e.org_id, status: e.status, updates: e.updates}}
      shipments.update: {set: {org_id: e.org_id, status: e.status, updates: "coalesce(updates, 0) + 1"}}
      shipments.delete: {delete: true}
derived_views:
  status_counts:
    tenant: org_id
    sql: "CREATE VIEW status_counts AS SELECT org_id, status, count(*) AS n, sum(updates) AS total FROM shipment_list GROUP BY org_id, status"
YAML
  cdc_case() {  # $1: 1 or 2
    q -c "VACUUM ANALYZE shipments"
    "$bin" run --config "$tmp/cdc.yaml" --exit-when-caught-up 2>/dev/null
    local rows
    rows=$(q -c "SELECT count(*) FROM shipments")
    full_s[cdc$1]=$(best "$bin" rebuild --config "$tmp/cdc.yaml" --view shipment_list)
    tenant_s[cdc$1]=$(best "$bin" rebuild --config "$tmp/cdc.yaml" --view shipment_list --tenant o-3)
    local read
    read=$(sed -n 's/.*"msg":"change feed snapshot read".*"rows":"\([0-9]*\)".*/\1/p' \
      "$tmp/err.log" | tail -1)
    echo "change feed ${1}x: $rows rows: full ${full_s[cdc$1]} s, o-3 ${tenant_s[cdc$1]} s" \
      "(its snapshot read ${read:-?} rows; $(cat "$tmp/out.json"))"
  }
  cdc_case 1
  add_rows $((per_org * 20)) $((per_org * 19)) "$others"  # every organization but o-3 doubled
  cdc_case 2
else
  echo "change feed: skipped (no SV_TEST_PG_DSN)"
fi

echo "summary ($(uptime | sed 's/.*load average/load average/'))"
for kind in log cdc; do
  [[ -n "${full_s[${kind}1]:-}" ]] || continue
  name=$([[ $kind == log ]] && echo "embedded log + SQLite" || echo "change feed + SQLite")
  echo "tenant rebuild ($name): one org of 20 ${tenant_s[${kind}1]} s, full ${full_s[${kind}1]} s," \
    "ratio $(ratio "${tenant_s[${kind}1]}" "${full_s[${kind}1]}")"
  echo "tenant rebuild ($name), table 2x: one org ${tenant_s[${kind}2]} s" \
    "($(ratio "${tenant_s[${kind}2]}" "${tenant_s[${kind}1]}")x of 1x), full ${full_s[${kind}2]} s" \
    "($(ratio "${full_s[${kind}2]}" "${full_s[${kind}1]}")x of 1x)"
  if [[ $kind == log ]]; then
    echo "tenant rebuild ($name), the first (building the organization index): 1x ${first_s[log1]} s," \
      "2x ${first_s[log2]} s"
  fi
done
