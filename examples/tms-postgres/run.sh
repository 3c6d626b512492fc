#!/usr/bin/env bash
# Seed 000's TMS on the change feed in one command: a private PostgreSQL (scripts/pg.sh) with
# the example's schema and a first workload, then `streamview run` on the embedded default
# store (examples/tms-postgres/tms.db) serving the views on 127.0.0.1:8080, while the
# workload writer keeps the shipments moving at 20 transactions/s. Ctrl-C stops both; the
# PostgreSQL cluster is stopped and removed on exit.
#
#   bash examples/tms-postgres/run.sh [SHIPMENTS]      (needs a release build: scripts/build.sh)
set -euo pipefail
cd "$(dirname "$0")/../.."
shipments=${1:-5000}
bin=${SV_BIN:-build/src/cli/streamview}
[[ -x $bin ]] || { echo "no $bin: run bash scripts/build.sh release first" >&2; exit 1; }

eval "$(bash scripts/pg.sh start)"
writer=""
cleanup() {
  [[ -n $writer ]] && kill "$writer" 2>/dev/null || true
  bash scripts/pg.sh stop >/dev/null 2>&1 || true
}
trap cleanup EXIT
psql "$SV_TEST_PG_DSN" -X -q -c "CREATE DATABASE tms"
export TMS_SOURCE_DSN="host=127.0.0.1 port=$SV_PG_PORT user=postgres dbname=tms"
psql "$TMS_SOURCE_DSN" -X -q -v ON_ERROR_STOP=1 -f examples/tms-postgres/schema.sql
python3 examples/tms-postgres/workload.py --dsn "$TMS_SOURCE_DSN" --shipments "$shipments" \
  --orgs 5 --synchronous-commit off
rm -f examples/tms-postgres/tms.db*   # the store follows this fresh source database
python3 examples/tms-postgres/workload.py --dsn "$TMS_SOURCE_DSN" --shipments 1000000 \
  --orgs 5 --rate 20 --seed 2 >/dev/null &
writer=$!
export STREAMVIEW_TOKEN=${STREAMVIEW_TOKEN:-secret}
echo "serving on http://127.0.0.1:8080 — e.g."
echo "  curl -s -H 'X-API-Key: tms-admin-key' 'localhost:8080/views/shipment_list?org_id=org-01&sort=-created_at&limit=5'"
echo "  curl -s -H 'X-API-Key: tms-org-01-key' localhost:8080/views/ops_today/org-01"
"$bin" run --config examples/tms-postgres/streamview.yaml
