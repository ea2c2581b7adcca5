"""TLS at the edges (test_tls.py has the main paths): certificate and key files that
cannot be read, at startup and on a reload after ferry dropped root; an ssl-socket on a
Unix socket path, through nginx's `suwsgi://unix:`; and a graceful stop while TLS
handshakes are half done and a TLS request is in flight.

These tests run as root, which reads a mode 0000 file all the same (CAP_DAC_OVERRIDE):
ferry is made to read the files as `nobody`, either started as that user (setpriv) or
after it dropped to it with `uid = nobody`, as on a reload.
"""

import grp
import json
import os
import re
import shutil
import signal
import socket
import ssl
import threading

import pytest

from conftest import (bad_start, client_hello, connect, eventfd_counts, free_port, listen_queue,
                      nginx_vars, parse_http_response, read_tls_until_close, read_until_close,
                      start_ferry, stop_signal_seen, suwsgi_nginx, tls_connect, tls_uwsgi_get,
                      uwsgi_packet, wait_until)

AS_NOBODY = ("setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups")


def copy_server_files(pki, into, name="server"):
    into.mkdir(exist_ok=True)
    for ext in ("crt", "key"):
        shutil.copyfile(pki / f"{name}.{ext}", into / f"server.{ext}")
        os.chmod(into / f"server.{ext}", 0o644)


# -- files ferry cannot read

def test_an_unreadable_certificate_or_key_stops_the_start_naming_the_file_and_the_user(procs, tmp, pki):
    assert os.geteuid() == 0, "CI runs as root; the test starts ferry as nobody"
    os.chmod(tmp, 0o777)  # nobody writes ferry's stderr and log files here
    live = tmp / "tls"
    copy_server_files(pki, live)
    port = free_port()
    line = f"ssl-socket = 127.0.0.1:{port},{live}/server.crt,{live}/server.key"
    # Readable, the same start works as nobody: what fails below is the one file.
    code, stderr = bad_start(procs, tmp, line + ",NO-SUCH-CIPHER", command_prefix=AS_NOBODY)
    assert code == 2 and "the cipher list 'NO-SUCH-CIPHER'" in stderr, stderr
    for what in ("certificate", "key"):
        path = live / f"server.{'crt' if what == 'certificate' else 'key'}"
        os.chmod(path, 0o000)
        code, stderr = bad_start(procs, tmp, line, command_prefix=AS_NOBODY)
        os.chmod(path, 0o644)
        assert code == 2, stderr
        assert re.search(rf"ferry: configuration error: ssl-socket: the {what} file {re.escape(str(path))} cannot be "
                         rf"read: Permission denied; ferry reads it as user 'nobody' \(uid \d+\): make the file and "
                         rf"its directories readable by that user", stderr), stderr
    # A directory on the way that nobody may not enter.
    os.chmod(live, 0o700)
    code, stderr = bad_start(procs, tmp, line, command_prefix=AS_NOBODY)
    os.chmod(live, 0o755)
    assert code == 2 and re.search(r"the certificate file \S+/server\.crt cannot be read: Permission denied", stderr), \
        stderr


# preload: the master checks the files before it re-executes itself.
@pytest.mark.parametrize("mode", ["lazy", "preload"])
def test_a_reload_that_cannot_read_the_new_key_keeps_the_old_certificate_serving(procs, tmp, pki, mode):
    # ferry reads the files as root at startup, then drops to nobody: a reload reads them
    # again as nobody, which cannot read a key with mode 0000 (root could).
    assert os.geteuid() == 0, "CI runs as root; this test checks a reload after dropping root"
    port = free_port()
    live = tmp / "live"
    copy_server_files(pki, live)
    os.chmod(live / "server.key", 0o000)  # root reads it at startup all the same
    f = start_ferry(procs, tmp, f"ssl-socket = 127.0.0.1:{port},{live}/server.crt,{live}/server.key",
                    "uid = nobody", "gid = nogroup", *(["preload = true"] if mode == "preload" else []),
                    port=port)
    first = ssl.PEM_cert_to_DER_cert((pki / "server.crt").read_text())
    second = ssl.PEM_cert_to_DER_cert((pki / "server2.crt").read_text())
    assert tls_uwsgi_get(port, pki, cert=None)[1] == first
    (worker,) = f.wait_workers(1)
    copy_server_files(pki, live, "server2")
    os.chmod(live / "server.key", 0o000)
    offset = f.log_offset()
    os.kill(f.pid, signal.SIGHUP)
    f.wait_log(rf"reload aborted \(the current workers keep serving\): ssl-socket: the key file "
               rf"{re.escape(str(live))}/server\.key cannot be read: Permission denied; ferry reads it as user "
               rf"'nobody'", after=offset)
    assert f.workers() == [worker]  # not replaced
    response, der = tls_uwsgi_get(port, pki, cert=None)
    assert response.status == 200 and der == first
    if mode == "preload":
        # Not the successful reload: a re-executed master that dropped root cannot reopen a
        # log file only root may write (its start fails with "cannot open the log file"),
        # a preload-and-uid limit that is not TLS's; see the lazy case for the rest.
        return
    # Readable by nobody, the same reload goes through and serves the new certificate.
    os.chmod(live / "server.key", 0o640)
    os.chown(live / "server.key", 0, grp.getgrnam("nogroup").gr_gid)
    os.kill(f.pid, signal.SIGHUP)
    try:
        wait_until(lambda: tls_uwsgi_get(port, pki, cert=None)[1] == second, timeout=30,
                   message="the new certificate to be served")
    except (AssertionError, OSError) as e:
        raise AssertionError(f"{e}\n{f.diagnostics()}") from None


# -- ssl-socket on a Unix socket path

def test_ssl_socket_on_a_unix_path_serves_nginx_suwsgi_unix(procs, tmp, nginx, pki):
    path = tmp / "app.sock"
    f = start_ferry(procs, tmp, f"ssl-socket = {path},{pki}/server.crt,{pki}/server.key,,{pki}/ca.crt",
                    socket_path=path)
    assert re.search(rf"sockets? {re.escape(str(path))} \(uwsgi over TLS\)", f.log_text()), f.log_text()
    # A raw TLS client on the path: the certificate is the server's.
    response, der = tls_uwsgi_get(path, pki)
    assert response.status == 200 and der == ssl.PEM_cert_to_DER_cert((pki / "server.crt").read_text())
    # Plain uwsgi on it is refused (it is TLS, not a plain socket that happens to work).
    with connect(str(path)) as s:
        s.sendall(uwsgi_packet(nginx_vars("/")))
        assert not read_until_close(s, timeout=10).startswith(b"HTTP/")
    m = f.wait_log(r"TLS handshake with a Unix socket client failed: (.*)$")
    assert "wrong version number" in m.group(1), m.group(0)
    # nginx's uwsgi_pass suwsgi://unix:PATH, checking ferry's certificate and showing its own.
    n = suwsgi_nginx(nginx, path, pki)
    for _ in range(3):
        status, _, body = n.get("/environ?via=unix")
        assert status == 200, n.error_log()
    assert json.loads(body)["QUERY_STRING"] == "via=unix"


# -- a graceful stop with TLS connections open

def test_a_stop_cuts_half_done_handshakes_and_answers_the_tls_requests_it_took(procs, tmp, pki):
    port, https_port = free_port(), free_port()
    # socket-timeout 60 s (the default), said here because it is what the half-done
    # handshakes must not make the stop wait for.
    f = start_ferry(procs, tmp, f"ssl-socket = 127.0.0.1:{port},{pki}/server.crt,{pki}/server.key",
                    f"https = 127.0.0.1:{https_port},{pki}/server.crt,{pki}/server.key", "socket-timeout = 60",
                    port=port)
    (worker,) = f.wait_workers(1)
    hello = client_hello()
    silent = socket.create_connection(("127.0.0.1", port), timeout=10)  # sent nothing
    half_hello = socket.create_connection(("127.0.0.1", port), timeout=10)
    half_hello.sendall(hello[: len(hello) // 2])
    https_half_hello = socket.create_connection(("127.0.0.1", https_port), timeout=10)
    https_half_hello.sendall(hello[: len(hello) // 2])
    # A request begun before the stop: handshake done, half of its packet sent.
    packet = uwsgi_packet(nginx_vars("/environ", query="begun=1"))
    begun = tls_connect(port, pki, cert=None)
    begun.sendall(packet[:20])
    for address in (f"127.0.0.1:{port}", f"127.0.0.1:{https_port}"):
        wait_until(lambda: listen_queue(address) == 0, 10, message=f"the worker to accept on {address}")
    # A request in flight in the app when the stop comes.
    mark = tmp / "started"
    slow = {}

    def slow_request():
        slow["r"] = tls_uwsgi_get(port, pki, "/sleep", cert=None, query=f"s=2&mark={mark}")[0]

    t = threading.Thread(target=slow_request)
    t.start()
    try:
        wait_until(mark.exists, 10, message="the slow request to start")
        before, offset = eventfd_counts(worker), f.log_offset()
        os.kill(f.pid, signal.SIGTERM)
        wait_until(lambda: stop_signal_seen(worker, before), 10, message="the worker to see the stop")
        begun.sendall(packet[20:])
        answer = parse_http_response(read_tls_until_close(begun))
        t.join(15)
        # Within worker-reload-mercy (30 s) and below socket-timeout (60 s): a stop held by
        # the handshakes would run into the first.
        assert f.wait(timeout=15) == 0, f.diagnostics()
    finally:
        t.join(15)
        for s in (silent, half_hello, https_half_hello, begun):
            s.close()
    assert answer.status == 200 and b"begun=1" in answer.body, answer
    assert slow["r"].status == 200 and slow["r"].body.startswith(b"slept"), slow
    text = f.log_text()[offset:]
    assert "closed 2 ssl-socket connections at the stop whose TLS handshake had not finished" in text, text
    assert "dropped a connection" not in text and "TLS handshake with" not in text, text


def test_a_stop_answers_the_tls_clients_waiting_in_the_socket_queue(procs, tmp, pki):
    """The only serving thread is busy for longer than the stop's grace for half-done
    handshakes (1 s), and TLS clients wait in the ssl-socket's queue with their ClientHello
    sent, as nginx's connections would. At SIGTERM the worker takes them from the queue
    (src/worker/stop_drain.hpp), and once the thread is free it finishes each handshake and
    answers: the grace, used up by a silent client ahead of them, must not cut a handshake
    the thread only now comes to."""
    port = free_port()
    f = start_ferry(procs, tmp, f"ssl-socket = 127.0.0.1:{port},{pki}/server.crt,{pki}/server.key", port=port)
    f.wait_workers(1)
    mark = tmp / "started"
    results = {}

    def get(key, path, query):
        results[key] = tls_uwsgi_get(port, pki, path, cert=None, query=query, timeout=30)[0]

    slow = threading.Thread(target=get, args=("slow", "/sleep", f"s=2&mark={mark}"))
    slow.start()
    wait_until(mark.exists, 10, message="the slow request to start")
    # First in the queue, a client that sends nothing: it uses up the 1 s grace, and the
    # handshakes behind it must still get their own time.
    silent = socket.create_connection(("127.0.0.1", port), timeout=10)
    address = f"127.0.0.1:{port}"
    wait_until(lambda: listen_queue(address) == 1, 10, message=f"the silent client in the queue of {address}")
    queued = [threading.Thread(target=get, args=(i, "/environ", f"queued={i}")) for i in range(4)]
    for t in queued:
        t.start()
    try:
        wait_until(lambda: listen_queue(address) == 5, 10, message=f"five clients in the queue of {address}")
        offset = f.log_offset()
        os.kill(f.pid, signal.SIGTERM)
        assert f.wait(timeout=20) == 0, f.diagnostics()
    finally:
        for t in [slow, *queued]:
            t.join(30)
        silent.close()
    assert results["slow"].status == 200, results
    for i in range(4):
        assert results[i].status == 200 and f"queued={i}".encode() in results[i].body, (i, results.get(i))
    text = f.log_text()[offset:]
    assert "stopping: answering 5 connections that waited in the socket's queue" in text, text
    assert "closed 1 ssl-socket connection at the stop whose TLS handshake had not finished" in text, text
