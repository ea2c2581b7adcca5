#!/usr/bin/python3
"""A soak run: mixed load through nginx for a long time, with graceful reloads during it.

One ferry (2 workers x 4 threads) serves the demo Django project at / and three small
apps mounted beside it: /hello (hello world), /upload (reads a 512 KiB POST body) and
/sleep (answers after 100 ms). One loadgen per kind of request runs for the whole time
through nginx, and the master gets SIGHUP at 1/4, 2/4 and 3/4 of it. At the end:

- every request sent got a response, with no error, and the log has exactly one request
  line per response (no request lost, none answered twice);
- the RSS of the master and of the workers, sampled every few seconds, is compared
  between the first and the last minute (or the first and last fifth of a shorter run):
  flat, or growing.

A benchmark, not a test: run it by hand, and record the figures in docs/benchmarks.md
("Soak"). tests/integration/test_bench_smoke.py runs it for a few seconds so that it keeps
working.

    /usr/bin/python3 tests/bench/soak.py --minutes 10 --ferry build/ferry \\
        --loadgen build/tests/bench/loadgen
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(HERE))

import procfs  # noqa: E402
import servers  # noqa: E402

DEMO = REPO / "conf" / "server_dev"
UPLOAD_BYTES = 512 * 1024  # under nginx's default client_max_body_size of 1 MiB
RELOADS = 3
REQUEST_LINE = re.compile(rb"^\[pid: \d+\|app: \d+\|req: \d+/\d+\] .* => generated ", re.M)

# (name, path, connections, body bytes)
LOADS = [
    ("hello", "/hello/", 4, 0),
    ("django", "/", 4, 0),
    ("upload", "/upload/", 1, UPLOAD_BYTES),
    ("slow", "/sleep/", 2, 0),
]


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=10.0, help="how long the load runs (default 10)")
    p.add_argument("--ferry", default=os.environ.get("FERRY_BIN", str(REPO / "build" / "ferry")))
    p.add_argument("--loadgen", default=os.environ.get("LOADGEN", str(REPO / "build/tests/bench/loadgen")))
    p.add_argument("--json", type=Path, help="also write the figures here as JSON")
    p.add_argument("--keep", action="store_true", help="keep the temp directory (logs) afterwards")
    return p.parse_args()


def write_ini(d: Path, apps: Path, django: Path, sock: Path) -> Path:
    ini = d / "ferry.ini"
    ini.write_text(f"""[uwsgi]
socket = {sock}
processes = 2
threads = 4
pidfile = {d / 'server.pid'}
logger = file:{d / 'server.log'}
chdir = {django}
module = server_dev.wsgi:application
env = FERRY_DEMO_DATA={d / 'django-data'}
mount = /hello={apps / 'hello.py'}
mount = /upload={apps / 'upload.py'}
mount = /sleep={apps / 'sleep.py'}
manage-script-name = true
""")
    return ini


def prepare(d: Path) -> tuple[Path, Path]:
    apps, django = d / "apps", d / "server_dev"
    shutil.copytree(HERE / "apps", apps, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(DEMO, django, ignore=shutil.ignore_patterns("data", "venv", "__pycache__", "*.sqlite3"))
    env = dict(os.environ, FERRY_DEMO_DATA=str(d / "django-data"))
    r = subprocess.run([servers.PYTHON, "manage.py", "migrate", "--noinput", "--verbosity", "0"],
                       cwd=django, env=env, capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        raise SystemExit(f"soak.py: migrating the demo project failed:\n{r.stdout}{r.stderr}")
    return apps, django


class Sampler(threading.Thread):
    """RSS (kB) of the master and of each live worker, every `every` seconds."""

    def __init__(self, master: int, every: float):
        super().__init__(daemon=True)
        self.master, self.every = master, every
        self.samples: list[tuple[float, int, list[int]]] = []  # (t, master kB, [worker kB])
        self.done = threading.Event()
        self.start_time = time.monotonic()

    def run(self):
        while not self.done.is_set():
            m = procfs.memory_kb(self.master)
            workers = [w["rss"] for w in procfs.workers_memory(self.master).values()]
            if m:
                self.samples.append((time.monotonic() - self.start_time, m["rss"], workers))
            self.done.wait(self.every)


def rss_report(samples, window: float) -> dict:
    """Mean RSS in the first and in the last `window` seconds, for the master and per worker."""
    end = samples[-1][0]
    first = [s for s in samples if s[0] <= window]
    last = [s for s in samples if s[0] >= end - window]

    def mean(xs):
        return sum(xs) / len(xs) if xs else 0.0

    def worker_mean(group):
        return mean([w for s in group for w in s[2]])

    out = {
        "window_s": window,
        "samples": len(samples),
        "master_first_kb": mean([s[1] for s in first]), "master_last_kb": mean([s[1] for s in last]),
        "worker_first_kb": worker_mean(first), "worker_last_kb": worker_mean(last),
    }
    # Flat: within 10 % or 2 MB, whichever is larger (a reload starts workers afresh).
    for who in ("master", "worker"):
        a, b = out[f"{who}_first_kb"], out[f"{who}_last_kb"]
        out[f"{who}_flat"] = b <= a + max(0.10 * a, 2048)
    return out


def count_request_lines(log: Path, offset: int) -> int:
    with open(log, "rb") as f:
        f.seek(offset)
        return len(REQUEST_LINE.findall(f.read()))


def main() -> int:
    args = parse_args()
    duration = args.minutes * 60
    for tool in (args.ferry, args.loadgen):
        if not os.access(tool, os.X_OK):
            raise SystemExit(f"soak.py: {tool} is not built (ninja -C build)")
    d = Path(tempfile.mkdtemp(prefix="ferry-soak-"))
    apps, django = prepare(d)
    srv = servers.Server(servers.Launch("ferry", servers.App("unused"), workers=2, threads=4), d / "ferry",
                         args.ferry)
    srv.argv = [args.ferry, str(write_ini(srv.dir, apps, django, srv.socket))]
    nginx = None
    procs: list[subprocess.Popen] = []
    try:
        srv.start(probe_path="/hello/")
        nginx = servers.Nginx(d, srv).start()
        address = f"127.0.0.1:{nginx.port}"
        for _, path, _, _ in LOADS:  # every app answers through nginx before the clock starts
            if not _http_ok(nginx.port, path):
                raise SystemExit(f"soak.py: {path} does not answer 200 through nginx; see {srv.log}")
        # Every request line from here on is the load's.
        time.sleep(0.2)
        log_offset = srv.log.stat().st_size
        sampler = Sampler(srv.pid, every=min(5.0, max(duration / 20, 0.25)))
        sampler.start()
        started = time.monotonic()
        for name, path, conns, body in LOADS:
            argv = [args.loadgen, "--http", address, "-c", str(conns), "-d", str(duration), "--path", path,
                    "--timeout", "60", "--json"]
            if body:
                argv += ["--body-bytes", str(body)]
            procs.append(subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        reloads = []
        for k in range(1, RELOADS + 1):
            due = started + duration * k / (RELOADS + 1)
            time.sleep(max(0.0, due - time.monotonic()))
            old = set(srv.workers())
            srv.reload()
            reloads.append({"at_s": round(time.monotonic() - started, 1), "old_workers": sorted(old)})
        results = {}
        for (name, *_), p in zip(LOADS, procs):
            out, err = p.communicate(timeout=duration + 240)
            if p.returncode != 0:
                raise SystemExit(f"soak.py: loadgen for {name} failed ({p.returncode}): {err.strip()}")
            results[name] = json.loads(out)
        sampler.done.set()
        sampler.join()
        elapsed = time.monotonic() - started
        # The master writes request lines in batches: wait until the count stops moving.
        logged, deadline = -1, time.monotonic() + 30
        while time.monotonic() < deadline:
            now = count_request_lines(srv.log, log_offset)
            if now == logged:
                break
            logged = now
            time.sleep(0.5)
        try:  # the last reload's old workers may still be finishing their requests
            workers_at_end = srv.wait_workers(timeout=60)
        except RuntimeError:
            workers_at_end = srv.workers()
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
        if nginx:
            nginx.stop()
        srv.stop()

    sent = sum(r["requests"] for r in results.values())
    received = sum(r["ok"] for r in results.values())
    errors = sum(r["errors"] for r in results.values())
    rss = rss_report(sampler.samples, window=min(60.0, duration / 5))
    report = {
        "minutes": args.minutes, "elapsed_s": round(elapsed, 1), "sent": sent, "received": received,
        "errors": errors, "logged": logged, "reloads": reloads, "workers_at_end": len(workers_at_end),
        "per_load": {n: {k: r[k] for k in ("requests", "ok", "errors", "rps")} |
                     {"p99_ms": r["latency_ms"]["p99"], "error_kinds": {k: v for k, v in r["error_kinds"].items() if v}}
                     for n, r in results.items()},
        "rss": rss, "log": str(srv.log),
    }
    print(f"soak: {args.minutes:g} min ({elapsed:.0f} s), {RELOADS} reloads (SIGHUP) at "
          f"{', '.join(str(r['at_s']) for r in reloads)} s")
    for n, r in report["per_load"].items():
        print(f"  {n:7} sent {r['requests']:>8}  ok {r['ok']:>8}  errors {r['errors']:>3}  "
              f"{r['rps']:8.1f} req/s  p99 {r['p99_ms']:.1f} ms {r['error_kinds'] or ''}")
    print(f"  requests sent {sent}, responses received {received}, request lines logged {logged}")
    print(f"  RSS, mean of the first vs the last {rss['window_s']:.0f} s ({rss['samples']} samples): "
          f"master {rss['master_first_kb'] / 1024:.1f} -> {rss['master_last_kb'] / 1024:.1f} MB "
          f"({'flat' if rss['master_flat'] else 'GROWING'}), "
          f"worker {rss['worker_first_kb'] / 1024:.1f} -> {rss['worker_last_kb'] / 1024:.1f} MB "
          f"({'flat' if rss['worker_flat'] else 'GROWING'})")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    if not args.keep:
        shutil.rmtree(d, ignore_errors=True)
    else:
        print(f"  logs kept in {d}")
    problems = []
    if not (sent == received == logged) or errors:
        problems.append(f"sent {sent}, received {received}, logged {logged}, errors {errors}")
    if len(workers_at_end) != 2:
        problems.append(f"{len(workers_at_end)} workers at the end, not 2")
    if problems:
        print("soak: FAILED: " + "; ".join(problems))
        return 1
    return 0


def _http_ok(port: int, path: str) -> bool:
    import socket
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".encode())
            data = b""
            while chunk := s.recv(65536):
                data += chunk
        return data.startswith((b"HTTP/1.1 200", b"HTTP/1.0 200"))
    except OSError:
        return False


if __name__ == "__main__":
    sys.exit(main())
