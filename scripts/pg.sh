#!/usr/bin/env bash
# A private PostgreSQL 15 cluster for tests and benchmarks: a temp dir, a free loopback port,
# wal_level=logical (for later change-feed work), owned by the `postgres` OS user when run as
# root (initdb refuses root).
#
#   eval "$(bash scripts/pg.sh start)"   # starts one; prints export lines (SV_TEST_PG_DSN, ...)
#   bash scripts/pg.sh env               # the export lines of the running one (SV_PG_DIR set)
#   bash scripts/pg.sh restart           # pg_ctl restart -m fast (tests: restart mid-stream)
#   bash scripts/pg.sh pause|resume      # stop the server keeping its data / start it again
#   bash scripts/pg.sh stop              # stops it and removes the dir
#
# The cluster trusts local connections as user postgres: it is private and listens on
# 127.0.0.1 only. PG_BIN overrides /usr/lib/postgresql/15/bin.
set -euo pipefail

PG_BIN="${PG_BIN:-/usr/lib/postgresql/15/bin}"
cmd="${1:-}"

as_owner() {
  if [[ $(id -u) -eq 0 ]]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

print_env() {
  local dir="$1"
  local port
  port="$(cat "$dir/port")"
  echo "export SV_PG_DIR='$dir'"
  echo "export SV_TEST_PG_DSN='host=127.0.0.1 port=$port user=postgres dbname=postgres'"
  echo "export SV_PG_PORT='$port'"
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

case "$cmd" in
  start)
    if [[ ! -x "$PG_BIN/initdb" ]]; then
      echo "pg.sh: $PG_BIN/initdb not found (install postgresql-15)" >&2
      exit 1
    fi
    dir="$(mktemp -d /tmp/sv-pg.XXXXXX)"
    chmod 0755 "$dir"
    if [[ $(id -u) -eq 0 ]]; then chown postgres: "$dir"; fi
    as_owner "$PG_BIN/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 \
      >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
    for attempt in 1 2 3 4 5; do
      port="$(free_port)"
      as_owner tee -a "$dir/data/postgresql.conf" >/dev/null <<EOF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
wal_level = logical
max_wal_senders = 16
max_replication_slots = 16
max_connections = 200
shared_buffers = 256MB
max_wal_size = 4GB
checkpoint_timeout = 15min
synchronous_commit = on
fsync = on
EOF
      if as_owner "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start \
        >/dev/null 2>&1; then
        echo "$port" | as_owner tee "$dir/port" >/dev/null
        print_env "$dir"
        exit 0
      fi
      echo "pg.sh: start on port $port failed (attempt $attempt)" >&2
    done
    tail -20 "$dir/server.log" >&2 || true
    exit 1
    ;;
  env)
    : "${SV_PG_DIR:?pg.sh env: SV_PG_DIR is not set}"
    print_env "$SV_PG_DIR"
    ;;
  restart)
    : "${SV_PG_DIR:?pg.sh restart: SV_PG_DIR is not set}"
    as_owner "$PG_BIN/pg_ctl" -D "$SV_PG_DIR/data" -l "$SV_PG_DIR/server.log" -w -t 60 \
      -m fast restart >/dev/null
    ;;
  pause)
    : "${SV_PG_DIR:?pg.sh pause: SV_PG_DIR is not set}"
    as_owner "$PG_BIN/pg_ctl" -D "$SV_PG_DIR/data" -w -t 60 -m fast stop >/dev/null
    ;;
  resume)
    : "${SV_PG_DIR:?pg.sh resume: SV_PG_DIR is not set}"
    as_owner "$PG_BIN/pg_ctl" -D "$SV_PG_DIR/data" -l "$SV_PG_DIR/server.log" -w -t 60 start \
      >/dev/null
    ;;
  stop)
    : "${SV_PG_DIR:?pg.sh stop: SV_PG_DIR is not set}"
    if [[ -d "$SV_PG_DIR/data" ]]; then
      as_owner "$PG_BIN/pg_ctl" -D "$SV_PG_DIR/data" -w -t 60 -m fast stop >/dev/null 2>&1 || true
    fi
    rm -rf "$SV_PG_DIR"
    ;;
  *)
    echo "usage: $0 start|env|restart|pause|resume|stop" >&2
    exit 2
    ;;
esac
