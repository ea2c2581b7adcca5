"""req-logger = file:PATH (request lines in their own file, through a pipe of their own per
worker), its SIGUSR1 reopen and re-exec handover, and log-encoder = json (every line of the
log a JSON object)."""

import itertools
import json
import os
import signal
import threading

from conftest import REQUEST_LINE_RE, basic_ini, nginx_vars, uwsgi_get, uwsgi_request, wait_until


def request_file_lines(tmp):
    path = tmp / "requests.log"
    return path.read_text(errors="replace").splitlines() if path.exists() else []


def load(tmp, threads, per_thread, make_path):
    errors = []

    def client(t):
        for i in range(per_thread):
            path, query = make_path(t, i)
            try:
                if uwsgi_get(tmp / "s.sock", path, query=query).status != 200:
                    errors.append((t, i))
            except Exception as e:  # noqa: BLE001
                errors.append(repr(e))

    workers = [threading.Thread(target=client, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert errors == [], errors[:5]


def test_request_lines_go_to_their_own_file_exactly_once_under_load(ferry, tmp):
    f = ferry(basic_ini(tmp, f"req-logger = file:{tmp}/requests.log", processes=3))
    f.wait_workers(3)
    threads, per_thread = 6, 150
    # Every fifth request also prints (stdout, stderr, logging, wsgi.errors): those lines
    # stay in the main log, and must not be spliced into request lines.
    load(tmp, threads, per_thread,
         lambda t, i: ("/output", f"token=t{t}r{i}x") if i % 5 == 0 else (f"/r/t{t}r{i}x", ""))
    total = threads * per_thread
    wait_until(lambda: len(request_file_lines(tmp)) >= total, 20,
               message=f"{total} request lines in requests.log")
    lines = request_file_lines(tmp)
    assert len(lines) == total
    assert all(REQUEST_LINE_RE.match(l) for l in lines), [l for l in lines if not REQUEST_LINE_RE.match(l)][:3]
    uris = sorted(REQUEST_LINE_RE.match(l)["uri"] for l in lines)
    expected = sorted(f"/output?token=t{t}r{i}x" if i % 5 == 0 else f"/r/t{t}r{i}x"
                      for t in range(threads) for i in range(per_thread))
    assert uris == expected
    # What the apps printed travels on the other pipe, collected on its own: it may reach
    # the main log a batch after the last request line reached the request file.
    printed_total = threads * per_thread // 5
    wait_until(lambda: len([l for l in f.log_lines() if l.startswith("print-t")]) >= printed_total, 20,
               message=f"{printed_total} printed lines in the main log")
    main = f.log_lines()
    assert not any(REQUEST_LINE_RE.match(l) or " => generated " in l for l in main)
    printed = [l for l in main if l.startswith("print-t")]
    assert len(printed) == printed_total
    assert "started worker" in f.log_text()


def test_sigusr1_reopens_the_request_log(ferry, tmp):
    f = ferry(basic_ini(tmp, f"req-logger = file:{tmp}/requests.log", processes=2))
    f.wait_workers(2)
    assert uwsgi_get(tmp / "s.sock", "/before").status == 200
    wait_until(lambda: any("GET /before " in l for l in request_file_lines(tmp)), 10, message="/before")
    os.rename(tmp / "requests.log", tmp / "requests.log.1")
    os.kill(f.pid, signal.SIGUSR1)
    f.wait_log(r"reopened the request log " + str(tmp / "requests.log"))
    assert uwsgi_get(tmp / "s.sock", "/after").status == 200
    wait_until(lambda: any("GET /after " in l for l in request_file_lines(tmp)), 10, message="/after")
    rotated = (tmp / "requests.log.1").read_text()
    assert "GET /before " in rotated and "GET /after " not in rotated
    assert "GET /before " not in (tmp / "requests.log").read_text()


def test_request_lines_survive_a_preload_reload(ferry, tmp):
    (tmp / "version").write_text("v1\n")
    f = ferry(basic_ini(tmp, "preload = true", f"env = PRELOAD_VERSION_FILE={tmp}/version",
                        f"req-logger = file:{tmp}/requests.log", processes=2, module="preloadapp"))
    old = set(f.wait_workers(2))
    counter = itertools.count()
    sent = []
    stop = threading.Event()

    def loop():
        while not stop.is_set():
            n = next(counter)
            if uwsgi_get(tmp / "s.sock", f"/n{n}x").status == 200:
                sent.append(n)

    t = threading.Thread(target=loop)
    t.start()
    try:
        wait_until(lambda: len(sent) >= 20, 10, message="requests before the reload")
        os.kill(f.pid, signal.SIGHUP)
        f.wait_log(r"reload done", timeout=30)
        f.wait_workers(2, exclude=old)
        done = len(sent)
        wait_until(lambda: len(sent) >= done + 20, 10, message="requests after the reload")
    finally:
        stop.set()
        t.join()
    wait_until(lambda: len(request_file_lines(tmp)) >= len(sent), 20, message="every request line")
    uris = [REQUEST_LINE_RE.match(l)["uri"] for l in request_file_lines(tmp)]
    assert sorted(uris) == sorted(f"/n{n}x" for n in sent)
    pids = {int(REQUEST_LINE_RE.match(l)["pid"]) for l in request_file_lines(tmp)}
    assert old <= pids and pids - old, "lines from both generations"


def test_log_encoder_json_makes_every_line_an_object(ferry, tmp):
    f = ferry(basic_ini(tmp, "log-encoder = json", "log-req-encoder = json", processes=2))
    # (wait_workers reads the plain "worker N (pid P) is ready" lines)
    wait_until(lambda: f.log_text().count(") is ready") == 2, 10, message=f.log_text())
    hostile = [b'/q?"x"\\', b"/c\x01\x1b[2J", b"/b\xff\xfe", b"/n\r\nforged"]
    for uri in hostile:
        vars = [(k, uri if k == "REQUEST_URI" else v) for k, v in nginx_vars("/h")]
        assert uwsgi_request(tmp / "s.sock", vars).startswith(b"HTTP/1.1 200")
    assert uwsgi_get(tmp / "s.sock", "/error", query="token=tb").status == 500
    assert uwsgi_get(tmp / "s.sock", "/output", query="token=pr").status == 200
    wait_until(lambda: "Traceback" in f.log_text() and "print-pr" in f.log_text()
               and f.log_text().count('"status":') >= 6, 10, message=f.log_text()[-3000:])
    records = [json.loads(l) for l in f.log_lines()]  # every line parses
    requests = [r for r in records if "status" in r]
    assert {r["uri"] for r in requests} >= {'/q?"x"\\', "/c\x01\x1b[2J", "/b\\xff\\xfe", "/n\r\nforged"}
    others = [r for r in records if "status" not in r]
    assert all(set(r) == {"time", "level", "source", "pid", "msg"} for r in others), others[:3]
    master = [r for r in others if r["source"] == "master"]
    assert any("started worker" in r["msg"] and r["level"] == "info" and r["pid"] == f.pid for r in master)
    assert any(r["msg"] == "print-pr" and r["level"] == "output" and r["pid"] in f.workers() for r in others)
    assert any(r["msg"].startswith("Traceback") for r in others)
    assert any("RuntimeError: app failure tb" in r["msg"] for r in others)


def test_log_encoder_json_with_plain_request_lines_still_parses(ferry, tmp):
    f = ferry(basic_ini(tmp, "log-encoder = json", processes=1))
    assert uwsgi_get(tmp / "s.sock", "/plain").status == 200
    wait_until(lambda: "GET /plain" in f.log_text(), 10, message=f.log_text())
    records = [json.loads(l) for l in f.log_lines()]
    (line,) = [r for r in records if "GET /plain" in r["msg"]]
    assert REQUEST_LINE_RE.match(line["msg"]), line


def test_req_logger_needs_a_file(ferry, tmp):
    f = ferry(basic_ini(tmp, "req-logger = syslog:x"), start=False)
    assert f.run_to_exit(timeout=10) == 2, f.diagnostics()
    assert "line 8" in f.stderr and "req-logger = file:" in f.stderr, f.stderr
