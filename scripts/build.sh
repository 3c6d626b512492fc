#!/usr/bin/env bash
# Configures and builds everything with Ninja.
#   scripts/build.sh [release]   build/       RelWithDebInfo
#   scripts/build.sh asan        build-asan/  Debug, AddressSanitizer + UBSan (SV_SANITIZE=ON),
#                                              no benchmarks
#   scripts/build.sh fuzz        build-fuzz/  clang, the libFuzzer targets of tests/fuzz only
#                                              (SV_FUZZ=ON; ctest -L fuzz fuzzes each for 60 s)
# Every mode precompiles the common headers (SV_PCH) and links with lld (SV_LLD).
# JOBS=N overrides the parallelism (default: nproc).
set -euo pipefail
cd "$(dirname "$0")/.."

mode="${1:-release}"
case "$mode" in
  release)
    dir=build
    args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DSV_SANITIZE=OFF)
    ;;
  asan)
    dir=build-asan
    args=(-DCMAKE_BUILD_TYPE=Debug -DSV_SANITIZE=ON -DSV_BENCH=OFF)
    ;;
  fuzz)
    dir=build-fuzz
    export CC=clang CXX=clang++
    args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DSV_FUZZ=ON)
    ;;
  *)
    echo "usage: $0 [release|asan|fuzz]" >&2
    exit 2
    ;;
esac

cmake -S . -B "$dir" -G Ninja -DSV_PCH=ON -DSV_LLD=ON "${args[@]}"
cmake --build "$dir" -j "${JOBS:-$(nproc)}"
