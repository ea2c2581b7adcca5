"""Several ferry hosts behind one nginx `upstream`, over TCP, as users outgrow one machine.

Three hosts and a balancer are network namespaces on a private bridge (fixtures/netns.py).
Each host runs ferry on its own address (2 workers, apps/hostapp.py, which answers with its
version and host); nginx runs in the fourth namespace with the upstream parameters and
uwsgi_* lines of conf/nginx-upstream.conf, so the shipped config is the tested one. The load
comes from threads inside the balancer's namespace: GET requests, each one's outcome and
latency recorded. Under that load one host crashes (SIGKILL to its master and workers at
once), one drains (SIGTERM), one reloads (SIGHUP), then a new app version rolls across all
three, one at a time. Every request must succeed.

GETs, because nginx retries a GET that it already sent when the host dies before answering;
it retries no POST it sent (without `non_idempotent`), so a crash with a POST in flight
costs that POST a 502. docs/deploying.md (section 5) says which failures nginx can hide.

FERRY_UPDATE_RESULTS=1 writes the numbers to docs/results/scale-out.json and the chart to
docs/images/scale-out-events.png.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

from conftest import (APPS, NGINX_BIN, REPO, Ferry, Nginx, RequestLoop, enter_netns,
                      http_request, read_text, uwsgi_get, wait_until)

PORT = 3031
LOAD_THREADS = 6
# Each request holds its worker this long, so a stopped or killed host has requests in flight.
LOAD_PATH = "/?sleep=0.01"
UPDATE = os.environ.get("FERRY_UPDATE_RESULTS") == "1"
CONF = REPO / "conf" / "nginx-upstream.conf"
LOAD_AVERAGE_BEFORE = os.getloadavg()[0]  # how busy the shared machine was, for the chart


def shipped_nginx_settings() -> tuple[str, list[str]]:
    """(the parameters of the shipped upstream's `server` lines, its location's uwsgi_*
    lines other than uwsgi_pass)."""
    text = CONF.read_text()
    server = re.search(r"^\s*server\s+\S+:\d+\s+([^;]*);", text, re.M)
    assert server, f"{CONF}: no `server ADDRESS:PORT PARAMETERS;` line in the upstream block"
    directives = re.findall(r"^\s*(uwsgi_(?!pass\b)\w+\s[^;]*;)", text, re.M)
    assert any(d.startswith("uwsgi_next_upstream ") for d in directives), CONF
    return server.group(1).strip(), directives


def timed_get(port):
    """A RequestLoop sender: one GET through nginx; the detail is (latency, status or None,
    body or the error)."""
    def send():
        t = time.monotonic()
        try:
            status, _, body = http_request(port, "GET", LOAD_PATH, timeout=20)
        except OSError as e:
            return False, (time.monotonic() - t, None, repr(e))
        return status == 200, (time.monotonic() - t, status, body.decode(errors="replace").strip())

    return send


class Load:
    """LOAD_THREADS request loops inside a namespace, every request kept as
    (start, latency, status or None, body or the error)."""

    def __init__(self, netns: str, port: int):
        self.loops = [RequestLoop(timed_get(port), max_requests=10**9, max_seconds=120,
                                  setup=lambda: enter_netns(netns))
                      for _ in range(LOAD_THREADS)]

    def __enter__(self):
        for loop in self.loops:
            loop.__enter__()
        return self

    def __exit__(self, *exc):
        for loop in self.loops:
            loop.stop()

    @property
    def results(self) -> list[tuple[float, float, int | None, str]]:
        # An exception other than OSError (RequestLoop keeps it as a string) has no latency.
        return [(t, *detail) if isinstance(detail, tuple) else (t, 0.0, None, detail)
                for loop in self.loops for t, _, detail in list(loop.results)]

    def answered_by(self, body: str, since: float) -> bool:
        return any(r[3] == body and r[0] >= since for r in self.results)

    def failures(self):
        return [r for r in self.results if r[2] != 200]


class Hosts:
    """The three ferry hosts: start, restart, upgrade; every incarnation in a dir of its own."""

    def __init__(self, lab, procs, tmp: Path):
        self.lab, self.procs, self.tmp = lab, procs, tmp
        self.ferry: dict[str, Ferry] = {}
        self.starts = 0

    def start(self, name: str, version: str) -> Ferry:
        host = self.lab[name]
        self.starts += 1
        workdir = self.tmp / f"{name}-{self.starts}"
        workdir.mkdir()
        ini = "\n".join([
            "[uwsgi]",
            f"socket = {host.address}:{PORT}",
            f"pythonpath = {APPS}",
            "module = hostapp",
            "processes = 2",
            "master = true",
            f"logger = file:{workdir}/ferry.log",
            f"env = APP_VERSION={version}",
            f"env = APP_HOST={name}",
        ]) + "\n"
        f = Ferry(self.procs, workdir, ini, command_prefix=host.argv([]),
                  can_reach=host.can_connect).start()
        f.wait_workers(2)
        self.ferry[name] = f
        return f

    def address(self, name: str) -> str:
        return f"{self.lab[name].address}:{PORT}"


def nginx_errors(text: str, address: str) -> dict[str, int]:
    """nginx's error-log lines about one upstream, counted by their cause."""
    counts: dict[str, int] = {}
    for line in text.splitlines():
        if f'upstream: "uwsgi://{address}"' not in line:
            continue
        m = re.search(r"\[(?:error|warn)\] \S+ \*\d+ (.*?) while ", line)
        key = m.group(1) if m else line
        key = re.sub(r"^(connect|recv|readv|writev|send)\(\) failed ", r"\1() ", key)
        counts[key] = counts.get(key, 0) + 1
    return counts


def diagnostics(error_log: str, upstream_log: Path, hosts: Hosts) -> str:
    """What a failed run needs explained: nginx's upstream errors, its slow requests, and
    the end of every ferry log."""
    upstream_errors = [line for line in error_log.splitlines()
                       if "upstream" in line and "closed keepalive" not in line]
    slow = [line for line in upstream_log.read_text().splitlines()
            if float(line.rsplit(" ", 1)[1]) > 1.0]
    logs = "".join(f"--- {d.name}:\n" + "\n".join(read_text(d / "ferry.log").splitlines()[-25:]) + "\n"
                   for d in sorted(hosts.tmp.glob("h*-*")) if d.is_dir())
    # Who holds which connection on each host: a request stuck in ferry shows up here.
    sockets = "".join(
        f"--- ss -tnpa on {n}:\n" + subprocess.run(hosts.lab[n].argv(["ss", "-tnpa"]),
                                                    capture_output=True, text=True).stdout
        for n in ("h1", "h2", "h3"))
    return (sockets + "nginx upstream errors:\n" + "\n".join(upstream_errors[-40:]) +
            "\nrequests over 1 s ($msec $status $upstream_addr $upstream_status $request_time):\n"
            + "\n".join(slow[-20:]) + "\n" + logs)


def percentile(sorted_values, q):
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def test_the_shipped_site_passes_nginx_t(tmp):
    """conf/nginx-upstream.conf as a whole, not only the lines the load test takes from it,
    is a site nginx accepts (in an http block, as sites-enabled/ is included)."""
    (tmp / "uwsgi_params").write_text(Path("/etc/nginx/uwsgi_params").read_text())
    (tmp / "nginx.conf").write_text(f"pid {tmp}/nginx.pid;\nerror_log stderr;\nevents {{}}\n"
                                    f"http {{\n    include {CONF};\n}}\n")
    r = subprocess.run([NGINX_BIN, "-t", "-p", str(tmp), "-c", str(tmp / "nginx.conf")],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and "syntax is ok" in r.stderr, r.stderr


def test_zero_failed_requests_while_hosts_crash_drain_reload_and_upgrade(netns_lab, procs,
                                                                          tmp):
    began = time.monotonic()
    lab = netns_lab(["h1", "h2", "h3", "lb"])
    lb = lab["lb"]
    hosts = Hosts(lab, procs, tmp)
    for name in ("h1", "h2", "h3"):
        hosts.start(name, "v1")

    server_params, directives = shipped_nginx_settings()
    upstream_log = tmp / "upstreams.log"
    servers = "".join(f"server {hosts.address(n)} {server_params};\n" for n in ("h1", "h2", "h3"))
    nginx = Nginx(
        procs, tmp, "ferry_hosts",
        extra_http=f"upstream ferry_hosts {{\n{servers}}}\n"
                   "log_format upstreams '$msec $status \"$upstream_addr\" "
                   "\"$upstream_status\" $request_time';\n"
                   f"access_log {upstream_log} upstreams;",
        extra_location="\n".join(directives),
        command_prefix=lb.argv([]), can_reach=lb.can_connect).start()

    # nginx reaches every host before the load starts.
    seen = {lb.call(http_request, nginx.port, "GET", "/")[2].decode().strip() for _ in range(6)}
    assert seen == {"v1 h1", "v1 h2", "v1 h3"}, seen

    events: list[tuple[float, str]] = []

    def event(label):
        events.append((time.monotonic(), label))

    def rejoined(load, name, version, since):
        # A host is back once nginx sends it requests again: after max_fails it stays out
        # for fail_timeout, and the next step must not start with it still benched.
        wait_until(lambda: load.answered_by(f"{version} {name}", since), 15,
                   message=f"nginx to send requests to the restarted {name} ({version})")

    with Load(lb.netns, nginx.port) as load:
        wait_until(lambda: len(load.results) > 600, 20, message="600 requests of steady load")

        # A crash: master and workers die at once, requests in flight included.
        event("SIGKILL h1")
        os.killpg(hosts.ferry["h1"].pid, signal.SIGKILL)
        hosts.ferry["h1"].wait()
        t = time.monotonic()
        hosts.start("h1", "v1")
        rejoined(load, "h1", "v1", t)

        # A drain: the request in flight finishes; new connections are refused at once
        # (nginx then tries the next host without waiting), not queued and later reset.
        event("SIGTERM h2")
        drained = drain_with_a_request_in_flight(hosts, lb, "h2", tmp)
        t = time.monotonic()
        hosts.start("h2", "v1")
        rejoined(load, "h2", "v1", t)

        event("SIGHUP h3")
        h3 = hosts.ferry["h3"]
        old_workers = h3.workers()
        os.kill(h3.pid, signal.SIGHUP)
        h3.wait_workers(2, exclude=old_workers, timeout=20)
        t = time.monotonic()
        rejoined(load, "h3", "v1", t)

        for name in ("h1", "h2", "h3"):
            event(f"upgrade {name}")
            hosts.ferry[name].stop(signal.SIGTERM, timeout=20)
            t = time.monotonic()
            hosts.start(name, "v2")
            rejoined(load, name, "v2", t)
        event("all on v2")
        n = len(load.results)
        wait_until(lambda: len(load.results) > n + 600, 20, message="600 requests after the upgrade")

    ended = time.monotonic()
    results = sorted(load.results)
    failures = load.failures()
    latencies = sorted(r[1] for r in results)
    p50, p99 = percentile(latencies, 0.50), percentile(latencies, 0.99)
    tail = [r[3] for r in results if r[0] > events[-1][0]]
    # $upstream_addr lists every host nginx tried for a request: "A, B" is one retry.
    retried = [line for line in upstream_log.read_text().splitlines()
               if ", " in line.split('"')[1]]
    error_log = nginx.error_log()
    during = [r for r in results if drained["began"] <= r[0] <= drained["ended"]]
    errors = {n: nginx_errors(error_log, hosts.address(n)) for n in ("h1", "h2", "h3")}
    summary = {
        "requests": len(results), "failed": len(failures),
        "seconds": round(ended - began, 1),
        "p50_ms": round(p50 * 1000, 2), "p99_ms": round(p99 * 1000, 2),
        "max_ms": round(latencies[-1] * 1000, 1),
        "retried_by_nginx": len(retried),
        "nginx_upstream_errors": errors,
        "drain": {k: v for k, v in drained.items() if k.endswith("_ms")},
        "max_ms_during_drain": round(max((r[1] for r in during), default=0) * 1000, 1),
    }
    print(f"\nscale-out: {json.dumps(summary, indent=1)}")

    assert not failures, (
        f"{len(failures)} of {len(results)} requests failed, first ones: {failures[:5]}\n"
        f"events: {[(round(t - results[0][0], 2), e) for t, e in events]}, load began at "
        f"{results[0][0]}\n{diagnostics(error_log, upstream_log, hosts)}")
    assert set(tail) == {"v2 h1", "v2 h2", "v2 h3"}, f"after the upgrade: {set(tail)}"
    # A draining host refuses new connections at once (drain_with_a_request_in_flight saw
    # it from the balancer's side): no request that arrived during h2's first drain waited
    # for the request that held that drain for 1.5 s, as it would have, queued behind it and
    # then reset. (nginx need not log a refusal from h2: a connection that was already in
    # h2's listen queue at the stop is reset, and that alone benches h2 for fail_timeout.)
    assert during and max(r[1] for r in during) < 1.0, \
        f"requests during h2's drain waited up to {max(r[1] for r in during):.2f} s"

    if UPDATE:
        write_results(summary, results, events)


def drain_with_a_request_in_flight(hosts: Hosts, lb, name: str, tmp: Path) -> dict:
    """SIGTERMs host `name` while a slow request of ours is running there, straight from the
    balancer's namespace. Returns what was observed."""
    f = hosts.ferry[name]
    started = tmp / f"{name}-slow-started"
    slow: dict = {}

    def slow_request():
        enter_netns(lb.netns)
        r = uwsgi_get(hosts.address(name), "/", query=f"sleep=1.5&started={started}", timeout=20)
        slow.update(status=r.status, body=r.body.decode().strip(), done=time.monotonic())

    thread = threading.Thread(target=slow_request)
    thread.start()
    wait_until(started.exists, 10, message="the slow request to start in the app")
    t = time.monotonic()
    os.kill(f.pid, signal.SIGTERM)
    wait_until(lambda: not lb.can_connect(hosts.address(name)), 1.0,
               message=f"{name} to refuse connections while draining")
    refused_after = time.monotonic() - t
    assert "done" not in slow, "the slow request ended before the drain could be observed"
    thread.join(timeout=20)
    assert slow.get("status") == 200 and slow.get("body") == f"v1 {name}", slow
    assert f.wait(timeout=10) == 0
    return {"refused_after_ms": round(refused_after * 1000, 1),
            "in_flight_finished_after_ms": round((slow["done"] - t) * 1000, 1),
            "began": t, "ended": slow["done"]}


def write_results(summary, results, events):
    stamp = time.strftime("%Y-%m-%d", time.gmtime())
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    t0 = results[0][0]  # the load's start: the chart's zero too
    out = {"date": stamp, "commit": commit, "load": {"threads": LOAD_THREADS, "path": LOAD_PATH},
           "load_average_1min_before": round(LOAD_AVERAGE_BEFORE, 2),
           **summary, "events": [{"t": round(t - t0, 2), "event": e} for t, e in events]}
    results_dir = REPO / "docs" / "results"
    results_dir.mkdir(exist_ok=True)
    (results_dir / "scale-out.json").write_text(json.dumps(out, indent=1) + "\n")
    chart(results, events, REPO / "docs" / "images" / "scale-out-events.png", summary)


def chart(results, events, path: Path, summary):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    width = 0.5
    t0 = results[0][0]
    bins: dict[int, list[float]] = {}
    for start, latency, _, _ in results:
        bins.setdefault(int((start + latency - t0) / width), []).append(latency)
    xs = sorted(bins)[1:-1]  # the first and last bins are partly outside the run
    times = [(b + 0.5) * width for b in xs]
    rate = [len(bins[b]) / width for b in xs]
    p50 = [percentile(sorted(bins[b]), 0.5) * 1000 for b in xs]
    p99 = [percentile(sorted(bins[b]), 0.99) * 1000 for b in xs]

    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(10, 6), sharex=True)
    ax1.plot(times, rate, color="tab:blue")
    ax1.set_ylabel("requests/s (0.5 s bins)")
    ax1.set_ylim(bottom=0)
    ax2.plot(times, p50, label="p50", color="tab:green")
    ax2.plot(times, p99, label="p99", color="tab:red")
    ax2.set_ylim(bottom=0)
    ax2.set_ylabel("latency, ms")
    ax2.set_xlabel("seconds")
    ax2.legend(loc="lower right")
    for i, (t, label) in enumerate(events):
        for ax in (ax1, ax2):
            ax.axvline(t - t0, color="grey", linestyle=":", linewidth=1)
        # Staggered, so that two events close together stay readable.
        ax1.annotate(label, (t - t0, 0), rotation=90, fontsize=7, va="bottom", ha="right",
                     xytext=(-2, 4 + 40 * (i % 2)), textcoords="offset points")
    fig.suptitle(f"3 ferry hosts behind nginx, {LOAD_THREADS} GET clients: "
                 f"{summary['requests']} requests, {summary['failed']} failed, "
                 f"p50 {summary['p50_ms']} ms, p99 {summary['p99_ms']} ms", fontsize=10)
    fig.text(0.01, 0.005, "2-core machine shared with other engineers' jobs (1-min load average "
             f"{LOAD_AVERAGE_BEFORE:.1f} before the run); every request sleeps 10 ms in the app",
             fontsize=7, color="grey")
    fig.tight_layout()
    path.parent.mkdir(exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
