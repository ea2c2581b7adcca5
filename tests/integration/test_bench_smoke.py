"""The benchmark scripts still work: tests/bench/compare.py --smoke against the built
loadgen, ferry and whichever of uWSGI and gunicorn are installed. Seconds long; speed is
never checked here (docs/benchmarks.md has the numbers), only that the instruments run and
produce sane results."""

import json
import os
import subprocess
from pathlib import Path

from conftest import FERRY_BIN, REPO, SYSTEM_PYTHON

COMPARE = REPO / "tests" / "bench" / "compare.py"
# Next to the ferry binary under test: FERRY_BIN is <build>/ferry.
LOADGEN = Path(os.environ.get("LOADGEN", Path(FERRY_BIN).parent / "tests" / "bench" / "loadgen"))


def have_matplotlib() -> bool:
    return subprocess.run([SYSTEM_PYTHON, "-c", "import matplotlib"], capture_output=True).returncode == 0


def test_compare_smoke(tmp, procs):
    assert LOADGEN.exists(), f"{LOADGEN} is not built: ninja -C build"
    out = tmp / "results.json"
    charts = tmp / "charts"
    argv = [SYSTEM_PYTHON, str(COMPARE), "--smoke", "--out", str(out), "--ferry", FERRY_BIN,
            "--loadgen", str(LOADGEN)]
    if have_matplotlib():
        argv += ["--charts", str(charts)]
    # The tracker's environment marker reaches every server compare.py starts, so teardown
    # kills them even if the script is stopped by the timeout.
    p = procs.popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=procs.env(), cwd=tmp)
    try:
        output, _ = p.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        p.kill()
        output, _ = p.communicate()
        raise AssertionError("compare.py --smoke took over 240 s:\n" + output.decode(errors="replace"))
    text = output.decode(errors="replace")
    assert p.returncode == 0, text

    results = json.loads(out.read_text())
    runs = results["runs"]
    assert runs, text
    assert {r["server"] for r in runs if r["status"] == "ok"} >= {"ferry"}, text
    for run in runs:
        where = f"{run['scenario']} on {run['server']}: {run}"
        assert run["status"] == "ok", where
        assert run["requests"] > 0 and run["ok"] > 0, where
        assert run["rps"] > 0 and run["p99_ms"] > 0, where
        assert run["cpu_us_per_request"] > 0, where
        assert run["pss_worker_kb"] and run["pss_worker_kb"] > 1024, where
        if run["scenario"] == "hello":
            assert run["errors"] == 0, where
            assert run["log_problem_count"] == 0 or run["server"] != "ferry", where
        if run["scenario"] == "reload":
            # Open loop, with a timeline of the run and the p99 of the window after SIGHUP.
            assert run["rate"] > 0 and run["workers_replaced"], where
            assert run["timeline"] and sum(b[1] for b in run["timeline"]) == run["ok"], where
            assert run["p99_reload_window_ms"] > 0, where
            assert run["cpu_user_us_per_request"] + run["cpu_sys_us_per_request"] > 0, where
            if run["server"] == "ferry":
                assert run["errors"] == 0, where
    assert {(row["scenario"], row["server"]) for row in results["summary"]} == \
        {(r["scenario"], r["server"]) for r in runs}
    assert results["meta"]["versions"]["ferry"].startswith("ferry ")
    assert "| hello world | ferry |" in text, text
    if have_matplotlib():
        for name in ("cpu_per_request.png", "requests_per_second.png", "reload_latency.png"):
            png = charts / name
            assert png.exists() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name


SOAK = REPO / "tests" / "bench" / "soak.py"


def test_soak_smoke(tmp, procs):
    """tests/bench/soak.py for 6 s: mixed load through nginx, three reloads, and the
    counts (sent = received = logged) it checks itself."""
    assert LOADGEN.exists(), f"{LOADGEN} is not built: ninja -C build"
    out = tmp / "soak.json"
    p = procs.popen([SYSTEM_PYTHON, str(SOAK), "--minutes", "0.1", "--ferry", FERRY_BIN, "--loadgen", str(LOADGEN),
                     "--json", str(out)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=procs.env(), cwd=tmp)
    try:
        output, _ = p.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        p.kill()
        output, _ = p.communicate()
        raise AssertionError("soak.py --minutes 0.1 took over 240 s:\n" + output.decode(errors="replace"))
    text = output.decode(errors="replace")
    assert p.returncode == 0, text
    report = json.loads(out.read_text())
    assert report["sent"] > 0 and report["sent"] == report["received"] == report["logged"], text
    assert len(report["reloads"]) == 3 and report["workers_at_end"] == 2, text
    assert report["rss"]["samples"] > 2 and report["rss"]["worker_first_kb"] > 1024, text
    assert "requests sent" in text and "RSS" in text, text
