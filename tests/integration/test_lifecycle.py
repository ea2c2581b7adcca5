"""Operations around the master: systemd's notify protocol, log reopening for
logrotate, and staggered recycling."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from conftest import (FERRY_BIN, RequestLoop, basic_ini, can_connect, connect, free_port, http_request, nginx_vars,
                      ok_via_nginx, parse_http_response, process_age, read_until_close, uwsgi_get, uwsgi_packet,
                      uwsgi_request, wait_until)


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

    def both_seen():
        text = f.log_text()
        return "served max-requests (7)" in text and "served max-requests (10)" in text

    for _ in range(400):  # bounded: the kernel decides which worker accepts each request
        assert uwsgi_get(tmp / "s.sock", "/pid").status == 200
        if both_seen():
            break
        time.sleep(0.005)  # pacing between requests (the loop stops at the event), not a wait
    wait_until(both_seen, 5, message="both workers recycled at their own count")
    assert "served max-requests (4)" not in f.log_text()


def test_harakiri_logs_the_stuck_request_and_its_stack_and_replaces_the_worker(ferry, nginx, tmp):
    f = ferry(basic_ini(tmp, "harakiri = 1", processes=2))
    ng = nginx(tmp / "s.sock")
    workers = f.wait_workers(2)
    with RequestLoop(ok_via_nginx(ng.port, "/pid"), max_seconds=20, pause=0.005) as loop:
        loop.wait_count(10, timeout=10)
        status, _, _ = http_request(ng.port, "GET", "/sleep?s=20", timeout=30)
        f.wait_log(r"exited: exit code 5 \(harakiri\)")
        loop.wait_count(len(loop.results) + 20, timeout=10)
    # nginx got its answer when ferry cut the connection (502), not when the app finished
    # (that would have been a 200).
    assert status == 502
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
    mark = tmp / "stuck-started"
    stuck = threading.Thread(target=lambda: results.setdefault("stuck", uwsgi_request(
        tmp / "s.sock", nginx_vars("/sleep", query=f"s=20&mark={mark}"), timeout=30)))
    stuck.start()
    wait_until(mark.exists, 10, message="the stuck request to reach the app")
    # Started before the deadline on the other thread, finishing after it.
    finished = uwsgi_get(tmp / "s.sock", "/sleep", query="s=1.5", timeout=30)
    stuck.join(30)
    assert results["stuck"] == b""  # cut: nginx would answer 502
    assert finished.status == 200
    f.wait_log(r"harakiri: GET /sleep\?s=20&mark=\S+ .* thread \d\)")
    f.wait_log(r"exited: exit code 5 \(harakiri\)")
    assert uwsgi_get(tmp / "s.sock", "/pid").status == 200


def test_chain_reload_replaces_workers_one_at_a_time_under_load(ferry, nginx, tmp):
    f = ferry(basic_ini(tmp, f"pidfile = {tmp}/f.pid", processes=3))
    ng = nginx(tmp / "s.sock")
    old = set(f.wait_workers(3))
    with RequestLoop(ok_via_nginx(ng.port, "/pid"), max_seconds=30, pause=0.002) as loop:
        loop.wait_count(20, timeout=10)
        # The command-line form sends SIGUSR2 to the pid in the pidfile.
        assert subprocess.run([FERRY_BIN, "--chain-reload", str(tmp / "f.pid")], timeout=10).returncode == 0
        f.wait_log(r"chain reload done", timeout=30)
        loop.wait_count(len(loop.results) + 20, timeout=10)
    assert loop.failures == [], loop.failures[:3]
    new = set(f.wait_workers(3))
    assert not (new & old)
    # One at a time: worker k+1 of the new generation starts only once worker k is ready
    # (which is when the old worker k is told to go).
    lines = f.log_lines()
    started = {}
    for i, line in enumerate(lines):
        m = re.search(r"started worker (\d) \(pid (\d+), generation 2\)", line)
        if m:
            started[int(m.group(1))] = (i, m.group(2))
    assert sorted(started) == [1, 2, 3]
    for k in (1, 2):
        index, pid = started[k]
        ready = next(i for i, line in enumerate(lines) if f"worker {k} (pid {pid}) is ready" in line)
        assert index < ready < started[k + 1][0], lines


def test_touch_reload_and_touch_chain_reload(ferry, tmp):
    reload_file, chain_file = tmp / "reload.touch", tmp / "chain.touch"
    reload_file.write_text("")
    chain_file.write_text("")
    f = ferry(basic_ini(tmp, f"touch-reload = {reload_file}", f"touch-chain-reload = {chain_file}", processes=2))
    first = set(f.wait_workers(2))
    os.utime(reload_file, ns=(time.time_ns(), time.time_ns() + 5_000_000_000))
    f.wait_log(r"reload\.touch was touched: reloading", timeout=10)
    f.wait_log(r"reload done: 2 new workers", timeout=20)
    second = set(f.wait_workers(2, exclude=first))
    os.utime(chain_file, ns=(time.time_ns(), time.time_ns() + 9_000_000_000))
    f.wait_log(r"chain\.touch was touched: chain-reloading", timeout=10)
    f.wait_log(r"chain reload done", timeout=20)
    f.wait_workers(2, exclude=first | second)
    assert uwsgi_get(tmp / "s.sock").status == 200


def test_sigusr2_to_a_worker_dumps_its_python_stacks(ferry, tmp):
    f = ferry(basic_ini(tmp, processes=1))
    (worker,) = f.wait_workers(1)
    mark = tmp / "started"
    stuck = threading.Thread(target=lambda: uwsgi_get(tmp / "s.sock", "/sleep", query=f"s=2&mark={mark}",
                                                      timeout=10))
    stuck.start()
    wait_until(mark.exists, 10, message="the request to reach the app")
    os.kill(worker, signal.SIGUSR2)
    f.wait_log(r'File ".*testapp\.py", line \d+ in application')
    stuck.join(10)
    assert f.workers() == [worker]  # a stack dump, not a death


def test_reload_on_rss_recycles_a_leaking_worker_without_a_gap(ferry, tmp):
    f = ferry(basic_ini(tmp, "reload-on-rss = 60", processes=1))
    (first,) = f.wait_workers(1)
    for _ in range(10):  # 10 x 10 MB on top of the interpreter's ~15 MB
        r = uwsgi_get(tmp / "s.sock", "/grow", query="mb=10")
        assert r.status == 200
        if "reload-on-rss" in f.log_text():
            break
    line = f.wait_log(r"uses (\d+) MB of resident memory, above reload-on-rss = 60; asking the master")
    assert int(line.group(1)) > 60
    f.wait_log(rf"worker 1 \(pid {first}\) stopped")
    (successor,) = f.wait_workers(1, exclude=(first,))
    assert int(uwsgi_get(tmp / "s.sock", "/grow", query="mb=0").body) == successor


def test_socket_activation_uses_the_socket_systemd_passes(ferry, tmp):
    """LISTEN_FDS/LISTEN_PID as systemd sets them: ferry serves on the passed socket
    (no bind), keeps it out of vacuum, and hides the variables from the app."""
    path = str(tmp / "s.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(path)
    sock.listen(64)
    inode = os.stat(path).st_ino
    f = ferry(basic_ini(tmp, "vacuum = true", processes=1), start=False)
    # systemd's contract: the sockets from fd 3 on, LISTEN_PID = the server's own pid
    # (this launcher's pid is ferry's after exec).
    launcher = ("import os, sys; os.dup2(int(sys.argv[1]), 3); os.environ['LISTEN_FDS'] = '1'; "
                "os.environ['LISTEN_PID'] = str(os.getpid()); os.execv(sys.argv[2], sys.argv[2:])")
    f.argv = [sys.executable, "-c", launcher, str(sock.fileno()), *f.argv]
    f.popen_kwargs = {"pass_fds": (sock.fileno(),)}
    try:
        f.start()
        f.wait_log(r"is ready")
        r = uwsgi_get(tmp / "s.sock", "/environ")
        assert r.status == 200
        assert "LISTEN_FDS" not in r.body.decode() and "LISTEN_PID" not in r.body.decode()
        assert os.stat(path).st_ino == inode  # the very socket we made, not a new one
        f.stop(signal.SIGTERM)
        assert os.path.exists(path), "vacuum must not remove a socket systemd owns"
        assert os.stat(path).st_ino == inode
        # ...nor stop it listening: systemd queues clients there for the next ferry.
        connect(path, timeout=2).close()
    finally:
        sock.close()


def test_a_graceful_stop_refuses_new_clients_at_once_while_requests_finish(ferry, tmp):
    """SIGTERM: the socket stops listening at once, so a new client is refused (nginx's
    upstream then tries the next host without waiting) rather than queued for the whole
    drain and reset when ferry exits; the request in flight still gets its answer."""
    f = ferry(basic_ini(tmp, processes=2))
    results = {}
    mark = tmp / "started"
    slow = threading.Thread(target=lambda: results.setdefault("r", uwsgi_get(
        tmp / "s.sock", "/sleep", query=f"s=1.5&mark={mark}", timeout=30)))
    slow.start()
    wait_until(mark.exists, 10, message="the slow request to reach the app")
    os.kill(f.pid, signal.SIGTERM)
    wait_until(lambda: not can_connect(tmp / "s.sock"), 1.0,
               message="the socket to refuse new clients while the slow request runs")
    with pytest.raises(ConnectionRefusedError):
        connect(tmp / "s.sock", timeout=2).close()
    assert slow.is_alive(), "the slow request ended before the drain could be observed"
    slow.join(10)
    assert results["r"].status == 200
    assert f.wait(10) == 0


@pytest.mark.parametrize("where", ["unix", "tcp"])
def test_a_graceful_stop_answers_the_requests_waiting_in_the_socket_queue(ferry, tmp, where):
    """The only serving thread is busy, so new clients wait in the socket's queue, their
    request already sent (as nginx writes it at once). At SIGTERM each of them is still
    answered: a reset would be a 502 for a POST, which nginx does not send again. Then
    the socket refuses new clients, while the slow request is still running."""
    port = free_port()
    f = ferry(basic_ini(tmp, f"socket = 127.0.0.1:{port}", processes=1))
    addr = tmp / "s.sock" if where == "unix" else ("127.0.0.1", port)
    results = {}
    mark = tmp / "started"
    slow = threading.Thread(target=lambda: results.setdefault("slow", uwsgi_get(
        addr, "/sleep", query=f"s=1.5&mark={mark}", timeout=30)))
    slow.start()
    wait_until(mark.exists, 10, message="the slow request to reach the app")
    waiting = []
    for i in range(6):
        body = f"queued POST {i}".encode()
        s = connect(addr, timeout=10)
        s.sendall(uwsgi_packet(nginx_vars("/echo", method="POST", body=body), body))
        waiting.append((s, body))
    os.kill(f.pid, signal.SIGTERM)
    wait_until(lambda: not can_connect(addr), 1.0, message="the socket to refuse new clients")
    assert slow.is_alive(), "the slow request ended before the queue's drain could be observed"
    for s, body in waiting:
        with s:
            response = parse_http_response(read_until_close(s, timeout=20))
        assert response.status == 200 and json.loads(response.body)["head"] == body.decode(), (body, response)
    slow.join(10)
    assert results["slow"].status == 200
    assert f.wait(10) == 0
    # The six, and any probe of can_connect's that came before the socket was shut.
    taken = re.search(r"stopping: answering (\d+) connections that waited in the socket's queue", f.log_text())
    assert taken and int(taken.group(1)) >= 6, f.log_text()


@pytest.mark.parametrize("sig", [signal.SIGQUIT, signal.SIGINT])
def test_sigquit_and_sigint_are_a_fast_stop(ferry, tmp, sig):
    f = ferry(basic_ini(tmp, "vacuum = true", processes=1))
    results = {}
    mark = tmp / "started"
    slow = threading.Thread(target=lambda: results.setdefault("r", uwsgi_request(
        tmp / "s.sock", nginx_vars("/sleep", query=f"s=20&mark={mark}"), timeout=30)))
    slow.start()
    wait_until(mark.exists, 10, message="the slow request to reach the app")
    assert f.stop(sig, timeout=10) == 0  # the timeout bounds a hang; a graceful stop would wait 20 s
    slow.join(10)
    assert results["r"] == b""  # cut, as a fast stop does (a finished request would be a 200)
    assert "fast stop" in f.log_text()
    assert not (tmp / "s.sock").exists()


def test_umask_applies_to_the_files_ferry_creates(ferry, tmp):
    ferry(basic_ini(tmp, "umask = 027", f"pidfile = {tmp}/f.pid", processes=1))
    assert os.stat(tmp / "ferry.log").st_mode & 0o777 == 0o640
    assert os.stat(tmp / "f.pid").st_mode & 0o777 == 0o640


def _ids(pid):
    status = open(f"/proc/{pid}/status").read()
    uid = int(re.search(r"^Uid:\s+(\d+)", status, re.M).group(1))
    gid = int(re.search(r"^Gid:\s+(\d+)", status, re.M).group(1))
    return uid, gid


def test_uid_gid_drop_privileges_after_binding(ferry, tmp):
    import grp
    import pwd
    assert os.geteuid() == 0, "CI runs as root; this test checks dropping root"
    nobody = pwd.getpwnam("nobody")
    nogroup = grp.getgrnam("nogroup")
    f = ferry(basic_ini(tmp, "uid = nobody", "gid = nogroup", "chown-socket = nobody:nogroup",
                        "chmod-socket = 660", processes=1))
    (worker,) = f.wait_workers(1)
    assert _ids(f.pid) == (nobody.pw_uid, nogroup.gr_gid)
    assert _ids(worker) == (nobody.pw_uid, nogroup.gr_gid)
    st = os.stat(tmp / "s.sock")
    assert (st.st_uid, st.st_gid) == (nobody.pw_uid, nogroup.gr_gid)
    assert uwsgi_get(tmp / "s.sock").status == 200
    f.wait_log(rf"running as uid {nobody.pw_uid}, gid {nogroup.gr_gid}")


def test_unknown_uid_is_a_startup_error(ferry, tmp):
    f = ferry(basic_ini(tmp, "uid = no-such-user-xyz", "vacuum = true", processes=1), start=False)
    assert f.run_to_exit() == 3
    assert "there is no user 'no-such-user-xyz'" in f.stderr
    assert not (tmp / "s.sock").exists()  # nothing left behind


def test_auto_procname_titles_master_and_workers(ferry, tmp):
    # The title overwrites the command line ("<ferry path> <ini path>"), which is longer.
    f = ferry(basic_ini(tmp, "procname-prefix-spaced = shop", processes=2))
    workers = f.wait_workers(2)

    def title(pid):
        return open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")[0].decode()

    wait_until(lambda: title(f.pid) == "shop ferry master", 5, message="the master's title")
    assert sorted(title(w) for w in workers) == ["shop ferry worker 1", "shop ferry worker 2"]
    assert open(f"/proc/{f.pid}/comm").read().strip() == "shop ferry mast"  # the kernel keeps 15 bytes


def test_a_dead_workers_line_says_how_it_died_and_what_it_served(ferry, tmp):
    f = ferry(basic_ini(tmp, processes=1))
    (worker,) = f.wait_workers(1)
    for _ in range(5):
        assert uwsgi_get(tmp / "s.sock", "/pid").status == 200
    os.kill(worker, signal.SIGKILL)
    f.wait_log(rf"worker 1 \(pid {worker}\) exited: killed by signal 9 \(SIGKILL\) after 5 requests and [\d.]+ s; "
               r"starting a new one")
    f.wait_workers(1, exclude=(worker,))


def test_min_worker_lifetime_defers_recycling(ferry, tmp):
    f = ferry(basic_ini(tmp, "max-requests = 2", "min-worker-lifetime = 2", processes=1))
    (worker,) = f.wait_workers(1)
    # Ten times max-requests, all within the lifetime: still the same worker.
    pids = {int(uwsgi_get(tmp / "s.sock", "/pid").body) for _ in range(20)}
    assert process_age(worker) < 2, "the requests took the whole lifetime: nothing was tested"
    assert pids == {worker}
    assert "served max-requests" not in f.log_text()
    # Waiting for the lifetime to pass is the subject here: the worker's age, read from the
    # kernel, says when it has.
    wait_until(lambda: process_age(worker) >= 2, 10, interval=0.02,
               message=f"worker {worker} to be 2 s old")

    def recycling():  # a request once the lifetime is over triggers the recycle
        assert uwsgi_get(tmp / "s.sock", "/pid").status == 200
        return "served max-requests (2); asking the master for a replacement" in f.log_text()

    wait_until(recycling, 10, interval=0.02, message="a request past min-worker-lifetime to recycle")
    f.wait_workers(1, exclude=(worker,))
