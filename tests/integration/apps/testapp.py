"""The WSGI app most integration tests run: one behaviour per path.

Every path answers 200 "hello" unless listed below, so request-log tests can use any URI.
"""

import ctypes
import hashlib
import json
import logging
import os
import sys
import threading
import time
from urllib.parse import parse_qs

_in_flight_lock = threading.Lock()
_in_flight = 0
_most_in_flight = 0
_held = []


def _q(environ):
    return {k: v[-1] for k, v in parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True).items()}


def _text(start_response, body, status="200 OK", ctype="text/plain"):
    data = body.encode() if isinstance(body, str) else body
    start_response(status, [("Content-Type", ctype), ("Content-Length", str(len(data)))])
    return [data]


def _json(start_response, obj):
    return _text(start_response, json.dumps(obj, sort_keys=True), ctype="application/json")


def _describe(v):
    if isinstance(v, str):
        return v
    if isinstance(v, (bool, int, float)) or v is None:
        return v
    if isinstance(v, tuple):
        return {"type": "tuple", "repr": repr(v)}
    return {"type": type(v).__name__, "repr": repr(v)[:200]}


class ClosingIterable:
    """Records close() calls to the file named by env CLOSE_LOG."""

    def __init__(self, tag, fail_at=None):
        self.tag = tag
        self.fail_at = fail_at

    def __iter__(self):
        for i, chunk in enumerate((b"one ", b"two ", b"three")):
            if self.fail_at is not None and i == self.fail_at:
                raise RuntimeError(f"iteration failure {self.tag}")
            yield chunk

    def close(self):
        with open(os.environ["CLOSE_LOG"], "a") as f:
            f.write(f"closed {self.tag} pid={os.getpid()}\n")


def application(environ, start_response):
    path = environ.get("PATH_INFO", "")
    q = _q(environ)

    if path.startswith("/environ"):
        out = {k: _describe(v) for k, v in environ.items()}
        inp, err = environ.get("wsgi.input"), environ.get("wsgi.errors")
        out["_checks"] = {
            "input_has_read": callable(getattr(inp, "read", None)),
            "input_has_readline": callable(getattr(inp, "readline", None)),
            "errors_has_write": callable(getattr(err, "write", None)),
            "errors_has_flush": callable(getattr(err, "flush", None)),
            "version_is_tuple": isinstance(environ.get("wsgi.version"), tuple),
            "non_str_cgi_keys": sorted(k for k, v in environ.items()
                                       if not k.startswith("wsgi.") and "." not in k
                                       and not isinstance(v, str)),
        }
        return _json(start_response, out)

    if path == "/osenv":
        return _json(start_response, dict(os.environ))

    if path == "/cwd":
        return _json(start_response, {"cwd": os.getcwd(), "sys_path": sys.path,
                                      "prefix": sys.prefix, "executable": sys.executable})

    if path == "/pid":
        return _text(start_response, str(os.getpid()))

    if path == "/echo":
        inp = environ["wsgi.input"]
        length = int(environ.get("CONTENT_LENGTH") or 0)
        mode = q.get("mode", "sized")
        if mode == "all":
            data = inp.read()
            extra = b""
        elif mode == "lines":
            data, extra = b"".join(iter(inp.readline, b"")), b""
        elif mode == "iter":
            data, extra = b"".join(inp), b""
        elif mode == "chunks":
            parts = []
            while True:
                part = inp.read(1000)
                if not part:
                    break
                parts.append(part)
            data, extra = b"".join(parts), b""
        else:
            data = inp.read(length)
            extra = inp.read(100)
        return _json(start_response, {
            "length": len(data), "sha256": hashlib.sha256(data).hexdigest(),
            "extra": len(extra), "content_length": environ.get("CONTENT_LENGTH"),
            "method": environ.get("REQUEST_METHOD"), "head": data[:64].decode("latin-1"),
        })

    if path == "/big":
        # n bytes of a deterministic pattern, in 64 KB chunks, without Content-Length.
        n = int(q.get("n", "1000000"))
        pattern = bytes(range(256)) * 256

        def chunks():
            left = n
            while left > 0:
                piece = pattern[:min(left, len(pattern))]
                left -= len(piece)
                yield piece
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return chunks()

    if path == "/strbody":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return ["a str, not bytes"]

    if path == "/nostart":
        return [b"start_response was never called"]

    if path == "/list":
        start_response("200 OK", [("Content-Type", "text/plain"), ("X-Kind", "list")])
        return [b"alpha-", b"beta-", b"", b"gamma"]

    if path == "/gen":
        def gen():
            for i in range(5):
                yield f"chunk{i};".encode()
        start_response("200 OK", [("Content-Type", "text/plain"), ("X-Kind", "generator")])
        return gen()

    if path == "/bytes":
        start_response("200 OK", [("Content-Type", "text/plain"), ("X-Kind", "bytes")])
        return b"a bare bytes body"

    if path == "/close":
        fail_at = int(q["fail_at"]) if "fail_at" in q else None
        start_response("200 OK", [("Content-Type", "text/plain")])
        return ClosingIterable(q.get("tag", "?"), fail_at)

    if path == "/error":
        raise RuntimeError(f"app failure {q.get('token', '')}")

    if path == "/status":
        code = q.get("code", "404 Not Found")
        return _text(start_response, f"status {code}", status=code)

    if path == "/headers":
        start_response("201 Created", [("Content-Type", "text/plain"), ("X-One", "1"),
                                       ("X-Two", "two"), ("Set-Cookie", "a=1"),
                                       ("Set-Cookie", "b=2"), ("Content-Length", "7")])
        return [b"created"]

    if path == "/grow":
        # Keeps mb megabytes for the worker's lifetime: a leak, for reload-on-rss.
        _held.append(b"\x01" * (int(q.get("mb", "10")) << 20))
        return _text(start_response, str(os.getpid()))

    if path == "/overlap":
        # How many requests this worker ran at once: threads > 1 make it more than one.
        global _in_flight, _most_in_flight
        with _in_flight_lock:
            _in_flight += 1
            _most_in_flight = max(_most_in_flight, _in_flight)
        time.sleep(float(q.get("s", "0.5")))
        with _in_flight_lock:
            _in_flight -= 1
            most = _most_in_flight
        return _text(start_response, str(most))

    if path == "/sleep":
        mark = q.get("mark")
        if mark:
            with open(mark, "w") as f:
                f.write(str(os.getpid()))
        time.sleep(float(q.get("s", "1")))
        return _text(start_response, f"slept {os.getpid()}")

    if path == "/exit":
        print(f"last words {q.get('token', '')}")
        os._exit(int(q.get("code", "3")))

    if path == "/segv":
        sys.stdout.write(f"about to crash {q.get('token', '')}\n")
        ctypes.string_at(0)
        return _text(start_response, "unreachable")

    if path == "/spam":
        # One long line written in several pieces, no newline until the end.
        ch = q.get("ch", "A")
        n = int(q.get("n", "10000"))
        pieces = int(q.get("pieces", "10"))
        stream = sys.stderr if q.get("stream") == "err" else sys.stdout
        body = ch * n
        step = max(1, n // pieces)
        stream.write(f"<<{ch}:")
        for i in range(0, n, step):
            stream.write(body[i:i + step])
            time.sleep(0.0005)
        stream.write(">>\n")
        if q.get("flush"):
            stream.flush()
        return _text(start_response, "spammed")

    if path == "/output":
        token = q.get("token", "")
        print(f"print-{token}")
        sys.stderr.write(f"stderr-{token}\n")
        logging.getLogger("testapp").warning("logging-%s", token)
        environ["wsgi.errors"].write(f"wsgierrors-{token}\n")
        return _text(start_response, "printed")

    if path == "/thread":
        target = q["path"]

        def work():
            time.sleep(0.3)
            with open(target, "w") as f:
                f.write("thread ran")

        threading.Thread(target=work, daemon=True).start()
        return _text(start_response, "thread started")

    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "5")])
    return [b"hello"]
