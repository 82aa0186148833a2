"""Helpers shared by the Python peer tests (tests/peers/*.py import it; it is not a test
itself): a check log, pier's examples as child processes, and a process's memory.

    import sys, os
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
    import examples
    log = examples.checks()
    srv = examples.start("file_server", "--root", root)     # on an ephemeral port
    log("answers", ...)
    code, counts = srv.stop("transfers")                    # SIGTERM, and the `pier: transfers:` line
    sys.exit(log.status())
"""

import hashlib
import os
import re
import signal
import subprocess
import sys


class checks:
    """Prints `ok   - …` / `FAIL - …` lines and counts the failures."""

    def __init__(self):
        self.failures = 0

    def __call__(self, what, cond, detail=""):
        if cond:
            print(f"ok   - {what}")
        else:
            self.failures += 1
            print(f"FAIL - {what} {detail}")
        return cond

    def status(self):
        """The exit status: 0 when everything passed."""
        if self.failures:
            print(f"# {self.failures} failure(s)")
            return 1
        print("# all passed")
        return 0


def binary(name):
    """The built example, or exit 77 (skipped) when it is not there."""
    d = os.environ.get("PIER_EXAMPLES_DIR", "")
    path = os.path.join(d, name)
    if not d or not os.access(path, os.X_OK):
        print(f"skip: {path} not built")
        sys.exit(77)
    return path


def server_env():
    """The environment for a server whose memory is measured. ASan keeps freed blocks in a
    quarantine (256 MiB by default) that would read as growth: a small one keeps the
    measurement about the server."""
    env = dict(os.environ)
    if "address" in env.get("PIER_SANITIZE", ""):
        env["ASAN_OPTIONS"] = (env.get("ASAN_OPTIONS", "") +
                               ":quarantine_size_mb=4:thread_local_quarantine_size_kb=64").lstrip(":")
    return env


def memory_bound(bytes_):
    """A bound on memory growth, scaled for ThreadSanitizer, which keeps shadow memory (several
    times the application's) for whatever the server touched."""
    return bytes_ * (4 if "thread" in os.environ.get("PIER_SANITIZE", "") else 1)


running = []  # every example started and not yet stopped, for kill_all()


class example:
    """A pier example started with `--port 0`; `port` is the one it printed."""

    def __init__(self, name, *args, threads=2):
        self.proc = subprocess.Popen([binary(name), "--port", "0", "--threads", str(threads), *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env=server_env())
        running.append(self)
        line = self.proc.stdout.readline()
        m = re.match(r"^pier: listening on .*:(\d+)$", line.strip())
        if not m:
            self.kill()
            print(f"FAIL - {name} did not start:", line, self.proc.stderr.read())
            sys.exit(1)
        self.port = int(m.group(1))
        self.pid = self.proc.pid

    def stop(self, summary):
        """SIGTERM; returns (exit code, {key: count} from its `pier: <summary>: k=v …` line)."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            out, _ = self.proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, _ = self.proc.communicate()
        running.remove(self)
        counts = {}
        m = re.search(rf"pier: {summary}: (.*)", out)
        if m:
            for kv in m.group(1).split():
                k, v = kv.split("=")
                counts[k] = int(v)
        return self.proc.returncode, counts

    def kill(self):
        if self in running:
            running.remove(self)
        self.proc.kill()
        self.proc.wait()

    def rss(self):
        """Resident memory in bytes (VmRSS)."""
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        return 0


def kill_all():
    for e in list(running):
        e.kill()


def sha(data):
    return hashlib.sha256(data).hexdigest()
