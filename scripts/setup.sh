#!/usr/bin/env bash
# Installs StreamView's build and test dependencies with apt-get, only those missing.
# apt-get update runs only when an install is needed and fails without it.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config
  libsqlite3-dev sqlite3 libpq-dev postgresql-15 postgresql-client-15 libpg-query-dev libsimdjson-dev libyaml-cpp-dev libcli11-dev libvalijson-dev
  libjwt-dev libssl-dev libcurl4-openssl-dev
  libabsl-dev libgtest-dev libgmock-dev libbenchmark-dev rapidjson-dev libboost-dev
  librdkafka-dev kcat
  wrk curl
  python3 python3-yaml openssl prometheus clang-format clang-tidy
  clang libclang-rt-14-dev lld
)

missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  echo "setup: all ${#packages[@]} packages present"
  exit 0
fi

apt=(env DEBIAN_FRONTEND=noninteractive apt-get)
if [[ $(id -u) -ne 0 ]]; then
  apt=(sudo "${apt[@]}")
fi
echo "setup: installing ${missing[*]}"
if ! "${apt[@]}" install -y --no-install-recommends "${missing[@]}"; then
  echo "setup: install failed; updating the package lists and retrying"
  "${apt[@]}" update
  "${apt[@]}" install -y --no-install-recommends "${missing[@]}"
fi
