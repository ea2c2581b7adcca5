"""post-buffering = N: the body is read before the app runs and wsgi.input is seekable;
in memory up to N bytes, in an unlinked temp file above."""

import hashlib
import json
import os

from conftest import basic_ini, http_request, nginx_vars, parse_http_response, uwsgi_request


def post(tmp, body):
    vars_ = nginx_vars("/upload", method="POST", body=body, content_type="application/octet-stream")
    r = parse_http_response(uwsgi_request(tmp / "s.sock", vars_, body=body))
    assert r.status == 200, r.body
    return json.loads(r.body)


def test_small_body_is_buffered_in_memory_and_seekable(ferry, tmp):
    ferry(basic_ini(tmp, "post-buffering = 65536", module="bodies", processes=1))
    body = os.urandom(30000)
    report = post(tmp, body)
    assert report["type"] == "BytesIO"
    assert report["tell_after_seek"] == 0
    assert report["sha256"] == hashlib.sha256(body).hexdigest()
    assert report["first"] == body[:10].decode("latin-1")


def test_large_body_is_spooled_to_an_unlinked_file(ferry, tmp):
    ferry(basic_ini(tmp, "post-buffering = 4096", module="bodies", processes=1))
    body = os.urandom(3 * 1024 * 1024)
    report = post(tmp, body)
    assert report["type"] == "BufferedReader"
    assert report["tell_after_seek"] == 0
    assert report["sha256"] == hashlib.sha256(body).hexdigest()
    assert report["path"].endswith("(deleted)"), report["path"]


def test_without_post_buffering_the_body_streams(ferry, tmp):
    ferry(basic_ini(tmp, module="bodies", processes=1))
    body = os.urandom(100000)
    report = post(tmp, body)
    assert report["type"] == "Input"  # ferry's own stream over the socket
    assert report["sha256"] == hashlib.sha256(body).hexdigest()
    assert "path" not in report or not report["path"].endswith("(deleted)")


def test_post_buffering_through_nginx(ferry, nginx, tmp):
    ferry(basic_ini(tmp, "post-buffering = 8192", module="bodies", processes=1))
    ng = nginx(tmp / "s.sock")
    body = os.urandom(1024 * 1024)
    status, _, data = http_request(ng.port, "POST", "/upload", body=body)
    assert status == 200
    assert json.loads(data)["sha256"] == hashlib.sha256(body).hexdigest()
