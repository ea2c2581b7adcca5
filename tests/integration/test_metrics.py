"""GET /metrics on the stats address (stats + stats-http): the Prometheus text after real
requests (200s, 404s, an app that raises), checked by Debian's promtool, counted against
the requests sent, and scraped by a real Prometheus (Debian's package) that answers PromQL
over ferry's series, including every expression of the Grafana dashboard."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from conftest import (HERE, REPO, Ferry, RequestLoop, basic_ini, free_port, ok_via_uwsgi, uwsgi_get,
                      wait_until)

PROMETHEUS = "/usr/bin/prometheus"
PROMTOOL = "/usr/bin/promtool"
DASHBOARD = REPO / "packaging" / "grafana" / "ferry-dashboard.json"
SCREENSHOT = REPO / "docs" / "images" / "prometheus-ferry-rate.png"
SAMPLE_RE = re.compile(r'^([a-z_:][a-z0-9_:]*)(\{[^}]*\})? (\S+)$')

OK, NOT_FOUND, RAISED = 12, 3, 2  # the requests the stack's setup sends


def http_get(url, timeout=10.0):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.headers.get("Content-Type"), r.read().decode()


def samples(text: str) -> dict[str, float]:
    """'name{labels}' -> value, for every sample line."""
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            m = SAMPLE_RE.match(line)
            assert m, f"not a sample line: {line!r}"
            out[m.group(1) + (m.group(2) or "")] = float(m.group(3))
    return out


def total(values: dict[str, float], name: str) -> float:
    return sum(v for k, v in values.items() if k == name or k.startswith(name + "{"))


class Prometheus:
    """A real Prometheus on loopback, scraping one target every second."""

    def __init__(self, procs, workdir: Path, target: str):
        self.port = free_port()
        self.workdir = workdir
        self.config = workdir / "prometheus.yml"
        self.config.write_text(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
            "scrape_configs:\n  - job_name: ferry\n    metrics_path: /metrics\n"
            f"    static_configs:\n      - targets: ['{target}']\n")
        subprocess.run([PROMTOOL, "check", "config", str(self.config)], check=True, capture_output=True)
        self.log = open(workdir / "prometheus.log", "wb")
        self.proc = procs.popen([PROMETHEUS, f"--config.file={self.config}",
                                 f"--storage.tsdb.path={workdir / 'tsdb'}",
                                 f"--web.listen-address=127.0.0.1:{self.port}",
                                 "--storage.tsdb.retention.time=1h"],
                                stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log,
                                env=procs.env(), cwd=workdir)
        self.log.close()
        wait_until(self._ready, 30, message="Prometheus to be ready")

    def _ready(self):
        assert self.proc.poll() is None, (self.workdir / "prometheus.log").read_text()[-3000:]
        try:
            return http_get(f"{self.url}/-/ready", timeout=1)[0] == 200
        except OSError:
            return False

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def query(self, promql: str):
        _, _, body = http_get(f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": promql}))
        answer = json.loads(body)
        assert answer["status"] == "success", (promql, answer)
        return answer["data"]["result"]

    def scalar(self, promql: str):
        """The single value of an instant vector with one series, or None while there is none."""
        result = self.query(promql)
        return float(result[0]["value"][1]) if len(result) == 1 else None

    def target_health(self):
        _, _, body = http_get(f"{self.url}/api/v1/targets")
        return [t["health"] for t in json.loads(body)["data"]["activeTargets"]]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        assert self.proc.wait(timeout=20) == 0, (self.workdir / "prometheus.log").read_text()[-3000:]


class Stack:
    def __init__(self, procs, tmp):
        self.stats_port = free_port()
        self.stats = f"127.0.0.1:{self.stats_port}"
        self.socket = f"{tmp}/s.sock"
        self.ferry = Ferry(procs, tmp, basic_ini(tmp, f"stats = {self.stats}", "stats-http = true", processes=2),
                           sockets=[self.socket, self.stats])
        self.ferry.start()
        self.ferry.wait_workers(2)
        self.sent = 0
        for _ in range(OK):
            assert uwsgi_get(self.socket, "/").status == 200
        for _ in range(NOT_FOUND):
            assert uwsgi_get(self.socket, "/status", query="code=404+Not+Found").status == 404
        for _ in range(RAISED):
            assert uwsgi_get(self.socket, "/error").status == 500
        self.sent = OK + NOT_FOUND + RAISED
        self.prometheus = None

    def metrics(self):
        status, ctype, text = http_get(f"http://{self.stats}/metrics")
        assert status == 200
        assert ctype == "text/plain; version=0.0.4; charset=utf-8"
        return text

    def counted(self):
        """Waits until ferry's counters hold every request sent (a worker counts a request
        once its response is out, a moment after the client has read it); returns the text."""
        def complete():
            text = self.metrics()
            return text if total(samples(text), "ferry_requests_total") == self.sent else None

        return wait_until(complete, 10, message=f"ferry_requests_total to reach {self.sent}")


@pytest.fixture(scope="module")
def stack(module_procs, module_tmp):
    s = Stack(module_procs, module_tmp)
    yield s
    if s.prometheus is not None:
        s.prometheus.stop()
    s.ferry.stop()


@pytest.fixture(scope="module")
def prometheus(stack, module_procs, module_tmp):
    stack.prometheus = Prometheus(module_procs, module_tmp, stack.stats)
    return stack.prometheus


def test_promtool_finds_nothing_to_report(stack):
    text = stack.counted()
    checked = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True)
    assert checked.returncode == 0 and checked.stdout == "" and checked.stderr == "", (checked, text)
    # promtool can fail here: the same text with a counter missing its HELP line.
    broken = text.replace("# HELP ferry_requests_total", "# HELP_ ferry_requests_total")
    broken = subprocess.run([PROMTOOL, "check", "metrics"], input=broken, capture_output=True, text=True)
    assert broken.returncode != 0 and "ferry_requests_total" in broken.stdout + broken.stderr


def test_counters_match_the_requests_sent(stack):
    values = samples(stack.counted())
    assert total(values, "ferry_requests_total") == stack.sent
    assert set(k for k in values if k.startswith("ferry_requests_total{")) == {
        'ferry_requests_total{worker="1"}', 'ferry_requests_total{worker="2"}'}
    responses = {k: v for k, v in values.items() if k.startswith("ferry_responses_total{")}
    assert responses['ferry_responses_total{status="2xx"}'] == stack.sent - NOT_FOUND - RAISED
    assert responses['ferry_responses_total{status="4xx"}'] == NOT_FOUND
    assert responses['ferry_responses_total{status="5xx"}'] == RAISED
    assert sum(responses.values()) == stack.sent
    assert total(values, "ferry_exceptions_total") == RAISED
    assert total(values, "ferry_harakiri_total") == 0
    assert values["ferry_request_duration_seconds_count"] == stack.sent
    assert values['ferry_request_duration_seconds_bucket{le="+Inf"}'] == stack.sent
    buckets = [v for k, v in values.items() if k.startswith("ferry_request_duration_seconds_bucket{")]
    assert buckets == sorted(buckets) and len(buckets) > 5
    assert 0 < values["ferry_request_duration_seconds_sum"] < stack.sent * 10
    assert values['ferry_workers{state="idle"}'] + values['ferry_workers{state="busy"}'] == 2
    assert values["ferry_workers_configured"] == 2
    assert values[f'ferry_listen_queue_max{{socket="{stack.socket}"}}'] > 0
    assert values[f'ferry_listen_queue{{socket="{stack.socket}"}}'] == 0
    assert all(v > 1_000_000 for k, v in values.items() if k.startswith("ferry_worker_rss_bytes{"))
    assert total(values, "ferry_tx_bytes_total") > 0
    assert [k for k in values if k.startswith("ferry_build_info{")] and total(values, "ferry_build_info") == 1


def test_prometheus_scrapes_ferry_and_answers_promql(stack, prometheus):
    wait_until(lambda: prometheus.target_health() == ["up"], 30, message="the ferry target to be up")
    stack.counted()
    assert wait_until(lambda: prometheus.scalar("sum(ferry_requests_total)") == stack.sent, 30,
                      message=f"sum(ferry_requests_total) == {stack.sent} in Prometheus")
    assert prometheus.scalar('sum(ferry_responses_total{status="5xx"})') == RAISED
    with RequestLoop(ok_via_uwsgi(stack.socket), max_seconds=30, pause=0.002) as loop:
        loop.wait_count(50)
        rate = wait_until(lambda: (r := prometheus.scalar("sum(rate(ferry_requests_total[1m]))")) and r > 0 and r,
                          30, message="a positive rate(ferry_requests_total[1m]) under load")
        assert rate > 0
        p99 = wait_until(lambda: prometheus.scalar(
            "histogram_quantile(0.99, sum by (le) (rate(ferry_request_duration_seconds_bucket[1m])))"),
            30, message="a p99 from the duration histogram")
        assert 0 < p99 < 10
    assert not loop.failures, loop.failures[:3]
    stack.sent += len(loop.results)
    stack.counted()
    assert wait_until(lambda: prometheus.scalar("sum(ferry_requests_total)") == stack.sent, 30,
                      message=f"sum(ferry_requests_total) == {stack.sent} after the load")


def test_every_dashboard_expression_evaluates_over_ferrys_series(stack, prometheus):
    panels = json.loads(DASHBOARD.read_text())["panels"]
    for panel in panels:
        for target in panel["targets"]:
            promql = target["expr"].replace("$__rate_interval", "1m").replace("$instance", ".*")
            # Every expression names series that exist (a rate needs two scrapes of them);
            # over a quiet minute a rate may be 0 or NaN, but the series are there.
            wait_until(lambda: prometheus.query(promql), 30, message=f"{panel['title']}: {promql} to return series")


def test_counters_by_worker_never_go_down_across_a_respawn(stack):
    before = samples(stack.counted())
    victim = stack.ferry.workers()[0]
    os.kill(victim, signal.SIGKILL)
    stack.ferry.wait_workers(2, exclude=[victim])
    after = samples(stack.counted())
    for key, value in before.items():
        if key.startswith(("ferry_requests_total{", "ferry_tx_bytes_total{", "ferry_responses_total{")):
            assert after[key] >= value, (key, value, after[key])
    assert total(after, "ferry_requests_total") == stack.sent
    assert after["ferry_worker_respawns_total"] == before["ferry_worker_respawns_total"] + 1


def test_screenshot_of_prometheus_graphing_ferrys_request_rate(stack, prometheus, module_tmp):
    from test_browser import chromium, png_size
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    update = os.environ.get("FERRY_UPDATE_SCREENSHOT") == "1"
    shot = SCREENSHOT if update else module_tmp / "prometheus-ferry-rate.png"
    expr = "rate(ferry_requests_total[1m])"
    query = urllib.parse.urlencode({"g0.expr": expr, "g0.tab": "0", "g0.range_input": "1m"})
    # For the docs' picture, a graph with some history: scrapes of a positive rate for most
    # of a minute; for the test itself, a few are enough.
    scrapes = 40 if update else 3
    with RequestLoop(ok_via_uwsgi(stack.socket), max_seconds=120, pause=0.002) as loop:
        loop.wait_count(50)
        wait_until(lambda: (n := prometheus.scalar(f"count_over_time((sum({expr}) > 0)[1m:1s])")) and n >= scrapes,
                   90, message=f"{scrapes} scrapes with a positive rate")
        driver = chromium(stack.ferry.tracker, module_tmp)
        try:
            driver.set_window_size(1280, 1100)  # the graph and its legend below it
            driver.get(f"{prometheus.url}/graph?{query}")
            # Debian's Prometheus 2.42 draws with Rickshaw: an svg in div.graph, a div.legend.
            legend = WebDriverWait(driver, 30).until(
                lambda d: [e for e in d.find_elements(By.CSS_SELECTOR, ".legend") if 'worker="2"' in e.text])
            assert 'worker="1"' in legend[0].text, legend[0].text
            WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".graph svg path"))
            if update:
                shot.parent.mkdir(parents=True, exist_ok=True)
            assert driver.save_screenshot(str(shot))
        finally:
            driver.quit()
    stack.sent += len(loop.results)
    width, height = png_size(shot)
    assert width >= 800 and height >= 500, (width, height)
    assert shot.stat().st_size > 10_000, shot.stat()


def test_a_refused_body_counts_as_a_4xx_request(procs, tmp):
    """limit-post's 413 is a response like any other: in the request count, the 4xx
    responses and the request log, not only in the warning line."""
    stats = f"127.0.0.1:{free_port()}"
    sock = f"{tmp}/s.sock"
    f = Ferry(procs, tmp, basic_ini(tmp, f"stats = {stats}", "stats-http = true", "limit-post = 10", processes=1),
              sockets=[sock, stats])
    f.start()
    f.wait_workers(1)
    from fixtures.uwsgi_client import nginx_vars, uwsgi_request
    body = b"x" * 100
    raw = uwsgi_request(sock, nginx_vars("/echo", method="POST", body=body), body)
    assert raw.startswith(b"HTTP/1.1 413"), raw[:200]
    assert uwsgi_get(sock, "/").status == 200

    def counted():
        values = samples(http_get(f"http://{stats}/metrics")[2])
        return values if total(values, "ferry_requests_total") == 2 else None

    values = wait_until(counted, 10, message="both requests in ferry_requests_total")
    assert values['ferry_responses_total{status="4xx"}'] == 1, values
    assert values['ferry_responses_total{status="2xx"}'] == 1, values
    wait_until(lambda: "POST /echo => generated" in f.log_text() and "(HTTP/1.1 413)" in f.log_text(), 10,
               message="the 413's request line")
    f.stop()
