#!/usr/bin/python3
# tests/peers/socks5_curl.py: the socks5_proxy example against curl (--socks5 and
# --socks5-hostname), with a Python HTTP origin in this process: large bodies byte-exact in
# both directions (download and upload), IPv4, IPv6 and domain-name targets, with and without
# RFC 1929 authentication (wrong and missing credentials refused), by splice and by copying;
# RFC 1928 reply codes for refused requests (BIND, UDP ASSOCIATE, unknown address types,
# malformed greetings, the allow-list, the proxy's own address, refused and unreachable
# targets, a connect timeout); the connection limit and the idle deadline; clients that read
# slowly or leave mid-stream while the proxy's memory stays flat; and the relay counts it
# prints on exit.
#
# Needs PIER_EXAMPLES_DIR. Exit 0 = pass, 77 = skipped, else failure.
#
# pier-test: timeout=300
import hashlib
import http.server
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
import examples  # noqa: E402  (tests/peers/support/examples.py)

examples.binary("socks5_proxy")
if not shutil.which("curl"):
    print("skip: curl not installed (tools/setup.sh)")
    sys.exit(77)

check = examples.checks()
sha = examples.sha


# --- the origin: GET /big, PUT /upload (answers the body's SHA-256 and length) -------------

BIG = b"".join(i.to_bytes(4, "big") + os.urandom(1 << 20)[4:] for i in range(40))  # 40 MiB
BIG_SHA = sha(BIG)


class Origin(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        body = BIG if self.path == "/big" else b"small\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except OSError:
            pass  # a client that left mid-body

    def do_PUT(self):
        n = int(self.headers.get("Content-Length", "0"))
        h = hashlib.sha256()
        left = n
        while left > 0:
            d = self.rfile.read(min(left, 1 << 20))
            if not d:
                break
            h.update(d)
            left -= len(d)
        body = f"{h.hexdigest()} {n - left}\n".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_PUT


class Origin6(http.server.ThreadingHTTPServer):
    address_family = socket.AF_INET6


origin = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Origin)
origin.daemon_threads = True
threading.Thread(target=origin.serve_forever, daemon=True).start()
O = origin.server_address[1]
origin6 = None
try:
    origin6 = Origin6(("::1", 0), Origin)
    origin6.daemon_threads = True
    threading.Thread(target=origin6.serve_forever, daemon=True).start()
except OSError:
    print("# no IPv6 loopback: the IPv6 target is not tested")


def start(*args):
    p = examples.example("socks5_proxy", *args)
    return p, p.port


def stop(p):
    return p.stop("relayed")


def curl(*args):
    return subprocess.run(["curl", "-sS", "--max-time", "60", *args], capture_output=True,
                          timeout=90)


def socks(port, *frames, read=2):
    """Sends raw frames one after another, reading `read` bytes after each; returns all read
    and whether the proxy closed afterwards."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    got = b""
    try:
        for f, n in frames:
            s.sendall(f)
            want = len(got) + n
            while len(got) < want:
                d = s.recv(want - len(got))
                if not d:
                    return got, True
                got += d
        closed = s.recv(1) == b""
    except OSError:
        closed = True
    finally:
        s.close()
    return got, closed


def connect_request(atyp, addr, port, cmd=1):
    return b"\x05" + bytes([cmd]) + b"\x00" + bytes([atyp]) + addr + struct.pack("!H", port)


def v4(a):
    return socket.inet_aton(a)


work = tempfile.mkdtemp(prefix="socks5.", dir=os.environ.get("PIER_TEST_TMPDIR"))
try:
    upload = os.path.join(work, "upload.bin")
    up_data = b"".join(i.to_bytes(4, "big") + os.urandom(1 << 20)[4:] for i in range(32))
    with open(upload, "wb") as f:
        f.write(up_data)

    # --- no authentication ---------------------------------------------------------------------
    p, P = start()
    print(f"# proxy on {P}, origin on {O}")
    r = curl("--socks5", f"127.0.0.1:{P}", f"http://127.0.0.1:{O}/big")
    check("curl --socks5, IPv4 target: 40 MiB byte-exact", r.returncode == 0 and sha(r.stdout) == BIG_SHA,
          f"rc={r.returncode} {r.stderr[-200:]}")
    r = curl("--socks5-hostname", f"127.0.0.1:{P}", f"http://localhost:{O}/big")
    check("curl --socks5-hostname, a name resolved by the proxy: byte-exact",
          r.returncode == 0 and sha(r.stdout) == BIG_SHA, r.stderr[-200:])
    if origin6:
        r = curl("--socks5", f"127.0.0.1:{P}", f"http://[::1]:{origin6.server_address[1]}/big")
        check("IPv6 target: byte-exact", r.returncode == 0 and sha(r.stdout) == BIG_SHA, r.stderr[-200:])
    r = curl("--socks5-hostname", f"127.0.0.1:{P}", "-H", "Expect:", "-T", upload,
             f"http://localhost:{O}/upload")
    check("upload through the proxy: 32 MiB byte-exact",
          r.stdout.decode().strip() == f"{sha(up_data)} {len(up_data)}", r.stdout[:200])
    r = curl("-v", "--socks5", f"127.0.0.1:{P}", "-o", "/dev/null", "-o", "/dev/null",
             f"http://127.0.0.1:{O}/small", f"http://127.0.0.1:{O}/big")
    check("keep-alive through the proxy", r.returncode == 0 and
          (b"Re-using existing connection" in r.stderr or b"Reusing existing connection" in r.stderr))

    # --- refusals with RFC 1928's reply codes --------------------------------------------------
    got, closed = socks(P, (b"\x04\x01\x00\x50" + v4("127.0.0.1") + b"\x00", 2))
    check("SOCKS4 greeting: X'FF', closed", got == b"\x05\xff" and closed, got)
    got, closed = socks(P, (b"\x05\x00", 2))
    check("no methods: X'FF', closed", got == b"\x05\xff" and closed, got)
    got, closed = socks(P, (b"\x05\x01\x02", 2))
    check("only user/pass offered to a no-auth proxy: X'FF'", got == b"\x05\xff" and closed, got)
    hello = (b"\x05\x01\x00", 2)
    got, closed = socks(P, hello, (connect_request(1, v4("127.0.0.1"), O, cmd=2), 10))
    check("BIND: X'07', closed", got[2:4] == b"\x05\x07" and closed, got)
    got, closed = socks(P, hello, (connect_request(1, v4("127.0.0.1"), O, cmd=3), 10))
    check("UDP ASSOCIATE: X'07', closed", got[2:4] == b"\x05\x07" and closed, got)
    got, closed = socks(P, hello, (b"\x05\x01\x00\x02\x01\x02\x03\x04\x00\x50", 10))
    check("unknown address type: X'08', closed", got[2:4] == b"\x05\x08" and closed, got)
    got, closed = socks(P, hello, (b"\x05\x01\x01\x01" + v4("127.0.0.1") + b"\x00\x50", 10))
    check("RSV not 0: X'01', closed", got[2:4] == b"\x05\x01" and closed, got)
    got, closed = socks(P, hello, (connect_request(1, v4("127.0.0.1"), P), 10))
    check("the proxy's own address: X'02' (not allowed)", got[2:4] == b"\x05\x02" and closed, got)
    free = socket.socket()
    free.bind(("127.0.0.1", 0))
    closed_port = free.getsockname()[1]
    free.close()
    got, closed = socks(P, hello, (connect_request(1, v4("127.0.0.1"), closed_port), 10))
    check("a refused target: X'05'", got[2:4] == b"\x05\x05" and closed, got)
    got, closed = socks(P, hello, (connect_request(3, bytes([19]) + b"no-such-host.invalid", 80), 10))
    check("an unknown name: X'04'", got[2:4] == b"\x05\x04" and closed, got)
    r = curl("--socks5", f"127.0.0.1:{P}", f"http://127.0.0.1:{O}/big", "-o", "/dev/null")
    check("the proxy still relays after refusals", r.returncode == 0)

    # --- slow readers and clients leaving mid-stream: memory stays flat ------------------------
    def memory_check(p, P, label, auth=()):
        base = p.rss()
        slow = [subprocess.Popen(["curl", "-s", "-o", "/dev/null", "--limit-rate", "2M",
                                  "--max-time", "2", "--socks5", f"127.0.0.1:{P}", *auth,
                                  f"http://127.0.0.1:{O}/big"]) for _ in range(12)]
        peak = base
        while any(s.poll() is None for s in slow):
            peak = max(peak, p.rss())
            time.sleep(0.05)
        for _ in range(24):
            s = socket.create_connection(("127.0.0.1", P), timeout=10)
            s.sendall(b"\x05\x01\x00")
            s.recv(2)
            s.sendall(connect_request(1, v4("127.0.0.1"), O))
            s.recv(10)
            s.sendall(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
            got = 0
            while got < 65536:
                d = s.recv(65536)
                if not d:
                    break
                got += len(d)
            s.close()  # with unread data: RST
        r = curl("--socks5", f"127.0.0.1:{P}", *auth, f"http://127.0.0.1:{O}/big")
        check(f"{label}: still relaying byte-exact afterwards", sha(r.stdout) == BIG_SHA)
        after = p.rss()
        check(f"{label}: 12 slow readers: memory flat (+{(peak - base) >> 10} KiB)", peak - base < examples.memory_bound(24 << 20))
        check(f"{label}: 36 clients left mid-stream: no growth (+{(after - base) >> 10} KiB)",
              after - base < examples.memory_bound(24 << 20))

    memory_check(p, P, "splice")
    code, counts = stop(p)
    check("SIGTERM: exit 0", code == 0, f"exit {code}")
    check("the relays went by splice, nothing copied",
          counts.get("splice", 0) >= 3 * len(BIG) and counts.get("copied", 1) == 0, str(counts))

    # --- authentication (RFC 1929) --------------------------------------------------------------
    p, P = start("--users", "alice:secret,bob:pw2")
    r = curl("--socks5", f"alice:secret@127.0.0.1:{P}", f"http://127.0.0.1:{O}/big")
    check("user/pass alice: byte-exact", r.returncode == 0 and sha(r.stdout) == BIG_SHA, r.stderr[-200:])
    r = curl("--socks5-hostname", f"bob:pw2@127.0.0.1:{P}", "-H", "Expect:", "-T", upload,
             f"http://localhost:{O}/upload")
    check("user/pass bob, upload byte-exact", r.stdout.decode().strip() == f"{sha(up_data)} {len(up_data)}")
    r = curl("--socks5", f"alice:wrong@127.0.0.1:{P}", f"http://127.0.0.1:{O}/small")
    check("a wrong password is refused", r.returncode != 0 and r.stdout == b"")
    r = curl("--socks5", f"127.0.0.1:{P}", f"http://127.0.0.1:{O}/small")
    check("no credentials: refused", r.returncode != 0 and r.stdout == b"")
    got, closed = socks(P, (b"\x05\x01\x02", 2), (b"\x01\x05alice\x05wrong", 2))
    check("RFC 1929 failure status, then closed", got == b"\x05\x02\x01\x01" and closed, got)
    got, closed = socks(P, (b"\x05\x01\x02", 2), (b"\x02\x05alice\x06secret", 2))
    check("RFC 1929 with a bad version: failure, closed", got[:2] == b"\x05\x02" and got[2:3] == b"\x01" and closed, got)
    stop(p)

    # --- the buffered path ------------------------------------------------------------------------
    p, P = start("--relays", "copy")
    r = curl("--socks5-hostname", f"127.0.0.1:{P}", f"http://localhost:{O}/big")
    check("--relays copy: download byte-exact", r.returncode == 0 and sha(r.stdout) == BIG_SHA)
    r = curl("--socks5-hostname", f"127.0.0.1:{P}", "-H", "Expect:", "-T", upload,
             f"http://localhost:{O}/upload")
    check("--relays copy: upload byte-exact", r.stdout.decode().strip() == f"{sha(up_data)} {len(up_data)}")
    memory_check(p, P, "copy")
    code, counts = stop(p)
    check("--relays copy: the bytes were copied, none spliced",
          counts.get("copied", 0) >= 2 * len(BIG) and counts.get("splice", 1) == 0, str(counts))

    # --- allow-list, connect timeout, limits --------------------------------------------------
    p, P = start("--allow", "10.0.0.0/8,::1/128")
    got, closed = socks(P, hello, (connect_request(1, v4("127.0.0.1"), O), 10))
    check("--allow without 127.0.0.0/8: X'02'", got[2:4] == b"\x05\x02" and closed, got)
    if origin6:
        r = curl("--socks5", f"127.0.0.1:{P}", f"http://[::1]:{origin6.server_address[1]}/small")
        check("--allow ::1/128: the IPv6 origin is allowed", r.stdout == b"small\n")
    stop(p)

    # A listener whose accept queue is full drops further SYNs: a connect that can only time out.
    full = socket.socket()
    full.bind(("127.0.0.1", 0))
    full.listen(0)
    stuffing = []
    for _ in range(3):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(full.getsockname())
        stuffing.append(s)
    p, P = start("--connect-timeout-ms", "500", "--max-connections", "3", "--idle-timeout-ms", "1000")
    t0 = time.monotonic()
    got, closed = socks(P, hello, (connect_request(1, v4("127.0.0.1"), full.getsockname()[1]), 10))
    elapsed = time.monotonic() - t0
    check(f"connect timeout: X'04' after ~0.5 s ({elapsed:.2f} s)",
          got[2:4] == b"\x05\x04" and 0.4 < elapsed < 5, got)
    for s in stuffing:
        s.close()
    full.close()
    # The idle deadline: a client that says nothing is closed.
    s = socket.create_connection(("127.0.0.1", P), timeout=10)
    t0 = time.monotonic()
    end = s.recv(1)
    check(f"an idle client is closed ({time.monotonic() - t0:.2f} s)", end == b"" and time.monotonic() - t0 < 8)
    s.close()
    # The connection limit: three held, the fourth closed at once.
    held = []
    for _ in range(3):
        s = socket.create_connection(("127.0.0.1", P), timeout=10)
        s.sendall(b"\x05\x01\x00")
        s.recv(2)
        held.append(s)
    s = socket.create_connection(("127.0.0.1", P), timeout=10)
    s.sendall(b"\x05\x01\x00")
    try:
        extra = s.recv(2)
    except ConnectionResetError:
        extra = b""
    check("--max-connections 3: a fourth is closed", extra == b"")
    s.close()
    for s in held:
        s.close()
    stop(p)
finally:
    examples.kill_all()
    origin.shutdown()
    if origin6:
        origin6.shutdown()
    shutil.rmtree(work, ignore_errors=True)

sys.exit(check.status())
