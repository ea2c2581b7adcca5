"""The user's stack as it runs in production: their ini (fixed) with processes = 2, real
nginx, the demo Django project on MariaDB ("use mysql"). One stack serves every test of
this module; the tests run in file order and the last one stops it."""

import hashlib
import http.client
import json
import random
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass
from html import escape

import pytest

from conftest import (DjangoClient, Ferry, MariaDB, Nginx, header_value, http_request,
                      prepare_project, start_seed_stack)

DATABASE = "server_dev_it"
MIB = 1024 * 1024


@dataclass
class Stack:
    ferry: Ferry
    nginx: Nginx
    db: MariaDB


@pytest.fixture(scope="module")
def stack(mariadb, module_tmp, module_procs):
    tmp = module_tmp
    db_env = mariadb.django_env(mariadb.create_database(DATABASE))
    base, data = prepare_project(tmp, env=db_env)  # migrate and createsuperuser on MariaDB
    f, ng = start_seed_stack(module_procs, tmp, base, data, "processes = 2",
                             *(f"env = {k}={v}" for k, v in db_env.items()))
    f.wait_workers(2)
    return Stack(f, ng, mariadb)


def test_migrations_ran_on_mariadb(stack):
    tables = {t for (t,) in stack.db.query("SHOW TABLES", db=DATABASE)}
    assert {"django_migrations", "django_session", "auth_user", "hello_note"} <= tables, tables
    applied = stack.db.query("SELECT app, name FROM django_migrations", db=DATABASE)
    assert ("hello", "0001_initial") in applied, applied
    assert stack.db.query("SELECT username FROM auth_user WHERE is_superuser",
                          db=DATABASE) == [("admin",)]
    status, _, body = stack.nginx.get("/info/")
    assert status == 200, body[:2000]
    assert json.loads(body)["db_vendor"] == "mysql"


def test_admin_login_shows_dashboard(stack):
    client = DjangoClient(stack.nginx.port)
    dashboard = client.admin_login()
    assert 'href="/admin/hello/note/"' in dashboard, dashboard[:3000]
    assert 'href="/admin/auth/user/"' in dashboard, dashboard[:3000]
    # The session lives in MariaDB.
    sessions = stack.db.query("SELECT session_key FROM django_session", db=DATABASE)
    assert (client.jar["sessionid"],) in sessions
    stack.ferry.wait_log(r"\] POST /admin/login/\?next=/admin/ => generated \d+ bytes in "
                         r"\d+ msecs \(HTTP/1\.1 302\)")


def test_admin_creates_and_lists_notes(stack):
    client = DjangoClient(stack.nginx.port)
    client.admin_login()
    # The user writes Korean: utf8mb4 all the way from the form to MariaDB and back.
    titles = ["First note", "두 번째 메모 <b>not bold</b>", "Third & last 🚢"]
    for i, title in enumerate(titles):
        _, token = client.get_form("/admin/hello/note/add/")
        status, headers, body = client.post_form("/admin/hello/note/add/", {
            "title": title, "body": f"body {i}\nline two", "_save": "Save"}, token)
        assert status == 302, f"{status}\n{body[:3000]!r}"
        assert header_value(headers, "Location", "").endswith("/admin/hello/note/"), headers

    status, _, body = client.get("/admin/hello/note/")
    page = body.decode()
    assert status == 200, page[:3000]
    for title in titles:
        assert escape(title, quote=False) in page, (title, page[:5000])
    assert re.search(r"\b3 notes\b", page), page[:5000]
    stored = stack.db.query("SELECT title, body FROM hello_note ORDER BY id", db=DATABASE)
    assert stored == [(t, f"body {i}\nline two") for i, t in enumerate(titles)]


def multipart(fields, files, boundary):
    """A multipart/form-data body: fields {name: str}, files {name: (filename, bytes)}."""
    out = bytearray()
    for name, value in fields.items():
        out += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n"
                f"{value}\r\n").encode()
    for name, (filename, content) in files.items():
        out += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; "
                f"filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
                ).encode()
        out += content + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out)


def peak_rss_kib(pid) -> int:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))


def test_upload_20mb_multipart(stack):
    content = random.Random(3).randbytes(20 * MIB)
    boundary = "ferry-boundary-5f1c0a"
    body = multipart({"note": "twenty MiB"}, {"file": ("big.bin", content)}, boundary)
    peak_before = {pid: peak_rss_kib(pid) for pid in stack.ferry.workers()}
    started = time.monotonic()
    status, _, resp = http_request(stack.nginx.port, "POST", "/upload/", body=body, headers=[
        ("Content-Type", f"multipart/form-data; boundary={boundary}")], timeout=60)
    elapsed = time.monotonic() - started
    assert status == 200, f"{status} {resp[:3000]!r}\n{stack.ferry.log_text()[-3000:]}"
    assert json.loads(resp) == {
        "files": [{"field": "file", "name": "big.bin", "size": len(content),
                   "sha256": hashlib.sha256(content).hexdigest()}],
        "fields": {"note": ["twenty MiB"]}}
    stack.ferry.wait_log(r"\] POST /upload/ => generated \d+ bytes in \d+ msecs "
                         r"\(HTTP/1\.1 200\)")
    assert elapsed < 30, f"a 20 MiB upload took {elapsed:.1f} s"
    # The body streamed from ferry's wsgi.input through the view's hashing upload handler:
    # no worker ever held the 20 MiB.
    growth = {pid: peak_rss_kib(pid) - kib for pid, kib in peak_before.items()}
    assert max(growth.values()) < 10 * 1024, f"peak RSS growth in KiB: {growth}"


def expected_download(mb):
    """What /download/?mb=N sends: 64 KiB chunks, chunk i = i as 8 big-endian bytes,
    repeated (kept apart from the view's code on purpose)."""
    digest = hashlib.sha256()
    for i in range(mb * MIB // 65536):
        digest.update(i.to_bytes(8, "big") * 8192)
    return digest.hexdigest()


def test_streaming_download_50mb(stack):
    mb = 50
    conn = http.client.HTTPConnection("127.0.0.1", stack.nginx.port, timeout=60)
    try:
        conn.request("GET", f"/download/?mb={mb}")
        resp = conn.getresponse()
        assert resp.status == 200, resp.read()[:3000]
        assert resp.getheader("Content-Length") == str(mb * MIB)
        assert resp.getheader("Content-Type") == "application/octet-stream"
        digest, size = hashlib.sha256(), 0
        deadline = time.monotonic() + 60
        while chunk := resp.read(256 * 1024):  # hashed as it arrives, never held whole
            digest.update(chunk)
            size += len(chunk)
            assert time.monotonic() < deadline, f"download stalled at {size} bytes"
    finally:
        conn.close()
    assert size == mb * MIB, f"got {size} of {mb * MIB} bytes\n{stack.ferry.log_text()[-3000:]}"
    assert digest.hexdigest() == expected_download(mb)
    stack.ferry.wait_log(rf"\] GET /download/\?mb={mb} => generated {mb * MIB} bytes in "
                         r"\d+ msecs \(HTTP/1\.1 200\)")


def test_each_worker_holds_its_own_db_connection(stack):
    workers = set(stack.ferry.workers())
    assert len(workers) == 2, workers
    served = []  # (worker pid, db vendor, MariaDB CONNECTION_ID()) of each request
    errors = []
    lock = threading.Lock()
    done = threading.Event()

    def enough():
        per_worker = Counter(pid for pid, _, _ in served)
        return len(per_worker) >= 2 and min(per_worker.values()) >= 5

    # A few concurrent clients, so that a busy worker leaves the next request to the other
    # one; bounded in requests (4 x 100) and by the HTTP timeout.
    def client():
        for _ in range(100):
            if done.is_set():
                return
            status, _, body = http_request(stack.nginx.port, "GET", "/info/", timeout=10)
            with lock:
                if status != 200:
                    errors.append((status, body[:500]))
                    done.set()
                    return
                info = json.loads(body)
                served.append((info["pid"], info["db_vendor"], info["db_server_connection_id"]))
                if enough():
                    done.set()

    threads = [threading.Thread(target=client, daemon=True) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    assert {vendor for _, vendor, _ in served} == {"mysql"}
    connections = {}
    for pid, _, conn_id in served:
        connections.setdefault(pid, set()).add(conn_id)
    assert set(connections) == workers, (
        f"served by {Counter(pid for pid, _, _ in served)}, workers {sorted(workers)}")
    assert enough(), f"too few requests per worker: {Counter(pid for pid, _, _ in served)}"
    for pid, ids in connections.items():
        assert len(ids) == 1, f"worker {pid} used several DB connections: {ids}"
    ids = [conn_id for (conn_id,) in connections.values()]
    assert len(set(ids)) == 2 and None not in ids, f"workers share a connection: {connections}"
    # MariaDB agrees: both sessions are open on the server.
    processlist = {row[0] for row in stack.db.query("SHOW PROCESSLIST")}
    assert set(ids) <= processlist, (ids, processlist)


def test_stops_cleanly_with_no_error_in_the_log(stack):
    assert stack.ferry.stop() == 0, stack.ferry.diagnostics()
    log = stack.ferry.log_text()
    assert "Traceback" not in log, log[-5000:]
    assert not re.search(r"\(HTTP/1\.1 5\d\d\)", log), log[-5000:]
    assert "[error]" not in stack.nginx.error_log(), stack.nginx.error_log()[-3000:]
