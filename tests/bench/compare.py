#!/usr/bin/python3
"""Runs ferry, uWSGI and gunicorn side by side with the same apps and reports, for each:
requests/s, p99 latency, the server's CPU microseconds per request (its whole process
tree, from /proc), and memory (PSS) per worker. docs/benchmarks.md shows a run and how
to read it.

    /usr/bin/python3 tests/bench/compare.py --rounds 3 --out results.json --charts docs/img
    /usr/bin/python3 tests/bench/compare.py --scenarios hello,django --servers ferry,uwsgi
    /usr/bin/python3 tests/bench/compare.py --smoke      # seconds: checks the scripts work

Within one invocation the servers take turns (ferry, uwsgi, gunicorn, ferry, ...) for
each round of each scenario, so a slow spell of a noisy machine hits them all; the table
gives the median of the rounds. Every run starts a fresh server in a temporary directory
(its socket, pidfile and log), warms it up, measures, and stops it.

Speed is never a pass/fail test: this script reports, it does not judge.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import procfs
import report
from servers import PYTHON, SERVERS, App, Launch, Nginx, Refused, Server, available, versions

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
DEMO = REPO / "conf" / "server_dev"
MIB = 1024 * 1024
DOWNLOAD_BYTES = 100 * MIB
RELOAD_WINDOW_S = 3.0


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    app: str                      # a module of apps/, or "django" (the demo project)
    path: str = "/"
    body_bytes: int = 0
    connections: int = 16
    threads: int = 1              # per worker
    via_nginx: bool = False       # HTTP to nginx with wrk; nginx passes to the server
    reload: bool = False          # SIGHUP the master 30% into the measured run
    rate: float = 0               # open loop at this many requests/s; 0 = closed loop
    memory: bool = False          # report the workers' RSS growth over the whole run
    modes: tuple = ("lazy",)      # app loading modes measured


SCENARIOS = {s.name: s for s in (
    Scenario("hello", "hello world", "hello"),
    Scenario("hello-nginx", "hello world via nginx", "hello", via_nginx=True),
    Scenario("django", "Django view", "django", modes=("lazy", "preload")),
    Scenario("response-1mb", "1 MB response", "big_response", connections=8),
    Scenario("upload-10mb", "10 MB upload", "upload", body_bytes=10 * MIB, connections=4, memory=True),
    Scenario("download-100mb", "100 MB file_wrapper", "download", connections=2, memory=True),
    Scenario("sleep-threads", "sleep 100 ms, 4 threads", "sleep", connections=8, threads=4),
    # Open loop: requests keep arriving during the reload, as they do from nginx's clients,
    # so a server that stops serving for a while delays every one of them, and p99 shows it.
    # 3,000/s is about half of what each server manages here with 2 workers.
    Scenario("reload", "graceful reload (Django)", "django", reload=True, rate=3000, modes=("lazy", "preload")),
)}
SMOKE_SCENARIOS = ("hello", "upload-10mb", "reload")


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--servers", default=",".join(SERVERS),
                   help="comma-separated (default: all three); ferry-stats is ferry with stats-http on, "
                        "its /metrics read once a second during the measured run")
    p.add_argument("--scenarios", help=f"comma-separated, of: {', '.join(SCENARIOS)} (default: all)")
    p.add_argument("--rounds", type=int, default=3, help="runs of each server per scenario (default 3)")
    p.add_argument("--duration", type=float, default=10, help="measured seconds per run (default 10)")
    p.add_argument("--warmup", type=float, default=2, help="unmeasured seconds before it (default 2)")
    p.add_argument("--workers", type=int, default=2, help="worker processes, every server (default 2)")
    p.add_argument("--connections", type=int, help="override every scenario's connection count")
    p.add_argument("--rate", type=float, help="override the open-loop rate (req/s) of the reload scenario")
    p.add_argument("--no-request-log", action="store_true",
                   help="no per-request log lines (default: all three log each request to a file)")
    p.add_argument("--out", type=Path, help="write every run and the summary as JSON here")
    p.add_argument("--charts", type=Path, help="write PNG charts into this directory")
    p.add_argument("--smoke", action="store_true",
                   help=f"a few seconds: {', '.join(SMOKE_SCENARIOS)}, 1 round, short runs")
    p.add_argument("--loadgen", default=os.environ.get("LOADGEN", str(REPO / "build/tests/bench/loadgen")))
    p.add_argument("--ferry", default=os.environ.get("FERRY_BIN", str(REPO / "build/ferry")))
    p.add_argument("--keep-tmp", action="store_true", help="keep the temporary directory (logs)")
    p.add_argument("--from-json", type=Path, metavar="RESULTS",
                   help="run nothing: print the table and draw the charts of an earlier --out file")
    args = p.parse_args()
    if args.from_json:
        return args
    if args.scenarios is None:
        args.scenarios = ",".join(SMOKE_SCENARIOS if args.smoke else SCENARIOS)
    if args.smoke:
        args.rounds, args.duration, args.warmup = 1, min(args.duration, 1.0), min(args.warmup, 0.3)
    args.servers = [s for s in args.servers.split(",") if s]
    args.scenarios = [s for s in args.scenarios.split(",") if s]
    for s in args.servers:
        if s not in SERVERS + ("ferry-stats",):
            p.error(f"unknown server {s}; choose from {', '.join(SERVERS)}, ferry-stats")
    for s in args.scenarios:
        if s not in SCENARIOS:
            p.error(f"unknown scenario {s}; choose from {', '.join(SCENARIOS)}")
    if not os.access(args.loadgen, os.X_OK):
        p.error(f"{args.loadgen} not found: build it with `ninja -C build` (or pass --loadgen)")
    return args


# --------------------------------------------------------------------------------------
# Driving the load


def loadgen(args, scenario: Scenario, protocol: str, address: str, duration: float,
            keepalive=False, timeline: Path | None = None) -> dict:
    argv = [args.loadgen, f"--{protocol}", address, "-c", str(connections(args, scenario)),
            "-d", str(duration), "--path", scenario.path, "--timeout", "60", "--json"]
    if timeline:
        argv += ["--timeline", str(timeline)]
    if scenario.rate:
        argv += ["--rate", str(args.rate or scenario.rate)]
    if scenario.body_bytes:
        argv += ["--body-bytes", str(scenario.body_bytes)]
    if keepalive:
        argv.append("--keepalive")
    r = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 180)
    if r.returncode != 0:
        raise RuntimeError(f"loadgen failed ({r.returncode}): {r.stderr.strip()}")
    out = json.loads(r.stdout)
    lat = out["latency_ms"]
    extra = {"timeline_events": read_timeline(timeline)} if timeline else {}
    return extra | {"requests": out["requests"], "ok": out["ok"], "errors": out["errors"],
            "error_kinds": {k: v for k, v in out["error_kinds"].items() if v},
            "first_errors": out["first_errors"], "statuses": out["statuses"], "rps": out["rps"],
            "p50_ms": lat["p50"], "p90_ms": lat["p90"], "p99_ms": lat["p99"], "max_ms": lat["max"],
            "client": "loadgen"}


def read_timeline(path: Path) -> list[tuple[float, float, bool]]:
    """loadgen's --timeline CSV: (when it ended, s; latency, ms; ok) per request."""
    out = []
    with open(path) as f:
        next(f)
        for line in f:
            end_ms, latency_us, result = line.rstrip("\n").split(",")
            out.append((float(end_ms) / 1000, int(latency_us) / 1000, result == "ok"))
    return out


def _quantile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    rank = max(1, -(-int(q * 1e6) * len(sorted_values) // 1_000_000))  # ceil(q * n)
    return sorted_values[min(len(sorted_values), rank) - 1]


def bucket_timeline(events, bucket_s=0.1) -> list[list[float]]:
    """[start s, requests, errors, p50 ms, p99 ms, max ms] per bucket of requests by when
    they ended: how latency moved during the run. Empty buckets are kept, with zeros."""
    if not events:
        return []
    last = int(max(e[0] for e in events) / bucket_s)
    ok: list[list[float]] = [[] for _ in range(last + 1)]
    errors = [0] * (last + 1)
    for end, latency, good in events:
        b = int(end / bucket_s)
        if good:
            ok[b].append(latency)
        else:
            errors[b] += 1
    out = []
    for b in range(last + 1):
        v = sorted(ok[b])
        out.append([round(b * bucket_s, 3), len(v), errors[b], _quantile(v, 0.5), _quantile(v, 0.99),
                    v[-1] if v else 0.0])
    return out


def window_stats(events, start_s: float, length_s: float) -> tuple[float | None, int]:
    """(p99 latency of the successful requests, number of failed ones) among the requests
    that were due (ended minus latency) in the window."""
    inside = [(lat, good) for end, lat, good in events if start_s <= end - lat / 1000 < start_s + length_s]
    v = sorted(lat for lat, good in inside if good)
    return (_quantile(v, 0.99) if v else None), sum(1 for _, good in inside if not good)


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def _ms(value: str, unit: str) -> float:
    return float(value) * _UNITS[unit]


def wrk(args, scenario: Scenario, nginx: Nginx, duration: float) -> dict:
    seconds = max(1, round(duration))
    argv = ["wrk", "-t1", f"-c{connections(args, scenario)}", f"-d{seconds}s", "--latency",
            f"http://127.0.0.1:{nginx.port}{scenario.path}"]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
    out = r.stdout
    m = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m),", out)
    if r.returncode != 0 or not m:
        raise RuntimeError(f"wrk failed ({r.returncode}): {out}{r.stderr}")
    requests = int(m.group(1))
    dist = {q: _ms(v, u) for q, v, u in re.findall(r"^\s+(\d+)%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.M)}
    lat = re.search(r"Latency\s+[\d.]+\w+\s+[\d.]+\w+\s+([\d.]+)(us|ms|s|m)", out)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    kinds = {}
    if socket_errors:
        kinds = {k: int(v) for k, v in zip(("connect", "read", "write", "timeout"), socket_errors.groups())
                 if int(v)}
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        kinds["status"] = int(non2xx.group(1))
    errors = sum(kinds.values())
    return {"requests": requests, "ok": requests - kinds.get("status", 0), "errors": errors,
            "error_kinds": kinds, "first_errors": {}, "statuses": {},
            "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
            "p50_ms": dist.get("50"), "p90_ms": dist.get("90"), "p99_ms": dist.get("99"),
            "max_ms": _ms(*lat.groups()) if lat else None, "client": "wrk"}


class StatsScraper:
    """Reads ferry-stats' /metrics once a second, as a Prometheus scrape would, while the
    load runs, so that the CPU measured includes what watching ferry costs."""

    def __init__(self, path: Path):
        self.path, self.scrapes, self.failures = path, 0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        import socket
        while not self._stop.wait(1.0):
            try:
                with socket.socket(socket.AF_UNIX) as s:
                    s.settimeout(5)
                    s.connect(str(self.path))
                    s.sendall(b"GET /metrics HTTP/1.1\r\nHost: stats\r\nConnection: close\r\n\r\n")
                    answer = b""
                    while chunk := s.recv(65536):
                        answer += chunk
                ok = answer.startswith(b"HTTP/1.1 200") and b"ferry_requests_total" in answer
                self.scrapes += ok
                self.failures += not ok
            except OSError:
                self.failures += 1

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def drive(args, scenario, server, nginx, duration, timeline: Path | None = None) -> dict:
    if nginx is None:
        return loadgen(args, scenario, server.protocol, server.address, duration, timeline=timeline)
    if shutil.which("wrk"):
        return wrk(args, scenario, nginx, duration)
    # Without wrk: the load generator's HTTP/1.1 keep-alive mode, like wrk's.
    return loadgen(args, scenario, "http", f"127.0.0.1:{nginx.port}", duration, keepalive=True)


def connections(args, scenario: Scenario) -> int:
    if args.connections:
        return args.connections
    return max(2, scenario.connections // 4) if args.smoke else scenario.connections


# --------------------------------------------------------------------------------------
# One run: a fresh server, warm-up, measurement, stop


def app_for(scenario: Scenario, ctx: dict) -> App:
    if scenario.app == "django":
        return App("server_dev.wsgi:application", chdir=ctx["django"], env={"FERRY_DEMO_DATA": str(ctx["django_data"])})
    env = {"BENCH_DOWNLOAD_FILE": str(ctx["download"])} if scenario.app == "download" else {}
    return App(f"{scenario.app}:application", pythonpath=ctx["apps"], env=env)


def wait_replaced(server: Server, old: set[int], timeout=60.0) -> bool:
    """After a reload: True once every worker is a new one and there are `workers` again."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = server.workers()
        if len(now) == server.launch.workers and not set(now) & old:
            return True
        time.sleep(0.1)
    return False


def run_one(args, ctx, scenario: Scenario, server_name: str, mode: str, rnd: int, rundir: Path) -> dict:
    result = {"scenario": scenario.name, "server": server_name, "mode": mode, "round": rnd,
              # What the server speaks, to the load generator or to nginx.
              "protocol": "http" if server_name == "gunicorn" else "uwsgi",
              "workers": args.workers, "threads": scenario.threads,
              "connections": connections(args, scenario),
              "rate": (args.rate or scenario.rate) or None}
    launch = Launch(server_name, app_for(scenario, ctx), args.workers, scenario.threads, mode,
                    request_log=not args.no_request_log)
    server = Server(launch, rundir, args.ferry)
    nginx = None
    try:
        server.start(probe_path=scenario.path)
        if scenario.via_nginx:
            nginx = Nginx(rundir, server).start()
        workers_before = server.workers()
        memory_before = procfs.workers_memory(server.pid)
        if args.warmup > 0:
            warm = drive(args, scenario, server, nginx, args.warmup)
            result["warmup_errors"] = warm["errors"]
        cpu0 = procfs.cpu_times(server.pid)
        nginx_cpu0 = procfs.cpu_seconds(nginx.pid) if nginx else 0.0
        timer = None
        if scenario.reload:
            result["reload_at_s"] = args.duration * 0.3
            timer = threading.Timer(result["reload_at_s"], server.reload)
            timer.start()
        scraper = StatsScraper(server.stats_socket) if server.stats_socket else contextlib.nullcontext()
        try:
            with scraper:
                load = drive(args, scenario, server, nginx, args.duration,
                             timeline=rundir / "timeline.csv" if scenario.reload else None)
            if server.stats_socket:
                result["stats_scrapes"], result["stats_scrape_failures"] = scraper.scrapes, scraper.failures
        finally:
            if timer:
                timer.cancel()
        cpu1 = procfs.cpu_times(server.pid)
        nginx_cpu1 = procfs.cpu_seconds(nginx.pid) if nginx else 0.0
        memory_after = procfs.workers_memory(server.pid)
        events = load.pop("timeline_events", None)
        result.update(load)
        if events is not None:
            result["timeline"] = bucket_timeline(events)
            # "During the reload": the requests due in the RELOAD_WINDOW_S after the SIGHUP.
            result["reload_window_s"] = RELOAD_WINDOW_S
            result["p99_reload_window_ms"], result["errors_reload_window"] = window_stats(
                events, result["reload_at_s"], RELOAD_WINDOW_S)
        n = max(1, load["requests"])
        result["cpu_s"] = cpu1["total"] - cpu0["total"]
        result["cpu_us_per_request"] = result["cpu_s"] / n * 1e6
        # Where it went: user or kernel time, and the master's own share (its log sink).
        for part in ("user", "sys", "master"):
            result[f"cpu_{part}_us_per_request"] = (cpu1[part] - cpu0[part]) / n * 1e6
        if nginx:
            result["nginx_cpu_us_per_request"] = (nginx_cpu1 - nginx_cpu0) / n * 1e6
        pss = [m["pss"] for m in memory_after.values()]
        result["pss_workers_kb"] = pss
        result["pss_worker_kb"] = sum(pss) / len(pss) if pss else None
        result["rss_worker_kb"] = (sum(m["rss"] for m in memory_after.values()) / len(pss)) if pss else None
        master = procfs.memory_kb(server.pid)
        result["pss_master_kb"] = master["pss"] if master else None
        if scenario.memory:
            growth = [memory_after[p]["rss"] - memory_before[p]["rss"]
                      for p in memory_after if p in memory_before]
            result["rss_growth_kb"] = max(growth) if growth else None
        if scenario.reload:
            result["workers_replaced"] = wait_replaced(server, set(workers_before))
        result["status"] = "ok"
    except Refused as e:
        result.update(status="refused", message=str(e))
    except Exception as e:  # noqa: BLE001 - one failed run must not end the comparison
        result.update(status="failed", message=f"{type(e).__name__}: {e}",
                      log_tail=server.startup_message()[-3000:])
    finally:
        if nginx:
            nginx.stop()
        server.stop()
        problems = server.log_problems()
        result["log_problem_count"] = len(problems)
        result["log_problems"] = list(dict.fromkeys(_strip_time(p) for p in problems))[:8]
    return result


def _strip_time(line: str) -> str:
    return re.sub(r"^\S+ \S+ |^\[[^]]*\] ", "", line.strip())[:300]


def describe(run: dict) -> str:
    head = f"{run['scenario']:<15} {run['server']:<8} {run['mode']:<7} r{run['round']}"
    if run["status"] != "ok":
        text = f"{head}: {run['status'].upper()}: {run.get('message', '')}"
        if run.get("log_tail"):
            text += "\n    log: " + "\n    log: ".join(run["log_tail"].splitlines()[-15:])
        return text
    text = (f"{head}: {run['rps']:9.0f} req/s  p99 {run['p99_ms']:7.1f} ms  "
            f"CPU {run['cpu_us_per_request']:8.0f} µs/req "
            f"(usr {run.get('cpu_user_us_per_request', 0):.0f} sys {run.get('cpu_sys_us_per_request', 0):.0f} "
            f"master {run.get('cpu_master_us_per_request', 0):.0f})  ")
    if run.get("pss_worker_kb"):
        text += f"PSS/worker {run['pss_worker_kb'] / 1024:5.1f} MB  "
    text += f"errors {run['errors']}"
    if run.get("error_kinds"):
        text += f" {run['error_kinds']} {run.get('first_errors') or ''}"
    if run.get("rss_growth_kb") is not None:
        text += f"  RSS +{run['rss_growth_kb'] / 1024:.1f} MB"
    if "workers_replaced" in run:
        if run.get("p99_reload_window_ms") is not None:
            text += f"  p99 after SIGHUP {run['p99_reload_window_ms']:.1f} ms"
        text += f"  max {run['max_ms']:.0f} ms"
        text += ", reloaded" if run["workers_replaced"] else ", NOT reloaded"
    if run.get("log_problem_count"):
        text += f"  [{run['log_problem_count']} log problems: {run['log_problems'][0][:100]}]"
    return text


# --------------------------------------------------------------------------------------
# Setup: the apps, the 100 MB file, the demo Django project


def prepare(args, tmp: Path, scenarios: list[Scenario]) -> dict:
    ctx = {"apps": tmp / "apps", "download": tmp / "download.bin", "django": tmp / "server_dev",
           "django_data": tmp / "django-data"}
    # Copies, so that no __pycache__ or database lands in the checkout.
    shutil.copytree(HERE / "apps", ctx["apps"], ignore=shutil.ignore_patterns("__pycache__"))
    if any(s.app == "download" for s in scenarios):
        block = os.urandom(MIB)
        with open(ctx["download"], "wb") as f:
            for _ in range(DOWNLOAD_BYTES // MIB):
                f.write(block)
    if any(s.app == "django" for s in scenarios):
        shutil.copytree(DEMO, ctx["django"], ignore=shutil.ignore_patterns("data", "venv", "__pycache__",
                                                                             "*.sqlite3"))
        env = dict(os.environ, FERRY_DEMO_DATA=str(ctx["django_data"]))
        r = subprocess.run([PYTHON, "manage.py", "migrate", "--noinput", "--verbosity", "0"],
                           cwd=ctx["django"], env=env, capture_output=True, text=True, timeout=300)
        if r.returncode != 0:
            raise SystemExit(f"compare.py: migrating the demo project failed:\n{r.stdout}{r.stderr}")
    return ctx


def machine() -> dict:
    model = ""
    try:
        model = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                     if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    mem_kb = int(next(line.split()[1] for line in open("/proc/meminfo") if line.startswith("MemTotal")))
    return {"cpus": os.cpu_count(), "cpu_model": model, "kernel": platform.release(),
            "memory_gb": round(mem_kb / 1024 / 1024, 1), "os": _os_release()}


def _os_release() -> str:
    try:
        for line in open("/etc/os-release"):
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return platform.platform()


def git_commit() -> str:
    """The checkout's commit, with "+changes" if the working tree differs from it."""
    try:
        head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return (head or "unknown") + ("+changes" if dirty else "")


def print_report(args, meta: dict, runs: list[dict]):
    rows = report.summarize(runs)
    titles = {s.name: s.title for s in SCENARIOS.values()}
    print()
    print(f"Medians of {meta['rounds']} round(s), {meta['workers']} workers, {meta['duration_s']:g} s each "
          f"after {meta['warmup_s']:g} s warm-up; ratios are to uWSGI:")
    print(report.markdown_table(rows, titles))
    if args.out:
        args.out.write_text(json.dumps({"meta": meta, "summary": rows, "runs": runs}, indent=1) + "\n")
        print(f"wrote {args.out}")
    if args.charts:
        for path in report.charts(rows, titles, args.charts, runs):
            print(f"wrote {path}")


def main() -> int:
    args = parse_args()
    if args.from_json:
        saved = json.loads(args.from_json.read_text())
        print_report(args, saved["meta"], saved["runs"])
        return 0
    scenarios = [SCENARIOS[name] for name in args.scenarios]
    servers = []
    skipped = {}
    for name in args.servers:
        why = available(name, args.ferry)
        if why:
            skipped[name] = why
            print(f"skipping {name}: {why}", file=sys.stderr)
        else:
            servers.append(name)
    if not servers:
        print("compare.py: no server to run", file=sys.stderr)
        return 1
    if any(s.via_nginx for s in scenarios) and not shutil.which("wrk"):
        print("note: wrk not installed; the nginx scenario uses loadgen --http --keepalive", file=sys.stderr)

    meta = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "machine": machine(), "versions": versions(args.ferry), "ferry_commit": git_commit(),
            "skipped_servers": skipped,
            "rounds": args.rounds, "duration_s": args.duration, "warmup_s": args.warmup,
            "workers": args.workers, "request_log": not args.no_request_log,
            "command": " ".join([os.path.relpath(sys.argv[0], REPO)] + sys.argv[1:])}
    print(f"{meta['date']}  {meta['machine']['cpus']} CPUs ({meta['machine']['cpu_model']}), "
          f"{meta['machine']['os']}")
    for name, version in meta["versions"].items():
        print(f"  {name}: {version}")
    print(f"  ferry commit: {meta['ferry_commit']}")
    if "gunicorn" in servers:
        print("note: gunicorn speaks HTTP only: it gets HTTP on its Unix socket, the others the uwsgi "
              "protocol (one connection per request for all)")

    tmp = Path(tempfile.mkdtemp(prefix="fbench", dir="/tmp"))
    runs: list[dict] = []
    refused: set[tuple[str, str]] = set()
    total = sum(len(s.modes) for s in scenarios) * args.rounds * len(servers)
    try:
        ctx = prepare(args, tmp, scenarios)
        count = 0
        for scenario in scenarios:
            for rnd in range(1, args.rounds + 1):
                for mode in scenario.modes:
                    for server_name in servers:
                        count += 1
                        if (server_name, mode) in refused:
                            continue  # said once; the summary keeps the reason
                        rundir = tmp / f"r{count}"
                        run = run_one(args, ctx, scenario, server_name, mode, rnd, rundir)
                        print(f"[{count}/{total}] {describe(run)}", flush=True)
                        if run["status"] == "refused":
                            refused.add((server_name, mode))
                        runs.append(run)
                        if not args.keep_tmp:
                            shutil.rmtree(rundir, ignore_errors=True)
    except KeyboardInterrupt:
        print("interrupted: reporting the runs so far", file=sys.stderr)
    finally:
        if args.keep_tmp:
            print(f"logs kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print_report(args, meta, runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
