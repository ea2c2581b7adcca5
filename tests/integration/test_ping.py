"""ferry --ping ADDR [--ping-timeout S]: uWSGI's health check, against ferry, against small
servers that misbehave in each way the command names, and against real uWSGI both ways."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import threading

import pytest

from conftest import APPS, FERRY_BIN, basic_ini, free_port, http_ini

UWSGI = shutil.which("uwsgi") or "/usr/bin/uwsgi"


def run_ping(*args, user=None, timeout=30):
    kw = {}
    if user is not None:
        kw["user"] = user
    return subprocess.run([FERRY_BIN, *[str(a) for a in args]], capture_output=True, text=True,
                          timeout=timeout, **kw)


def one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, f"expected one line, got {lines!r}"
    return lines[0]


def failed(result, address, reason_part):
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    line = one_line(result.stderr)
    assert line.startswith(f"ferry: ping {address}: "), line
    assert reason_part in line, line
    return line


class TinyServer:
    """A Unix listener that answers each connection with `answer` (None: never accepts)."""

    def __init__(self, path, answer=None, read_first=True):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(str(path))
        self.sock.listen(8)
        self.answer = answer
        self.read_first = read_first
        self.seen = []
        self.thread = None
        if answer is not None:
            self.thread = threading.Thread(target=self._serve, daemon=True)
            self.thread.start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                if self.read_first:
                    self.seen.append(conn.recv(16))
                if self.answer:
                    conn.sendall(self.answer)

    def close(self):
        self.sock.close()


def test_a_ready_ferry_answers_on_unix_and_tcp_sockets(ferry, tmp):
    port = free_port()
    f = ferry(basic_ini(tmp, f"socket = 127.0.0.1:{port}", processes=1))
    f.wait_workers(1)
    for address in (f"{tmp}/s.sock", f"127.0.0.1:{port}", f":{port}"):
        result = run_ping("--ping", address)
        assert result.returncode == 0, (address, result.stderr, f.diagnostics())
        assert one_line(result.stdout) == f"ferry: ping {address}: pong"
        assert result.stderr == ""
    # The pings reach a worker but are not requests: nothing in the request log.
    assert f.request_lines() == []


def test_nothing_listening(tmp):
    failed(run_ping("--ping", f"{tmp}/none.sock"), f"{tmp}/none.sock", "no socket at that path")
    port = free_port()
    failed(run_ping("--ping", f"127.0.0.1:{port}"), f"127.0.0.1:{port}", "nothing is listening there")
    # A socket file whose server is gone (no vacuum): refused, and the message says so.
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(f"{tmp}/stale.sock")
    stale.close()
    failed(run_ping("--ping", f"{tmp}/stale.sock"), f"{tmp}/stale.sock", "a socket file a stopped server left")


def test_permission_denied(tmp):
    server = TinyServer(tmp / "private.sock", answer=bytes([100, 0, 0, 1]))
    try:
        os.chmod(tmp / "private.sock", 0o600)  # root's; the check runs as nobody
        result = run_ping("--ping", tmp / "private.sock", user="nobody")
        failed(result, tmp / "private.sock", "permission denied")
        # The same socket, readable: the pong comes back, so it was the permission.
        os.chmod(tmp / "private.sock", 0o666)
        assert run_ping("--ping", tmp / "private.sock", user="nobody").returncode == 0
    finally:
        server.close()


def test_no_answer_in_time_while_the_worker_is_still_importing(ferry, tmp):
    hold = tmp / "hold"
    hold.write_text("")
    f = ferry(basic_ini(tmp, f"env = HOLD_FILE={hold}", processes=1, module="holdapp"))
    # The master has bound the socket, so the connection is queued; no worker takes it.
    line = failed(run_ping("--ping", f"{tmp}/s.sock", "--ping-timeout", "0.5"), f"{tmp}/s.sock",
                  "connected, but no answer within 0.5 s")
    assert "still starting" in line
    hold.unlink()
    f.wait_workers(1)
    assert run_ping("--ping", f"{tmp}/s.sock").returncode == 0, f.diagnostics()


def test_a_listener_that_never_accepts_times_out(tmp):
    server = TinyServer(tmp / "deaf.sock")
    try:
        failed(run_ping("--ping-timeout=0.3", f"--ping={tmp}/deaf.sock"), f"{tmp}/deaf.sock",
               "no answer within 0.3 s")
    finally:
        server.close()


def test_wrong_answers(ferry, tmp):
    server = TinyServer(tmp / "odd.sock", answer=bytes([100, 0, 0, 0]))
    try:
        failed(run_ping("--ping", tmp / "odd.sock"), tmp / "odd.sock",
               "the answer (64 00 00 00) is not a uwsgi pong (64 00 00 01)")
        assert server.seen == [bytes([100, 0, 0, 0])]  # what ferry sent: the ping header
    finally:
        server.close()
    # ferry's own HTTP socket answers the ping's bytes with an HTTP error.
    port = free_port()
    f = ferry(http_ini(tmp, port), sockets=[f"127.0.0.1:{port}"])
    f.wait_workers(1)
    failed(run_ping("--ping", f"127.0.0.1:{port}"), f"127.0.0.1:{port}", "this is an http socket")


def test_closed_without_an_answer(tmp):
    server = TinyServer(tmp / "rude.sock", answer=b"")
    try:
        failed(run_ping("--ping", tmp / "rude.sock"), tmp / "rude.sock",
               "the connection was closed without an answer")
    finally:
        server.close()
    server = TinyServer(tmp / "short.sock", answer=bytes([100, 0]))
    try:
        failed(run_ping("--ping", tmp / "short.sock"), tmp / "short.sock", "closed after 2 byte(s) (64 00)")
    finally:
        server.close()


@pytest.mark.parametrize("args, message", [
    (["--ping"], "ferry: --ping needs a value"),
    (["--ping", "/s", "--ping-timeout", "0"], "--ping-timeout '0' is not a number of seconds"),
    (["--ping", "/s", "--ping-timeout", "soon"], "--ping-timeout 'soon' is not a number of seconds"),
    (["--ping", "/s", "--socket", "/t"], "--ping takes only an address and --ping-timeout SECONDS, not '--socket'"),
    (["--ping", "nohost.invalid:3031"], "cannot resolve host 'nohost.invalid'"),
])
def test_bad_arguments(args, message):
    result = run_ping(*args)
    assert message in one_line(result.stderr), result.stderr
    assert result.returncode == (1 if "resolve" in message else 2)


def test_ping_in_an_ini_file_is_refused_naming_the_line(ferry, tmp):
    f = ferry(basic_ini(tmp) + "ping = /run/app.sock\n", start=False)
    assert f.run_to_exit() == 2
    assert f"{tmp}/app.ini, line 8:" in f.stderr and "ferry --ping ADDR" in f.stderr, f.stderr


def uwsgi_server(procs, tmp, address):
    argv = [UWSGI, "--plugin", "python3,ping", "--master", "--processes", "1", "--socket", address,
            "--pythonpath", str(APPS), "--module", "holdapp", "--logto", str(tmp / "uwsgi.log")]
    return procs.popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       env=procs.env(), cwd=tmp)


def test_ferry_pings_real_uwsgi(procs, tmp):
    from conftest import wait_until
    port = free_port()
    proc = uwsgi_server(procs, tmp, f"127.0.0.1:{port}")
    try:
        ok = wait_until(lambda: run_ping("--ping", f"127.0.0.1:{port}", "--ping-timeout", "1").returncode == 0,
                        15, message="uWSGI to answer ferry's ping")
        assert ok
    finally:
        proc.send_signal(signal.SIGINT)  # uWSGI 2.0 takes SIGTERM as "reload"
        proc.wait(timeout=10)


def test_real_uwsgi_pings_ferry(ferry, tmp):
    f = ferry(basic_ini(tmp, processes=1))
    f.wait_workers(1)
    result = subprocess.run([UWSGI, "--plugin", "ping", "--ping", f"{tmp}/s.sock"], capture_output=True,
                            text=True, timeout=30)
    assert result.returncode == 0, (result.stdout, result.stderr)
    # And uWSGI's client can fail, so the 0 above means something.
    result = subprocess.run([UWSGI, "--plugin", "ping", "--ping", f"{tmp}/none.sock"], capture_output=True,
                            text=True, timeout=30)
    assert result.returncode != 0
