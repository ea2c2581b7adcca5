"""The pre-forking master: workers, crashes, signals, reloads, bursts."""

import os
import re
import signal
import socket
import threading
import time

import pytest

from conftest import (RequestLoop, basic_ini, connect, http_request, ok_via_nginx, ok_via_uwsgi, pid_alive,
                      eventfd_counts, listen_queue, read_until_close, stop_signal_seen, uwsgi_get, uwsgi_packet, uwsgi_request,
                      nginx_vars, wait_until)


def test_prefork_workers_are_children_of_the_master(ferry, tmp):
    f = ferry(basic_ini(tmp, processes=3))
    workers = f.wait_workers(3)
    seen = set()
    for _ in range(30):
        r = uwsgi_get(tmp / "s.sock", "/pid")
        assert r.status == 200
        seen.add(int(r.body))
    assert seen <= set(workers), f"requests served by {seen}, workers are {workers}"
    assert f.pid not in seen, "the master must not serve requests itself"


def test_workers_is_an_alias_of_processes(ferry, tmp):
    ini = basic_ini(tmp, processes=1).replace("processes = 1", "workers = 2")
    ferry(ini).wait_workers(2)


def exit_line(f, pid, what):
    """Waits for a log line naming the worker pid and the exit status/signal."""
    return f.wait_log(rf"^(?=.*\b{pid}\b)(?=.*\b{what}\b).*$")


def test_kill9_worker_under_request_loop(ferry, nginx, tmp):
    f = ferry(basic_ini(tmp, processes=2))
    ng = nginx(tmp / "s.sock")
    workers = f.wait_workers(2)
    with RequestLoop(ok_via_nginx(ng.port), max_seconds=20, pause=0.002) as loop:
        loop.wait_count(30)
        victim = workers[0]
        os.kill(victim, signal.SIGKILL)
        killed_at = time.monotonic()
        new = f.wait_workers(2, exclude=(victim,), timeout=10)
        assert workers[1] in new, (workers, new)
        replaced_at = time.monotonic()
        n = len(loop.results)
        loop.wait_count(n + 50, timeout=15)
    exit_line(f, victim, "signal 9")
    # At most the one request the victim was serving may fail, and nothing after.
    assert len(loop.failures) <= 1, loop.failures[:5]
    assert not [r for r in loop.failures if r[0] > replaced_at], loop.failures
    assert len([r for r in loop.successes if r[0] > killed_at]) >= 50
    assert f.running()


def test_os_exit_in_app_replaces_worker(ferry, tmp):
    f = ferry(basic_ini(tmp, processes=2))
    workers = f.wait_workers(2)
    resp = uwsgi_request(tmp / "s.sock", nginx_vars("/exit", query="code=3&token=x1"))
    assert not resp.startswith(b"HTTP/1.1 200"), resp[:200]
    new = f.wait_workers(2, exclude=())
    gone = set(workers) - set(new)
    assert len(gone) == 1, (workers, new)
    exit_line(f, gone.pop(), "exit code 3")
    for _ in range(10):
        assert uwsgi_get(tmp / "s.sock").status == 200


def test_segfault_in_app_replaces_worker(ferry, tmp):
    f = ferry(basic_ini(tmp, processes=2))
    workers = f.wait_workers(2)
    resp = uwsgi_request(tmp / "s.sock", nginx_vars("/segv", query="token=sv9"))
    assert not resp.startswith(b"HTTP/1.1 200"), resp[:200]
    new = f.wait_workers(2)
    gone = set(workers) - set(new)
    assert len(gone) == 1, (workers, new)
    exit_line(f, gone.pop(), "signal 11")
    for _ in range(10):
        assert uwsgi_get(tmp / "s.sock").status == 200
    # What the worker wrote (a complete line) right before crashing is not lost.
    f.wait_log(r"about to crash sv9$")


def start_slow_request(tmp):
    """A 1 s request in a thread; returns once the app has started it."""
    mark = tmp / "started"
    result = {}

    def slow():
        try:
            result["r"] = uwsgi_get(tmp / "s.sock", "/sleep", query=f"s=1&mark={mark}")
        except Exception as e:  # noqa: BLE001
            result["e"] = e

    t = threading.Thread(target=slow)
    t.start()
    wait_until(mark.exists, 5, message="the slow request to start")
    return t, result


@pytest.mark.parametrize("sig", [signal.SIGTERM])
def test_graceful_stop_finishes_inflight_request_then_vacuums(ferry, tmp, sig):
    f = ferry(basic_ini(tmp, f"pidfile = {tmp}/f.pid", "vacuum = true", processes=2))
    workers = f.wait_workers(2)
    wait_until(lambda: (tmp / "f.pid").exists(), 5, message="pidfile")
    t, result = start_slow_request(tmp)
    os.kill(f.pid, sig)
    t.join(10)
    assert "r" in result, f"in-flight request failed: {result.get('e')!r}\n" + f.diagnostics()
    assert result["r"].status == 200 and result["r"].body.startswith(b"slept")
    assert f.wait(timeout=6) == 0, f.diagnostics()  # bounds a hang, not a speed claim
    assert not (tmp / "s.sock").exists(), "vacuum: socket left behind"
    assert not (tmp / "f.pid").exists(), "vacuum: pidfile left behind"
    assert not [w for w in workers if pid_alive(w)], "workers survived the master"
    for w in workers:  # a start line and an exit line each
        assert len(re.findall(rf"\b{w}\b", f.log_text())) >= 2, f.log_text()


def test_idle_stop_is_quick(ferry, tmp):
    f = ferry(basic_ini(tmp, processes=2))
    workers = f.wait_workers(2)
    assert f.stop(signal.SIGTERM, timeout=5) == 0
    # Each idle worker left by itself at once, none was killed at the graceful deadline.
    for w in workers:
        assert re.search(rf"\(pid {w}\) stopped: exit code 0 after 0 requests", f.log_text()), \
            f.log_text()


def test_vacuum_leaves_files_that_are_no_longer_its_own(ferry, tmp):
    f = ferry(basic_ini(tmp, f"pidfile = {tmp}/f.pid", "vacuum = true", processes=1))
    wait_until(lambda: (tmp / "f.pid").exists(), 5, message="pidfile")
    # Someone else took over both paths (e.g. a second instance started meanwhile).
    os.unlink(tmp / "s.sock")
    other = socket.socket(socket.AF_UNIX)
    other.bind(str(tmp / "s.sock"))
    other.listen(1)
    try:
        (tmp / "f.pid").write_text("999999\n")
        assert f.stop() == 0, f.diagnostics()
        assert (tmp / "s.sock").exists(), "ferry removed a socket it no longer owned"
        assert (tmp / "f.pid").read_text() == "999999\n", "ferry removed a foreign pidfile"
    finally:
        other.close()


def test_sighup_reload_under_request_loop(ferry, nginx, tmp):
    f = ferry(basic_ini(tmp, processes=2))
    ng = nginx(tmp / "s.sock")
    old = f.wait_workers(2)
    inode = (tmp / "s.sock").stat().st_ino
    with RequestLoop(ok_via_nginx(ng.port), max_seconds=25, pause=0.002) as loop:
        loop.wait_count(30)
        hup_at = time.monotonic()
        os.kill(f.pid, signal.SIGHUP)
        new = f.wait_workers(2, exclude=old, timeout=15)
        n = len(loop.results)
        loop.wait_count(n + 50, timeout=15)
    assert not set(new) & set(old), (old, new)
    assert loop.failures == [], loop.failures[:10]
    assert len([r for r in loop.results if r[0] > hup_at]) >= 50
    assert f.running(), "the master survives a reload"
    assert (tmp / "s.sock").stat().st_ino == inode, "reload must keep the same socket"


def test_sighup_lets_inflight_request_finish(ferry, tmp):
    f = ferry(basic_ini(tmp, processes=1))
    old = f.wait_workers(1)
    t, result = start_slow_request(tmp)
    os.kill(f.pid, signal.SIGHUP)
    t.join(10)
    assert "r" in result and result["r"].status == 200, result
    f.wait_workers(1, exclude=old)
    assert uwsgi_get(tmp / "s.sock").status == 200


def test_burst_of_500_connections_through_nginx_gets_no_502(ferry, nginx, tmp):
    f = ferry(basic_ini(tmp, processes=2))
    ng = nginx(tmp / "s.sock")
    f.wait_workers(2)
    n = 500
    barrier = threading.Barrier(n, timeout=30)
    statuses = [None] * n

    def one(i):
        try:
            barrier.wait()
            # A short sleep in the app makes the connections queue up on the socket.
            statuses[i] = http_request(ng.port, "GET", "/sleep?s=0.005", timeout=60)[0]
        except Exception as e:  # noqa: BLE001
            statuses[i] = repr(e)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    bad = [s for s in statuses if s != 200]
    assert not bad, f"{len(bad)} of {n} failed, e.g. {bad[:5]}\n" + ng.error_log()[-1500:]


def test_sighup_loads_new_app_code(ferry, tmp):
    """A reload is how users deploy: new workers import the app afresh."""
    (tmp / "deployed.py").write_text(
        "def application(e, sr):\n"
        "    sr('200 OK', [('Content-Type', 'text/plain')])\n"
        "    return [b'version 1']\n")
    f = ferry(basic_ini(tmp, f"pythonpath = {tmp}", module="deployed", processes=2))
    old = f.wait_workers(2)
    assert uwsgi_get(tmp / "s.sock").body == b"version 1"
    # A different size: Python trusts deployed.cpython-311.pyc while the source's mtime (in
    # whole seconds) and size match it, so the same size rewritten within the second of the
    # first import would load version 1 again, whatever the server does.
    (tmp / "deployed.py").write_text(
        "def application(e, sr):\n"
        "    sr('200 OK', [('Content-Type', 'text/plain')])\n"
        "    return [b'version 2, redeployed']\n")
    os.kill(f.pid, signal.SIGHUP)
    f.wait_workers(2, exclude=old, timeout=15)
    bodies = {uwsgi_get(tmp / "s.sock").body for _ in range(10)}
    assert bodies == {b"version 2, redeployed"}, bodies


def test_two_quick_reloads_under_request_loop(ferry, tmp):
    f = ferry(basic_ini(tmp, processes=2))
    old = f.wait_workers(2)
    with RequestLoop(ok_via_uwsgi(tmp / "s.sock"), max_seconds=25, pause=0.002) as loop:
        loop.wait_count(20)
        mark = f.log_offset()
        os.kill(f.pid, signal.SIGHUP)
        # The second SIGHUP lands while the first reload is under way.
        f.wait_log(r"got SIGHUP: reloading", after=mark)
        os.kill(f.pid, signal.SIGHUP)
        f.wait_workers(2, exclude=old, timeout=15)
        n = len(loop.results)
        loop.wait_count(n + 50, timeout=15)
    assert loop.failures == [], loop.failures[:10]
    assert f.running()
    assert f.stop() == 0, f.diagnostics()


def test_busy_worker_does_not_block_the_others(ferry, tmp):
    f = ferry(basic_ini(tmp, processes=2))
    f.wait_workers(2)
    mark = tmp / "started"
    t = threading.Thread(target=uwsgi_get, args=(tmp / "s.sock", "/sleep"),
                         kwargs={"query": f"s=2&mark={mark}"})
    t.start()
    try:
        wait_until(lambda: mark.exists() and mark.read_text(), 5,
                   message="the slow request to start")
        busy = int(mark.read_text())
        served_by = [int(uwsgi_get(tmp / "s.sock", "/pid", timeout=5).body) for _ in range(10)]
        # All ten were answered by the other worker while the busy one was still in its
        # 2 s request: none of them queued behind it.
        assert busy not in served_by, (busy, served_by)
        assert t.is_alive(), "the slow request ended before the quick ones were answered"
    finally:
        t.join(10)


def test_stop_signal_while_a_request_is_still_arriving_does_not_drop_it(ferry, tmp):
    # The worker has accepted the connection and waits for the packet when the graceful
    # stop reaches it: the signal interrupts that wait, and the request must still be
    # read and answered (this dropped requests during reloads).
    f = ferry(basic_ini(tmp, processes=1))
    (worker,) = f.wait_workers(1)
    s = connect(tmp / "s.sock", timeout=10)
    try:
        # The worker has taken the connection off the listen queue and waits for the packet.
        wait_until(lambda: listen_queue(tmp / "s.sock") == 0, 10,
                   message="the worker to accept the connection")
        before, mark = eventfd_counts(worker), f.log_offset()
        os.kill(f.pid, signal.SIGTERM)
        f.wait_log(r"got SIGTERM: stopping gracefully", after=mark)
        wait_until(lambda: stop_signal_seen(worker, before), 10,
                   message=f"worker {worker} to record the SIGTERM the master passed on")
        s.sendall(uwsgi_packet(nginx_vars("/")))
        response = read_until_close(s)
    finally:
        s.close()
    assert response.startswith(b"HTTP/1.1 200"), response[:200]
    assert f.wait(timeout=10) == 0
