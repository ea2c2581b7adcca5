"""Faults around the master (issue 12, point 5): the master killed outright, the log's
disk full, pidfile and socket paths that are links or were replaced, and CR/LF or other
control bytes in what a client sends or an app answers.

Figures worth reporting (time for orphaned workers to exit, lines dropped) are printed as
"FIGURE ..." lines: run with -rP to see them.
"""

import errno
import os
import re
import signal
import subprocess
import textwrap
import time

import pytest

from conftest import (APPS, RawHttp, basic_ini, free_port, http_ini, nginx_vars, parse_http_response, pid_alive,
                      raw_exchange, uwsgi_get, uwsgi_request, wait_until)

EXIT_STARTUP = 3


def figure(text):
    print(f"FIGURE {text}")


def tasks_of(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/task"))
    except OSError:
        return 0


# --------------------------------------------------------------------------------------
# 1. SIGKILL of the master


KILL_MODES = [
    pytest.param((), id="lazy"),
    pytest.param(("threads = 4",), id="threads"),
    pytest.param(("lazy-apps = false",), id="preload"),
    pytest.param(("http = 127.0.0.1:{port}", "threads = 2"), id="http-front"),
]


@pytest.mark.parametrize("extra", KILL_MODES)
def test_sigkill_of_the_master_ends_every_worker_and_a_new_ferry_starts_at_once(ferry, tmp, extra):
    port = free_port()
    ini = basic_ini(tmp, f"pidfile = {tmp}/f.pid", "vacuum = true", *(e.format(port=port) for e in extra),
                    processes=3)
    first = ferry(ini)
    old = first.wait_workers(3)
    assert uwsgi_get(tmp / "s.sock").status == 200
    if any("threads" in e for e in extra):
        # Each worker really runs several threads: the death signal must reach the process,
        # not only the thread that happened to be forked.
        assert all(tasks_of(w) >= 2 for w in old), {w: tasks_of(w) for w in old}

    killed = time.monotonic()
    os.kill(first.pid, signal.SIGKILL)
    first.proc.wait(timeout=10)
    # Nobody vacuumed: the pidfile names a dead pid and the socket file is left behind.
    assert (tmp / "f.pid").read_text().split()[0] == str(first.pid)
    assert (tmp / "s.sock").exists()

    # Started at once, while the orphaned workers may still be on their way out.
    second_dir = tmp / "second"
    second_dir.mkdir()
    second = ferry(ini, workdir=second_dir, start=False)
    second.start(wait=False)

    wait_until(lambda: not any(pid_alive(w) for w in old), 10, interval=0.001,
               message=f"the orphaned workers {old} to exit")
    gone = time.monotonic() - killed
    figure(f"sigkill[{', '.join(extra).format(port=port) or 'lazy'}]: 3 orphaned workers gone "
           f"{gone * 1000:.1f} ms after the master's SIGKILL")

    second.wait_ready()
    new = second.wait_workers(3)
    assert not set(new) & set(old)
    # The semantic bound: the new ferry's workers serve only once the old ones are gone.
    assert not any(pid_alive(w) for w in old)
    assert (tmp / "f.pid").read_text().split()[0] == str(second.pid)
    r = uwsgi_get(tmp / "s.sock", "/pid")
    assert r.status == 200 and int(r.body) in new, (r.body, new)
    assert second.stop() == 0, second.diagnostics()
    assert not (tmp / "f.pid").exists() and not (tmp / "s.sock").exists()


def test_a_live_ferrys_pidfile_is_still_refused_with_its_pid(ferry, tmp):
    first = ferry(basic_ini(tmp, f"pidfile = {tmp}/f.pid"))
    wait_until(lambda: (tmp / "f.pid").exists(), 5, message="pidfile")
    other = tmp / "other"
    other.mkdir()
    second = ferry(basic_ini(other, f"pidfile = {tmp}/f.pid"), workdir=other, start=False)
    assert second.run_to_exit() == EXIT_STARTUP, second.diagnostics()
    assert f"pidfile {tmp}/f.pid names pid {first.pid}, which is running" in second.stderr, second.stderr
    assert f"ferry --stop {tmp}/f.pid" in second.stderr
    assert (tmp / "f.pid").read_text().split()[0] == str(first.pid)
    assert not (other / "s.sock").exists()
    assert first.running()


def test_a_stale_pidfile_whose_pid_now_runs_something_else_is_taken_over(ferry, tmp, procs):
    # After a reboot or in a fresh container the old pid can belong to anything.
    squatter = procs.popen(["sleep", "60"])
    (tmp / "f.pid").write_text(f"{squatter.pid}\n")
    f = ferry(basic_ini(tmp, f"pidfile = {tmp}/f.pid"))
    wait_until(lambda: (tmp / "f.pid").read_text().split()[0] == str(f.pid), 5, message="pidfile taken over")
    assert f"names pid {squatter.pid}, which runs " in f.stderr and "not ferry" in f.stderr, f.stderr
    assert squatter.poll() is None


# --------------------------------------------------------------------------------------
# 2. The log's disk fills up


@pytest.fixture
def small_fs(tmp):
    """A 256 KiB tmpfs for the log. Not skipped if it cannot be made: the test fails."""
    where = tmp / "logfs"
    where.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(where)], capture_output=True,
                       text=True)
    if r.returncode != 0:
        pytest.fail(f"cannot mount a small tmpfs at {where} for the disk-full test (it needs root and "
                    f"mount(8)): {r.stderr.strip()}")
    try:
        yield where
    finally:
        # Lazily: a ferry the test left running is killed by the procs fixture afterwards.
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def fill(directory):
    """Writes a file until the filesystem is full; returns its path."""
    filler = directory / "filler"
    with open(filler, "wb", buffering=0) as out:
        block = b"\0" * 4096
        while True:
            try:
                out.write(block)
            except OSError as e:
                assert e.errno == errno.ENOSPC, e
                break
    return filler


def test_a_full_log_disk_keeps_serving_says_so_once_and_counts_what_it_dropped(small_fs, ferry, tmp):
    log = small_fs / "ferry.log"
    f = ferry(basic_ini(tmp, processes=2).replace(f"logger = file:{tmp}/ferry.log", f"logger = file:{log}"))
    f.wait_workers(2)
    assert uwsgi_get(tmp / "s.sock", "/before").status == 200
    f.wait_log(r" /before => ")
    filler = fill(small_fs)

    during = 200
    for i in range(during):
        r = uwsgi_get(tmp / "s.sock", f"/during-{i}")
        assert (r.status, r.body) == (200, b"hello"), f"request {i} while the log disk is full: {r.raw[:200]!r}"
    notice = "cannot write the log " + str(log)
    wait_until(lambda: notice in f.stderr, 10, message="the master's notice on stderr")
    stderr = f.stderr
    assert stderr.count(notice) == 1, stderr
    assert "No space left on device (ENOSPC)" in stderr and "free space" in stderr, stderr

    filler.unlink()
    assert uwsgi_get(tmp / "s.sock", "/after").status == 200
    m = f.wait_log(r"^ferry: (\d+) log lines? dropped while " + re.escape(str(log)) +
                   r" was full \(No space left on device \(ENOSPC\)\); logging resumes$")
    dropped = int(m.group(1))
    f.wait_log(r" /after => ")
    text = f.log_text()
    lines = text.splitlines()
    note_at = next(i for i, line in enumerate(lines) if line.startswith("ferry: ") and "dropped while" in line)
    after_at = next(i for i, line in enumerate(lines) if " /after => " in line)
    assert note_at < after_at
    # Whole lines only after the gap, and every request line that is not there was counted.
    written = {int(m.group(1)) for m in re.finditer(r" /during-(\d+) => generated .*\(1 switches on core 0\)$",
                                                    text, re.M)}
    missing = during - len(written)
    assert missing > 0, "the disk never filled up: nothing was dropped"
    assert dropped >= missing, (dropped, missing)
    assert f.running()
    figure(f"disk-full: {during} requests all answered; {len(written)} request lines written, {missing} lost, "
           f"the resume note counted {dropped} dropped lines; 1 notice on stderr")
    # The note went to stderr too, once.
    assert f.stderr.count("dropped while") == 1


# --------------------------------------------------------------------------------------
# 3. Pidfile and socket paths that are links, or were replaced


def test_a_pidfile_that_is_a_symlink_is_refused_and_its_target_untouched(ferry, tmp):
    target = tmp / "precious"
    target.write_text("not a pidfile\n")
    os.symlink(target, tmp / "f.pid")
    f = ferry(basic_ini(tmp, f"pidfile = {tmp}/f.pid", "vacuum = true"), start=False)
    assert f.run_to_exit() == EXIT_STARTUP, f.diagnostics()
    assert f"pidfile {tmp}/f.pid is a symbolic link (to {target})" in f.stderr, f.stderr
    assert f"rm {tmp}/f.pid" in f.stderr
    assert target.read_text() == "not a pidfile\n"
    assert os.path.islink(tmp / "f.pid")
    assert not (tmp / "s.sock").exists()


def test_a_link_planted_where_the_pidfile_is_written_is_not_followed(ferry, tmp):
    # The old fixed temporary name: a link there must not be written through either.
    target = tmp / "precious"
    target.write_text("keep me\n")
    os.symlink(target, tmp / "f.pid.tmp")
    f = ferry(basic_ini(tmp, f"pidfile = {tmp}/f.pid"))
    wait_until(lambda: (tmp / "f.pid").exists(), 5, message="pidfile")
    assert (tmp / "f.pid").read_text() == f"{f.pid}\n"
    assert not os.path.islink(tmp / "f.pid")
    assert target.read_text() == "keep me\n"
    assert (tmp / "f.pid").stat().st_mode & 0o777 == 0o644


def test_a_socket_path_that_is_a_symlink_is_refused_and_its_target_untouched(ferry, tmp):
    target = tmp / "precious"
    target.write_text("not a socket\n")
    os.symlink(target, tmp / "s.sock")
    f = ferry(basic_ini(tmp, "chmod-socket = 666"), start=False)
    assert f.run_to_exit() == EXIT_STARTUP, f.diagnostics()
    assert f"socket {tmp}/s.sock: the path is a symbolic link (to {target})" in f.stderr, f.stderr
    assert target.read_text() == "not a socket\n"
    assert target.stat().st_mode & 0o777 != 0o666
    assert os.path.islink(tmp / "s.sock")


def test_vacuum_removes_nothing_it_did_not_create(ferry, tmp):
    f = ferry(basic_ini(tmp, f"pidfile = {tmp}/f.pid", "vacuum = true", processes=1))
    wait_until(lambda: (tmp / "f.pid").exists(), 5, message="pidfile")
    # The socket path became someone else's plain file; the pidfile was replaced by a file
    # that names ferry's pid but is not the one it wrote (another tool's copy), and a link.
    os.unlink(tmp / "s.sock")
    (tmp / "s.sock").write_text("someone else's\n")
    (tmp / "copy.pid").write_text(f"{f.pid}\n")
    os.replace(tmp / "copy.pid", tmp / "f.pid")
    assert f.stop() == 0, f.diagnostics()
    assert (tmp / "s.sock").read_text() == "someone else's\n"
    assert (tmp / "f.pid").read_text() == f"{f.pid}\n", "ferry removed a pidfile it did not write"


def test_vacuum_leaves_a_pidfile_that_became_a_link(ferry, tmp):
    f = ferry(basic_ini(tmp, f"pidfile = {tmp}/f.pid", "vacuum = true", processes=1))
    wait_until(lambda: (tmp / "f.pid").exists(), 5, message="pidfile")
    target = tmp / "elsewhere.pid"
    target.write_text(f"{f.pid}\n")
    os.unlink(tmp / "f.pid")
    os.symlink(target, tmp / "f.pid")
    assert f.stop() == 0, f.diagnostics()
    assert os.path.islink(tmp / "f.pid") and target.read_text() == f"{f.pid}\n"


# --------------------------------------------------------------------------------------
# 4. CR, LF and other control bytes from clients and apps


EVIL_APP = textwrap.dedent('''
    def application(environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path == "/header":
            start_response("200 OK", [("Content-Type", "text/plain"), ("X-Echo", environ.get("HTTP_X_EVIL", ""))])
            return [b"header sent"]
        if path == "/status":
            start_response("200 OK\\r\\nX-Injected: 1", [("Content-Type", "text/plain")])
            return [b"status sent"]
        if path == "/name":
            start_response("200 OK", [("X-Bad\\r\\nX-Injected", "1")])
            return [b"name sent"]
        body = b"ok"
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
        return [body]
''')


def evil_ini(tmp, *extra):
    (tmp / "evilapp.py").write_text(EVIL_APP)
    return basic_ini(tmp, *extra, processes=1, module="evilapp").replace(
        f"pythonpath = {APPS}", f"pythonpath = {tmp}")


def lines_with(f, token):
    return [line for line in f.log_lines() if token in line]


def assert_log_clean(f):
    raw = open(f.log_path, "rb").read()
    assert b"\r" not in raw and b"\x1b" not in raw and b"\0" not in raw, raw[-2000:]


def test_control_bytes_in_uwsgi_vars_are_escaped_in_the_request_log(ferry, tmp):
    f = ferry(evil_ini(tmp))
    f.wait_workers(1)
    vars = nginx_vars("/plain")
    vars = [(k, "/tok1\r\n[pid: 1|app: 0|req: 1/1] forged\x1b[2J\x07" if k == "REQUEST_URI" else v) for k, v in vars]
    vars += [("HTTP_X_EVIL", "a\r\nX-Injected: 1"), ("HTTP_USER_AGENT", "\x1b]0;pwned\x07")]
    r = parse_http_response(uwsgi_request(tmp / "s.sock", vars))
    assert r.status == 200 and r.header("X-Injected") is None
    f.wait_log(r"tok1")
    assert len(lines_with(f, "tok1")) == 1, f.log_lines()[-5:]
    assert lines_with(f, "forged") == lines_with(f, "tok1")
    (line,) = lines_with(f, "tok1")
    assert "GET /tok1\\x0d\\x0a[pid: 1|app: 0|req: 1/1] forged\\x1b[2J\\x07 => generated 2 bytes" in line, line

    # No REQUEST_URI: the log shows PATH_INFO, which nginx has already percent-decoded.
    vars = [("PATH_INFO", "/tok2\r\nfake"), ("REQUEST_METHOD", "GET\r\n"), ("REMOTE_ADDR", "1.2.3.4\x1b[31m"),
            ("SERVER_PROTOCOL", "HTTP/1.1\n")]
    r = parse_http_response(uwsgi_request(tmp / "s.sock", vars))
    assert r.status == 200
    f.wait_log(r"tok2")
    (line,) = lines_with(f, "tok2")
    assert " 1.2.3.4\\x1b[31m () " in line and "GET\\x0d\\x0a /tok2\\x0d\\x0afake => " in line, line
    assert "(HTTP/1.1\\x0a 200)" in line, line
    assert not [line for line in f.log_lines() if line.startswith("fake")]
    assert_log_clean(f)


@pytest.mark.parametrize("path,what", [("/header", "X-Echo"), ("/status", "status"), ("/name", "X-Bad")])
def test_crlf_from_the_app_never_reaches_the_response_head(ferry, tmp, path, what):
    f = ferry(evil_ini(tmp))
    f.wait_workers(1)
    vars = nginx_vars(path, headers=[("X-Evil", "v\r\nX-Injected: 1")])
    raw = uwsgi_request(tmp / "s.sock", vars)
    head = raw.partition(b"\r\n\r\n")[0]
    r = parse_http_response(raw)
    assert r.status == 500, raw[:300]
    assert b"X-Injected" not in head and b"X-Echo" not in head, head
    line = f.wait_log(rf"^.*{what}.*(control character|must look like).*$").group(0)
    assert "\\r\\n" in line, line  # the offending value shown escaped (repr), on one line
    f.wait_log(rf" {path} => generated \d+ bytes in \d+ msecs \(HTTP/1\.1 500\)")
    assert_log_clean(f)


def test_http_listener_escapes_decoded_crlf_and_refuses_raw_ones(ferry, tmp):
    port = free_port()
    f = ferry(http_ini(tmp, port, "threads = 2"), sockets=[f"127.0.0.1:{port}"])
    with RawHttp(("127.0.0.1", port)) as c:
        r = c.request("GET", "/tok3%0d%0aX-Injected:%201%1b[2J")
        assert r.status == 200, r.raw[:300]
        assert r.header("X-Injected") is None
        # The app saw the decoded bytes (PATH_INFO); only its body carries them.
        assert b"/tok3\r\nX-Injected: 1\x1b[2J" in r.body
    f.wait_log(r"tok3")
    assert len(lines_with(f, "tok3")) == 1
    (line,) = lines_with(f, "tok3")
    assert "GET /tok3%0d%0aX-Injected:%201%1b[2J => " in line, line

    # Raw CR or LF inside a header value, or ESC in the target, never reach the app: 400.
    for data in (b"GET /tok4 HTTP/1.1\r\nHost: h\r\nX-A: a\rX-Injected: 1\r\n\r\n",
                 b"GET /tok5\x1b[2J HTTP/1.1\r\nHost: h\r\n\r\n"):
        got = raw_exchange(("127.0.0.1", port), data)
        assert got.startswith(b"HTTP/1.1 400"), got[:200]
    assert not lines_with(f, "X-Injected: 1")
    assert_log_clean(f)
