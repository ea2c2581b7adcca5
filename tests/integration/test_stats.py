"""The stats server: uWSGI's stats JSON on a Unix socket or host:port, and with stats-http
the same address speaking HTTP. Real ferry processes, real sockets in a temp dir."""

from __future__ import annotations

import json
import signal
import subprocess
import os
import socket
import struct
import time

import pytest

from fixtures.ferry import basic_ini
from fixtures.http_client import RawHttp
from fixtures.net import connect, free_port
from fixtures.uwsgi_client import nginx_vars, read_until_close, uwsgi_get, uwsgi_packet, uwsgi_request
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


# --- values: the counts are real ---------------------------------------------------------

def stats_ini(tmp, *extra, processes=1, threads=1):
    return basic_ini(tmp, f"stats = {tmp}/stats.sock", f"threads = {threads}", *extra,
                     processes=processes, module="statsapp")


def worker_totals(doc) -> dict:
    keys = ("requests", "exceptions", "tx", "running_time")
    return {k: sum(w[k] for w in doc["workers"]) for k in keys}


def test_requests_tx_exceptions_and_memory_are_counted(ferry, tmp):
    f = ferry(stats_ini(tmp, processes=2, threads=2))
    f.wait_workers(2)
    before = read_stats(tmp / "stats.sock")
    assert worker_totals(before)["requests"] == 0
    responses = [uwsgi_get(tmp / "s.sock") for _ in range(7)]
    assert all(r.status == 200 for r in responses)
    failed = uwsgi_get(tmp / "s.sock", path="/raise")
    assert failed.status == 500
    doc = read_stats(tmp / "stats.sock")
    totals = worker_totals(doc)
    assert totals["requests"] == 8
    assert totals["exceptions"] == 1
    assert totals["tx"] == sum(len(r.raw) for r in responses + [failed]), totals
    assert totals["running_time"] > 0
    for w in doc["workers"]:
        page = os.sysconf("SC_PAGE_SIZE")
        statm = open(f"/proc/{w['pid']}/statm").read().split()
        assert abs(w["rss"] - int(statm[1]) * page) < 64 << 20, (w["rss"], statm)
        assert 4 << 20 < w["rss"] < w["vsz"], w
        assert sum(c["requests"] for c in w["cores"]) == w["requests"]
        assert w["apps"][0]["requests"] == w["requests"]
        if w["requests"]:
            assert w["avg_rt"] == w["running_time"] // w["requests"]
    # delta_requests: since the previous reading
    again = read_stats(tmp / "stats.sock")
    assert sum(w["delta_requests"] for w in again["workers"]) == 0
    assert sum(w["delta_requests"] for w in doc["workers"]) == 8


def test_a_killed_worker_keeps_its_counts_under_its_id_and_counts_a_respawn(ferry, tmp):
    f = ferry(stats_ini(tmp))
    [pid] = f.wait_workers(1)
    for _ in range(3):
        assert uwsgi_get(tmp / "s.sock").status == 200
    os.kill(pid, 9)
    [new] = f.wait_workers(1, exclude=[pid])
    doc = read_stats(tmp / "stats.sock")
    [w] = doc["workers"]
    assert (w["id"], w["pid"], w["requests"], w["respawn_count"]) == (1, new, 0, 2)
    assert doc["ferry"]["respawns_total"] == 1


def test_listen_queue_counts_connections_nobody_accepts(ferry, tmp):
    """One worker, one thread, blocked in a request: further connections wait in the
    kernel's accept queue, on the Unix socket and on a TCP socket."""
    port = free_port()
    f = ferry(stats_ini(tmp, f"socket = 127.0.0.1:{port}"))
    f.wait_workers(1)
    mark, started = tmp / "go", tmp / "started"
    blocked = connect(tmp / "s.sock")
    blocked.sendall(uwsgi_packet(nginx_vars("/block", query=f"mark={mark}&started={started}")))
    wait_until(started.exists, 10, message="the app to block")
    waiting = [connect(tmp / "s.sock") for _ in range(3)] + [connect(f"127.0.0.1:{port}") for _ in range(2)]
    try:
        doc = wait_until(lambda: _queues_at(tmp, 3, 2), 10, message="queues of 3 and 2")
        unix, tcp = doc["sockets"]
        assert (unix["queue"], tcp["queue"]) == (3, 2), doc["sockets"]
        assert unix["max_queue"] > 0 and tcp["max_queue"] > 0
        assert doc["listen_queue"] == 5
        [w] = doc["workers"]
        assert w["status"] == "busy" and doc["load"] == 1
    finally:
        mark.touch()
        for s in waiting + [blocked]:
            s.close()


def _queues_at(tmp, unix, tcp):
    doc = read_stats(tmp / "stats.sock")
    return doc if [s["queue"] for s in doc["sockets"]] == [unix, tcp] else None


def test_a_running_request_shows_on_its_core(ferry, tmp):
    """ferry's addition: which request a core is serving, and for how long."""
    f = ferry(stats_ini(tmp, threads=2))
    f.wait_workers(1)
    mark, started = tmp / "go", tmp / "started"
    blocked = connect(tmp / "s.sock")
    vars = [(k, "203.0.113.7" if k == "REMOTE_ADDR" else v)
            for k, v in nginx_vars("/block", query=f"mark={mark}&started={started}")]
    blocked.sendall(uwsgi_packet(vars))
    try:
        wait_until(started.exists, 10, message="the app to block")
        first = read_stats(tmp / "stats.sock")
        busy = [c for c in first["workers"][0]["cores"] if c["in_request"]]
        assert len(busy) == 1, first["workers"][0]["cores"]
        request = busy[0]["request"]
        assert request["method"] == "GET"
        assert request["uri"].startswith("/block?mark=")
        assert request["remote_addr"] == "203.0.113.7"
        assert "REMOTE_ADDR=203.0.113.7" in busy[0]["vars"]
        assert abs(busy[0]["req_info"]["request_start"] - time.time()) < 3600
        # the seconds grow while it runs
        later = wait_until(lambda: _seconds_past(tmp, request["seconds"]), 10, message="seconds to grow")
        assert later > request["seconds"]
    finally:
        mark.touch()
    assert read_until_close(blocked).startswith(b"HTTP/1.1 200")
    blocked.close()
    doc = read_stats(tmp / "stats.sock")
    assert not any(c["in_request"] for c in doc["workers"][0]["cores"])
    assert all(c["request"] == {} for c in doc["workers"][0]["cores"])


def _seconds_past(tmp, seconds):
    doc = read_stats(tmp / "stats.sock")
    for c in doc["workers"][0]["cores"]:
        if c["in_request"] and c["request"]["seconds"] > seconds:
            return c["request"]["seconds"]
    return None


# --- the reference: real uWSGI's stats document ------------------------------------------

UWSGI = "/usr/bin/uwsgi"

# The keys uWSGI 2.0 writes that ferry leaves out, and why: ferry has none of those locks.
NOT_IN_FERRY = {"locks"}


def _start_uwsgi(procs, tmp):
    from fixtures.paths import APPS
    d = tmp / "uwsgi"
    d.mkdir()
    argv = [UWSGI, "--plugin", "python3", "--master", "--processes", "2", "--threads", "2",
            "--socket", str(d / "s.sock"), "--stats", str(d / "stats.sock"), "--pythonpath", str(APPS),
            "--module", "statsapp", "--lazy-apps", "--logto", str(d / "uwsgi.log")]
    p = procs.popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_until(lambda: p.poll() is not None or _try(lambda: uwsgi_get(d / "s.sock")), 30,
               message="uWSGI to serve")
    assert p.poll() is None, (d / "uwsgi.log").read_text()
    return p, d


def _same_shape(ours, theirs, where="$"):
    """Every key uWSGI has is in ferry's document with the same JSON type, recursively."""
    problems = []
    if isinstance(theirs, dict):
        if not isinstance(ours, dict):
            return [f"{where}: uWSGI has an object, ferry {type(ours).__name__}"]
        for key, value in theirs.items():
            if where == "$" and key in NOT_IN_FERRY:
                continue
            if key not in ours:
                problems.append(f"{where}.{key}: missing")
            else:
                problems += _same_shape(ours[key], value, f"{where}.{key}")
    elif isinstance(theirs, list):
        if not isinstance(ours, list):
            return [f"{where}: uWSGI has a list, ferry {type(ours).__name__}"]
        if theirs and ours:
            for i, item in enumerate(ours):
                problems += _same_shape(item, theirs[0], f"{where}[{i}]")
    elif type(ours) is not type(theirs):
        problems.append(f"{where}: uWSGI has {type(theirs).__name__}, ferry {type(ours).__name__}")
    return problems


ISSUE_KEYS = {
    "$": "version listen_queue listen_queue_errors signal_queue load pid uid gid cwd sockets workers",
    "sockets": "name proto queue max_queue shared can_offload",
    "workers": "id pid accepting requests delta_requests exceptions harakiri_count signals signal_queue status "
               "rss vsz running_time last_spawn respawn_count tx avg_rt apps cores",
    "apps": "id modifier1 mountpoint startup_time requests exceptions chdir",
    "cores": "id requests static_requests routed_requests offloaded_requests write_errors read_errors "
             "in_request vars",
}


def test_the_document_has_every_key_of_uwsgi_with_the_same_types(ferry, procs, tmp):
    p, d = _start_uwsgi(procs, tmp)
    f = ferry(stats_ini(tmp, processes=2, threads=2))
    f.wait_workers(2)
    try:
        for addr in (d / "s.sock", tmp / "s.sock"):
            for path in ("/", "/", "/raise"):
                uwsgi_request(addr, nginx_vars(path))  # uWSGI answers nothing to /raise
        theirs = read_stats(d / "stats.sock")
        ours = read_stats(tmp / "stats.sock")
    finally:
        p.send_signal(signal.SIGINT)
        p.wait(timeout=20)
    assert _same_shape(ours, theirs) == []
    # The issue's list, checked on its own too (uWSGI's document is the reference above).
    assert set(ISSUE_KEYS["$"].split()) <= set(ours)
    assert set(ISSUE_KEYS["sockets"].split()) <= set(ours["sockets"][0])
    for w in ours["workers"]:
        assert set(ISSUE_KEYS["workers"].split()) <= set(w)
        assert set(ISSUE_KEYS["apps"].split()) <= set(w["apps"][0])
        assert len(w["cores"]) == 2
        for c in w["cores"]:
            assert set(ISSUE_KEYS["cores"].split()) <= set(c)
    # Both counted the same requests (uWSGI one more: the probe that saw it serving).
    assert worker_totals(ours)["requests"] == worker_totals(theirs)["requests"] - 1 == 3
    assert worker_totals(ours)["exceptions"] == 1


# --- /ready and /live ----------------------------------------------------------------------

def _health_ini(tmp, addr, module):
    return basic_ini(tmp, f"stats = {addr}", "stats-http = true", "threads = 2", processes=1, module=module)


def test_ready_is_503_while_starting_and_while_no_worker_accepts_live_is_200(ferry, tmp):
    addr = f"127.0.0.1:{free_port()}"
    hold = tmp / "hold"
    hold.touch()  # holdapp's import waits while this exists
    f = ferry(_health_ini(tmp, addr, "holdapp"), env={"HOLD_FILE": str(hold)}, start=False)
    f.start(wait=False)
    r = wait_until(lambda: _try(lambda: http_get(addr, "/ready")), 15, message="the stats server")
    assert (r.status, r.body) == (503, b"starting: 0 of 1 workers accepting\n")
    assert http_get(addr, "/live").status == 200
    hold.unlink()
    r = wait_until(lambda: _try(lambda: _status(addr, "/ready", 200)), 15, message="/ready to say 200")
    assert r.body == b"ready: 1 of 1 workers accepting\n"
    # The worker dies and its successor cannot import: nobody accepts.
    [pid] = f.wait_workers(1)
    hold.touch()
    os.kill(pid, signal.SIGKILL)
    r = wait_until(lambda: _try(lambda: _status(addr, "/ready", 503)), 15, message="/ready to say 503")
    assert r.body == b"no worker is accepting requests\n"
    hold.unlink()
    wait_until(lambda: _try(lambda: _status(addr, "/ready", 200)), 15, message="/ready to recover")


def test_ready_is_503_while_draining_after_sigterm_and_the_stats_stay_up(ferry, tmp):
    addr = f"127.0.0.1:{free_port()}"
    f = ferry(_health_ini(tmp, addr, "statsapp"))
    f.wait_workers(1)
    assert http_get(addr, "/ready").status == 200
    mark, started = tmp / "go", tmp / "started"
    blocked = connect(tmp / "s.sock")
    blocked.sendall(uwsgi_packet(nginx_vars("/block", query=f"mark={mark}&started={started}")))
    wait_until(started.exists, 10, message="the app to block")
    os.kill(f.pid, signal.SIGTERM)
    f.wait_log(r"got SIGTERM: stopping gracefully")
    r = http_get(addr, "/ready")
    assert (r.status, r.body) == (503, b"stopping: finishing in-flight requests\n")
    assert http_get(addr, "/live").status == 200
    doc = json.loads(http_get(addr, "/").body)
    assert doc["ferry"]["phase"] == "stopping"
    assert any(c["in_request"] for c in doc["workers"][0]["cores"])
    mark.touch()
    assert read_until_close(blocked).startswith(b"HTTP/1.1 200")
    blocked.close()
    assert f.wait() == 0, f.diagnostics()


def _status(addr, path, status):
    r = http_get(addr, path)
    return r if r.status == status else None


def test_stats_survive_a_preload_reload(ferry, tmp):
    """preload re-executes the master: the stats socket is bound again by the new image,
    and no worker holds the old one (which would make the bind fail)."""
    f = ferry(stats_ini(tmp, "preload = true", "vacuum = true"))
    [old] = f.wait_workers(1)
    assert read_stats(tmp / "stats.sock")["workers"][0]["pid"] == old
    os.kill(f.pid, signal.SIGHUP)
    [new] = f.wait_workers(1, exclude=[old], timeout=30)
    doc = wait_until(lambda: _try(lambda: _worker_is(tmp, new)), 15, message="stats after the re-exec")
    assert doc["pid"] == f.pid
    assert doc["workers"][0]["respawn_count"] == 2, "the per-id history survives the re-exec"
    assert f.stop() == 0, f.diagnostics()
    assert not (tmp / "stats.sock").exists()


def _worker_is(tmp, pid):
    doc = read_stats(tmp / "stats.sock")
    return doc if [w["pid"] for w in doc["workers"]] == [pid] else None


def test_harakiri_is_counted_under_the_worker_id(ferry, tmp):
    f = ferry(stats_ini(tmp, "harakiri = 1", "worker-reload-mercy = 1"))
    [pid] = f.wait_workers(1)
    mark, started = tmp / "never", tmp / "started"
    blocked = connect(tmp / "s.sock")
    blocked.sendall(uwsgi_packet(nginx_vars("/block", query=f"mark={mark}&started={started}")))
    [new] = f.wait_workers(1, exclude=[pid], timeout=20)
    blocked.close()
    doc = wait_until(lambda: _try(lambda: _worker_is(tmp, new)), 15, message="the new worker in the stats")
    [w] = doc["workers"]
    assert (w["id"], w["harakiri_count"], w["respawn_count"]) == (1, 1, 2)



@pytest.mark.parametrize("http", [False, True])
def test_clients_that_hang_up_before_the_answer_do_not_kill_the_master(ferry, tmp, http):
    """The answer is written to a client that has already gone: an EPIPE for the master to
    drop, not a SIGPIPE that kills it (and with it every worker)."""
    stats = tmp / "stats.sock"
    f = ferry(basic_ini(tmp, f"stats = {stats}", *(["stats-http = true"] if http else []), processes=1))
    f.wait_workers(1)
    reset_on_close = struct.pack("ii", 1, 0)  # SO_LINGER 0: the server's next write fails at once
    for _ in range(200):
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(str(stats))
            if http:
                try:
                    s.sendall(b"GET / HTTP/1.1\r\nHost: stats\r\n\r\n")
                except BrokenPipeError:
                    # The server closed it first: the earlier hang-ups it has not yet seen
                    # go still count as open, and past kMaxStatsConnections a new client
                    # is closed (stats_server.cpp). A hang-up all the same.
                    pass
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, reset_on_close)
    doc = wait_until(lambda: _try(lambda: http_get(stats) if http else read_stats(stats)), 10,
                     message="the stats after 200 hang-ups")
    assert doc is not None
    assert uwsgi_get(tmp / "s.sock", "/").status == 200
    assert f.stop() == 0, f.diagnostics()
