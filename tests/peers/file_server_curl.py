#!/usr/bin/python3
# tests/peers/file_server_curl.py: the file_server example against curl and wget: a file
# larger than every buffer, byte-exact by each send method (sendfile, splice, copy) and over
# TLS; ranges (206, 416, suffix, open, multiple), HEAD, If-Modified-Since (304), Content-Type,
# directories (index, 403, 301), keep-alive and HTTP/1.0, resuming with `wget -c`; traversal
# in every spelling and by symbolic link refused without leaking a byte from outside the root;
# clients that read slowly or leave mid-file while the server's memory stays flat; and the
# transfer counts the server prints on exit.
#
# Needs PIER_EXAMPLES_DIR (and PIER_SOURCE_DIR for tools/make-cert.sh). Exit 0 = pass,
# 77 = skipped, else failure.
#
# pier-test: timeout=300
import hashlib
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
import examples  # noqa: E402  (tests/peers/support/examples.py)

source = os.environ.get("PIER_SOURCE_DIR",
                        os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
examples.binary("file_server")
for tool in ("curl", "wget", "openssl"):
    if not shutil.which(tool):
        print(f"skip: {tool} not installed (tools/setup.sh)")
        sys.exit(77)

check = examples.checks()
sha = examples.sha


def file_sha(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def start(*args):
    srv = examples.example("file_server", *args)
    return srv, srv.port


def stop(srv):
    return srv.stop("transfers")


def curl(*args, timeout=60):
    r = subprocess.run(["curl", "-sS", "--max-time", "30", *args], capture_output=True,
                       timeout=timeout)
    return r


def status_of(port, path, *extra):
    r = curl("-o", "/dev/null", "-w", "%{http_code}", "--path-as-is", *extra,
             f"http://127.0.0.1:{port}{path}")
    return r.stdout.decode().strip()


def get(port, path, *extra, scheme="http", host="127.0.0.1"):
    r = curl("-D", "-", "--path-as-is", *extra, f"{scheme}://{host}:{port}{path}")
    head, _, body = r.stdout.partition(b"\r\n\r\n")
    return head.decode("latin-1"), body, r.returncode


work = tempfile.mkdtemp(prefix="file_server.", dir=os.environ.get("PIER_TEST_TMPDIR"))
try:
    root = os.path.join(work, "root")
    outside = os.path.join(work, "outside")
    os.makedirs(os.path.join(root, "docs"))
    os.makedirs(os.path.join(root, "site"))
    os.makedirs(outside)
    with open(os.path.join(outside, "secret.txt"), "w") as f:
        f.write("TOPSECRET outside the root\n")
    # 48 MiB: more than the socket buffers of both ends and pier's copy buffer many times over.
    block = os.urandom(1 << 20)
    big = b"".join(i.to_bytes(4, "big") + block[4:] for i in range(48))
    with open(os.path.join(root, "big.bin"), "wb") as f:
        f.write(big)
    big_sha = sha(big)
    with open(os.path.join(root, "index.html"), "w") as f:
        f.write("<h1>root index</h1>\n")
    with open(os.path.join(root, "site", "index.html"), "w") as f:
        f.write("<h1>site index</h1>\n")
    with open(os.path.join(root, "docs", "page.txt"), "w") as f:
        f.write("a page\n")
    with open(os.path.join(root, "with space.txt"), "w") as f:
        f.write("spaced\n")
    open(os.path.join(root, "empty.txt"), "w").close()
    os.symlink("big.bin", os.path.join(root, "link_in"))
    os.symlink(os.path.join(outside, "secret.txt"), os.path.join(root, "link_out"))
    os.symlink("../outside/secret.txt", os.path.join(root, "link_up"))
    os.symlink("../outside", os.path.join(root, "dir_up"))
    old = time.time() - 86400
    os.utime(os.path.join(root, "docs", "page.txt"), (old, old))

    srv, port = start("--root", root)
    print(f"# file_server on port {port}")

    # --- large files, byte-exact ---------------------------------------------------------
    head, body, rc = get(port, "/big.bin")
    check("curl: 48 MiB byte-exact", rc == 0 and sha(body) == big_sha, f"rc={rc} size={len(body)}")
    check("200 with Content-Length", "HTTP/1.1 200" in head and f"Content-Length: {len(big)}" in head, head)
    check("Content-Type by extension (octet-stream)", "Content-Type: application/octet-stream" in head, head)
    check("Accept-Ranges: bytes", "Accept-Ranges: bytes" in head)
    check("Last-Modified and Date", "Last-Modified: " in head and "\r\nDate: " in head, head)
    out = os.path.join(work, "wget.bin")
    r = subprocess.run(["wget", "-q", "-O", out, f"http://127.0.0.1:{port}/big.bin"], timeout=120)
    check("wget: 48 MiB byte-exact", r.returncode == 0 and file_sha(out) == big_sha)
    # wget -c: resume from the first MiB (a Range request).
    with open(out, "wb") as f:
        f.write(big[: 1 << 20])
    r = subprocess.run(["wget", "-q", "-c", "-O", out, f"http://127.0.0.1:{port}/big.bin"], timeout=120)
    check("wget -c resumes with Range, byte-exact", r.returncode == 0 and file_sha(out) == big_sha)

    # --- ranges ------------------------------------------------------------------------------
    head, body, _ = get(port, "/big.bin", "-r", "100-199")
    check("Range 100-199: 206", "HTTP/1.1 206" in head, head)
    check("... the right bytes", body == big[100:200])
    check("... Content-Range", f"Content-Range: bytes 100-199/{len(big)}" in head, head)
    head, body, _ = get(port, "/big.bin", "-r", f"{len(big) - 1000}-")
    check("open range: the tail", "206" in head and body == big[-1000:])
    head, body, _ = get(port, "/big.bin", "-H", "Range: bytes=-500")
    check("suffix range: the last 500 bytes", "206" in head and body == big[-500:])
    head, body, _ = get(port, "/big.bin", "-H", "Range: bytes=0-99999999999")
    check("a range past the end is clipped", "206" in head and sha(body) == big_sha)
    head, body, _ = get(port, "/big.bin", "-H", f"Range: bytes={len(big)}-")
    check("outside the file: 416", "HTTP/1.1 416" in head, head)
    check("... with Content-Range bytes */size", f"Content-Range: bytes */{len(big)}" in head, head)
    head, body, _ = get(port, "/big.bin", "-H", "Range: bytes=0-1,5-6")
    check("several ranges: the whole file (200)", "HTTP/1.1 200" in head and sha(body) == big_sha)
    head, body, _ = get(port, "/big.bin", "-H", "Range: bytes=5-1")
    check("an invalid range is ignored (200)", "HTTP/1.1 200" in head and len(body) == len(big))
    head, body, _ = get(port, "/big.bin", "-r", "0-9", "-H", "If-Range: Sun, 06 Nov 1994 08:49:37 GMT")
    check("If-Range with another date: the whole file", "HTTP/1.1 200" in head and len(body) == len(big))
    lm = re.search(r"Last-Modified: (.*)\r", get(port, "/big.bin", "-r", "0-0")[0]).group(1)
    head, body, _ = get(port, "/big.bin", "-r", "0-9", "-H", f"If-Range: {lm}")
    check("If-Range with its Last-Modified: the range", "206" in head and body == big[:10])

    # --- HEAD, conditionals, types ---------------------------------------------------------
    # HEAD on a raw socket: the head, then nothing until the server closes.
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"HEAD /big.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        raw = b""
        while True:
            d = s.recv(65536)
            if not d:
                break
            raw += d
    head, _, body = raw.partition(b"\r\n\r\n")
    check("HEAD: 200, the length, no body", head.startswith(b"HTTP/1.1 200") and
          f"Content-Length: {len(big)}".encode() in head and body == b"", raw[:300])
    check("If-Modified-Since its own date: 304",
          status_of(port, "/big.bin", "-H", f"If-Modified-Since: {lm}") == "304")
    check("curl -z (a later date): 304",
          status_of(port, "/docs/page.txt", "-z", "Sun, 06 Nov 2050 08:49:37 GMT") == "304")
    check("If-Modified-Since an older date: 200",
          status_of(port, "/docs/page.txt", "-z", "Sun, 06 Nov 1994 08:49:37 GMT") == "200")
    check("an unparsable If-Modified-Since is ignored: 200",
          status_of(port, "/docs/page.txt", "-H", "If-Modified-Since: yesterday") == "200")
    head, body, _ = get(port, "/index.html")
    check("text/html; charset=utf-8", "Content-Type: text/html; charset=utf-8" in head, head)
    head, body, _ = get(port, "/docs/page.txt")
    check("text/plain and the content", "Content-Type: text/plain" in head and body == b"a page\n")
    head, body, _ = get(port, "/with%20space.txt")
    check("percent-decoded names", body == b"spaced\n")
    head, body, _ = get(port, "/empty.txt")
    check("an empty file: 200, Content-Length 0", "200" in head and "Content-Length: 0" in head and body == b"")

    # --- directories ---------------------------------------------------------------------------
    check("/ serves index.html", get(port, "/")[1] == b"<h1>root index</h1>\n")
    check("a directory with index.html", get(port, "/site/")[1] == b"<h1>site index</h1>\n")
    check("a directory without an index: 403", status_of(port, "/docs/") == "403")
    head, _, _ = get(port, "/site")
    check("a directory without its slash: 301 to it", "301" in head and "Location: /site/" in head, head)

    # --- traversal ------------------------------------------------------------------------------
    leaked = False
    for path, want in [("/../outside/secret.txt", "403"), ("/%2e%2e/outside/secret.txt", "403"),
                       ("/%2E%2E%2Foutside%2Fsecret.txt", "403"),
                       ("/docs/..%2f..%2foutside%2fsecret.txt", "403"),
                       ("/docs/../../outside/secret.txt", "403"), ("/..", "403"),
                       ("/link_out", "403"), ("/link_up", "403"), ("/dir_up/secret.txt", "403"),
                       ("/missing.txt", "404"), ("/docs/missing/x", "404"), ("/a%00b", "400"),
                       ("/%zz", "400")]:
        head, body, _ = get(port, path)
        code = head.split(" ")[1] if head.startswith("HTTP/") else "?"
        check(f"{path}: {want}", code == want, f"got {code}")
        leaked = leaked or b"TOPSECRET" in body
    check("nothing from outside the root was sent", not leaked)
    head, body, _ = get(port, "/link_in")
    check("a link that stays inside the root is served", sha(body) == big_sha)

    # --- methods, keep-alive, HTTP/1.0 ---------------------------------------------------------
    head, body, _ = get(port, "/index.html", "-X", "POST")
    check("POST: 405 with Allow", "405" in head and "Allow: GET, HEAD" in head, head)
    r = curl("-v", "-o", "/dev/null", "-o", "/dev/null", f"http://127.0.0.1:{port}/index.html",
             f"http://127.0.0.1:{port}/big.bin")
    check("keep-alive: the second request reuses the connection",
          b"Re-using existing connection" in r.stderr or b"Reusing existing connection" in r.stderr)
    r = curl("-v", "--http1.0", "-o", "/dev/null", f"http://127.0.0.1:{port}/index.html")
    check("HTTP/1.0 answered in 1.0 and closed", b"HTTP/1.0 200" in r.stderr)

    # --- slow readers and clients leaving mid-file: memory stays flat -------------------------
    def memory_check(p, port, label, scheme="http", extra=()):
        base = p.rss()
        slow = [subprocess.Popen(["curl", "-s", "-o", "/dev/null", "--limit-rate", "2M",
                                  "--max-time", "2", *extra, f"{scheme}://localhost:{port}/big.bin"])
                for _ in range(16)]
        peak = base
        while any(s.poll() is None for s in slow):
            peak = max(peak, p.rss())
            time.sleep(0.05)
        # Clients that read 64 KiB and vanish (RST with unread data).
        for _ in range(32):
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            if scheme == "http":
                s.sendall(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
                got = 0
                while got < 65536:
                    d = s.recv(65536)
                    if not d:
                        break
                    got += len(d)
            s.close()
        # A full request after them: the server is past every one of those disconnects.
        head, body, _ = get(port, "/big.bin", *extra, scheme=scheme, host="localhost")
        check(f"{label}: still serving byte-exact afterwards", sha(body) == big_sha)
        after = p.rss()
        check(f"{label}: 16 slow readers: memory flat (+{(peak - base) >> 10} KiB)", peak - base < examples.memory_bound(24 << 20))
        check(f"{label}: 48 clients left mid-file: no growth (+{(after - base) >> 10} KiB)", after - base < examples.memory_bound(24 << 20))

    memory_check(srv, port, "sendfile")

    code, counts = stop(srv)
    check("SIGTERM: exit 0", code == 0, f"exit {code}")
    check("sendfile carried the files, nothing copied",
          counts.get("sendfile", 0) >= 8 * len(big) and counts.get("copied", 1) == 0, str(counts))

    # --- the other send methods ----------------------------------------------------------------
    for method, key in (("splice", "splice"), ("copy", "copied")):
        p2, port2 = start("--root", root, "--files", method)
        head, body, rc = get(port2, "/big.bin")
        check(f"--files {method}: byte-exact", rc == 0 and sha(body) == big_sha)
        head, body, _ = get(port2, "/big.bin", "-r", "1000-2999")
        check(f"--files {method}: a range", body == big[1000:3000])
        code, counts = stop(p2)
        check(f"--files {method}: the bytes went by {method}",
              counts.get(key, 0) >= len(big) + 2000 and counts.get("sendfile", 1) == 0, str(counts))

    # --- TLS -----------------------------------------------------------------------------------
    cert, key = os.path.join(work, "cert.pem"), os.path.join(work, "key.pem")
    subprocess.run([os.path.join(source, "tools", "make-cert.sh"), "--cert", cert, "--key", key,
                    "localhost", "127.0.0.1"], check=True, capture_output=True)
    p3, port3 = start("--root", root, "--cert", cert, "--key", key, "--kernel-tls", "on")
    head, body, rc = get(port3, "/big.bin", "--cacert", cert, scheme="https", host="localhost")
    check("TLS, curl: 48 MiB byte-exact", rc == 0 and sha(body) == big_sha, f"rc={rc} size={len(body)}")
    out = os.path.join(work, "wget-tls.bin")
    r = subprocess.run(["wget", "-q", f"--ca-certificate={cert}", "-O", out,
                        f"https://localhost:{port3}/big.bin"], timeout=120)
    check("TLS, wget: 48 MiB byte-exact", r.returncode == 0 and file_sha(out) == big_sha)
    head, body, _ = get(port3, "/big.bin", "--cacert", cert, "-r", "5-104", scheme="https", host="localhost")
    check("TLS: a range", "206" in head and body == big[5:105])
    head, body, _ = get(port3, "/../outside/secret.txt", "--cacert", cert, scheme="https", host="localhost")
    check("TLS: traversal refused", head.startswith("HTTP/1.1 403") and b"TOPSECRET" not in body, head)
    memory_check(p3, port3, "TLS", scheme="https", extra=("--cacert", cert))
    code, counts = stop(p3)
    via = "kernel TLS" if counts.get("ktls_sendfile", 0) else "user-space encryption"
    print(f"# TLS files went by {via}: {counts}")
    check("TLS: the bytes were encrypted by OpenSSL or the kernel, never sent raw",
          counts.get("sendfile", 1) == 0 and
          counts.get("copied", 0) + counts.get("ktls_sendfile", 0) >= 3 * len(big), str(counts))
finally:
    examples.kill_all()
    shutil.rmtree(work, ignore_errors=True)

sys.exit(check.status())
