"""The Quick start's first command, conf/run-demo, really serves the demo: nginx in front,
ferry behind it, the Django project migrated, its admin and static files, a log to tail,
and Ctrl-C stops everything. (Its install-and-build half is .ci/install-deps and meson,
which every CI run goes through anyway; here it runs with FERRY_DEMO_NO_BUILD=1 and the
binary under test.)"""

import os
import signal
import subprocess
import urllib.error
import urllib.request

from conftest import FERRY_BIN, REPO, REQUEST_LINE_RE, free_port, pid_alive, wait_until


def fetch(url):
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except OSError:
        return None, b""


def test_run_demo_serves_the_demo_and_stops_on_ctrl_c(procs, tmp):
    port = free_port()
    run = tmp / "demo"
    env = procs.env({"PORT": str(port), "FERRY_RUN": str(run), "FERRY_DEMO_NO_BUILD": "1",
                     "FERRY_BIN": FERRY_BIN})
    p = procs.popen(["bash", str(REPO / "conf" / "run-demo")], env=env, cwd=tmp,
                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: fetch(base + "/")[0] == 200 or p.poll() is not None, 120,
                   message="the demo at /")
        assert p.poll() is None, p.stdout.read().decode(errors="replace")
        status, body = fetch(base + "/admin/login/")
        assert status == 200 and b"Django" in body, (status, body[:300])
        status, css = fetch(base + "/static/admin/css/base.css")
        assert status == 200 and b"{" in css, status  # collected, and served by nginx
        log = run / "ferry.log"
        wait_until(lambda: any(REQUEST_LINE_RE.match(line) and "GET /admin/login/" in line
                               for line in log.read_text().splitlines()), 10,
                   message="the request line in the log the README says to tail")
        nginx_pid = int((run / "nginx" / "nginx.pid").read_text())
    finally:
        # Ctrl-C: the terminal sends SIGINT to the whole foreground process group.
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGINT)
    output, _ = p.communicate(timeout=30)
    text = output.decode(errors="replace")
    assert "open http://127.0.0.1:" in text, text
    wait_until(lambda: not pid_alive(nginx_pid), 10, message="nginx stopped")
    assert "ferry stopped" in (run / "ferry.log").read_text()
