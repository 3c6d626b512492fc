#!/usr/bin/env bash
# Everything CI runs: release build with all tests (unit, integration, system), then the
# sanitizer build with the unit and integration tests (the binary-driven ones on fewer orders,
# tests/system/CMakeLists.txt); both against SQLite and a private PostgreSQL 15 cluster; then
# each libFuzzer target fuzzed for 60 s (clang build, 2 at a time). Every build precompiles the
# common headers and links with lld (scripts/build.sh); TESTING.md says where the time goes.
set -euo pipefail
cd "$(dirname "$0")/.."

# Each stage's duration goes to the log, so a slow CI run says where its time went.
stage_start=$SECONDS
stage_done() {
  echo "test: $1 took $((SECONDS - stage_start)) s (total $SECONDS s)"
  stage_start=$SECONDS
}

bash scripts/setup.sh
stage_done setup

bash scripts/build.sh release
stage_done "release build"

# A private PostgreSQL cluster for the PostgreSQL cases of the store suites and system tests
# (scripts/pg.sh: temp dir, free loopback port), stopped however this script ends. With
# SV_TEST_REQUIRE_PG=1 a PostgreSQL case fails, never skips, when the server is not there.
pg_env="$(bash scripts/pg.sh start)"
eval "$pg_env"
trap 'bash scripts/pg.sh stop' EXIT
export SV_TEST_REQUIRE_PG=1
echo "test: PostgreSQL at ${SV_TEST_PG_DSN}"

ctest --test-dir build --output-on-failure -j2
stage_done "release tests"

bash scripts/build.sh asan
stage_done "sanitizer build"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan -L 'unit|integration' --output-on-failure -j2
stage_done "sanitizer tests"

bash scripts/build.sh fuzz
stage_done "fuzz build"
ctest --test-dir build-fuzz -L fuzz --output-on-failure -j2
stage_done "fuzzing"
