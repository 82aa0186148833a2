# shellcheck shell=bash
# tests/peers/lib/common.sh: what the peer scripts share, sourced by each (not a test itself:
# CTest globs tests/peers/*.sh only). One copy of: the pass/fail tally, the scratch directory,
# starting an example and reading its port from its "pier: listening on" line, waiting for a
# line in a log (an event, with a bound), and stopping every started process on every path.
#
#   . "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
#   peer_begin ws_node                     # scratch dir in $work, cleanup on exit
#   need_example ws_echo                   # exit 77 (skip) if not built
#   start_example echo ws_echo --threads 2 # sets $echo_pid and $echo_port
#   check "what" test "$x" = y             # ok/FAIL line, counted
#   stop_example echo                      # SIGTERM; a FAIL unless it exits 0 within 15 s
#   peer_end                               # summary; exit status
set -uo pipefail

examples="${PIER_EXAMPLES_DIR:-}"
source_dir="${PIER_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)}"
failures=0
work=""
peer_pids=()

pass() { echo "ok   - $*"; }
fail() {
    echo "FAIL - $*"
    failures=$((failures + 1))
}
# check <description> <command...>: passes if the command succeeds.
check() {
    local what="$1"
    shift
    if "$@"; then pass "$what"; else fail "$what"; fi
}
# has <text> <needle>: whether text contains needle (prints the text when it does not).
has() {
    grep -qF -- "$2" <<<"$1" && return 0
    echo "#   expected '$2' in:"
    sed 's/^/#     /' <<<"$1" | head -40
    return 1
}

peer_cleanup() {
    local p
    for p in "${peer_pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
    for p in "${peer_pids[@]}"; do
        # Bounded: a process that ignores SIGTERM for 5 s is killed.
        timeout 5 tail --pid="$p" -f /dev/null 2>/dev/null || kill -KILL "$p" 2>/dev/null
        wait "$p" 2>/dev/null
    done
    peer_pids=()
    [[ -z $work ]] || rm -rf "$work"
}

# peer_begin NAME: makes the scratch directory $work and arranges the cleanup.
peer_begin() {
    work="$(mktemp -d "${PIER_TEST_TMPDIR:-${TMPDIR:-/tmp}}/$1.XXXXXX")"
    trap peer_cleanup EXIT
}

# need_example NAME...: skips the test (exit 77) unless each example is built.
need_example() {
    local b
    for b in "$@"; do
        [[ -n $examples && -x $examples/$b ]] || {
            echo "skip: $examples/$b not built"
            exit 77
        }
    done
}

# wait_for_line FILE REGEX [SECONDS]: waits until a line of FILE matches (grep -E), at most
# SECONDS (default 10); true if it did.
wait_for_line() {
    local deadline=$((SECONDS + ${3:-10}))
    until grep -qE -- "$2" "$1" 2>/dev/null; do
        ((SECONDS < deadline)) || return 1
        sleep 0.05
    done
}

# register_pid PID: a process the cleanup must stop (for processes started by hand).
register_pid() { peer_pids+=("$1"); }

# start_example VAR NAME ARGS...: starts example NAME with --port 0 and ARGS, output in
# $work/VAR.out/.err, and waits for its listening line. Sets VAR_pid and VAR_port.
start_example() {
    local var="$1" bin="$examples/$2"
    shift 2
    "$bin" --port 0 "$@" >"$work/$var.out" 2>"$work/$var.err" &
    local pid=$!
    peer_pids+=("$pid")
    printf -v "${var}_pid" '%s' "$pid"
    if ! wait_for_line "$work/$var.out" '^pier: listening on ' 20; then
        echo "FAIL - $bin did not start"
        sed 's/^/#   /' "$work/$var.err" | tail -20
        exit 1
    fi
    printf -v "${var}_port" '%s' "$(sed -n 's/^pier: listening on .*:\([0-9]*\)$/\1/p' "$work/$var.out" | head -1)"
}

# stop_example VAR: SIGTERM; checks that it exits with status 0 within 15 s.
stop_example() {
    local var="$1" pid_var="${1}_pid"
    local pid="${!pid_var}" rc=0
    kill -TERM "$pid" 2>/dev/null
    if ! timeout 15 tail --pid="$pid" -f /dev/null; then
        fail "$var did not stop within 15 s of SIGTERM"
        kill -KILL "$pid" 2>/dev/null
    fi
    wait "$pid"
    rc=$?
    local rest=() p
    for p in "${peer_pids[@]}"; do [[ $p == "$pid" ]] || rest+=("$p"); done
    peer_pids=("${rest[@]}")
    check "$var exits 0 on SIGTERM (got $rc)" test "$rc" -eq 0
}

# peer_end [LOG...]: prints the tally and exits 1 on any failure (with the tails of LOGs).
peer_end() {
    if [[ $failures -gt 0 ]]; then
        echo "# $failures failure(s)"
        local f
        for f in "$@"; do
            echo "# --- $f"
            sed 's/^/#   /' "$f" | tail -20
        done
        exit 1
    fi
    echo "# all passed"
    exit 0
}
