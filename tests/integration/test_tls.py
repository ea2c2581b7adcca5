"""TLS between hosts: `ssl-socket` (uwsgi over TLS, what nginx's `uwsgi_pass suwsgi://`
speaks) and `https` (HTTP/1.1 over TLS), with certificates made by the openssl CLI in the
test's temporary directory (fixtures/tls.py). Real nginx, real curl, Python's ssl module
for raw clients. Unreadable files, Unix paths and stops: test_tls_edges.py.
"""

import hashlib
import http.client
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import threading
import time

import pytest

from conftest import (CURL, bad_start, client_context, client_hello, connect, free_port, nginx_vars,
                      read_until_close, ssl_socket_line, start_ferry, suwsgi_nginx, tls_uwsgi_get,
                      uwsgi_packet, wait_until)


# -- ssl-socket through nginx's suwsgi

def test_nginx_suwsgi_with_a_client_certificate_serves_requests(procs, tmp, nginx, pki):
    port = free_port()
    f = start_ferry(procs, tmp, ssl_socket_line(port, pki), port=port)
    n = suwsgi_nginx(nginx, port, pki)
    status, _, body = n.get("/environ?x=1")
    assert status == 200, n.error_log()
    env = json.loads(body)
    assert env["QUERY_STRING"] == "x=1" and env["REQUEST_METHOD"] == "GET"
    # A body larger than one TLS record, read by the app through wsgi.input.
    payload = os.urandom(300_000)
    status, _, body = n.request("POST", "/echo", body=payload)
    assert status == 200, n.error_log()
    assert json.loads(body)["sha256"] == hashlib.sha256(payload).hexdigest()
    # A response larger than one record, several times over the same nginx.
    for _ in range(5):
        status, _, body = n.get("/big?n=1000000")
        assert status == 200 and len(body) == 1000000
    assert "TLS handshake" not in f.log_text()


@pytest.mark.parametrize("cert", ["intruder", None])
def test_a_client_certificate_from_another_ca_or_none_is_refused(procs, tmp, nginx, pki, cert):
    port = free_port()
    f = start_ferry(procs, tmp, ssl_socket_line(port, pki), port=port)
    n = suwsgi_nginx(nginx, port, pki, cert=cert)
    status, _, _ = n.get("/")
    assert status == 502
    m = f.wait_log(r"TLS handshake with 127\.0\.0\.1:\d+ failed: (.*)$")
    reason = m.group(1)
    assert ("certificate verify failed" in reason) if cert else ("peer did not return a certificate" in reason), reason
    # The refused peer cost its connection only: a good client is served at once.
    good = suwsgi_nginx(nginx, port, pki)
    assert good.get("/")[0] == 200


def test_plain_text_on_a_tls_port_costs_one_connection_and_a_line(procs, tmp, pki):
    port = free_port()
    f = start_ferry(procs, tmp, ssl_socket_line(port, pki, ca=False), port=port)
    with connect(("127.0.0.1", port)) as s:
        s.sendall(uwsgi_packet(nginx_vars("/")))
        assert not read_until_close(s, timeout=10).startswith(b"HTTP/")
    m = f.wait_log(r"TLS handshake with 127\.0\.0\.1:\d+ failed: (.*)$")
    assert "wrong version number" in m.group(1) or "http request" in m.group(1), m.group(1)
    response, _ = tls_uwsgi_get(port, pki, "/", cert=None)
    assert response.status == 200


# -- https

def curl(port, pki, *args):
    return subprocess.run(
        [CURL, "-sS", "-o", "/dev/null", "-w", "%{http_code} %{scheme}", "--cacert", f"{pki}/ca.crt",
         "--resolve", f"localhost:{port}:127.0.0.1", *args, f"https://localhost:{port}/environ"],
        capture_output=True, text=True, timeout=30)


def test_https_serves_curl_over_tls_1_2_and_1_3_and_refuses_1_1_and_1_0(procs, tmp, pki):
    port = free_port()
    f = start_ferry(procs, tmp, f"https = 127.0.0.1:{port},{pki}/server.crt,{pki}/server.key", port=port)
    for version in (["--tlsv1.2", "--tls-max", "1.2"], ["--tlsv1.3"]):
        r = curl(port, pki, *version)
        assert r.stdout == "200 HTTPS", (version, r.stdout, r.stderr)
    # The scheme the app sees.
    r = subprocess.run([CURL, "-sS", "--cacert", f"{pki}/ca.crt", "--resolve", f"localhost:{port}:127.0.0.1",
                        f"https://localhost:{port}/environ"], capture_output=True, text=True, timeout=30)
    assert json.loads(r.stdout)["wsgi.url_scheme"] == "https"
    # SECLEVEL=0 lets curl's OpenSSL offer TLS 1.0/1.1 at all, so it is ferry that refuses.
    for version in ("1.1", "1.0"):
        offset = f.log_offset()
        r = curl(port, pki, "--tlsv1", "--tls-max", version, "--ciphers", "DEFAULT@SECLEVEL=0")
        assert r.returncode != 0 and not r.stdout.startswith("200"), (version, r.stdout)
        m = f.wait_log(r"TLS handshake with 127\.0\.0\.1:\d+ failed: (.*)$", after=offset)
        assert "unsupported protocol" in m.group(1), m.group(1)
        time.sleep(1.2)  # a quiet second ends the burst: the next failure gets a line of its own


def test_https_keep_alive_bodies_and_large_responses(procs, tmp, pki):
    port = free_port()
    start_ferry(procs, tmp, f"https = 127.0.0.1:{port},{pki}/server.crt,{pki}/server.key", port=port)
    # The server certificate names IP:127.0.0.1 too, so the address passes the name check.
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=client_context(pki, cert=None), timeout=15)
    try:
        payload = os.urandom(200_000)  # larger than the body the front reads itself
        for _ in range(3):  # one TLS connection, reused
            conn.request("POST", "/echo", body=payload)
            r = conn.getresponse()
            assert r.status == 200
            assert json.loads(r.read())["sha256"] == hashlib.sha256(payload).hexdigest()
            conn.request("GET", "/big?n=3000000")
            r = conn.getresponse()
            assert r.status == 200 and len(r.read()) == 3000000
    finally:
        conn.close()


def test_https_with_a_ca_requires_a_client_certificate(procs, tmp, pki):
    port = free_port()
    start_ferry(procs, tmp, f"https = 127.0.0.1:{port},{pki}/server.crt,{pki}/server.key,,{pki}/ca.crt",
                port=port)
    assert curl(port, pki, "--cert", f"{pki}/client.crt", "--key", f"{pki}/client.key").stdout == "200 HTTPS"
    assert not curl(port, pki).stdout.startswith("200")
    assert not curl(port, pki, "--cert", f"{pki}/intruder.crt", "--key", f"{pki}/intruder.key").stdout.startswith("200")


# -- bad files at startup

def test_bad_certificate_files_stop_the_start_with_a_clear_error(procs, tmp, pki):
    port = free_port()
    (tmp / "garbage.pem").write_text("this is not PEM\n")
    cases = [
        (f"{tmp}/missing.crt,{pki}/server.key", r"ssl-socket: the certificate file .*missing\.crt does not exist"),
        (f"{tmp}/garbage.pem,{pki}/server.key", r"ssl-socket: the certificate file .*garbage\.pem is not a PEM"),
        (f"{pki},{pki}/server.key", r"ssl-socket: the certificate file .*pki\d* is a directory"),
        (f"{pki}/server.crt,{tmp}/garbage.pem", r"ssl-socket: the key file .*garbage\.pem is not an unencrypted PEM"),
        (f"{pki}/server.crt,{pki}/client.key", r"ssl-socket: the key file .*client\.key does not match the "
                                               r"certificate .*server\.crt"),
        (f"{pki}/server.crt,{pki}/server.key,,{tmp}/missing-ca.crt", r"ssl-socket: the CA file .*missing-ca"),
        (f"{pki}/server.crt,{pki}/server.key,NO-SUCH-CIPHER", r"ssl-socket: the cipher list 'NO-SUCH-CIPHER'"),
    ]
    for files, expected in cases:
        code, stderr = bad_start(procs, tmp, f"ssl-socket = 127.0.0.1:{port},{files}")
        assert code == 2, (files, stderr)
        assert re.search(r"configuration error: " + expected, stderr), (files, stderr)
    code, stderr = bad_start(procs, tmp, f"https = 127.0.0.1:{port},{pki}/server.crt")
    assert code == 2 and "https expects ADDRESS,CERT,KEY[,CIPHERS,CA]" in stderr, stderr


# -- handshake flood

def test_a_handshake_flood_does_not_block_other_connections(procs, tmp, pki):
    port = free_port()
    # One worker with one serving thread: anything holding it would block every request.
    f = start_ferry(procs, tmp, ssl_socket_line(port, pki, ca=False), "threads = 1", "socket-timeout = 3",
                    port=port)
    idle = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(200)]
    hello = client_hello()
    stop = threading.Event()

    def dribble():
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            for byte in hello:
                if stop.is_set():
                    return
                try:
                    s.sendall(bytes([byte]))
                except OSError:
                    return
                time.sleep(0.05)

    dribbler = threading.Thread(target=dribble)
    dribbler.start()
    try:
        started = time.monotonic()
        for _ in range(10):
            t = time.monotonic()
            response, _ = tls_uwsgi_get(port, pki, "/", cert=None)
            assert response.status == 200
            assert time.monotonic() - t < 1.0, "a TLS request waited behind the idle handshakes"
        assert time.monotonic() - started < 3.0  # all of them before the idle ones are cut
        # After socket-timeout the idle ones are closed, logged once per burst, not 200 times.
        for s in idle:
            s.settimeout(10)
            assert s.recv(1) == b""
        f.wait_log(r"\d+ connections in [\d.]+ s.*sent no complete request in time", timeout=10)
    finally:
        stop.set()
        dribbler.join()
        for s in idle:
            s.close()
    text = f.log_text()
    assert text.count("its TLS handshake did not finish") < 5, text[-3000:]
    response, _ = tls_uwsgi_get(port, pki, "/", cert=None)
    assert response.status == 200


# -- reload

# preload: the reload re-executes the master, which reads the files as it starts.
@pytest.mark.parametrize("mode", ["lazy", "preload"])
def test_sighup_reload_serves_the_replaced_certificate(procs, tmp, pki, mode):
    port = free_port()
    live = tmp / "live"
    live.mkdir()
    for ext in ("crt", "key"):
        (live / f"server.{ext}").write_bytes((pki / f"server.{ext}").read_bytes())
    f = start_ferry(procs, tmp, f"ssl-socket = 127.0.0.1:{port},{live}/server.crt,{live}/server.key",
                    *(["preload = true"] if mode == "preload" else []), processes=2, port=port)
    first = ssl.PEM_cert_to_DER_cert((pki / "server.crt").read_text())
    second = ssl.PEM_cert_to_DER_cert((pki / "server2.crt").read_text())
    assert tls_uwsgi_get(port, pki, cert=None)[1] == first
    # A broken replacement aborts the reload; the workers keep the old certificate.
    (live / "server.key").write_text("not a key\n")
    offset = f.log_offset()
    os.kill(f.pid, signal.SIGHUP)
    f.wait_log(r"reload aborted .*the key file .*server\.key is not", after=offset)
    assert tls_uwsgi_get(port, pki, cert=None)[1] == first
    for ext in ("crt", "key"):
        (live / f"server.{ext}").write_bytes((pki / f"server2.{ext}").read_bytes())
    os.kill(f.pid, signal.SIGHUP)

    def served_new():
        response, der = tls_uwsgi_get(port, pki, cert=None)
        assert response.status == 200
        return der == second

    wait_until(served_new, timeout=30, message="the new certificate to be served")
    # Once the old workers are gone, every connection gets the new one.
    wait_until(lambda: all(tls_uwsgi_get(port, pki, cert=None)[1] == second for _ in range(6)), timeout=30,
               message="only the new certificate to be served")


# -- what ferry says about its TLS listeners

def test_the_banner_and_the_stats_document_name_the_tls_listeners(procs, tmp, pki):
    uwsgi_port, https_port = free_port(), free_port()
    f = start_ferry(procs, tmp, ssl_socket_line(uwsgi_port, pki, ca=False),
                    f"https = 127.0.0.1:{https_port},{pki}/server.crt,{pki}/server.key",
                    f"socket = {tmp}/plain.sock", f"stats = {tmp}/stats.sock", port=uwsgi_port)
    assert re.search(rf"sockets 127\.0\.0\.1:{uwsgi_port} \(uwsgi over TLS\), 127\.0\.0\.1:{https_port} \(https\), "
                     rf"{tmp}/plain\.sock,", f.log_text()), f.log_text()
    with connect(str(tmp / "stats.sock")) as s:
        stats = json.loads(read_until_close(s))
    protos = {sock["name"]: sock["proto"] for sock in stats["sockets"]}
    assert protos == {f"127.0.0.1:{uwsgi_port}": "suwsgi", f"127.0.0.1:{https_port}": "https",
                      f"{tmp}/plain.sock": "uwsgi"}
