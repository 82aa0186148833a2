#!/usr/bin/env bash
# tools/test.sh: pier's test command (the README's, and CI's through .ci/run).
#
# Installs what is missing (tools/setup.sh), then configures, builds and tests three build trees
# with Ninja and CTest. Each tree's tests run while the next tree compiles. What each covers:
#
#   default  every test, unsanitized (-O0 -g1, assertions on): unit, integration, peers, fuzz
#            replays, benches' smoke run, and the meta checks (clang-format, amalgamation,
#            self-contained headers, ODR, compile-fail, CMake consumers)
#   single   (built in the default tree) the single header: a smoke set of unit and integration
#            tests and the ws_echo example compiled against single_include/ and run, plus the
#            meta checks above that concern it (amalgamation fresh, ODR, consumer project)
#   asan     ASan+UBSan on everything that parses, buffers or frees: unit, integration, fuzz
#            replays, and the peer tests through the sanitized examples they drive (UBSan's
#            alignment and null checks only in the fuzz replays, one per parser: elsewhere
#            they were 30% of the tree's compile, see PIER_UBSAN_SKIP)
#   tsan     TSan on every test that runs pier on more than one thread (`pier-test: threads`):
#            schedulers, cross-thread sends, shutdown, the worker pool; it skips single-threaded
#            parsers, fuzz replays and peer scripts
#
# Prints, per tree, the build and test times, the 10 slowest translation units and the 10
# slowest tests, then `N passed, N failed` (a tree that does not compile counts as one failure,
# and the tests of what did build still run). The run ends by checking that no process a test
# started is still alive (a leftover fails the run). Exits non-zero on any failure.
#
# Options:
#   --only a,b        run only these trees (default: default,asan,tsan; "single" is part of
#                     default and can be named alone to run just its tests)
#   --fresh           delete each build tree before configuring it
#   --no-setup        skip tools/setup.sh
#   --jobs N          parallel compile jobs (default: nproc)
#   --ctest-jobs N    parallel tests (default: 3; many tests wait on deadlines, not CPU)
#   --serial          run each tree's tests after its build, not beside the next build
#   --build-only      configure and build, run no test
#   --target T        build only target T (repeatable; implies --build-only)
#   --stress N        run the selected tests N times each (ctest --repeat until-fail:N) with
#                     both cores kept busy by spinning processes; e.g.
#                     `tools/test.sh --only tsan --stress 20 -- -L integration`
#   -- ARGS...        passed to every ctest run, e.g. `-- -R unit. -L peers`
#
# Compilers: the default tree (and the single header's tests in it) uses GCC, Debian's compiler
# and its users'; the ASan+UBSan and TSan trees use clang-16 (tools/setup.sh installs it), which
# compiles them in less than half GCC's time and brings a second compiler's warnings. Without
# clang++-16 they fall back to the default tree's compiler.
#
# Environment: CXX picks the default tree's compiler at its first configure; PIER_SANITIZER_CXX
# the sanitized trees' (a change reconfigures them afresh); PIER_BUILD_ROOT puts the trees
# elsewhere (default: build); PIER_CMAKE_ARGS adds arguments to every configure;
# CI=true marks a CI run (a stale single header then is a failure rather than regenerated).
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

ALL_TREES=(default asan tsan)
BUILD_ROOT="${PIER_BUILD_ROOT:-build}"
PYTHON3=/usr/bin/python3
[[ -x $PYTHON3 ]] || PYTHON3=python3

usage() { sed -n '2,/^set -uo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; }

trees=("${ALL_TREES[@]}")
fresh=0
setup=1
jobs="$(nproc 2>/dev/null || echo 2)"
ctest_jobs=3
serial=0
build_only=0
stress=0
targets=()
ctest_extra=()
while [[ $# -gt 0 ]]; do
    case "$1" in
    --only)
        IFS=, read -r -a trees <<<"${2:?--only needs a list}"
        shift 2
        ;;
    --only=*)
        IFS=, read -r -a trees <<<"${1#--only=}"
        shift
        ;;
    --fresh) fresh=1; shift ;;
    --no-setup) setup=0; shift ;;
    --jobs) jobs="${2:?}"; shift 2 ;;
    --ctest-jobs) ctest_jobs="${2:?}"; shift 2 ;;
    --serial) serial=1; shift ;;
    --build-only) build_only=1; shift ;;
    --target) targets+=("${2:?}"); build_only=1; shift 2 ;;
    --stress) stress="${2:?}"; shift 2 ;;
    --) shift; ctest_extra=("$@"); break ;;
    -h | --help) usage; exit 0 ;;
    *) echo "test.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done
only_single=0
for t in "${trees[@]}"; do
    case " ${ALL_TREES[*]} single " in
    *" $t "*) ;;
    *) echo "test.sh: unknown tree '$t' (known: ${ALL_TREES[*]} single)" >&2; exit 2 ;;
    esac
done
# "single" lives in the default tree: naming it alone builds that tree and runs its tests.
if [[ " ${trees[*]} " == *" single "* && " ${trees[*]} " != *" default "* ]]; then
    only_single=1
fi
mapfile -t trees < <(printf '%s\n' "${trees[@]}" | sed 's/^single$/default/' | awk '!seen[$0]++')

say() { echo "test.sh: $*"; }
fmt_time() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }

# --- dependencies --------------------------------------------------------------------------
if [[ $setup == 1 ]]; then
    setup_args=(--quiet)
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

# --- per-tree configuration ----------------------------------------------------------------
# Compiling is most of CI's time, so each tree compiles at the cheapest level that serves it
# (benchmarks build their own -O2 tree, bench/run.py). -g1 everywhere: backtraces and
# sanitizer reports keep function names and lines. -O0 in the default and ASan trees: GCC
# compiles them 1.3× (plain) and 2.2× (ASan+UBSan) faster than at -O1, and their tests wait
# on sockets, not on the CPU. TSan too (quiet, 2 cores: build 2m04s and tests 0m51s at -O0,
# 2m42s and 0m37s at -O1; the tests' extra time was one byte loop, since removed). Asio is
# compiled once per tree. Sanitized trees skip the checks that gain nothing from a sanitizer
# (meta, bench); ASan skips the examples no peer test drives (echo, blocking, http_hello:
# their compile is their test, which the default tree runs); TSan compiles only the sources
# that carry the `threads` marker (tests/CMakeLists.txt). Every tree compiles the Boost.Test
# sources eight at a time as one translation unit (PIER_TEST_UNITY; the test executables of the
# default tree, clean, on 2 cores: 416 CPU-s one by one, 268 four at a time, 255 eight at a
# time), ASan builds ws_pool without --redis (PIER_EXAMPLES_REDIS), which its peer test
# then skips, saying so, and ASan leaves UBSan's alignment and null checks to the fuzz
# replays (PIER_UBSAN_SKIP; cmake/PierDevelopment.cmake has the measurements).
set_cmake_args() {
    args=(-G Ninja -DPIER_BUILD_TESTS=ON -DPIER_ASIO_SEPARATE_COMPILATION=ON
        -DPIER_EXAMPLES_POLICY_MATRIX=OFF -DPIER_EXAMPLES_DEFAULT_POLICIES=ON
        -DCMAKE_BUILD_TYPE=RelWithDebInfo
        "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O0 -g1" -DPIER_EXAMPLES_SKIP=
        -DPIER_TEST_UNITY=8 -DPIER_EXAMPLES_REDIS=ON -DPIER_UBSAN_SKIP=)
    case "$1" in
    default)
        args+=(-DPIER_BUILD_EXAMPLES=ON -DPIER_BUILD_BENCH=ON -DPIER_SINGLE_HEADER=OFF
            -DPIER_SANITIZE= -DPIER_TEST_META=ON -DPIER_CHECK_HEADERS=ON
            -DPIER_TEST_CMAKE_IMPORT=ON -DPIER_SINGLE_HEADER_SMOKE=ON -DPIER_TEST_LABEL_FILTER=)
        ;;
    asan)
        args+=(-DPIER_BUILD_EXAMPLES=ON "-DPIER_EXAMPLES_SKIP=echo;blocking;http_hello"
            -DPIER_EXAMPLES_REDIS=OFF -DPIER_UBSAN_SKIP=alignment,null
            -DPIER_BUILD_BENCH=OFF -DPIER_SINGLE_HEADER=OFF
            -DPIER_SANITIZE=address,undefined -DPIER_TEST_META=OFF -DPIER_CHECK_HEADERS=OFF
            -DPIER_TEST_CMAKE_IMPORT=OFF -DPIER_SINGLE_HEADER_SMOKE=OFF -DPIER_TEST_LABEL_FILTER=)
        ;;
    tsan)
        args+=(-DPIER_BUILD_EXAMPLES=OFF -DPIER_BUILD_BENCH=OFF -DPIER_SINGLE_HEADER=OFF
            -DPIER_SANITIZE=thread -DPIER_TEST_META=OFF -DPIER_CHECK_HEADERS=OFF
            -DPIER_TEST_CMAKE_IMPORT=OFF -DPIER_SINGLE_HEADER_SMOKE=OFF
            -DPIER_TEST_LABEL_FILTER=threads)
        ;;
    esac
}

# tree_cxx TREE: the compiler for a tree (see "Compilers" above). The largest ASan+UBSan test TU
# compiles in 63 s with clang-16 against 118 s with GCC 12 (each alone, quiet machine); in clean-
# clone CI runs on 2 cores the ASan tree built in 3m28s-4m14s beside the default tree's tests
# (6m25s with GCC) and the TSan tree in 1m43s-2m02s (2m51s).
tree_cxx() {
    case "$1" in
    asan | tsan)
        if [[ -n ${PIER_SANITIZER_CXX:-} ]]; then
            echo "$PIER_SANITIZER_CXX"
        elif command -v clang++-16 >/dev/null 2>&1; then
            echo clang++-16
        else
            echo "${CXX:-c++}"
        fi
        ;;
    *) echo "${CXX:-c++}" ;;
    esac
}

# ctest_selection TREE: the labels each tree runs.
ctest_selection() {
    case "$1" in
    default) sel=(-LE '^single$') ;;
    single) sel=(-L '^single$') ;;
    asan) sel=(-L '^(unit|integration|peers|fuzz)$') ;;
    tsan) sel=(-L '^threads$') ;;
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
    local cxx
    cxx="$(tree_cxx tsan)"
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

# count_results JUNIT: prints "passed failed skipped state". CTest writes skipped tests (exit
# 77) and tests it could not start alike as <skipped>; only the former are skips.
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

# slowest_tus DIR: the 10 slowest compile steps of the last build, from .ninja_log.
slowest_tus() {
    [[ -f $1/.ninja_log ]] || return 0
    local line unity members
    awk -F'\t' 'NR > 1 && $4 ~ /\.(o|gch)$/ { t[$4] = ($2 - $1) / 1000 }
        END { for (k in t) printf "%7.1f s  %s\n", t[k], k }' "$1/.ninja_log" |
        sort -rn | head -10 | while IFS= read -r line; do
            # A unity group (PIER_TEST_UNITY) is named after the sources in it.
            if [[ $line =~ /unity/([A-Za-z0-9_]+)\.cpp\.o$ ]]; then
                unity="$1/tests/unity/${BASH_REMATCH[1]}.cpp"
                members="$(sed -n 's/^namespace pier_unity_\([A-Za-z0-9_]*\) {$/\1/p' "$unity" \
                    2>/dev/null | paste -sd, -)"
                [[ -n $members ]] && line+=" ($members)"
            fi
            echo "test.sh:   $line"
        done
}

# slowest_tests JUNIT: the 10 slowest tests of a ctest run.
slowest_tests() {
    "$PYTHON3" - "$1" <<'EOF'
import sys, xml.etree.ElementTree as ET
try:
    root = ET.parse(sys.argv[1]).getroot()
except Exception:
    sys.exit(0)
rows = sorted(((float(c.get("time", 0)), c.get("name")) for c in root.iter("testcase")), reverse=True)
for t, name in rows[:10]:
    print(f"test.sh:   {t:7.1f} s  {name}")
EOF
}

# --- the single header ---------------------------------------------------------------------
# CI tests what is committed (meta.amalgamation_fresh fails on a stale file); a developer's
# stale single header is regenerated so that the single-header smoke tests the current headers.
if [[ -f include/pier/pier.hpp ]] && [[ " ${trees[*]} " == *" default "* ]]; then
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

# --- stress: both cores busy while the tests repeat ---------------------------------------
spinners=()
stop_spinners() {
    local p
    for p in "${spinners[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${spinners[@]}"; do wait "$p" 2>/dev/null; done
    spinners=()
}
if [[ $stress -gt 0 ]]; then
    for _ in $(seq "$(nproc 2>/dev/null || echo 2)"); do
        nice -n 5 bash -c 'while :; do :; done' &
        spinners+=($!)
    done
    say "stress: ${#spinners[@]} spinning processes keep the cores busy; each test runs up to $stress times"
fi

# --- leftovers: every test runs with this marker in its environment, so that a process a test
# started and did not stop can be found afterwards, whatever it is (an example, redis-server,
# a browser), and its parent long gone.
export PIER_TEST_RUN_ID="pier-test-$$-$RANDOM$RANDOM"
leftovers() {
    local p found=()
    for p in /proc/[0-9]*; do
        [[ ${p#/proc/} == "$$" ]] && continue
        if tr '\0' '\n' 2>/dev/null <"$p/environ" | grep -qx "PIER_TEST_RUN_ID=$PIER_TEST_RUN_ID"; then
            found+=("${p#/proc/}:$(tr '\0' ' ' <"$p/cmdline" 2>/dev/null | cut -c1-100)")
        fi
    done
    printf '%s\n' "${found[@]}"
}

# --- run -----------------------------------------------------------------------------------
total_passed=0
total_failed=0
total_skipped=0
summaries=()
overall_start=$SECONDS

# run_tests TREE SELECTION-NAME: runs ctest for one selection of a tree; appends a summary.
run_tests() {
    local tree="$1" name="$2" dir="$BUILD_ROOT/$1"
    local junit log start=$SECONDS
    junit="$(cd "$dir" && pwd)/junit-$name.xml"
    log="$dir/ctest-$name.log"
    ctest_selection "$name"
    local repeat=()
    [[ $stress -gt 0 ]] && repeat=(--repeat "until-fail:$stress")
    (
        sanitizer_env_for "$tree"
        runner=()
        if [[ $tree == tsan ]]; then
            read -r -a runner <<<"$(tsan_runner "$dir")"
            [[ ${#runner[@]} == 0 ]] || say "TSan needs ASLR off here: running ctest under ${runner[*]}"
        fi
        rm -f "$junit"
        "${runner[@]}" ctest --test-dir "$dir" --output-on-failure -j "$ctest_jobs" \
            --output-junit "$junit" "${sel[@]}" "${repeat[@]}" "${ctest_extra[@]}" </dev/null
    ) >"$log" 2>&1
    local rc=$?
    local t=$((SECONDS - start))
    echo "$rc $t" >"$dir/ctest-$name.done"
}

# covers NAME: what a test run covers and why, in one line (printed above its results).
covers() {
    case "$1" in
    default) echo "every test, unsanitized: unit, integration, peers, fuzz replays, bench smoke, meta checks" ;;
    single) echo "the single header: amalgamation fresh, ODR, consumer project, a smoke set and ws_echo against it" ;;
    asan) echo "ASan+UBSan on all that parses, buffers or frees: unit, integration, fuzz replays (all UBSan checks), peers via sanitized examples" ;;
    tsan) echo "TSan on every test that runs pier on more than one thread; skips single-threaded parsers, fuzz replays, peers" ;;
    esac
}

# report_tests TREE NAME BUILD-TIME BUILD-NOTE: prints a finished ctest run and counts it.
report_tests() {
    local tree="$1" name="$2" dir="$BUILD_ROOT/$1"
    local rc t
    read -r rc t <"$dir/ctest-$name.done"
    say "===== $name: tests ====="
    say "$name covers: $(covers "$name")"
    # The log in full for failures; the usual per-test lines otherwise.
    if [[ $rc != 0 ]]; then cat "$dir/ctest-$name.log"; else grep -E "Test +#|tests passed|Total Test" "$dir/ctest-$name.log"; fi
    read -r passed failed skipped state <<<"$(count_results "$dir/junit-$name.xml")"
    local note=""
    if [[ $state != ok ]]; then
        failed=$((failed + 1))
        note=" (no CTest results: ctest exited $rc)"
    elif [[ $rc != 0 && $failed == 0 ]]; then
        failed=1
        note=" (ctest exited $rc)"
    fi
    say "slowest tests of $name:"
    slowest_tests "$dir/junit-$name.xml"
    total_passed=$((total_passed + passed))
    total_failed=$((total_failed + failed))
    total_skipped=$((total_skipped + skipped))
    summaries+=("$name: build $3$4, tests $(fmt_time "$t"): $passed passed, $failed failed, $skipped skipped$note")
}

# At most one tree's tests run in the background, beside the next tree's build.
pending_pid=""
pending=()
finish_pending() {
    [[ -n $pending_pid ]] || return 0
    wait "$pending_pid"
    local tree="${pending[0]}" build_time="${pending[1]}" build_note="${pending[2]}" name
    for name in "${pending[@]:3}"; do report_tests "$tree" "$name" "$build_time" "$build_note"; done
    pending_pid=""
    pending=()
}
tree_tests() { # tree_tests TREE NAME...: the tree's selections, one after the other
    local tree="$1" name
    shift
    for name in "$@"; do run_tests "$tree" "$name"; done
}

for tree in "${trees[@]}"; do
    dir="$BUILD_ROOT/$tree"
    say "===== $tree: configure ====="
    [[ $fresh == 0 ]] || rm -rf "$dir"
    cxx="$(tree_cxx "$tree")"
    if [[ $tree != default && -f $dir/CMakeCache.txt ]]; then
        # A sanitized tree configured with another compiler starts afresh (CMake keeps the
        # compiler of a tree's first configure).
        cached="$(sed -n 's/^CMAKE_CXX_COMPILER:[A-Z]*=//p' "$dir/CMakeCache.txt")"
        if [[ "$(readlink -f "$(command -v "$cxx")")" != "$(readlink -f "$cached")" ]]; then
            say "$tree: compiler changed ($cached -> $cxx): configuring afresh"
            rm -rf "$dir"
        fi
    fi
    [[ $tree == default ]] || say "$tree: compiler $cxx"
    mkdir -p "$dir"
    build_start=$SECONDS
    set_cmake_args "$tree"
    if [[ -n ${PIER_CMAKE_ARGS:-} ]]; then
        read -r -a extra_args <<<"$PIER_CMAKE_ARGS"
        args+=("${extra_args[@]}")
    fi
    if ! CXX="$cxx" cmake -S . -B "$dir" "${args[@]}" >"$dir/configure.log" 2>&1; then
        cat "$dir/configure.log"
        summaries+=("$tree: configure FAILED (see $dir/configure.log)")
        total_failed=$((total_failed + 1))
        continue
    fi
    say "===== $tree: build ====="
    build_cmd=(cmake --build "$dir" --parallel "$jobs")
    for t in "${targets[@]}"; do build_cmd+=(--target "$t"); done
    build_note=""
    # -k 0: a TU that does not compile should not hide the others' errors, nor keep the tests
    # of everything that did build from running.
    if ! "${build_cmd[@]}" -- -k 0; then
        build_note=" (BUILD FAILED)"
        total_failed=$((total_failed + 1))
    fi
    build_time="$(fmt_time $((SECONDS - build_start)))"
    say "$tree: built in $build_time; slowest translation units:"
    slowest_tus "$dir"
    if [[ $build_only == 1 ]]; then
        summaries+=("$tree: build $build_time$build_note")
        continue
    fi
    # The previous tree's tests finish before this tree's start: two test runs at once would
    # leave both short of CPU.
    finish_pending
    names=("$tree")
    [[ $tree == default ]] && names=(default single)
    [[ $only_single == 1 && $tree == default ]] && names=(single)
    if [[ $serial == 1 || $stress -gt 0 ]]; then
        for name in "${names[@]}"; do
            run_tests "$tree" "$name"
            report_tests "$tree" "$name" "$build_time" "$build_note"
        done
    else
        tree_tests "$tree" "${names[@]}" &
        pending_pid=$!
        pending=("$tree" "$build_time" "$build_note" "${names[@]}")
    fi
done
finish_pending
stop_spinners

echo
say "===== summary ($(fmt_time $((SECONDS - overall_start))) in all) ====="
for line in "${summaries[@]}"; do
    say "$line"
done
if [[ $build_only == 1 ]]; then
    [[ $total_failed == 0 ]]
    exit
fi
left="$(leftovers)"
if [[ -n $left ]]; then
    say "FAILED: processes started by the tests are still running (pid:command):"
    sed 's/^/test.sh:   /' <<<"$left"
    total_failed=$((total_failed + 1))
    # Stop them, so that one bad run does not poison the next.
    cut -d: -f1 <<<"$left" | xargs -r kill -KILL 2>/dev/null
fi
echo "$total_passed passed, $total_failed failed"
[[ $total_failed == 0 ]]
