"""The HTTP listener (`http` / `http-socket`): ferry's workers speaking HTTP/1.1 directly,
for development and for serving without nginx.

Raw sockets for exact bytes (malformed requests, pipelining, dribbling clients), Python's
http.client and curl for what real clients do. Every listener binds loopback only.
"""

import email.utils
import hashlib
import http.client
import json
import os
import random
import re
import resource
import selectors
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone

import pytest

from conftest import (APPS, Ferry, RawHttp, basic_ini, chunked_body, connect, free_port,
                      http_ini, http_raw_get, http_request, http_request_bytes, uwsgi_get,
                      wait_until)

PATTERN = bytes(range(256)) * 256


def pattern_bytes(n):
    """What the app's /sized and /big send."""
    return (PATTERN * (n // len(PATTERN) + 1))[:n]


def stream_body(n, size):
    """What the app's /stream sends."""
    return b"".join(b"%d:" % i + b"x" * size for i in range(n))


@dataclass
class Served:
    ferry: Ferry
    addr: str  # "127.0.0.1:PORT"
    port: int


@pytest.fixture
def serve(ferry, tmp):
    """Factory: serve(*ini_lines, key="http", ...) -> Served: the HTTP test app on
    127.0.0.1:PORT (one process unless told otherwise), started and accepting."""

    def make(*extra, key="http", processes=1, module="httpapp", sockets=(), **kw):
        port = free_port()
        addr = f"127.0.0.1:{port}"
        f = ferry(http_ini(tmp, port, *extra, key=key, processes=processes, module=module),
                  sockets=[addr, *map(str, sockets)], **kw)
        return Served(f, addr, port)

    return make


def env_of(r):
    assert r.status == 200, f"{r.status} {r.headers}\n{r.body[:2000]!r}"
    return r.json()


IMF_FIXDATE = re.compile(r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|"
                         r"Aug|Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d GMT$")


def assert_date(r):
    """A Date header in IMF-fixdate form, close to now."""
    values = r.header_all("Date")
    assert len(values) == 1, f"expected one Date header: {r.headers}"
    assert IMF_FIXDATE.match(values[0]), values[0]
    when = email.utils.parsedate_to_datetime(values[0])
    assert abs((datetime.now(timezone.utc) - when).total_seconds()) < 300, values[0]


def connection_tokens(r):
    return {t.strip().lower() for v in r.header_all("Connection") for t in v.split(",")}


# --------------------------------------------------------------------------------------
# 1. Listeners


@pytest.mark.parametrize("key", ["http", "http-socket"])
def test_http_and_http_socket_serve_http(serve, key):
    s = serve(key=key)
    r = http_raw_get(s.addr, "/env/x?a=1")
    env = env_of(r)
    assert env["PATH_INFO"] == "/env/x"
    assert env["QUERY_STRING"] == "a=1"
    assert env["REQUEST_METHOD"] == "GET"
    assert env["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert env["wsgi.url_scheme"] == "http"
    assert_date(r)
    # And with Python's own client.
    status, headers, body = http_request(s.port, "GET", "/hello")
    assert (status, body) == (200, b"app:/hello")


@pytest.mark.parametrize("key", ["http", "http-socket"])
def test_http_flags_on_the_command_line(ferry, tmp, key):
    port = free_port()
    addr = f"127.0.0.1:{port}"
    ferry(args=[f"--{key}", addr, "--pythonpath", APPS, "--module", "httpapp",
                "--logger", f"file:{tmp}/ferry.log"], sockets=[addr])
    r = http_raw_get(addr, "/flag")
    assert (r.status, r.body) == (200, b"app:/flag")


def test_listeners_are_repeatable_and_combine_with_a_uwsgi_socket(ferry, nginx, tmp):
    """One ferry: nginx on a Unix socket, and HTTP on three ports at once."""
    ports = [free_port() for _ in range(3)]
    ini = basic_ini(tmp, f"http = 127.0.0.1:{ports[0]}", f"http = 127.0.0.1:{ports[1]}",
                    f"http-socket = 127.0.0.1:{ports[2]}", processes=1, module="httpapp")
    f = ferry(ini, sockets=[tmp / "s.sock", *(f"127.0.0.1:{p}" for p in ports)])
    pids = set()
    for p in ports:
        with RawHttp(f"127.0.0.1:{p}") as c:
            env = env_of(c.request("GET", "/env"))
            assert env["REMOTE_PORT"] == str(c.local_port)
            pids.add(env["pid"])
    # The uwsgi socket still speaks uwsgi: its environ comes from the vars.
    r = uwsgi_get(tmp / "s.sock", "/env")
    assert r.status == 200, r.raw[:500]
    assert r.json()["REMOTE_PORT"] == "54321"
    pids.add(r.json()["pid"])
    status, _, body = nginx(tmp / "s.sock").get("/via-nginx")
    assert (status, body) == (200, b"app:/via-nginx")
    assert pids <= set(f.workers()) and len(pids) == 1, (pids, f.workers())


def _ipv6_loopback_available():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def test_http_on_ipv6_loopback(ferry, tmp):
    if not _ipv6_loopback_available():
        pytest.skip("no IPv6 loopback on this machine")
    p4, p6 = free_port(), free_port()
    ini = http_ini(tmp, p4, f"http = [::1]:{p6}")
    ferry(ini, sockets=[f"127.0.0.1:{p4}"])
    def connected():
        try:
            return socket.create_connection(("::1", p6), timeout=10)
        except OSError:
            return None

    with RawHttp(wait_until(connected, 10, message=f"ferry to listen on [::1]:{p6}")) as c:
        env = env_of(c.request("GET", "/env", host=f"[::1]:{p6}"))
        assert env["REMOTE_ADDR"] == "::1"
        assert env["REMOTE_PORT"] == str(c.local_port)
    assert env["SERVER_PORT"] == str(p6)


# --------------------------------------------------------------------------------------
# 2. Parsing: malformed requests get 400 and a closed connection

H = b"Host: 127.0.0.1\r\n"
SMUGGLED = b"GET /env/smuggled HTTP/1.1\r\n" + H + b"\r\n"

MALFORMED = {
    # Request smuggling: conflicting or doubtful body lengths.
    "content-length with transfer-encoding": (
        b"POST /env HTTP/1.1\r\n" + H + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n"
        b"\r\n0\r\n\r\n" + SMUGGLED),
    "transfer-encoding with content-length": (
        b"POST /env HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\nContent-Length: 40\r\n"
        b"\r\n0\r\n\r\n" + SMUGGLED),
    "two different content-lengths": (
        b"POST /env HTTP/1.1\r\n" + H + b"Content-Length: 5\r\nContent-Length: 6\r\n\r\n"
        b"hello!"),
    "two equal content-lengths": (
        b"POST /env HTTP/1.1\r\n" + H + b"Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello"),
    "content-length list": b"POST /env HTTP/1.1\r\n" + H + b"Content-Length: 5, 5\r\n\r\nhello",
    "non-numeric content-length": b"POST /env HTTP/1.1\r\n" + H + b"Content-Length: abc\r\n\r\n",
    "negative content-length": b"POST /env HTTP/1.1\r\n" + H + b"Content-Length: -5\r\n\r\n",
    "signed content-length": b"POST /env HTTP/1.1\r\n" + H + b"Content-Length: +5\r\n\r\nhello",
    "hex content-length": b"POST /env HTTP/1.1\r\n" + H + b"Content-Length: 0x5\r\n\r\nhello",
    "space inside content-length": (
        b"POST /env HTTP/1.1\r\n" + H + b"Content-Length: 1 0\r\n\r\nhellohello"),
    "chunk size not hex": (
        b"POST /env HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n"
        b"0\r\n\r\n"),
    "negative chunk size": (
        b"POST /env HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n"
        b"0\r\n\r\n"),
    "chunk size overflow": (
        b"POST /env HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n"
        b"1ffffffffffffffff\r\nhello\r\n0\r\n\r\n"),
    "chunk data longer than its size": (
        b"POST /env HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n3\r\nhello\r\n"
        b"0\r\n\r\n"),
    "chunked is not the final coding": (
        b"POST /env HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked, gzip\r\n\r\n"
        b"0\r\n\r\n"),
    "transfer-encoding without chunked": (
        b"POST /env HTTP/1.1\r\n" + H + b"Transfer-Encoding: gzip\r\n\r\nhello"),
    "unknown transfer coding": (
        b"POST /env HTTP/1.1\r\n" + H + b"Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n"),
    # Line structure.
    "obsolete line folding": b"GET /env HTTP/1.1\r\n" + H + b"X-Folded: a\r\n b\r\n\r\n",
    "bare LF everywhere": b"GET /env HTTP/1.1\nHost: 127.0.0.1\n\n",
    "bare LF after a header": b"GET /env HTTP/1.1\r\nHost: 127.0.0.1\nX-A: b\r\n\r\n",
    "bare CR in the headers": b"GET /env HTTP/1.1\r\nHost: 127.0.0.1\rX-A: b\r\n\r\n",
    "bare CR in a header value": b"GET /env HTTP/1.1\r\n" + H + b"X-A: a\rb\r\n\r\n",
    "bare CR in the request line": b"GET /env\r HTTP/1.1\r\n" + H + b"\r\n",
    # Control characters and bad tokens.
    "NUL in a header value": b"GET /env HTTP/1.1\r\n" + H + b"X-A: a\x00b\r\n\r\n",
    "control character in a header value": b"GET /env HTTP/1.1\r\n" + H + b"X-A: a\x01b\r\n\r\n",
    "DEL in a header value": b"GET /env HTTP/1.1\r\n" + H + b"X-A: a\x7fb\r\n\r\n",
    "control character in a header name": b"GET /env HTTP/1.1\r\n" + H + b"X-\x01A: b\r\n\r\n",
    "space before the colon": b"GET /env HTTP/1.1\r\nHost : 127.0.0.1\r\n\r\n",
    "header line without a colon": b"GET /env HTTP/1.1\r\n" + H + b"NoColonHere\r\n\r\n",
    "empty header name": b"GET /env HTTP/1.1\r\n" + H + b": value\r\n\r\n",
    "invalid method": b"G@T /env HTTP/1.1\r\n" + H + b"\r\n",
    "control character in the method": b"GE\x01T /env HTTP/1.1\r\n" + H + b"\r\n",
    "lowercase protocol name": b"GET /env http/1.1\r\n" + H + b"\r\n",
    "non-numeric version": b"GET /env HTTP/1.x\r\n" + H + b"\r\n",
    "version without a dot": b"GET /env HTTP/11\r\n" + H + b"\r\n",
    "wrong protocol name": b"GET /env HTTX/1.1\r\n" + H + b"\r\n",
    "target without a leading slash": b"GET env HTTP/1.1\r\n" + H + b"\r\n",
    "space in the target": b"GET /env/a b HTTP/1.1\r\n" + H + b"\r\n",
    "control character in the target": b"GET /env/a\x01b HTTP/1.1\r\n" + H + b"\r\n",
    "DEL in the target": b"GET /env/a\x7fb HTTP/1.1\r\n" + H + b"\r\n",
    "NUL in the target": b"GET /env/a\x00b HTTP/1.1\r\n" + H + b"\r\n",
    # README: raw bytes above 0x7E are refused in the target (nginx takes them); %-encoded is fine.
    "raw UTF-8 in the target": b"GET /env/caf\xc3\xa9 HTTP/1.1\r\n" + H + b"\r\n",
    # As nginx: the path as PATH_INFO would carry it cannot climb above "/" or hold a NUL.
    "dot-dot above the root": b"GET /env/../../etc/passwd HTTP/1.1\r\n" + H + b"\r\n",
    "encoded dot-dot above the root": b"GET /%2e%2e/etc/passwd HTTP/1.1\r\n" + H + b"\r\n",
    "encoded NUL in the path": b"GET /env/a%00b HTTP/1.1\r\n" + H + b"\r\n",
}


@pytest.fixture(scope="module")
def shared(module_tmp, module_procs):
    """One HTTP ferry for the tests that only send requests (keeps the malformed cases
    fast): Served, with its log in the module's directory."""
    port = free_port()
    addr = f"127.0.0.1:{port}"
    f = Ferry(module_procs, module_tmp, http_ini(module_tmp, port, "threads = 4"),
              sockets=[addr]).start()
    return Served(f, addr, port)


@pytest.mark.parametrize("name", list(MALFORMED))
def test_malformed_request_gets_400_and_a_closed_connection(shared, name):
    with RawHttp(shared.addr) as c:
        try:
            c.send(MALFORMED[name])
        except (BrokenPipeError, ConnectionResetError):
            pass
        r = c.read_response(timeout=10)
        assert r.status == 400, f"{name}: {r.status} {r.headers} {r.body[:300]!r}"
        assert_date(r)
        rest = c.wait_closed(timeout=10)
        assert not re.search(rb"HTTP/1\.[01] \d{3}", rest), \
            f"{name}: a second response (smuggled request?): {rest[:300]!r}"
    # The listener and the worker are fine afterwards.
    r = http_raw_get(shared.addr, "/after")
    assert (r.status, r.body) == (200, b"app:/after")


def test_malformed_request_after_a_good_one_on_the_same_connection(shared):
    with RawHttp(shared.addr) as c:
        c.send(http_request_bytes("GET", "/first") + b"GET /env HTTP/1.1\r\n" + H
               + b"X-A: a\x01b\r\n\r\n")
        r = c.read_response()
        assert (r.status, r.body) == (200, b"app:/first")
        r = c.read_response()
        assert r.status == 400
        c.wait_closed(timeout=10)


# --------------------------------------------------------------------------------------
# 2. Parsing: limits


def test_head_over_buffer_size_is_431(serve):
    s = serve("buffer-size = 8192")
    # Under buffer-size: accepted whole (more than uWSGI's default of 4096).
    env = env_of(http_raw_get(s.addr, "/env", headers=[("X-Big", "a" * 6000)]))
    assert env["http"]["HTTP_X_BIG"] == "a" * 6000
    with RawHttp(s.addr) as c:
        c.send(http_request_bytes("GET", "/env", headers=[("X-Big", "b" * 10000)]))
        r = c.read_response()
        assert r.status == 431, (r.status, r.headers, r.body[:300])
        assert_date(r)
    assert http_raw_get(s.addr, "/still").status == 200


def test_huge_head_is_431_by_default(serve):
    s = serve()
    with RawHttp(s.addr) as c:
        c.send(http_request_bytes("GET", "/env", headers=[("Cookie", "c" * 70000)]))
        r = c.read_response()
        assert r.status == 431, (r.status, r.headers, r.body[:300])
    assert http_raw_get(s.addr, "/still").status == 200


def test_request_target_over_buffer_size_is_414(serve):
    s = serve("buffer-size = 8192")
    env = env_of(http_raw_get(s.addr, "/env/" + "a" * 6000))
    assert env["PATH_INFO"] == "/env/" + "a" * 6000
    with RawHttp(s.addr) as c:
        c.send(http_request_bytes("GET", "/env/" + "u" * 10000))
        r = c.read_response()
        assert r.status == 414, (r.status, r.headers, r.body[:300])
        assert_date(r)
    assert http_raw_get(s.addr, "/still").status == 200


def test_more_than_100_header_fields_is_431(serve):
    s = serve()
    # Host plus 99 more: 100 fields, accepted.
    hundred = [(f"X-H{i}", str(i)) for i in range(99)]
    env = env_of(http_raw_get(s.addr, "/env", headers=hundred))
    assert env["http"]["HTTP_X_H98"] == "98"
    with RawHttp(s.addr) as c:
        c.send(http_request_bytes("GET", "/env", headers=hundred + [("X-One-Too-Many", "x")]))
        r = c.read_response()
        assert r.status == 431, (r.status, r.headers, r.body[:300])
    assert http_raw_get(s.addr, "/still").status == 200


def test_body_over_limit_post_is_413(serve):
    s = serve("limit-post = 1000")
    body = os.urandom(1000)
    env = env_of(http_raw_get(s.addr, "/env", method="POST", body=body))
    assert env["body_sha256"] == hashlib.sha256(body).hexdigest()
    with RawHttp(s.addr) as c:
        # The head alone decides: the server must not wait for the body.
        c.send(http_request_bytes("POST", "/env", headers=[("Content-Length", "1001")]))
        r = c.read_response(timeout=5)
        assert r.status == 413, (r.status, r.headers, r.body[:300])
        assert_date(r)
    assert http_raw_get(s.addr, "/still").status == 200


def test_expect_continue_over_limit_post_is_413_without_continue(serve):
    s = serve("limit-post = 1000")
    with RawHttp(s.addr) as c:
        c.send(http_request_bytes("POST", "/env", headers=[
            ("Content-Length", "5000"), ("Expect", "100-continue")]))
        r = c.read_response(timeout=5)
        assert r.status == 413, f"expected 413 and no 100 Continue, got {r.status} {r.headers}"


@pytest.mark.parametrize("sizes,expected", [([300, 300, 300], 200), ([600, 600, 600], 413)])
def test_chunked_body_past_limit_post_is_413(serve, sizes, expected):
    s = serve("limit-post = 1000", "post-buffering = 65536")
    body = os.urandom(sum(sizes))
    with RawHttp(s.addr) as c:
        c.send(http_request_bytes("POST", "/env", headers=[("Transfer-Encoding", "chunked")],
                                  body=chunked_body(body, sizes)))
        r = c.read_response()
        assert r.status == expected, (r.status, r.headers, r.body[:300])
        if expected == 200:
            assert r.json()["body_sha256"] == hashlib.sha256(body).hexdigest()
    assert http_raw_get(s.addr, "/still").status == 200


# --------------------------------------------------------------------------------------
# 2. Parsing: Expect: 100-continue and chunked request bodies


def read_exact_continue(c, timeout=5.0):
    """Reads the interim response byte for byte: exactly HTTP/1.1 100 Continue."""
    want = b"HTTP/1.1 100 Continue\r\n\r\n"
    deadline = time.monotonic() + timeout
    while len(c.buf) < len(want) and want.startswith(c.buf):
        assert c._fill(deadline), f"closed before 100 Continue; got {c.buf!r}"
    assert c.buf[:len(want)] == want, f"expected {want!r} first, got {c.buf[:200]!r}"
    c.buf = c.buf[len(want):]


@pytest.mark.parametrize("buffering", [None, 65536], ids=["streamed", "post-buffering"])
@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_expect_100_continue(serve, buffering, framing):
    s = serve(*([f"post-buffering = {buffering}"] if buffering else []))
    body = os.urandom(200_000)
    if framing == "chunked":
        headers, wire = [("Transfer-Encoding", "chunked")], chunked_body(body, [7000, 1, 33333])
    else:
        headers, wire = [("Content-Length", str(len(body)))], body
    with RawHttp(s.addr) as c:
        c.send(http_request_bytes("POST", "/env", headers=headers + [("Expect", "100-continue")]))
        read_exact_continue(c)
        c.send(wire)
        interim, r = c.read_final()
        assert interim == []
        env = env_of(r)
        assert env["body_length"] == len(body)
        assert env["body_sha256"] == hashlib.sha256(body).hexdigest()
        # The connection goes on.
        assert c.request("GET", "/next").body == b"app:/next"


def test_no_interim_response_without_expect(serve):
    s = serve()
    with RawHttp(s.addr) as c:
        c.send(http_request_bytes("POST", "/env", body=b"x" * 5000))
        interim, r = c.read_final()
        assert interim == [] and env_of(r)["body_length"] == 5000


@pytest.mark.parametrize("buffering", [None, 65536], ids=["streamed", "post-buffering"])
@pytest.mark.parametrize("size", [0, 1, 100 * 1024, 5 * 1024 * 1024])
def test_chunked_upload_reaches_wsgi_input(serve, size, buffering):
    s = serve(*([f"post-buffering = {buffering}"] if buffering else []))
    rng = random.Random(size)
    body = rng.randbytes(size)
    sizes = [rng.randint(1, 70000) for _ in range(300)]
    with RawHttp(s.addr, timeout=60) as c:
        c.send(http_request_bytes("POST", "/env", headers=[
            ("Transfer-Encoding", "chunked"), ("Content-Type", "application/octet-stream")],
            body=chunked_body(body, sizes)))
        env = env_of(c.read_response())
        assert env.get("CONTENT_LENGTH", "") == "", env
        assert env["wsgi.input_terminated"] is True
        assert env["CONTENT_TYPE"] == "application/octet-stream"
        assert env["body_length"] == size
        assert env["body_sha256"] == hashlib.sha256(body).hexdigest()
        # Keep-alive after a chunked body: the next request parses from the right byte.
        assert c.request("GET", "/next").body == b"app:/next"


def test_chunk_extensions_and_trailers_are_accepted(serve):
    s = serve()
    body = b"hello, chunked world"
    wire = chunked_body(body, [5, 3], ext=";name=value", trailers=[("X-Trailer", "t")])
    with RawHttp(s.addr) as c:
        c.send(http_request_bytes("POST", "/env", headers=[("Transfer-Encoding", "chunked")],
                                  body=wire) + http_request_bytes("GET", "/after"))
        env = env_of(c.read_response())
        assert env["body_head"] == body.decode() and env["wsgi.input_terminated"] is True
        assert c.read_response().body == b"app:/after"


@pytest.mark.parametrize("ext", [" ; name=value", "; a; b=c", ";a=b;c", "\t;\tq = \"x ; y\" ; z"])
def test_chunk_extensions_with_whitespace_are_accepted_and_ignored(shared, ext):
    """RFC 9112 7.1.1 allows BWS around ';' and '=' (llhttp 8.1 alone refuses it)."""
    body = b"hello, chunked world"
    wire = chunked_body(body, [5, 3], ext=ext)
    with RawHttp(shared.addr) as c:
        c.send(http_request_bytes("POST", "/env", headers=[("Transfer-Encoding", "chunked")], body=wire)
               + http_request_bytes("GET", "/after"))
        assert env_of(c.read_response())["body_head"] == body.decode()
        assert c.read_response().body == b"app:/after"


@pytest.mark.parametrize("chunk_line", [b"5 \r\n", b"5 0\r\n", b"5;a b\r\n", b"5;a=\"b\r\n"])
def test_malformed_chunk_extensions_get_400(shared, chunk_line):
    with RawHttp(shared.addr) as c:
        c.send(b"POST /env HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n" + chunk_line
               + b"hello\r\n0\r\n\r\n" + SMUGGLED)
        r = c.read_response(timeout=10)
        assert r.status == 400, (r.status, r.body[:300])
        assert not re.search(rb"HTTP/1\.[01] \d{3}", c.wait_closed(timeout=10))


@pytest.mark.parametrize("method", [b"-BLARGH", b"get", b"PURGEX", b"DESCRIBE"])
def test_a_method_token_llhttp_does_not_know_gets_501(shared, method):
    """RFC 9110 allows any token as a method; one the server does not implement is 501
    (15.6.2), not a malformed request."""
    with RawHttp(shared.addr) as c:
        c.send(method + b" /env HTTP/1.1\r\n" + H + b"\r\n")
        r = c.read_response(timeout=10)
        assert r.status == 501, (r.status, r.body[:300])
        assert r.body == b"Not Implemented\n"
        c.wait_closed(timeout=10)
    shared.ferry.wait_log(re.escape(f"method {method.decode()} is not implemented"))
    r = http_raw_get(shared.addr, "/after")
    assert (r.status, r.body) == (200, b"app:/after")


def test_content_length_body_reaches_wsgi_input(serve):
    s = serve()
    body = os.urandom(300_000)
    env = env_of(http_raw_get(s.addr, "/env", method="POST", body=body, headers=[
        ("Content-Type", "application/x-test")]))
    assert env["CONTENT_LENGTH"] == str(len(body))
    assert env["CONTENT_TYPE"] == "application/x-test"
    assert env["body_sha256"] == hashlib.sha256(body).hexdigest()


# --------------------------------------------------------------------------------------
# 3. Connections: keep-alive, pipelining, close


def test_http11_keeps_the_connection_alive(serve):
    s = serve()
    with RawHttp(s.addr) as c:
        for i in range(10):
            r = c.request("GET", f"/env/{i}")
            env = env_of(r)
            assert env["PATH_INFO"] == f"/env/{i}"
            assert env["REMOTE_PORT"] == str(c.local_port), "a new connection?"
            assert "close" not in connection_tokens(r), r.headers
        assert c.is_open(0.3)


def test_http10_keep_alive_on_request(serve):
    s = serve()
    with RawHttp(s.addr) as c:
        for i in range(3):
            r = c.request("GET", f"/sized?n={100 + i}", version="HTTP/1.0",
                          headers=[("Connection", "keep-alive")])
            assert r.status == 200 and r.body == pattern_bytes(100 + i)
            assert r.header("Content-Length") == str(100 + i)
            # An HTTP/1.0 client keeps the connection only when told so.
            assert "keep-alive" in connection_tokens(r), r.headers
            assert not r.chunked
        assert c.is_open(0.3)


def test_http10_without_keep_alive_closes(serve):
    s = serve()
    with RawHttp(s.addr) as c:
        r = c.request("GET", "/sized?n=10", version="HTTP/1.0")
        assert r.body == pattern_bytes(10)
        c.wait_closed(timeout=5)


@pytest.mark.parametrize("version", ["HTTP/1.0", "HTTP/1.1"])
def test_connection_close_from_the_client(serve, version):
    s = serve()
    with RawHttp(s.addr) as c:
        r = c.request("GET", "/sized?n=10", version=version, headers=[("Connection", "close")])
        assert r.body == pattern_bytes(10)
        assert c.wait_closed(timeout=5) == b""


def test_http_keepalive_zero_closes_after_every_response(serve):
    s = serve("http-keepalive = 0")
    with RawHttp(s.addr) as c:
        r = c.request("GET", "/sized?n=10")
        assert r.body == pattern_bytes(10)
        assert "close" in connection_tokens(r), r.headers
        c.wait_closed(timeout=5)


def test_idle_keep_alive_connection_is_closed_after_http_keepalive(serve):
    s = serve("http-keepalive = 2")
    with RawHttp(s.addr) as c:
        assert c.request("GET", "/one").body == b"app:/one"
        time.sleep(0.7)  # the subject: an idle spell well within http-keepalive
        assert c.request("GET", "/two").body == b"app:/two"  # still usable after it
        # Others are served meanwhile.
        assert http_raw_get(s.addr, "/other").body == b"app:/other"
        c.wait_closed(timeout=2 + 2)  # fails if ferry never closes the idle connection
    assert http_raw_get(s.addr, "/after").status == 200


def test_pipelined_requests_are_answered_in_order(serve):
    s = serve("threads = 4")
    post_body = os.urandom(20000)
    with RawHttp(s.addr) as c:
        c.send(http_request_bytes("GET", "/sleep?s=0.5")
               + http_request_bytes("POST", "/env/post", body=post_body)
               + http_request_bytes("GET", "/stream?n=4&size=100")
               + http_request_bytes("HEAD", "/sized?n=50")
               + http_request_bytes("POST", "/env/chunked", headers=[
                   ("Transfer-Encoding", "chunked")], body=chunked_body(b"abc" * 100, [7]))
               + http_request_bytes("GET", "/env/last"))
        r = c.read_response()
        assert r.status == 200 and r.body.startswith(b"slept"), r.body
        env = env_of(c.read_response())
        assert env["PATH_INFO"] == "/env/post"
        assert env["body_sha256"] == hashlib.sha256(post_body).hexdigest()
        r = c.read_response()
        assert r.body == stream_body(4, 100)
        r = c.read_response(head=True)
        assert (r.status, r.header("Content-Length"), r.body) == (200, "50", b"")
        env = env_of(c.read_response())
        assert env["PATH_INFO"] == "/env/chunked" and env["body_length"] == 300
        env = env_of(c.read_response())
        assert env["PATH_INFO"] == "/env/last"
        assert c.is_open(0.3)


# --------------------------------------------------------------------------------------
# 3. Responses: framing, Date, HEAD


def test_response_without_length_is_chunked_on_http11(serve):
    s = serve()
    with RawHttp(s.addr) as c:
        r = c.request("GET", "/stream?n=6&size=1000")
        assert r.status == 200
        assert r.chunked, r.headers
        assert r.header("Content-Length") is None
        assert r.body == stream_body(6, 1000)
        assert all(n > 0 for n in r.chunk_sizes)
        assert_date(r)
        # The terminating chunk came exactly once: the next response parses.
        assert c.request("GET", "/next").body == b"app:/next"


def test_response_without_length_is_close_delimited_on_http10(serve):
    s = serve()
    with RawHttp(s.addr) as c:
        r = c.request("GET", "/stream?n=6&size=1000", version="HTTP/1.0",
                      headers=[("Connection", "keep-alive")])
        assert r.status == 200
        assert r.header("Transfer-Encoding") is None, "no chunking towards HTTP/1.0"
        assert r.close_delimited
        assert r.body == stream_body(6, 1000)


def test_response_with_content_length_keeps_it(serve):
    s = serve()
    with RawHttp(s.addr) as c:
        r = c.request("GET", "/sized?n=12345")
        assert r.header("Content-Length") == "12345"
        assert not r.chunked and r.header("Transfer-Encoding") is None
        assert r.body == pattern_bytes(12345)
        assert_date(r)


@pytest.mark.parametrize("cl", ["0", "1"])
def test_large_responses(serve, cl):
    s = serve()
    n = 8_000_000 + 123
    with RawHttp(s.addr, timeout=60) as c:
        r = c.request("GET", f"/big?n={n}&cl={cl}")
        assert r.status == 200 and len(r.body) == n
        assert r.chunked == (cl == "0")
        assert hashlib.sha256(r.body).digest() == hashlib.sha256(pattern_bytes(n)).digest()
        assert c.request("GET", "/next").body == b"app:/next"


def test_date_header_on_app_responses(serve):
    s = serve()
    with RawHttp(s.addr) as c:
        for target in ("/", "/status?code=404+Not+Found", "/status?code=500+Oops", "/stream"):
            r = c.request("GET", target)
            assert_date(r)
        r = c.request("GET", "/status?code=404+Not+Found")
        assert (r.status, r.reason) == (404, "Not Found")


@pytest.mark.parametrize("target,length", [("/sized?n=100", "100"), ("/stream", None)])
def test_head_has_headers_but_no_body(serve, target, length):
    s = serve()
    with RawHttp(s.addr) as c:
        for _ in range(2):
            r = c.request("HEAD", target)
            assert r.status == 200
            if length is not None:
                assert r.header("Content-Length") == length
            assert_date(r)
            # No body bytes: the next response on this connection parses from its start.
            r = c.request("GET", "/sized?n=7")
            assert r.body == pattern_bytes(7)
        assert c.is_open(0.3)


# --------------------------------------------------------------------------------------
# 3. environ


def test_environ_remote_address_and_scheme(serve):
    s = serve()
    with RawHttp(s.addr) as c:
        env = env_of(c.request("GET", "/env"))
        assert env["REMOTE_ADDR"] == "127.0.0.1"
        assert env["REMOTE_PORT"] == str(c.local_port)
        assert env["wsgi.url_scheme"] == "http"
        assert env["SERVER_PROTOCOL"] == "HTTP/1.1"
        assert env.get("SCRIPT_NAME", "") == ""
        assert env["http"]["HTTP_HOST"] == "127.0.0.1"
        env = env_of(c.request("GET", "/env", version="HTTP/1.0",
                               headers=[("Connection", "keep-alive")]))
        assert env["SERVER_PROTOCOL"] == "HTTP/1.0"


def test_server_name_and_port_from_host(serve):
    s = serve()
    env = env_of(http_raw_get(s.addr, "/env", host="example.com:1234"))
    assert (env["SERVER_NAME"], env["SERVER_PORT"]) == ("example.com", "1234")
    assert env["http"]["HTTP_HOST"] == "example.com:1234"
    env = env_of(http_raw_get(s.addr, "/env", host="example.org"))
    assert env["SERVER_NAME"] == "example.org"


def test_http10_without_host_uses_the_listener(serve):
    s = serve()
    env = env_of(http_raw_get(s.addr, "/env", version="HTTP/1.0", host=None))
    assert (env["SERVER_NAME"], env["SERVER_PORT"]) == ("127.0.0.1", str(s.port))
    assert "HTTP_HOST" not in env["http"]


def test_repeated_headers_are_merged(serve):
    s = serve()
    env = env_of(http_raw_get(s.addr, "/env", headers=[("X-Multi", "a"), ("X-Other", "o"),
                                                       ("X-Multi", "b")]))
    assert env["http"]["HTTP_X_MULTI"] == "a, b"
    assert env["http"]["HTTP_X_OTHER"] == "o"


def test_headers_with_underscores_are_dropped(serve):
    s = serve()
    env = env_of(http_raw_get(s.addr, "/env", headers=[
        ("X-Evil", "good"), ("X_Evil", "bad"), ("X_Only_Underscores", "bad")]))
    assert env["http"]["HTTP_X_EVIL"] == "good"
    assert "HTTP_X_ONLY_UNDERSCORES" not in env["http"]
    assert not [k for k, v in env["http"].items() if "bad" in v], env["http"]


@pytest.mark.parametrize("target,name,port", [
    ("http://example.com/env/p/q?x=1", "example.com", None),
    ("http://example.com:8080/env/p/q?x=1", "example.com", "8080"),
])
def test_absolute_form_target(serve, target, name, port):
    s = serve()
    # RFC 9112 3.2.2: the target's authority wins over Host.
    env = env_of(http_raw_get(s.addr, target, host="ignored.invalid"))
    assert env["PATH_INFO"] == "/env/p/q"
    assert env["QUERY_STRING"] == "x=1"
    assert env["SERVER_NAME"] == name
    if port:
        assert env["SERVER_PORT"] == port


@pytest.mark.parametrize("target,query", [("/env/p?x=1#frag", "x=1"),
                                          ("/env/p#frag?y=2", ""),
                                          ("/env/p?#frag", "")])
def test_fragment_never_reaches_query_string(serve, target, query):
    s = serve()
    r = http_raw_get(s.addr, target)
    # Refusing a fragment in a request target is fine; passing it to the app is not.
    assert r.status in (200, 400), (r.status, r.body[:300])
    if r.status == 200:
        env = r.json()
        assert env["QUERY_STRING"] == query
        assert env["PATH_INFO"] == "/env/p"
        assert "frag" not in json.dumps({k: v for k, v in env.items() if k != "REQUEST_URI"})


def test_path_info_is_decoded_and_request_uri_raw(serve):
    s = serve()
    env = env_of(http_raw_get(s.addr, "/env/a%20b/caf%C3%A9?q=%20x&r=%2F"))
    assert env["PATH_INFO"] == "/env/a b/café".encode().decode("latin-1")
    assert env["REQUEST_URI"] == "/env/a%20b/caf%C3%A9?q=%20x&r=%2F"
    assert env["QUERY_STRING"] == "q=%20x&r=%2F"


# --------------------------------------------------------------------------------------
# 4. Slow and hostile clients


def test_stalled_head_is_closed_after_http_timeout(serve):
    s = serve("http-timeout = 2")
    with RawHttp(s.addr) as c:
        c.send(b"GET /env HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Half: ")
        # Meanwhile the one worker serves others.
        assert http_raw_get(s.addr, "/other", timeout=5).body == b"app:/other"
        c.wait_closed(timeout=2 + 2)  # fails if ferry never cuts the stalled head
    assert http_raw_get(s.addr, "/after").status == 200


def test_dribbling_head_is_closed_after_http_timeout(serve):
    """A byte every 300 ms never completes the head: the timeout is for the whole head,
    not per byte."""
    s = serve("http-timeout = 2")
    line = b"GET /env HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 100
    with RawHttp(s.addr) as c:
        sent, closed = 0, False
        for byte in line:
            try:
                c.send(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            sent += 1
            if not c.is_open(0.3):  # the client's pace: a byte every 300 ms at most
                closed = True
                break
        # Counted in bytes, not seconds: a byte goes at most every 0.3 s, so a timeout of 2 s
        # for the whole head cuts the client after some 7 bytes, 13 with 2 s of slack (a
        # per-byte timeout never would), long before its 100-odd bytes are all sent.
        assert closed, f"the dribbling client was never cut ({sent} bytes sent)"
        assert sent <= (2 + 2) / 0.3, f"cut only after {sent} bytes: is the timeout per byte?"
    assert http_raw_get(s.addr, "/after").status == 200


def test_stalled_body_is_closed_after_http_timeout(serve):
    """Under post-buffering the body is read before the app runs: a client that stops
    sending it is cut, and the worker was never tied up."""
    s = serve("http-timeout = 2", "post-buffering = 65536")
    with RawHttp(s.addr) as c:
        c.send(http_request_bytes("POST", "/env", headers=[("Content-Length", "1000")])
               + b"0123456789")
        assert http_raw_get(s.addr, "/other", timeout=5).body == b"app:/other"
        c.wait_closed(timeout=2 + 2)  # fails if ferry never cuts the stalled body
    assert http_raw_get(s.addr, "/after").status == 200


def test_silent_connection_is_closed(serve):
    s = serve("http-timeout = 2", "http-keepalive = 2")
    with RawHttp(s.addr) as c:
        assert http_raw_get(s.addr, "/other", timeout=5).body == b"app:/other"
        c.wait_closed(timeout=2 + 2)  # fails if ferry never closes the silent connection


@pytest.fixture
def many_fds():
    """Raises this process's soft RLIMIT_NOFILE (inherited by the ferry a test starts)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 8192 if hard == resource.RLIM_INFINITY else min(hard, 8192)
    if soft != resource.RLIM_INFINITY and soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


class Dribblers:
    """Raw connections each sending one more byte of a never-ending head every `every`
    seconds, from a thread; records when each one is found closed."""

    def __init__(self, addr, n, every=0.3):
        self.socks = [connect(addr, 10) for _ in range(n)]
        for s in self.socks:
            s.settimeout(None)  # so that MSG_DONTWAIT alone decides: never wait in recv
        self.started = [time.monotonic()] * n
        self.closed_at = [None] * n
        self.every = every
        self.sent = [0] * n
        self.prefix = b"GET /env HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self.started = [time.monotonic()] * len(self.socks)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(10)
        for s in self.socks:
            s.close()

    def open_count(self):
        return sum(t is None for t in self.closed_at)

    def _run(self):
        while not self._stop.is_set():
            for i, s in enumerate(self.socks):
                if self.closed_at[i] is not None:
                    continue
                try:
                    while True:  # drain whatever the server said (a 408, say)
                        data = s.recv(65536, socket.MSG_DONTWAIT)
                        if not data:
                            raise ConnectionResetError
                except BlockingIOError:
                    pass
                except OSError:
                    self.closed_at[i] = time.monotonic()
                    continue
                k = self.sent[i]
                byte = self.prefix[k:k + 1] or b"a"
                try:
                    s.send(byte)
                    self.sent[i] += 1
                except OSError:
                    self.closed_at[i] = time.monotonic()
            self._stop.wait(self.every)


def test_slowloris_does_not_tie_up_the_only_worker(serve, many_fds):
    timeout = 5
    s = serve("threads = 1", f"http-timeout = {timeout}", f"http-keepalive = {timeout}")
    idle = []
    try:
        idle_start = time.monotonic()
        for _ in range(1000):
            idle.append(connect(s.addr, 10))
        idle_done = time.monotonic()
        served_while_all_open = 0
        with Dribblers(s.addr, 20) as dribblers:
            wait_until(lambda: min(dribblers.sent) >= 2, 5, message="the dribblers to start")
            for i in range(50):
                status, _, body = http_request(s.port, "GET", f"/n{i}", timeout=10)
                assert (status, body) == (200, f"app:/n{i}".encode()), (i, status, body[:200])
                # Answered while every dribbler still held its connection: the only
                # worker thread was not tied up by them (else answers would come only
                # once http-timeout had cut them).
                served_while_all_open += dribblers.open_count() == 20
            assert served_while_all_open >= 25, \
                f"only {served_while_all_open} of 50 requests answered while the dribblers were on"
            # And they are cut once http-timeout has passed.
            try:
                wait_until(lambda: dribblers.open_count() == 0, timeout + 2 + 1, interval=0.1,
                           message="every dribbler to be cut")
            except AssertionError:
                pass  # the next assertion says which ones and how long they lasted
            late = [(i, (c or time.monotonic()) - t0) for i, (c, t0)
                    in enumerate(zip(dribblers.closed_at, dribblers.started))
                    if c is None or c - t0 > timeout + 2]
            assert not late, f"dribblers not closed within {timeout} + 2 s: {late}"
        # The idle connections are closed too (never a byte sent: header or idle timeout).
        sel = selectors.DefaultSelector()
        for sock in idle:
            sock.setblocking(False)
            sel.register(sock, selectors.EVENT_READ)
        pending = set(idle)
        deadline = idle_done + timeout + 2 + 1
        while pending and time.monotonic() < deadline:
            for key, _ in sel.select(timeout=0.2):
                sock = key.fileobj
                try:
                    data = sock.recv(65536)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                if not data:
                    sel.unregister(sock)
                    pending.discard(sock)
        sel.close()
        assert not pending, (f"{len(pending)} of 1000 idle connections still open "
                             f"{time.monotonic() - idle_start:.1f}s after they were opened")
        status, _, body = http_request(s.port, "GET", "/after", timeout=10)
        assert (status, body) == (200, b"app:/after")
        assert s.ferry.running()
    finally:
        for sock in idle:
            sock.close()


# --------------------------------------------------------------------------------------
# 6. Real clients: http.client and curl


def test_http_client_reuses_one_connection_for_20_requests(serve):
    s = serve()
    conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=10)
    try:
        ports = set()
        for i in range(20):
            conn.request("GET", f"/env/{i}")
            resp = conn.getresponse()
            env = json.loads(resp.read())
            assert resp.status == 200 and env["PATH_INFO"] == f"/env/{i}"
            assert not resp.will_close, resp.getheaders()
            ports.add(env["REMOTE_PORT"])
        assert ports == {str(conn.sock.getsockname()[1])}, "http.client had to reconnect"
    finally:
        conn.close()


def test_http_client_post_and_chunked_upload(serve):
    s = serve()
    conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=30)
    try:
        body = os.urandom(1024 * 1024)
        conn.request("POST", "/env/post", body=body,
                     headers={"Content-Type": "application/octet-stream"})
        resp = conn.getresponse()
        env = json.loads(resp.read())
        assert resp.status == 200
        assert env["CONTENT_LENGTH"] == str(len(body))
        assert env["body_sha256"] == hashlib.sha256(body).hexdigest()

        pieces = [os.urandom(n) for n in (1, 1000, 65536, 3)]
        conn.request("POST", "/env/chunked", body=iter(pieces), encode_chunked=True)
        resp = conn.getresponse()
        env = json.loads(resp.read())
        assert resp.status == 200
        assert env["wsgi.input_terminated"] is True
        assert env["body_sha256"] == hashlib.sha256(b"".join(pieces)).hexdigest()

        conn.request("GET", "/stream?n=3&size=5")
        resp = conn.getresponse()
        assert resp.read() == stream_body(3, 5)
    finally:
        conn.close()


def curl(*args, timeout=60):
    r = subprocess.run(["curl", "-sS", *map(str, args)], capture_output=True, timeout=timeout)
    assert r.returncode == 0, f"curl {args}: exit {r.returncode}\n{r.stderr.decode()}"
    return r


def header_blocks(dump: bytes):
    """curl -D output: [(status, {lowercase name: value})] per response, interim included."""
    blocks = []
    for block in dump.split(b"\r\n\r\n"):
        lines = block.decode("latin-1").split("\r\n")
        if not lines[0].startswith("HTTP/"):
            continue
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        blocks.append((int(lines[0].split()[1]), headers))
    return blocks


def test_curl_chunked_upload(serve, tmp):
    s = serve()
    body = os.urandom(3 * 1024 * 1024 + 17)
    (tmp / "upload.bin").write_bytes(body)
    curl("--http1.1", "-D", tmp / "h.txt", "-o", tmp / "b.json", "--data-binary",
         f"@{tmp / 'upload.bin'}", "-H", "Transfer-Encoding: chunked",
         "-H", "Content-Type: application/octet-stream", f"http://{s.addr}/env")
    (status, headers), = [b for b in header_blocks((tmp / "h.txt").read_bytes()) if b[0] >= 200]
    assert status == 200
    env = json.loads((tmp / "b.json").read_bytes())
    assert env["wsgi.input_terminated"] is True
    assert env.get("CONTENT_LENGTH", "") == ""
    assert env["body_sha256"] == hashlib.sha256(body).hexdigest()
    assert "date" in headers


def test_curl_expect_100_continue(serve, tmp):
    s = serve()
    body = os.urandom(500_000)
    (tmp / "upload.bin").write_bytes(body)
    # curl waits 30 s for the 100 before sending anyway: the dump shows whether it came.
    curl("--http1.1", "-D", tmp / "h.txt", "-o", tmp / "b.json", "--expect100-timeout", "30",
         "-H", "Expect: 100-continue", "--data-binary", f"@{tmp / 'upload.bin'}",
         f"http://{s.addr}/env")
    blocks = header_blocks((tmp / "h.txt").read_bytes())
    assert [b[0] for b in blocks] == [100, 200], blocks
    env = json.loads((tmp / "b.json").read_bytes())
    assert env["body_sha256"] == hashlib.sha256(body).hexdigest()


def test_curl_reuses_the_connection_and_reads_every_framing(serve, tmp):
    s = serve()
    r = curl("--http1.1", "-w", "%{http_code} %{num_connects} %{size_download}\\n",
             "-o", "/dev/null", f"http://{s.addr}/sized?n=1000",
             "-o", "/dev/null", f"http://{s.addr}/stream?n=50&size=100",
             "-o", "/dev/null", f"http://{s.addr}/big?n=300000")
    lines = r.stdout.decode().split()
    got = [tuple(lines[i:i + 3]) for i in range(0, len(lines), 3)]
    assert got == [("200", "1", "1000"), ("200", "0", str(len(stream_body(50, 100)))),
                   ("200", "0", "300000")], got
    r = curl("--http1.0", f"http://{s.addr}/stream?n=7&size=3")
    assert r.stdout == stream_body(7, 3)
    r = curl("--http1.1", "-I", f"http://{s.addr}/sized?n=4242")
    status, headers = header_blocks(r.stdout)[0]
    assert status == 200 and headers["content-length"] == "4242"


def test_curl_http2_upgrade_offer_is_answered_in_http11(serve, tmp):
    # curl --http2 on http:// offers h2c with "Connection: Upgrade, HTTP2-Settings". ferry
    # declines by answering in HTTP/1.1 (RFC 9110 7.8), and curl carries on with that.
    s = serve()
    r = curl("--http2", "-D", tmp / "h.txt", "-o", tmp / "b.json", "-w", "%{http_version}",
             f"http://{s.addr}/env/upgraded")
    assert r.stdout == b"1.1", r.stdout
    (status, headers), = header_blocks((tmp / "h.txt").read_bytes())
    assert status == 200
    env = json.loads((tmp / "b.json").read_bytes())
    assert env["PATH_INFO"] == "/env/upgraded"
    assert env["http"]["HTTP_UPGRADE"] == "h2c"


def test_websocket_upgrade_request_is_served_as_a_plain_request(serve):
    # A WSGI app cannot take over the socket: the handshake is an ordinary GET to it, and
    # the connection stays HTTP/1.1 for the next request.
    s = serve()
    with RawHttp(s.addr) as c:
        r = c.request("GET", "/env/ws", headers=[
            ("Connection", "Upgrade"), ("Upgrade", "websocket"), ("Sec-WebSocket-Version", "13"),
            ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")])
        assert r.status == 200
        env = env_of(r)
        assert env["http"]["HTTP_UPGRADE"] == "websocket" and env["http"]["HTTP_CONNECTION"] == "Upgrade"
        r = c.request("GET", "/sized?n=7")
        assert r.status == 200 and r.body == pattern_bytes(7)


def test_path_info_is_normalized_as_behind_nginx(ferry, nginx, tmp):
    # What the app sees must not depend on whether nginx is in front: PATH_INFO is the
    # decoded path with "." and ".." resolved and slashes merged; REQUEST_URI as sent.
    port = free_port()
    ini = basic_ini(tmp, f"http = 127.0.0.1:{port}", processes=1, module="httpapp")
    ferry(ini, sockets=[tmp / "s.sock", f"127.0.0.1:{port}"])
    front = nginx(tmp / "s.sock")
    targets = {"/env/a/../b/./c//d/": "/env/b/c/d/", "/env/%2e%2e/env/x": "/env/x",
               "/x/../env/caf%C3%A9": "/env/caf\u00c3\u00a9", "/env/.": "/env/",
               "/env/a%2fb/..": "/env/a/"}
    with RawHttp(f"127.0.0.1:{port}") as c:
        for target, path in targets.items():
            env = env_of(c.request("GET", target))
            assert (env["PATH_INFO"], env["REQUEST_URI"]) == (path, target)
            status, _, body = front.get(target)
            assert status == 200, (target, body[:200])
            assert json.loads(body)["PATH_INFO"] == path, f"nginx gives {target} another PATH_INFO"


def test_an_app_cannot_switch_protocols(serve):
    # After a websocket handshake reaches the app as a plain request, an app that answers
    # 101 would leave the client speaking another protocol to an HTTP/1.1 parser: 500.
    s = serve()
    with RawHttp(s.addr) as c:
        r = c.request("GET", "/status?code=101%20Switching%20Protocols",
                      headers=[("Connection", "Upgrade"), ("Upgrade", "websocket")])
        assert r.status == 500, r.headers
        r = c.request("GET", "/sized?n=3")  # the connection is still plain HTTP/1.1
        assert r.status == 200 and r.body == pattern_bytes(3)
    s.ferry.wait_log(r"a WSGI response cannot have a 1xx status")
