"""packaging/grafana/ferry-dashboard.json: well-formed, importable by Grafana, and every
expression names only metrics that prometheus_text emits (the sample snapshot's text from
tests/unit/metrics_sample, built next to ferry). test_metrics.py runs each expression
against a real Prometheus scraping a real ferry."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from conftest import FERRY_BIN, REPO

DASHBOARD = REPO / "packaging" / "grafana" / "ferry-dashboard.json"
METRICS_SAMPLE = Path(FERRY_BIN).parent / "tests" / "unit" / "metrics_sample"
METRIC_RE = re.compile(r"\bferry_[a-z0-9_]+")


def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))


def expressions(dash: dict) -> list[str]:
    return [t["expr"] for p in dash["panels"] for t in p["targets"]]


def emitted_series() -> set[str]:
    """The sample names in prometheus_text's output (a histogram's _bucket/_sum/_count)."""
    text = subprocess.run([str(METRICS_SAMPLE)], capture_output=True, text=True, check=True).stdout
    return {re.match(r"[a-z_:][a-z0-9_:]*", line).group(0)
            for line in text.splitlines() if line and not line.startswith("#")}


def test_the_dashboard_is_importable_json():
    dash = dashboard()
    assert dash["title"] and dash["uid"] and isinstance(dash["schemaVersion"], int)
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))
    variables = {v["name"] for v in dash["templating"]["list"]}
    assert {"datasource", "instance"} <= variables
    for p in dash["panels"]:
        assert p["type"] in ("timeseries", "stat"), p["title"]
        assert set(p["gridPos"]) == {"x", "y", "w", "h"} and p["gridPos"]["x"] + p["gridPos"]["w"] <= 24
        assert p["datasource"]["uid"] == "${datasource}"
        refs = [t["refId"] for t in p["targets"]]
        assert p["targets"] and len(refs) == len(set(refs)), p["title"]


def test_the_dashboard_covers_what_an_operator_watches():
    titles = " | ".join(p["title"] for p in dashboard()["panels"]).lower()
    for what in ("request rate", "quantiles", "status class", "workers by state", "listen queue",
                 "memory per worker", "harakiri"):
        assert what in titles, what
    joined = "\n".join(expressions(dashboard()))
    assert "histogram_quantile(0.99, sum by (le) (rate(ferry_request_duration_seconds_bucket" in joined


def test_every_expression_uses_only_emitted_metrics():
    emitted = emitted_series()
    assert "ferry_requests_total" in emitted and "ferry_request_duration_seconds_bucket" in emitted
    used = set()
    for expr in expressions(dashboard()):
        names = set(METRIC_RE.findall(expr))
        assert names, f"an expression without a ferry metric: {expr}"
        used |= names
    assert not used - emitted, f"the dashboard uses metrics ferry does not emit: {sorted(used - emitted)}"
    # The check can fail: a misspelt name is caught.
    assert "ferry_request_total" not in emitted
