"""The stats server: uWSGI's stats JSON on a Unix socket or host:port, and with stats-http
the same address speaking HTTP. Real ferry processes, real sockets in a temp dir."""

from __future__ import annotations

import json
import os
import socket
import time

from fixtures.ferry import basic_ini
from fixtures.http_client import RawHttp
from fixtures.net import connect, free_port
from fixtures.uwsgi_client import read_until_close, uwsgi_get
from fixtures.waiting import wait_until


def read_stats(addr, timeout=10.0) -> dict:
    """What a uWSGI stats client does: connect, read until the server closes, parse."""
    with connect(addr, timeout) as s:
        return json.loads(read_until_close(s, timeout))


def http_get(addr, target="/", method="GET"):
    with RawHttp(addr) as c:
        c.send(f"{method} {target} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        return c.read_response(head=method == "HEAD")


def test_stats_on_a_unix_socket_lists_the_workers_and_is_vacuumed(ferry, tmp):
    stats = tmp / "stats.sock"
    f = ferry(basic_ini(tmp, f"stats = {stats}", "threads = 2", "vacuum = true", "chmod-socket = 660"))
    pids = f.wait_workers(2)
    doc = read_stats(stats)
    assert doc["pid"] == f.pid
    assert doc["uid"] == os.getuid() and doc["gid"] == os.getgid()
    assert [s["name"] for s in doc["sockets"]] == [str(tmp / "s.sock")]
    assert doc["sockets"][0]["proto"] == "uwsgi"
    assert sorted(w["pid"] for w in doc["workers"]) == sorted(pids)
    assert sorted(w["id"] for w in doc["workers"]) == [1, 2]
    for w in doc["workers"]:
        assert w["accepting"] == 1 and w["status"] == "idle"
        assert [c["id"] for c in w["cores"]] == [0, 1]
        assert abs(w["last_spawn"] - time.time()) < 3600
    assert doc["ferry"]["phase"] == "serving"
    assert (os.stat(stats).st_mode & 0o777) == 0o660, "chmod-socket applies to the stats socket too"
    assert f.stop() == 0, f.diagnostics()
    assert not stats.exists(), "vacuum removes the stats socket"


def test_stats_minified_has_no_whitespace(ferry, tmp):
    port = free_port()
    f = ferry(basic_ini(tmp, f"stats = 127.0.0.1:{port}", "stats-minified = true", processes=1))
    f.wait_workers(1)
    with connect(f"127.0.0.1:{port}") as s:
        raw = read_until_close(s)
    assert raw.startswith(b'{"version":') and b"\n" not in raw.rstrip() and b"\t" not in raw
    assert json.loads(raw)["pid"] == f.pid


def test_stats_http_serves_the_json_at_root_404_elsewhere_400_for_garbage(ferry, tmp):
    port = free_port()
    addr = f"127.0.0.1:{port}"
    f = ferry(basic_ini(tmp, f"stats = {addr}", "stats-http = true", processes=1))
    f.wait_workers(1)
    r = http_get(addr, "/")
    assert r.status == 200, r.raw[:300]
    assert r.header("Content-Type") == "application/json"
    assert json.loads(r.body)["workers"][0]["pid"] == f.workers()[0]
    assert http_get(addr, "/?refresh=1").status == 200
    head = http_get(addr, "/", method="HEAD")
    assert head.status == 200 and head.body == b""
    assert http_get(addr, "/nope").status == 404
    assert http_get(addr, "/", method="POST").status == 405
    with RawHttp(addr) as c:
        c.send(b"GET / HTTP/1.1\r\nHost x\r\n\r\n")  # a field line without a colon
        assert c.read_response().status == 400
    # The app is untouched by all of it.
    assert uwsgi_get(tmp / "s.sock").status == 200
    assert f.stop() == 0, f.diagnostics()


def test_a_stats_client_that_never_reads_blocks_neither_requests_nor_other_stats_clients(ferry, tmp):
    """A document bigger than the socket buffers, to a client that never reads: the master's
    write waits without blocking its loop, so another client still gets the document, the
    workers still serve, and the stuck one is closed after the timeout."""
    stats = tmp / "stats.sock"
    f = ferry(basic_ini(tmp, f"stats = {stats}", "threads = 400", processes=4))
    f.wait_workers(4)
    with connect(stats) as s:
        size = len(read_until_close(s))
    assert size > 300_000, size  # well past a Unix socket's 208 KiB send buffer
    stuck = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stuck.connect(str(stats))
    try:
        for _ in range(3):
            assert len(read_stats(stats, timeout=5)["workers"]) == 4
            assert uwsgi_get(tmp / "s.sock").status == 200
        f.wait_log(r"stats: a client did not read its answer within 5 s; closed its connection")
        got = read_until_close(stuck, timeout=5)
        assert 0 < len(got) < size, "the write was pending (the buffers were full) when it was cut"
    finally:
        stuck.close()
    assert f.stop() == 0, f.diagnostics()


def test_a_flood_of_idle_stats_connections_is_capped_and_recovers(ferry, tmp):
    port = free_port()
    addr = f"127.0.0.1:{port}"
    f = ferry(basic_ini(tmp, f"stats = {addr}", "stats-http = true", processes=1))
    f.wait_workers(1)
    idle = [connect(addr) for _ in range(40)]  # more than the cap (32), none says anything
    try:
        f.wait_log(r"stats: 32 connections are open already")
        closed = [s for s in idle if _closed_at_once(s)]
        assert len(closed) >= 8, "past the cap, new connections are closed, not queued"
        assert uwsgi_get(tmp / "s.sock").status == 200
    finally:
        for s in idle:
            s.close()
    r = wait_until(lambda: _try(lambda: http_get(addr, "/")), 15, message="stats served again")
    assert r.status == 200


def _closed_at_once(s) -> bool:
    s.settimeout(0.2)
    try:
        return s.recv(1) == b""
    except socket.timeout:
        return False
    except ConnectionResetError:
        return True


def _try(fn):
    try:
        return fn()
    except (OSError, ValueError, TimeoutError, AssertionError):
        return None


def _try_read_stats(addr):
    try:
        return read_stats(addr, timeout=2)
    except (OSError, ValueError, TimeoutError):
        return None


def test_a_bad_stats_address_is_a_config_error_naming_the_line(ferry, tmp):
    f = ferry(basic_ini(tmp, "stats = 127.0.0.1:notaport"), start=False)
    assert f.run_to_exit() == 2, f.diagnostics()
    assert "line 8" in f.stderr and "stats expects a Unix socket path or [ADDRESS]:PORT" in f.stderr, f.stderr
