"""PEP 3333 conformance through the real binary (issue 3, sections 1-6): wsgi.input,
start_response, the response body, wsgi.file_wrapper, the environ, `import ferry`, and
limit-post. Each behaviour is driven with raw uwsgi packets on the Unix socket, and the
important ones also through a real nginx. The app is apps/pep3333app.py.

Most tests share one ferry (one worker, so state kept by the app between two requests is
seen by the second) and one nginx; each test looks only at the log written since it began.
"""

import hashlib
import http.client
import io
import json
import math
import os
import random
import re
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import quote

import pytest

from conftest import (FERRY_BIN, REQUEST_LINE_RE, Ferry, Nginx, ProcessTracker, basic_ini, connect, free_port,
                      nginx_vars, parse_http_response, raw_exchange, uwsgi_get, uwsgi_packet,
                      uwsgi_request, wait_until)

APP = "pep3333app"


# --------------------------------------------------------------------------------------
# Fixtures and helpers


@pytest.fixture(scope="module")
def stack():
    """One ferry worker running the app, and an nginx in front of it that accepts any body
    size and adds a custom uwsgi_param. Everything started here dies with the module."""
    tmp = Path(tempfile.mkdtemp(prefix="p", dir="/tmp"))  # short: Unix socket paths
    os.chmod(tmp, 0o755)
    tracker = ProcessTracker()
    try:
        f = Ferry(tracker, tmp, basic_ini(tmp, processes=1, module=APP)).start()
        ng = Nginx(tracker, tmp, str(tmp / "s.sock"),
                   extra_location='client_max_body_size 0; uwsgi_param X_CUSTOM "custom value";').start()
        files = tmp / "files"
        files.mkdir()
        yield SimpleNamespace(ferry=f, nginx=ng, tmp=tmp, sock=tmp / "s.sock", files=files)
    finally:
        tracker.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


def token():
    return uuid.uuid4().hex[:12]


class Since:
    """The ferry log and the nginx error log written after this point."""

    def __init__(self, f, ng=None):
        self.f, self.ng = f, ng
        # The master writes the workers' lines in batches, at most 5 ms apart: wait until
        # the log has been still for longer than that, so no line of an earlier request
        # lands after this point.
        self.log_at = len(f.log_text())
        still_since = time.monotonic()
        while time.monotonic() - still_since < 0.02:
            time.sleep(0.005)
            size = len(f.log_text())
            if size != self.log_at:
                self.log_at, still_since = size, time.monotonic()
        self.ng_at = len(ng.error_log()) if ng else 0

    def log(self):
        return self.f.log_text()[self.log_at:]

    def nginx_errors(self):
        return self.ng.error_log()[self.ng_at:]

    def request_logged(self, tok, timeout=10.0):
        """Waits for the request line of the request carrying `tok`; returns the new log.
        Everything a worker wrote for a request precedes its request line."""
        def find():
            text = self.log()
            return text if any(tok in line and REQUEST_LINE_RE.match(line) for line in text.splitlines()) else None
        try:
            return wait_until(find, timeout, message=f"the request line of {tok}")
        except AssertionError:
            raise AssertionError(f"no request line for {tok}; log since:\n{self.log()[-4000:]}")

    def assert_nginx_clean(self):
        bad = [line for line in self.nginx_errors().splitlines()
               if re.search(r"\[(error|crit|alert|emerg)\]|reset by peer|prematurely closed|upstream", line)]
        assert not bad, "nginx complained:\n" + "\n".join(bad)


def raw_get(sock, path, query="", method="GET", body=b"", timeout=10.0, extra_vars=(), **kw):
    vars = nginx_vars(path, method=method, query=query, body=body, **kw) + list(extra_vars)
    return uwsgi_request(sock, vars, body, timeout=timeout)


def raw_response(sock, path, query="", **kw):
    return parse_http_response(raw_get(sock, path, query, **kw))


def via_nginx(ng, method, target, headers=(), body=b"", timeout=15.0):
    """One HTTP/1.0 exchange with nginx on a raw socket: the exact bytes, never chunked."""
    head = f"{method} {target} HTTP/1.0\r\nHost: localhost\r\n".encode()
    for k, v in headers:
        head += k.encode("latin-1") + b": " + (v if isinstance(v, bytes) else v.encode("latin-1")) + b"\r\n"
    if body:
        head += f"Content-Length: {len(body)}\r\n".encode()
    return raw_exchange(("127.0.0.1", ng.port), head + b"\r\n" + body, timeout)


def ops_reference(body, ops):
    """What io.BytesIO (the reference file object) returns for the same ops."""
    f = io.BytesIO(body)
    out = []
    for op in filter(None, ops.split(",")):
        name, _, arg = op.partition(":")
        if name == "iter":
            value = list(f)
        elif name == "next":
            value = next(f)
        elif arg == "":
            value = getattr(f, name)()
        elif arg == "None":
            value = getattr(f, name)(None)
        else:
            value = getattr(f, name)(int(arg))
        if isinstance(value, list):
            out.append({"type": "list", "items": [{"type": "bytes", "value": v.decode("latin-1")} for v in value]})
        else:
            out.append({"type": "bytes", "value": value.decode("latin-1")})
    return out


def lines_body(seed, total):
    """A body of lines of varied length (some empty, some over 64 KB), `total` bytes."""
    rnd = random.Random(seed)
    out = bytearray()
    while len(out) < total:
        n = rnd.choice([0, 1, 7, 100, 5000, 16383, 16384, 65535, 65536, 70000])
        out += bytes([rnd.randrange(33, 127)]) * n + b"\n"
    return bytes(out[:total])


# --------------------------------------------------------------------------------------
# 1. wsgi.input

SMALL = b"first line\nsecond\n\nlast-no-newline"

OPS = [
    "read:5,read:3,read:1000,read",
    "read",
    "read:-1,read",
    "read:None,read:0,read:5",
    "read:0,read:1,read:None",
    "readline,readline:3,readline:100,readline,readline,readline,readline:5",
    "readline:0,readline,readline:-1",
    "readlines",
    "readlines:12,readlines",
    "readlines:1,readlines:0,readlines:-1",
    "iter",
    "read:3,iter,read",
    "readline:4,read",
    "next,read:2,readlines:1,read,readline",
    "read:-5,read",
    "readline:-3,readlines:-7",
]


@pytest.mark.parametrize("extra", [b"", b"EXTRA BYTES AFTER THE BODY\nMORE\n"], ids=["exact", "extra-after"])
@pytest.mark.parametrize("ops", OPS)
def test_input_methods_match_a_file(stack, ops, extra):
    """read/readline/readlines/iteration behave like a binary file holding exactly the body;
    bytes sent after CONTENT_LENGTH never reach the app."""
    vars = nginx_vars("/input/ops", method="POST", query=f"ops={ops}", body=SMALL)
    got = json.loads(parse_http_response(uwsgi_request(stack.sock, vars, SMALL + extra)).body)
    assert got["ops"] == ops_reference(SMALL, ops), f"ops {ops}"


@pytest.mark.parametrize("ops", [
    "readlines", "iter", "read:70000,readline,read", "readline:100000,readlines:200000,read",
    "read:1,readline,readline,readline,read:65536,readlines",
])
def test_input_methods_on_a_large_body(stack, ops):
    """Lines longer than the read-ahead and a body larger than the packet buffer."""
    body = lines_body(ops, 400_000)
    vars = nginx_vars("/input/ops", method="POST", query=f"ops={ops}", body=body)
    r = parse_http_response(uwsgi_request(stack.sock, vars, body + b"TRAILING GARBAGE\n"))
    got = r.json()["ops"]
    want = ops_reference(body, ops)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g == w, f"ops {ops}: got {str(g)[:300]} want {str(w)[:300]}"


def test_input_methods_through_nginx(stack):
    body = lines_body("nginx", 300_000)
    ops = "readline:10,readlines:100000,read:3,iter,read"
    raw = via_nginx(stack.nginx, "POST", f"/input/ops?ops={ops}", body=body)
    r = parse_http_response(raw)
    assert r.status == 200, raw[:500]
    assert r.json()["ops"] == ops_reference(body, ops)


def test_input_at_end_returns_empty_bytes_even_with_more_data_on_the_socket(stack):
    """read() at the end returns b'' at once instead of waiting for (or returning) the bytes
    that follow the body, even when they arrive in the same read as the packet."""
    body = b"0123456789"
    extra = b"X" * 5000
    ops = "read,read,read:10,readline,readlines,iter"
    vars = nginx_vars("/input/ops", method="POST", query=f"ops={ops}", body=body)
    # An app that waited for bytes past CONTENT_LENGTH would leave this client, which sends
    # nothing more, unanswered until its own timeout fails the request: a 200 with the
    # right ops means it never waited.
    r = parse_http_response(uwsgi_request(stack.sock, vars, body + extra, timeout=5))
    assert r.status == 200, "the app waited for bytes past CONTENT_LENGTH"
    ops_out = r.json()["ops"]
    assert ops_out[0] == {"type": "bytes", "value": "0123456789"}
    assert ops_out[1:] == [{"type": "bytes", "value": ""}] * 3 + [{"type": "list", "items": []}] * 2


@pytest.mark.parametrize("query", ["ops=read", "ops=readlines", "ops=iter", "ops=read:3,readline,read:7,read"])
def test_slow_body_is_read_completely(stack, query):
    """The client sends the body in pieces with pauses: the app still gets all of it."""
    body = b"".join(f"line {i} of a slow body\n".encode() for i in range(300))
    pieces = [body[i:i + len(body) // 6 + 1] for i in range(0, len(body), len(body) // 6 + 1)]
    vars = nginx_vars("/input/ops", method="POST", query=query, body=body)
    with connect(stack.sock, timeout=15) as s:
        # The pauses are the subject: a client sending its body slowly.
        s.sendall(uwsgi_packet(vars) + pieces[0][:7])
        time.sleep(0.15)
        s.sendall(pieces[0][7:])
        for piece in pieces[1:]:
            time.sleep(0.15)
            s.sendall(piece)
        chunks = []
        for _ in range(10_000):
            data = s.recv(65536)
            if not data:
                break
            chunks.append(data)
    r = parse_http_response(b"".join(chunks))
    assert r.status == 200, r.raw[:500]
    assert r.json()["ops"] == ops_reference(body, query[4:])


def test_input_is_bytes_only(stack):
    vars = nginx_vars("/input/ops", method="POST", query="ops=read:4,readline,readlines,iter,read", body=SMALL)
    ops = parse_http_response(uwsgi_request(stack.sock, vars, SMALL)).json()["ops"]
    types = [o["type"] for o in ops[:2] + ops[4:]] + [i["type"] for o in ops[2:4] for i in o["items"]]
    assert set(types) == {"bytes"}, ops


def test_input_used_after_its_request_raises_value_error(stack):
    body = b"some body\nline two\n"
    r = parse_http_response(raw_get(stack.sock, "/input/keep", method="POST", body=body))
    assert r.body == b"kept"
    r = raw_response(stack.sock, "/input/stale")
    assert r.json() == {name: "ValueError" for name in ("read", "read_n", "readline", "readlines", "iter")}


def worker_rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


def test_one_gigabyte_upload_streams_without_growing_the_worker(ferry, tmp):
    """1 GiB straight to the socket, as nginx would stream it, read in 64 KB chunks:
    the worker's RSS grows by less than 10 MB."""
    f = ferry(basic_ini(tmp, processes=1, module=APP, log=False))
    (worker,) = f.wait_workers(1)
    uwsgi_request(tmp / "s.sock", nginx_vars("/input/consume", method="POST", query="chunk=65536&nohash=1",
                                            body=b"x" * 300_000), body=b"x" * 300_000)
    rss_before = worker_rss_kb(worker)
    block = b"\xa5" * (1 << 20)
    total = 1024 * len(block)
    vars_ = nginx_vars("/input/consume", method="POST", query="chunk=65536&nohash=1", body=b"")
    vars_ = [(k, str(total) if k == "CONTENT_LENGTH" else v) for k, v in vars_]
    with connect(tmp / "s.sock", timeout=120) as s:
        s.sendall(uwsgi_packet(vars_))
        for _ in range(1024):
            s.sendall(block)
        response = parse_http_response(read_all(s))
    assert response.status == 200, response.body[:500]
    got = json.loads(response.body)
    assert got["length"] == total
    assert got["rss_peak_kb"] - got["rss_before_kb"] < 10 * 1024, got
    assert worker_rss_kb(worker) - rss_before < 10 * 1024


def read_all(s):
    data = b""
    while chunk := s.recv(65536):
        data += chunk
    return data


def test_large_upload_streams_without_growing_the_worker(ferry, nginx, tmp):
    """200 MB through nginx, read in 64 KB chunks: the worker's RSS grows by < 10 MB."""
    f = ferry(basic_ini(tmp, processes=1, module=APP))
    ng = nginx(tmp / "s.sock", extra_location="client_max_body_size 0;")
    (worker,) = f.wait_workers(1)
    # Warm up the code path, so imports and first-use allocations are not counted.
    status, _, data = ng.request("POST", "/input/consume?chunk=65536", body=os.urandom(300_000))
    assert status == 200, data[:500]
    rss_before = worker_rss_kb(worker)

    block = os.urandom(1 << 20)
    blocks = 200
    total = blocks * len(block)
    digest = hashlib.sha256()
    conn = http.client.HTTPConnection("127.0.0.1", ng.port, timeout=60)
    try:
        conn.putrequest("POST", "/input/consume?chunk=65536", skip_accept_encoding=True)
        conn.putheader("Content-Type", "application/octet-stream")
        conn.putheader("Content-Length", str(total))
        conn.endheaders()
        for _ in range(blocks):
            conn.send(block)
            digest.update(block)
        resp = conn.getresponse()
        status, payload = resp.status, resp.read()
    finally:
        conn.close()
    assert status == 200, payload[:500]
    got = json.loads(payload)
    rss_after = worker_rss_kb(worker)
    assert got["pid"] == worker
    assert got["length"] == total and got["sha256"] == digest.hexdigest()
    assert got["biggest_read"] == 65536 and got["reads"] == math.ceil(total / 65536)
    assert got["rss_peak_kb"] - got["rss_before_kb"] < 10 * 1024, got
    assert rss_after - rss_before < 10 * 1024, (rss_before, rss_after, got)

    # The control: an app that holds on to 30 MB of the body shows up in the same numbers.
    status, _, payload = ng.request("POST", f"/input/consume?chunk=65536&keep={30 << 20}",
                                    body=block * 40, timeout=30)
    assert status == 200, payload[:500]
    got = json.loads(payload)
    assert got["kept"] >= 30 << 20
    assert got["rss_peak_kb"] - got["rss_before_kb"] > 25 * 1024, got


def test_unread_body_gives_nginx_a_clean_response(stack):
    since = Since(stack.ferry, stack.nginx)
    for size in (20_000, 3_000_000, 20_000_000):
        status, _, data = stack.nginx.request("POST", "/input/ignore", body=os.urandom(size), timeout=30)
        assert (status, data) == (200, b"ignored the body"), size
    status, _, data = stack.nginx.get("/sr/twice")
    assert status == 200
    since.assert_nginx_clean()


def test_unread_body_raw_is_drained_before_close(stack):
    """The connection ends with a FIN, not a reset, after a body the app never read."""
    body = os.urandom(3_000_000)
    vars = nginx_vars("/input/ignore", method="POST", body=body)
    with connect(stack.sock, timeout=15) as s:
        s.sendall(uwsgi_packet(vars, body))
        chunks = []
        for _ in range(10_000):
            data = s.recv(65536)  # a ConnectionResetError here fails the test
            if not data:
                break
            chunks.append(data)
    assert parse_http_response(b"".join(chunks)).body == b"ignored the body"


# --------------------------------------------------------------------------------------
# 2. start_response


@pytest.mark.parametrize("status", ["200", "OK 200", "2000 X", "20 OK", "abc OK", "200\tOK",
                                    "200 OK\r\nX-Injected: yes", "200 OK\nX-Injected: yes", "200 OK\r",
                                    "200 O\x00K", "101 Switching Protocols", "100 Continue"])
def test_bad_status_is_a_500_with_a_value_error_logged(stack, status):
    since = Since(stack.ferry)
    tok = token()
    raw = raw_get(stack.sock, "/sr/status", query=f"s={quote(status)}&t={tok}")
    r = parse_http_response(raw)
    assert r.status == 500, raw[:500]
    assert b"X-Injected" not in raw and b"status accepted" not in raw
    log = since.request_logged(tok)
    assert re.search(r"^ValueError: ", log, re.M), log


def test_bytes_status_is_a_500(stack):
    since = Since(stack.ferry)
    r = raw_response(stack.sock, "/sr/bytes-status", query=f"t={(tok := token())}")
    assert r.status == 500
    assert re.search(r"^TypeError: ", since.request_logged(tok), re.M)


@pytest.mark.parametrize("status,code,reason", [("201 Created", 201, "Created"),
                                                ("599 A Reason With Spaces", 599, "A Reason With Spaces")])
def test_good_status_passes(stack, status, code, reason):
    r = raw_response(stack.sock, "/sr/status", query=f"s={quote(status)}")
    assert (r.status, r.reason, r.body) == (code, reason, b"status accepted")


HEADER_KINDS = ["str", "dict", "tuple_of_tuples", "list_of_lists", "three_tuple", "bytes_name", "bytes_value",
                "int_value", "non_latin1_value", "non_latin1_name", "crlf_value", "lf_value", "cr_value",
                "nul_value", "crlf_name", "lf_name", "nul_name", "colon_name", "hop_connection",
                "hop_transfer_encoding", "hop_transfer_encoding_lower", "hop_keep_alive", "hop_upgrade",
                "hop_te", "hop_trailer", "hop_proxy_authenticate"]


@pytest.mark.parametrize("kind", HEADER_KINDS)
def test_bad_headers_are_a_500_with_the_reason_logged(stack, kind):
    since = Since(stack.ferry)
    tok = token()
    raw = raw_get(stack.sock, "/sr/headers", query=f"kind={kind}&t={tok}")
    r = parse_http_response(raw)
    assert r.status == 500, raw[:500]
    assert b"headers accepted" not in raw
    assert b"X-Injected" not in raw, "response splitting"
    log = since.request_logged(tok)
    assert re.search(r"^(TypeError|ValueError): .", log, re.M), log


@pytest.mark.parametrize("kind", ["crlf_value", "lf_value", "cr_value", "nul_value", "crlf_name", "lf_name",
                                  "hop_transfer_encoding", "hop_connection"])
def test_bad_headers_through_nginx(stack, kind):
    raw = via_nginx(stack.nginx, "GET", f"/sr/headers?kind={kind}")
    r = parse_http_response(raw)
    assert r.status == 500, raw[:500]
    assert b"X-Injected" not in raw and b"headers accepted" not in raw
    assert r.header("X-A") is None


def test_exc_info_before_headers_replaces_the_response(stack):
    for raw in (raw_get(stack.sock, "/sr/exc-before"), via_nginx(stack.nginx, "GET", "/sr/exc-before")):
        r = parse_http_response(raw)
        assert (r.status, r.reason) == (500, "Broke Early"), raw[:500]
        assert r.header("X-Second") == "yes" and r.header("X-First") is None
        assert r.body == b"the replacement body"


def test_exc_info_after_headers_reraises_and_cuts_the_response(stack):
    since = Since(stack.ferry)
    tok = token()
    raw = raw_get(stack.sock, "/sr/exc-after", query=f"token={tok}")
    r = parse_http_response(raw)
    assert r.status == 200 and r.body == b"first part;", raw[:500]
    log = since.request_logged(tok)
    # The app's own exception, re-raised by start_response, is what the log shows.
    assert re.search(rf"^ValueError: late failure {tok}$", log, re.M), log
    assert "Traceback (most recent call last)" in log


def test_second_start_response_without_exc_info_raises(stack):
    r = raw_response(stack.sock, "/sr/twice")
    assert (r.status, r.body) == (200, b"second call raised RuntimeError")


@pytest.mark.parametrize("kind", ["list", "gen"])
def test_write_callable(stack, kind):
    r = raw_response(stack.sock, "/sr/write", query=f"kind={kind}")
    assert (r.status, r.body) == (200, b"abcd")
    status, _, body = stack.nginx.get(f"/sr/write?kind={kind}")
    assert (status, body) == (200, b"abcd")


def test_headers_wait_for_the_first_non_empty_chunk_so_a_later_error_is_a_500(stack):
    since = Since(stack.ferry)
    tok = token()
    raw = raw_get(stack.sock, "/sr/empty-then-raise", query=f"token={tok}")
    log = since.request_logged(tok)
    assert parse_http_response(raw).status == 500, (raw[:500], log)
    assert re.search(rf"^RuntimeError: failed after empty chunks {tok}$", log, re.M), log


def test_headers_wait_for_the_first_non_empty_chunk_so_exc_info_can_replace_them(stack):
    for raw in (raw_get(stack.sock, "/sr/empty-then-switch"), via_nginx(stack.nginx, "GET", "/sr/empty-then-switch")):
        r = parse_http_response(raw)
        assert (r.status, r.reason, r.body) == (503, "Switched", b"switched"), raw[:500]
        assert r.header("X-Second") == "yes" and r.header("X-First") is None


# --------------------------------------------------------------------------------------
# 3. The response body

KINDS_BODY = b"bytes;bytearray;memoryview;array;end"


@pytest.mark.parametrize("shape", ["list", "tuple", "gen"])
def test_bytes_like_chunks(stack, shape):
    r = raw_response(stack.sock, "/body/kinds", query=f"shape={shape}")
    assert (r.status, r.body) == (200, KINDS_BODY)
    status, _, body = stack.nginx.get(f"/body/kinds?shape={shape}")
    assert (status, body) == (200, KINDS_BODY)


def test_bare_bytes_body(stack):
    assert raw_response(stack.sock, "/body/bare-bytes").body == b"a bare bytes body"


def test_str_chunk_first_is_a_500(stack):
    since = Since(stack.ferry)
    tok = token()
    raw = raw_get(stack.sock, "/body/str", query=f"when=first&token={tok}")
    assert parse_http_response(raw).status == 500, raw[:500]
    assert b"a str chunk" not in raw
    assert re.search(r"^TypeError: ", since.request_logged(tok), re.M)


def test_str_chunk_later_cuts_the_response(stack):
    since = Since(stack.ferry)
    tok = token()
    r = raw_response(stack.sock, "/body/str", query=f"when=later&token={tok}")
    assert (r.status, r.body) == (200, b"first part;")
    assert re.search(r"^TypeError: ", since.request_logged(tok), re.M)


def mark_lines(path):
    try:
        return path.read_text().splitlines()
    except FileNotFoundError:
        return []


@pytest.mark.parametrize("query,status,body", [
    ("mode=normal", 200, b"one;two;three"),
    ("mode=raise&fail_at=0", 500, None),
    ("mode=raise&fail_at=1", 200, b"one;"),
])
def test_close_is_called_once(stack, query, status, body):
    since = Since(stack.ferry)
    tok = token()
    mark = stack.tmp / f"close-{tok}"
    r = raw_response(stack.sock, "/body/close", query=f"{query}&mark={mark}&t={tok}")
    assert r.status == status
    if body is not None:
        assert r.body == body
    wait_until(lambda: mark_lines(mark), 5, message="close()")
    # The request line comes after everything the worker did for the request: a second
    # close() would be in the marker file by then.
    since.request_logged(tok)
    assert len(mark_lines(mark)) == 1, mark_lines(mark)


def read_headers_then_close(s):
    buf = b""
    for _ in range(1000):
        data = s.recv(4096)
        assert data, f"closed before the headers: {buf!r}"
        buf += data
        if b"\r\n\r\n" in buf:
            return buf
    raise AssertionError("no end of headers")


@pytest.mark.parametrize("through", ["raw", "nginx"])
def test_client_gone_mid_response(stack, through):
    """close() once, one "client went away" line, no OSError raised into the app."""
    since = Since(stack.ferry)
    tok = token()
    mark = stack.tmp / f"gone-{tok}"
    query = f"mode=long&n=3000&mark={mark}&t={tok}"
    if through == "raw":
        s = connect(stack.sock, timeout=10)
        s.sendall(uwsgi_packet(nginx_vars("/body/close", query=query)))
    else:
        s = connect(("127.0.0.1", stack.nginx.port), timeout=10)
        s.sendall(f"GET /body/close?{query} HTTP/1.0\r\nHost: localhost\r\n\r\n".encode())
    try:
        assert read_headers_then_close(s).startswith(b"HTTP/1.1 200")
    finally:
        s.close()
    wait_until(lambda: mark_lines(mark), 10, message="close() after the client left")
    log = since.request_logged(tok)  # after everything done for the request, close() too
    assert len(mark_lines(mark)) == 1, mark_lines(mark)
    gone = [line for line in since.log().splitlines() if "client went away" in line]
    assert len(gone) == 1 and tok in gone[0], gone
    assert not re.search(r"OSError|BrokenPipe|ConnectionReset|Traceback", log), log


@pytest.mark.parametrize("shape", ["list", "gen"])
def test_more_than_content_length_is_cut_at_the_declared_length(stack, shape):
    since = Since(stack.ferry)
    tok = token()
    raw = raw_get(stack.sock, "/body/length", query=f"declared=5&actual=12&shape={shape}&t={tok}")
    r = parse_http_response(raw)
    assert (r.status, r.header("Content-Length"), r.body) == (200, "5", b"abcde"), raw
    log = since.request_logged(tok)
    # By token: the log may still be taking lines of an earlier test's requests.
    assert len([line for line in log.splitlines() if "more than its Content-Length" in line and tok in line]) == 1, log
    raw = via_nginx(stack.nginx, "GET", f"/body/length?declared=5&actual=12&shape={shape}")
    r = parse_http_response(raw)
    assert (r.status, r.body) == (200, b"abcde"), raw


@pytest.mark.parametrize("shape", ["list", "gen"])
def test_fewer_than_content_length_is_logged(stack, shape):
    since = Since(stack.ferry, stack.nginx)
    tok = token()
    raw = raw_get(stack.sock, "/body/length", query=f"declared=10&actual=4&shape={shape}&t={tok}")
    r = parse_http_response(raw)
    assert (r.status, r.header("Content-Length"), r.body) == (200, "10", b"abcd"), raw
    log = since.request_logged(tok)
    assert re.search(rf"^.*{tok}.*sent 4 bytes but its Content-Length says 10", log, re.M), log
    # nginx sees the truncation (the connection ended early) instead of waiting for more.
    raw = via_nginx(stack.nginx, "GET", f"/body/length?declared=10&actual=4&shape={shape}", timeout=10)
    r = parse_http_response(raw)
    assert r.status == 200 and r.body == b"abcd"
    wait_until(lambda: "prematurely closed" in since.nginx_errors(), 5, message="nginx to log the truncation")


def test_matching_content_length_logs_nothing(stack):
    since = Since(stack.ferry)
    tok = token()
    r = raw_response(stack.sock, "/body/length", query=f"declared=9&actual=9&shape=gen&t={tok}")
    assert r.body == b"abcdefghi"
    assert "Content-Length" not in since.request_logged(tok)


@pytest.mark.parametrize("shape", ["list", "gen", "file"])
def test_head_sends_headers_only(stack, shape):
    path = stack.files / "head.bin"
    if not path.exists():
        path.write_bytes(os.urandom(300_000))
    query = f"shape={shape}&path={path}"
    get = raw_response(stack.sock, "/body/head", query=query)
    assert get.status == 200 and len(get.body) == int(get.header("Content-Length")) > 0
    since = Since(stack.ferry)
    tok = token()
    raw = raw_get(stack.sock, "/body/head", query=f"{query}&t={tok}", method="HEAD")
    head, sep, rest = raw.partition(b"\r\n\r\n")
    assert sep and rest == b"", raw[:500]
    assert parse_http_response(raw).header("Content-Length") == get.header("Content-Length")
    assert "Content-Length" not in since.request_logged(tok), "a HEAD is not a length mismatch"
    status, headers, body = stack.nginx.request("HEAD", f"/body/head?{query}")
    assert (status, body) == (200, b"")
    assert dict(headers)["Content-Length"] == get.header("Content-Length")


# --------------------------------------------------------------------------------------
# 4. wsgi.file_wrapper


def file_closed(stack, key):
    got = raw_response(stack.sock, "/fw/report", query=f"key={key}").json()
    assert got["known"], "the app did not keep the file"
    return got["closed"]


def test_file_wrapper_sends_a_large_binary_file(stack):
    path = stack.files / "big.bin"
    data = os.urandom(20 * 1024 * 1024)
    path.write_bytes(data)
    want = hashlib.sha256(data).hexdigest()
    key = token()
    r = parse_http_response(raw_get(stack.sock, "/fw/file", query=f"path={path}&key={key}", timeout=30))
    assert r.status == 200 and len(r.body) == len(data)
    assert hashlib.sha256(r.body).hexdigest() == want
    assert file_closed(stack, key), "the file's close() was not called"
    status, _, body = stack.nginx.get(f"/fw/file?path={path}&key=n{key}", timeout=30)
    assert status == 200 and hashlib.sha256(body).hexdigest() == want
    assert file_closed(stack, f"n{key}")


def test_file_wrapper_client_gone_mid_file_frees_the_worker(stack):
    # Files of 4 MiB and more go out through one blocking sendfile: a client that leaves
    # must end it at once (one log line), and the worker must serve the next request.
    since = Since(stack.ferry)
    path = stack.files / "big-gone.bin"
    path.write_bytes(os.urandom(32 * 1024 * 1024))
    key = token()
    s = connect(stack.sock, timeout=10)
    s.sendall(uwsgi_packet(nginx_vars("/fw/file", query=f"path={path}&key={key}")))
    try:
        assert read_headers_then_close(s).startswith(b"HTTP/1.1 200")
    finally:
        s.close()
    wait_until(lambda: file_closed(stack, key), 10, message="the file's close() after the client left")
    r = uwsgi_get(stack.sock, "/")
    assert (r.status, r.body) == (404, b"no route /")  # the app answered: the worker is free
    wait_until(lambda: "client went away" in since.log(), 10, message="the client-gone line")
    assert not re.search(r"OSError|BrokenPipe|Traceback", since.log())


@pytest.fixture
def small_file(stack):
    path = stack.files / "small.bin"
    data = bytes((i * 7 + i // 256) % 256 for i in range(100_000))
    path.write_bytes(data)
    return path, data


@pytest.mark.parametrize("query,start,length", [
    ("read=1000", 1000, None),            # Python read ahead further than 1000 in the descriptor
    ("seek=12345", 12345, None),
    ("read=10&seek=99999", 99999, None),
    ("seek=100000", 100000, None),         # at the end: an empty body
    ("cl=1000", 0, 1000),                  # Content-Length smaller than the file
    ("read=500&cl=1000", 500, 1000),
])
def test_file_wrapper_position_and_length(stack, small_file, query, start, length):
    path, data = small_file
    key = token()
    r = raw_response(stack.sock, "/fw/file", query=f"path={path}&key={key}&{query}")
    want = data[start:] if length is None else data[start:start + length]
    assert r.status == 200
    assert len(r.body) == len(want) and r.body == want, (len(r.body), len(want))
    assert file_closed(stack, key)


def test_file_wrapper_shorter_than_content_length_is_logged(stack, small_file):
    path, data = small_file
    since = Since(stack.ferry)
    tok = token()
    r = raw_response(stack.sock, "/fw/file", query=f"path={path}&key={tok}&cl=150000&t={tok}")
    assert (r.status, r.header("Content-Length"), r.body) == (200, "150000", data)
    log = since.request_logged(tok)
    assert re.search(rf"^.*{tok}.*sent 100000 bytes but its Content-Length says 150000", log, re.M), log


def test_file_wrapper_text_mode_file_sends_its_bytes(stack):
    path = stack.files / "text.txt"
    data = "caf\u00e9 \u20ac line\n".encode() * 5000
    path.write_bytes(data)
    key = token()
    r = raw_response(stack.sock, "/fw/file", query=f"path={path}&key={key}&mode=r")
    assert r.status == 200 and r.body == data
    assert file_closed(stack, key)


def test_file_wrapper_falls_back_to_read_blksize(stack):
    key = token()
    size = 100_000
    r = raw_response(stack.sock, "/fw/bytesio", query=f"key={key}&size={size}&blksize=1234")
    assert r.status == 200 and r.body == bytes(i % 251 for i in range(size))
    got = raw_response(stack.sock, "/fw/report", query=f"key={key}").json()
    assert got["closed"] is True
    assert got["reads"] and set(got["reads"]) == {1234}, got["reads"][:20]
    assert len(got["reads"]) == math.ceil(size / 1234) + 1  # the last read returns b''
    status, _, body = stack.nginx.get(f"/fw/bytesio?key=n{key}&size={size}&blksize=1234")
    assert status == 200 and body == bytes(i % 251 for i in range(size))


# --------------------------------------------------------------------------------------
# 5. environ, and the ferry module


def environ_of(raw):
    r = parse_http_response(raw)
    assert r.status == 200, raw[:500]
    return r.json()


def test_environ_keeps_every_var_as_sent(stack):
    replaced = {"REQUEST_URI": "/environ/x%20y?a=%41&b", "REMOTE_ADDR": "10.1.2.3"}
    sent = [(k, replaced.get(k, v)) for k, v in nginx_vars("/environ/x y", query="a=%41&b")] + [
        ("X_CUSTOM", "custom value"),
        ("X_LATIN", b"caf\xe9 \xff"),
        (b"X_KEY_\xe9", b"v\xe9"),
        ("HTTP_X_FORWARDED_FOR", "203.0.113.9"),
        ("HTTP_COOKIE", "a=1; b=2"),
        ("EMPTY_VAR", ""),
    ]
    want = {}
    for k, v in sent:
        k = k.decode("latin-1") if isinstance(k, bytes) else k
        v = v.decode("latin-1") if isinstance(v, bytes) else v
        want[k] = v
    del want["CONTENT_TYPE"], want["CONTENT_LENGTH"]  # sent empty: absent
    env = environ_of(uwsgi_request(stack.sock, sent))
    assert env["non_str"] == []
    cgi = env["cgi"]
    assert {k: cgi.get(k) for k in want} == want
    assert set(cgi) - set(want) <= {"SCRIPT_NAME"}, set(cgi) - set(want)
    assert cgi["X_LATIN"] == "caf\u00e9 \u00ff" and cgi["X_KEY_\u00e9"] == "v\u00e9"


def test_content_type_and_length_only_when_not_empty(stack):
    env = environ_of(raw_get(stack.sock, "/environ"))["cgi"]
    assert "CONTENT_TYPE" not in env and "CONTENT_LENGTH" not in env
    body = b"x=1"
    vars = nginx_vars("/environ", method="POST", body=body, content_type="application/x-www-form-urlencoded")
    vars += [("HTTP_CONTENT_TYPE", "application/x-www-form-urlencoded"), ("HTTP_CONTENT_LENGTH", "3")]
    env = environ_of(uwsgi_request(stack.sock, vars, body))["cgi"]
    assert env["CONTENT_TYPE"] == "application/x-www-form-urlencoded" and env["CONTENT_LENGTH"] == "3"
    assert "HTTP_CONTENT_TYPE" not in env and "HTTP_CONTENT_LENGTH" not in env


@pytest.mark.parametrize("extra,scheme", [
    ([], "http"),
    ([("HTTPS", "on")], "https"),
    ([("HTTPS", "off")], "http"),
    ([("REQUEST_SCHEME", "https")], "https"),
    ([("UWSGI_SCHEME", "https")], "https"),
    ([("HTTP_X_FORWARDED_PROTO", "https")], "http"),
    ([("HTTP_X_FORWARDED_PROTO", "https"), ("HTTP_X_FORWARDED_SSL", "on")], "http"),
])
def test_url_scheme(stack, extra, scheme):
    vars = [(k, v) for k, v in nginx_vars("/environ") if k != "REQUEST_SCHEME"] + extra
    assert environ_of(uwsgi_request(stack.sock, vars))["url_scheme"] == scheme


def test_environ_through_nginx(stack):
    ng = stack.nginx
    target = "/environ/a%20b?x=%41&y"
    with connect(("127.0.0.1", ng.port), timeout=10) as s:
        client_port = s.getsockname()[1]
        body = b"k=v"
        s.sendall((f"POST {target} HTTP/1.0\r\nHost: localhost\r\nX-Forwarded-Proto: https\r\n"
                   f"X-Forwarded-For: 203.0.113.9\r\nContent-Type: text/x-test\r\n"
                   f"Content-Length: {len(body)}\r\n").encode() + b"X-Latin: caf\xe9\r\n\r\n" + body)
        chunks = []
        for _ in range(1000):
            data = s.recv(65536)
            if not data:
                break
            chunks.append(data)
    env = environ_of(b"".join(chunks))
    cgi = env["cgi"]
    assert cgi["X_CUSTOM"] == "custom value"
    assert cgi["REMOTE_ADDR"] == "127.0.0.1" and cgi["REMOTE_PORT"] == str(client_port)
    assert cgi["REQUEST_URI"] == target and cgi["PATH_INFO"] == "/environ/a b" and cgi["QUERY_STRING"] == "x=%41&y"
    assert cgi["HTTP_X_FORWARDED_FOR"] == "203.0.113.9"
    assert cgi["HTTP_X_LATIN"] == "caf\u00e9"
    assert cgi["CONTENT_TYPE"] == "text/x-test" and cgi["CONTENT_LENGTH"] == "3"
    assert "HTTP_CONTENT_TYPE" not in cgi and "HTTP_CONTENT_LENGTH" not in cgi
    assert env["url_scheme"] == "http", "X-Forwarded-Proto is the client's word, not the scheme"
    assert env["non_str"] == []


def test_uwsgi_param_overriding_uwsgi_params_wins(stack, nginx):
    """`uwsgi_param NAME ...` after `include uwsgi_params` makes nginx send NAME twice; the
    later value is the site's intent (uWSGI and PHP-FPM take the last one)."""
    ng = nginx(stack.sock, extra_location="uwsgi_param REMOTE_ADDR 10.9.8.7; "
               "uwsgi_param SERVER_NAME app.example; uwsgi_param REQUEST_SCHEME https;")
    env = environ_of(via_nginx(ng, "GET", "/environ"))
    cgi = env["cgi"]
    assert (cgi["REMOTE_ADDR"], cgi["SERVER_NAME"], cgi["REQUEST_SCHEME"]) == ("10.9.8.7", "app.example", "https")
    assert env["url_scheme"] == "https"


def test_server_name_is_never_empty_behind_a_server_block_without_server_name(stack, nginx):
    """nginx sends SERVER_NAME as "" when its server block has no server_name; PEP 3333
    says it is never empty. ferry takes Host without its port, else an address."""
    ng = nginx(stack.sock, server_name=None).start()

    def get(port, head):
        return environ_of(raw_exchange(("127.0.0.1", port), b"GET /environ HTTP/1.0\r\n" + head + b"\r\n"))["cgi"]
    cgi = get(ng.port, b"Host: shop.example:8080\r\n")
    assert cgi["SERVER_NAME"] == "shop.example"
    assert cgi["SERVER_PORT"] == str(ng.port)  # nginx's $server_port, as it sent it
    # HTTP/1.0 without Host: nginx knows no name at all, and ferry's socket is a Unix socket.
    cgi = get(ng.port, b"")
    assert cgi["SERVER_NAME"] == "localhost" and "HTTP_HOST" not in cgi
    # With nginx's own address passed on, that is the name.
    ng2 = nginx(stack.sock, server_name=None, extra_location="uwsgi_param SERVER_ADDR $server_addr;").start()
    assert get(ng2.port, b"")["SERVER_NAME"] == "127.0.0.1"
    # A server_name nginx does send is kept (the ordinary case, for contrast).
    assert get(stack.nginx.port, b"Host: other.example\r\n")["SERVER_NAME"] == "localhost"


def test_server_name_falls_back_to_the_tcp_socket_address(tmp, ferry):
    """Without SERVER_NAME, Host or SERVER_ADDR, the name is the address ferry accepted the
    connection on."""
    port = free_port()
    ini = basic_ini(tmp, processes=1, module=APP).replace(f"socket = {tmp}/s.sock", f"socket = 127.0.0.1:{port}")
    f = ferry(ini)
    raw = uwsgi_request(("127.0.0.1", port), [("REQUEST_METHOD", "GET"), ("PATH_INFO", "/environ"),
                                             ("SERVER_NAME", ""), ("SERVER_PORT", str(port))])
    assert environ_of(raw)["cgi"]["SERVER_NAME"] == "127.0.0.1"
    assert f.running()


def ferry_version():
    out = subprocess.run([FERRY_BIN, "--version"], capture_output=True, text=True, timeout=10).stdout
    m = re.match(r"ferry (\S+)", out)
    assert m, out
    return m.group(1)


def test_single_worker_environ_flags_and_ferry_module(stack):
    env = environ_of(raw_get(stack.sock, "/environ"))
    assert (env["multithread"], env["multiprocess"]) == (False, False)
    got = raw_response(stack.sock, "/ferry").json()
    (worker,) = stack.ferry.workers()
    assert got["version"] == ferry_version() == got["environ_version"] == env["ferry.version"]
    assert got["worker_id"] == got["environ_worker_id"] == env["ferry.worker_id"] == 1
    assert got["running"] is True and got["pid"] == worker
    assert (got["uwsgi_spec"], got["uwsgi_import"], got["uwsgi_in_sys_modules"]) == (False, "ModuleNotFoundError",
                                                                                   False)


def test_three_workers_have_ids_1_to_3(ferry, tmp):
    from concurrent.futures import ThreadPoolExecutor

    f = ferry(basic_ini(tmp, processes=3, module=APP))
    workers = f.wait_workers(3)
    with ThreadPoolExecutor(9) as pool:
        # Nine requests of 0.4 s at once: three single-threaded workers all take some.
        results = list(pool.map(lambda _: raw_response(tmp / "s.sock", "/ferry", query="s=0.4").json(), range(9)))
    ids = {}
    for got in results:
        assert got["running"] is True and got["version"] == ferry_version()
        assert got["worker_id"] == got["environ_worker_id"]
        assert (got["multithread"], got["multiprocess"]) == (False, True)
        assert got["pid"] in workers
        assert ids.setdefault(got["pid"], got["worker_id"]) == got["worker_id"], "one id per worker"
    assert sorted(ids.values()) == [1, 2, 3], ids


def test_threads_make_multithread_true(ferry, tmp):
    ferry(basic_ini(tmp, "threads = 2", processes=1, module=APP))
    got = raw_response(tmp / "s.sock", "/ferry").json()
    assert (got["multithread"], got["multiprocess"]) == (True, False)


# --------------------------------------------------------------------------------------
# 6. limit-post


def test_limit_post(ferry, nginx, tmp):
    f = ferry(basic_ini(tmp, "limit-post = 1000", processes=1, module=APP))
    ng = nginx(tmp / "s.sock")
    since = Since(f, ng)

    def limit_lines():
        return [line for line in since.log().splitlines() if "limit-post" in line]

    for n, size in enumerate((1001, 5_000_000), start=1):
        status, _, body = ng.request("POST", "/input/consume", body=os.urandom(size), timeout=30)
        assert status == 413, (size, status, body[:300])
        wait_until(lambda: len(limit_lines()) >= n, 5, message="the limit-post line")
        assert len(limit_lines()) == n, limit_lines()
        assert str(size) in limit_lines()[-1]

    data = os.urandom(1000)
    status, _, body = ng.request("POST", "/input/consume", body=data)
    assert status == 200, body[:300]
    got = json.loads(body)
    assert got["length"] == 1000 and got["sha256"] == hashlib.sha256(data).hexdigest()
    raw = raw_get(tmp / "s.sock", "/input/consume", method="POST", body=b"y" * 1001)
    assert parse_http_response(raw).status == 413
    since.assert_nginx_clean()
    # The master relays the worker's line to the log file asynchronously.
    wait_until(lambda: len(limit_lines()) >= 3, 5, message="the third limit-post line")
    assert len(limit_lines()) == 3
