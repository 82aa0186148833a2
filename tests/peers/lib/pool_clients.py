#!/usr/bin/python3
# tests/peers/lib/pool_clients.py: holds N WebSocket clients (Python `websockets`) on a pier
# pool for the peer scripts: user u<i % users>, topics t<i % topics>, tokens signed here
# (HS256 with the standard library). Prints "ready <n>" once every client got its welcome, then
# answers pings and keeps reading until stdin ends (or --seconds pass), and prints
# "received <n>" (messages other than welcome/heartbeat) before it exits.
#
#   pool_clients.py PORT SECRET [--clients 200] [--users 50] [--topics 10] [--seconds 120]
import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import os
import sys
import time

import websockets


def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def token(secret, sub, exp_in=3600, meta=None):
    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    claims = {"sub": sub, "exp": int(time.time()) + exp_in}
    if meta is not None:
        claims["meta"] = meta
    body = b64(json.dumps(claims).encode())
    sig = b64(hmac.new(secret.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest())
    return f"{head}.{body}.{sig}"


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("port", type=int)
    ap.add_argument("secret")
    ap.add_argument("--clients", type=int, default=200)
    ap.add_argument("--users", type=int, default=50)
    ap.add_argument("--topics", type=int, default=10)
    ap.add_argument("--seconds", type=float, default=120)
    a = ap.parse_args()
    received = 0
    conns = []
    for i in range(a.clients):
        tok = token(a.secret, f"u{i % a.users}", meta={"n": i})
        ws = await websockets.connect(
            f"ws://127.0.0.1:{a.port}/ws?token={tok}&topics=t{i % a.topics}", max_size=None)
        welcome = json.loads(await ws.recv())
        assert welcome["type"] == "welcome", welcome
        conns.append(ws)
    print(f"ready {len(conns)}", flush=True)

    async def reader(ws):
        nonlocal received
        try:
            async for m in ws:
                if json.loads(m).get("type") not in ("welcome", "heartbeat"):
                    received += 1
        except websockets.exceptions.ConnectionClosed:
            pass

    tasks = [asyncio.create_task(reader(ws)) for ws in conns]
    loop = asyncio.get_running_loop()
    stdin_done = loop.run_in_executor(None, sys.stdin.read)
    await asyncio.wait([stdin_done], timeout=a.seconds)
    for ws in conns:
        await ws.close()
    await asyncio.gather(*tasks, return_exceptions=True)
    print(f"received {received}", flush=True)
    os._exit(0)  # the stdin reader thread may still be blocked


asyncio.run(main())
