#!/usr/bin/env bash
# One organization's rebuild against the whole view's, on the same store: shipments of 20
# organizations (each created, then moved about once) in the embedded log, a tenant view and a
# derived view grouping it per organization. Usage: bench/tenant_rebuild.sh [SHIPMENTS_PER_ORG]
# (default 25,000: 500,000 rows, 1,000,000 events). Needs a release build in build/.
set -euo pipefail
cd "$(dirname "$0")/.."
per_org=${1:-25000}
bin=${SV_BIN:-build/src/cli/streamview}
tmp=$(mktemp -d /tmp/sv-tenant-rebuild.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
cat > "$tmp/bench.yaml" <<YAML
store: {kind: sqlite, path: $tmp/sv.db}
sources:
  ops: {key: id, event_types: [shipment.created, shipment.moved]}
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
python3 - "$per_org" > "$tmp/events.ndjson" <<'PY'
import json, random, sys
per_org = int(sys.argv[1]); rnd = random.Random(7); statuses = ["booked", "picked", "late"]
n = per_org * 20
for i in range(n):
    print(json.dumps({"type": "shipment.created", "id": "s-%08d" % i, "org": "o-%d" % (i % 20 + 1),
                      "status": rnd.choice(statuses)}))
for _ in range(n):
    print(json.dumps({"type": "shipment.moved", "id": "s-%08d" % rnd.randrange(n),
                      "status": rnd.choice(statuses)}))
PY
echo "workload: 20 organizations x $per_org shipments, $(wc -l < "$tmp/events.ndjson") events"
"$bin" ingest --config "$tmp/bench.yaml" "$tmp/events.ndjson" >/dev/null
"$bin" run --config "$tmp/bench.yaml" --exit-when-caught-up 2>/dev/null
time_it() {  # prints the wall seconds of the command, its JSON on stderr-free stdout
  local start end
  start=$(date +%s%N)
  "$@" > "$tmp/out.json" 2>"$tmp/err.log" || { cat "$tmp/err.log" >&2; exit 1; }
  end=$(date +%s%N)
  echo "$(( (end - start) / 1000000 )) ms wall; $(cat "$tmp/out.json")"
}
# Each measured twice (page cache warm for both): the whole view, then one organization.
for round in 1 2; do
  echo "round $round"
  echo "  full rebuild (shipments + status_counts): $(time_it "$bin" rebuild --config "$tmp/bench.yaml" --view shipments)"
  echo "  tenant rebuild o-3 (no drift):             $(time_it "$bin" rebuild --config "$tmp/bench.yaml" --view shipments --tenant o-3)"
done
# With drift: every row of o-3 changed behind the engine's back, so all of them are rewritten.
python3 - "$tmp/sv.db" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
table = db.execute("SELECT table_name FROM sv_view_versions WHERE view='shipments' AND active").fetchone()[0]
db.execute("UPDATE %s SET updates = updates + 100 WHERE org_id = 'o-3'" % table)
db.commit()
PY
echo "  tenant rebuild o-3 (every row drifted):    $(time_it "$bin" rebuild --config "$tmp/bench.yaml" --view shipments --where "org_id = 'o-3'")"
