"""The log file owned by the master: banner, worker lines, request lines, app output."""

import fcntl
import os
import platform
import re
import signal
import threading

import pytest

from conftest import (REQUEST_LINE_RE, basic_ini, encode_vars, free_port, nginx_vars, parse_http_response,
                      uwsgi_get, uwsgi_request, wait_until)

# The request-log regex as issue 2 states it, verbatim.
CONTRACT_RE = re.compile(
    r"^\[pid: \d+\|app: 0\|req: \d+/\d+\] \S+ \(\) \{\d+ vars in \d+ bytes\} "
    r"\[\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}\] GET /path\?q=1 => generated \d+ bytes in "
    r"\d+ msecs \(HTTP/1\.1 200\) \d+ headers in \d+ bytes \(1 switches on core 0\)$",
    re.MULTILINE)


def test_startup_banner(ferry, tmp):
    port = free_port()
    f = ferry(basic_ini(tmp, f"socket = 127.0.0.1:{port}", processes=3))
    f.wait_workers(3)
    f.wait_log(r"ferry")
    log = f.log_text()
    # pytest runs under Debian's /usr/bin/python3, the Python ferry embeds.
    major_minor = ".".join(platform.python_version_tuple()[:2])
    pyver = re.compile(r"\b" + re.escape(major_minor) + r"(\.\d+)?\b")
    assert any("ferry" in l and pyver.search(l) for l in log.splitlines()), \
        f"no banner line with 'ferry' and the Python version\n{log}"
    assert "testapp" in log, "the app is named"
    assert f"{tmp}/s.sock" in log and f"127.0.0.1:{port}" in log, "the sockets are named"
    assert re.search(rf"\b{f.pid}\b", log), "the master pid is named"
    assert re.search(r"\b3\b[^\n]*(worker|process)|(worker|process)[^\n]*\b3\b", log,
                     re.IGNORECASE), "the number of workers is named"


def test_worker_start_lines(ferry, tmp):
    f = ferry(basic_ini(tmp, processes=2))
    for pid in f.wait_workers(2):
        f.wait_log(rf"\b{pid}\b")


def test_request_line_through_nginx_matches_uwsgi_format(ferry, nginx, tmp):
    f = ferry(basic_ini(tmp, processes=2))
    ng = nginx(tmp / "s.sock")
    status, _, body = ng.get("/path?q=1")
    assert (status, body) == (200, b"hello")
    wait_until(lambda: CONTRACT_RE.search(f.log_text()), 5,
               message="a uWSGI-format request line for GET /path?q=1\n" + f.log_text()[-3000:])
    m = [REQUEST_LINE_RE.match(l) for l in f.log_lines()]
    m = [x for x in m if x and x["uri"] == "/path?q=1"]
    assert len(m) == 1
    assert m[0]["addr"] == "127.0.0.1"
    assert int(m[0]["pid"]) in f.workers()


def test_request_line_numbers_are_right(ferry, tmp):
    f = ferry(basic_ini(tmp, processes=1))
    vars = nginx_vars("/counted", query="a=b")
    r = parse_http_response(uwsgi_request(tmp / "s.sock", vars))
    assert r.status == 200
    line = wait_until(lambda: next((m for m in f.request_lines() if m["uri"] == "/counted?a=b"),
                                   None), 5, message="request line")
    # uWSGI counts keys and values separately (its iovec count): 2 per var.
    assert int(line["vars"]) == 2 * len(vars)
    assert int(line["pktsize"]) == len(encode_vars(vars))
    assert int(line["size"]) == len(r.body) == 5
    assert int(line["hcount"]) == len(r.headers)
    head = r.raw[: r.raw.index(b"\r\n\r\n") + 4]
    # uWSGI counts the status line and header lines; allow for the final CRLF either way.
    assert int(line["hsize"]) in (len(head), len(head) - 2), (line["hsize"], len(head))
    assert line["method"] == "GET" and line["status"] == "200"


def test_request_lines_for_post_and_errors(ferry, tmp):
    f = ferry(basic_ini(tmp, processes=1))
    body = b"x" * 1234
    uwsgi_request(tmp / "s.sock", nginx_vars("/echo", method="POST", body=body), body)
    uwsgi_get(tmp / "s.sock", "/status", query="code=404+Not+Found")
    uwsgi_get(tmp / "s.sock", "/error", query="token=e1")
    f.wait_log(r"\] POST /echo => generated \d+ bytes in \d+ msecs \(HTTP/1\.1 200\)")
    f.wait_log(r"\] GET /status\?code=404\+Not\+Found => generated \d+ bytes in \d+ msecs "
               r"\(HTTP/1\.1 404\)")
    f.wait_log(r"\] GET /error\?token=e1 => generated \d+ bytes in \d+ msecs \(HTTP/1\.1 500\)")
    assert len(f.request_lines()) == 3, "\n".join(f.log_lines())


def test_disable_logging_drops_only_request_lines(ferry, tmp):
    f = ferry(basic_ini(tmp, "disable-logging = true", processes=1))
    for i in range(5):
        assert uwsgi_get(tmp / "s.sock", f"/quiet{i}").status == 200
    assert uwsgi_get(tmp / "s.sock", "/output", query="token=dl1").status == 200
    f.wait_log(r"print-dl1$")
    log = f.log_text()
    assert "/quiet" not in log
    assert f.request_lines() == []
    assert "ferry" in log and f"{tmp}/s.sock" in log, "the banner stays"


def test_app_output_reaches_the_log(ferry, tmp):
    f = ferry(basic_ini(tmp, processes=2))
    assert uwsgi_get(tmp / "s.sock", "/output", query="token=o42").status == 200
    for what in ("print", "stderr", "logging", "wsgierrors"):
        f.wait_log(rf"{what}-o42$")


def test_line_printed_before_os_exit_reaches_the_log(ferry, tmp):
    f = ferry(basic_ini(tmp, processes=1))
    uwsgi_request(tmp / "s.sock", nginx_vars("/exit", query="code=3&token=bye77"))
    f.wait_log(r"last words bye77$")


def test_long_lines_from_concurrent_workers_stay_whole(ferry, tmp):
    f = ferry(basic_ini(tmp, processes=3))
    f.wait_workers(3)
    chars = "ABCD"
    per_char = 8
    n = 10_000
    errors = []

    def client(ch):
        for i in range(per_char):
            stream = "err" if i % 2 else "out"
            try:
                r = uwsgi_get(tmp / "s.sock", "/spam", query=f"ch={ch}&n={n}&pieces=10&stream={stream}")
                if r.status != 200:
                    errors.append(r.status)
            except Exception as e:  # noqa: BLE001
                errors.append(repr(e))

    threads = [threading.Thread(target=client, args=(c,)) for c in chars]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    expected = len(chars) * per_char

    def spam_lines():
        return [l for l in f.log_lines() if "<<" in l or ">>" in l or
                any(c * 50 in l for c in chars)]

    try:
        wait_until(lambda: len([l for l in spam_lines() if ">>" in l]) >= expected, 10,
                   message="all spam lines")
    except AssertionError:
        pass
    lines = spam_lines()
    bad = []
    counts = dict.fromkeys(chars, 0)
    for l in lines:
        m = re.search(r"<<([A-D]):([A-D]*)>>$", l)
        if not m or l.count("<<") != 1 or m.group(2) != m.group(1) * n:
            bad.append(l[:80] + "..." + l[-40:] + f" (len {len(l)})")
        else:
            counts[m.group(1)] += 1
    assert not bad, f"{len(bad)} broken lines, e.g.:\n" + "\n".join(bad[:5])
    assert counts == dict.fromkeys(chars, per_char), counts


def test_request_counters_and_timing(ferry, tmp):
    f = ferry(basic_ini(tmp, processes=1))
    for i in range(3):
        assert uwsgi_get(tmp / "s.sock", f"/n{i}").status == 200
    assert uwsgi_get(tmp / "s.sock", "/sleep", query="s=0.3").status == 200
    wait_until(lambda: len(f.request_lines()) >= 4, 5, message="4 request lines")
    lines = f.log_lines()
    counters = [re.search(r"\|req: (\d+)/(\d+)\]", l).groups() for l in lines
                if REQUEST_LINE_RE.match(l)]
    assert counters == [("1", "1"), ("2", "2"), ("3", "3"), ("4", "4")], counters
    slow = next(l for l in lines if "GET /sleep?s=0.3 " in l)
    msecs = int(re.search(r"in (\d+) msecs", slow).group(1))
    assert 300 <= msecs < 3000, slow


def test_master_lines_come_after_what_the_workers_wrote_before_them(ferry, tmp):
    # Under load the master reads the workers' pipes in batches, a few ms apart; a line of
    # its own must still not overtake what a worker wrote before it.
    f = ferry(basic_ini(tmp, processes=1))
    f.wait_workers(1)
    rounds = 30
    for i in range(rounds):
        assert uwsgi_get(tmp / "s.sock", "/output", query=f"token=ord{i}x").status == 200
        os.kill(f.pid, signal.SIGUSR1)  # the master logs that it reopened the log
        wait_until(lambda: f.log_text().count("reopened the log file") == i + 1, 10,
                   message=f"the master's line of round {i}")
    lines = f.log_lines()
    reopened = [n for n, line in enumerate(lines) if "reopened the log file" in line]
    for i in range(rounds):
        printed = [n for n, line in enumerate(lines) if line.endswith(f"-ord{i}x")]
        assert len(printed) == 4, (i, printed)
        assert max(printed) < reopened[i], "\n".join(lines[min(printed) - 2:reopened[i] + 3])


def test_no_request_line_is_lost_or_reordered_under_load(ferry, tmp):
    f = ferry(basic_ini(tmp, processes=2))
    f.wait_workers(2)
    per_thread, errors = 400, []

    def client():
        for _ in range(per_thread):
            try:
                if uwsgi_get(tmp / "s.sock", "/list").status != 200:
                    errors.append("status")
            except Exception as e:  # noqa: BLE001
                errors.append(repr(e))

    threads = [threading.Thread(target=client) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors[:5]
    total = 6 * per_thread
    wait_until(lambda: len(f.request_lines()) >= total, 10, message="every request line")
    counts = {}
    for line in (m.group(0) for m in f.request_lines()):
        m = re.match(r"^\[pid: (\d+)\|app: 0\|req: (\d+)/(\d+)\]", line)
        assert m, line
        pid, served = int(m.group(1)), int(m.group(2))
        # Each worker's lines arrive whole and in the order it wrote them.
        assert served == counts.get(pid, 0) + 1, (pid, served, counts.get(pid))
        counts[pid] = served
    assert sum(counts.values()) == total, counts


@pytest.mark.parametrize("processes, expected", [(2, 1024 * 1024), (16, 512 * 1024)])
def test_worker_output_pipes_have_room_for_a_reload(ferry, tmp, processes, expected):
    # A preload reload leaves the pipes unread while the new master imports: 1 MiB each,
    # shared out so that all of them (two generations) ask the kernel for at most 16 MiB.
    f = ferry(basic_ini(tmp, processes=processes))
    for pid in f.wait_workers(processes):
        fd = os.open(f"/proc/{pid}/fd/2", os.O_WRONLY | os.O_NONBLOCK)
        try:
            assert fcntl.fcntl(fd, fcntl.F_GETPIPE_SZ) == expected, pid
        finally:
            os.close(fd)
