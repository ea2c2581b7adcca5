"""Operations around the master: systemd's notify protocol, log reopening for
logrotate, and staggered recycling."""

import os
import re
import signal
import socket
import threading
import time

from conftest import (RequestLoop, basic_ini, http_request, nginx_vars, ok_via_nginx, uwsgi_get, uwsgi_request,
                      wait_until)


class NotifyListener:
    """What systemd does with NOTIFY_SOCKET: a datagram socket collecting state lines."""

    def __init__(self, path):
        self.path = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.2)
        self.messages = []

    def collect(self):
        try:
            while True:
                self.messages.append(self.sock.recv(4096).decode())
        except socket.timeout:
            pass
        return self.messages

    def wait_for(self, needle, timeout=15):
        return wait_until(lambda: any(needle in m for m in self.collect()), timeout,
                          message=f"a notify message with {needle!r}")

    def close(self):
        self.sock.close()


def test_systemd_notify_ready_reloading_stopping(ferry, tmp):
    listener = NotifyListener(tmp / "notify.sock")
    try:
        f = ferry(basic_ini(tmp, processes=2), env={"NOTIFY_SOCKET": listener.path})
        listener.wait_for("READY=1")
        first = listener.collect()[0]
        assert "STATUS=serving: 2 workers" in first
        # READY comes only once every worker has loaded the app.
        assert len(f.request_lines()) == 0 and uwsgi_get(tmp / "s.sock").status == 200

        os.kill(f.pid, signal.SIGHUP)
        listener.wait_for("RELOADING=1")
        reloading = next(m for m in listener.messages if "RELOADING=1" in m)
        assert "MONOTONIC_USEC=" in reloading
        wait_until(lambda: sum("READY=1" in m for m in listener.collect()) == 2, 20,
                   message="READY=1 again after the reload")

        f.stop(signal.SIGTERM)
        listener.wait_for("STOPPING=1")
        assert f.returncode == 0
        # The workers never talk to systemd: only the master's messages arrived.
        assert all(m.startswith(("READY=1", "RELOADING=1", "STOPPING=1")) for m in listener.messages)
    finally:
        listener.close()


def test_without_notify_socket_nothing_is_sent(ferry, tmp):
    # The same run with no NOTIFY_SOCKET must simply work (no error, no stray socket).
    f = ferry(basic_ini(tmp, processes=1))
    assert uwsgi_get(tmp / "s.sock").status == 200
    assert "NOTIFY" not in f.log_text()


def test_sigusr1_reopens_the_log_after_logrotate_moved_it(ferry, tmp):
    f = ferry(basic_ini(tmp, processes=1))
    log = tmp / "ferry.log"
    assert uwsgi_get(tmp / "s.sock", "/before").status == 200
    f.wait_log(r"GET /before ")
    rotated = tmp / "ferry.log.1"
    os.rename(log, rotated)
    os.kill(f.pid, signal.SIGUSR1)
    wait_until(log.exists, 10, message="a new log file")
    assert uwsgi_get(tmp / "s.sock", "/after").status == 200
    f.wait_log(r"GET /after ")
    assert "reopened the log file" in log.read_text()
    assert "GET /after " not in rotated.read_text()
    assert "GET /before " in rotated.read_text()


def test_max_requests_delta_staggers_recycling(ferry, tmp):
    # Worker 1 recycles after 4 + 1*3 = 7 requests, worker 2 after 4 + 2*3 = 10.
    f = ferry(basic_ini(tmp, "max-requests = 4", "max-requests-delta = 3", processes=2))
    for _ in range(60):
        uwsgi_get(tmp / "s.sock", "/pid")
    f.wait_log(r"served max-requests \(7\)")
    f.wait_log(r"served max-requests \(10\)")
    assert "served max-requests (4)" not in f.log_text()


def test_harakiri_logs_the_stuck_request_and_its_stack_and_replaces_the_worker(ferry, nginx, tmp):
    f = ferry(basic_ini(tmp, "harakiri = 1", processes=2))
    ng = nginx(tmp / "s.sock")
    workers = f.wait_workers(2)
    with RequestLoop(ok_via_nginx(ng.port, "/pid"), max_seconds=20, pause=0.005) as loop:
        loop.wait_count(10, timeout=10)
        started = time.monotonic()
        status, _, _ = http_request(ng.port, "GET", "/sleep?s=20", timeout=30)
        elapsed = time.monotonic() - started
        f.wait_log(r"exited: exit code 5 \(harakiri\)")
        loop.wait_count(len(loop.results) + 20, timeout=10)
    # nginx got its answer when ferry cut the connection, not when the app finished.
    assert status == 502
    assert elapsed < 10, elapsed
    log = f.log_text()
    line = f.wait_log(r"harakiri: GET /sleep\?s=20 has run for [\d.]+ s, past harakiri = 1 s "
                      r"\(worker \d, pid (\d+), thread 0\)")
    stuck_pid = int(line.group(1))
    assert stuck_pid in workers
    # faulthandler's dump: the frame the request was stuck in.
    assert re.search(r'File ".*testapp\.py", line \d+ in application', log), log
    # Only the stuck request failed; the rest went to the other worker.
    assert loop.failures == [], loop.failures[:3]
    f.wait_workers(2, exclude=(stuck_pid,))


def test_harakiri_with_threads_lets_the_other_threads_finish(ferry, tmp):
    f = ferry(basic_ini(tmp, "harakiri = 1", "threads = 2", processes=1))
    results = {}
    stuck = threading.Thread(target=lambda: results.setdefault(
        "stuck", uwsgi_request(tmp / "s.sock", nginx_vars("/sleep", query="s=20"), timeout=30)))
    stuck.start()
    time.sleep(0.3)
    # Started before the deadline on the other thread, finishing after it.
    finished = uwsgi_get(tmp / "s.sock", "/sleep", query="s=1.5", timeout=30)
    stuck.join(30)
    assert results["stuck"] == b""  # cut: nginx would answer 502
    assert finished.status == 200
    f.wait_log(r"harakiri: GET /sleep\?s=20 .* thread \d\)")
    f.wait_log(r"exited: exit code 5 \(harakiri\)")
    assert uwsgi_get(tmp / "s.sock", "/pid").status == 200
