#!/usr/bin/env bash
# tools/fuzz.sh: a real libFuzzer run of one fuzz target, for longer than CTest's 10 seconds.
#
#   tools/fuzz.sh <target> [seconds]     e.g. tools/fuzz.sh http_request 600
#   tools/fuzz.sh --list                 the targets (tests/fuzz/*.cpp)
#
# Builds tests/fuzz/<target>.cpp with clang (-fsanitize=fuzzer,address,undefined) in
# build/fuzz, then fuzzes for [seconds] (default 300) on all cores but one, starting from the
# committed seeds in tests/fuzz/corpus/<target>/ and tests/fuzz/<target>.dict if present. New
# interesting inputs accumulate in build/fuzz/tests/fuzz/<target>/corpus (kept between runs);
# a crash leaves crash-* in that directory and fails the run. To keep a new seed, copy it from
# there into tests/fuzz/corpus/<target>/ (`-merge=1` minimises; see libFuzzer's docs).
# Extra arguments after the seconds go to libFuzzer.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

if [[ ${1:-} == --list ]]; then
    for f in tests/fuzz/*.cpp; do [[ -e $f ]] && basename "$f" .cpp; done
    exit 0
fi
target="${1:?usage: tools/fuzz.sh <target> [seconds] [libFuzzer args...] (--list for targets)}"
seconds="${2:-300}"
shift $(($# >= 2 ? 2 : 1))
if [[ ! -f tests/fuzz/$target.cpp ]]; then
    echo "fuzz.sh: no tests/fuzz/$target.cpp (targets: $("$0" --list | tr '\n' ' '))" >&2
    exit 2
fi

tools/setup.sh --quiet
dir=build/fuzz
CXX=clang++ cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE= -DCMAKE_CXX_COMPILER=clang++ \
    -DPIER_FUZZ=ON -DPIER_BUILD_TESTS=OFF -DPIER_BUILD_EXAMPLES=OFF -DPIER_BUILD_BENCH=OFF \
    >/dev/null
cmake --build "$dir" --target "fuzz_$target"

work="$dir/tests/fuzz/$target"
mkdir -p "$work/corpus"
args=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1)
jobs=$(($(nproc) > 1 ? $(nproc) - 1 : 1))
if [[ $jobs -gt 1 ]]; then
    args+=(-fork="$jobs" -ignore_crashes=0)
fi
[[ ! -f tests/fuzz/$target.dict ]] || args+=(-dict="$ROOT/tests/fuzz/$target.dict")
seeds=()
[[ ! -d tests/fuzz/corpus/$target ]] || seeds+=("$ROOT/tests/fuzz/corpus/$target")
cd "$work"
exec "./../fuzz_$target" "${args[@]}" "$@" corpus "${seeds[@]}"
