"""WSGI basics (PEP 3333): environ, input, response iterables, close(), errors."""

import hashlib
import json
import os
import re

import pytest

from conftest import (basic_ini, http_request, nginx_vars, parse_http_response, uwsgi_get, uwsgi_request,
                      wait_until)


@pytest.fixture
def app(ferry, tmp):
    """The test app on one worker, with CLOSE_LOG pointing into tmp."""
    return ferry(basic_ini(tmp, f"env = CLOSE_LOG={tmp}/close.log", processes=1))


def get_environ(sock, **kw):
    r = uwsgi_get(sock, "/environ", **kw)
    assert r.status == 200, r.raw[:2000]
    return r.json()


def test_environ_per_pep3333(app, tmp):
    env = get_environ(tmp / "s.sock", query="a=1")
    assert env["wsgi.version"] == {"type": "tuple", "repr": "(1, 0)"}
    assert env["wsgi.url_scheme"] == "http"
    assert env["wsgi.run_once"] is False
    assert isinstance(env["wsgi.multithread"], bool)
    assert isinstance(env["wsgi.multiprocess"], bool)
    checks = env["_checks"]
    assert checks["input_has_read"] and checks["input_has_readline"]
    assert checks["errors_has_write"] and checks["errors_has_flush"]
    assert checks["version_is_tuple"]
    assert checks["non_str_cgi_keys"] == [], "CGI values must be native str"
    for key in ("REQUEST_METHOD", "PATH_INFO", "SERVER_NAME", "SERVER_PORT",
                "SERVER_PROTOCOL"):
        assert isinstance(env.get(key), str), key
    assert env["REQUEST_METHOD"] == "GET"
    assert env["QUERY_STRING"] == "a=1"
    assert env["SERVER_NAME"] == "localhost"
    assert env["SERVER_PORT"] == "80"
    assert env["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert env["REMOTE_ADDR"] == "127.0.0.1"
    assert env["HTTP_HOST"] == "localhost"
    assert env.get("SCRIPT_NAME", "") == ""
    # uwsgi_params vars pass through untouched, with no vars invented by ferry as HTTP_*.
    assert env["DOCUMENT_ROOT"] == "/usr/share/nginx/html"
    assert "CONTENT_LENGTH" not in env or env["CONTENT_LENGTH"] in ("", "0")


def test_multiprocess_with_two_workers(ferry, tmp):
    ferry(basic_ini(tmp, processes=2))
    assert get_environ(tmp / "s.sock")["wsgi.multiprocess"] is True


@pytest.mark.parametrize("kw,expected", [
    ({}, "http"),
    ({"https": True}, "https"),
    ({"scheme": "https"}, "https"),
    ({"headers": [("X-Forwarded-Proto", "https")]}, "http"),
])
def test_url_scheme(app, tmp, kw, expected):
    assert get_environ(tmp / "s.sock", **kw)["wsgi.url_scheme"] == expected


def test_non_ascii_path_is_latin1_decoded(app, nginx, tmp):
    """PEP 3333: environ strings carry the raw bytes decoded as latin-1."""
    ng = nginx(tmp / "s.sock")
    status, _, body = ng.get("/environ/caf%C3%A9")
    assert status == 200, body[:500]
    assert json.loads(body)["PATH_INFO"] == "/environ/café".encode().decode("latin-1")


@pytest.mark.parametrize("mode", ["sized", "all", "chunks", "lines", "iter"])
def test_wsgi_input_holds_exactly_the_body(app, tmp, mode):
    body = b"".join(os.urandom(n) + b"\n" for n in (10, 0, 5000, 45000)) + b"END"
    r = parse_http_response(uwsgi_request(
        tmp / "s.sock",
        nginx_vars("/echo", method="POST", query=f"mode={mode}", body=body,
                   content_type="application/octet-stream"),
        body))
    assert r.status == 200, r.raw[:2000]
    data = r.json()
    assert data["length"] == len(body)
    assert data["sha256"] == hashlib.sha256(body).hexdigest()
    assert data["extra"] == 0


def test_empty_post(app, tmp):
    r = parse_http_response(uwsgi_request(tmp / "s.sock", nginx_vars("/echo", method="POST")))
    assert r.status == 200 and r.json()["length"] == 0


@pytest.mark.parametrize("path,body,kind", [
    ("/list", b"alpha-beta-gamma", "list"),
    ("/gen", b"chunk0;chunk1;chunk2;chunk3;chunk4;", "generator"),
    ("/bytes", b"a bare bytes body", "bytes"),
])
def test_response_iterables(app, tmp, path, body, kind):
    raw = uwsgi_request(tmp / "s.sock", nginx_vars(path))
    assert raw.startswith(b"HTTP/1.1 200 OK\r\n"), raw[:200]
    r = parse_http_response(raw)
    assert r.body == body
    assert r.header("X-Kind") == kind
    assert r.header("Transfer-Encoding") is None, "never chunked towards nginx"
    if r.header("Content-Length") is not None:
        assert int(r.header("Content-Length")) == len(body)


def test_status_and_headers_pass_through(app, tmp):
    r = parse_http_response(uwsgi_request(tmp / "s.sock", nginx_vars("/headers")))
    assert (r.version, r.status, r.reason) == ("HTTP/1.1", 201, "Created")
    assert [h for h in r.headers if h[0].startswith("X-")] == [("X-One", "1"), ("X-Two", "two")]
    assert r.header_all("Set-Cookie") == ["a=1", "b=2"]
    assert r.body == b"created"
    r = uwsgi_get(tmp / "s.sock", "/status", query="code=404+Not+Found")
    assert (r.status, r.reason) == (404, "Not Found")


def test_head_returns_headers_only(app, tmp):
    raw = uwsgi_request(tmp / "s.sock", nginx_vars("/", method="HEAD"))
    r = parse_http_response(raw)
    assert r.status == 200
    assert r.header("Content-Length") == "5"
    assert r.body == b"", raw


def closes(tmp):
    return (tmp / "close.log").read_text().splitlines() if (tmp / "close.log").exists() else []


def test_close_is_called_after_a_normal_response(app, tmp):
    r = uwsgi_get(tmp / "s.sock", "/close", query="tag=normal")
    assert r.body == b"one two three"
    wait_until(lambda: any(l.startswith("closed normal ") for l in closes(tmp)), 5,
               message="close() to be called")
    assert sum(l.startswith("closed normal ") for l in closes(tmp)) == 1


@pytest.mark.parametrize("fail_at", [0, 1])
def test_close_is_called_when_iteration_raises(app, tmp, fail_at):
    tag = f"fail{fail_at}"
    raw = uwsgi_request(tmp / "s.sock", nginx_vars("/close", query=f"tag={tag}&fail_at={fail_at}"))
    if fail_at == 0:
        # Nothing was sent yet: the client gets a proper 500.
        assert parse_http_response(raw).status == 500, raw[:500]
    wait_until(lambda: any(l.startswith(f"closed {tag} ") for l in closes(tmp)), 5,
               message="close() after a failing iteration")
    app.wait_log(rf"RuntimeError: iteration failure {tag}")
    assert uwsgi_get(tmp / "s.sock").status == 200


def test_app_exception_gives_500_and_traceback(app, tmp):
    worker = app.wait_workers(1)
    r = uwsgi_get(tmp / "s.sock", "/error", query="token=tok4711")
    assert r.status == 500
    assert b"tok4711" not in r.body, "the traceback goes to the log, not to the client"
    app.wait_log(r"RuntimeError: app failure tok4711")
    log = app.log_text()
    assert "Traceback (most recent call last)" in log
    assert re.search(r'File ".*testapp\.py", line \d+, in application', log), log[-3000:]
    assert app.workers() == worker, "an app exception must not cost the worker"
    assert uwsgi_get(tmp / "s.sock").body == b"hello"


def big_body(n):
    pattern = bytes(range(256)) * 256
    return (pattern * (n // len(pattern) + 1))[:n]


def test_large_response_raw_and_through_nginx(app, nginx, tmp):
    n = 8_000_000 + 123
    r = parse_http_response(uwsgi_request(tmp / "s.sock", nginx_vars("/big", query=f"n={n}"),
                                          timeout=30))
    assert r.status == 200 and len(r.body) == n
    assert hashlib.sha256(r.body).digest() == hashlib.sha256(big_body(n)).digest()
    ng = nginx(tmp / "s.sock")
    status, _, body = ng.get(f"/big?n={n}", timeout=30)
    assert status == 200 and len(body) == n
    assert hashlib.sha256(body).digest() == hashlib.sha256(big_body(n)).digest()


@pytest.mark.parametrize("path,error", [("/strbody", "TypeError"), ("/nostart", "start_response")])
def test_protocol_violations_by_the_app_give_500(app, tmp, path, error):
    worker = app.wait_workers(1)
    r = uwsgi_get(tmp / "s.sock", path)
    assert r.status == 500, r.raw[:500]
    app.wait_log(error)
    assert app.workers() == worker
    assert uwsgi_get(tmp / "s.sock").body == b"hello"


def test_wsgiref_validator_is_satisfied_through_nginx(ferry, nginx, tmp):
    f = ferry(basic_ini(tmp, module="validated"))
    ng = nginx(tmp / "s.sock")
    status, _, body = http_request(ng.port, "GET", "/v?x=1")
    assert (status, body) == (200, b"ok:GET:")
    status, _, body = http_request(ng.port, "POST", "/v", body=b"form=data")
    assert (status, body) == (200, b"ok:POST:form=data"), f.log_text()
    status, headers, body = http_request(ng.port, "HEAD", "/v")
    assert (status, body) == (200, b"")
    assert dict((k.lower(), v) for k, v in headers)["content-length"] == str(len(b"ok:HEAD:"))
    log = f.log_text()
    assert "Traceback" not in log and "Warning" not in log and "AssertionError" not in log, log
