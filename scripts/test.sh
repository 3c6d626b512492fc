#!/usr/bin/env bash
# Everything CI runs: release build with all tests (unit, integration, system), then the
# sanitizer build with the unit and integration tests; both against SQLite and a private
# PostgreSQL 15 cluster; then each libFuzzer target fuzzed for 60 s (clang build, 2 at a time).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh

bash scripts/build.sh release

# A private PostgreSQL cluster for the PostgreSQL cases of the store suites and system tests
# (scripts/pg.sh: temp dir, free loopback port), stopped however this script ends. With
# SV_TEST_REQUIRE_PG=1 a PostgreSQL case fails, never skips, when the server is not there.
pg_env="$(bash scripts/pg.sh start)"
eval "$pg_env"
trap 'bash scripts/pg.sh stop' EXIT
export SV_TEST_REQUIRE_PG=1
echo "test: PostgreSQL at ${SV_TEST_PG_DSN}"

ctest --test-dir build --output-on-failure -j2

bash scripts/build.sh asan
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan -L 'unit|integration' --output-on-failure -j2

bash scripts/build.sh fuzz
ctest --test-dir build-fuzz -L fuzz --output-on-failure -j2
