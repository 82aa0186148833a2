#!/usr/bin/env python3
"""pier's benchmark runner: builds the reference servers, load clients and pier's examples, runs
every scenario against pier and the references under one protocol, and rewrites bench/RESULTS.md.

Protocol (2-core machine): the server under test is pinned to CPU 0 and the load generator to
CPU 1 (taskset); every server of a scenario is started once and the servers take turns, run by
run, for --reps repetitions (interleaved, so slow drifts of the machine hit all of them alike);
the figures are medians with their spread (min..max). The headline figure is work per server
CPU-second: the server's utime+stime from /proc/<pid>/stat (all threads, plus child processes
such as nginx's worker) over exactly the measured window, which the C++ load clients mark with
`@start`/`@stop` lines. Plain throughput is reported beside it, as is the CPU time that other
processes used during each window (a busy neighbour shows up there instead of silently skewing
throughput).

Plain Python 3 standard library only. Usage:
    bench/run.py                 # everything, ~15 minutes, rewrites bench/RESULTS.md
    bench/run.py --smoke         # ~2 minutes: builds, runs each scenario once briefly, checks
                                 # answers and non-zero work; writes build/bench/RESULTS-smoke.md
    bench/run.py --only http_ka_1k,ws_echo_64 --reps 5
    bench/run.py --only zc_,wan_ # zero copy (1 GiB file, 1 GiB through the proxy) and socket
                                 # buffers on an emulated long path (needs root: namespaces)
    bench/run.py --list          # scenario names
    bench/run.py --only ws_ --ref uws='/path/to/uws_server {port}'
                                 # adds an external server (built outside the repository, such as
                                 # uWebSockets) to every scenario selected (except the pool's), as
                                 # one more reference; it must speak their protocol
Exit status: 0 when every run that was attempted produced sane output, 1 otherwise, 77 when a
dependency could not be installed (ctest's "skipped").
"""

import argparse
import base64
import datetime
import hashlib
import hmac
import json
import os
import platform
import re
import resource
import shutil
import shlex
import signal
import socket
import ssl
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
HZ = os.sysconf("SC_CLK_TCK")
SERVER_CPU = "0"
LOAD_CPU = "1"
FD_LIMIT = 65536

# --------------------------------------------------------------------------------------------
# Scenarios. `servers` lists (kind, pier example or None); kind "pier" is the candidate, every
# other kind a reference. Work units: req = HTTP responses, tx = transactions, msg = echoed
# messages, delivery = broadcast messages received, handshake = WebSocket opening handshakes,
# B/conn = resident bytes per idle connection (lower is better).
# --------------------------------------------------------------------------------------------
SCENARIOS = [
    dict(name="http_ka_1k", title="HTTP, 1 kB body, keep-alive (tcpserver test 2)", unit="req",
         servers=[("pier", "http_hello"), ("epoll", None), ("nginx", None)],
         load=dict(kind="wrk", conns=50), body=1024),
    dict(name="http_close_1k", title="HTTP, 1 kB body, new connection per request (test 1)",
         unit="req", servers=[("pier", "http_hello"), ("epoll", None), ("nginx", None)],
         load=dict(kind="wrk", conns=50, close=True), body=1024),
    dict(name="https_ka_1k", title="HTTPS, 1 kB body, keep-alive (test 2, TLS)", unit="req",
         servers=[("pier", "tls_http_hello"), ("nginx", None)],
         load=dict(kind="wrk", conns=50, tls=True), body=1024, tls=True),
    dict(name="https_close_1k", title="HTTPS, 1 kB body, new connection per request (test 1, TLS)",
         unit="req", servers=[("pier", "tls_http_hello"), ("nginx", None)],
         load=dict(kind="wrk", conns=50, tls=True, close=True), body=1024, tls=True),
    dict(name="http_sleep_128", title="HTTP, 128 B body, 1 ms sleep in the handler, keep-alive (test 5)",
         unit="req", servers=[("pier", "blocking"), ("epoll", None), ("nginx", None)],
         load=dict(kind="wrk", conns=100), body=128, sleep_ms=1),
    dict(name="http_close_16k", title="HTTP, 16 kB body, new connection per request (test 6)",
         unit="req", servers=[("pier", "http_hello"), ("epoll", None), ("nginx", None)],
         load=dict(kind="wrk", conns=50, close=True), body=16384),
    dict(name="conn_latency_c1", title="Connect per transaction, 3000 B x 2 round trips, concurrency 1",
         unit="tx", servers=[("pier", "echo"), ("epoll", None)],
         load=dict(kind="conn_latency", conns=1, count=20000), echo=True),
    dict(name="conn_latency_c32", title="Connect per transaction, 3000 B x 2 round trips, concurrency 32",
         unit="tx", servers=[("pier", "echo"), ("epoll", None)],
         load=dict(kind="conn_latency", conns=32, count=100000), echo=True),
    dict(name="ws_echo_64", title="WebSocket echo, 64 B binary, 64 connections x 8 in flight",
         unit="msg", servers=[("pier", "ws_echo"), ("beast", None)],
         load=dict(kind="ws", mode="echo", conns=64, depth=8, size=64), ws=True),
    dict(name="ws_echo_16k", title="WebSocket echo, 16 KiB binary, 64 connections x 2 in flight",
         unit="msg", servers=[("pier", "ws_echo"), ("beast", None)],
         load=dict(kind="ws", mode="echo", conns=64, depth=2, size=16384), ws=True),
    dict(name="ws_broadcast_1000", title="WebSocket broadcast, 64 B to 1,000 subscribers, 16 in flight",
         unit="delivery", servers=[("pier", "ws_broadcast"), ("beast", None)],
         load=dict(kind="ws", mode="broadcast", conns=1000, size=64, window=16), ws=True),
    dict(name="ws_connect_storm", title="WebSocket connect storm (open + close handshakes), 32 at once",
         unit="handshake", servers=[("pier", "ws_echo"), ("beast", None)],
         load=dict(kind="ws", mode="storm", conns=32, sources=8), ws=True),
    dict(name="ws_idle_10k", title="WebSocket idle memory, 10,000 connections",
         unit="B/conn", servers=[("pier", "ws_echo"), ("beast", None)],
         load=dict(kind="ws_idle", conns=10000, sources=8), ws=True, fresh_server=True),
    # In one process (bench/pier/cross_thread_broadcast.cpp): a publisher thread that is no loop
    # thread fans out to 10,000 sessions on 2 shards; then the subscribers stop reading and the
    # memory must stay within the mailbox and write-queue bounds. Uses both CPUs; not pinned.
    dict(name="ws_cross_thread_10k", title="WebSocket broadcast from a non-loop thread, 64 B to "
         "10,000 sessions on 2 shards (in-process client)", unit="delivery",
         servers=[("pier", None)], load=dict(kind="inproc", sessions=10000)),
    # The connection pool (pier::ws::pool, examples/ws_pool), driven by ws_load's pool modes:
    # HS256 tokens, ?topics=, the welcome awaited. pool_broadcast_10k runs pier's raw
    # WebSocket broadcast (ws_broadcast, kind pier_raw) beside it, as the reference the pool is
    # held to (at least 0.9x its deliveries per CPU-second).
    dict(name="pool_idle_10k",
         title="Pool idle memory, 10,000 authenticated connections, one topic each, small metadata",
         unit="B/conn", servers=[("pier", "ws_pool")],
         load=dict(kind="pool_idle", conns=10000, sources=8, topics=100), ws=True, pool=True,
         fresh_server=True),
    dict(name="pool_broadcast_10k",
         title="Pool topic broadcast, 100-byte envelope to 10,000 subscribers, 16 in flight",
         unit="delivery", servers=[("pier", "ws_pool"), ("pier_raw", "ws_broadcast")],
         load=dict(kind="ws", mode="pool-broadcast", conns=10000, size=100, window=16, sources=8),
         ws=True, pool=True),
    dict(name="pool_connect", title="Pool connect + authenticate + subscribe + close, 32 at once",
         unit="handshake", servers=[("pier", "ws_pool")],
         load=dict(kind="ws", mode="pool-connect", conns=32, sources=8, topics=100), ws=True,
         pool=True),
    # The pool across machines (issue 13): two ws_pool nodes joined by the Redis backplane
    # (`--redis`, a redis-server the runner starts on a free port, no persistence), 5,000
    # subscribers on each and the publisher on the first, against one node holding all 10,000,
    # without Redis and with it, in the same run. Every node and redis-server share CPU 0 (the
    # load generator has CPU 1): server CPU is the sum of the nodes' CPU; Redis's own is given
    # beside it (and counted in neither "server" nor "other"). Latency: the publisher's send
    # time travels in the payload, one clock (the load generator's).
    dict(name="pool_backplane_2x5k",
         title="Pool broadcast across two nodes joined by Redis, 5,000 subscribers on each, "
               "against one node with 10,000",
         unit="delivery", servers=[("pier", "ws_pool", "2 nodes + Redis"),
                                   ("pool_1node", "ws_pool", "1 node"),
                                   ("pool_1node_redis", "ws_pool", "1 node + Redis")],
         load=dict(kind="ws", mode="pool-broadcast", conns=10000, size=100, window=16, sources=8),
         ws=True, pool=True, cluster=True),
    # Go tcpserver's tests 3 and 4 (its -aes128 flag): a 1 kB body encrypted with AES-128-CBC
    # (fresh random IV) per request, through OpenSSL's EVP interface on both sides. nginx has
    # no way to do this work, so the hand-written epoll server is the reference.
    dict(name="http_close_aes_1k",
         title="HTTP, 1 kB body AES-128-CBC-encrypted per request, new connection per request (test 3)",
         unit="req", servers=[("pier", "http_hello"), ("epoll", None)],
         load=dict(kind="wrk", conns=50, close=True), body=1024, aes=True),
    dict(name="http_ka_aes_1k",
         title="HTTP, 1 kB body AES-128-CBC-encrypted per request, keep-alive (test 4)",
         unit="req", servers=[("pier", "http_hello"), ("epoll", None)],
         load=dict(kind="wrk", conns=50), body=1024, aes=True),
    # Zero copy against the buffered path on the same transfer, side by side: one client,
    # one large transfer per run; the figure is the server's CPU time per GiB moved.
    dict(name="zc_file_1g", title="1 GiB file to one client: sendfile vs splice vs copy, and nginx sendfile on",
         unit="GiB", servers=[("pier", "file_server", "sendfile"), ("pier", "file_server", "splice"),
                              ("pier", "file_server", "copy"), ("nginx", None)],
         load=dict(kind="bulk", size=1 << 30), bulk="file"),
    dict(name="zc_proxy_1g", title="1 GiB stream through the SOCKS5 proxy: splice vs copy",
         unit="GiB", servers=[("pier", "socks5_proxy", "splice"), ("pier", "socks5_proxy", "copy")],
         load=dict(kind="bulk", size=1 << 30), bulk="proxy"),
    # Socket send buffers on a long path: two network namespaces joined by netem (where the
    # kernel has it) or bench/load/delay_line (TUN devices), 25 ms each way, a 200 Mbit/s
    # bottleneck: a bandwidth-delay product of 1.25 MB. The kernel's autotuning against fixed
    # SO_SNDBUF sizes.
    dict(name="wan_sndbuf", title="Send buffer size on a 50 ms RTT, 200 Mbit/s path",
         unit="MB/s", servers=[("pier", "file_server", "auto"), ("pier", "file_server", "64k"),
                               ("pier", "file_server", "256k"), ("pier", "file_server", "1m"),
                               ("pier", "file_server", "4m")],
         load=dict(kind="wan", seconds=8), wan=dict(delay_ms=25, rate_mbit=200)),
]

# The secret ws_pool and ws_load's pool modes share (HS256 needs 32 bytes at least).
POOL_SECRET = "pier-bench-pool-secret-0123456789abcdef"

# Arguments of pier example variants (the third element of a server tuple).
VARIANT_ARGS = {
    ("file_server", "sendfile"): ["--files", "sendfile"],
    ("file_server", "splice"): ["--files", "splice"],
    ("file_server", "copy"): ["--files", "copy"],
    ("socks5_proxy", "splice"): ["--relays", "splice"],
    ("socks5_proxy", "copy"): ["--relays", "copy"],
    ("file_server", "auto"): ["--send-buffer", "0"],
    ("file_server", "64k"): ["--send-buffer", str(64 << 10)],
    ("file_server", "256k"): ["--send-buffer", str(256 << 10)],
    ("file_server", "1m"): ["--send-buffer", str(1 << 20)],
    ("file_server", "4m"): ["--send-buffer", str(4 << 20)],
}
AES_KEY_HEX = "30313233343536373839414243444546"  # "0123456789ABCDEF"
WAN_ADDRESSES = ("10.201.0.1", "10.201.0.2")

# Smoke mode: the same scenarios, scaled down to seconds.
SMOKE_LOAD = {
    "zc_file_1g": dict(size=64 << 20),
    "zc_proxy_1g": dict(size=64 << 20),
    "wan_sndbuf": dict(seconds=2),
    "conn_latency_c1": dict(count=300),
    "conn_latency_c32": dict(count=2000),
    "ws_broadcast_1000": dict(conns=100),
    "ws_idle_10k": dict(conns=500),
    "ws_cross_thread_10k": dict(sessions=500),
    "pool_idle_10k": dict(conns=500),
    "pool_broadcast_10k": dict(conns=100),
    "pool_backplane_2x5k": dict(conns=200),
}


def log(*a):
    print(*a, flush=True)


def run_quiet(cmd, **kw):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)


# --------------------------------------------------------------------------------------------
# dependencies and build
# --------------------------------------------------------------------------------------------
def ensure_packages(need_micro, need_redis=False):
    wanted = []
    if not shutil.which("wrk"):
        wanted.append("wrk")
    if not shutil.which("nginx") and not os.path.exists("/usr/sbin/nginx"):
        wanted.append("nginx-light")
    if not os.path.exists("/usr/lib/nginx/modules/ngx_http_echo_module.so"):
        wanted.append("libnginx-mod-http-echo")
    if not os.path.exists("/usr/include/boost/beast.hpp"):
        wanted.append("libboost-dev")
    if not shutil.which("taskset"):
        wanted.append("util-linux")
    if not shutil.which("openssl"):
        wanted.append("openssl")
    if not shutil.which("curl"):
        wanted.append("curl")  # the zero-copy and socket-buffer scenarios' client
    if not shutil.which("ip"):
        wanted.append("iproute2")  # wan_sndbuf's network namespaces
    if not shutil.which("cmake"):
        wanted.append("cmake")
    if not shutil.which("ninja"):
        wanted.append("ninja-build")
    if not os.path.exists("/usr/include/openssl/evp.h"):
        wanted.append("libssl-dev")
    if need_micro and not os.path.exists("/usr/include/benchmark/benchmark.h"):
        wanted.append("libbenchmark-dev")
    if need_redis and not shutil.which("redis-server"):
        wanted.append("redis-server")  # the backplane scenarios
    if need_redis and not os.path.exists("/usr/include/hiredis/hiredis.h"):
        wanted.append("libhiredis-dev")  # ws_pool's --redis
    if not wanted:
        return True
    log(f"installing {' '.join(wanted)} with apt-get")
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        log("cannot install packages (not root or no apt-get)")
        return False
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    run_quiet(["apt-get", "update"], env=env)
    r = run_quiet(["apt-get", "install", "-y", "--no-install-recommends"] + wanted, env=env)
    if r.returncode != 0:
        log(r.stdout[-2000:])
        return False
    return True


TOOLS = ["epoll_http", "beast_ws", "conn_latency", "ws_load", "delay_line"]
INPROC = ["cross_thread_broadcast"]  # pier programs in bench/pier/ (built with pier only)


def configure(build_dir, source, extra):
    args = ["cmake", "-S", source, "-B", build_dir, "-DCMAKE_BUILD_TYPE=Release",
            "-DCMAKE_CXX_FLAGS_RELEASE=-O2 -DNDEBUG"] + extra
    if shutil.which("ninja") and not os.path.exists(os.path.join(build_dir, "CMakeCache.txt")):
        args += ["-G", "Ninja"]
    return run_quiet(args)


def build(args, pier_examples):
    """Returns (dirs to search for binaries, notes). Builds the tools (which must succeed) and
    each pier example on its own (a failing example is reported, not fatal)."""
    notes = []
    jobs = str(os.cpu_count() or 2)
    top = os.path.join(REPO, "CMakeLists.txt")
    umbrella = os.path.join(REPO, "include", "pier", "pier.hpp")
    build_dir = args.build_dir
    if os.path.exists(top) and os.path.exists(umbrella):
        r = configure(build_dir, REPO, ["-DPIER_BUILD_TESTS=OFF", "-DPIER_BUILD_EXAMPLES=ON",
                                        "-DPIER_BUILD_BENCH=ON", "-DPIER_INSTALL=OFF"])
        if r.returncode == 0:
            r = run_quiet(["cmake", "--build", build_dir, "-j", jobs, "--target", "pier_bench_tools"])
            if r.returncode != 0:
                raise SystemExit("building the bench tools failed:\n" + r.stdout[-4000:])
            for ex in sorted(pier_examples):
                if not os.path.exists(os.path.join(REPO, "examples", ex + ".cpp")):
                    continue
                r = run_quiet(["cmake", "--build", build_dir, "-j", jobs, "--target", ex])
                if r.returncode != 0:
                    notes.append(f"pier example `{ex}` did not build: "
                                 + (r.stdout.strip().splitlines() or ["?"])[-1][:200])
            return [os.path.join(build_dir, "bench"), os.path.join(build_dir, "examples")], notes
        notes.append("configuring the repository failed; built bench/ standalone, without pier: "
                     + (r.stdout.strip().splitlines() or ["?"])[-1][:200])
    standalone = build_dir + "-standalone"
    r = configure(standalone, HERE, [])
    if r.returncode != 0:
        raise SystemExit("configuring bench/ failed:\n" + r.stdout[-4000:])
    r = run_quiet(["cmake", "--build", standalone, "-j", jobs, "--target", "pier_bench_tools"])
    if r.returncode != 0:
        raise SystemExit("building the bench tools failed:\n" + r.stdout[-4000:])
    return [standalone], notes


def find_binary(dirs, name):
    for d in dirs:
        p = os.path.join(d, name)
        if os.path.isfile(p) and os.access(p, os.X_OK):
            return p
    return None


# --------------------------------------------------------------------------------------------
# /proc sampling
# --------------------------------------------------------------------------------------------
def proc_children():
    kids = {}
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open(f"/proc/{p}/stat") as f:
                s = f.read()
            ppid = int(s[s.rindex(")") + 2:].split()[1])
            kids.setdefault(ppid, []).append(int(p))
        except (OSError, ValueError, IndexError):
            pass
    return kids


def tree(pid):
    kids = proc_children()
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def proc_cpu_seconds(pid):
    """utime+stime of one process, all its threads, in seconds (0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            s = f.read()
        fields = s[s.rindex(")") + 2:].split()
        return (int(fields[11]) + int(fields[12])) / HZ
    except (OSError, ValueError, IndexError):
        return 0.0


def tree_cpu_seconds(pids):
    return sum(proc_cpu_seconds(p) for p in pids)


def tree_rss_bytes(pids):
    return tree_memory(pids)[0]


def tree_memory(pids):
    """(resident, anonymous) bytes of the processes. Anonymous memory (smaps_rollup) is the heap,
    the thread stacks and anonymous mappings: the resident set without the pages of the binary and
    its libraries, so it stands for the heap in servers that do not report their allocator's state."""
    rss = anon = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        rss += int(line.split()[1]) * 1024
            with open(f"/proc/{p}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Anonymous:"):
                        anon += int(line.split()[1]) * 1024
        except OSError:
            pass
    return rss, anon


def cpu_stat():
    """{cpu: (busy_ticks, steal_ticks)} from /proc/stat."""
    out = {}
    with open("/proc/stat") as f:
        for line in f:
            if not line.startswith("cpu"):
                break
            name, *v = line.split()
            v = [int(x) for x in v]
            user, nice, system, idle, iowait, irq, softirq, steal = (v + [0] * 8)[:8]
            out[name] = (user + nice + system + irq + softirq, steal)
    return out


class sample:
    def __init__(self, server_pids, client_pid=None, extra_pids=()):
        self.t = time.monotonic()
        self.server_cpu = tree_cpu_seconds(server_pids)
        self.client_cpu = proc_cpu_seconds(client_pid) if client_pid else 0.0
        # Processes the server needs but that are not the server (redis-server for a backplane).
        self.extra_cpu = tree_cpu_seconds(extra_pids)
        self.stat = cpu_stat()


def window(a, b):
    """Figures for the window between two samples."""
    secs = b.t - a.t
    busy = (b.stat["cpu"][0] - a.stat["cpu"][0]) / HZ
    server = b.server_cpu - a.server_cpu
    client = b.client_cpu - a.client_cpu
    extra = b.extra_cpu - a.extra_cpu
    steal = {c: (b.stat[c][1] - a.stat[c][1]) / HZ / secs if secs > 0 else 0.0
             for c in ("cpu0", "cpu1") if c in a.stat}
    return dict(seconds=secs, server_cpu=server, client_cpu=client, extra_cpu=extra,
                other_cpu=max(0.0, busy - server - client - extra), steal=steal)


# --------------------------------------------------------------------------------------------
# servers
# --------------------------------------------------------------------------------------------
def boost_priority(pid, ctx):
    """Gives the process's autogroup the runner's niceness. With autogroup scheduling (on in most
    kernels), `nice` only ranks processes within one session; every process the runner starts
    leads a session of its own, and this sets that session's weight against the rest of the
    machine."""
    if not ctx.nice:
        return
    try:
        with open(f"/proc/{pid}/autogroup", "w") as f:
            f.write(str(ctx.nice))
    except OSError:
        pass


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def raise_limits():
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (FD_LIMIT, FD_LIMIT))
    except (ValueError, OSError):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def make_cert(workdir, key_type):
    cert, key = os.path.join(workdir, "cert.pem"), os.path.join(workdir, "key.pem")
    if os.path.exists(cert) and os.path.exists(key):
        return cert, key
    if key_type == "rsa":
        newkey = ["-newkey", "rsa:2048"]
    else:
        newkey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]
    r = run_quiet(["openssl", "req", "-x509", "-nodes", "-days", "7", "-subj", "/CN=localhost",
                   "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"] + newkey
                  + ["-keyout", key, "-out", cert])
    if r.returncode != 0:
        raise SystemExit("openssl req failed:\n" + r.stdout)
    return cert, key


NGINX_CONF = """\
{load_module}
daemon off;
master_process on;
worker_processes 1;
worker_cpu_affinity 1;
worker_rlimit_nofile {fd_limit};
user root;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{
    worker_connections {fd_limit};
    use epoll;
}}
http {{
    access_log off;
    default_type text/plain;
    keepalive_requests 1000000;
    keepalive_timeout 300s;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    open_file_cache max=16 inactive=600s;
    client_body_temp_path {d}/client_body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
{ssl_http}
    server {{
        listen 127.0.0.1:{port} backlog=4096 reuseport{ssl_listen};
{location}
    }}
}}
"""

ECHO_MODULE = "/usr/lib/nginx/modules/ngx_http_echo_module.so"


def nginx_config(d, port, sc, cert_key, root=None, cpu_mask="1"):
    body = "x" * sc.get("body", 0)
    load_module = ""
    if root:
        # A static directory: sendfile on, tcp_nopush on (the defaults of this configuration).
        location = f"        location / {{\n            root {root};\n        }}"
    elif sc.get("sleep_ms"):
        # The echo module's sleep is a timer, not a blocking call: nginx has no blocking handler.
        # Its response is chunked (no Content-Length).
        load_module = f"load_module {ECHO_MODULE};"
        location = (f"        location / {{\n            echo_sleep {sc['sleep_ms'] / 1000:.3f};\n"
                    f"            echo -n \"{body}\";\n        }}")
    elif sc["body"] <= 2048:
        # nginx's configuration tokens are limited to 4 kB, so larger bodies are a static file.
        location = f"        location / {{\n            return 200 \"{body}\";\n        }}"
    else:
        www = os.path.join(d, "www")
        os.makedirs(www, exist_ok=True)
        with open(os.path.join(www, "body.bin"), "w") as f:
            f.write(body)
        location = (f"        location / {{\n            root {www};\n"
                    f"            rewrite ^ /body.bin break;\n        }}")
    ssl_http, ssl_listen = "", ""
    if sc.get("tls"):
        cert, key = cert_key
        ssl_listen = " ssl"
        ssl_http = (f"    ssl_certificate {cert};\n    ssl_certificate_key {key};\n"
                    f"    ssl_protocols TLSv1.2 TLSv1.3;\n")
    conf = NGINX_CONF.format(load_module=load_module, d=d, port=port, fd_limit=FD_LIMIT,
                             ssl_http=ssl_http, ssl_listen=ssl_listen, location=location)
    conf = conf.replace("worker_cpu_affinity 1;", f"worker_cpu_affinity {cpu_mask};")
    path = os.path.join(d, "nginx.conf")
    with open(path, "w") as f:
        f.write(conf)
    return path


class server:
    def __init__(self, kind, example, sc, ctx, variant=None):
        self.kind, self.example, self.sc, self.ctx, self.variant = kind, example, sc, ctx, variant
        if kind == "pier":
            self.label = f"pier {example}" if example else "pier"
        elif kind == "pier_raw":
            self.label = f"pier {example} (raw)"
        elif kind.startswith("ref:"):
            self.label = kind[4:]
        else:
            self.label = {"epoll": "epoll_http", "nginx": "nginx", "beast": "Beast"}[kind]
        if variant:
            self.label += f" ({variant})"
        self.proc = None
        self.pids = []
        self.port = None
        self.dir = None
        # wan scenarios: the server runs in a network namespace, on its address there.
        self.netns = None
        self.address = "127.0.0.1"

    def command(self):
        sc, ctx, port = self.sc, self.ctx, str(self.port)
        if self.kind == "epoll":
            cmd = [ctx.bins["epoll_http"], "--port", port]
            if sc.get("echo"):
                return cmd + ["--echo"]
            cmd += ["--body-size", str(sc["body"])]
            if sc.get("sleep_ms"):
                cmd += ["--sleep-ms", str(sc["sleep_ms"])]
            if sc.get("aes"):
                cmd += ["--aes128"]
            return cmd
        if self.kind == "beast":
            return [ctx.bins["beast_ws"], "--port", port]
        if self.kind.startswith("ref:"):
            return [a.replace("{port}", port) for a in shlex.split(ctx.refs[self.kind[4:]])]
        if self.kind == "nginx":
            conf = nginx_config(self.dir, self.port, sc, ctx.cert_key if sc.get("tls") else None,
                                root=ctx.bulk_root if sc.get("bulk") else None)
            return [ctx.nginx, "-p", self.dir, "-c", conf, "-e", os.path.join(self.dir, "error.log")]
        # pier's examples share one command line convention (bench/README.md).
        cmd = [ctx.pier_bins[self.example], "--port", port, "--threads", "1"]
        if self.address != "127.0.0.1":
            cmd += ["--address", self.address]
        if self.example == "file_server":
            cmd += ["--root", ctx.bulk_root]
        cmd += VARIANT_ARGS.get((self.example, self.variant), [])
        if sc.get("aes"):
            cmd += ["--aes128", "on"]
        if "body" in sc and not sc.get("echo"):
            cmd += ["--body-size", str(sc["body"])]
        if sc.get("sleep_ms"):
            cmd += ["--sleep-ms", str(sc["sleep_ms"])]
        if sc.get("tls"):
            cmd += ["--cert", ctx.cert_key[0], "--key", ctx.cert_key[1]]
        if sc.get("pool") and self.kind == "pier":
            # Every pool limit off: the benchmark measures the pool, not its refusals.
            cmd += ["--secret", POOL_SECRET, "--max-connections", "0", "--max-per-topic", "0"]
        return cmd

    def start(self):
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix=f"pier-bench-{self.kind}-", dir=self.ctx.workdir)
        ns = ["ip", "netns", "exec", self.netns] if self.netns else []
        cmd = self.ctx.prefix + ns + ["taskset", "-c", SERVER_CPU] + self.command()
        self.out_path = os.path.join(self.dir, "server.log")
        out = open(self.out_path, "w")
        self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     preexec_fn=raise_limits, start_new_session=True, cwd=self.dir)
        out.close()
        boost_priority(self.proc.pid, self.ctx)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.label} exited at start: {self.tail()}")
            if self.kind in ("pier", "epoll", "beast") and "listening on" not in self.read_log():
                time.sleep(0.02)
                continue
            if self.netns:
                break  # unreachable from here; the sanity check connects from the other side
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.02)
        else:
            self.stop()
            raise RuntimeError(f"{self.label} did not start listening within 15 s: {self.tail()}")
        time.sleep(0.1)  # nginx's worker forks after the master listens
        self.pids = tree(self.proc.pid)

    def read_log(self):
        try:
            with open(self.out_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def tail(self):
        text = self.read_log()
        if self.kind == "nginx":
            try:
                with open(os.path.join(self.dir, "error.log"), errors="replace") as f:
                    text += f.read()
            except OSError:
                pass
        return " | ".join(text.strip().splitlines()[-5:])

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        if not self.proc:
            return
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)  # the session this runner created
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None
        shutil.rmtree(self.dir, ignore_errors=True)


class redis_server:
    """A redis-server on a free loopback port, without persistence, pinned with the servers."""

    def __init__(self, ctx):
        self.ctx, self.proc, self.dir = ctx, None, None

    def start(self):
        self.port = free_port()
        self.dir = os.path.abspath(tempfile.mkdtemp(prefix="pier-bench-redis-", dir=self.ctx.workdir))
        cmd = self.ctx.prefix + ["taskset", "-c", SERVER_CPU, shutil.which("redis-server") or "redis-server",
                                 "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                 "--appendonly", "no", "--daemonize", "no", "--dir", self.dir,
                                 "--maxclients", "1000"]
        out = open(os.path.join(self.dir, "redis.log"), "w")
        self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True, cwd=self.dir)
        out.close()
        boost_priority(self.proc.pid, self.ctx)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited at start (exit {self.proc.returncode})")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            time.sleep(0.02)
        self.stop()
        raise RuntimeError("redis-server did not answer PING within 15 s")

    def pids(self):
        return [self.proc.pid] if self.proc else []

    def stop(self):
        if not self.proc:
            return
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)  # nothing to keep: no persistence
            except ProcessLookupError:
                pass
            self.proc.wait()
        self.proc = None
        shutil.rmtree(self.dir, ignore_errors=True)


class cluster_server(server):
    """One pool made of ws_pool nodes: variant "1 node" (no backplane), "1 node + Redis" or
    "2 nodes + Redis" (node a takes the publisher and half the subscribers, node b the rest:
    `port2`). Looks like one server to the runner: `pids` are the nodes' (server CPU is their
    sum), `extra_pids` Redis's."""

    def __init__(self, kind, example, sc, ctx, variant=None):
        super().__init__("pier", example, sc, ctx, variant)
        self.kind = kind
        self.label = f"ws_pool, {variant}"
        self.redis = redis_server(ctx) if "Redis" in variant else None
        self.nodes = []
        self.port2 = None
        self.extra_pids = []

    def ports(self):
        return [n.port for n in self.nodes]

    def start(self):
        try:
            extra = []
            if self.redis:
                self.redis.start()
                extra = ["--redis", f"redis://127.0.0.1:{self.redis.port}"]
            names = ["a", "b"] if self.variant.startswith("2") else ["a"]
            for name in names:
                n = server("pier", self.example, self.sc, self.ctx)
                base = n.command
                n.command = (lambda base=base, name=name: base() + extra
                             + (["--node-id", name] if extra else []))
                self.nodes.append(n)
                n.start()
        except Exception:
            self.stop()
            raise
        self.port = self.nodes[0].port
        self.port2 = self.nodes[1].port if len(self.nodes) > 1 else None
        self.pids = [p for n in self.nodes for p in n.pids]
        self.extra_pids = self.redis.pids() if self.redis else []

    def alive(self):
        return bool(self.nodes) and all(n.alive() for n in self.nodes) and \
            (not self.redis or (self.redis.proc is not None and self.redis.proc.poll() is None))

    def tail(self):
        return " || ".join(f"node {i}: {n.tail()}" for i, n in enumerate(self.nodes))

    def stop(self):
        for n in self.nodes:
            n.stop()
        self.nodes = []
        if self.redis:
            self.redis.stop()


# --------------------------------------------------------------------------------------------
# sanity checks: each server must answer correctly before it is measured
# --------------------------------------------------------------------------------------------
def recv_exact(s, n):
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        if not chunk:
            raise RuntimeError(f"connection closed after {len(data)} of {n} bytes")
        data += chunk
    return data


def check_http(port, sc):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    if sc.get("tls"):
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        s = ctx.wrap_socket(s, server_hostname="localhost")
    with s:
        for _ in range(2):  # two requests: keep-alive must work
            s.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = s.recv(1)
                if not chunk:
                    raise RuntimeError("connection closed before the response head")
                head += chunk
            lines = head.decode("latin-1").split("\r\n")
            if not lines[0].startswith("HTTP/1.1 200"):
                raise RuntimeError(f"status line {lines[0]!r}")
            headers = {l.split(":", 1)[0].strip().lower(): l.split(":", 1)[1].strip()
                       for l in lines[1:] if ":" in l}
            if "content-length" in headers:
                body = recv_exact(s, int(headers["content-length"]))
            elif headers.get("transfer-encoding", "").lower() == "chunked":
                body = b""
                while True:
                    size_line = b""
                    while not size_line.endswith(b"\r\n"):
                        size_line += recv_exact(s, 1)
                    n = int(size_line.split(b";")[0], 16)
                    body += recv_exact(s, n + 2)[:n]
                    if n == 0:
                        break
            else:
                raise RuntimeError("response has neither Content-Length nor chunked encoding")
            if sc.get("aes"):
                # IV || AES-128-CBC(body with PKCS#7 padding): it must decrypt to the body.
                plain = aes_decrypt(body)
                if plain != b"x" * sc["body"]:
                    raise RuntimeError(f"AES body decrypts to {len(plain)} bytes, not the body")
            elif len(body) != sc["body"]:
                raise RuntimeError(f"body of {len(body)} bytes, expected {sc['body']}")


def check_echo(port, sc):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        msg = bytes(i % 251 for i in range(3000))
        s.sendall(msg)
        if recv_exact(s, len(msg)) != msg:
            raise RuntimeError("echo differs")


def ws_frame(opcode, payload):
    mask = os.urandom(4)
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    elif n < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def ws_read_message(s):
    data, first_op = b"", None
    while True:
        b0, b1 = recv_exact(s, 2)
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", recv_exact(s, 2))[0]
        elif n == 127:
            n = struct.unpack("!Q", recv_exact(s, 8))[0]
        if b1 & 0x80:
            raise RuntimeError("server frame is masked")
        payload = recv_exact(s, n)
        op = b0 & 0x0F
        if op in (0x9, 0xA):
            continue
        if first_op is None:
            first_op = op
        data += payload
        if b0 & 0x80:
            return first_op, data


def check_ws(port, sc):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        key = base64.b64encode(os.urandom(16)).decode()
        s.sendall((f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                   f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                   f"Sec-WebSocket-Version: 13\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            head += recv_exact(s, 1)
        expect = base64.b64encode(hashlib.sha1(
            (key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
        if not head.startswith(b"HTTP/1.1 101") or expect.encode() not in head:
            raise RuntimeError(f"bad handshake response {head[:60]!r}")
        s.sendall(ws_frame(0x2, b"\x00\x01binary"))
        if ws_read_message(s) != (0x2, b"\x00\x01binary"):
            raise RuntimeError("binary echo differs")
        s.sendall(ws_frame(0x1, b"hello"))
        if ws_read_message(s) != (0x1, b"hello"):
            raise RuntimeError("text echo differs")
        s.sendall(ws_frame(0x1, b"broadcast:sanity"))
        if ws_read_message(s) != (0x1, b"broadcast:sanity"):
            raise RuntimeError("broadcast not delivered unchanged to its sender")
        s.sendall(ws_frame(0x8, struct.pack("!H", 1000)))
        op, _ = ws_read_message(s)
        if op != 0x8:
            raise RuntimeError("no close frame in answer to ours")


def pool_token(sub):
    b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
    part = lambda o: b64(json.dumps(o, separators=(",", ":")).encode())
    signing = part({"alg": "HS256", "typ": "JWT"}) + "." + part({"sub": sub, "exp": int(time.time()) + 3600})
    return signing + "." + b64(hmac.new(POOL_SECRET.encode(), signing.encode(), hashlib.sha256).digest())


def check_pool(port):
    """The pool's protocol: a token, the welcome, a subscribe acknowledged, a ping answered."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        key = base64.b64encode(os.urandom(16)).decode()
        s.sendall((f"GET /ws?token={pool_token('sanity')}&topics=t HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                   f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                   f"Sec-WebSocket-Version: 13\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            head += recv_exact(s, 1)
        if not head.startswith(b"HTTP/1.1 101"):
            raise RuntimeError(f"pool refused the handshake: {head[:60]!r}")
        op, welcome = ws_read_message(s)
        w = json.loads(welcome)
        if w.get("type") != "welcome" or w["data"]["user_id"] != "sanity" or w["data"]["topics"] != ["t"]:
            raise RuntimeError(f"unexpected welcome {welcome[:120]!r}")
        # With a backplane (`--redis`), ?topics=t is acknowledged too, with its position, after
        # the welcome: acknowledgements may come before the answer looked for.
        def until(wanted, topic=None):
            for _ in range(4):
                m = json.loads(ws_read_message(s)[1])
                if m.get("type") == wanted and (topic is None or m.get("topic") == topic):
                    return True
                if m.get("type") not in ("subscribe", "heartbeat"):
                    return False
            return False
        s.sendall(ws_frame(0x1, b'{"type":"subscribe","topic":"u"}'))
        if not until("subscribe", "u"):
            raise RuntimeError("subscribe not acknowledged")
        s.sendall(ws_frame(0x1, b'{"type":"ping"}'))
        if not until("pong"):
            raise RuntimeError("ping not answered with pong")
        s.sendall(ws_frame(0x8, struct.pack("!H", 1000)))
        if ws_read_message(s)[0] != 0x8:
            raise RuntimeError("no close frame in answer to ours")


def aes_decrypt(body):
    """IV || AES-128-CBC ciphertext under tcpserver's key, decrypted by the openssl CLI."""
    r = subprocess.run(["openssl", "enc", "-d", "-aes-128-cbc", "-K", AES_KEY_HEX,
                        "-iv", body[:16].hex()], input=body[16:], capture_output=True)
    if r.returncode != 0:
        raise RuntimeError("openssl enc -d failed: " + r.stderr.decode()[-200:])
    return r.stdout


def http_get(port, path, host="127.0.0.1", via_socks=None):
    """One HTTP/1.1 GET (directly or through a SOCKS5 proxy); returns (status line, body)."""
    if via_socks:
        s = socket.create_connection(("127.0.0.1", via_socks), timeout=10)
        s.sendall(b"\x05\x01\x00")
        if recv_exact(s, 2) != b"\x05\x00":
            raise RuntimeError("SOCKS5 method selection refused")
        s.sendall(b"\x05\x01\x00\x01" + socket.inet_aton(host) + struct.pack("!H", port))
        rep = recv_exact(s, 10)
        if rep[1] != 0:
            raise RuntimeError(f"SOCKS5 CONNECT refused with X'{rep[1]:02x}'")
    else:
        s = socket.create_connection((host, port), timeout=10)
    with s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        head = b""
        while b"\r\n\r\n" not in head:
            head += recv_exact(s, 1)
        lines = head.decode("latin-1").split("\r\n")
        length = next((int(l.split(":", 1)[1]) for l in lines if l.lower().startswith("content-length:")), 0)
        return lines[0], recv_exact(s, length)


def check_bulk(srv):
    sc = srv.sc
    if sc.get("bulk") == "proxy":
        status, body = http_get(srv.ctx.origin_port, "/check.bin", via_socks=srv.port)
    else:
        status, body = http_get(srv.port, "/check.bin")
    if not status.startswith("HTTP/1.1 200") or body != srv.ctx.check_bytes:
        raise RuntimeError(f"GET /check.bin: {status}, {len(body)} bytes")


def sanity(srv):
    sc = srv.sc
    if sc.get("wan"):
        return check_wan(srv)
    if sc.get("bulk"):
        return check_bulk(srv)
    if sc.get("cluster"):
        for port in srv.ports():
            check_pool(port)
    elif sc.get("pool") and srv.kind == "pier":
        check_pool(srv.port)
    elif sc.get("ws"):
        check_ws(srv.port, sc)
    elif sc.get("echo"):
        check_echo(srv.port, sc)
    else:
        check_http(srv.port, sc)


# --------------------------------------------------------------------------------------------
# scenario environments: the big file, the proxy's origin, the emulated long path
# --------------------------------------------------------------------------------------------
def ensure_bulk_root(ctx, size):
    """A directory with big.bin (`size` bytes, distinct 1 MiB blocks) and check.bin (4 KiB),
    made once per run and kept in the page cache by the transfers themselves."""
    if getattr(ctx, "bulk_size", None) == size:
        return
    ctx.bulk_root = os.path.join(ctx.workdir, "bulk")
    os.makedirs(ctx.bulk_root, exist_ok=True)
    block = os.urandom(1 << 20)
    with open(os.path.join(ctx.bulk_root, "big.bin"), "wb") as f:
        left = size
        i = 0
        while left > 0:
            piece = (i.to_bytes(8, "big") + block[8:])[:left]
            f.write(piece)
            left -= len(piece)
            i += 1
    ctx.check_bytes = os.urandom(4096)
    with open(os.path.join(ctx.bulk_root, "check.bin"), "wb") as f:
        f.write(ctx.check_bytes)
    ctx.bulk_size = size


def start_origin(ctx):
    """The proxy scenario's origin on the load CPU: nginx (sendfile) when present, else pier's
    file_server. Its CPU time is not the proxy's and is not counted."""
    port = free_port()
    d = tempfile.mkdtemp(prefix="pier-bench-origin-", dir=ctx.workdir)
    if os.path.exists(ctx.nginx):
        conf = nginx_config(d, port, dict(), None, root=ctx.bulk_root, cpu_mask="10")
        cmd = ["taskset", "-c", LOAD_CPU, ctx.nginx, "-p", d, "-c", conf, "-e", os.path.join(d, "error.log")]
    else:
        cmd = ["taskset", "-c", LOAD_CPU, ctx.pier_bins["file_server"], "--root", ctx.bulk_root,
               "--port", str(port), "--threads", "1"]
    ctx.origin = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                  stdin=subprocess.DEVNULL, start_new_session=True, cwd=d)
    ctx.origin_port = port
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return None
        except OSError:
            time.sleep(0.05)
    return "the origin server did not start"


def wan_setup(ctx, sc):
    """Two network namespaces joined by an emulated path: netem on a veth pair where the kernel
    has sch_netem, else bench/load/delay_line between two TUN devices. None, or why not."""
    if os.geteuid() != 0:
        return "needs root (network namespaces)"
    if not shutil.which("ip"):
        return "needs iproute2"
    tag = str(os.getpid() % 100000)
    a, b = f"pierbA{tag}", f"pierbB{tag}"
    w = sc["wan"]
    ctx.wan = dict(ns=(a, b), line=None, method=None)
    for ns in (a, b):
        if run_quiet(["ip", "netns", "add", ns]).returncode != 0:
            return f"ip netns add {ns} failed"
        run_quiet(["ip", "-n", ns, "link", "set", "lo", "up"])
    bdp = w["rate_mbit"] * 1e6 / 8 * 2 * w["delay_ms"] / 1e3
    va, vb = f"pva{tag}", f"pvb{tag}"
    if run_quiet(["ip", "link", "add", va, "type", "veth", "peer", "name", vb]).returncode == 0:
        run_quiet(["ip", "link", "set", va, "netns", a])
        run_quiet(["ip", "link", "set", vb, "netns", b])
        ok = True
        for ns, dev, addr in ((a, va, WAN_ADDRESSES[0]), (b, vb, WAN_ADDRESSES[1])):
            run_quiet(["ip", "-n", ns, "addr", "add", f"{addr}/24", "dev", dev])
            run_quiet(["ip", "-n", ns, "link", "set", dev, "up"])
            r = run_quiet(["ip", "netns", "exec", ns, "tc", "qdisc", "add", "dev", dev, "root", "netem",
                           "delay", f"{w['delay_ms']}ms", "rate", f"{w['rate_mbit']}mbit",
                           "limit", str(max(100, int(2 * bdp / 1500)))])
            ok = ok and r.returncode == 0
        if ok:
            ctx.wan["method"] = "netem (veth pair)"
            return None
        run_quiet(["ip", "-n", a, "link", "del", va])  # sch_netem missing: the TUN delay line
    if not os.path.exists("/dev/net/tun"):
        return "neither sch_netem nor /dev/net/tun"
    ta, tb = f"pta{tag}", f"ptb{tag}"
    mtu = 9000
    ctx.wan["line"] = subprocess.Popen(
        [ctx.bins["delay_line"], "--a", ta, "--b", tb, "--delay-ms", str(w["delay_ms"]),
         "--rate-mbit", str(w["rate_mbit"]), "--queue-packets", str(max(64, int(2 * bdp / mtu)))],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True)
    if ctx.wan["line"].stdout.readline().strip() != "@ready":
        return "delay_line did not start: " + ctx.wan["line"].stderr.read()[-200:]
    for ns, dev, addr in ((a, ta, WAN_ADDRESSES[0]), (b, tb, WAN_ADDRESSES[1])):
        for cmd in (["ip", "link", "set", dev, "netns", ns],
                    ["ip", "-n", ns, "addr", "add", f"{addr}/24", "dev", dev],
                    ["ip", "-n", ns, "link", "set", dev, "mtu", str(mtu), "up"]):
            r = run_quiet(cmd)
            if r.returncode != 0:
                return f"{' '.join(cmd)}: {r.stdout.strip()[-200:]}"
    ctx.wan["method"] = f"bench/load/delay_line (TUN, MTU {mtu}; this kernel has no sch_netem)"
    return None


def check_wan(srv):
    r = run_quiet(["ip", "netns", "exec", srv.ctx.wan["ns"][1], "curl", "-s", "--max-time", "10",
                   "-o", "/dev/null", "-w", "%{http_code} %{size_download}",
                   f"http://{WAN_ADDRESSES[0]}:{srv.port}/check.bin"])
    if r.stdout.strip() != "200 4096":
        raise RuntimeError(f"GET /check.bin across the path: {r.stdout.strip()!r}")


def scenario_setup(sc, ctx, servers):
    """What a scenario needs besides its servers; None, or why it cannot run."""
    if sc.get("bulk") or sc.get("wan"):
        size = sc["load"].get("size", 1 << 30)
        if ctx.smoke:
            size = SMOKE_LOAD.get(sc["name"], {}).get("size", 64 << 20)
        ensure_bulk_root(ctx, size)
    if sc.get("bulk") == "proxy":
        return start_origin(ctx)
    if sc.get("wan"):
        why = wan_setup(ctx, sc)
        if why:
            return why
        for srv in servers:
            srv.netns = ctx.wan["ns"][0]
            srv.address = WAN_ADDRESSES[0]
    return None


def scenario_teardown(ctx):
    """Stops the origin and the delay line and deletes the namespaces; idempotent."""
    origin = getattr(ctx, "origin", None)
    if origin and origin.poll() is None:
        os.killpg(origin.pid, signal.SIGTERM)
        try:
            origin.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(origin.pid, signal.SIGKILL)
            origin.wait()
    ctx.origin = None
    wan = getattr(ctx, "wan", None)
    if wan:
        line = wan.get("line")
        if line and line.poll() is None:
            line.stdin.close()
            try:
                line.wait(timeout=5)
            except subprocess.TimeoutExpired:
                line.kill()
                line.wait()
        for ns in wan["ns"]:
            run_quiet(["ip", "netns", "del", ns])
        ctx.wan_method = wan.get("method")
        ctx.wan = None


# --------------------------------------------------------------------------------------------
# load
# --------------------------------------------------------------------------------------------
WRK_UNITS = {"us": 1.0, "ms": 1e3, "s": 1e6}


def parse_wrk(text):
    m = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m),", text)
    if not m:
        raise RuntimeError("wrk printed no request count: " + text[-300:])
    secs = float(m.group(2)) * {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[m.group(3)]
    res = dict(work=int(m.group(1)), client_seconds=secs)
    lat = {}
    for pct, val, unit in re.findall(r"^\s*(50|90|99)%\s+([\d.]+)(us|ms|s)\s*$", text, re.M):
        lat["p" + pct] = float(val) * WRK_UNITS[unit]
    res["lat_us"] = lat
    errors = 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if m:
        errors += sum(int(x) for x in m.groups())
        res["socket_errors"] = m.group(0)
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if m:
        errors += int(m.group(1))
    res["errors"] = errors
    return res


def load_command(sc, srv, ctx, duration, warmup):
    ld = dict(sc["load"])
    if ctx.smoke:
        ld.update(SMOKE_LOAD.get(sc["name"], {}))
    port = str(srv.port)
    kind = ld["kind"]
    if kind == "wrk":
        scheme = "https" if ld.get("tls") else "http"
        cmd = [ctx.wrk, "-t1", f"-c{ld['conns']}", f"-d{max(1, round(duration))}s", "--latency",
               "--timeout", "5s"]
        if ld.get("close"):
            cmd += ["-H", "Connection: close"]
        return cmd + [f"{scheme}://127.0.0.1:{port}/"], ld
    if kind == "conn_latency":
        return [ctx.bins["conn_latency"], "--port", port, "--conns", str(ld["conns"]),
                "--size", "3000", "--rounds", "2", "--count", str(ld["count"]),
                "--duration", str(duration), "--warmup", "20" if ctx.smoke else "200",
                "--sources", "4", "--timeout", str(duration + 30)], ld
    if kind == "ws":
        mode = ld["mode"]
        if srv.kind == "pier_raw":
            mode = mode.replace("pool-", "")  # the same load without the pool's protocol
        cmd = [ctx.bins["ws_load"], "--port", port, "--mode", mode, "--conns", str(ld["conns"]),
               "--duration", str(duration), "--warmup", str(warmup), "--timeout", str(duration + warmup + 60)]
        for k in ("size", "depth", "window", "sources"):
            if k in ld:
                cmd += [f"--{k}", str(ld[k])]
        if mode.startswith("pool-"):
            cmd += ["--secret", POOL_SECRET, "--topics", str(ld.get("topics", 1))]
        if getattr(srv, "port2", None):
            cmd += ["--port2", str(srv.port2)]  # half the subscribers on the second node
        if getattr(srv, "redis", None):
            # Positions: publishing starts once every subscriber has its topic's position, or
            # the messages before it would never reach it (by design) and the window would stall.
            cmd += ["--await-ack"]
        return cmd, ld
    if kind in ("ws_idle", "pool_idle"):
        cmd = [ctx.bins["ws_load"], "--port", port, "--mode", "idle", "--conns", str(ld["conns"]),
               "--sources", str(ld["sources"]), "--until-stdin-eof", "--hold", "120",
               "--timeout", "180"]
        if kind == "pool_idle":
            # One user per connection, one topic each, a small `meta` in every token.
            cmd[cmd.index("idle")] = "pool-idle"
            cmd += ["--secret", POOL_SECRET, "--topics", str(ld["topics"])]
        return cmd, ld
    raise ValueError(kind)


def run_transfer(sc, srv, ctx, duration):
    """One transfer by curl (bulk: the whole file, directly or through the proxy; wan: as much
    as fits in the run's seconds, from the other namespace); the server's CPU time over it."""
    ld = dict(sc["load"])
    if ctx.smoke:
        ld.update(SMOKE_LOAD.get(sc["name"], {}))
    res = dict(scenario=sc["name"], server=srv.label, ok=False)
    fmt = "%{size_download} %{time_total} %{http_code}"
    if ld["kind"] == "wan":
        seconds = ld["seconds"] if duration > 1.0 else 1.0
        cmd = ["ip", "netns", "exec", ctx.wan["ns"][1], "taskset", "-c", LOAD_CPU, "curl", "-s",
               "-o", "/dev/null", "--max-time", str(seconds), "-w", fmt,
               f"http://{WAN_ADDRESSES[0]}:{srv.port}/big.bin"]
        limit = seconds + 30
    else:
        cmd = ["taskset", "-c", LOAD_CPU, "curl", "-s", "-o", "/dev/null", "-w", fmt]
        if sc.get("bulk") == "proxy":
            cmd += ["--socks5", f"127.0.0.1:{srv.port}", f"http://127.0.0.1:{ctx.origin_port}/big.bin"]
        else:
            cmd += [f"http://127.0.0.1:{srv.port}/big.bin"]
        limit = 300
    first = sample(srv.pids)
    try:
        r = subprocess.run(ctx.prefix + cmd, capture_output=True, text=True, timeout=limit)
        last = sample(srv.pids)
        fields = r.stdout.split()
        if len(fields) != 3:
            raise RuntimeError(f"curl printed {r.stdout!r} (exit {r.returncode}): {r.stderr[-200:]}")
        size, secs, code = int(fields[0]), float(fields[1]), fields[2]
        if code != "200":
            raise RuntimeError(f"HTTP status {code}")
        if ld["kind"] == "wan":
            if r.returncode not in (0, 28) or size == 0:  # 28: --max-time reached, as intended
                raise RuntimeError(f"curl exit {r.returncode} after {size} bytes")
        elif r.returncode != 0 or size != ctx.bulk_size:
            raise RuntimeError(f"curl exit {r.returncode}, {size} of {ctx.bulk_size} bytes")
        res.update(window(first, last))
        res["work"] = size
        res["seconds"] = secs
        res["throughput"] = size / secs if secs > 0 else 0.0
        # CPU time comes in ticks of 10 ms: a slow path-limited transfer (wan) or a smoke-sized
        # one can use less than one; a full-size zero-copy run never does.
        if res["server_cpu"] > 0:
            res["per_cpu"] = size / res["server_cpu"]
            res["cpu_per_gib"] = res["server_cpu"] / (size / 2**30)
        elif ld["kind"] == "bulk" and not ctx.smoke:
            raise RuntimeError("server used no CPU time: is it the process being measured?")
        else:
            res["per_cpu"] = res["cpu_per_gib"] = None
        if not srv.alive():
            raise RuntimeError("server died during the run: " + srv.tail())
        res["ok"] = True
    except (RuntimeError, ValueError, subprocess.TimeoutExpired) as e:
        res["error"] = str(e)
    return res


def run_load(sc, srv, ctx, duration, warmup):
    """One measured run; returns a result dict (ok False with error on failure)."""
    if sc["load"]["kind"] in ("bulk", "wan"):
        return run_transfer(sc, srv, ctx, duration)
    cmd, ld = load_command(sc, srv, ctx, duration, warmup)
    full = ctx.prefix + ["taskset", "-c", LOAD_CPU] + cmd
    kind = ld["kind"]
    marks, lines = {}, []
    ready = threading.Event()
    rss = {}
    idle = kind in ("ws_idle", "pool_idle")
    if idle:
        rss["before"], rss["anon_before"] = tree_memory(srv.pids)
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.Popen(full, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.PIPE if idle else subprocess.DEVNULL,
                            preexec_fn=raise_limits, start_new_session=True)
    boost_priority(proc.pid, ctx)
    extra = getattr(srv, "extra_pids", ())
    first = sample(srv.pids, proc.pid, extra)

    def reader():
        for line in proc.stdout:
            s = line.strip()
            if s in ("@start", "@stop"):
                marks[s] = sample(srv.pids, proc.pid, extra)
            elif s.startswith("@ready"):
                ready.set()
            else:
                lines.append(s)

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    limit = duration + warmup + 90
    res = dict(scenario=sc["name"], server=srv.label, ok=False)
    try:
        if idle:
            if not ready.wait(timeout=120):
                raise RuntimeError("idle connections were not all open within 120 s")
            time.sleep(1.0)  # let the server finish whatever each accept left to do
            rss["after"], rss["anon_after"] = tree_memory(srv.pids)
            proc.stdin.close()
        try:
            proc.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise RuntimeError(f"load client still running after {limit:.0f} s, killed")
        last = sample(srv.pids, None)
        t.join(timeout=5)
        err = proc.stderr.read().strip()
        out = "\n".join(lines)
        if kind == "wrk":
            w = parse_wrk(out)
            win = window(first, last)
            # wrk has exited: its CPU time comes from the rusage of reaped children (the servers
            # are still running, so this is wrk's alone).
            ru = resource.getrusage(resource.RUSAGE_CHILDREN)
            win["client_cpu"] = (ru.ru_utime + ru.ru_stime) - (children_before.ru_utime + children_before.ru_stime)
            win["other_cpu"] = max(0.0, win["other_cpu"] - win["client_cpu"])
            res.update(w)
            res.update(win)
            res["seconds"] = w["client_seconds"]
        else:
            js = None
            for l in reversed(lines):
                if l.startswith("{"):
                    js = json.loads(l)
                    break
            if js is None:
                raise RuntimeError(f"no JSON result (exit {proc.returncode}): {err[-300:]}")
            res["client"] = js
            res["work"] = js["work"]
            res["errors"] = js.get("errors", 0)
            res["lat_us"] = js.get("lat_us", {})
            for k in ("over_100ms", "over_1s", "stalls"):
                if k in js:
                    res[k] = js[k]
            if idle:
                n = js.get("connected", 0)
                res["connected"] = n
                res["rss_before"] = rss.get("before", 0)
                res["rss_after"] = rss.get("after", 0)
                res["bytes_per_conn"] = (rss["after"] - rss["before"]) / n if n else 0.0
                res["anon_per_conn"] = (rss["anon_after"] - rss["anon_before"]) / n if n else 0.0
                res.update(window(first, last))
                if n < ld["conns"]:
                    raise RuntimeError(f"only {n} of {ld['conns']} idle connections open: {js.get('last_error')}")
            else:
                if "@start" not in marks or "@stop" not in marks:
                    raise RuntimeError(f"client did not mark its window (exit {proc.returncode}): {err[-300:]}")
                res.update(window(marks["@start"], marks["@stop"]))
                res["seconds"] = js.get("seconds") or res["seconds"]
            if proc.returncode != 0:
                raise RuntimeError(f"client exit {proc.returncode}: {js.get('last_error') or err[-300:]}")
        if not idle:
            if res["work"] <= 0:
                raise RuntimeError("no work done")
            res["throughput"] = res["work"] / res["seconds"] if res["seconds"] > 0 else 0.0
            res["per_cpu"] = res["work"] / res["server_cpu"] if res["server_cpu"] > 0 else None
            if getattr(srv, "redis", None):
                both = res["server_cpu"] + res.get("extra_cpu", 0.0)
                res["per_cpu_with_extra"] = res["work"] / both if both > 0 else None
                res["lat_us_port2"] = res["client"].get("lat_us_port2", {})
            # CPU time comes in 10 ms ticks: a smoke-sized run on a busy machine (CI builds
            # beside it) can fall under one, which says nothing about the server measured.
            if res["server_cpu"] <= 0 and not ctx.smoke:
                raise RuntimeError("server used no CPU time: is it the process being measured?")
        if res.get("errors"):
            res["note"] = f"{res['errors']} client-side errors"
            if kind == "wrk" and res["errors"] > 0.001 * res["work"]:
                raise RuntimeError(f"{res['errors']} errors or non-2xx responses for {res['work']} requests"
                                   f" ({res.get('socket_errors', '')})")
        if not srv.alive():
            raise RuntimeError("server died during the run: " + srv.tail())
        res["ok"] = True
    except (RuntimeError, ValueError, KeyError) as e:
        res["error"] = str(e)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return res


def run_inproc(sc, ctx, duration, warmup):
    """One run of an in-process benchmark (server and client in one program)."""
    ld = dict(sc["load"])
    if ctx.smoke:
        ld.update(SMOKE_LOAD.get(sc["name"], {}))
    binary = ctx.inproc_bins.get("cross_thread_broadcast")
    stall = 0.5 if ctx.smoke else 5.0
    # Both ends of every connection live in the one process: cap the sessions by what the
    # descriptor limit allows (a container's hard limit may be below 2 × 10,000).
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard != resource.RLIM_INFINITY and 2 * ld["sessions"] + 256 > hard:
        ld["sessions"] = (hard - 256) // 2
    cmd = ctx.prefix + [binary, "--sessions", str(ld["sessions"]), "--warmup", str(warmup),
                        "--duration", str(duration), "--stall", str(stall),
                        "--timeout", str(duration + warmup + stall + 120)]
    res = dict(scenario=sc["name"], server="pier", ok=False, sessions=ld["sessions"])
    before = cpu_stat()
    t = time.monotonic()
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + warmup + stall + 180,
                           preexec_fn=raise_limits)
    except subprocess.TimeoutExpired:
        res["error"] = "still running after its time limit, killed"
        return res
    lines = [l for l in r.stdout.splitlines() if l.startswith("{")]
    if not lines:
        res["error"] = f"no JSON result (exit {r.returncode}): {r.stderr.strip()[-300:]}"
        return res
    js = json.loads(lines[-1])
    res["client"] = js
    res.update(work=js["deliveries"], seconds=js["seconds"], server_cpu=js["server_cpu"],
               client_cpu=js["client_cpu"], throughput=js["per_s"], per_cpu=js["per_cpu"],
               other_cpu=0.0, steal={}, lat_us={})
    res["log"] = r.stderr.strip().splitlines()[-3:]
    if r.returncode != 0:
        why = "not every message arrived whole" if not js.get("all_delivered") else \
            "memory grew past the bound while the subscribers did not read"
        res["error"] = f"exit {r.returncode}: {why}"
        return res
    res["ok"] = True
    return res


# --------------------------------------------------------------------------------------------
# results
# --------------------------------------------------------------------------------------------
def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt_num(x, unit=""):
    if x is None:
        return "–"
    if abs(x) >= 1e6:
        return f"{x / 1e6:.2f}M{unit}"
    if abs(x) >= 1e4:
        return f"{x / 1e3:.1f}k{unit}"
    if abs(x) >= 100:
        return f"{x:.0f}{unit}"
    return f"{x:.2f}{unit}" if abs(x) < 10 else f"{x:.1f}{unit}"


def fmt_us(x):
    if x is None:
        return "–"
    if x >= 1e6:
        return f"{x / 1e6:.2f} s"
    if x >= 1e3:
        return f"{x / 1e3:.2f} ms"
    return f"{x:.0f} µs"


def spread(xs):
    xs = [x for x in xs if x is not None]
    if len(xs) < 2:
        return ""
    return f"{fmt_num(min(xs))}–{fmt_num(max(xs))}"


def summarize(runs):
    ok = [r for r in runs if r.get("ok")]
    if not ok:
        return None
    s = dict(n=len(ok), n_failed=len(runs) - len(ok))
    for k in ("throughput", "per_cpu", "bytes_per_conn", "anon_per_conn", "other_cpu", "seconds",
              "server_cpu", "cpu_per_gib", "extra_cpu", "per_cpu_with_extra"):
        vals = [r.get(k) for r in ok]
        s[k] = med(vals)
        s[k + "_all"] = [v for v in vals if v is not None]
    s["cpu_util"] = med([r["server_cpu"] / r["seconds"] for r in ok if r.get("seconds")])
    s["other_util"] = med([r["other_cpu"] / r["seconds"] for r in ok if r.get("seconds")])
    s["steal0"] = med([r.get("steal", {}).get("cpu0") for r in ok])
    s["steal1"] = med([r.get("steal", {}).get("cpu1") for r in ok])
    for p in ("p50", "p99", "p999", "max"):
        s[p] = med([r.get("lat_us", {}).get(p) for r in ok])
    for k in ("over_100ms", "over_1s", "stalls"):
        vals = [r[k] for r in ok if k in r]
        if vals:
            s[k] = sum(vals)
    return s


def headline(sc, s):
    """(value, label) of the figure a scenario is judged by."""
    if s is None:
        return None
    if sc["unit"] == "B/conn":
        return s["bytes_per_conn"]
    if sc["unit"] == "MB/s":
        return s["throughput"]
    return s["per_cpu"]


def headline_text(sc, s):
    """The headline figure as the Summary shows it."""
    if sc["unit"] == "GiB":
        return f"{s['cpu_per_gib']:.3f} CPU-s/GiB" if s.get("cpu_per_gib") else "–"
    if sc["unit"] == "MB/s":
        return f"{s['throughput'] / 1e6:.1f} MB/s"
    return fmt_num(headline(sc, s))


def machine_info():
    info = {}
    r = run_quiet(["lscpu"])
    for line in r.stdout.splitlines():
        k, _, v = line.partition(":")
        info[k.strip()] = v.strip()
    mem = ""
    try:
        with open("/proc/meminfo") as f:
            mem = f"{int(f.readline().split()[1]) / 1024 / 1024:.0f} GiB"
    except OSError:
        pass

    def first_line(cmd):
        try:
            r = run_quiet(cmd)
            return (r.stdout.strip().splitlines() or [""])[0]
        except OSError:
            return "?"
    boost = "?"
    try:
        with open("/usr/include/boost/version.hpp") as f:
            m = re.search(r'BOOST_LIB_VERSION "([\d_]+)"', f.read())
            boost = m.group(1).replace("_", ".") if m else "?"
    except OSError:
        pass
    commit = first_line(["git", "-C", REPO, "rev-parse", "--short", "HEAD"])
    if not re.fullmatch(r"[0-9a-f]{4,40}", commit):
        commit = "(no commit yet)"
    return dict(
        cpu=info.get("Model name", platform.processor()), cpus=info.get("CPU(s)", "?"),
        hypervisor=info.get("Hypervisor vendor", "none"), kernel=platform.release(), memory=mem,
        compiler=first_line(["c++", "--version"]), nginx=first_line(["nginx", "-v"]).replace("nginx version: ", ""),
        wrk=first_line(["wrk", "-v"]).split(" [")[0], openssl=first_line(["openssl", "version"]),
        boost=boost, python=platform.python_version(), commit=commit)


def ratio(p, r, lower_better=False):
    if p is None or r is None or r == 0:
        return None
    return p / r


def paired_ratios(sc, pier_st, ref_st):
    """pier / reference within each repetition, both run in it: runs alternate, so a pair saw the
    same state of a shared machine (a VM that moves between a fast and a slow mode skews a
    ratio of medians that the pairs do not share)."""
    def by_rep(st):
        return {r["rep"]: headline(sc, r) for r in st.get("runs", []) if r.get("ok") and "rep" in r}
    p, r = by_rep(pier_st), by_rep(ref_st)
    return [p[k] / r[k] for k in sorted(p) if k in r and p[k] is not None and r[k]]


def write_transfer_details(w, sc, per_server, ctx):
    """The zero-copy and socket-buffer scenarios: one transfer per run."""
    if sc["unit"] == "GiB":
        w("| Server | CPU-s per GiB | range | GiB/s | range | server CPU | other CPU | runs |")
        w("|---|---:|---|---:|---|---:|---:|---:|")
    else:
        w("| Server | MB/s | range | vs. the link (200 Mbit/s = 25 MB/s) | runs |")
        w("|---|---:|---|---:|---:|")
    for srv, st in per_server:
        s = st.get("summary")
        if s is None:
            w(f"| {srv.label} | {st.get('status', 'failed')} |" + " |" * (6 if sc["unit"] == "GiB" else 3))
            continue
        runs = f"{s['n']}" + (f" ({s['n_failed']} failed)" if s["n_failed"] else "")
        if sc["unit"] == "GiB":
            gib = [t / 2**30 for t in s["throughput_all"]]
            cpus = s["cpu_per_gib_all"]
            cpu_txt = (f"{s['cpu_per_gib']:.3f} | {min(cpus):.3f}–{max(cpus):.3f}" if cpus
                       else "– (under one CPU tick) | ")
            w(f"| {srv.label} | {cpu_txt} | "
              f"{s['throughput'] / 2**30:.2f} | {min(gib):.2f}–{max(gib):.2f} | "
              f"{s['cpu_util'] * 100:.0f}% | {s['other_util']:.2f} | {runs} |")
        else:
            mb = [t / 1e6 for t in s["throughput_all"]]
            link = sc["wan"]["rate_mbit"] / 8
            w(f"| {srv.label} | {s['throughput'] / 1e6:.1f} | {min(mb):.1f}–{max(mb):.1f} | "
              f"{s['throughput'] / 1e6 / link * 100:.0f}% | {runs} |")
    errs = [f"{srv.label}: {r['error']}" for srv, st in per_server for r in st.get("runs", [])
            if not r.get("ok")]
    for e in errs[:6]:
        w(f"- failed run: {e}")
    if sc["unit"] == "MB/s" and getattr(ctx, "wan_method", None):
        w(f"- path: {ctx.wan_method}; {sc['wan']['delay_ms']} ms each way, "
          f"{sc['wan']['rate_mbit']} Mbit/s bottleneck, queue of twice the bandwidth-delay product")
    w("")


def write_results(path, ctx, results, notes, info, started, elapsed):
    L = []
    w = L.append
    mode = "smoke (sanity check only, not a measurement)" if ctx.smoke else "full"
    w("# pier benchmark results")
    w("")
    w(f"Written by `bench/run.py` ({mode}) on {started} UTC in {elapsed / 60:.1f} minutes "
      f"({ctx.build_seconds / 60:.1f} of them building); rerun it rather than editing this file.")
    w("")
    w("## Machine")
    w("")
    w(f"- CPU: {info['cpu']}, {info['cpus']} CPUs (hypervisor: {info['hypervisor']}), {info['memory']} RAM")
    w(f"- Kernel: Linux {info['kernel']}")
    w(f"- Compiler: {info['compiler']}, `-O2 -DNDEBUG` (CMake Release with -O2)")
    w(f"- References: nginx {info['nginx']}, Boost.Beast (Boost {info['boost']}), "
      f"{info['openssl']}" + "".join(f", {n} (`{c}`, built outside the repository)" for n, c in ctx.refs.items())
      + f"; load: {info['wrk']}, bench/load clients")
    w(f"- pier commit: {info['commit']}")
    w("")
    w("## Protocol")
    w("")
    w(f"- Server pinned to CPU {SERVER_CPU} (`taskset`), load generator to CPU {LOAD_CPU}, both at niceness "
      f"{ctx.nice} (and so is each one's autogroup) so that other work on the machine yields to them; "
      "pier's examples run with `--threads 1` "
      "(a worker pool, where an example has one, shares CPU 0).")
    w(f"- Each scenario starts its servers once; runs alternate between servers (interleaved), "
      f"{ctx.reps} repetition(s) of {ctx.duration:g} s after a {ctx.warmup:g} s warm-up; figures are "
      "medians, with the range over repetitions beside them.")
    w("- **Work per server CPU-second**: work done in the measured window divided by the server's "
      "utime+stime over that window (`/proc/<pid>/stat`, all threads and child processes). This is the "
      "headline figure: on a shared 2-vCPU VM it is far steadier than throughput. Throughput (work per "
      "wall-clock second) is given too.")
    w("- *Other CPU*: CPU time used by every other process during the window (CPU-seconds per second, "
      "both CPUs); *steal*: the hypervisor's steal time on the server's CPU. High values mean a noisy run.")
    w("- HTTP load: wrk, 1 thread; `Connection: close` scenarios make wrk open a new connection per "
      "request (the server closes, so TIME_WAIT stays on the server side). TLS: self-signed "
      f"{'ECDSA P-256' if ctx.key_type == 'ec' else 'RSA-2048'} certificate, TLS 1.2/1.3 as negotiated "
      "(wrk does not resume sessions, so every new connection is a full handshake).")
    w("- WebSocket convention: a text message starting with `broadcast:` is sent unchanged to every "
      "connected client (its sender included); anything else is echoed.")
    w("")
    # ---- summary
    w("## Summary")
    w("")
    w("Work per server CPU-second (idle memory: resident bytes per connection, lower is better). "
      "Ratio = pier / reference; above 1 means pier does more work per CPU-second "
      "(for memory, below 1 means pier uses less).")
    w("")
    w("The last column pairs the runs of each repetition (pier's and the reference's, run one after "
      "the other) and gives the median of their ratios, with the range: on a machine whose speed "
      "drifts, it is steadier than the ratio of the medians.")
    w("")
    w("| Scenario | pier | Reference | pier / reference | per-repetition ratio: median (range) |")
    w("|---|---:|---|---:|---:|")
    for sc, per_server in results:
        pier = [(srv, s) for srv, s in per_server if srv.kind == "pier"]
        refs = [(srv, s) for srv, s in per_server if srv.kind != "pier"]
        if sc["unit"] in ("GiB", "MB/s"):
            # Variants of one pier example: the first (zero copy, autotuning) against the rest.
            pier, refs = per_server[:1], per_server[1:]
        if pier and pier[0][1].get("summary"):
            pv = headline(sc, pier[0][1]["summary"])
            ptxt = headline_text(sc, pier[0][1]["summary"])
        else:
            pv, ptxt = None, pier[0][1].get("status", "not yet") if pier else "–"
        if not refs:
            w(f"| {sc['name']} | {ptxt} | – | – | – |")
        for srv, s in refs:
            rv = headline(sc, s.get("summary")) if s.get("summary") else None
            rtxt = (f"{srv.label} {headline_text(sc, s['summary'])}" if rv is not None
                    else f"{srv.label} ({s.get('status', 'failed')})")
            rt = ratio(pv, rv)
            pairs = paired_ratios(sc, pier[0][1], s) if pier and pv is not None else []
            ptx = (f"{med(pairs):.2f} ({min(pairs):.2f}–{max(pairs):.2f})" if len(pairs) > 1
                   else (f"{pairs[0]:.2f}" if pairs else "–"))
            w(f"| {sc['name']} | {ptxt} | {rtxt} | {f'{rt:.2f}' if rt is not None else '–'} | {ptx} |")
    w("")
    # ---- details
    w("## Details")
    w("")
    for sc, per_server in results:
        w(f"### {sc['name']}: {sc['title']}")
        w("")
        unit = sc["unit"]
        if sc["load"]["kind"] == "inproc":
            w(f"| Server | {unit}/CPU-s | range | {unit}/s | range | server CPU | stall: RSS growth, peak | "
              "stall: growth in its second half | bound | messages dropped (drop_oldest) | runs |")
            w("|---|---:|---|---:|---|---:|---:|---:|---:|---:|---:|")
            for srv, st in per_server:
                s = st.get("summary")
                if s is None:
                    w(f"| {srv.label} | {st.get('status', 'failed')} |" + " |" * 9)
                    continue
                okr = [r["client"]["stall"] for r in st["runs"] if r.get("ok")]
                growth = med([x["rss_peak"] - x["rss_start"] for x in okr])
                half = med([x["rss_second_half"] for x in okr])
                w(f"| {srv.label} | {fmt_num(s['per_cpu'])} | {spread(s['per_cpu_all'])} | "
                  f"{fmt_num(s['throughput'])} | {spread(s['throughput_all'])} | "
                  f"{s['cpu_util'] * 100:.0f}% | {growth / 2**20:.1f} MiB | {half / 2**20:+.1f} MiB | "
                  f"{okr[0]['bound'] / 2**20:.0f} MiB | {fmt_num(med([x['dropped_messages'] for x in okr]))} | "
                  f"{s['n']} |")
            for srv, st in per_server:
                for r in st.get("runs", []):
                    if not r.get("ok"):
                        w(f"- failed run: {r.get('error')}")
            w("")
            continue
        if unit in ("GiB", "MB/s"):
            write_transfer_details(w, sc, per_server, ctx)
            continue
        if unit == "B/conn":
            w("| Server | B/conn (RSS) | range | anonymous B/conn | RSS before → after | connections | runs |")
            w("|---|---:|---|---:|---|---:|---:|")
        elif sc["load"]["kind"] == "conn_latency":
            w(f"| Server | {unit}/CPU-s | range | {unit}/s | range | p50 | p99 | p99.9 | max | >100 ms | >1 s "
              "| server CPU | other CPU | steal | runs |")
            w("|---|---:|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        else:
            w(f"| Server | {unit}/CPU-s | range | {unit}/s | range | p50 | p99 | server CPU | other CPU "
              "| steal | runs |")
            w("|---|---:|---|---:|---|---:|---:|---:|---:|---:|---:|")
        for srv, st in per_server:
            s = st.get("summary")
            if s is None:
                w(f"| {srv.label} | {st.get('status', 'failed')} |" + " |" * (5 if unit == "B/conn" else 9))
                continue
            runs = f"{s['n']}" + (f" ({s['n_failed']} failed)" if s["n_failed"] else "")
            if unit == "B/conn":
                okr = [r for r in st["runs"] if r.get("ok")]
                rb = med([r["rss_before"] for r in okr])
                ra = med([r["rss_after"] for r in okr])
                w(f"| {srv.label} | {fmt_num(s['bytes_per_conn'])} | {spread(s['bytes_per_conn_all'])} | "
                  f"{fmt_num(s['anon_per_conn'])} | {rb / 2**20:.1f} → {ra / 2**20:.1f} MiB | "
                  f"{okr[0]['connected']} | {runs} |")
                continue
            common = (f"| {srv.label} | {fmt_num(s['per_cpu'])} | {spread(s['per_cpu_all'])} | "
                      f"{fmt_num(s['throughput'])} | {spread(s['throughput_all'])} | {fmt_us(s['p50'])} | "
                      f"{fmt_us(s['p99'])} |")
            tail = (f" {s['cpu_util'] * 100:.0f}% | {s['other_util']:.2f} | "
                    f"{(s['steal0'] or 0) * 100:.0f}% | {runs} |")
            if sc["load"]["kind"] == "conn_latency":
                w(common + f" {fmt_us(s['p999'])} | {fmt_us(s['max'])} | {s.get('over_100ms', 0)} | "
                  f"{s.get('over_1s', 0)} |" + tail)
            else:
                w(common + tail)
        errs = [f"{srv.label}: {r['error']}" for srv, st in per_server for r in st.get("runs", [])
                if not r.get("ok")]
        for e in errs[:6]:
            w(f"- failed run: {e}")
        if sc.get("cluster"):
            for srv, st in per_server:
                s = st.get("summary")
                if not s or not getattr(srv, "redis", None):
                    continue
                okr = [r for r in st["runs"] if r.get("ok")]
                p2 = [r.get("lat_us_port2") or {} for r in okr]
                w(f"- {srv.label}: redis-server used {s['extra_cpu']:.2f} CPU-s over the window "
                  f"({s['extra_cpu'] / s['seconds'] * 100:.0f}% of a CPU); deliveries per CPU-second "
                  f"of the nodes and Redis together: {fmt_num(s['per_cpu_with_extra'])}"
                  + (f"; the second node's deliveries alone: p50 {fmt_us(med([x.get('p50') for x in p2]))}, "
                     f"p99 {fmt_us(med([x.get('p99') for x in p2]))}" if srv.port2 else ""))
        stalls = [(srv.label, st["summary"].get("stalls")) for srv, st in per_server
                  if st.get("summary") and st["summary"].get("stalls")]
        for label, n in stalls:
            w(f"- {label}: {n} broadcast message(s) not delivered to every subscriber within 2 s")
        w("")
    # ---- goals
    w("## Goals")
    w("")
    w("The goals issues #5 and #10 set, checked against this run (work per server CPU-second unless said otherwise)"
      + (". Smoke runs last a second each: these verdicts are not measurements." if ctx.smoke else "."))
    w("")
    for line in goal_lines(results):
        w(f"- {line}")
    w("")
    # ---- notes
    w("## Notes and shortfalls")
    w("")
    for n in notes:
        w(f"- {n}")
    w("")
    # The micro-benchmark section is written by hand from Google Benchmark runs (see
    # bench/README.md); keep it across rewrites.
    try:
        with open(path) as f:
            old = f.read()
        k = old.find("\n## Micro-benchmarks")
        if k >= 0:
            L.append(old[k:].rstrip("\n"))
    except OSError:
        pass
    with open(path, "w") as f:
        f.write("\n".join(L) + "\n")


# --------------------------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------------------------
class context:
    pass


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--smoke", action="store_true", help="seconds per scenario; checks, does not measure")
    ap.add_argument("--only", default="", help="comma-separated scenario names or name prefixes")
    ap.add_argument("--servers", default="", help="comma-separated server kinds: pier,epoll,nginx,beast")
    ap.add_argument("--reps", type=int, help="repetitions per server (default 3; smoke 1)")
    ap.add_argument("--duration", type=float, help="measured seconds per run (default 5; smoke 1)")
    ap.add_argument("--warmup", type=float, help="warm-up seconds (default 1; smoke 0.3)")
    ap.add_argument("--time-limit", type=float, help="overall bound in seconds (default 1800; smoke 240)")
    ap.add_argument("--build-dir", default=os.path.join(REPO, "build", "bench"))
    ap.add_argument("--no-build", action="store_true", help="use the binaries already in --build-dir")
    ap.add_argument("--pier-bin-dir", default="", help="take pier's examples from here (e.g. build/default/examples)")
    ap.add_argument("--results", help="markdown output (default bench/RESULTS.md; smoke: <build-dir>/RESULTS-smoke.md)")
    ap.add_argument("--json", help="raw results (default <build-dir>/results[-smoke].json)")
    ap.add_argument("--tls-key", choices=("ec", "rsa"), default="ec", help="certificate key type (default ec)")
    ap.add_argument("--nice", type=int, default=-20,
                    help="niceness of servers and load clients (default -20, needs root; 0 = leave alone)")
    ap.add_argument("--list", action="store_true", help="list the scenarios and exit")
    ap.add_argument("--ref", action="append", default=[], metavar="NAME=COMMAND",
                    help="an external server that joins every scenario selected (except the pool's) as a "
                         "reference, so it must speak their protocol (select with --only); {port} in COMMAND "
                         "is replaced by the port; repeatable. Such servers are built outside the repository, "
                         "or are an earlier build of pier's own examples for a side-by-side run.")
    args = ap.parse_args()

    if args.list:
        for sc in SCENARIOS:
            log(f"{sc['name']:20} {sc['title']}")
        return 0

    t0 = time.monotonic()
    started = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M")
    ctx = context()
    ctx.smoke = args.smoke
    ctx.reps = args.reps or (1 if args.smoke else 3)
    ctx.duration = args.duration or (1.0 if args.smoke else 5.0)
    ctx.warmup = args.warmup if args.warmup is not None else (0.3 if args.smoke else 1.0)
    ctx.key_type = args.tls_key
    ctx.refs = {}
    for spec in args.ref:
        name, eq, cmd = spec.partition("=")
        if not eq or not name or "{port}" not in cmd:
            log(f"--ref {spec!r}: expected NAME=COMMAND with {{port}} in COMMAND")
            return 2
        ctx.refs[name] = cmd
    # A high CFS weight keeps other processes on the machine (other builds, other tenants' work
    # scheduled into this VM) from taking the measured CPUs; everything measured gets the same.
    ctx.nice = args.nice if (args.nice >= 0 or os.geteuid() == 0) else 0
    ctx.prefix = ["nice", "-n", str(ctx.nice)] if ctx.nice else []
    time_limit = args.time_limit or (240.0 if args.smoke else 1800.0)
    results_path = args.results or (os.path.join(args.build_dir, "RESULTS-smoke.md") if args.smoke
                                    else os.path.join(HERE, "RESULTS.md"))
    json_path = args.json or os.path.join(args.build_dir, "results-smoke.json" if args.smoke else "results.json")

    only = [x for x in args.only.split(",") if x]
    kinds = [x for x in args.servers.split(",") if x]
    scenarios = [sc for sc in SCENARIOS if not only or any(sc["name"].startswith(o) for o in only)]
    if not scenarios:
        log(f"no scenario matches --only {args.only}; --list shows them")
        return 2
    if len(os.sched_getaffinity(0)) < 2 or os.cpu_count() < 2:
        log("needs two CPUs (server on CPU 0, load on CPU 1)")
        return 77

    micro = os.path.isdir(os.path.join(HERE, "micro")) and any(
        f.endswith(".cpp") for f in os.listdir(os.path.join(HERE, "micro")))
    if not ensure_packages(micro and not args.no_build, any(sc.get("cluster") for sc in scenarios)):
        return 77

    pier_examples = {entry[1] for sc in scenarios for entry in sc["servers"]
                     if entry[0] in ("pier", "pier_raw") and entry[1]}
    notes = []
    if args.no_build:
        dirs = [os.path.join(args.build_dir, "bench"), os.path.join(args.build_dir, "examples"),
                args.build_dir, args.build_dir + "-standalone"]
    else:
        log(f"building in {args.build_dir} ...")
        dirs, build_notes = build(args, pier_examples)
        notes += build_notes
    pier_dirs = [args.pier_bin_dir] if args.pier_bin_dir else dirs
    ctx.bins = {}
    for t in TOOLS:
        p = find_binary(dirs, t)
        if not p:
            log(f"{t} not found in {dirs}")
            return 1
        ctx.bins[t] = p
    ctx.pier_bins = {ex: find_binary(pier_dirs, ex) for ex in pier_examples}
    ctx.inproc_bins = {b: find_binary(dirs, b) for b in INPROC}
    ctx.wrk = shutil.which("wrk")
    ctx.nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    os.makedirs(args.build_dir, exist_ok=True)
    ctx.workdir = tempfile.mkdtemp(prefix="pier-bench-", dir=args.build_dir)
    ctx.cert_key = make_cert(ctx.workdir, args.tls_key)
    info = machine_info()
    log(f"machine: {info['cpu']}, {info['cpus']} CPUs, Linux {info['kernel']}")
    # Namespaces, the origin and the delay line go away however the run ends.
    import atexit
    atexit.register(scenario_teardown, ctx)
    build_seconds = time.monotonic() - t0
    ctx.build_seconds = build_seconds
    # The bound covers the measurements; compiling (minutes when pier's headers changed) is not
    # counted, so a slow build does not silently turn into a run that measured nothing.
    deadline = time.monotonic() + time_limit

    for ex, p in sorted(ctx.pier_bins.items()):
        if not p:
            log(f"pier {ex}: not yet (no examples/{ex}.cpp or no binary) — skipped")
            notes.append(f"pier `{ex}`: not yet — the example does not exist (or did not build); "
                         "its scenarios show the references only.")

    failures = 0
    results = []
    per_run = ctx.duration + ctx.warmup + 2.5
    for sc in scenarios:
        per_server = []
        listed = list(sc["servers"])
        if not sc.get("pool"):  # a reference speaks the scenario's protocol, not the pool's
            listed += [("ref:" + name, None) for name in ctx.refs]
        for entry in listed:
            kind, ex = entry[0], entry[1]
            if kinds and kind not in kinds and not kind.startswith("ref:"):
                continue
            make = cluster_server if sc.get("cluster") else server
            srv = make(kind, ex, sc, ctx, entry[2] if len(entry) > 2 else None)
            st = dict(runs=[])
            if sc["load"]["kind"] == "inproc":
                if not ctx.inproc_bins.get("cross_thread_broadcast"):
                    st["status"] = "not built (needs pier)"
            elif (kind in ("pier", "pier_raw") or sc.get("cluster")) and not ctx.pier_bins.get(ex):
                st["status"] = "not yet"
            if kind == "nginx" and sc.get("sleep_ms") and not os.path.exists(ECHO_MODULE):
                st["status"] = "no echo module"
            per_server.append((srv, st))
        active = [(srv, st) for srv, st in per_server if "status" not in st]
        if active:
            why = scenario_setup(sc, ctx, [srv for srv, _ in active])
            if why:
                for _, st in active:
                    st["status"] = why
                notes.append(f"{sc['name']}: not run: {why}.")
                active = []
        log(f"\n== {sc['name']}: {sc['title']}")
        for srv, st in per_server:
            if "status" in st:
                log(f"   {srv.label}: {st['status']}")
        if sc["load"]["kind"] == "inproc":
            for srv, st in active:
                for rep in range(ctx.reps):
                    if time.monotonic() + ctx.duration + ctx.warmup + 10 > deadline:
                        st.setdefault("skipped_for_time", 0)
                        st["skipped_for_time"] += 1
                        continue
                    r = run_inproc(sc, ctx, ctx.duration, ctx.warmup)
                    r["rep"] = rep
                    st["runs"].append(r)
                    if r["ok"]:
                        x = r["client"]["stall"]
                        log(f"   [{rep + 1}/{ctx.reps}] {srv.label:18} {fmt_num(r['throughput']):>8} {sc['unit']}/s  "
                            f"{fmt_num(r['per_cpu']):>8} {sc['unit']}/CPU-s  server CPU {r['server_cpu']:.2f}s "
                            f"of {r['seconds']:.2f}s; stall: RSS +{(x['rss_peak'] - x['rss_start']) / 2**20:.1f} MiB "
                            f"peak, {x['rss_second_half'] / 2**20:+.1f} MiB in its second half "
                            f"(bound {x['bound'] / 2**20:.0f} MiB)")
                    else:
                        failures += 1
                        log(f"   [{rep + 1}/{ctx.reps}] {srv.label:18} FAILED: {r['error']}")
            for srv, st in per_server:
                st["summary"] = summarize(st["runs"]) if st["runs"] else None
                if st["summary"] is None and "status" not in st:
                    st["status"] = "failed" if st["runs"] else "skipped (time)"
            results.append((sc, per_server))
            continue
        # Start (and check) every server of the scenario.
        for srv, st in active:
            if sc.get("fresh_server"):
                continue
            try:
                srv.start()
                sanity(srv)
            except (RuntimeError, OSError, ValueError) as e:
                st["status"] = "failed to start or answer"
                st["runs"].append(dict(ok=False, error=f"{type(e).__name__}: {e}"))
                log(f"   {srv.label}: FAILED sanity check: {e}")
                failures += 1
                srv.stop()
        # Warm-up: one short unrecorded run per server.
        if not ctx.smoke and not sc.get("fresh_server"):
            for srv, st in active:
                if "status" not in st and time.monotonic() + 3 < deadline:
                    run_load(sc, srv, ctx, 1.0, 0.2)
        for rep in range(ctx.reps):
            order = [x for x in active if "status" not in x[1]]
            if not order:
                break
            k = rep % len(order)
            order = order[k:] + order[:k]  # rotate who goes first
            for srv, st in order:
                if time.monotonic() + per_run > deadline:
                    st.setdefault("skipped_for_time", 0)
                    st["skipped_for_time"] += 1
                    log(f"   [{rep + 1}/{ctx.reps}] {srv.label:18} skipped: the {time_limit:.0f} s time limit")
                    if ctx.smoke:
                        failures += 1  # a smoke run exists to run everything once
                    continue
                if sc.get("fresh_server"):
                    try:
                        srv.start()
                        sanity(srv)
                    except (RuntimeError, OSError, ValueError) as e:
                        st["runs"].append(dict(ok=False, error=f"{type(e).__name__}: {e}"))
                        failures += 1
                        srv.stop()
                        continue
                r = run_load(sc, srv, ctx, ctx.duration, ctx.warmup)
                r["rep"] = rep
                st["runs"].append(r)
                if sc.get("fresh_server"):
                    srv.stop()
                if r["ok"]:
                    if sc["unit"] == "B/conn":
                        log(f"   [{rep + 1}/{ctx.reps}] {srv.label:18} {r['bytes_per_conn']:10.0f} B/conn "
                            f"(anonymous {r['anon_per_conn']:.0f} B/conn; "
                            f"{r['connected']} connections, RSS {r['rss_before'] / 2**20:.1f} -> "
                            f"{r['rss_after'] / 2**20:.1f} MiB)")
                    elif sc["unit"] == "GiB":
                        cpu = r.get("cpu_per_gib")
                        log(f"   [{rep + 1}/{ctx.reps}] {srv.label:28} {r['throughput'] / 2**30:6.2f} GiB/s  "
                            + (f"{cpu:.3f} CPU-s/GiB  " if cpu is not None else "")
                            + f"server CPU {r['server_cpu']:.2f}s of {r['seconds']:.2f}s  "
                              f"other {r['other_cpu']:.2f}s")
                    elif sc["unit"] == "MB/s":
                        log(f"   [{rep + 1}/{ctx.reps}] {srv.label:28} {r['throughput'] / 1e6:7.1f} MB/s "
                            f"in {r['seconds']:.1f} s")
                    else:
                        lat = r.get("lat_us", {})
                        log(f"   [{rep + 1}/{ctx.reps}] {srv.label:18} {fmt_num(r['throughput']):>8} {sc['unit']}/s  "
                            f"{fmt_num(r['per_cpu']):>8} {sc['unit']}/CPU-s  server CPU {r['server_cpu']:.2f}s "
                            f"of {r['seconds']:.2f}s  other {r['other_cpu']:.2f}s  p50 {fmt_us(lat.get('p50'))} "
                            f"p99 {fmt_us(lat.get('p99'))}"
                            + (f"  Redis CPU {r['extra_cpu']:.2f}s" if getattr(srv, "redis", None) else ""))
                else:
                    failures += 1
                    log(f"   [{rep + 1}/{ctx.reps}] {srv.label:18} FAILED: {r['error']}")
                    if not srv.alive() and not sc.get("fresh_server"):
                        st["status"] = "died"
        for srv, st in per_server:
            srv.stop()
            st["summary"] = summarize(st["runs"]) if st["runs"] else None
            if st.get("skipped_for_time"):
                notes.append(f"{sc['name']} / {srv.label}: {st['skipped_for_time']} run(s) skipped to stay "
                             f"within the {time_limit:.0f} s time limit.")
            if st["summary"] is None and "status" not in st:
                st["status"] = "failed" if st["runs"] else "skipped (time)"
        scenario_teardown(ctx)
        results.append((sc, per_server))

    shutil.rmtree(ctx.workdir, ignore_errors=True)
    elapsed = time.monotonic() - t0
    notes += standard_notes(results, ctx)
    write_results(results_path, ctx, results, notes, info, started, elapsed)
    with open(json_path, "w") as f:
        json.dump(dict(machine=info, started=started, smoke=ctx.smoke, reps=ctx.reps, duration=ctx.duration,
                       scenarios=[dict(name=sc["name"], servers=[dict(server=srv.label, kind=srv.kind,
                                                                       status=st.get("status"), runs=st["runs"])
                                                                  for srv, st in ps]) for sc, ps in results]),
                  f, indent=1, default=str)
    log(f"\nwrote {results_path} and {json_path} in {elapsed:.0f} s (build {build_seconds:.0f} s); "
        f"{failures} failure(s)")
    return 1 if failures else 0


def goal_lines(results):
    """One line per goal: met or not, with the figures it was judged on."""
    by = {}
    for sc, per_server in results:
        for srv, st in per_server:
            by[(sc["name"], srv.kind)] = (sc, st.get("summary"))

    def figure(name, kind):
        sc, s = by.get((name, kind), (None, None))
        return headline(sc, s) if s else None

    def verdict(ok):
        return "**met**" if ok else "**not met**"

    lines = []
    http = [sc["name"] for sc, _ in results if sc["name"].startswith(("http_", "https_"))]
    for name in http:
        p, n = figure(name, "pier"), figure(name, "nginx")
        if p is not None and n is not None:
            lines.append(f"pier at or above nginx, {name}: {verdict(p >= n)} "
                         f"({fmt_num(p)} vs {fmt_num(n)}, {p / n:.2f}×)")
    p, e = figure("http_ka_1k", "pier"), figure("http_ka_1k", "epoll")
    if p is not None and e is not None:
        lines.append(f"within a few percent (≥ 0.95×) of the hand-written epoll server, http_ka_1k: "
                     f"{verdict(p >= 0.95 * e)} ({fmt_num(p)} vs {fmt_num(e)}, {p / e:.2f}×)")
    for name in ("conn_latency_c1", "conn_latency_c32"):
        _, ps = by.get((name, "pier"), (None, None))
        _, es = by.get((name, "epoll"), (None, None))
        if ps:
            over = ps.get("over_1s", 0)
            lines.append(f"no transaction over 1 s, {name}: {verdict(over == 0)} ({over} over 1 s, "
                         f"{ps.get('over_100ms', 0)} over 100 ms, max {fmt_us(ps.get('max'))})")
        if ps and es and ps.get("p999") and es.get("p999"):
            r = ps["p999"] / es["p999"]
            lines.append(f"p99.9 within 1.25× of epoll's, {name}: {verdict(r <= 1.25)} "
                         f"({fmt_us(ps['p999'])} vs {fmt_us(es['p999'])}, {r:.2f}×)")
    for name in ("ws_echo_64", "ws_echo_16k", "ws_broadcast_1000"):
        p, b = figure(name, "pier"), figure(name, "beast")
        if p is not None and b is not None:
            lines.append(f"ahead of Beast by a wide margin (≥ 1.5×), {name}: {verdict(p >= 1.5 * b)} "
                         f"({fmt_num(p)} vs {fmt_num(b)}, {p / b:.2f}×)")
    # Issue #10: at least an external reference's (uWebSockets') work per CPU-second, and idle memory.
    refs = sorted({kind for (_, kind) in by if kind.startswith("ref:")})
    for name in ("ws_echo_64", "ws_echo_16k", "ws_broadcast_1000", "ws_connect_storm"):
        for kind in refs:
            p, r = figure(name, "pier"), figure(name, kind)
            if p is not None and r is not None:
                lines.append(f"at least {kind[4:]}'s work per CPU-second, {name}: {verdict(p >= r)} "
                             f"({fmt_num(p)} vs {fmt_num(r)}, {p / r:.2f}×)")
    p = figure("ws_idle_10k", "pier")
    if p is not None:
        lines.append(f"idle WebSocket memory at most 600 B per connection of server RSS: {verdict(p <= 600)} "
                     f"({fmt_num(p)} B/conn)")
        for kind in refs:
            r = figure("ws_idle_10k", kind)
            if r is not None:
                lines.append(f"idle memory at most {kind[4:]}'s (stretch): {verdict(p <= r)} "
                             f"({fmt_num(p)} vs {fmt_num(r)} B/conn)")
    p = figure("pool_idle_10k", "pier")
    if p is not None:
        lines.append(f"memory per idle pooled connection ≤ 1 KB, pool_idle_10k: {verdict(p <= 1024)} "
                     f"({fmt_num(p)} B; Centrifugo is about 35 KB, raw uWebSockets 273 B)")
    p, r = figure("pool_broadcast_10k", "pier"), figure("pool_broadcast_10k", "pier_raw")
    if p is not None and r is not None:
        lines.append(f"pool broadcast ≥ 0.9× pier's raw WebSocket broadcast, pool_broadcast_10k: "
                     f"{verdict(p >= 0.9 * r)} ({fmt_num(p)} vs {fmt_num(r)}, {p / r:.2f}×)")
    if not lines:
        lines.append("no scenario with both pier and a reference measured in this run")
    return lines


def standard_notes(results, ctx):
    notes = []
    names = {sc["name"] for sc, _ in results}
    if "http_sleep_128" in names:
        notes.append("http_sleep_128: nginx sleeps with the echo module's `echo_sleep` (a timer, its "
                     "response is chunked) and epoll_http with a timerfd queue: neither blocks a thread. "
                     "pier's `blocking` example really blocks, in its worker pool; the Go tcpserver test "
                     "this mirrors blocks a goroutine.")
    if any(n.startswith("http") for n in names):
        notes.append("nginx answers with `return 200 \"...\"` up to 2 kB bodies and with a static file "
                     "(sendfile, open_file_cache) above, because its configuration tokens are limited to 4 kB.")
    if "ws_echo_16k" in names:
        notes.append("Beast fragments server messages larger than its 4 kB write buffer (its default "
                     "`auto_fragment`), so its 16 KiB echoes arrive as four frames; ws_load reassembles them.")
    if "ws_broadcast_1000" in names:
        notes.append("Broadcast: one publisher keeps at most 16 messages in flight (a message is in flight "
                     "until every subscriber has it); delivery latency is measured from the publisher's send "
                     "to each subscriber's receipt, in one process on one clock.")
    if "ws_idle_10k" in names:
        notes.append("Idle memory: the server's VmRSS (with its children) after all connections are open and "
                     "one settling second, minus VmRSS before the client started, divided by the connections. "
                     "Connections come from 127.0.0.1–127.0.0.8.")
    if "ws_cross_thread_10k" in names:
        notes.append("ws_cross_thread_10k runs in one process (bench/pier/cross_thread_broadcast.cpp): two "
                     "shards on two loop threads, a publisher thread (no loop thread) keeping 16 messages "
                     "in flight, and a client thread reading all 10,000 sockets with epoll. Server CPU is "
                     "the process's CPU time less the client thread's. Then the client stops reading for "
                     "5 s while the publisher goes on, backing off 1 ms whenever post_mail answers "
                     "backpressure; the bound is shards × mailbox_budget (8 MiB) + sessions × "
                     "write.high_water (16 KiB), and the run fails if RSS grows past it.")
    if "pool_idle_10k" in names:
        notes.append("pool_idle_10k: as ws_idle_10k, with every connection authenticated (an HS256 token "
                     "with a small `meta` object, its own user), subscribed to one of 100 topics, and "
                     "welcomed; the anonymous column is as ws_idle_10k's (smaps_rollup Anonymous: heap and stacks, no file pages).")
    if "pool_broadcast_10k" in names:
        notes.append("pool_broadcast_10k: a publisher subscribed to the topic sends data envelopes; the pool "
                     "adds a timestamp and sends each subscriber a 100-byte envelope (the publisher excluded). "
                     "Beside it, pier's raw broadcast (ws_broadcast, no pool, no envelope) sends 100-byte "
                     "messages to the same 10,000 connections: the pool's cost over the raw fan-out.")
    if "pool_connect" in names:
        notes.append("pool_connect: ws_load's pool-connect mode: connect, opening handshake with a token and "
                     "?topics=, the welcome, the close handshake; work = welcomes.")
    if "http_close_aes_1k" in names or "http_ka_aes_1k" in names:
        notes.append("AES scenarios (Go tcpserver's tests 3 and 4, its `-aes128`): every response body is 1 kB "
                     "encrypted anew with AES-128-CBC (random IV, sent before the ciphertext, PKCS#7: 1056 bytes) "
                     "through OpenSSL's EVP interface, by pier's `http_hello --aes128 on` and by "
                     "`epoll_http --aes128`; the sanity check decrypts a body with `openssl enc -d`. nginx cannot "
                     "do this work and is not measured. The numbering follows this file (test 3 = new "
                     "connection per request, test 4 = keep-alive); tcpserver's own benchmark.sh numbers them "
                     "the other way round.")
    if "zc_file_1g" in names or "zc_proxy_1g" in names:
        notes.append("Zero copy (zc_*): one client (curl on CPU 1, output to /dev/null) moves the whole file per "
                     "run; the figure is the server's CPU time per GiB over the transfer (lower is better), "
                     "and GiB/s the client's rate. The proxy's origin is nginx (sendfile) on CPU 1, not counted. "
                     "`copy` is pier's buffered path (pread/read into a 64 KiB per-thread buffer, then write), "
                     "what TLS without kernel TLS does.")
    if "wan_sndbuf" in names:
        notes.append("wan_sndbuf: pier's file_server in one network namespace, curl in another, the path between "
                     "them emulated (see the scenario's details); `auto` leaves SO_SNDBUF to the kernel's "
                     "autotuning (net.ipv4.tcp_wmem), the others set it (which turns autotuning off; the "
                     "kernel doubles the value and clamps it to net.core.wmem_max). The client's receive "
                     "buffer is autotuned. Throughput over the run's seconds.")
    notes.append("This VM's two vCPUs are shared with other tenants and, in this project, with other "
                 "engineers' builds: throughput and tail latency swing from run to run (see the *other CPU* "
                 "and *steal* columns); work per server CPU-second is the figure to compare.")
    return notes


if __name__ == "__main__":
    sys.exit(main())
