"""Fixtures and helpers for ferry's integration tests.

The tests drive the real binary (env FERRY_BIN, default <repo>/build/ferry) through the
real uwsgi protocol, either with the raw client below or through a real nginx. Every test
gets its own short temporary directory (Unix socket paths must stay under ~100 bytes), and
every process a test starts is killed at teardown, even when the test fails: processes are
found by a unique marker in their environment (inherited by workers and by a daemonized
ferry), by process group and by parentage.
"""

from __future__ import annotations

import http.client
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
APPS = HERE / "apps"
FERRY_BIN = os.path.abspath(os.environ.get("FERRY_BIN", str(REPO / "build" / "ferry")))
SYSTEM_PYTHON = "/usr/bin/python3"
NGINX_BIN = shutil.which("nginx") or "/usr/sbin/nginx"
TAG_VAR = "FERRY_IT_TAG"
START_TIMEOUT = 15.0

# Matches one request line of uWSGI's default request-log format.
REQUEST_LINE_RE = re.compile(
    r"^\[pid: (?P<pid>\d+)\|app: 0\|req: \d+/\d+\] (?P<addr>\S+) \(\) "
    r"\{(?P<vars>\d+) vars in (?P<pktsize>\d+) bytes\} "
    r"\[\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}\] "
    r"(?P<method>[A-Z]+) (?P<uri>\S+) => generated (?P<size>\d+) bytes in \d+ msecs "
    r"\(HTTP/1\.[01] (?P<status>\d{3})\) (?P<hcount>\d+) headers in (?P<hsize>\d+) bytes "
    r"\(1 switches on core 0\)$"
)


# --------------------------------------------------------------------------------------
# Small utilities


def wait_until(predicate, timeout, interval=0.05, message="condition"):
    """Polls predicate() until it returns a truthy value; returns it or raises."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        time.sleep(interval)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pid_alive(pid: int) -> bool:
    """True if pid exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return False
    state = stat[stat.rfind(b")") + 2 : stat.rfind(b")") + 3]
    return state not in (b"Z", b"X", b"")


def proc_stat(pid: int):
    """(ppid, pgid) of pid, or None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat[stat.rfind(b")") + 2 :].split()
    return int(fields[1]), int(fields[2])


def child_pids(pid: int) -> list[int]:
    """Live (non-zombie) direct children of pid."""
    children: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                children.extend(int(x) for x in f.read().split())
        except OSError:
            pass
    return sorted(c for c in set(children) if pid_alive(c))


def all_pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def pids_with_env_marker(marker: bytes) -> list[int]:
    found = []
    for pid in all_pids():
        if pid == os.getpid():
            continue
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                env = f.read()
        except OSError:
            continue
        if marker in env.split(b"\0"):
            found.append(pid)
    return found


def descendants(roots) -> set[int]:
    parent = {}
    for pid in all_pids():
        st = proc_stat(pid)
        if st:
            parent[pid] = st[0]
    out = set()
    frontier = set(roots)
    while frontier:
        nxt = {p for p, pp in parent.items() if pp in frontier and p not in out}
        out |= nxt
        frontier = nxt
    return out


def read_text(path) -> str:
    try:
        return Path(path).read_text(errors="replace")
    except OSError:
        return ""


def can_connect(addr, timeout=0.5) -> bool:
    try:
        with connect(addr, timeout):
            return True
    except OSError:
        return False


def parse_addr(addr):
    """A Unix socket path (str/Path containing '/'), 'host:port', or (host, port)."""
    if isinstance(addr, tuple):
        return socket.AF_INET, addr
    addr = str(addr)
    if "/" in addr:
        return socket.AF_UNIX, addr
    host, _, port = addr.rpartition(":")
    return socket.AF_INET, (host or "127.0.0.1", int(port))


def connect(addr, timeout=10.0) -> socket.socket:
    family, target = parse_addr(addr)
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(target)
    except OSError:
        s.close()
        raise
    return s


# --------------------------------------------------------------------------------------
# Raw uwsgi protocol client


def encode_vars(vars) -> bytes:
    if isinstance(vars, dict):
        vars = list(vars.items())
    out = bytearray()
    for key, val in vars:
        k = key.encode("latin-1") if isinstance(key, str) else key
        v = val.encode("latin-1") if isinstance(val, str) else val
        out += struct.pack("<H", len(k)) + k + struct.pack("<H", len(v)) + v
    return bytes(out)


def uwsgi_packet(vars, body=b"", modifier1=0, modifier2=0) -> bytes:
    data = encode_vars(vars)
    assert len(data) <= 0xFFFF, "vars block too large for a uwsgi packet"
    return struct.pack("<BHB", modifier1, len(data), modifier2) + data + body


def read_until_close(s: socket.socket, timeout=10.0) -> bytes:
    """Reads until the peer closes. A reset after data counts as a close."""
    deadline = time.monotonic() + timeout
    chunks = []
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"peer did not close within {timeout}s; got {b''.join(chunks)[:200]!r}")
        s.settimeout(remaining)
        try:
            chunk = s.recv(65536)
        except ConnectionResetError:
            break
        except socket.timeout:
            raise TimeoutError(f"peer did not close within {timeout}s; got {b''.join(chunks)[:200]!r}")
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def raw_exchange(addr, data: bytes, timeout=10.0, shutdown_write=False) -> bytes:
    """Sends raw bytes, then reads until the server closes."""
    with connect(addr, timeout) as s:
        try:
            s.sendall(data)
            if shutdown_write:
                s.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            return b""
        return read_until_close(s, timeout)


def uwsgi_request(addr, vars, body=b"", modifier1=0, modifier2=0, timeout=10.0) -> bytes:
    """Sends one uwsgi request the way nginx does (no half-close) and returns the raw
    response bytes, read until the server closes the connection."""
    return raw_exchange(addr, uwsgi_packet(vars, body, modifier1, modifier2), timeout)


def nginx_vars(path="/", method="GET", query="", headers=None, body=b"", content_type="",
               scheme="http", https=False, server_port="80"):
    """The vars stock nginx sends with `include uwsgi_params`, in its order."""
    uri = path + ("?" + query if query else "")
    vars = [
        ("QUERY_STRING", query),
        ("REQUEST_METHOD", method),
        ("CONTENT_TYPE", content_type),
        ("CONTENT_LENGTH", str(len(body)) if body else ""),
        ("REQUEST_URI", uri),
        ("PATH_INFO", path),
        ("DOCUMENT_ROOT", "/usr/share/nginx/html"),
        ("SERVER_PROTOCOL", "HTTP/1.1"),
        ("REQUEST_SCHEME", scheme),
    ]
    if https:
        vars.append(("HTTPS", "on"))
    vars += [
        ("REMOTE_ADDR", "127.0.0.1"),
        ("REMOTE_PORT", "54321"),
        ("SERVER_PORT", server_port),
        ("SERVER_NAME", "localhost"),
        ("HTTP_HOST", "localhost"),
    ]
    for k, v in (headers or []):
        vars.append(("HTTP_" + k.upper().replace("-", "_"), v))
    return vars


@dataclass
class Response:
    version: str
    status: int
    reason: str
    headers: list = field(default_factory=list)
    body: bytes = b""
    raw: bytes = b""

    def header(self, name, default=None):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return default

    def header_all(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    def json(self):
        import json

        return json.loads(self.body)


def parse_http_response(raw: bytes) -> Response:
    assert raw, "empty response: the server closed the connection without answering"
    head, sep, body = raw.partition(b"\r\n\r\n")
    assert sep, f"no end of headers in response: {raw[:300]!r}"
    lines = head.split(b"\r\n")
    m = re.match(rb"^(HTTP/1\.[01]) (\d{3})(?: (.*))?$", lines[0])
    assert m, f"bad status line: {lines[0]!r}"
    headers = []
    for line in lines[1:]:
        k, colon, v = line.partition(b":")
        assert colon, f"bad header line: {line!r}"
        headers.append((k.decode("latin-1"), v.strip().decode("latin-1")))
    return Response(m.group(1).decode(), int(m.group(2)), (m.group(3) or b"").decode("latin-1"),
                    headers, body, raw)


def uwsgi_get(addr, path="/", query="", timeout=10.0, **kw) -> Response:
    """A GET as nginx with uwsgi_params would send it, parsed."""
    return parse_http_response(uwsgi_request(addr, nginx_vars(path, query=query, **kw),
                                             timeout=timeout))


# --------------------------------------------------------------------------------------
# HTTP client (through nginx)


def http_request(port, method="GET", path="/", body=None, headers=None, timeout=15.0):
    """Returns (status, headers list, body bytes)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        has_len = False
        for k, v in (headers or []):
            conn.putheader(k, v)
            has_len |= k.lower() == "content-length"
        if body is not None and not has_len:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, resp.getheaders(), data
    finally:
        conn.close()


# --------------------------------------------------------------------------------------
# Process bookkeeping: everything a test starts dies at teardown


class ProcessTracker:
    def __init__(self):
        self.tag = uuid.uuid4().hex
        self.popens: list[subprocess.Popen] = []
        self.roots: set[int] = set()
        self.pidfiles: list[Path] = []

    def env(self, extra=None) -> dict:
        env = dict(os.environ)
        env[TAG_VAR] = self.tag
        env.update(extra or {})
        return env

    def popen(self, argv, **kw) -> subprocess.Popen:
        p = subprocess.Popen(argv, start_new_session=True, **kw)
        self.popens.append(p)
        self.roots.add(p.pid)
        return p

    def _victims(self) -> set[int]:
        roots = set(self.roots)
        for pf in self.pidfiles:
            try:
                roots.add(int(Path(pf).read_text().split()[0]))
            except (OSError, ValueError, IndexError):
                pass
        victims = set(pids_with_env_marker(f"{TAG_VAR}={self.tag}".encode()))
        tracked_groups = {p.pid for p in self.popens}
        for pid in all_pids():
            st = proc_stat(pid)
            if st and st[1] in tracked_groups:
                victims.add(pid)
        # A pidfile may name an unrelated process if a test wrote a fake pid: only kill
        # those that carry our marker or descend from our own processes.
        own_roots = {p.pid for p in self.popens if p.poll() is None}
        victims |= descendants(own_roots | (victims & roots))
        victims |= own_roots
        victims.discard(os.getpid())
        return {v for v in victims if pid_alive(v)}

    def cleanup(self):
        # Repeat until nothing is left: a master killed after one of its workers may have
        # forked a replacement in between.
        for _ in range(50):
            victims = self._victims()
            if not victims:
                break
            # Masters first (our own children), then everything else.
            for pid in sorted(victims, key=lambda p: p not in self.roots):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            for p in self.popens:
                try:
                    p.wait(timeout=0.5)
                except subprocess.TimeoutExpired:
                    pass
            time.sleep(0.02)
        for p in self.popens:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
            for stream in (p.stdout, p.stderr, p.stdin):
                if stream:
                    stream.close()


def new_short_tmp_dir(prefix="f") -> Path:
    """A short private temp dir (Unix socket paths must stay < 108 bytes)."""
    d = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    os.chmod(d, 0o755)
    return d


def _short_tmp_dir():
    d = new_short_tmp_dir()
    yield d
    shutil.rmtree(d, ignore_errors=True)


def _tracked_processes():
    tracker = ProcessTracker()
    yield tracker
    tracker.cleanup()


@pytest.fixture
def tmp():
    yield from _short_tmp_dir()


@pytest.fixture
def procs():
    yield from _tracked_processes()


# For a stack that every test of one module uses (nginx, ferry and a migrated project).
@pytest.fixture(scope="module")
def module_tmp():
    yield from _short_tmp_dir()


@pytest.fixture(scope="module")
def module_procs():
    yield from _tracked_processes()


# --------------------------------------------------------------------------------------
# ferry


_LITERAL_KEY_RE = re.compile(r"^\s*([A-Za-z0-9_.-]+)\s*=\s*(.*?)\s*$")


def _literal_values(ini_text: str, key: str) -> list[str]:
    out = []
    for line in ini_text.splitlines():
        m = _LITERAL_KEY_RE.match(line)
        if m and m.group(1) == key:
            value = re.split(r"\s[#;]", m.group(2))[0].strip()
            if value and "%" not in value and "$(" not in value:
                out.append(value)
    return out


class Ferry:
    """One ferry process started from an ini text and/or command-line arguments."""

    def __init__(self, tracker: ProcessTracker, workdir: Path, ini=None, args=(),
                 ini_name="app.ini", env=None, sockets=None, log=None, pidfile=None,
                 use_ini_flag=False):
        self.tracker = tracker
        self.workdir = Path(workdir)
        self.ini_path = None
        if ini is not None:
            self.ini_path = self.workdir / ini_name.split(":")[0]
            self.ini_path.write_text(ini, encoding="utf-8")
        section = (":" + ini_name.split(":", 1)[1]) if ":" in ini_name else ""
        self.argv = [FERRY_BIN]
        if self.ini_path is not None:
            target = str(self.ini_path) + section
            self.argv += ["--ini", target] if use_ini_flag else [target]
        self.argv += [str(a) for a in args]
        self.env = tracker.env(env)
        ini_text = ini or ""
        argv_pairs = self._flag_values(args)
        if sockets is None:
            sockets = _literal_values(ini_text, "socket") + argv_pairs.get("socket", [])
        self.sockets = [str(s) for s in sockets]
        if log is None:
            for key in ("logger", "logto", "daemonize"):
                vals = _literal_values(ini_text, key) + argv_pairs.get(key, [])
                if vals:
                    log = vals[-1][5:] if vals[-1].startswith("file:") else vals[-1]
        self.log_path = Path(log) if log else None
        if pidfile is None:
            vals = _literal_values(ini_text, "pidfile") + argv_pairs.get("pidfile", [])
            pidfile = vals[-1] if vals else None
        self.pidfile = Path(pidfile) if pidfile else None
        if self.pidfile:
            tracker.pidfiles.append(self.pidfile)
        self.stdout_path = self.workdir / "ferry.stdout"
        self.stderr_path = self.workdir / "ferry.stderr"
        self.proc = None

    @staticmethod
    def _flag_values(args):
        out: dict[str, list[str]] = {}
        args = [str(a) for a in args]
        i = 0
        while i < len(args):
            a = args[i]
            if a.startswith("--"):
                if "=" in a:
                    k, v = a[2:].split("=", 1)
                    out.setdefault(k, []).append(v)
                elif i + 1 < len(args) and not args[i + 1].startswith("--"):
                    out.setdefault(a[2:], []).append(args[i + 1])
                    i += 1
            i += 1
        return out

    # -- lifecycle

    def start(self, wait=True, timeout=START_TIMEOUT):
        assert os.path.exists(FERRY_BIN), f"ferry binary not found at {FERRY_BIN}"
        self._out = open(self.stdout_path, "wb")
        self._err = open(self.stderr_path, "wb")
        self.proc = self.tracker.popen(self.argv, stdin=subprocess.DEVNULL, stdout=self._out,
                                       stderr=self._err, env=self.env, cwd=self.workdir,
                                       **getattr(self, "popen_kwargs", {}))
        self._out.close()
        self._err.close()
        if wait:
            self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout=START_TIMEOUT):
        assert self.sockets, "no socket to wait for"
        deadline = time.monotonic() + timeout
        pending = list(self.sockets)
        while pending:
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"ferry exited with {self.proc.returncode} before accepting connections\n"
                    + self.diagnostics())
            if can_connect(pending[0]):
                pending.pop(0)
                continue
            if time.monotonic() > deadline:
                raise AssertionError(f"ferry did not accept on {pending[0]} within {timeout}s\n"
                                     + self.diagnostics())
            time.sleep(0.05)
        return self

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def returncode(self):
        return self.proc.poll() if self.proc else None

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait(self, timeout=10.0):
        """Waits for the process to exit and returns its exit code (fails on timeout)."""
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"ferry (pid {self.pid}) still running after {timeout}s\n"
                                 + self.diagnostics())

    def stop(self, sig=signal.SIGTERM, timeout=10.0):
        """Sends sig to the master and waits; SIGKILLs the group if it does not exit."""
        if self.proc.poll() is None:
            os.kill(self.pid, sig)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except OSError:
                pass
            self.proc.wait(timeout=5)
            raise AssertionError(f"ferry did not exit within {timeout}s of signal {sig}\n"
                                 + self.diagnostics())

    def run_to_exit(self, timeout=START_TIMEOUT):
        """Starts without waiting for a socket, waits for the exit; returns the code."""
        self.start(wait=False)
        return self.wait(timeout)

    # -- observation

    @property
    def stderr(self) -> str:
        return read_text(self.stderr_path)

    @property
    def stdout(self) -> str:
        return read_text(self.stdout_path)

    def log_text(self) -> str:
        return read_text(self.log_path) if self.log_path else ""

    def log_lines(self) -> list[str]:
        return self.log_text().splitlines()

    def request_lines(self):
        return [m for m in map(REQUEST_LINE_RE.match, self.log_lines()) if m]

    def wait_log(self, pattern, timeout=10.0, flags=0):
        """Waits until the log matches the regex pattern; returns the match."""
        rx = re.compile(pattern, flags | re.MULTILINE)
        try:
            return wait_until(lambda: rx.search(self.log_text()), timeout, message=pattern)
        except AssertionError:
            raise AssertionError(f"log never matched {pattern!r}\n" + self.diagnostics())

    def workers(self) -> list[int]:
        return child_pids(self.pid)

    def wait_workers(self, n, timeout=10.0, exclude=(), settle=0.3) -> list[int]:
        """Waits until the master has exactly n live children (none of them in exclude)
        and still has the same ones `settle` seconds later."""
        def ready():
            w = [p for p in self.workers() if p not in exclude]
            if len(w) != n:
                return None
            time.sleep(settle)
            return w if [p for p in self.workers() if p not in exclude] == w else None

        try:
            return wait_until(ready, timeout, message=f"{n} workers")
        except AssertionError:
            raise AssertionError(f"expected {n} workers of {self.pid}, have {self.workers()}\n"
                                 + self.diagnostics())

    def diagnostics(self) -> str:
        log = self.log_text()
        return (f"--- argv: {self.argv}\n--- stderr:\n{self.stderr[-4000:]}\n"
                f"--- stdout:\n{self.stdout[-2000:]}\n--- log ({self.log_path}):\n{log[-4000:]}")


@pytest.fixture
def ferry(tmp, procs):
    """Factory: ferry(ini_text, args=..., start=True, ...) -> started Ferry."""

    def make(ini=None, *, start=True, workdir=None, **kw):
        f = Ferry(procs, workdir or tmp, ini, **kw)
        if start:
            f.start()
        return f

    return make


def basic_ini(tmp, *extra, processes=2, module="testapp", master=True, log=True,
              socket_name="s.sock") -> str:
    """A typical ini: the test app on a Unix socket, a log file in tmp."""
    lines = [
        "[uwsgi]",
        f"socket = {tmp}/{socket_name}",
        f"pythonpath = {APPS}",
        f"module = {module}",
        f"processes = {processes}",
    ]
    if master:
        lines.append("master = true")
    if log:
        lines.append(f"logger = file:{tmp}/ferry.log")
    lines += list(extra)
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------
# nginx


class Nginx:
    def __init__(self, tracker: ProcessTracker, tmp: Path, upstream: str, uwsgi_params=True,
                 extra_http="", extra_location="", extra_server="", server_name="localhost"):
        self.tracker = tracker
        self.dir = Path(tmp) / "nginx"
        self.dir.mkdir(exist_ok=True)
        for sub in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (self.dir / sub).mkdir(exist_ok=True)
        self.port = free_port()
        if upstream.startswith("unix:") or "/" not in upstream:
            self.upstream = upstream  # unix:PATH or HOST:PORT
        else:
            self.upstream = f"unix:{upstream}"
        user = ""
        if os.geteuid() == 0:
            user = "user root root;"
        params = "include /etc/nginx/uwsgi_params;" if uwsgi_params else ""
        # None: a server block without server_name, as many sites have (nginx then sends
        # SERVER_NAME as an empty string).
        server_name_line = f"server_name {server_name};" if server_name is not None else ""
        d = self.dir
        self.conf = d / "nginx.conf"
        self.conf.write_text(f"""
{user}
daemon off;
master_process on;
worker_processes 1;
worker_rlimit_nofile 8192;
pid {d}/nginx.pid;
error_log {d}/error.log info;
events {{ worker_connections 4096; }}
http {{
    access_log {d}/access.log;
    client_body_temp_path {d}/client_body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    client_max_body_size 64m;
    {extra_http}
    server {{
        listen 127.0.0.1:{self.port} backlog=4096;
        {server_name_line}
        {extra_server}
        location / {{
            {params}
            uwsgi_pass {self.upstream};
            {extra_location}
        }}
    }}
}}
""")
        self.proc = None

    def start(self, timeout=10.0):
        self.stderr_path = self.dir / "nginx.stderr"
        with open(self.stderr_path, "wb") as err:
            self.proc = self.tracker.popen(
                [NGINX_BIN, "-p", str(self.dir), "-c", str(self.conf), "-e", "stderr"],
                stdin=subprocess.DEVNULL, stdout=err, stderr=err, env=self.tracker.env())
        deadline = time.monotonic() + timeout
        while not can_connect(("127.0.0.1", self.port)):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("nginx did not start:\n" + read_text(self.stderr_path)
                                     + read_text(self.dir / "error.log"))
            time.sleep(0.05)
        return self

    def request(self, method="GET", path="/", body=None, headers=None, timeout=15.0):
        return http_request(self.port, method, path, body, headers, timeout)

    def get(self, path="/", **kw):
        return self.request("GET", path, **kw)

    def error_log(self) -> str:
        return read_text(self.dir / "error.log")


@pytest.fixture
def nginx(tmp, procs):
    """Factory: nginx(upstream_socket_path, uwsgi_params=True) -> started Nginx."""

    def make(upstream, **kw):
        return Nginx(procs, tmp, str(upstream), **kw).start()

    return make


# --------------------------------------------------------------------------------------
# Request loops used by the master tests


class RequestLoop:
    """Sends requests back to back from a thread, recording every outcome."""

    def __init__(self, send, max_requests=5000, max_seconds=20.0, pause=0.0):
        self.send = send
        self.max_requests = max_requests
        self.max_seconds = max_seconds
        self.pause = pause
        self.results = []  # (monotonic time, ok, detail)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        deadline = time.monotonic() + self.max_seconds
        while (not self._stop.is_set() and len(self.results) < self.max_requests
               and time.monotonic() < deadline):
            t = time.monotonic()
            try:
                ok, detail = self.send()
            except Exception as e:  # noqa: BLE001 - every failure is recorded
                ok, detail = False, repr(e)
            self.results.append((t, ok, detail))
            if self.pause:
                time.sleep(self.pause)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def stop(self):
        self._stop.set()
        self._thread.join(timeout=self.max_seconds + 15)

    def wait_count(self, n, timeout=10.0):
        wait_until(lambda: len(self.results) >= n, timeout, message=f"{n} loop requests")

    @property
    def failures(self):
        return [r for r in self.results if not r[1]]

    @property
    def successes(self):
        return [r for r in self.results if r[1]]


def ok_via_nginx(port, path="/"):
    def send():
        status, _, body = http_request(port, "GET", path, timeout=10)
        return status == 200, f"{status} {body[:80]!r}"

    return send


def ok_via_uwsgi(addr, path="/"):
    def send():
        r = uwsgi_get(addr, path)
        return r.status == 200, f"{r.status} {r.body[:80]!r}"

    return send


# --------------------------------------------------------------------------------------
# Python environments


def make_venv(path: Path) -> Path:
    """A venv the way the user makes one (system site packages visible), without pip."""
    subprocess.run([SYSTEM_PYTHON, "-m", "venv", "--system-site-packages", "--without-pip",
                    str(path)], check=True, timeout=120)
    return path


def venv_site_packages(venv: Path) -> Path:
    v = f"python{sys.version_info.major}.{sys.version_info.minor}"
    # The venv is made by /usr/bin/python3, which may differ from the interpreter running
    # pytest only if pytest is run with another python: ask the venv itself.
    out = subprocess.run([str(venv / "bin" / "python3"), "-c",
                          "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                         check=True, capture_output=True, text=True, timeout=60).stdout.strip()
    return Path(out) if out else venv / "lib" / v / "site-packages"


def listen_backlog(addr) -> int | None:
    """The backlog of a listening socket as `ss` reports it (Send-Q column)."""
    family, target = parse_addr(addr)
    if family == socket.AF_UNIX:
        out = subprocess.run(["ss", "-xlnH"], capture_output=True, text=True, timeout=10).stdout
        for line in out.splitlines():
            cols = line.split()
            if len(cols) >= 5 and cols[4] == target:
                return int(cols[3])
    else:
        out = subprocess.run(["ss", "-tlnH"], capture_output=True, text=True, timeout=10).stdout
        for line in out.splitlines():
            cols = line.split()
            if len(cols) >= 4 and cols[3] == f"{target[0]}:{target[1]}":
                return int(cols[2])
    return None


# --------------------------------------------------------------------------------------
# The demo Django project (conf/server_dev) and a client that logs into its admin


DEMO = REPO / "conf" / "server_dev"
ADMIN_PASSWORD = "ferry-Test-pw-4711"

# The seed ini with its paths in the test's directory and its second line split in two;
# everything else (including the Korean inline comments) exactly as the user wrote it.
SEED_FIXED = """[uwsgi]
base = {base}
home = %(base)/venv
chdir = %(base) #가상환경 경로
module = server_dev.wsgi:application #프로젝트 경로
socket = {tmp}/django.sock #리눅스에서 제공하는 소켓사용
chmod-socket = 666 #소켓의 파일권한
master = true #마스터 프로세스 유무
enable-threads = true # 워커를 쓰레드 기반으로 할 것인가
pidfile = {tmp}/django.pid #uwsgi 모든 프로세스 번호를 쉽게 확인
vacuum = true #uwsgi 흔적(soket, pid)을 자동으로 지워줌
logger = file:{tmp}/uwsgi.log # log파일 기록
env = FERRY_DEMO_DATA={data}
"""


def seed_ini(tmp, base, data, *extra) -> str:
    """SEED_FIXED for a project prepared in tmp, with extra lines appended."""
    return SEED_FIXED.format(base=base, tmp=tmp, data=data) + "".join(f"{x}\n" for x in extra)


def start_seed_stack(procs, tmp, base, data, *extra_ini, **nginx_kw):
    """ferry from the seed ini (plus extra lines) behind a started nginx: (Ferry, Nginx)."""
    f = Ferry(procs, tmp, seed_ini(tmp, base, data, *extra_ini), sockets=[tmp / "django.sock"],
              log=tmp / "uwsgi.log", pidfile=tmp / "django.pid").start()
    return f, Nginx(procs, tmp, str(tmp / "django.sock"), **nginx_kw).start()


def manage(base, data, *args, extra_env=None):
    env = dict(os.environ, FERRY_DEMO_DATA=str(data), **(extra_env or {}))
    r = subprocess.run([SYSTEM_PYTHON, str(base / "manage.py"), *args], cwd=base, env=env,
                       timeout=180, capture_output=True, text=True)
    assert r.returncode == 0, f"manage.py {' '.join(args)} failed:\n{r.stdout}\n{r.stderr}"
    return r.stdout


def prepare_project(tmp, admin=True, env=None, static=False):
    """The demo project copied to tmp/server_dev with its venv, migrated (with an admin).

    env: extra environment for manage.py, e.g. MariaDB.django_env(); static: also run
    collectstatic into $FERRY_DEMO_DATA/static for nginx to serve."""
    base = tmp / "server_dev"
    shutil.copytree(DEMO, base, ignore=shutil.ignore_patterns("data", "venv", "__pycache__",
                                                              "*.sqlite3"))
    make_venv(base / "venv")
    data = tmp / "data"
    manage(base, data, "migrate", "--noinput", extra_env=env)
    if static:
        manage(base, data, "collectstatic", "--noinput", extra_env=env)
    if admin:
        manage(base, data, "createsuperuser", "--noinput", extra_env={
            **(env or {}), "DJANGO_SUPERUSER_USERNAME": "admin",
            "DJANGO_SUPERUSER_PASSWORD": ADMIN_PASSWORD,
            "DJANGO_SUPERUSER_EMAIL": "admin@example.org"})
    return base, data


def nginx_static_location(data) -> str:
    """An nginx `location` serving the demo's collected static files, as a real site does.
    With their MIME types: a browser ignores a stylesheet served as text/plain."""
    return f"location /static/ {{ include /etc/nginx/mime.types; alias {data}/static/; }}"


def cookies_from(headers, jar):
    for k, v in headers:
        if k.lower() == "set-cookie":
            c = SimpleCookie()
            c.load(v)
            for name, morsel in c.items():
                jar[name] = morsel.value
    return jar


def cookie_header(jar):
    return "; ".join(f"{k}={v}" for k, v in jar.items())


def header_value(headers, name, default=None):
    for k, v in headers:
        if k.lower() == name.lower():
            return v
    return default


_CSRF_INPUT_RE = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


class DjangoClient:
    """What a browser does for Django through nginx: keeps a cookie jar (sent with every
    request, updated from every response) and posts forms with their CSRF token."""

    def __init__(self, port):
        self.port = port
        self.jar: dict[str, str] = {}

    def request(self, method, path, body=None, headers=(), timeout=30.0):
        headers = list(headers)
        if self.jar:
            headers.append(("Cookie", cookie_header(self.jar)))
        status, resp_headers, data = http_request(self.port, method, path, body, headers,
                                                  timeout)
        cookies_from(resp_headers, self.jar)
        return status, resp_headers, data

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def get_form(self, path) -> tuple[str, str]:
        """GETs a page with a form; returns (page, the form's CSRF token)."""
        status, _, body = self.get(path)
        page = body.decode("utf-8", "replace")
        assert status == 200, f"GET {path}: {status}\n{page[:2000]}"
        m = _CSRF_INPUT_RE.search(page)
        assert m and "<form" in page, f"GET {path}: no form with a CSRF token\n{page[:2000]}"
        assert "csrftoken" in self.jar, f"GET {path}: no csrftoken cookie; jar {self.jar}"
        return page, m.group(1)

    def post_form(self, path, fields, token):
        form = urlencode({"csrfmiddlewaretoken": token, **fields}).encode()
        return self.request("POST", path, body=form, headers=[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Referer", f"http://127.0.0.1:{self.port}{path}")])

    def admin_login(self, password=ADMIN_PASSWORD) -> str:
        """Logs in as admin the way the login page does; returns the dashboard's HTML."""
        path = "/admin/login/?next=/admin/"
        _, token = self.get_form(path)
        status, headers, body = self.post_form(
            path, {"username": "admin", "password": password, "next": "/admin/"}, token)
        assert status == 302, f"POST {path}: {status}\n{body[:3000]!r}"
        location = header_value(headers, "Location", "")
        assert location.endswith("/admin/"), headers
        assert "sessionid" in self.jar, f"no session cookie after login; jar {self.jar}"
        status, _, body = self.get(urlsplit(location)._replace(scheme="", netloc="").geturl())
        page = body.decode("utf-8", "replace")
        assert status == 200 and "Site administration" in page, f"{status}\n{page[:2000]}"
        return page


# --------------------------------------------------------------------------------------
# MariaDB


MARIADBD = "/usr/sbin/mariadbd"
MARIADB_INSTALL_DB = "/usr/bin/mariadb-install-db"


class MariaDB:
    """A private mariadbd from Debian's mariadb-server: its own datadir, a Unix socket and
    no TCP port, root without a password. Independent of any system MariaDB service."""

    def __init__(self, tracker: ProcessTracker, base: Path):
        self.tracker = tracker
        self.base = Path(base)
        self.datadir = self.base / "data"
        self.socket = self.base / "mysql.sock"
        self.error_log = self.base / "error.log"
        self.proc = None
        # mariadbd refuses to run as root unless told to; CI runs as root.
        self.user_args = ["--user=root"] if os.geteuid() == 0 else []

    def start(self, timeout=30.0):
        # --no-defaults: nothing from /etc/mysql (the system service's socket, port, user).
        # "normal" root authentication: a password (empty) rather than the Unix user's
        # identity, so the tests connect as root whoever runs them.
        r = subprocess.run(
            [MARIADB_INSTALL_DB, "--no-defaults", f"--datadir={self.datadir}",
             "--auth-root-authentication-method=normal", "--skip-test-db",
             *self.user_args],
            capture_output=True, text=True, timeout=120, env=self.tracker.env())
        assert r.returncode == 0, f"mariadb-install-db failed:\n{r.stdout}\n{r.stderr}"
        self.proc = self.tracker.popen(
            [MARIADBD, "--no-defaults", f"--datadir={self.datadir}", f"--socket={self.socket}",
             f"--pid-file={self.base / 'mariadbd.pid'}", f"--log-error={self.error_log}",
             "--skip-networking", "--skip-name-resolve", "--character-set-server=utf8mb4",
             "--collation-server=utf8mb4_unicode_ci",
             # Throwaway data: durability is not worth an fsync per migration step.
             "--innodb-flush-log-at-trx-commit=0", "--skip-innodb-doublewrite",
             *self.user_args],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            env=self.tracker.env())

        def accepts():
            if self.proc.poll() is not None:
                raise AssertionError(f"mariadbd exited with {self.proc.returncode}:\n"
                                     + read_text(self.error_log)[-4000:])
            try:
                self.connect().close()
                return True
            except Exception:  # noqa: BLE001 - not accepting yet
                return False

        try:
            wait_until(accepts, timeout, interval=0.1, message="mariadbd to accept")
        except AssertionError as e:
            raise AssertionError(f"{e}\n{read_text(self.error_log)[-4000:]}") from None
        return self

    def connect(self, db=None):
        import MySQLdb  # Debian's python3-mysqldb, the driver Django's backend uses

        kw = {"db": db} if db else {}
        return MySQLdb.connect(unix_socket=str(self.socket), user="root", passwd="",
                               charset="utf8mb4", connect_timeout=5, **kw)

    def query(self, sql, args=None, db=None) -> list[tuple]:
        conn = self.connect(db)
        try:
            cur = conn.cursor()
            cur.execute(sql, args)
            rows = list(cur.fetchall())
            conn.commit()
            return rows
        finally:
            conn.close()

    def create_database(self, name) -> str:
        assert re.fullmatch(r"\w+", name), name
        self.query(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
        return name

    def django_env(self, db) -> dict:
        """The demo settings' environment for this server and database."""
        return {"FERRY_DEMO_DB": "mysql", "FERRY_DEMO_MYSQL_SOCKET": str(self.socket),
                "FERRY_DEMO_MYSQL_DB": db, "FERRY_DEMO_MYSQL_USER": "root",
                "FERRY_DEMO_MYSQL_PASSWORD": ""}


@pytest.fixture(scope="session")
def mariadb():
    """A running private MariaDB with an empty database `server_dev`; killed at the end of
    the session however the tests went (the data is thrown away with it)."""
    tracker = ProcessTracker()
    base = new_short_tmp_dir("m")
    try:
        db = MariaDB(tracker, base).start()
        db.create_database("server_dev")
        yield db
    finally:
        tracker.cleanup()
        shutil.rmtree(base, ignore_errors=True)


# --------------------------------------------------------------------------------------
# The HTTP listener (http / http-socket): a strict raw HTTP/1.x client


def http_ini(tmp, port, *extra, key="http", processes=1, module="httpapp", log=True) -> str:
    """An ini serving `module` (default the HTTP test app) over HTTP on 127.0.0.1:port."""
    lines = ["[uwsgi]", f"{key} = 127.0.0.1:{port}", f"pythonpath = {APPS}",
             f"module = {module}", f"processes = {processes}", "master = true"]
    if log:
        lines.append(f"logger = file:{tmp}/ferry.log")
    lines += list(extra)
    return "\n".join(lines) + "\n"


def http_request_bytes(method="GET", target="/", headers=None, body=b"", version="HTTP/1.1",
                       host="127.0.0.1") -> bytes:
    """One request as raw bytes. headers: (name, value) pairs sent as given; a Host header
    is added first unless host is None; Content-Length is added for a body unless a
    Content-Length or Transfer-Encoding header is given (the body is then sent as is)."""
    headers = list(headers or [])
    names = {k.lower() for k, _ in headers}
    if host is not None and "host" not in names:
        headers.insert(0, ("Host", host))
    if body and not names & {"content-length", "transfer-encoding"}:
        headers.append(("Content-Length", str(len(body))))
    head = f"{method} {target} {version}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers)
    return head.encode("latin-1") + b"\r\n" + body


def chunked_body(body: bytes, sizes=None, ext="", trailers=()) -> bytes:
    """body in chunked transfer coding; sizes: the chunk sizes to cut it into (cycled,
    default one chunk); ext is appended to every size line (e.g. ';a=b')."""
    out = bytearray()
    pos, i = 0, 0
    sizes = list(sizes or [len(body) or 1])
    while pos < len(body):
        n = max(1, sizes[i % len(sizes)])
        piece = body[pos:pos + n]
        out += b"%x%s\r\n" % (len(piece), ext.encode()) + piece + b"\r\n"
        pos += len(piece)
        i += 1
    out += b"0\r\n" + b"".join(f"{k}: {v}\r\n".encode() for k, v in trailers) + b"\r\n"
    return bytes(out)


@dataclass
class HttpResponse(Response):
    chunked: bool = False  # the body came with Transfer-Encoding: chunked
    close_delimited: bool = False  # the body was ended by the connection's close
    trailers: list = field(default_factory=list)
    chunk_sizes: list = field(default_factory=list)


class RawHttp:
    """One client connection speaking HTTP/1.x over a raw socket: it sends exactly the
    bytes a test gives (malformed, pipelined, dribbled) and parses the responses strictly
    (RFC 9112 framing), so that a framing mistake by the server fails the test instead of
    being papered over as http.client would."""

    def __init__(self, addr, timeout=10.0):
        """addr: as for connect(), or an already connected socket."""
        self.sock = addr if isinstance(addr, socket.socket) else connect(addr, timeout)
        self.timeout = timeout
        self.buf = b""
        self.eof = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self.sock.close()

    @property
    def local_port(self) -> int:
        return self.sock.getsockname()[1]

    def send(self, data: bytes):
        self.sock.sendall(data)

    def _deadline(self, timeout):
        return time.monotonic() + (self.timeout if timeout is None else timeout)

    def _fill(self, deadline) -> bool:
        """Reads more bytes into the buffer; False at EOF (a reset counts as EOF)."""
        if self.eof:
            return False
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"no data from the server in time; buffered {self.buf[:300]!r}")
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(262144)
        except ConnectionResetError:
            chunk = b""
        except socket.timeout:
            raise TimeoutError(f"no data from the server in time; buffered {self.buf[:300]!r}")
        if not chunk:
            self.eof = True
            return False
        self.buf += chunk
        return True

    def _line(self, deadline, what) -> bytes:
        while b"\r\n" not in self.buf:
            if not self._fill(deadline):
                raise AssertionError(f"connection closed in the middle of {what}: "
                                     f"{self.buf[:300]!r}")
        line, _, self.buf = self.buf.partition(b"\r\n")
        assert b"\n" not in line and b"\r" not in line, f"bare CR/LF in {what}: {line!r}"
        return line

    def _exact(self, n, deadline, what) -> bytes:
        while len(self.buf) < n:
            if not self._fill(deadline):
                raise AssertionError(f"connection closed after {len(self.buf)} of {n} bytes "
                                     f"of {what}")
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def read_head(self, timeout=None) -> HttpResponse:
        """The next status line and header block (nothing of the body)."""
        deadline = self._deadline(timeout)
        while not self.buf:
            if not self._fill(deadline):
                raise AssertionError("the server closed the connection without a response")
        start = self.buf
        status_line = self._line(deadline, "the status line")
        m = re.match(rb"^(HTTP/1\.[01]) (\d{3}) ?(.*)$", status_line)
        assert m, f"bad status line: {status_line!r} (stream: {start[:300]!r})"
        headers = []
        while True:
            line = self._line(deadline, "the response headers")
            if not line:
                break
            assert line[:1] not in (b" ", b"\t"), f"obsolete line folding in response: {line!r}"
            k, colon, v = line.partition(b":")
            assert colon and k and k == k.strip(), f"bad response header line: {line!r}"
            headers.append((k.decode("latin-1"), v.strip(b" \t").decode("latin-1")))
        return HttpResponse(m.group(1).decode(), int(m.group(2)),
                            m.group(3).decode("latin-1"), headers)

    def read_response(self, head=False, timeout=None) -> HttpResponse:
        """The next response, interim (1xx) ones included; head=True: the answer to a HEAD
        request (no body whatever the headers say)."""
        deadline = self._deadline(timeout)
        r = self.read_head(timeout)
        te = [v.strip().lower() for v in ",".join(r.header_all("Transfer-Encoding")).split(",")
              if v.strip()]
        lengths = r.header_all("Content-Length")
        if head or r.status < 200 or r.status in (204, 304):
            return r
        if te:
            assert not lengths, f"both Transfer-Encoding and Content-Length: {r.headers}"
            assert te[-1] == "chunked", f"unexpected Transfer-Encoding {te}"
            r.chunked = True
            body = bytearray()
            while True:
                line = self._line(deadline, "a chunk size line")
                size_text = line.split(b";", 1)[0].strip()
                assert re.fullmatch(rb"[0-9A-Fa-f]+", size_text), f"bad chunk size {line!r}"
                size = int(size_text, 16)
                if size == 0:
                    break
                r.chunk_sizes.append(size)
                body += self._exact(size, deadline, "a chunk")
                crlf = self._exact(2, deadline, "a chunk's CRLF")
                assert crlf == b"\r\n", f"chunk not followed by CRLF: {crlf!r}"
            while True:
                line = self._line(deadline, "the trailers")
                if not line:
                    break
                k, _, v = line.partition(b":")
                r.trailers.append((k.decode("latin-1"), v.strip().decode("latin-1")))
            r.body = bytes(body)
        elif lengths:
            assert len(set(lengths)) == 1 and re.fullmatch(r"\d+", lengths[0]), \
                f"bad Content-Length in response: {lengths}"
            r.body = self._exact(int(lengths[0]), deadline, "the body")
        else:
            while self._fill(deadline):
                pass
            r.body, self.buf = self.buf, b""
            r.close_delimited = True
        return r

    def read_final(self, head=False, timeout=None) -> tuple[list, HttpResponse]:
        """(the interim 1xx responses, the final response)."""
        interim = []
        while True:
            r = self.read_response(head=head, timeout=timeout)
            if r.status >= 200:
                return interim, r
            interim.append(r)

    def request(self, method="GET", target="/", headers=None, body=b"", version="HTTP/1.1",
                host="127.0.0.1", timeout=None) -> HttpResponse:
        """Sends one request and reads its final response."""
        self.send(http_request_bytes(method, target, headers, body, version, host))
        return self.read_final(head=method == "HEAD", timeout=timeout)[1]

    def wait_closed(self, timeout=10.0) -> bytes:
        """Waits for the server to close; returns what arrived before (and unread bytes).
        Fails if the connection is still open after timeout seconds."""
        deadline = time.monotonic() + timeout
        try:
            while self._fill(deadline):
                pass
        except TimeoutError:
            raise AssertionError(f"the server kept the connection open for {timeout}s; "
                                 f"received {self.buf[:300]!r}") from None
        data, self.buf = self.buf, b""
        return data

    def is_open(self, wait=0.3) -> bool:
        """True if the server has not closed the connection (waits up to `wait` seconds
        for a close); unexpected data also counts as open and stays buffered."""
        deadline = time.monotonic() + wait
        try:
            while self._fill(deadline):
                pass
        except TimeoutError:
            return True
        return False


def http_raw_get(addr, target="/", headers=None, version="HTTP/1.1", host="127.0.0.1",
                 method="GET", body=b"", timeout=10.0) -> HttpResponse:
    """One request on a fresh connection, its final response."""
    with RawHttp(addr, timeout) as c:
        return c.request(method, target, headers, body, version, host, timeout)
