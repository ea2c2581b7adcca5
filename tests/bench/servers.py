"""How compare.py starts, probes and stops each server it compares, and nginx.

Every server gets the same app, the same number of workers and threads, a Unix socket in
a private temp directory and a log file next to it. ferry and uWSGI speak the uwsgi
protocol on their socket; gunicorn speaks only HTTP, so it gets HTTP on its Unix socket,
and the load generator speaks HTTP to it (one connection per request, as for the others).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import procfs

PYTHON = "/usr/bin/python3"  # Debian's: the one ferry embeds, with Django and gunicorn
UWSGI = shutil.which("uwsgi") or "/usr/bin/uwsgi"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
START_TIMEOUT = 60.0
STOP_TIMEOUT = 20.0

SERVERS = ("ferry", "uwsgi", "gunicorn")
# ferry-stats: ferry with `stats` + `stats-http` on, scraped once a second while measured
# (compare.py), to show what watching ferry costs. Not in the default list.
PROTOCOL = {"ferry": "uwsgi", "ferry-stats": "uwsgi", "uwsgi": "uwsgi", "gunicorn": "http"}


class Refused(Exception):
    """The server would not start with this configuration (e.g. a loading mode it lacks)."""


@dataclass
class App:
    module: str                    # module:callable
    pythonpath: Path | None = None
    chdir: Path | None = None
    env: dict = field(default_factory=dict)


@dataclass
class Launch:
    server: str
    app: App
    workers: int
    threads: int = 1
    mode: str = "lazy"             # lazy: import in each worker; preload: in the master
    request_log: bool = True


def available(server: str, ferry_bin: str) -> str | None:
    """None if the server can run here, else why not."""
    if server in ("ferry", "ferry-stats"):
        return None if os.access(ferry_bin, os.X_OK) else f"{ferry_bin} not built"
    if server == "uwsgi":
        if not os.access(UWSGI, os.X_OK):
            return "uwsgi not installed (apt install uwsgi-core uwsgi-plugin-python3)"
        if not Path("/usr/lib/uwsgi/plugins/python3_plugin.so").exists():
            return "uwsgi-plugin-python3 not installed"
        return None
    if server == "gunicorn":
        r = subprocess.run([PYTHON, "-c", "import gunicorn"], capture_output=True)
        return None if r.returncode == 0 else "gunicorn not installed (apt install gunicorn)"
    return f"unknown server {server}"


def versions(ferry_bin: str) -> dict:
    def out(argv):
        try:
            r = subprocess.run(argv, capture_output=True, text=True, timeout=20)
            return (r.stdout + r.stderr).strip().splitlines()[0]
        except (OSError, IndexError, subprocess.TimeoutExpired):
            return "unavailable"

    return {
        "ferry": out([ferry_bin, "--version"]),
        "uwsgi": out([UWSGI, "--version"]),
        "gunicorn": out([PYTHON, "-c", "import gunicorn; print('gunicorn', gunicorn.__version__)"]),
        "nginx": out([NGINX, "-v"]),
        "python": out([PYTHON, "--version"]),
        "django": out([PYTHON, "-c", "import django; print(django.get_version())"]),
        "wrk": out(["wrk", "-v"]) if shutil.which("wrk") else "unavailable",
    }


def _ferry_argv(launch: Launch, d: Path, sock: Path, ferry_bin: str, stats: Path | None = None) -> list[str]:
    app = launch.app
    lines = ["[uwsgi]", f"socket = {sock}", f"processes = {launch.workers}",
             f"pidfile = {d / 'server.pid'}", f"logger = file:{d / 'server.log'}"]
    if launch.threads > 1:
        lines.append(f"threads = {launch.threads}")
    if app.chdir:
        lines.append(f"chdir = {app.chdir}")
    if app.pythonpath:
        lines.append(f"pythonpath = {app.pythonpath}")
    lines.append(f"module = {app.module}")
    if launch.mode == "preload":
        lines.append("lazy-apps = false")  # uWSGI's spelling: the same ini file works in both
    if not launch.request_log:
        lines.append("disable-logging = true")
    if stats:
        lines += [f"stats = {stats}", "stats-http = true"]
    ini = d / "ferry.ini"
    ini.write_text("\n".join(lines) + "\n")
    return [ferry_bin, str(ini)]


def _uwsgi_argv(launch: Launch, d: Path, sock: Path) -> list[str]:
    app = launch.app
    argv = [UWSGI, "--plugin", "python3,logfile", "--master", "--socket", str(sock),
            "--processes", str(launch.workers), "--enable-threads", "--need-app",
            "--pidfile", str(d / "server.pid"), "--logger", f"file:{d / 'server.log'}"]
    if launch.threads > 1:
        argv += ["--threads", str(launch.threads)]
    if app.chdir:
        argv += ["--chdir", str(app.chdir)]
    if app.pythonpath:
        argv += ["--pythonpath", str(app.pythonpath)]
    argv += ["--module", app.module]
    if launch.mode == "lazy":
        argv.append("--lazy-apps")  # uWSGI's default is preload
    if not launch.request_log:
        argv.append("--disable-logging")
    return argv


def _gunicorn_argv(launch: Launch, d: Path, sock: Path) -> list[str]:
    app = launch.app
    argv = [PYTHON, "-m", "gunicorn", "--bind", f"unix:{sock}", "--workers", str(launch.workers),
            "--pid", str(d / "server.pid"), "--error-logfile", str(d / "server.log")]
    if launch.threads > 1:
        argv += ["--threads", str(launch.threads)]  # the gthread worker
    if app.chdir:
        argv += ["--chdir", str(app.chdir)]
    if app.pythonpath:
        argv += ["--pythonpath", str(app.pythonpath)]
    if launch.mode == "preload":
        argv.append("--preload")
    if launch.request_log:
        argv += ["--access-logfile", str(d / "access.log")]  # ferry and uWSGI log each request too
    argv.append(app.module)
    return argv


class Server:
    """One running server; stop() always, even after a failure."""

    def __init__(self, launch: Launch, workdir: Path, ferry_bin: str):
        self.launch = launch
        self.name = launch.server
        self.protocol = PROTOCOL[self.name]
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.socket = self.dir / "app.sock"
        self.log = self.dir / "server.log"
        self.stats_socket = self.dir / "stats.sock" if self.name == "ferry-stats" else None
        if self.name in ("ferry", "ferry-stats"):
            self.argv = _ferry_argv(launch, self.dir, self.socket, ferry_bin, self.stats_socket)
        elif self.name == "uwsgi":
            self.argv = _uwsgi_argv(launch, self.dir, self.socket)
        else:
            self.argv = _gunicorn_argv(launch, self.dir, self.socket)
        self.proc: subprocess.Popen | None = None

    @property
    def address(self) -> str:
        return f"unix:{self.socket}"

    @property
    def pid(self) -> int:
        return self.proc.pid

    def start(self, probe_path: str = "/") -> "Server":
        env = dict(os.environ, **self.launch.app.env)
        with open(self.dir / "stdio.log", "wb") as out:
            # Its own session: stop() can always reach every process it started.
            self.proc = subprocess.Popen(self.argv, cwd=self.dir, env=env, stdin=subprocess.DEVNULL,
                                         stdout=out, stderr=out, start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.proc.poll() is not None:
                raise Refused(f"{self.name} exited with {self.proc.returncode} at start: "
                              + self.startup_message())
            if self.socket.exists() and probe(self.protocol, str(self.socket), probe_path):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} did not answer on {self.socket} within "
                                   f"{START_TIMEOUT} s")
            time.sleep(0.05)
        self.wait_workers()
        return self

    def wait_workers(self, timeout=START_TIMEOUT) -> list[int]:
        """Waits until the master has exactly `workers` children, stable for 0.3 s."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            first = procfs.live_children(self.pid)
            if len(first) == self.launch.workers:
                time.sleep(0.3)
                if procfs.live_children(self.pid) == first:
                    return first
            time.sleep(0.05)
        raise RuntimeError(f"{self.name}: expected {self.launch.workers} workers, have "
                           f"{procfs.live_children(self.pid)} after {timeout} s")

    def workers(self) -> list[int]:
        return procfs.live_children(self.pid)

    def reload(self):
        # SIGHUP is the graceful reload in all three.
        os.kill(self.pid, signal.SIGHUP)

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        started = procfs.tree(self.pid)
        # ferry and gunicorn stop gracefully on SIGTERM; uWSGI 2.0 reloads on it and stops
        # on SIGINT.
        os.kill(self.pid, signal.SIGINT if self.name == "uwsgi" else signal.SIGTERM)
        try:
            self.proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(self.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)
        _kill_leftovers(started, self.pid)

    def startup_message(self) -> str:
        text = _tail(self.dir / "stdio.log", 1500) + _tail(self.log, 1500)
        return text.strip() or "(no output)"

    def log_problems(self) -> list[str]:
        """Log lines that report a problem (warnings, errors), and whole tracebacks."""
        pattern = {
            "ferry": r"\] (warning|error|critical):",
            "ferry-stats": r"\] (warning|error|critical):",
            "uwsgi": r"(?i)error|broken pipe|timeout",
            "gunicorn": r"\[(WARNING|ERROR|CRITICAL)\]",
        }[self.name]
        rx = re.compile(pattern)
        lines = _tail(self.log, 2_000_000).splitlines()
        out, i = [], 0
        while i < len(lines):
            if "Traceback (most recent call last)" in lines[i]:
                # The block up to the exception line, which is the first unindented one.
                j = i + 1
                while j < len(lines) and lines[j].startswith((" ", "\t")):
                    j += 1
                out.append(" / ".join(x.strip() for x in lines[i:j + 1][-4:]))
                i = j + 1
                continue
            if rx.search(lines[i]):
                out.append(lines[i])
            i += 1
        return out


def _kill_leftovers(pids: list[int], sid: int):
    """SIGKILLs those of pids (a tree we started, in its own session sid) that outlived
    their master. The session check keeps a reused pid number safe."""
    for pid in pids:
        try:
            if pid != sid and os.getsid(pid) == sid:
                os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def _tail(path: Path, limit: int) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - limit))
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


# --------------------------------------------------------------------------------------
# Readiness probe: one real request, read to the end


def _uwsgi_packet(path: str) -> bytes:
    pairs = [("REQUEST_METHOD", "GET"), ("REQUEST_URI", path), ("PATH_INFO", path),
             ("QUERY_STRING", ""), ("SERVER_PROTOCOL", "HTTP/1.1"), ("REMOTE_ADDR", "127.0.0.1"),
             ("SERVER_NAME", "localhost"), ("SERVER_PORT", "80"), ("HTTP_HOST", "localhost")]
    data = b"".join(struct.pack("<H", len(k)) + k.encode() + struct.pack("<H", len(v)) + v.encode()
                    for k, v in pairs)
    return struct.pack("<BHB", 0, len(data), 0) + data


def probe(protocol: str, path: str, target: str = "/", timeout=10.0) -> bool:
    """True if one request to the socket at path gets a 200 response."""
    if protocol == "uwsgi":
        request = _uwsgi_packet(target)
    else:
        request = f"GET {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".encode()
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(path)
            s.sendall(request)
            head = b""
            while True:  # read to the end, so the server sees a normal close
                chunk = s.recv(1 << 20)
                if not chunk:
                    break
                if len(head) < 64:
                    head += chunk[:64]
    except OSError:
        return False
    return re.match(rb"HTTP/1\.[01] 200", head) is not None


# --------------------------------------------------------------------------------------
# nginx in front: uwsgi_pass to ferry and uWSGI, proxy_pass to gunicorn


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Nginx:
    def __init__(self, workdir: Path, server: Server | None, upstream: str = "", forward: str = ""):
        """`upstream` (the upstream block's server, default the server's Unix socket) and
        `forward` (the location's directives, default uwsgi_pass or proxy_pass to it) let
        tls_compare.py point nginx at a TCP or TLS listener instead."""
        self.dir = workdir / "nginx"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        d = self.dir
        upstream = upstream or f"unix:{server.socket}"
        if forward:
            pass
        elif server.protocol == "uwsgi":
            forward = "include /etc/nginx/uwsgi_params; uwsgi_pass app;"
        else:
            forward = "proxy_pass http://app; proxy_set_header Host $host;"
        user = "user root root;" if os.geteuid() == 0 else ""
        self.conf = d / "nginx.conf"
        self.conf.write_text(f"""{user}
daemon off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {d}/client_body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    upstream app {{ server {upstream}; }}
    server {{
        listen 127.0.0.1:{self.port} backlog=1024;
        location / {{ {forward} }}
    }}
}}
""")
        self.proc: subprocess.Popen | None = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    def start(self) -> "Nginx":
        with open(self.dir / "stderr.log", "wb") as err:
            self.proc = subprocess.Popen([NGINX, "-p", f"{self.dir}/", "-c", str(self.conf), "-e", "stderr"],
                                         stdin=subprocess.DEVNULL, stdout=err, stderr=err,
                                         start_new_session=True)
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return self
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("nginx did not start: " + _tail(self.dir / "stderr.log", 2000)
                                   + _tail(self.dir / "error.log", 2000))
            time.sleep(0.05)

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        started = procfs.tree(self.pid)
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        _kill_leftovers(started, self.pid)
