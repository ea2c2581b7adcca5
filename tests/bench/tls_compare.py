#!/usr/bin/python3
"""The cost of TLS between nginx and the server: hello world through nginx, with nginx
passing each request over its own connection (as it always does to a uwsgi upstream) to
  ferry-tcp       ferry, plain `socket = 127.0.0.1:PORT` (nginx: uwsgi_pass HOST:PORT)
  ferry-tls       ferry, `ssl-socket` (nginx: uwsgi_pass suwsgi://, session reuse on, the default)
  ferry-tls-full  the same with uwsgi_ssl_session_reuse off: a full handshake per request
  uwsgi-tls       uWSGI 2.0, `--ssl-socket` (Debian's uwsgi-core has SSL built in)
Reports, as compare.py does, requests/s and latency from wrk, and the CPU microseconds per
request of the server's whole process tree and of nginx, from /proc: on a shared, noisy
machine the CPU per request is the figure to trust, not the rates.

    /usr/bin/python3 tests/bench/tls_compare.py --ferry build/ferry --rounds 3 --seconds 5

The servers take turns within each round; the table gives the median of the rounds.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import procfs
from servers import Nginx

HERE = Path(__file__).resolve().parent
UWSGI = shutil.which("uwsgi") or "/usr/bin/uwsgi"
VARIANTS = ("ferry-tcp", "ferry-tls", "ferry-tls-full", "uwsgi-tls")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen, what: str, timeout=20.0):
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start")
        time.sleep(0.05)


def make_certs(d: Path):
    def run(*args):
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)

    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    run("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=bench CA")
    run("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost")
    (d / "san.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "server.crt", "-days", "2", "-extfile", "san.ext")


def server_argv(variant: str, d: Path, port: int, ferry: str, workers: int) -> list[str]:
    cert, key = d / "server.crt", d / "server.key"
    if variant.startswith("ferry"):
        listener = (f"socket = 127.0.0.1:{port}" if variant == "ferry-tcp"
                    else f"ssl-socket = 127.0.0.1:{port},{cert},{key}")
        ini = d / f"{variant}.ini"
        ini.write_text("\n".join(["[uwsgi]", listener, f"pythonpath = {HERE / 'apps'}", "module = hello",
                                  f"processes = {workers}", "master = true", "disable-logging = true",
                                  f"logger = file:{d / (variant + '.log')}"]) + "\n")
        return [ferry, str(ini)]
    return [UWSGI, "--plugin", "python3", "--master", "--ssl-socket", f"127.0.0.1:{port},{cert},{key}",
            "--processes", str(workers), "--enable-threads", "--lazy-apps", "--disable-logging",
            "--pythonpath", str(HERE / "apps"), "--module", "hello", "--logto", str(d / "uwsgi.log")]


def start_nginx(d: Path, variant: str, server_port: int) -> Nginx:
    forward = "include /etc/nginx/uwsgi_params; "
    if variant == "ferry-tcp":
        forward += "uwsgi_pass app;"
    else:
        reuse = "off" if variant == "ferry-tls-full" else "on"
        forward += (f"uwsgi_pass suwsgi://app; uwsgi_ssl_verify on; uwsgi_ssl_trusted_certificate {d}/ca.crt; "
                    f"uwsgi_ssl_name localhost; uwsgi_ssl_session_reuse {reuse};")
    return Nginx(d / variant, None, upstream=f"127.0.0.1:{server_port}", forward=forward).start()


def stop(proc: subprocess.Popen, sig=signal.SIGTERM):
    if proc.poll() is None:
        os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def wrk(port: int, seconds: int, connections: int) -> dict:
    out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency",
                          f"http://127.0.0.1:{port}/"], capture_output=True, text=True,
                         timeout=seconds + 60).stdout
    units = {"us": 1e-3, "ms": 1.0, "s": 1e3}
    dist = {q: float(v) * units[u] for q, v, u in re.findall(r"^\s+(\d+)%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)}
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = int(non2xx.group(1)) if non2xx else 0
    return {"requests": requests, "errors": errors, "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
            "p50": dist.get("50"), "p99": dist.get("99")}


def run_one(variant: str, d: Path, args) -> dict:
    server_port = free_port()
    server = subprocess.Popen(server_argv(variant, d, server_port, args.ferry, args.workers),
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True, cwd=d)
    nginx = None
    try:
        wait_port(server_port, server, variant)
        nginx = start_nginx(d, variant, server_port)
        wrk(nginx.port, 2, args.connections)  # warm-up
        before_s, before_n = procfs.cpu_seconds(server.pid), procfs.cpu_seconds(nginx.pid)
        result = wrk(nginx.port, args.seconds, args.connections)
        after_s, after_n = procfs.cpu_seconds(server.pid), procfs.cpu_seconds(nginx.pid)
        n = max(result["requests"], 1)
        result["server_us"] = (after_s - before_s) * 1e6 / n
        result["nginx_us"] = (after_n - before_n) * 1e6 / n
        return result
    finally:
        if nginx is not None:
            nginx.stop()
        stop(server, signal.SIGINT if variant.startswith("uwsgi") else signal.SIGTERM)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ferry", default=str(HERE.parents[1] / "build" / "ferry"))
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--seconds", type=int, default=5)
    p.add_argument("--connections", type=int, default=16)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--variants", default=",".join(VARIANTS))
    args = p.parse_args()
    variants = args.variants.split(",")
    results = {v: [] for v in variants}
    with tempfile.TemporaryDirectory(prefix="tlsbench") as tmp:
        d = Path(tmp)
        make_certs(d)
        for _ in range(args.rounds):
            for v in variants:
                results[v].append(run_one(v, d, args))
    print("| server | req/s | p50 ms | p99 ms | server CPU us/req | nginx CPU us/req | errors |")
    print("|---|---|---|---|---|---|---|")
    for v in variants:
        med = {k: statistics.median(r[k] for r in results[v]) for k in ("rps", "p50", "p99", "server_us", "nginx_us")}
        errors = sum(r["errors"] for r in results[v])
        print(f"| {v} | {med['rps']:,.0f} | {med['p50']:.2f} | {med['p99']:.2f} | {med['server_us']:.1f} | "
              f"{med['nginx_us']:.1f} | {errors} |")


if __name__ == "__main__":
    main()
