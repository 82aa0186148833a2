#!/usr/bin/python3
# tests/peers/progress_python.py: the ws_progress example against Python's `websockets` and
# plain HTTP: jobs started with POST /jobs run on the example's worker thread, which publishes
# each step to batch_progress_{id} through pool.publish (a cross-thread send: the worker
# thread, the shards' mailboxes). Checks: 401 without a token, 400 for bad parameters, 201 with
# the job's topic; the owner's subscriber (by ?topics= and by a subscribe message) gets the
# welcome (or the acknowledgement) first, then the job's states up to "finished" with every
# step done; another user's subscribe is answered "forbidden"; three
# jobs at once stay apart; GET /jobs/{id} answers the owner only. The server stops cleanly.
#
# Needs PIER_EXAMPLES_DIR. Exit 0 = pass, 77 = skipped, else failure.
#
# pier-test: threads
# pier-test: timeout=180
import asyncio
import base64
import hashlib
import hmac
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import time

examples = os.environ.get("PIER_EXAMPLES_DIR", "")
server_bin = os.path.join(examples, "ws_progress")
if not examples or not os.access(server_bin, os.X_OK):
    print(f"skip: {server_bin} not built")
    sys.exit(77)
try:
    import websockets
except ImportError:
    print("skip: python3-websockets not installed (tools/setup.sh)")
    sys.exit(77)

SECRET = "progress-python-peer-test-secret-0123456789"
WAIT = 20
failures = 0


def check(what, cond, detail=""):
    global failures
    if cond:
        print(f"ok   - {what}")
    else:
        failures += 1
        print(f"FAIL - {what} {detail}")


def token(sub):
    b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
    part = lambda o: b64(json.dumps(o, separators=(",", ":")).encode())
    signing = part({"alg": "HS256", "typ": "JWT"}) + "." + part({"sub": sub, "exp": int(time.time()) + 3600})
    return signing + "." + b64(hmac.new(SECRET.encode(), signing.encode(), hashlib.sha256).digest())


def request(port, method, target, user=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=WAIT)
    headers = {"Authorization": "Bearer " + token(user)} if user else {}
    c.request(method, target, headers=headers)
    r = c.getresponse()
    body = r.read().decode()
    c.close()
    try:
        return r.status, json.loads(body)
    except ValueError:
        return r.status, body


async def recv(ws):
    while True:
        m = json.loads(await asyncio.wait_for(ws.recv(), WAIT))
        if m.get("type") != "heartbeat":
            return m


async def follow(ws, topic, total):
    """The job's states until finished: (list of `done`, final state, every envelope ok)."""
    dones, ok = [], True
    while True:
        m = await recv(ws)
        ok = ok and m.get("type") == "data" and m.get("topic") == topic
        d = m.get("data", {})
        dones.append(d.get("done"))
        if d.get("state") == "finished" or not ok or len(dones) > total + 10:
            return dones, d, ok


async def tests(port):
    st, body = request(port, "POST", "/jobs?steps=5&step_ms=10")
    check("POST /jobs without a token -> 401", st == 401, f"({st} {body})")
    st, body = request(port, "POST", "/jobs?steps=0&step_ms=10", "alice")
    check("POST /jobs with steps=0 -> 400", st == 400 and body.get("error") == "bad_job", f"({st} {body})")
    st, body = request(port, "GET", "/jobs", "alice")
    check("GET /jobs -> 405", st == 405, f"({st} {body})")

    # One job, watched from ?topics= (the state arrives after the welcome).
    total = 25
    st, job = request(port, "POST", f"/jobs?steps={total}&step_ms=20", "alice")
    check("POST /jobs -> 201 with the job's topic",
          st == 201 and job.get("topic") == f"batch_progress_{job.get('id')}", f"({st} {job})")
    topic = job["topic"]
    ws = await websockets.connect(f"ws://127.0.0.1:{port}/ws?token={token('alice')}&topics={topic}",
                                  compression=None)
    w = await recv(ws)
    check("the welcome comes first, with the job's topic",
          w.get("type") == "welcome" and w["data"]["topics"] == [topic], f"({w})")
    dones, final, ok = await follow(ws, topic, total)
    check("every message is the job's data envelope", ok, f"({dones})")
    # States, not deltas: the snapshot may cross a step on its way (ws_progress.cpp), so a
    # value may repeat or come late; none is out of range, and there are not many more than steps.
    check("every state is within the job's steps",
          all(isinstance(d, int) and 0 <= d <= total for d in dones) and len(dones) <= total + 3,
          f"({dones})")
    check("the job finishes with every step done",
          final.get("state") == "finished" and final.get("done") == total and final.get("percent") == 100,
          f"({final})")
    check("steps arrive one by one (more than a snapshot and the end)", len(set(dones)) >= 3, f"({dones})")
    await ws.close()

    # Another user may not watch it.
    eve = await websockets.connect(f"ws://127.0.0.1:{port}/ws?token={token('eve')}", compression=None)
    await recv(eve)
    await eve.send(json.dumps({"type": "subscribe", "topic": topic}))
    m = await recv(eve)
    check("another user's subscribe -> forbidden",
          m.get("type") == "error" and m.get("error") == "forbidden" and m.get("topic") == topic, f"({m})")
    st, body = request(port, "GET", f"/jobs/{job['id']}", "eve")
    check("GET /jobs/{id} of another user -> 404", st == 404, f"({st} {body})")
    st, body = request(port, "GET", f"/jobs/{job['id']}", "alice")
    check("GET /jobs/{id} of the owner -> its final state",
          st == 200 and body.get("state") == "finished" and body.get("done") == total, f"({st} {body})")
    # A late subscriber gets the state at once.
    await eve.close()
    late = await websockets.connect(f"ws://127.0.0.1:{port}/ws?token={token('alice')}", compression=None)
    await recv(late)
    await late.send(json.dumps({"type": "subscribe", "topic": topic}))
    ack = await recv(late)
    check("a subscribe message is acknowledged first", ack.get("type") == "subscribe", f"({ack})")
    m = await recv(late)
    check("a late subscriber gets the finished state",
          m.get("data", {}).get("state") == "finished" and m["data"].get("done") == total, f"({m})")
    await late.close()

    # Three jobs at once, two watchers each, kept apart.
    jobs = [request(port, "POST", f"/jobs?steps={10 + k}&step_ms=15", "bob")[1] for k in range(3)]
    watchers = []
    for j in jobs:
        for _ in range(2):
            w = await websockets.connect(
                f"ws://127.0.0.1:{port}/ws?token={token('bob')}&topics={j['topic']}", compression=None)
            await recv(w)
            watchers.append((w, j))
    results = await asyncio.gather(*(follow(w, j["topic"], 10 + k // 2) for k, (w, j) in enumerate(watchers)))
    check("three concurrent jobs: each watcher sees only its job, to the end",
          all(ok and d.get("job") == j["id"] and d.get("state") == "finished" and d.get("done") == d.get("total")
              for (dones, d, ok), (_, j) in zip(results, watchers)),
          f"({[(r[1], j['id']) for r, (_, j) in zip(results, watchers)]})")
    for w, _ in watchers:
        await w.close()


def main():
    p = subprocess.Popen([server_bin, "--port", "0", "--threads", "2", "--secret", SECRET],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = p.stdout.readline()
        m = re.match(r"^pier: listening on .*:(\d+)$", line.strip())
        if not m:
            check("ws_progress starts", False, f"{line!r} {p.stderr.read()}")
            return
        port = int(m.group(1))
        print(f"# ws_progress on port {port}, websockets {websockets.__version__}")
        asyncio.run(asyncio.wait_for(tests(port), 150))
    except Exception as e:  # an unexpected failure is a test failure, reported with its cause
        import traceback
        traceback.print_exc()
        check(f"no exception ({e!r})", False)
    finally:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
        try:
            rc = p.wait(15)
        except subprocess.TimeoutExpired:
            p.kill()
            rc = p.wait()
        check("ws_progress exits 0 on SIGTERM", rc == 0, f"(rc {rc}) {p.stderr.read()[-2000:]}")


main()
print(f"# {failures} failure(s)")
sys.exit(1 if failures else 0)
