#!/usr/bin/env bash
# The PostgreSQL store's query for one organization's log positions (the tenant rebuild by the
# log's organization index, store/postgres/pg_log_orgs.cc), on tables shaped like sv_log and
# sv_log_orgs: 500,000 keys of 20 organizations with two records each (1M records), then the
# other organizations doubled (2M). Prints the execution time (EXPLAIN ANALYZE, three runs, ascending) of
# the plain join (what the store ran first) and of the key-by-key LATERAL it runs now, for
# o-3's 50,000 positions. Usage: bench/pg_org_positions.sh  (needs SV_TEST_PG_DSN, SV_PG_PORT:
# `eval "$(bash scripts/pg.sh start)"`)
set -euo pipefail
: "${SV_TEST_PG_DSN:?run eval \"\$(bash scripts/pg.sh start)\" first}"
db=sv_org_positions_$$
psql "$SV_TEST_PG_DSN" -qAtX -c "CREATE DATABASE $db"
trap 'psql "$SV_TEST_PG_DSN" -qAtX -c "DROP DATABASE IF EXISTS $db WITH (FORCE)"' EXIT
dsn="host=127.0.0.1 port=$SV_PG_PORT user=postgres dbname=$db"
sql() { psql "$dsn" -qAtX -v ON_ERROR_STOP=1 -c "$1"; }
sql "CREATE TABLE sv_log(position bigint PRIMARY KEY, log_time_us bigint NOT NULL,
       key text NOT NULL, raw bytea NOT NULL);
     CREATE TABLE sv_log_orgs(org text, key text, PRIMARY KEY(org, key));
     INSERT INTO sv_log SELECT g, g, 's' || ((g::bigint * 7919) % 500000),
       repeat('x', 120)::bytea FROM generate_series(1, 1000000) g;
     INSERT INTO sv_log_orgs SELECT 'o-' || (k % 20), 's' || k FROM generate_series(0, 499999) k;
     CREATE INDEX sv_log__by_key ON sv_log(key, position);
     ANALYZE"
plan() {  # the join node the planner chose for $1
  psql "$dsn" -qAtX -c "EXPLAIN $1" | grep -oE "(Hash|Merge) Join|Nested Loop" | head -1
}
times_ms() {  # three EXPLAIN ANALYZE execution times of $1, ascending
  for _ in 1 2 3; do
    psql "$dsn" -qAtX -c "EXPLAIN (ANALYZE) $1" | sed -n 's/^Execution Time: \(.*\) ms$/\1/p'
  done | sort -n | paste -sd/ -
}
report() {  # $1: the log's size, for the label
  local join lateral
  local q="SELECT l.position FROM sv_log_orgs o JOIN sv_log l ON l.key = o.key
           WHERE o.org = 'o-3' AND l.position <= 9000000000 ORDER BY l.position"
  join="$(times_ms "$q") ($(plan "$q"))"
  lateral=$(times_ms "SELECT l.position FROM sv_log_orgs o CROSS JOIN LATERAL
                     (SELECT position FROM sv_log WHERE key = o.key AND position <= 9000000000
                      OFFSET 0) l WHERE o.org = 'o-3' ORDER BY l.position")
  echo "$1 records: o-3's $(sql "SELECT count(*) FROM sv_log_orgs o JOIN sv_log l
    ON l.key = o.key WHERE o.org = 'o-3'") positions: join $join ms, key by key $lateral ms"
}
report 1000000
# The other organizations doubled: 1M more records of 500,000 new keys, none of o-3's.
sql "INSERT INTO sv_log SELECT 1000000 + g, g, 't' || ((g::bigint * 7919) % 500000),
       repeat('x', 120)::bytea FROM generate_series(1, 1000000) g;
     INSERT INTO sv_log_orgs SELECT 'o-' || (CASE WHEN k % 20 = 3 THEN 4 ELSE k % 20 END),
       't' || k FROM generate_series(0, 499999) k;
     ANALYZE"
report 2000000
