"""The uwsgi protocol as stock nginx speaks it, and what happens with anything else."""

import hashlib
import json
import os
import re
import struct
import time

from conftest import (REQUEST_LINE_RE, basic_ini, connect, encode_vars, nginx_vars, parse_http_response,
                      raw_exchange, read_until_close, uwsgi_get, uwsgi_packet, uwsgi_request,
                      wait_until)

PONG = b"\x64\x00\x00\x01"


def environ_of(sock, vars, body=b""):
    r = parse_http_response(uwsgi_request(sock, vars, body))
    assert r.status == 200, r.raw[:2000]
    return r.json()


def test_ping_is_answered_with_pong(ferry, tmp):
    ferry(basic_ini(tmp, processes=1))
    assert raw_exchange(tmp / "s.sock", b"\x64\x00\x00\x00", timeout=5) == PONG
    # Twice, and the server still serves WSGI afterwards.
    assert raw_exchange(tmp / "s.sock", b"\x64\x00\x00\x00", timeout=5) == PONG
    assert uwsgi_get(tmp / "s.sock").body == b"hello"


def test_other_modifiers_are_refused_with_one_log_line(ferry, tmp):
    f = ferry(basic_ini(tmp, processes=1))
    sock = tmp / "s.sock"
    for mod in (22, 5, 30):
        resp = uwsgi_request(sock, nginx_vars("/"), modifier1=mod, timeout=5)
        assert resp == b"", f"modifier1 {mod} must get no response, got {resp[:200]!r}"
        f.wait_log(rf"modifier1 {mod}\b")
        lines = [l for l in f.log_lines() if re.search(rf"modifier1 {mod}\b", l)]
        assert len(lines) == 1, lines
    assert uwsgi_get(sock).body == b"hello"


def _malformed_cases():
    good = encode_vars(nginx_vars("/"))
    return {
        "truncated header": (b"\x00\x10", True),
        "truncated vars": (struct.pack("<BHB", 0, len(good), 0) + good[: len(good) // 2], True),
        "key length past the block": (
            struct.pack("<BHB", 0, 6, 0) + struct.pack("<H", 500) + b"KEYS", True),
        "value length past the block": (
            struct.pack("<BHB", 0, 9, 0) + struct.pack("<H", 3) + b"KEY" + struct.pack("<H", 900)
            + b"VV", True),
        "dangling byte in the block": (
            struct.pack("<BHB", 0, len(good) + 1, 0) + good + b"\x01", True),
        "garbage": (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", True),
        "body shorter than CONTENT_LENGTH": (
            uwsgi_packet(nginx_vars("/echo", method="POST", body=b"x" * 1000), b"x" * 10), True),
    }


def test_malformed_packets_cost_only_their_connection(ferry, tmp):
    f = ferry(basic_ini(tmp, processes=1))
    sock = tmp / "s.sock"
    worker = f.wait_workers(1)
    problems = []
    def other_lines():
        return [l for l in f.log_lines() if not REQUEST_LINE_RE.match(l)]

    for name, (data, shut) in _malformed_cases().items():
        before = len(other_lines())
        resp = raw_exchange(sock, data, timeout=10, shutdown_write=shut)
        if resp.startswith(b"HTTP/1.1 200") or resp.startswith(b"HTTP/1.0 200"):
            problems.append(f"{name}: answered 200: {resp[:200]!r}")
        try:
            wait_until(lambda: len(other_lines()) > before, 5, message="log line")
        except AssertionError:
            problems.append(f"{name}: no log line")
        r = uwsgi_get(sock)
        if r.status != 200:
            problems.append(f"{name}: the next request failed: {r.raw[:200]!r}")
    assert f.workers() == worker, "a bad packet must not cost the worker"
    assert not problems, "\n".join(problems) + "\n" + f.diagnostics()


def test_vars_block_of_60000_bytes_accepted_by_default(ferry, tmp):
    ferry(basic_ini(tmp, processes=1))
    cookie = "k=" + "c" * 59998
    env = environ_of(tmp / "s.sock", nginx_vars("/environ", headers=[("Cookie", cookie)]))
    assert env["HTTP_COOKIE"] == cookie


def test_vars_block_of_exactly_65535_bytes_accepted_by_default(ferry, tmp):
    ferry(basic_ini(tmp, processes=1))
    base = nginx_vars("/environ", headers=[("X-Pad", "")])
    pad = 0xFFFF - len(encode_vars(base))
    vars = nginx_vars("/environ", headers=[("X-Pad", "p" * pad)])
    assert len(encode_vars(vars)) == 0xFFFF
    env = environ_of(tmp / "s.sock", vars)
    assert len(env["HTTP_X_PAD"]) == pad


def test_repeated_vars_are_merged(ferry, tmp):
    ferry(basic_ini(tmp, processes=1))
    vars = nginx_vars("/environ") + [
        ("HTTP_COOKIE", "a=1"), ("HTTP_X_MULTI", "one"),
        ("HTTP_COOKIE", "b=2"), ("HTTP_X_MULTI", "two"), ("HTTP_X_MULTI", "three"),
    ]
    env = environ_of(tmp / "s.sock", vars)
    assert env["HTTP_COOKIE"] == "a=1; b=2"
    assert env["HTTP_X_MULTI"] == "one, two, three"


def test_repeated_headers_through_nginx_1_22_are_merged(ferry, nginx, tmp):
    ferry(basic_ini(tmp, processes=1))
    ng = nginx(tmp / "s.sock")
    status, _, body = ng.get("/environ", headers=[("Cookie", "a=1"), ("X-Multi", "one"),
                                                  ("Cookie", "b=2"), ("X-Multi", "two")])
    assert status == 200, body[:500]
    env = json.loads(body)
    assert env["HTTP_COOKIE"] == "a=1; b=2"
    assert env["HTTP_X_MULTI"] == "one, two"


def test_missing_cgi_vars_get_defaults(ferry, tmp):
    ferry(basic_ini(tmp, processes=1))
    sock = tmp / "s.sock"
    r = parse_http_response(uwsgi_request(sock, [("SERVER_PROTOCOL", "HTTP/1.1"),
                                                 ("HTTP_HOST", "example.org")]))
    assert (r.status, r.body) == (200, b"hello"), r.raw[:1000]
    env = environ_of(sock, [("SERVER_PROTOCOL", "HTTP/1.1"), ("HTTP_HOST", "example.org"),
                            ("REQUEST_URI", "/environ/x?q=1")])
    assert env["REQUEST_METHOD"] == "GET"
    assert env["PATH_INFO"] == "/environ/x"
    assert env.get("QUERY_STRING", "") == "q=1"
    assert isinstance(env.get("SERVER_NAME"), str) and env["SERVER_NAME"]
    assert isinstance(env.get("SERVER_PORT"), str) and env["SERVER_PORT"].isdigit()
    assert env.get("SCRIPT_NAME", "") == ""


def test_nginx_without_uwsgi_params(ferry, nginx, tmp):
    ferry(basic_ini(tmp, processes=1))
    ng = nginx(tmp / "s.sock", uwsgi_params=False)
    status, _, body = ng.get("/anything")
    assert (status, body) == (200, b"hello"), ng.error_log()[-2000:]


def test_post_body_exactly_content_length(ferry, tmp):
    ferry(basic_ini(tmp, processes=1))
    body = os.urandom(200_000)
    r = parse_http_response(uwsgi_request(tmp / "s.sock", nginx_vars(
        "/echo", method="POST", body=body, content_type="application/octet-stream"), body))
    data = r.json()
    assert data["length"] == len(body)
    assert data["sha256"] == hashlib.sha256(body).hexdigest()
    assert data["extra"] == 0


def test_post_body_arriving_slowly(ferry, tmp):
    ferry(basic_ini(tmp, processes=1))
    body = b"0123456789" * 3000
    packet = uwsgi_packet(nginx_vars("/echo", method="POST", body=body), b"")
    with connect(tmp / "s.sock") as s:
        # The pauses are the subject: a packet and a body that arrive in pieces.
        s.sendall(packet[:3])
        time.sleep(0.05)
        s.sendall(packet[3:])
        for i in range(0, len(body), 10000):
            time.sleep(0.05)
            s.sendall(body[i:i + 10000])
        r = parse_http_response(read_until_close(s))
    data = r.json()
    assert data["length"] == len(body)
    assert data["sha256"] == hashlib.sha256(body).hexdigest()


def test_get_post_head_query_and_headers_through_nginx(ferry, nginx, tmp):
    ferry(basic_ini(tmp, processes=2))
    ng = nginx(tmp / "s.sock")
    status, _, body = ng.get("/environ/a%20b?x=1&y=%20z", headers=[("X-Custom", "v1")])
    assert status == 200
    env = json.loads(body)
    assert env["REQUEST_METHOD"] == "GET"
    assert env["PATH_INFO"] == "/environ/a b"
    assert env["QUERY_STRING"] == "x=1&y=%20z"
    assert env["REQUEST_URI"] == "/environ/a%20b?x=1&y=%20z"
    assert env["HTTP_X_CUSTOM"] == "v1"
    assert env["REMOTE_ADDR"] == "127.0.0.1"
    assert env["SERVER_PORT"] == str(ng.port)

    payload = os.urandom(1_000_000)
    status, _, body = ng.request("POST", "/echo", body=payload,
                                 headers=[("Content-Type", "application/octet-stream")])
    assert status == 200
    data = json.loads(body)
    assert data["length"] == len(payload)
    assert data["sha256"] == hashlib.sha256(payload).hexdigest()

    status, headers, body = ng.request("HEAD", "/")
    assert status == 200 and body == b""
    assert dict((k.lower(), v) for k, v in headers).get("content-length") == "5"


def test_unread_request_body_does_not_break_the_response(ferry, nginx, tmp):
    """The app ignores a 1 MB body: ferry must still deliver the response (no reset)."""
    ferry(basic_ini(tmp, processes=1))
    ng = nginx(tmp / "s.sock")
    for _ in range(3):
        status, _, body = ng.request("POST", "/", body=os.urandom(1_000_000))
        assert (status, body) == (200, b"hello"), ng.error_log()[-2000:]
