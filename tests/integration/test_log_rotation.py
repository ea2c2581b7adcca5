"""Log rotation: log-maxsize, log-reopen, touch-logreopen, and Debian's real logrotate with the
shipped packaging/logrotate/ferry, under load: every request is in exactly one file, no line
is cut."""

import gzip
import os
import re
import shutil
import signal
import subprocess
import threading

import pytest

from conftest import REPO, basic_ini, uwsgi_get, wait_until

LOGROTATE = "/usr/sbin/logrotate"
SNIPPET = REPO / "packaging" / "logrotate" / "ferry"

# What a whole line of the log is: a request line, a line of the master's or a worker's
# logger, or one of the log's own notes ("ferry: ...").
WHOLE_LINE_RE = re.compile(
    r"^(\[pid: \d+\|app: 0\|req: \d+/\d+\] .* \(1 switches on core 0\)"
    r"|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} \S+\[\d+\] \w+: .*"
    r"|ferry: .*)$")
URI_RE = re.compile(r"\] GET (/rot-\d+-\d+) => generated")


class Load:
    """Clients sending requests back to back, each to a URI of its own, until stopped."""

    def __init__(self, socks, threads=2):
        self.socks = list(socks)
        self.sent = {str(s): [] for s in self.socks}  # the URIs that got their 200
        self.errors = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(n,), daemon=True)
                         for n in range(threads)]

    def _run(self, n):
        i = 0
        while not self._stop.is_set():
            sock = self.socks[i % len(self.socks)]
            uri = f"/rot-{n}-{i}"
            i += 1
            try:
                r = uwsgi_get(sock, uri)
                if r.status == 200:
                    self.sent[str(sock)].append(uri)
                else:
                    self.errors.append((uri, r.status))
            except Exception as e:  # noqa: BLE001 - every failure is recorded
                self.errors.append((uri, repr(e)))

    def count(self):
        return sum(len(v) for v in self.sent.values())

    def wait_more(self, n, timeout=30):
        target = self.count() + n
        wait_until(lambda: self.count() >= target, timeout, message=f"{n} more requests")

    def __enter__(self):
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        for t in self._threads:
            t.join(30)


def read_log_file(path):
    data = path.read_bytes()
    return gzip.decompress(data) if path.name.endswith(".gz") else data


def log_files(directory, name):
    """The live log and every rotated one, oldest first by name order."""
    return sorted(p for p in directory.iterdir() if p.name.startswith(name))


def check_whole(files):
    """Every line of every file is whole; returns the URIs of the request lines, in order."""
    uris = []
    for path in files:
        data = read_log_file(path)
        assert b"\0" not in data, f"NUL bytes in {path}"
        assert not data or data.endswith(b"\n"), f"{path} ends in a cut line: {data[-200:]!r}"
        for line in data.decode().splitlines():
            assert WHOLE_LINE_RE.match(line), f"a cut or spliced line in {path}: {line!r}"
            m = URI_RE.search(line)
            if m:
                uris.append(m.group(1))
    return uris


def wait_all_logged(files_of, sent, timeout=20):
    def logged():
        found = []
        for path in files_of():
            found += URI_RE.findall(read_log_file(path).decode(errors="replace"))
        return set(sent) <= set(found)
    wait_until(logged, timeout, message="every request's line in some file")


def test_log_maxsize_rotates_between_whole_lines_under_load(ferry, tmp):
    limit = 16 * 1024
    f = ferry(basic_ini(tmp, f"log-maxsize = {limit}", processes=2))
    f.wait_workers(2)
    with Load([tmp / "s.sock"]) as load:
        wait_until(lambda: len(log_files(tmp, "ferry.log.")) >= 6, 60,
                   message="six rotations under load")
        load.wait_more(50)
    assert not load.errors, load.errors[:5]
    sent = load.sent[str(tmp / "s.sock")]
    wait_all_logged(lambda: log_files(tmp, "ferry.log"), sent)
    backups = log_files(tmp, "ferry.log.")
    assert all(re.fullmatch(r"ferry\.log\.\d{8}-\d{6}(\.\d{3})?", p.name) for p in backups), backups
    for p in backups:
        assert p.stat().st_size <= limit, (p, p.stat().st_size)
    # Oldest first: the backups in name order, then the live file.
    uris = check_whole(backups + [tmp / "ferry.log"])
    assert sorted(uris) == sorted(sent), "every request exactly once"
    # Names sort by age: each worker's request lines, read file after file, count up 1, 2, 3...
    served = {}
    for path in backups + [tmp / "ferry.log"]:
        for pid, n in re.findall(r"^\[pid: (\d+)\|app: 0\|req: (\d+)/", path.read_text(), re.M):
            assert int(n) == served.get(pid, 0) + 1, (path, pid, n, served.get(pid))
            served[pid] = int(n)
    # Each fresh file starts by naming the one before it.
    for older, newer in zip(backups, backups[1:] + [tmp / "ferry.log"]):
        first = newer.read_text().splitlines()[0]
        assert first.startswith("ferry: log rotated at log-maxsize") and first.endswith(str(older)), first
    print(f"log-maxsize = {limit}: {len(backups)} rotations, {len(sent)} requests, "
          f"{sum(1 for p in backups if len(p.name) > len('ferry.log.20261206-132745'))} in a second "
          f"already used")


def test_log_backupname_is_replaced_at_each_rotation(ferry, tmp):
    f = ferry(basic_ini(tmp, "log-maxsize = 2000", f"log-backupname = {tmp}/old.log", processes=1))
    f.wait_workers(1)
    for i in range(40):
        assert uwsgi_get(tmp / "s.sock", f"/rot-0-{i}").status == 200
    wait_until(lambda: "/rot-0-39 " in f.log_text(), 10, message="the last request line")
    old = (tmp / "old.log").read_text()
    assert old.startswith("ferry: log rotated") and "/rot-0-" in old
    assert len(old) <= 2000
    assert [p.name for p in log_files(tmp, "ferry.log.")] == []


def test_log_maxsize_that_cannot_rename_says_so_once_and_keeps_logging(ferry, tmp):
    # The log's directory is root's; ferry drops to nobody, which cannot rename in it.
    import grp
    import pwd
    assert os.geteuid() == 0, "CI runs as root; this test checks a rotation after dropping root"
    logdir = tmp / "logs"
    logdir.mkdir()
    ini = basic_ini(tmp, "log-maxsize = 1500", "uid = nobody", "gid = nogroup",
                    "chown-socket = nobody:nogroup", processes=1, log=False)
    f = ferry(ini + f"logger = file:{logdir}/ferry.log\n")
    f.wait_workers(1)
    for i in range(30):
        assert uwsgi_get(tmp / "s.sock", f"/rot-0-{i}").status == 200
    wait_until(lambda: "/rot-0-29 " in f.log_text(), 10, message="the last request line")
    text = f.log_text()
    uid = pwd.getpwnam("nobody").pw_uid
    assert text.count("could not rotate the log") == 1, text
    assert f"Permission denied; ferry runs as uid {uid}" in text
    assert grp.getgrnam("nogroup")  # the group the test names exists
    assert sorted(check_whole([logdir / "ferry.log"])) == sorted(f"/rot-0-{i}" for i in range(30))


def test_sigusr1_after_dropping_privileges_reopens_or_says_why(ferry, tmp):
    import grp
    import pwd
    assert os.geteuid() == 0, "CI runs as root; this test checks a reopen after dropping root"
    nobody, nogroup = pwd.getpwnam("nobody").pw_uid, grp.getgrnam("nogroup").gr_gid
    logdir = tmp / "logs"
    logdir.mkdir()
    log, moved = logdir / "ferry.log", logdir / "ferry.log.1"
    ini = basic_ini(tmp, "uid = nobody", "gid = nogroup", "chown-socket = nobody:nogroup",
                    processes=1, log=False)
    f = ferry(ini + f"logger = file:{log}\n")
    f.wait_workers(1)
    # Moved away, nothing new in its place: the master (nobody) cannot create a file in
    # root's directory, says so, and goes on in the old file.
    os.rename(log, moved)
    os.kill(f.pid, signal.SIGUSR1)
    wait_until(lambda: "got SIGUSR1: could not reopen the log" in moved.read_text(), 10,
               message="the reopen failure\n" + moved.read_text()[-2000:])
    assert f"Permission denied" in moved.read_text()
    assert f"ferry runs as uid {nobody} since dropping privileges" in moved.read_text()
    assert not log.exists()
    assert uwsgi_get(tmp / "s.sock", "/still").status == 200
    wait_until(lambda: "GET /still " in moved.read_text(), 10, message="the old file still logging")
    # logrotate's 'create 0640 nobody nogroup': the new file is the master's to open.
    log.touch(0o640)
    os.chown(log, nobody, nogroup)
    os.kill(f.pid, signal.SIGUSR1)
    wait_until(lambda: "got SIGUSR1: reopened the log file" in log.read_text(), 10, message="the reopen")
    assert uwsgi_get(tmp / "s.sock", "/after").status == 200
    wait_until(lambda: "GET /after " in log.read_text(), 10, message="the new file logging")
    assert "GET /after " not in moved.read_text()


def test_touch_logreopen_reopens_the_log(ferry, tmp):
    trigger = tmp / "reopen.trigger"
    trigger.write_text("")
    f = ferry(basic_ini(tmp, f"touch-logreopen = {trigger}", processes=1))
    f.wait_workers(1)
    os.rename(tmp / "ferry.log", tmp / "ferry.log.1")
    st = os.stat(trigger)
    os.utime(trigger, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    wait_until(lambda: (tmp / "ferry.log").exists(), 10, message="a new log file")
    f.wait_log(rf"{re.escape(str(trigger))} was touched: reopened the log file")
    assert uwsgi_get(tmp / "s.sock", "/after").status == 200
    f.wait_log(r"GET /after ")
    assert "GET /after " not in (tmp / "ferry.log.1").read_text()


@pytest.mark.parametrize("reopen", [True, False])
def test_log_reopen_reopens_the_log_after_a_reload(ferry, tmp, reopen):
    f = ferry(basic_ini(tmp, f"log-reopen = {str(reopen).lower()}", processes=1))
    f.wait_workers(1)
    moved, log = tmp / "ferry.log.1", tmp / "ferry.log"
    os.rename(log, moved)
    os.kill(f.pid, signal.SIGHUP)

    def both():
        return moved.read_text() + (log.read_text() if log.exists() else "")
    wait_until(lambda: re.search(r"generation 2\)[\s\S]*is ready", both()), 15,
               message="the reloaded worker's ready line\n" + both())
    assert log.exists() == reopen
    if reopen:
        assert "got SIGHUP: reopened the log file" in log.read_text()
        assert re.search(r"worker \d+ \(pid \d+\) is ready", log.read_text())


# --------------------------------------------------------------------------------------
# Debian's logrotate with the shipped snippet


def logrotate_config(tmp, copytruncate=False):
    """The shipped snippet, its paths moved into tmp; with copytruncate instead of the
    postrotate signal if asked."""
    text = SNIPPET.read_text()
    text = text.replace("/var/log/ferry", str(tmp / "log")).replace("/run/ferry", str(tmp / "run"))
    # The snippet names the ferry user that the Debian package creates; this host has none,
    # and root owns tmp here.
    text = text.replace("su ferry adm", "su root adm").replace("create 0640 ferry adm", "create 0640 www-data adm")
    assert " ferry adm" not in text
    if copytruncate:
        text = re.sub(r"\tsharedscripts\n\tpostrotate\n.*?\tendscript\n", "\tcopytruncate\n", text,
                      flags=re.S)
        assert "postrotate" not in text and "copytruncate" in text
    path = tmp / "logrotate.conf"
    path.write_text(text)
    return path


def run_logrotate(tmp, config):
    r = subprocess.run([LOGROTATE, "-f", "-s", str(tmp / "logrotate.state"), str(config)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and not r.stderr, (r.returncode, r.stderr)


def site_ini(tmp, name):
    return basic_ini(tmp, f"pidfile = {tmp}/run/{name}.pid", processes=2, log=False,
                     socket_name=f"{name}.sock") + f"logger = file:{tmp}/log/{name}.log\n"


def test_logrotate_with_the_shipped_snippet_under_load(ferry, tmp):
    (tmp / "log").mkdir()
    (tmp / "run").mkdir()
    # Two sites, a stale pidfile, and a pidfile whose pid is not a ferry (it must live on:
    # SIGUSR1 would kill it).
    sites = {}
    for name in ("a", "b"):
        (tmp / name).mkdir()
        sites[name] = ferry(site_ini(tmp, name), workdir=tmp / name)
    (tmp / "run" / "gone.pid").write_text("999999\n")
    bystander = subprocess.Popen(["sleep", "600"])
    try:
        (tmp / "run" / "other.pid").write_text(f"{bystander.pid}\n")
        for f in sites.values():
            f.wait_workers(2)
        config = logrotate_config(tmp)
        rounds = 4
        with Load([tmp / "a.sock", tmp / "b.sock"]) as load:
            for i in range(rounds):
                load.wait_more(100)
                run_logrotate(tmp, config)
                for name, f in sites.items():
                    wait_until(lambda: "got SIGUSR1: reopened the log file" in
                               (tmp / "log" / f"{name}.log").read_text(errors="replace"),
                               10, message=f"site {name} reopened its log, round {i}")
            load.wait_more(100)
        assert bystander.poll() is None, "logrotate's postrotate signalled a process that is not ferry"
    finally:
        bystander.kill()
        bystander.wait()
    assert not load.errors, load.errors[:5]
    for name in sites:
        files = log_files(tmp / "log", f"{name}.log")
        # delaycompress: name.log, name.log.1, then name.log.2.gz ...
        assert len(files) == rounds + 1, files
        assert any(p.name.endswith(".gz") for p in files)
        sent = load.sent[str(tmp / f"{name}.sock")]
        wait_all_logged(lambda: log_files(tmp / "log", f"{name}.log"), sent)
        uris = check_whole(log_files(tmp / "log", f"{name}.log"))
        assert sorted(uris) == sorted(sent), f"site {name}: every request exactly once"


def test_logrotate_copytruncate_loses_lines_but_ferry_keeps_writing_whole_ones(ferry, tmp):
    # copytruncate copies the file, then truncates it: what ferry writes in between is in
    # neither file. ferry appends (O_APPEND), so after the truncate it writes at the new
    # end, offset 0, and the file has no hole of NUL bytes.
    (tmp / "log").mkdir()
    (tmp / "run").mkdir()
    f = ferry(site_ini(tmp, "a"))
    f.wait_workers(2)
    config = logrotate_config(tmp, copytruncate=True)
    rounds = 4
    with Load([tmp / "a.sock"]) as load:
        for _ in range(rounds):
            load.wait_more(150)
            run_logrotate(tmp, config)
        load.wait_more(150)
    assert not load.errors, load.errors[:5]
    live = tmp / "log" / "a.log"
    sent = load.sent[str(tmp / "a.sock")]
    last = sent[-1]
    wait_until(lambda: f"GET {last} " in live.read_text(errors="replace"), 10,
               message="the last request in the live file")
    data = live.read_bytes()
    assert data and b"\0" not in data, "a hole of NUL bytes after the truncate"
    live_uris = check_whole([live])  # the live file: every line whole
    found = list(live_uris)
    copies = [p for p in log_files(tmp / "log", "a.log") if p != live]
    assert len(copies) == rounds, copies
    cut = 0
    for path in copies:
        copy = read_log_file(path)
        assert b"\0" not in copy
        lines = copy.decode(errors="replace").split("\n")
        # A copy may end mid-line: logrotate read while a write was landing.
        tail = lines.pop()
        cut += bool(tail)
        for line in lines:
            assert WHOLE_LINE_RE.match(line), f"a cut line inside {path}: {line!r}"
        found += URI_RE.findall("\n".join(lines))
    assert len(found) == len(set(found)), "no request logged twice"
    assert set(found) <= set(sent)
    lost = len(sent) - len(found)
    print(f"copytruncate: {len(sent)} requests, {lost} request lines lost in {rounds} rotations, "
          f"{cut} copies ending in a cut line")


@pytest.mark.parametrize("line, expected", [
    ("log-maxsize = big", "log-maxsize expects a whole number, got 'big'"),
    ("log-maxsize = -5", "log-maxsize = -5 is out of range"),
    ("log-maxsize = 100", "log-maxsize = 100 is too small; use at least 1024 bytes"),
    ("log-reopen = maybe", "log-reopen"),
    ("log-backupname =", "log-backupname needs a value"),
    ("touch-logreopen =", "touch-logreopen needs a value"),
])
def test_bad_rotation_values_name_the_file_and_line(ferry, tmp, line, expected):
    ini = basic_ini(tmp, line, processes=1)
    f = ferry(ini, start=False)
    assert f.run_to_exit() == 2, f.diagnostics()
    lineno = ini.splitlines().index(line) + 1
    assert f"app.ini, line {lineno}: " in f.stderr and expected in f.stderr, f.stderr
