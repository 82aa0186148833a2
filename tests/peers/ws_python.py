#!/usr/bin/python3
# tests/peers/ws_python.py: the ws_echo example against Python's `websockets` (Debian
# python3-websockets, a client no one here wrote), and against hand-made frames that
# reproduce Autobahn's case categories (1–13) as far as a script can: echo of text and binary
# at 7/16/64-bit lengths, fragmentation, control frames interleaved with fragments, ping/pong,
# the close handshake and every close code pier fails a connection with (1002, 1007, 1009),
# UTF-8 checked across fragments with invalid sequences split at every byte, and
# permessage-deflate (negotiated by websockets, with context takeover, and hand-compressed
# frames with no context takeover and small windows).
#
# Needs PIER_EXAMPLES_DIR. Exit 0 = pass, 77 = skipped, else failure.
#
# pier-test: timeout=180
import asyncio
import base64
import os
import re
import socket
import struct
import subprocess
import sys
import time
import zlib

examples = os.environ.get("PIER_EXAMPLES_DIR", "")
server_bin = os.path.join(examples, "ws_echo")
if not examples or not os.access(server_bin, os.X_OK):
    print(f"skip: {server_bin} not built")
    sys.exit(77)
try:
    import websockets
    from websockets.exceptions import ConnectionClosed
except ImportError:
    print("skip: python3-websockets not installed (tools/setup.sh)")
    sys.exit(77)

MAX_MESSAGE = 256 * 1024
failures = 0


def check(what, cond, detail=""):
    global failures
    if cond:
        print(f"ok   - {what}")
    else:
        failures += 1
        print(f"FAIL - {what} {detail}")


def start_server(*args):
    p = subprocess.Popen([server_bin, "--port", "0", "--threads", "2", *args],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    m = re.match(r"^pier: listening on .*:(\d+)$", line.strip())
    if not m:
        p.kill()
        print("FAIL - server did not start:", line, p.stderr.read())
        sys.exit(1)
    return p, int(m.group(1))


# --- a raw client: exact frames, byte by byte if need be ------------------------------------

class Raw:
    def __init__(self, port, extensions=None, extra=b""):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=5)
        key = base64.b64encode(os.urandom(16))
        req = (b"GET /raw HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
               b"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " + key +
               b"\r\n")
        if extensions:
            req += b"Sec-WebSocket-Extensions: " + extensions.encode() + b"\r\n"
        self.s.sendall(req + extra + b"\r\n")
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            d = self.s.recv(4096)
            if not d:
                raise RuntimeError("handshake: connection closed")
            self.buf += d
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        self.head = head.decode()
        assert self.head.startswith("HTTP/1.1 101"), self.head

    def frame(self, op, payload=b"", fin=True, rsv1=False, rsv2=False, mask=True, length=None):
        b0 = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | (0x20 if rsv2 else 0) | op
        n = len(payload) if length is None else length
        if n < 126:
            h = struct.pack("!BB", b0, (0x80 if mask else 0) | n)
        elif n < 65536:
            h = struct.pack("!BBH", b0, (0x80 if mask else 0) | 126, n)
        else:
            h = struct.pack("!BBQ", b0, (0x80 if mask else 0) | 127, n)
        if not mask:
            return h + payload
        key = os.urandom(4)
        return h + key + bytes(c ^ key[i % 4] for i, c in enumerate(payload))

    def send(self, op, payload=b"", **kw):
        self.s.sendall(self.frame(op, payload, **kw))

    def send_slowly(self, data):
        for i in range(len(data)):
            self.s.sendall(data[i:i + 1])
            time.sleep(0.001)

    def _need(self, n):
        while len(self.buf) < n:
            d = self.s.recv(65536)
            if not d:
                raise EOFError
            self.buf += d

    def recv(self):
        """(opcode, payload, rsv1) of the next frame; EOFError at the end of the stream."""
        self._need(2)
        b0, b1 = self.buf[0], self.buf[1]
        assert not (b1 & 0x80), "server frames must not be masked"
        n, off = b1 & 0x7F, 2
        if n == 126:
            self._need(4)
            n, off = struct.unpack("!H", self.buf[2:4])[0], 4
        elif n == 127:
            self._need(10)
            n, off = struct.unpack("!Q", self.buf[2:10])[0], 10
        self._need(off + n)
        payload, self.buf = self.buf[off:off + n], self.buf[off + n:]
        return b0 & 0x0F, payload, bool(b0 & 0x40)

    def close_code(self):
        """Reads until a Close frame; its code (1005 if empty), or None if none came."""
        try:
            while True:
                op, p, _ = self.recv()
                if op == 8:
                    return struct.unpack("!H", p[:2])[0] if len(p) >= 2 else 1005
        except (EOFError, ConnectionError, socket.timeout):
            return None

    def eof(self):
        """True when the server closed the TCP connection (after its Close frame)."""
        try:
            while True:
                d = self.s.recv(65536)
                if not d:
                    return True
        except ConnectionError:
            return True
        except socket.timeout:
            return False

    def close(self):
        self.s.close()


TEXT, BINARY, CONT, CLOSE, PING, PONG = 1, 2, 0, 8, 9, 10


def expect_close(port, what, code, send, **kw):
    r = Raw(port, **kw)
    try:
        send(r)
        got = r.close_code()
        check(f"{what} -> close {code}", got == code, f"(got {got})")
        check(f"{what}: server closes the TCP connection", r.eof())
    finally:
        r.close()


def raw_tests(port):
    # Echo at each length encoding (Autobahn 1.1/1.2), and a frame sent one byte at a time.
    r = Raw(port)
    for n in (0, 125, 126, 65535, 65536, 200000):
        r.send(BINARY, os.urandom(1)[0:1] * n)
        op, p, _ = r.recv()
        check(f"binary echo, {n} bytes", op == BINARY and len(p) == n)
    r.send_slowly(r.frame(TEXT, "hé, slowly".encode()))
    op, p, _ = r.recv()
    check("a frame delivered byte by byte", op == TEXT and p == "hé, slowly".encode())
    # Fragmentation (Autobahn 5.x) with control frames in between (5.6–5.20).
    r.send(TEXT, b"frag-", fin=False)
    r.send(PING, b"in-between")
    r.send(CONT, b"ment", fin=False)
    r.send(PONG, b"unsolicited")
    r.send(CONT, b"ed", fin=True)
    op, p, _ = r.recv()
    check("ping inside a fragmented message is answered first", op == PONG and p == b"in-between")
    op, p, _ = r.recv()
    check("fragmented message with interleaved controls", op == TEXT and p == b"frag-mented")
    # Empty fragments (5.x) and a 125-byte ping (2.x).
    r.send(BINARY, b"", fin=False)
    r.send(CONT, b"", fin=False)
    r.send(CONT, b"", fin=True)
    op, p, _ = r.recv()
    check("message of empty fragments", op == BINARY and p == b"")
    r.send(PING, b"p" * 125)
    op, p, _ = r.recv()
    check("125-byte ping answered with the same payload", op == PONG and p == b"p" * 125)
    # Valid UTF-8 split inside code points across fragments (6.x).
    s = "κόσμε 𝄞 €".encode()
    for cut in range(1, len(s)):
        r.send(TEXT, s[:cut], fin=False)
        r.send(CONT, s[cut:])
        op, p, _ = r.recv()
        if not (op == TEXT and p == s):
            check(f"valid UTF-8 split at byte {cut}", False)
            break
    else:
        check("valid UTF-8 split at every byte across fragments", True)
    # Close handshake (7.x): the code is echoed, then the server closes TCP.
    r.send(CLOSE, struct.pack("!H", 1000) + b"bye")
    op, p, _ = r.recv()
    check("close 1000 echoed", op == CLOSE and p[:2] == struct.pack("!H", 1000))
    check("server closes TCP after the close handshake", r.eof())
    r.close()

    r = Raw(port)
    r.send(CLOSE, b"")
    op, p, _ = r.recv()
    check("empty close answered with an empty close", op == CLOSE and p == b"")
    r.close()
    for code in (1000, 1001, 1003, 1007, 1011, 1014, 3000, 3999, 4000, 4999):
        r = Raw(port)
        r.send(CLOSE, struct.pack("!H", code))
        got = r.close_code()
        r.close()
        if got != code:
            check(f"valid close code {code} echoed", False, f"(got {got})")
            break
    else:
        check("valid close codes echoed (1000-1003, 1007-1014, 3000-4999)", True)

    # Protocol errors (Autobahn 2.x, 3.x, 4.x, 5.x, 7.x): 1002.
    expect_close(port, "unmasked client frame", 1002, lambda r: r.send(TEXT, b"x", mask=False))
    expect_close(port, "RSV2 set", 1002, lambda r: r.send(TEXT, b"x", rsv2=True))
    expect_close(port, "RSV1 without deflate", 1002, lambda r: r.send(TEXT, b"x", rsv1=True))
    for op in (3, 4, 5, 6, 7, 11, 12, 13, 14, 15):
        expect_close(port, f"reserved opcode {op}", 1002, lambda r, op=op: r.send(op, b""))
    expect_close(port, "fragmented ping", 1002, lambda r: r.send(PING, b"x", fin=False))
    expect_close(port, "ping payload of 126 bytes", 1002, lambda r: r.send(PING, b"x" * 126))
    expect_close(port, "continuation with no message", 1002, lambda r: r.send(CONT, b"x"))
    expect_close(port, "new message inside a fragmented one", 1002,
                 lambda r: (r.send(TEXT, b"a", fin=False), r.send(TEXT, b"b")))
    expect_close(port, "close with a 1-byte payload", 1002, lambda r: r.send(CLOSE, b"\x03"))
    for code in (0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535):
        expect_close(port, f"close code {code}", 1002,
                     lambda r, code=code: r.send(CLOSE, struct.pack("!H", code)))
    expect_close(port, "ping after a protocol error is not answered", 1002,
                 lambda r: r.s.sendall(r.frame(TEXT, b"x", mask=False) + r.frame(PING, b"p")))
    # Invalid UTF-8 (6.x): 1007, also when the bad sequence is split across fragments.
    expect_close(port, "text that is not UTF-8", 1007, lambda r: r.send(TEXT, b"\xce\xba\xe1\xbd"))
    expect_close(port, "close reason that is not UTF-8", 1007,
                 lambda r: r.send(CLOSE, struct.pack("!H", 1000) + b"\xff"))
    bad = "κόσμε".encode() + b"\xed\xa0\x80" + b"edited"  # a surrogate
    for cut in range(1, len(bad)):
        r = Raw(port)
        r.send(TEXT, bad[:cut], fin=False)
        r.send(CONT, bad[cut:])
        got = r.close_code()
        r.close()
        if got != 1007:
            check(f"invalid UTF-8 split at byte {cut}", False, f"(got {got})")
            break
    else:
        check("invalid UTF-8 split at every byte across fragments -> 1007", True)
    for seq in (b"\xc0\xaf", b"\xe0\x80\xaf", b"\xf4\x90\x80\x80", b"\xf8\x88\x80\x80\x80",
                b"\xfe", b"\x80", b"\xc2"):
        r = Raw(port)
        r.send(TEXT, b"ok" + seq)
        got = r.close_code()
        r.close()
        if got != 1007:
            check(f"invalid UTF-8 {seq!r}", False, f"(got {got})")
            break
    else:
        check("overlong, out-of-range, lone continuation and truncated UTF-8 -> 1007", True)
    # Limits (Autobahn 9.x sizes go beyond our configured limit on purpose): 1009.
    expect_close(port, "frame over the limit (refused at its header)", 1009,
                 lambda r: r.s.sendall(r.frame(BINARY, b"", length=MAX_MESSAGE + 1)[:10]))
    expect_close(port, "message over the limit in fragments", 1009,
                 lambda r: (r.send(BINARY, b"x" * (MAX_MESSAGE // 2), fin=False),
                            r.send(CONT, b"x" * (MAX_MESSAGE // 2), fin=False),
                            r.send(CONT, b"x")))


# --- permessage-deflate by hand (Autobahn 12.x/13.x parameters) -----------------------------

def deflate_raw_tests(port):
    for offer, wbits in (("permessage-deflate; client_max_window_bits", 12),
                         ("permessage-deflate; client_no_context_takeover; "
                          "server_no_context_takeover; client_max_window_bits=9", 9),
                         ("permessage-deflate; server_max_window_bits=9; client_max_window_bits=15",
                          15)):
        r = Raw(port, extensions=offer)
        ext = re.search(r"(?im)^sec-websocket-extensions: (.*)$", r.head)
        check(f"deflate accepted for offer '{offer}'", ext is not None, r.head)
        if not ext:
            r.close()
            continue
        resp = ext.group(1)
        server_bits = int(m.group(1)) if (m := re.search(r"server_max_window_bits=(\d+)", resp)) else 15
        server_takeover = "server_no_context_takeover" not in resp
        inflater = zlib.decompressobj(-max(server_bits, 9))
        comp = zlib.compressobj(6, zlib.DEFLATED, -max(wbits, 9))
        ok = True
        for i in range(5):
            msg = ("hello compressed world %d " % i * 40).encode()
            if "client_no_context_takeover" in offer:
                comp = zlib.compressobj(6, zlib.DEFLATED, -max(wbits, 9))
            data = comp.compress(msg) + comp.flush(zlib.Z_SYNC_FLUSH)
            assert data.endswith(b"\x00\x00\xff\xff")
            # Split over two frames to exercise compressed continuation frames.
            half = len(data[:-4]) // 2
            r.send(TEXT, data[:half], fin=False, rsv1=True)
            r.send(CONT, data[half:-4])
            op, p, rsv1 = r.recv()
            if not server_takeover:
                inflater = zlib.decompressobj(-max(server_bits, 9))
            out = inflater.decompress(p + b"\x00\x00\xff\xff") if rsv1 else p
            ok = ok and op == TEXT and out == msg and rsv1
        check(f"compressed echo x5 with '{resp}'", ok)
        r.close()
    expect_close(port, "corrupt deflate data", 1007,
                 lambda r: r.send(BINARY, b"\xff\xff\xff\xff\xff", rsv1=True),
                 extensions="permessage-deflate")
    expect_close(port, "RSV1 on a continuation frame", 1002,
                 lambda r: (r.send(TEXT, b"", fin=False), r.send(CONT, b"x", rsv1=True)),
                 extensions="permessage-deflate")


# --- HTTP on the WebSocket port ----------------------------------------------------------------

def http_tests(port):
    def ask(req):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(req)
        out = b""
        try:
            while True:
                d = s.recv(4096)
                if not d:
                    break
                out += d
        except socket.timeout:
            pass
        s.close()
        return out.decode(errors="replace")

    # One port serves a page and the WebSocket: ws_echo's on_http answers GET / with its test
    # page; any other plain request is told to upgrade.
    r = ask(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    check("plain GET / -> 200 page from on_http", r.startswith("HTTP/1.1 200"), r[:80])
    r = ask(b"GET /elsewhere HTTP/1.1\r\nHost: x\r\n\r\n")
    check("plain GET /elsewhere -> 426 Upgrade Required", r.startswith("HTTP/1.1 426"), r[:80])
    r = ask(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Version: 8\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
    check("version 8 -> 426 with Sec-WebSocket-Version: 13",
          r.startswith("HTTP/1.1 426") and "Sec-WebSocket-Version: 13" in r, r[:200])
    r = ask(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: short\r\n\r\n")
    check("bad key -> 400", r.startswith("HTTP/1.1 400"), r[:80])
    r = ask(b"GET / HTTP/1.1\r\nHost: x\r\nBad Header: x\r\n\r\n")
    check("malformed request -> 400", r.startswith("HTTP/1.1 400"), r[:80])
    r = ask(b"GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
    check("upgrade without Host -> 400", r.startswith("HTTP/1.1 400"), r[:80])


# --- the websockets library as the peer --------------------------------------------------------

async def library_tests(port):
    url = f"ws://127.0.0.1:{port}/lib?x=1"
    async with websockets.connect(url, compression=None, max_size=None) as ws:
        await ws.send("hello")
        check("websockets: text echo", await ws.recv() == "hello")
        await ws.send(b"\x00\xffbin")
        check("websockets: binary echo", await ws.recv() == b"\x00\xffbin")
        big = os.urandom(MAX_MESSAGE)
        await ws.send(big)
        check("websockets: 256 KiB binary echo", await ws.recv() == big)
        await ws.send(["frag", "ment", "ed ✓"])
        check("websockets: fragmented text echo", await ws.recv() == "fragmented ✓")
        pong = await ws.ping(b"are you there")
        await asyncio.wait_for(pong, 5)
        check("websockets: ping answered", True)
    check("websockets: clean close 1000", ws.close_code == 1000, f"(got {ws.close_code})")

    async with websockets.connect(url, compression="deflate", max_size=None) as ws:
        ext = ws.response_headers.get("Sec-WebSocket-Extensions", "")
        check("websockets: permessage-deflate negotiated", "permessage-deflate" in ext, ext)
        ok = True
        for i in range(20):
            msg = '{"seq": %d, "payload": "%s"}' % (i, "abc" * (i * 50))
            await ws.send(msg)
            ok = ok and await ws.recv() == msg
        check("websockets: 20 compressed messages echoed (context takeover)", ok)
        big = "lorem ipsum dolor " * 10000
        await ws.send(big)
        check("websockets: 180 kB compressed text echoed", await ws.recv() == big)

    try:
        async with websockets.connect(url, compression=None, max_size=None) as ws:
            await ws.send(b"x" * (MAX_MESSAGE + 1))
            await asyncio.wait_for(ws.recv(), 5)
        check("websockets: oversized message refused", False)
    except ConnectionClosed as e:
        code = e.rcvd.code if e.rcvd else None
        check("websockets: oversized message -> 1009", code == 1009, f"(got {code})")

    # Many concurrent clients (bounded).
    async def one(i):
        async with websockets.connect(url, compression=None) as ws:
            for j in range(10):
                await ws.send(f"{i}:{j}")
                if await ws.recv() != f"{i}:{j}":
                    return False
        return True
    results = await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(50))), 60)
    check("websockets: 50 concurrent clients x 10 messages", all(results))


async def wss_tests(port, cafile):
    import ssl
    ctx = ssl.create_default_context(cafile=cafile)
    async with websockets.connect(f"wss://localhost:{port}/tls", ssl=ctx,
                                  compression="deflate") as ws:
        ext = ws.response_headers.get("Sec-WebSocket-Extensions", "")
        check("wss: permessage-deflate negotiated over TLS", "permessage-deflate" in ext, ext)
        await ws.send("over tls " * 100)
        check("wss: compressed text echo", await ws.recv() == "over tls " * 100)
        big = os.urandom(100000)
        await ws.send(big)
        check("wss: 100 kB binary echo", await ws.recv() == big)
        await ws.send(["a", "b", "c"])
        check("wss: fragmented echo", await ws.recv() == "abc")
        await asyncio.wait_for(await ws.ping(b"tls"), 5)
        check("wss: ping answered", True)
    check("wss: clean close 1000", ws.close_code == 1000, f"(got {ws.close_code})")


def wss_main():
    source = os.environ.get("PIER_SOURCE_DIR",
                            os.path.join(os.path.dirname(os.path.abspath(__file__)), "../.."))
    work = os.environ.get("PIER_TEST_TMPDIR") or "/tmp"
    import tempfile
    d = tempfile.mkdtemp(prefix="ws_python.", dir=work)
    cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
    if subprocess.run([os.path.join(source, "tools/make-cert.sh"), "--cert", cert, "--key", key,
                       "localhost", "127.0.0.1"], capture_output=True).returncode != 0:
        check("make-cert.sh for the wss test", False)
        return
    server, port = start_server("--cert", cert, "--key", key)
    try:
        print(f"# ws_echo over TLS on port {port}")
        asyncio.run(wss_tests(port, cert))
    except Exception as e:
        import traceback
        traceback.print_exc()
        check(f"wss: no exception ({e!r})", False)
    finally:
        server.terminate()
        try:
            rc = server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
            rc = None
        check("wss: server exits 0 on SIGTERM", rc == 0, f"(rc {rc})")


def main():
    wss_main()
    server, port = start_server("--max-message", str(MAX_MESSAGE))
    try:
        print(f"# ws_echo on port {port}, websockets {websockets.__version__}")
        asyncio.run(library_tests(port))
        raw_tests(port)
        deflate_raw_tests(port)
        http_tests(port)
        check("server still running", server.poll() is None)
    except Exception as e:  # any unexpected failure is a test failure, reported with its cause
        import traceback
        traceback.print_exc()
        check(f"no exception ({e!r})", False)
    finally:
        server.terminate()
        try:
            rc = server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
            rc = None
        err = server.stderr.read()
        check("server exits 0 on SIGTERM", rc == 0, f"(rc {rc}) {err[-2000:]}")
    print(f"# {failures} failure(s)")
    sys.exit(1 if failures else 0)


main()
