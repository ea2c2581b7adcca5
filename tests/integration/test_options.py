"""Each supported option does what it says."""

import os
import shutil
import signal
import tempfile
import threading
import time
from pathlib import Path

import pytest

from conftest import (APPS, basic_ini, can_connect, free_port, listen_backlog, make_venv,
                      nginx_vars, parse_http_response, pid_alive, uwsgi_get, uwsgi_request,
                      venv_site_packages, wait_until)


@pytest.fixture(scope="module")
def venv_with_probe():
    """A venv (system site packages visible) holding a package that exists only there."""
    d = Path(tempfile.mkdtemp(prefix="fv", dir="/tmp"))
    try:
        venv = make_venv(d / "venv")
        pkg = venv_site_packages(venv) / "ferry_venv_probe"
        pkg.mkdir(parents=True)
        (pkg / "__init__.py").write_text("VALUE = 'venv-probe-ok'\n")
        yield venv
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.mark.parametrize("key", ["home", "virtualenv"])
def test_venv_only_package_is_importable(ferry, tmp, venv_with_probe, key):
    ferry(basic_ini(tmp, f"{key} = {venv_with_probe}", module="venvapp", processes=1))
    r = uwsgi_get(tmp / "s.sock")
    assert r.status == 200, r.raw[:2000]
    assert r.body.startswith(b"venv-probe-ok"), r.body
    assert f"prefix={venv_with_probe}".encode() in r.body, r.body


def test_without_home_the_venv_package_is_missing(ferry, tmp, venv_with_probe):
    """Control for the test above: the probe package really is only in the venv."""
    f = ferry(basic_ini(tmp, module="venvapp", processes=1), start=False)
    assert f.run_to_exit(timeout=20) == 4, f.diagnostics()
    assert "ferry_venv_probe" in f.stderr


def test_home_venv_also_sees_system_django(ferry, tmp, venv_with_probe):
    """--system-site-packages: Debian's python3-django stays importable through the venv."""
    (tmp / "djcheck.py").write_text(
        "import django\n"
        "def application(e, sr):\n"
        "    sr('200 OK', [('Content-Type', 'text/plain')])\n"
        "    return [django.get_version().encode()]\n")
    ini = basic_ini(tmp, f"home = {venv_with_probe}", f"pythonpath = {tmp}", module="djcheck",
                    processes=1)
    ferry(ini)
    r = uwsgi_get(tmp / "s.sock")
    assert r.status == 200 and r.body[:1].isdigit(), r.raw[:2000]


def test_chdir(ferry, tmp):
    work = tmp / "work"
    work.mkdir()
    ferry(basic_ini(tmp, f"chdir = {work}", processes=1))
    assert uwsgi_get(tmp / "s.sock", "/cwd").json()["cwd"] == str(work)


@pytest.mark.parametrize("lines,expected", [
    (["module = pkg.wsgi"], b"pkg.wsgi application"),
    (["module = pkg.wsgi:app2"], b"pkg.wsgi app2"),
    (["module = callables:named"], b"from named"),
    (["module = callables", "callable = other"], b"from other"),
    ([f"wsgi-file = {APPS}/wsgifile/site_app.py"], b"from wsgi-file application"),
    ([f"wsgi-file = {APPS}/wsgifile/site_app.py", "callable = alt"], b"from wsgi-file alt"),
])
def test_app_selection(ferry, tmp, lines, expected):
    ini = "\n".join(["[uwsgi]", f"socket = {tmp}/s.sock", f"pythonpath = {APPS}",
                     "processes = 1", "master = true", f"logger = file:{tmp}/ferry.log",
                     *lines]) + "\n"
    ferry(ini)
    r = uwsgi_get(tmp / "s.sock")
    assert (r.status, r.body) == (200, expected), r.raw[:2000]


def test_env_values(ferry, tmp):
    ferry(basic_ini(tmp, "env = EQ=a=b", "env = EMPTY=", "env = SPACED=two words",
                    "env = KO=가상환경 경로", processes=1))
    env = uwsgi_get(tmp / "s.sock", "/osenv").json()
    assert env["KO"] == "가상환경 경로"
    assert env["EQ"] == "a=b"
    assert env["EMPTY"] == ""
    assert env["SPACED"] == "two words"


def test_tcp_and_unix_sockets_together(ferry, tmp):
    port = free_port()
    ini = basic_ini(tmp, f"socket = 127.0.0.1:{port}")
    ferry(ini)
    assert uwsgi_get(("127.0.0.1", port)).body == b"hello"
    assert uwsgi_get(tmp / "s.sock").body == b"hello"


@pytest.mark.parametrize("mode", ["666", "660", "600"])
def test_chmod_socket(ferry, tmp, mode):
    ferry(basic_ini(tmp, f"chmod-socket = {mode}", processes=1))
    assert ((tmp / "s.sock").stat().st_mode & 0o777) == int(mode, 8)


def test_pidfile_holds_master_pid(ferry, tmp):
    f = ferry(basic_ini(tmp, f"pidfile = {tmp}/f.pid"))
    wait_until(lambda: (tmp / "f.pid").exists(), 5, message="pidfile")
    assert int((tmp / "f.pid").read_text().strip()) == f.pid


def test_logto(ferry, tmp):
    ini = basic_ini(tmp, f"logto = {tmp}/logto.log", log=False)
    f = ferry(ini)
    assert uwsgi_get(tmp / "s.sock", "/via-logto").status == 200
    f.wait_log(r"GET /via-logto => generated")
    assert "ferry" in f.log_text()


def test_daemonize_detaches_and_keeps_serving(ferry, tmp):
    ini = basic_ini(tmp, f"daemonize = {tmp}/d.log", f"pidfile = {tmp}/d.pid", "vacuum = true",
                    log=False)
    f = ferry(ini, start=False)
    # Detaching means the process we started exits 0 while the daemon it left behind goes
    # on serving (checked below); the timeout only bounds a hang.
    rc = f.run_to_exit(timeout=10)
    assert rc == 0, f.diagnostics()
    wait_until(lambda: (tmp / "d.pid").exists() and (tmp / "d.pid").read_text().strip(), 10,
               message="pidfile of the daemon")
    daemon_pid = int((tmp / "d.pid").read_text().strip())
    assert daemon_pid != f.pid
    assert pid_alive(daemon_pid)
    wait_until(lambda: can_connect(tmp / "s.sock"), 10, message="daemon socket")
    assert uwsgi_get(tmp / "s.sock", "/daemon").body == b"hello"
    f.wait_log(r"GET /daemon => generated")
    assert "ferry" in f.log_text()
    os.kill(daemon_pid, signal.SIGTERM)
    wait_until(lambda: not pid_alive(daemon_pid), 10, message="daemon exit after SIGTERM")
    assert not (tmp / "s.sock").exists()
    assert not (tmp / "d.pid").exists()


def test_buffer_size_limits_the_vars_block(ferry, tmp):
    f = ferry(basic_ini(tmp, "buffer-size = 4096"))
    small = nginx_vars("/small", headers=[("Cookie", "c=" + "x" * 1000)])
    assert parse_http_response(uwsgi_request(tmp / "s.sock", small)).status == 200
    before = len(f.log_lines())
    big = nginx_vars("/big", headers=[("Cookie", "c=" + "x" * 6000)])
    assert uwsgi_request(tmp / "s.sock", big) == b"", "a 6 KB vars block exceeds buffer-size"
    wait_until(lambda: len(f.log_lines()) > before, 5, message="a log line for the refusal")
    assert uwsgi_get(tmp / "s.sock").status == 200


def test_listen_sets_the_backlog(ferry, tmp):
    ferry(basic_ini(tmp, "listen = 1500", processes=1))
    assert listen_backlog(tmp / "s.sock") == 1500


def test_default_backlog_is_large(ferry, tmp):
    port = free_port()
    ferry(basic_ini(tmp, f"socket = 127.0.0.1:{port}", processes=1))
    assert listen_backlog(tmp / "s.sock") >= 1024
    assert listen_backlog(("127.0.0.1", port)) >= 1024


def test_enable_threads_background_thread_runs(ferry, tmp):
    ferry(basic_ini(tmp, "enable-threads = true", processes=1))
    target = tmp / "thread-done"
    r = uwsgi_get(tmp / "s.sock", "/thread", query=f"path={target}")
    assert r.status == 200
    # No further request: the thread must run while the worker waits for connections.
    wait_until(target.exists, 5, message="the app's background thread to finish")


def test_threads_serve_requests_of_one_worker_concurrently(ferry, tmp):
    """threads = 4 in a single worker: four sleeping requests run at once inside it."""
    ferry(basic_ini(tmp, "threads = 4", processes=1))
    results = []

    def one():
        results.append(uwsgi_get(tmp / "s.sock", "/overlap", query="s=0.5"))

    threads = [threading.Thread(target=one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r.status for r in results] == [200] * 4
    # The worker's own count of requests in flight at once (1 if they queued).
    assert max(int(r.body) for r in results) == 4


def test_max_requests_replaces_the_worker_once_its_successor_is_ready(ferry, tmp):
    f = ferry(basic_ini(tmp, "max-requests = 3", processes=1))
    (first,) = f.wait_workers(1)
    pids = []
    for _ in range(300):  # bounded; the switch takes a few requests' time
        r = uwsgi_get(tmp / "s.sock", "/pid")
        assert r.status == 200
        pids.append(int(r.body))
        if len(set(pids)) >= 3:
            break
        time.sleep(0.01)  # pacing between requests (the loop stops at the event), not a wait
    assert len(set(pids)) >= 3, f"a worker serves max-requests, then a successor takes over: {pids}"
    assert pids[:3] == [first] * 3
    f.wait_log(r"served max-requests \(3\); asking the master for a replacement")
    # The successor was ready before the old worker was told to stop: no gap in the slot.
    lines = f.log_lines()
    successor = next(p for p in pids if p != first)
    ready = next(i for i, line in enumerate(lines) if f"(pid {successor}) is ready" in line)
    f.wait_log(rf"worker 1 \(pid {first}\) stopped")
    assert ready < next(i for i, line in enumerate(f.log_lines()) if f"(pid {first}) stopped" in line)
