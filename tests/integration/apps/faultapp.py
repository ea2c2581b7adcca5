"""Requests that break the worker serving them, for tests/integration/test_faults_worker.py.

    /            "ok <pid>"
    /slow?s=N    sleeps N seconds (prints "slow started <pid>" first), then "ok <pid>"
    /segv        reads address 0 through ctypes: a real segfault in native code
    /kill-segv   os.kill(os.getpid(), SIGSEGV)
    /exit        os._exit(3)
    /leak        allocates 16 MiB after 16 MiB (touched, kept) until it fails; with
                 ?keep=1 it keeps them after the request too (a leak that stays)
    /fork        os.fork(); the child goes on and returns a body of its own, the parent
                 answers "parent <pid> child <child pid> status <its exit status>"
    /fork-linger os.fork(); the child sleeps 30 s (so a test can look at what it holds),
                 then returns; the parent answers "parent <pid> child <child pid>" at once
    /hog?n=N&s=S opens N descriptors (of /dev/null) and closes them after S seconds
"""

import ctypes
import os
import signal
import sys
import threading
import time
from urllib.parse import parse_qs


_LEAKED = []


def _reply(start_response, text, status="200 OK"):
    body = text.encode()
    start_response(status, [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


def _hog(n, seconds):
    """Takes up to n descriptors, and for a moment after the response also the ones that
    free up (this request's own connection), then gives them all back after `seconds`."""
    held = []

    def grab():
        while len(held) < n:
            try:
                held.append(os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC))
            except OSError:
                return

    grab()
    print(f"hogging {len(held)} descriptors for {seconds} s", file=sys.stderr, flush=True)

    def hold():
        end = time.monotonic() + 0.5
        while time.monotonic() < end:
            grab()
            time.sleep(0.01)
        print(f"holding {len(held)} descriptors", file=sys.stderr, flush=True)
        time.sleep(seconds)
        count = len(held)
        for fd in held:
            os.close(fd)
        print(f"released {count} descriptors", file=sys.stderr, flush=True)

    threading.Thread(target=hold, daemon=True).start()
    return len(held)


def application(environ, start_response):
    path = environ.get("PATH_INFO", "/")
    query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
    pid = os.getpid()
    if path == "/slow":
        print(f"slow started {pid}", file=sys.stderr, flush=True)
        time.sleep(float(query.get("s", "1")))
    elif path == "/segv":
        ctypes.string_at(0)
    elif path == "/kill-segv":
        os.kill(pid, signal.SIGSEGV)
    elif path == "/exit":
        os._exit(3)
    elif path == "/leak":
        kept = _LEAKED if query.get("keep") else []
        while True:
            kept.append(b"x" * (16 << 20))
    elif path == "/fork":
        child = os.fork()
        if child == 0:
            return _reply(start_response, f"child {os.getpid()}")
        _, status = os.waitpid(child, 0)
        return _reply(start_response, f"parent {pid} child {child} status {status}")
    elif path == "/fork-linger":
        child = os.fork()
        if child == 0:
            time.sleep(30)
            return _reply(start_response, f"child {os.getpid()}")
        return _reply(start_response, f"parent {pid} child {child}")
    elif path == "/hog":
        held = _hog(int(query.get("n", "2000")), float(query.get("s", "2")))
        return _reply(start_response, f"hogging {held}")
    return _reply(start_response, f"ok {pid}")
