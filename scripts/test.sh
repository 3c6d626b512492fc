#!/usr/bin/env bash
# Everything CI runs: release build with all tests (unit, integration, system), then the
# sanitizer build with the unit and integration tests.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh

bash scripts/build.sh release
ctest --test-dir build --output-on-failure -j2

bash scripts/build.sh asan
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan -L 'unit|integration' --output-on-failure -j2
