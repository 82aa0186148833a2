#!/usr/bin/env bash
# tools/test.sh: pier's test command (the README's, and CI's through .ci/run).
#
# Installs what is missing (tools/setup.sh), then configures, builds and tests four build trees
# with Ninja and CTest, one after the other:
#
#   build/default  -O2 -g (asserts on): tests, examples, benches, and the meta checks
#                  (amalgamation, self-contained headers, ODR, compile-fail, CMake consumers)
#   build/single   the same tests and examples compiled against single_include/
#   build/asan     ASan + UBSan: tests and examples (so the peer tests run sanitized too)
#   build/tsan     TSan: tests and examples
#
# Prints one summary line per build and, last, `N passed, N failed` (tests across all builds;
# a build that does not compile counts as one failure, and the tests of what did build still
# run). Exits non-zero on any failure.
#
# Options:
#   --only a,b        run only these builds (default: default,single,asan,tsan)
#   --fresh           delete each build tree before configuring it
#   --no-setup        skip tools/setup.sh
#   --jobs N          parallel compile jobs (default: nproc)
#   --ctest-jobs N    parallel tests (default: 2)
#   --build-only      configure and build, run no test
#   --target T        build only target T (repeatable; implies --build-only)
#   -- ARGS...        passed to every ctest run, e.g. `-- -R unit. -L peers`
#
# Environment: CXX picks the compiler for a build tree's first configure; PIER_BUILD_ROOT puts
# the trees elsewhere (default: build); PIER_CMAKE_ARGS adds arguments to every configure (e.g.
# -DCMAKE_CXX_COMPILER_LAUNCHER=ccache); CI=true marks a CI run (a stale single header then is
# a failure rather than being regenerated).
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

ALL_BUILDS=(default single asan tsan)
BUILD_ROOT="${PIER_BUILD_ROOT:-build}"
PYTHON3=/usr/bin/python3
[[ -x $PYTHON3 ]] || PYTHON3=python3

usage() { sed -n '2,/^set -uo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; }

builds=("${ALL_BUILDS[@]}")
fresh=0
setup=1
jobs="$(nproc 2>/dev/null || echo 2)"
ctest_jobs=2
build_only=0
targets=()
ctest_extra=()
while [[ $# -gt 0 ]]; do
    case "$1" in
    --only)
        IFS=, read -r -a builds <<<"${2:?--only needs a list}"
        shift 2
        ;;
    --only=*)
        IFS=, read -r -a builds <<<"${1#--only=}"
        shift
        ;;
    --fresh) fresh=1; shift ;;
    --no-setup) setup=0; shift ;;
    --jobs) jobs="${2:?}"; shift 2 ;;
    --ctest-jobs) ctest_jobs="${2:?}"; shift 2 ;;
    --build-only) build_only=1; shift ;;
    --target) targets+=("${2:?}"); build_only=1; shift 2 ;;
    --) shift; ctest_extra=("$@"); break ;;
    -h | --help) usage; exit 0 ;;
    *) echo "test.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done
for b in "${builds[@]}"; do
    case " ${ALL_BUILDS[*]} " in
    *" $b "*) ;;
    *) echo "test.sh: unknown build '$b' (known: ${ALL_BUILDS[*]})" >&2; exit 2 ;;
    esac
done

say() { echo "test.sh: $*"; }

# --- dependencies --------------------------------------------------------------------------
if [[ $setup == 1 ]]; then
    setup_args=(--quiet)
    # Heavier peers only when a peer test uses them.
    if grep -qsE "require\(['\"]ws['\"]\)|from ['\"]ws['\"]|NODE_PATH|node_modules" tests/peers/* 2>/dev/null; then
        setup_args+=(--node-ws)
    fi
    if grep -qslE "chromium" tests/peers/* 2>/dev/null; then
        setup_args+=(--browser)
    fi
    if grep -qsE "playwright-core" tests/peers/* 2>/dev/null; then
        setup_args+=(--playwright)
    fi
    if ! tools/setup.sh "${setup_args[@]}"; then
        say "tools/setup.sh failed"
        echo "0 passed, 1 failed"
        exit 1
    fi
fi

# --- per-build configuration ---------------------------------------------------------------
# set_cmake_args BUILD: sets the array `args`. -O2 -g without -DNDEBUG: optimised like a
# release, but pier's assertions stay armed. Sanitizer builds get -O1 -g from PIER_SANITIZE.
# No build compiles the examples' full policy matrix (PIER_EXAMPLES_POLICY_MATRIX, ON for
# users): every policy combination is already served by integration.core_policies, and the
# matrix triples the examples' compile time, which CI's budget cannot spare.
# Asio is compiled once everywhere; header-only Asio, as users have it, is covered by meta.odr
# and the meta.cmake_import consumers.
set_cmake_args() {
    args=(-G Ninja -DPIER_BUILD_TESTS=ON -DPIER_BUILD_EXAMPLES=ON
        -DPIER_ASIO_SEPARATE_COMPILATION=ON)
    case "$1" in
    default)
        args+=(-DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 -g"
            -DPIER_BUILD_BENCH=ON -DPIER_SINGLE_HEADER=OFF -DPIER_SANITIZE=
            -DPIER_EXAMPLES_POLICY_MATRIX=OFF -DPIER_TEST_META=ON -DPIER_CHECK_HEADERS=ON
            -DPIER_TEST_CMAKE_IMPORT=ON)
        ;;
    single)
        args+=(-DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 -g"
            -DPIER_BUILD_BENCH=OFF -DPIER_SINGLE_HEADER=ON -DPIER_SANITIZE=
            -DPIER_EXAMPLES_POLICY_MATRIX=OFF -DPIER_TEST_META=ON -DPIER_CHECK_HEADERS=OFF
            -DPIER_TEST_CMAKE_IMPORT=OFF)
        ;;
    asan | tsan)
        local sanitize=address,undefined
        [[ $1 == asan ]] || sanitize=thread
        args+=(-DCMAKE_BUILD_TYPE= -DPIER_BUILD_BENCH=OFF -DPIER_SINGLE_HEADER=OFF
            "-DPIER_SANITIZE=$sanitize" -DPIER_EXAMPLES_POLICY_MATRIX=OFF
            -DPIER_TEST_META=OFF -DPIER_CHECK_HEADERS=OFF -DPIER_TEST_CMAKE_IMPORT=OFF)
        ;;
    esac
}

sanitizer_env_for() {
    case "$1" in
    asan)
        export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
        export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
        ;;
    tsan)
        export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1
        ;;
    esac
}

# TSan maps its shadow memory at fixed addresses; with high mmap ASLR entropy some kernels put
# the binary where TSan wants its shadow ("FATAL: ThreadSanitizer: unexpected memory mapping").
# A one-line probe tells whether ctest must run with ASLR off (setarch -R).
tsan_runner() {
    local dir="$1/tsan-probe"
    mkdir -p "$dir"
    printf '#include <thread>\nint main() { int x = 0; std::thread t([&] { x = 1; }); t.join(); return x - 1; }\n' \
        >"$dir/probe.cpp"
    local cxx="${CXX:-c++}"
    if [[ -f $1/CMakeCache.txt ]]; then
        cxx="$(sed -n 's/^CMAKE_CXX_COMPILER:[A-Z]*=//p' "$1/CMakeCache.txt")"
    fi
    if ! "$cxx" -std=c++20 -fsanitize=thread -g "$dir/probe.cpp" -o "$dir/probe" -pthread 2>"$dir/compile.log"; then
        return 0 # the real build will report a broken toolchain
    fi
    if "$dir/probe" >"$dir/run.log" 2>&1; then
        return 0
    fi
    if grep -q "unexpected memory mapping" "$dir/run.log" &&
        setarch "$(uname -m)" -R "$dir/probe" >/dev/null 2>&1; then
        echo "setarch $(uname -m) -R"
    fi
}

# count_results JUNIT: prints "passed failed skipped". CTest writes skipped tests (exit 77) and
# tests it could not start alike as <skipped>; only the former are skips.
count_results() {
    "$PYTHON3" - "$1" <<'EOF'
import sys, xml.etree.ElementTree as ET
passed = failed = skipped = 0
try:
    root = ET.parse(sys.argv[1]).getroot()
except Exception:
    print("0 0 0 missing")
    sys.exit(0)
for case in root.iter("testcase"):
    status = case.get("status")
    skip = case.find("skipped")
    if case.find("failure") is not None or status == "fail":
        failed += 1
    elif status == "disabled":
        skipped += 1
    elif skip is not None:
        message = skip.get("message", "")
        if message.startswith("SKIP_RETURN_CODE") or message.startswith("SKIP_REGULAR_EXPRESSION"):
            skipped += 1
        else:
            failed += 1
    else:
        passed += 1
print(passed, failed, skipped, "ok")
EOF
}

fmt_time() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }

# --- the single header ---------------------------------------------------------------------
# CI tests what is committed (meta.amalgamation_fresh fails on a stale file); a developer's
# stale single header is regenerated so that build/single tests the current headers.
if [[ -f include/pier/pier.hpp ]] && [[ " ${builds[*]} " == *" single "* || " ${builds[*]} " == *" default "* ]]; then
    if ! "$PYTHON3" tools/amalgamate.py --check >/dev/null 2>&1; then
        if [[ ${CI:-} == true ]]; then
            say "single_include/pier/pier.hpp is stale or missing (meta.amalgamation_fresh will fail)"
            "$PYTHON3" tools/amalgamate.py --check 2>&1 | head -20
        else
            say "regenerating the stale single_include/pier/pier.hpp (commit it)"
            "$PYTHON3" tools/amalgamate.py
        fi
    fi
fi

# --- run -----------------------------------------------------------------------------------
total_passed=0
total_failed=0
total_skipped=0
summaries=()
overall_start=$SECONDS

for build in "${builds[@]}"; do
    dir="$BUILD_ROOT/$build"
    say "===== $build: configure ====="
    [[ $fresh == 0 ]] || rm -rf "$dir"
    mkdir -p "$dir"
    build_start=$SECONDS
    set_cmake_args "$build"
    if [[ -n ${PIER_CMAKE_ARGS:-} ]]; then
        read -r -a extra_args <<<"$PIER_CMAKE_ARGS"
        args+=("${extra_args[@]}")
    fi
    if ! cmake -S . -B "$dir" "${args[@]}" >"$dir/configure.log" 2>&1; then
        cat "$dir/configure.log"
        summaries+=("$build: configure FAILED (see $dir/configure.log)")
        total_failed=$((total_failed + 1))
        continue
    fi
    say "===== $build: build ====="
    build_cmd=(cmake --build "$dir" --parallel "$jobs")
    for t in "${targets[@]}"; do build_cmd+=(--target "$t"); done
    # -k 0: a TU that does not compile should not hide the others' errors, nor keep the tests
    # of everything that did build from running.
    build_note=""
    if ! "${build_cmd[@]}" -- -k 0; then
        build_note=" (BUILD FAILED)"
        total_failed=$((total_failed + 1))
    fi
    build_time=$((SECONDS - build_start))
    if [[ $build_only == 1 ]]; then
        summaries+=("$build: build $(fmt_time $build_time)$build_note")
        continue
    fi

    say "===== $build: test ====="
    test_start=$SECONDS
    runner=()
    (
        sanitizer_env_for "$build"
        if [[ $build == tsan ]]; then
            read -r -a runner <<<"$(tsan_runner "$dir")"
            [[ ${#runner[@]} == 0 ]] || say "TSan needs ASLR off here: running ctest under ${runner[*]}"
        fi
        rm -f "$dir/junit.xml"
        "${runner[@]}" ctest --test-dir "$dir" --output-on-failure -j "$ctest_jobs" \
            --output-junit "$(cd "$dir" && pwd)/junit.xml" "${ctest_extra[@]}" </dev/null
    )
    ctest_rc=$?
    test_time=$((SECONDS - test_start))
    read -r passed failed skipped state <<<"$(count_results "$dir/junit.xml")"
    if [[ $state != ok ]]; then
        failed=$((failed + 1))
        note=" (no CTest results: ctest exited $ctest_rc)"
    elif [[ $ctest_rc != 0 && $failed == 0 ]]; then
        # e.g. no test matched, or ctest itself failed
        failed=1
        note=" (ctest exited $ctest_rc)"
    else
        note=""
    fi
    total_passed=$((total_passed + passed))
    total_failed=$((total_failed + failed))
    total_skipped=$((total_skipped + skipped))
    summaries+=("$build: build $(fmt_time $build_time)$build_note, tests $(fmt_time $test_time): $passed passed, $failed failed, $skipped skipped$note")
done

echo
say "===== summary ($(fmt_time $((SECONDS - overall_start))) in all) ====="
for line in "${summaries[@]}"; do
    say "$line"
done
if [[ $build_only == 1 ]]; then
    [[ $total_failed == 0 ]]
    exit
fi
echo "$total_passed passed, $total_failed failed"
[[ $total_failed == 0 ]]
