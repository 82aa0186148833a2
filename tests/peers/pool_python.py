#!/usr/bin/python3
# tests/peers/pool_python.py: the ws_pool example (pier::ws::pool) against Python's
# `websockets` (Debian python3-websockets), with tokens made here from the standard library
# (hmac, hashlib): every documented answer of the pool's protocol.
#
#   - the welcome (first message, connection id, user id = the token's sub, topics from
#     ?topics=), the token from the query, from Authorization: Bearer and from a bearer.<token>
#     subprotocol (answered with pier.v1, never with the token);
#   - 401 for a missing, malformed, tampered, expired and wrong-key token; 404 elsewhere;
#   - subscribe/unsubscribe acknowledged with their own type and topic, ping answered with
#     pong, data routed to the topic's other subscribers only (the sender and non-subscribers
#     get nothing), not_subscribed for data to a topic not joined;
#   - topic_full over --max-per-topic (the connection stays open);
#   - 503 for each connection limit: --max-connections, --max-per-user, --max-per-ip (from
#     127.0.0.2, a bound source address), --connect-rate-per-ip;
#   - bad JSON and unknown types answered with error envelopes, the 10th error closing with
#     4002, an oversized message closing with 1009, --message-rate answered rate_limited;
#   - a token expiring while connected (4001), a client that stops answering (4003, from the
#     cleanup pass), heartbeat envelopes;
#   - bystander connections notice none of it (their next message is the answer to their
#     own ping);
#   - SIGTERM: every client gets 1001 "server shutting down" and the server exits 0;
#   - --cert/--key: the same pool over wss:// and https:// (welcome, data between clients, 401
#     for a missing token, /healthz), with a certificate from tools/make-cert.sh;
#   - --redis: two instances on one real redis-server (started and killed here): data sent on
#     one reaches the other's subscribers with a position, a send to a user reaches that user
#     on the other instance, and the admin stats count both instances' connections. Skipped,
#     and said so, where ws_pool was built without the backplane (the ASan tree).
#
# Needs PIER_EXAMPLES_DIR. Exit 0 = pass, 77 = skipped, else failure.
#
# pier-test: timeout=240
import asyncio
import base64
import hashlib
import hmac
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time

examples = os.environ.get("PIER_EXAMPLES_DIR", "")
server_bin = os.path.join(examples, "ws_pool")
if not examples or not os.access(server_bin, os.X_OK):
    print(f"skip: {server_bin} not built")
    sys.exit(77)
try:
    import websockets
    from websockets.exceptions import ConnectionClosed, InvalidStatusCode
except ImportError:
    print("skip: python3-websockets not installed (tools/setup.sh)")
    sys.exit(77)

SECRET = "pool-python-peer-test-secret-0123456789"
WAIT = 10  # seconds: the bound of every wait for an event
failures = 0
servers = []


def check(what, cond, detail=""):
    global failures
    if cond:
        print(f"ok   - {what}")
    else:
        failures += 1
        print(f"FAIL - {what} {detail}")


# --- tokens: HS256 JWTs (RFC 7519) from the standard library ----------------------------------

def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def sign(claims, key=SECRET, header=None):
    header = header or {"alg": "HS256", "typ": "JWT"}
    part = lambda o: b64url(json.dumps(o, separators=(",", ":")).encode())
    signing = part(header) + "." + part(claims)
    sig = hmac.new(key.encode(), signing.encode(), hashlib.sha256).digest()
    return signing + "." + b64url(sig)


def token(sub, exp_in=3600, meta=None, key=SECRET):
    claims = {"sub": sub, "exp": int(time.time()) + exp_in}
    if meta is not None:
        claims["meta"] = meta
    return sign(claims, key)


# --- the server -------------------------------------------------------------------------------

class Server:
    def __init__(self, *args, scheme="ws", host="127.0.0.1"):
        self.p = subprocess.Popen([server_bin, "--port", "0", "--threads", "2", "--secret", SECRET,
                                   *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True)
        line = self.p.stdout.readline()
        m = re.match(r"^pier: listening on .*:(\d+)$", line.strip())
        if not m:
            self.p.kill()
            self.p.wait()
            raise RuntimeError(f"ws_pool did not start: {line!r} {self.p.stderr.read()}")
        servers.append(self)
        self.port = int(m.group(1))
        self.rc = None
        self.scheme, self.host = scheme, host

    def url(self, query=""):
        return f"{self.scheme}://{self.host}:{self.port}/ws" + (f"?{query}" if query else "")

    def stop(self, signal_it=True):
        if signal_it and self.rc is None and self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
        try:
            self.rc = self.p.wait(15)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.rc = self.p.wait()
        return self.rc


def stop_all():
    for s in servers:
        if s.p.poll() is None:
            s.p.kill()
            s.p.wait()


# --- clients ----------------------------------------------------------------------------------

async def connect(url, **kw):
    kw.setdefault("compression", None)
    kw.setdefault("open_timeout", WAIT)
    kw.setdefault("close_timeout", 2)
    return await websockets.connect(url, **kw)


async def status_of(url, **kw):
    """101, or the HTTP status the handshake was refused with."""
    try:
        ws = await connect(url, **kw)
    except InvalidStatusCode as e:
        return e.status_code
    await ws.close()
    return 101


async def recv(ws, skip_heartbeats=True):
    """The next envelope (heartbeats skipped), or raises ConnectionClosed / TimeoutError."""
    while True:
        m = json.loads(await asyncio.wait_for(ws.recv(), WAIT))
        if not (skip_heartbeats and m.get("type") == "heartbeat"):
            return m


async def join(srv, user, topics=None, **kw):
    q = "token=" + token(user)
    if topics:
        q += "&topics=" + topics
    ws = await connect(srv.url(q), **kw)
    return ws, await recv(ws)


async def say(ws, env):
    await ws.send(json.dumps(env))


async def closed_with(ws):
    """(code, reason) of the server's close, reading whatever came before it."""
    try:
        while True:
            await asyncio.wait_for(ws.recv(), WAIT)
    except ConnectionClosed as e:
        return (e.rcvd.code, e.rcvd.reason) if e.rcvd else (None, None)
    except asyncio.TimeoutError:
        return ("timeout", None)


async def quiet_until_ping(ws, what):
    """Checks that nothing arrived for ws: its next message is the pong to its ping."""
    await say(ws, {"type": "ping"})
    m = await recv(ws)
    check(f"{what}: next message is its own pong", m.get("type") == "pong", f"(got {m})")


TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


# --- the protocol on one server ---------------------------------------------------------------

async def protocol_tests(srv):
    bystander, w = await join(srv, "bystander", "quiet")
    ws, w = await join(srv, "alice", "news,sport", extra_headers={})
    check("welcome is the first message", w.get("type") == "welcome", f"(got {w})")
    d = w.get("data", {})
    check("welcome: connection_id is 16 hex digits",
          re.fullmatch(r"[0-9a-f]{16}", str(d.get("connection_id"))) is not None, f"({d})")
    check("welcome: user_id is the token's sub", d.get("user_id") == "alice", f"({d})")
    check("welcome: topics from ?topics=", sorted(d.get("topics", [])) == ["news", "sport"], f"({d})")
    check("welcome: RFC 3339 timestamp", TS.match(str(w.get("timestamp"))) is not None, f"({w})")
    await ws.close()

    # Token sources.
    tok = token("carol", meta={"plan": "pro", "n": 1})
    ws = await connect(srv.url(), extra_headers={"Authorization": "Bearer " + tok})
    m = await recv(ws)
    check("token from Authorization: Bearer", m.get("type") == "welcome" and m["data"]["user_id"] == "carol")
    await ws.close()
    ws = await connect(srv.url(), subprotocols=["pier.v1", "bearer." + tok])
    m = await recv(ws)
    check("token from a bearer.<token> subprotocol",
          m.get("type") == "welcome" and m["data"]["user_id"] == "carol")
    check("the subprotocol answered is pier.v1, never the token", ws.subprotocol == "pier.v1",
          f"(got {ws.subprotocol!r})")
    await ws.close()
    ws = await connect(srv.url("token=" + tok))
    check("a token with a meta object is accepted", (await recv(ws)).get("type") == "welcome")
    await ws.close()

    # Refusals.
    good = token("dave")
    head, claims, sig = good.split(".")
    tampered = head + "." + b64url(json.dumps({"sub": "root", "exp": 9999999999}).encode()) + "." + sig
    rows = [
        ("missing token", srv.url(), 401),
        ("malformed token", srv.url("token=abc.def.ghi"), 401),
        ("tampered token", srv.url("token=" + tampered), 401),
        ("expired token", srv.url("token=" + token("dave", -120)), 401),
        ("token signed with another key", srv.url("token=" + token("dave", key="x" * 40)), 401),
        ("token with alg none", srv.url("token=" + sign({"sub": "x", "exp": 9999999999},
                                                        header={"alg": "none"})), 401),
        ("another path", f"ws://127.0.0.1:{srv.port}/elsewhere?token={good}", 404),
    ]
    for what, url, want in rows:
        got = await status_of(url)
        check(f"{what} -> HTTP {want}", got == want, f"(got {got})")

    # Subscribe, unsubscribe, ping.
    a, _ = await join(srv, "a", "room")
    b, _ = await join(srv, "b")
    c, _ = await join(srv, "c", "room")
    other, _ = await join(srv, "o", "other")
    await say(b, {"type": "subscribe", "topic": "room"})
    m = await recv(b)
    check("subscribe acknowledged with type and topic",
          m.get("type") == "subscribe" and m.get("topic") == "room", f"(got {m})")
    await say(b, {"type": "ping"})
    m = await recv(b)
    check("ping answered with pong", m.get("type") == "pong" and TS.match(str(m.get("timestamp"))),
          f"(got {m})")

    # Data: to the other subscribers, not back, not elsewhere.
    payload = {"n": 1, "text": "héllo", "list": [1, 2, 3]}
    await say(a, {"type": "data", "topic": "room", "data": payload})
    for name, peer in (("b", b), ("c", c)):
        m = await recv(peer)
        check(f"data reaches subscriber {name}",
              m.get("type") == "data" and m.get("topic") == "room" and m.get("data") == payload
              and TS.match(str(m.get("timestamp"))) is not None, f"(got {m})")
    await quiet_until_ping(a, "the sender excluded")
    await say(c, {"type": "data", "topic": "other", "data": "marker"})
    m = await recv(c)
    check("data to a topic not joined -> not_subscribed",
          m == {"type": "error", "topic": "other", "error": "not_subscribed",
                "timestamp": m.get("timestamp")}, f"(got {m})")
    await quiet_until_ping(other, "a subscriber of another topic")
    await say(b, {"type": "unsubscribe", "topic": "room"})
    m = await recv(b)
    check("unsubscribe acknowledged with type and topic",
          m.get("type") == "unsubscribe" and m.get("topic") == "room", f"(got {m})")
    await say(a, {"type": "data", "topic": "room", "data": 2})
    m = await recv(c)
    check("after unsubscribe, data still reaches the others", m.get("data") == 2, f"(got {m})")
    await quiet_until_ping(b, "the unsubscribed client")

    # Bad input, each answered, the connection open until the error limit (10).
    bad, _ = await join(srv, "bad", "room")
    answers = []
    for text in ("{not json", '{"type":"dance"}', "[]", '{"type":"subscribe"}',
                 '{"type":"welcome"}', '{"type":"data","topic":"room"}'):
        await bad.send(text)
        answers.append((await recv(bad)).get("error"))
    check("bad input answered by name", answers == ["malformed_json", "unknown_type", "not_an_object",
                                                    "missing_topic", "unexpected_type",
                                                    "missing_data"], f"(got {answers})")
    await quiet_until_ping(bad, "the erring client, below the error limit")
    for _ in range(4):
        await bad.send("{")
    code, reason = await closed_with(bad)
    check("the 10th error closes with 4002", code == 4002, f"(got {code} {reason!r})")
    big, _ = await join(srv, "big", "room")
    await big.send("x" * 70000)
    code, _ = await closed_with(big)
    check("a message over 64 KiB closes with 1009", code == 1009, f"(got {code})")
    await quiet_until_ping(c, "a subscriber of the erring clients' topic")
    await quiet_until_ping(bystander, "the bystander")
    for w in (a, b, c, other, bystander):
        await w.close()


async def topic_full_tests(srv):
    x, _ = await join(srv, "x", "full")
    y, _ = await join(srv, "y", "full")
    z, _ = await join(srv, "z")
    await say(z, {"type": "subscribe", "topic": "full"})
    m = await recv(z)
    check("subscribe over --max-per-topic -> topic_full",
          m.get("type") == "error" and m.get("topic") == "full" and m.get("error") == "topic_full",
          f"(got {m})")
    await quiet_until_ping(z, "the refused subscriber (still open)")
    await say(x, {"type": "data", "topic": "full", "data": "to y"})
    m = await recv(y)
    check("the topic's members still talk", m.get("data") == "to y", f"(got {m})")
    await quiet_until_ping(z, "the refused subscriber got no data")
    for w in (x, y, z):
        await w.close()


async def max_connections_tests(srv):
    held = [await join(srv, f"m{i}") for i in range(2)]
    got = await status_of(srv.url("token=" + token("m2")))
    check("over --max-connections -> HTTP 503", got == 503, f"(got {got})")
    await held[0][0].close()
    # The place is free once the server saw the close: poll the event, bounded.
    deadline = time.monotonic() + WAIT
    while (got := await status_of(srv.url("token=" + token("m3")))) != 101 and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    check("a closed connection frees its place", got == 101, f"(got {got})")
    await held[1][0].close()


async def max_per_user_tests(srv):
    first, _ = await join(srv, "solo")
    got = await status_of(srv.url("token=" + token("solo")))
    check("over --max-per-user -> HTTP 503", got == 503, f"(got {got})")
    got = await status_of(srv.url("token=" + token("other")))
    check("another user still connects", got == 101, f"(got {got})")
    await first.close()


async def max_per_ip_tests(srv):
    held = []
    for _ in range(2):
        held.append(await connect(srv.url("token=" + token("ip")), local_addr=("127.0.0.2", 0)))
    got = await status_of(srv.url("token=" + token("ip")), local_addr=("127.0.0.2", 0))
    check("over --max-per-ip (from 127.0.0.2) -> HTTP 503", got == 503, f"(got {got})")
    got = await status_of(srv.url("token=" + token("ip")), local_addr=("127.0.0.3", 0))
    check("another address (127.0.0.3) still connects", got == 101, f"(got {got})")
    for w in held:
        await w.close()


async def connect_rate_tests(srv):
    # --connect-rate-per-ip 2: a burst of 4, then 2 a second.
    results = [await status_of(srv.url("token=" + token(f"r{i}")), local_addr=("127.0.0.4", 0))
               for i in range(12)]
    ok, refused = results.count(101), results.count(503)
    check("over --connect-rate-per-ip -> HTTP 503", refused > 0 and ok + refused == 12,
          f"(got {results})")
    check("the burst (4) gets through first", results[:4] == [101] * 4, f"(got {results})")
    got = await status_of(srv.url("token=" + token("r")), local_addr=("127.0.0.5", 0))
    check("another address is not rate-limited", got == 101, f"(got {got})")


async def message_rate_tests(srv):
    ws, _ = await join(srv, "chatty")
    # 15 pings in one go: the burst (2 x 5) is answered, the rest refused.
    await ws.send(json.dumps({"type": "ping"}))
    for _ in range(14):
        await ws.send(json.dumps({"type": "ping"}))
    kinds = [(await recv(ws)) for _ in range(15)]
    pongs = sum(1 for m in kinds if m.get("type") == "pong")
    limited = sum(1 for m in kinds if m.get("error") == "rate_limited")
    check("--message-rate: the burst answered, the rest rate_limited",
          pongs >= 10 and limited >= 1 and pongs + limited == 15,
          f"({pongs} pongs, {limited} rate_limited)")
    await ws.close()


def raw_upgrade(port, target):
    """A raw client that completes the handshake and then never reads nor answers."""
    s = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
    key = base64.b64encode(os.urandom(16))
    s.sendall(b"GET " + target.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
              b"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " + key +
              b"\r\n\r\n")
    return s


def raw_close_code(s):
    """Reads frames until a Close; its code, or None when the stream ends first."""
    buf = b""

    def need(n):
        nonlocal buf
        while len(buf) < n:
            d = s.recv(65536)
            if not d:
                raise EOFError
            buf += d
    try:
        need(4)
        while b"\r\n\r\n" not in buf:
            need(len(buf) + 1)
        buf = buf.split(b"\r\n\r\n", 1)[1]
        while True:
            need(2)
            n, at = buf[1] & 0x7F, 2
            if n == 126:
                need(4)
                n, at = struct.unpack("!H", buf[2:4])[0], 4
            elif n == 127:
                need(10)
                n, at = struct.unpack("!Q", buf[2:10])[0], 10
            need(at + n)
            op, payload, buf = buf[0] & 0x0F, buf[at:at + n], buf[at + n:]
            if op == 8:
                return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
    except (EOFError, OSError):
        return None


async def lifetime_tests(srv):
    # A token that expires while connected: 4001.
    ws = await connect(srv.url("token=" + token("brief", exp_in=2)))
    code, reason = await closed_with(ws)
    check("a token expiring while connected closes with 4001", code == 4001, f"(got {code} {reason!r})")
    # Heartbeat envelopes (--heartbeat-ms 300).
    hb, _ = await join(srv, "hb")
    m = json.loads(await asyncio.wait_for(hb.recv(), WAIT))
    check("a heartbeat envelope arrives", m.get("type") == "heartbeat" and "timestamp" in m, f"(got {m})")
    # A client that answers nothing goes stale: the cleanup pass closes it with 4003. (A live
    # websockets client answers the pool's pings, which count as activity.)
    s = await asyncio.get_running_loop().run_in_executor(
        None, raw_upgrade, srv.port, "/ws?token=" + token("silent"))
    code = await asyncio.get_running_loop().run_in_executor(None, raw_close_code, s)
    s.close()
    check("a client that answers nothing is closed by the cleanup pass with 4003", code == 4003,
          f"(got {code})")
    await quiet_until_ping(hb, "a live client beside the stale one")
    await hb.close()


async def shutdown_tests(srv):
    clients = [(await join(srv, f"s{i}", "t"))[0] for i in range(3)]
    srv.p.send_signal(signal.SIGTERM)
    results = await asyncio.gather(*(closed_with(w) for w in clients))
    check("SIGTERM: every client gets 1001 'server shutting down'",
          all(r == (1001, "server shutting down") for r in results), f"(got {results})")
    check("SIGTERM: the server exits 0", srv.stop(signal_it=False) == 0, f"(rc {srv.rc})")


# --- wss:// and https:// -----------------------------------------------------------------------

async def tls_tests():
    import ssl
    import tempfile
    import urllib.error
    import urllib.request
    d = tempfile.mkdtemp(dir=os.environ.get("PIER_TEST_TMPDIR"))
    cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
    source = os.environ.get("PIER_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "../.."))
    made = subprocess.run([os.path.join(source, "tools/make-cert.sh"), "--cert", cert, "--key", key],
                          capture_output=True, text=True)
    check("tls: make-cert.sh", made.returncode == 0, made.stderr)
    if made.returncode != 0:
        return
    srv = Server("--cert", cert, "--key", key, scheme="wss", host="localhost")
    print(f"# ws_pool --cert on port {srv.port}")
    ctx = ssl.create_default_context(cafile=cert)
    a, w = await join(srv, "alice", "room", ssl=ctx)
    check("wss: welcome", w.get("type") == "welcome" and w["data"]["user_id"] == "alice", f"({w})")
    b, _ = await join(srv, "bob", "room", ssl=ctx)
    await say(a, {"type": "data", "topic": "room", "data": {"over": "tls"}})
    m = await recv(b)
    check("wss: data reaches the topic's other subscriber",
          m.get("type") == "data" and m.get("data") == {"over": "tls"}, f"(got {m})")
    await say(a, {"type": "ping"})
    check("wss: ping answered", (await recv(a)).get("type") == "pong")
    got = await status_of(srv.url(), ssl=ctx)
    check("wss: missing token -> HTTP 401", got == 401, f"(got {got})")
    try:
        with urllib.request.urlopen(f"https://localhost:{srv.port}/healthz", context=ctx,
                                    timeout=WAIT) as r:
            status = r.status
    except urllib.error.HTTPError as e:
        status = e.code
    check("https: /healthz 200", status == 200, f"(got {status})")
    await a.close()
    await b.close()
    check("tls: server exits 0 on SIGTERM", srv.stop() == 0, f"(rc {srv.rc})")


# --- two instances on one Redis -----------------------------------------------------------------

class Redis:
    """A real redis-server on a free port, killed at the end."""

    def __init__(self, exe):
        self.p = None
        for _ in range(5):  # a port found free can be taken before redis-server binds it
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
            self.p = subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1", "--save",
                                       "", "--appendonly", "no"], stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL)
            deadline = time.monotonic() + WAIT
            while time.monotonic() < deadline and self.p.poll() is None:
                if self.ping(port):
                    self.port = port
                    return
                time.sleep(0.02)
            self.stop()
        raise RuntimeError("redis-server did not start")

    @staticmethod
    def ping(port):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self):
        if self.p and self.p.poll() is None:
            self.p.kill()
            self.p.wait()


async def redis_tests():
    exe = shutil.which("redis-server")
    if not exe:
        check("redis: redis-server installed (tools/setup.sh)", False)
        return
    try:  # Redis unreachable: a ws_pool with the backplane serves on its own meanwhile
        Server("--redis", "redis://127.0.0.1:1").stop()
    except RuntimeError as e:
        if "built without hiredis" not in str(e):
            raise
        print("# skip: this ws_pool was built without its Redis backplane (PIER_EXAMPLES_REDIS=OFF)")
        return
    redis = Redis(exe)
    try:
        url = f"redis://127.0.0.1:{redis.port}"
        admin = "admin-" + b64url(os.urandom(9))
        one = Server("--redis", url, "--node-id", "one", "--admin-token", admin)
        two = Server("--redis", url, "--node-id", "two", "--admin-token", admin)
        print(f"# ws_pool --redis on ports {one.port} and {two.port}, redis on {redis.port}")
        a, w = await join(one, "alice", "news")
        ack = await recv(a)
        check("redis: the subscribe acknowledgement carries a position",
              ack.get("type") == "subscribe" and "offset" in ack and "epoch" in ack, f"(got {ack})")
        b, _ = await join(two, "bob", "news")
        ack_b = await recv(b)
        check("redis: one epoch for the topic on both instances",
              ack_b.get("epoch") == ack.get("epoch"), f"({ack} {ack_b})")
        await say(b, {"type": "data", "topic": "news", "data": {"n": 1}})
        m = await recv(a)
        check("redis: data from the other instance arrives, with its position",
              m.get("type") == "data" and m.get("data") == {"n": 1} and
              m.get("offset") == ack.get("offset", 0) + 1, f"(got {m})")
        own = await recv(b)
        check("redis: the sender gets its message's position only",
              own.get("type") == "subscribe" and "data" not in own, f"(got {own})")
        import urllib.request
        req = urllib.request.Request(f"http://127.0.0.1:{one.port}/api/admin/websockets/stats",
                                     headers={"Authorization": "Bearer " + admin})
        # An instance learns of the other from its presence beats: asked too early, the
        # survey is complete without it. Asked again until both answer, within WAIT.
        deadline = time.monotonic() + WAIT
        while True:
            with urllib.request.urlopen(req, timeout=WAIT) as r:
                cl = json.loads(r.read()).get("cluster", {})
            both = cl.get("complete") is True and cl.get("active_connections") == 2
            if both or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
        check("redis: admin stats answer for both instances", both, f"(got {cl})")
        for ws in (a, b):
            await ws.close()
        for srv in (one, two):
            check(f"redis: instance on {srv.port} exits 0 on SIGTERM", srv.stop() == 0,
                  f"(rc {srv.rc})")
    finally:
        redis.stop()


async def main():
    print(f"# websockets {websockets.__version__}")
    srv = Server("--max-connections", "0")
    print(f"# ws_pool on port {srv.port}")
    await protocol_tests(srv)
    check("server still running", srv.p.poll() is None)
    check("server exits 0 on SIGTERM", srv.stop() == 0, f"(rc {srv.rc})")
    for args, fn in ((["--max-per-topic", "2"], topic_full_tests),
                     (["--max-connections", "2"], max_connections_tests),
                     (["--max-per-user", "1"], max_per_user_tests),
                     (["--max-per-ip", "2"], max_per_ip_tests),
                     (["--connect-rate-per-ip", "2"], connect_rate_tests),
                     (["--message-rate", "5"], message_rate_tests),
                     (["--heartbeat-ms", "300", "--connection-timeout-ms", "1500",
                       "--cleanup-interval-ms", "200"], lifetime_tests)):
        s = Server(*args)
        print(f"# ws_pool {' '.join(args)} on port {s.port}")
        await fn(s)
        check(f"{' '.join(args)}: server exits 0 on SIGTERM", s.stop() == 0, f"(rc {s.rc})")
    await shutdown_tests(Server())
    await tls_tests()
    await redis_tests()


try:
    asyncio.run(asyncio.wait_for(main(), 200))
except Exception as e:  # an unexpected failure is a test failure, reported with its cause
    import traceback
    traceback.print_exc()
    check(f"no exception ({e!r})", False)
finally:
    stop_all()
    for s in servers:
        if s.rc not in (None, 0):
            print(f"# server stderr: {s.p.stderr.read()[-2000:]}")
print(f"# {failures} failure(s)")
sys.exit(1 if failures else 0)
