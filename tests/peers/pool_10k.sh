#!/usr/bin/env bash
# tests/peers/pool_10k.sh: 10,000 pool connections across 50 topics and 2,500 users, against
# ws_pool, from bench/load/ws_load's pool-idle mode (one epoll thread, 127.0.0.1–8 as
# sources): every connection authenticates with its user's token and subscribes with
# ?topics=, every one gets the welcome naming its user and topic, then one message per topic
# reaches each of the topic's other 199 members exactly once (9,950 deliveries), with no
# error envelope and no connection lost. The server then stops cleanly with them all open.
#
# Needs PIER_EXAMPLES_DIR and PIER_BUILD_DIR (for bench/ws_load: a build with
# PIER_BUILD_BENCH). RLIMIT_NOFILE is raised here (each side needs 10,000 descriptors and
# some); where it cannot be, the test is skipped. Exit 0 = pass, 77 = skipped.
#
# pier-test: serial
# pier-test: timeout=240
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

need_example ws_pool
load="${PIER_BUILD_DIR:-}/bench/ws_load"
[[ -x $load ]] || {
    echo "skip: $load not built (PIER_BUILD_BENCH=ON)"
    exit 77
}
conns=10000 topics=50 users=2500
want_fds=$((conns + 1024))
ulimit -n "$want_fds" 2>/dev/null
if (($(ulimit -n) < want_fds)); then
    echo "skip: RLIMIT_NOFILE is $(ulimit -n), need $want_fds"
    exit 77
fi

peer_begin pool_10k
secret="pool-10k-peer-test-secret-0123456789abcdef"
start_example pool ws_pool --threads 2 --secret "$secret" --max-connections 0 \
    --max-per-topic 0
echo "# ws_pool on port $pool_port; $conns connections, $topics topics, $users users"

timeout 200 "$load" --port "$pool_port" --mode pool-idle --secret "$secret" --conns "$conns" \
    --topics "$topics" --users "$users" --sources 8 --check-broadcast --hold 0 --timeout 180 \
    >"$work/load.out" 2>"$work/load.err"
rc=$?
out="$(cat "$work/load.out")"
echo "# $(tail -1 "$work/load.out" | cut -c1-300)"
check "ws_load exits 0 (got $rc)" test "$rc" -eq 0
check "all $conns connections ready" has "$out" "@ready $conns"
check "every connection got its welcome (user and topic checked)" has "$out" "\"welcomed\":$conns"
expected=$((conns - topics))
check "one message per topic reached each other member once ($expected)" \
    has "$out" "\"deliveries\":$expected,\"expected_deliveries\":$expected"
check "no errors (no error envelope, no lost connection)" has "$out" '"errors":0,'
stop_example pool
peer_end "$work/pool.err" "$work/load.err"
