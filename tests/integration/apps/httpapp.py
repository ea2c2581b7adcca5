"""The WSGI app of the HTTP-listener and static-map tests: one behaviour per path.

    /env...        the environ's CGI and HTTP_* keys as JSON, plus the request body read
                   fully (by CONTENT_LENGTH, or to EOF under wsgi.input_terminated):
                   its length, sha256 and first bytes
    /stream        a body in pieces without Content-Length (n pieces b"I:" + size x's, an
                   empty piece between each two): chunked on HTTP/1.1, close-delimited on 1.0
    /sized         n bytes with Content-Length
    /big           n bytes of a fixed pattern in 64 KB pieces; with cl=1 a Content-Length
    /sleep         sleeps s seconds (writes its pid to `mark` first, if given)
    /status        answers with the status `code` (default "404 Not Found")
    /pid           the worker's pid
    anything else  200 "app:" + PATH_INFO (with Content-Length): the static-map tests tell
                   a request that fell through to the app by it
"""

import hashlib
import json
import os
import time
from urllib.parse import parse_qs

CGI_KEYS = ("REQUEST_METHOD", "SCRIPT_NAME", "PATH_INFO", "QUERY_STRING", "REQUEST_URI",
            "SERVER_NAME", "SERVER_PORT", "SERVER_PROTOCOL", "REMOTE_ADDR", "REMOTE_PORT",
            "CONTENT_TYPE", "CONTENT_LENGTH", "HTTPS", "wsgi.url_scheme",
            "wsgi.input_terminated")

PATTERN = bytes(range(256)) * 256


def pattern_bytes(n):
    """n bytes of the /big and /sized pattern (the tests compute the same)."""
    return (PATTERN * (n // len(PATTERN) + 1))[:n]


def _q(environ):
    return {k: v[-1] for k, v in
            parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True).items()}


def _send(start_response, data, status="200 OK", ctype="text/plain", extra=()):
    start_response(status, [("Content-Type", ctype), ("Content-Length", str(len(data))),
                            *extra])
    return [data]


def _read_body(environ):
    inp = environ["wsgi.input"]
    if environ.get("wsgi.input_terminated"):
        parts = []
        while True:
            part = inp.read(65536)
            if not part:
                break
            parts.append(part)
        return b"".join(parts)
    length = int(environ.get("CONTENT_LENGTH") or 0)
    parts = []
    while length > 0:
        part = inp.read(min(length, 65536))
        if not part:
            break
        parts.append(part)
        length -= len(part)
    return b"".join(parts)


def application(environ, start_response):
    path = environ.get("PATH_INFO", "")
    q = _q(environ)

    if path.startswith("/env"):
        body = _read_body(environ)
        out = {k: environ[k] for k in CGI_KEYS if k in environ}
        out["http"] = {k: v for k, v in environ.items() if k.startswith("HTTP_")}
        out["has_content_length"] = "CONTENT_LENGTH" in environ
        out["body_length"] = len(body)
        out["body_sha256"] = hashlib.sha256(body).hexdigest()
        out["body_head"] = body[:64].decode("latin-1")
        out["pid"] = os.getpid()
        return _send(start_response, json.dumps(out, sort_keys=True).encode(),
                     ctype="application/json")

    if path == "/stream":
        n = int(q.get("n", "5"))
        size = int(q.get("size", "10"))

        def pieces():
            for i in range(n):
                if i:
                    yield b""  # an empty piece must not end a chunked body early
                yield b"%d:" % i + b"x" * size
        start_response("200 OK", [("Content-Type", "text/plain"), ("X-Kind", "stream")])
        return pieces()

    if path == "/sized":
        return _send(start_response, pattern_bytes(int(q.get("n", "100"))),
                     ctype="application/octet-stream")

    if path == "/big":
        n = int(q.get("n", "1000000"))

        def chunks():
            left = n
            while left > 0:
                piece = PATTERN[:min(left, len(PATTERN))]
                left -= len(piece)
                yield piece
        headers = [("Content-Type", "application/octet-stream")]
        if q.get("cl") == "1":
            headers.append(("Content-Length", str(n)))
        start_response("200 OK", headers)
        return chunks()

    if path == "/sleep":
        mark = q.get("mark")
        if mark:
            with open(mark, "w") as f:
                f.write(str(os.getpid()))
        time.sleep(float(q.get("s", "1")))
        return _send(start_response, f"slept {os.getpid()}".encode())

    if path == "/status":
        code = q.get("code", "404 Not Found")
        return _send(start_response, f"status {code}".encode(), status=code)

    if path == "/pid":
        return _send(start_response, str(os.getpid()).encode())

    return _send(start_response, b"app:" + path.encode("latin-1"))
