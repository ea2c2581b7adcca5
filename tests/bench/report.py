"""compare.py's results: medians over rounds, the Markdown table, and the PNG charts."""

from __future__ import annotations

import statistics
from pathlib import Path

# Per-run numbers whose median over the rounds is reported.
MEDIAN_FIELDS = ("rps", "p50_ms", "p99_ms", "max_ms", "cpu_us_per_request", "cpu_user_us_per_request",
                 "cpu_sys_us_per_request", "cpu_master_us_per_request", "nginx_cpu_us_per_request",
                 "pss_worker_kb", "pss_master_kb", "rss_worker_kb", "rss_growth_kb",
                 "p99_reload_window_ms")
COLORS = {"ferry": "#1f77b4", "uwsgi": "#ff7f0e", "gunicorn": "#2ca02c"}


def summarize(runs: list[dict]) -> list[dict]:
    """One row per (scenario, mode, server), in the order first run."""
    groups: dict[tuple, list[dict]] = {}
    for run in runs:
        groups.setdefault((run["scenario"], run["mode"], run["server"]), []).append(run)
    rows = []
    for (scenario, mode, server), group in groups.items():
        done = [r for r in group if r["status"] == "ok"]
        row = {"scenario": scenario, "mode": mode, "server": server, "runs": len(done),
               "protocol": group[0].get("protocol"),
               "status": "ok" if done else group[0]["status"],
               "message": "" if done else group[0].get("message", "")}
        for key in MEDIAN_FIELDS:
            values = [r[key] for r in done if r.get(key) is not None]
            row[key] = statistics.median(values) if values else None
        row["requests"] = sum(r.get("requests", 0) for r in done)
        row["errors"] = sum(r.get("errors", 0) for r in done)
        row["log_problems"] = sum(r.get("log_problem_count", 0) for r in done)
        if any("workers_replaced" in r for r in done):
            row["workers_replaced"] = all(r.get("workers_replaced") for r in done)
        rows.append(row)
    for row in rows:
        base = next((r for r in rows if r["scenario"] == row["scenario"] and r["mode"] == row["mode"]
                     and r["server"] == "uwsgi" and r["status"] == "ok"), None)
        for key, name in (("cpu_us_per_request", "cpu_vs_uwsgi"), ("pss_worker_kb", "pss_vs_uwsgi"),
                          ("rps", "rps_vs_uwsgi")):
            ok = base and row[key] is not None and base[key]
            row[name] = row[key] / base[key] if ok else None
    return rows


def _num(value, fmt="{:.0f}"):
    return "–" if value is None else fmt.format(value)


def _ratio(value):
    return "" if value is None else f" ({value:.2f}x)"


def markdown_table(rows: list[dict], titles: dict[str, str]) -> str:
    lines = ["| scenario | server | req/s | p99 ms | CPU µs/req (vs uWSGI) | PSS/worker MB (vs uWSGI) "
             "| errors | notes |",
             "|---|---|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        title = titles.get(r["scenario"], r["scenario"])
        if r["mode"] != "lazy":
            title += f" ({r['mode']})"
        if r["status"] != "ok":
            lines.append(f"| {title} | {r['server']} | – | – | – | – | – | {r['status']}: "
                         f"{_one_line(r['message'])} |")
            continue
        notes = []
        if r["protocol"] == "http":
            notes.append("HTTP")  # gunicorn: to it straight, or from nginx with proxy_pass
        if r.get("rss_growth_kb") is not None:
            notes.append(f"worker RSS +{r['rss_growth_kb'] / 1024:.1f} MB")
        if r.get("nginx_cpu_us_per_request") is not None:
            notes.append(f"nginx {r['nginx_cpu_us_per_request']:.0f} µs/req")
        if "workers_replaced" in r:
            note = ""
            if r.get("p99_reload_window_ms") is not None:
                note += f"p99 of the {r.get('reload_window_s', 3):g} s after SIGHUP {r['p99_reload_window_ms']:.1f} ms, "
            if r.get("max_ms") is not None:
                note += f"max {r['max_ms']:.0f} ms, "
            notes.append(note + ("workers replaced" if r["workers_replaced"] else "workers NOT replaced"))
        if r["log_problems"]:
            notes.append(f"{r['log_problems']} warning/error lines in its log")
        pss = None if r["pss_worker_kb"] is None else r["pss_worker_kb"] / 1024
        lines.append(
            f"| {title} | {r['server']} | {_num(r['rps'])} | {_num(r['p99_ms'], '{:.1f}')} "
            f"| {_num(r['cpu_us_per_request'])}{_ratio(r['cpu_vs_uwsgi'])} "
            f"| {_num(pss, '{:.1f}')}{_ratio(r['pss_vs_uwsgi'])} | {r['errors']} | {', '.join(notes)} |")
    return "\n".join(lines)


def _one_line(text: str) -> str:
    """The first line (what happened) and, if there are more, the last (usually why)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return ""
    out = lines[0][:160] + (f" … {lines[-1][:200]}" if len(lines) > 1 else "")
    return out.replace("|", "/")


def charts(rows: list[dict], titles: dict[str, str], out_dir: Path, runs: list[dict] = ()) -> list[Path]:
    """PNG bar charts: CPU per request and requests/s per scenario, PSS per worker."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    made = []
    load_rows = [r for r in rows if r["status"] == "ok" and r["mode"] == "lazy"]
    for key, label, name in (("cpu_us_per_request", "server CPU µs per request (lower is better)",
                              "cpu_per_request.png"),
                             ("rps", "requests per second (higher is better)", "requests_per_second.png")):
        scenarios = list(dict.fromkeys(r["scenario"] for r in load_rows if r[key] is not None))
        if not scenarios:
            continue
        cols = min(4, len(scenarios))
        nrows = (len(scenarios) + cols - 1) // cols
        fig, axes = plt.subplots(nrows, cols, figsize=(3.2 * cols, 2.8 * nrows), squeeze=False)
        for ax, scenario in zip(axes.flat, scenarios):
            group = [r for r in load_rows if r["scenario"] == scenario and r[key] is not None]
            values = [r[key] for r in group]
            bars = ax.bar([r["server"] for r in group], values,
                          color=[COLORS.get(r["server"], "grey") for r in group])
            base = next((r[key] for r in group if r["server"] == "uwsgi"), None)
            for bar, value in zip(bars, values):
                text = f"{value:,.0f}"
                if base:
                    text += f"\n{value / base:.2f}x"
                ax.annotate(text, (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                            ha="center", va="bottom", fontsize=7)
            ax.set_title(titles.get(scenario, scenario), fontsize=9)
            ax.tick_params(labelsize=8)
            ax.set_ylim(0, max(values) * 1.35)
        for ax in list(axes.flat)[len(scenarios):]:
            ax.axis("off")
        fig.suptitle(label + "; ratios are to uWSGI", fontsize=10)
        fig.tight_layout()
        path = out_dir / name
        fig.savefig(path, dpi=110)
        plt.close(fig)
        made.append(path)

    mem = [r for r in rows if r["status"] == "ok" and r["scenario"] == "django" and r["pss_worker_kb"]]
    if mem:
        modes = list(dict.fromkeys(r["mode"] for r in mem))
        servers = list(dict.fromkeys(r["server"] for r in mem))
        fig, ax = plt.subplots(figsize=(6.4, 3.4))
        width = 0.8 / len(servers)
        for i, server in enumerate(servers):
            xs, ys = [], []
            for j, mode in enumerate(modes):
                row = next((r for r in mem if r["server"] == server and r["mode"] == mode), None)
                if row:
                    xs.append(j + (i - (len(servers) - 1) / 2) * width)
                    ys.append(row["pss_worker_kb"] / 1024)
            bars = ax.bar(xs, ys, width, label=server, color=COLORS.get(server, "grey"))
            for bar, y in zip(bars, ys):
                ax.annotate(f"{y:.1f}", (bar.get_x() + bar.get_width() / 2, y), ha="center",
                            va="bottom", fontsize=8)
        ax.set_xticks(range(len(modes)))
        ax.set_xticklabels([f"{m} loading" for m in modes])
        ax.set_ylabel("PSS per worker, MB")
        ax.set_ylim(0, max(r["pss_worker_kb"] for r in mem) / 1024 * 1.35)
        ax.set_title("Demo Django app: memory per worker after warm-up (lower is better)", fontsize=10)
        ax.legend(fontsize=8, ncol=len(servers), loc="upper center")
        fig.tight_layout()
        path = out_dir / "memory_pss.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        made.append(path)
    path = reload_chart(runs, out_dir)
    if path:
        made.append(path)
    return made


def reload_chart(runs: list[dict], out_dir: Path) -> Path | None:
    """Through a reload run, per 100 ms: requests completed, and their p99 latency. Each
    server's round with the median p99 is drawn."""
    import matplotlib.pyplot as plt

    runs = [r for r in runs if r["status"] == "ok" and r.get("timeline") and r.get("reload_at_s") is not None]
    modes = list(dict.fromkeys(r["mode"] for r in runs))
    if not modes:
        return None
    fig, axes = plt.subplots(len(modes), 2, figsize=(11, 2.8 * len(modes)), squeeze=False)
    for (count_ax, p99_ax), mode in zip(axes, modes):
        for server in dict.fromkeys(r["server"] for r in runs if r["mode"] == mode):
            group = sorted((r for r in runs if r["mode"] == mode and r["server"] == server),
                           key=lambda r: r["p99_ms"])
            run = group[len(group) // 2]
            t = [b[0] - run["reload_at_s"] for b in run["timeline"]]
            color = COLORS.get(server, "grey")
            count_ax.plot(t, [b[1] for b in run["timeline"]], color=color, linewidth=1, label=server)
            p99_ax.plot(t, [b[4] if b[1] else float("nan") for b in run["timeline"]], color=color, linewidth=1,
                        label=f"{server}: p99 {run['p99_ms']:.1f} ms over the run, max {run['max_ms']:.0f} ms")
        for ax in (count_ax, p99_ax):
            ax.axvline(0, color="black", linewidth=0.8, linestyle=":")
            ax.tick_params(labelsize=8)
            ax.set_xlabel("seconds from the SIGHUP", fontsize=8)
        count_ax.set_ylabel("requests completed per 100 ms", fontsize=8)
        count_ax.set_ylim(bottom=0)
        count_ax.set_title(f"{mode} loading: throughput", fontsize=9)
        count_ax.legend(fontsize=7, loc="lower right")
        p99_ax.set_yscale("log")
        p99_ax.set_ylabel("p99 per 100 ms, ms", fontsize=8)
        p99_ax.set_title(f"{mode} loading: latency of the requests completed", fontsize=9)
        p99_ax.legend(fontsize=7, loc="upper right")
    rate = runs[0].get("rate")
    load = f"a steady {rate:,.0f} requests/s (open loop)" if rate else "load"
    fig.suptitle(f"Graceful reload under {load}, SIGHUP at 0 s", fontsize=10)
    fig.tight_layout()
    path = out_dir / "reload_latency.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
