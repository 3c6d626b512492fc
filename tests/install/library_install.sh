#!/usr/bin/env bash
# The installed library as an application sees it: `cmake --install` into a temporary prefix,
# examples/library configured with find_package(StreamView) against that prefix (and nothing
# of the build tree), built, and run on a new SQLite file; then the same program built from
# the pkg-config file alone. Usage: library_install.sh <build dir> <source dir> [sanitize|plain]
# (sanitize: the build's libraries are instrumented, so the example is built the same way).
set -euo pipefail
build=$1
source=$2
flags=()
if [[ ${3:-plain} == sanitize ]]; then flags=(-fsanitize=address,undefined -fno-omit-frame-pointer); fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix

cmake --install "$build" --prefix "$prefix" >"$work/install.log"
for f in include/streamview/streamview.h lib/libstreamview.a lib/cmake/StreamView/StreamViewConfig.cmake \
         lib/pkgconfig/streamview.pc; do
  [[ -f $prefix/$f ]] || { echo "not installed: $f"; cat "$work/install.log"; exit 1; }
done

launcher=()
if command -v ccache >/dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
cmake -S "$source/examples/library" -B "$work/example" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_CXX_FLAGS="${flags[*]}" "${launcher[@]}" >"$work/configure.log" ||
  { cat "$work/configure.log"; exit 1; }
cmake --build "$work/example" >"$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
out=$("$work/example/library_example" "$work/orders.db")
echo "$out"
grep -qx ok <<<"$out"

# pkg-config: the same program from the .pc file's flags alone.
export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
# shellcheck disable=SC2046
${CXX:-c++} -O1 "${flags[@]}" -o "$work/example_pc" "$source/examples/library/main.cc" \
  $(pkg-config --cflags --libs streamview)
out=$("$work/example_pc" "$work/orders_pc.db")
grep -qx ok <<<"$out"
echo "pkg-config build: ok"
