"""preload (lazy-apps = false): the app is imported once in the master and the workers are
forked from it. Tested: where the import happens, os.register_at_fork hooks and gc.freeze,
the memory the workers share, reloads (which re-execute the master under the same pid,
handing over the socket and the serving workers) under load, a broken app at start and
at reload, and a clean stop."""

import json
import os
import signal
import subprocess
import time

import pytest

from conftest import (FERRY_BIN, RequestLoop, basic_ini, ok_via_uwsgi, pid_alive, uwsgi_get, wait_until)


def preload_ini(tmp, *extra, processes=2, mode="preload = true"):
    (tmp / "version").write_text("v1\n")
    return basic_ini(tmp, mode, f"pidfile = {tmp}/f.pid", "vacuum = true",
                     f"env = PRELOAD_VERSION_FILE={tmp}/version", *extra,
                     processes=processes, module="preloadapp")


def info(tmp):
    r = uwsgi_get(tmp / "s.sock")
    assert r.status == 200, r.text
    return r.json()


def infos_from_every_worker(tmp, n, seconds=20):
    # Which worker accepts is the kernel's choice: ask until each one has answered.
    seen = {}
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        i = info(tmp)
        seen[i["pid"]] = i
        if len(seen) == n:
            return list(seen.values())
    raise AssertionError(f"only {len(seen)} of {n} workers answered within {seconds} s")


def served_version(tmp):
    def send():
        r = uwsgi_get(tmp / "s.sock")
        return r.status == 200, r.text
    return send


@pytest.mark.parametrize("mode", ["preload = true", "lazy-apps = false"])
def test_preload_imports_once_in_the_master_and_runs_fork_hooks(ferry, tmp, mode):
    f = ferry(preload_ini(tmp, mode=mode))
    workers = f.wait_workers(2)
    infos = infos_from_every_worker(tmp, 2)
    for i in infos:
        assert i["imported_in"] == f.pid  # imported by the master, not the worker
        assert i["pid"] in workers
        # os.register_at_fork hooks ran around this worker's fork, and gc.freeze() kept
        # the imported objects out of the collector's reach; the collector runs again.
        assert i["fork_events"][-2:] == ["before", "child"]
        assert i["frozen"] > 1000 and i["gc_enabled"]
        # A file the app opened at import is still usable in the forked worker.
        assert i["import_file_ok"]
        assert i["worker_id"] == i["environ_worker_id"]
    assert sorted(i["worker_id"] for i in infos) == [1, 2]
    assert "(preloaded in the master)" in f.log_text()


def test_the_default_imports_in_each_worker_after_fork(ferry, tmp):
    f = ferry(preload_ini(tmp, mode="lazy-apps = true"))
    for i in infos_from_every_worker(tmp, 2):
        assert i["imported_in"] == i["pid"] != f.pid
        assert i["fork_events"] == [] and i["frozen"] == 0
    assert "preloaded" not in f.log_text()


def worker_pss_kb(pid):
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Pss:"):
                return int(line.split()[1])
    raise AssertionError(f"no Pss in /proc/{pid}/smaps_rollup")


def test_preloaded_workers_share_the_apps_memory(ferry, tmp):
    # 40 MB allocated at import: each lazy worker owns its copy; preloaded workers share
    # the master's pages, so each one's proportional share is a fraction of it.
    pss = {}
    for mode in ("lazy-apps = true", "preload = true"):
        d = tmp / mode.split()[0]
        d.mkdir()
        f = ferry(preload_ini(d, "env = PRELOAD_BLOB_MB=40", processes=3, mode=mode), workdir=d)
        workers = f.wait_workers(3)
        wait_until(lambda: f.log_text().count(") is ready") >= 3, 20, message="3 workers with the app loaded")
        info(d)
        pss[mode] = sum(worker_pss_kb(p) for p in workers) / len(workers)
        f.stop()
    lazy, preload = pss["lazy-apps = true"], pss["preload = true"]
    assert lazy > 40 * 1024, pss
    assert preload < lazy - 20 * 1024, pss


def test_reload_reexecutes_the_master_and_drops_no_request(ferry, tmp):
    f = ferry(preload_ini(tmp, processes=2))
    old = set(f.wait_workers(2))
    (tmp / "version").write_text("v2\n")
    with RequestLoop(served_version(tmp), max_seconds=30, pause=0.002) as loop:
        loop.wait_count(20)
        os.kill(f.pid, signal.SIGHUP)
        f.wait_log(r"reload done", timeout=30)
        loop.wait_count(len(loop.results) + 50)
    assert loop.failures == [], loop.failures[:3]
    new = set(f.wait_workers(2, exclude=old))
    assert not (new & old)
    for i in infos_from_every_worker(tmp, 2):
        assert i["version"] == "v2" and i["imported_in"] == f.pid
    log = f.log_text()
    assert "re-executing" in log and "re-executed for a reload" in log
    # Same pid throughout: the pidfile and the master's identity are unchanged, and the
    # old workers' exits are still counted and logged by the new master.
    assert int((tmp / "f.pid").read_text()) == f.pid
    for pid in old:
        assert not pid_alive(pid)
        assert f"(pid {pid}) stopped: exit code 0" in log
    # The old generation's answers came before the switch, the new one's after.
    versions = [json.loads(d)["version"] for _, ok, d in loop.results if ok and d.startswith("{")]
    assert "v1" in versions and versions[-1] == "v2"
    assert versions.index("v2") > versions.index("v1")

    f.stop()
    assert f.returncode == 0
    assert "Fatal Python error" not in f.log_text() + f.stderr
    assert not (tmp / "s.sock").exists() and not (tmp / "f.pid").exists()  # vacuum still works


def test_chain_reload_under_preload(ferry, tmp):
    f = ferry(preload_ini(tmp, processes=3))
    f.wait_workers(3)
    (tmp / "version").write_text("v2\n")
    with RequestLoop(served_version(tmp), max_seconds=30, pause=0.002) as loop:
        loop.wait_count(20)
        assert subprocess.run([FERRY_BIN, "--chain-reload", str(tmp / "f.pid")], timeout=10).returncode == 0
        f.wait_log(r"chain reload done", timeout=30)
        loop.wait_count(len(loop.results) + 50)
    assert loop.failures == [], loop.failures[:3]
    assert {i["version"] for i in infos_from_every_worker(tmp, 3)} == {"v2"}


def test_a_reload_with_a_broken_app_keeps_the_old_workers_serving(ferry, tmp):
    f = ferry(preload_ini(tmp, processes=2))
    old = set(f.wait_workers(2))
    (tmp / "version").write_text("broken\n")
    with RequestLoop(served_version(tmp), max_seconds=30, pause=0.005) as loop:
        loop.wait_count(10)
        os.kill(f.pid, signal.SIGHUP)
        f.wait_log(r"reload failed: the app did not import", timeout=30)
        loop.wait_count(len(loop.results) + 30)
    assert loop.failures == [], loop.failures[:3]
    assert "broken on purpose" in f.log_text()  # the traceback is in the log
    assert set(f.wait_workers(2)) == old
    assert {i["version"] for i in infos_from_every_worker(tmp, 2)} == {"v1"}

    # Fixed: the next reload goes through.
    (tmp / "version").write_text("v3\n")
    os.kill(f.pid, signal.SIGHUP)
    f.wait_log(r"reload done", timeout=30)
    wait_until(lambda: {i["version"] for i in infos_from_every_worker(tmp, 2)} == {"v3"}, 15,
               message="v3 everywhere")
    assert f.running


def test_an_app_that_fails_to_import_in_the_master_stops_ferry_with_exit_4(ferry, tmp):
    ini = preload_ini(tmp)
    (tmp / "version").write_text("broken\n")
    f = ferry(ini, start=False)
    assert f.run_to_exit() == 4
    assert "broken on purpose" in f.log_text()
    assert "failed to import in the master" in f.stderr and "ferry.log" in f.stderr
    assert not (tmp / "s.sock").exists() and not (tmp / "f.pid").exists()


def test_notify_sees_ready_again_after_a_preload_reload(ferry, tmp):
    from test_lifecycle import NotifyListener

    listener = NotifyListener(tmp / "notify.sock")
    try:
        f = ferry(preload_ini(tmp), env={"NOTIFY_SOCKET": listener.path})
        listener.wait_for("READY=1")
        os.kill(f.pid, signal.SIGHUP)
        listener.wait_for("RELOADING=1")
        wait_until(lambda: sum("READY=1" in m for m in listener.collect()) == 2, 20,
                   message="READY=1 from the re-executed master")
        f.stop()
        listener.wait_for("STOPPING=1")
    finally:
        listener.close()


def test_workers_keep_answering_and_logging_while_the_new_master_imports(ferry, tmp):
    # During a preload reload nobody reads the workers' output pipes until the re-executed
    # master has imported the app. Each worker's pipe holds 1 MiB, so the old workers go
    # on answering (and logging a line per request) meanwhile instead of blocking on a
    # full pipe: here 2,000 requests, about 260 KB of request lines, four default pipes.
    hold = tmp / "hold"
    f = ferry(basic_ini(tmp, "preload = true", f"env = HOLD_FILE={hold}", processes=1, module="holdapp"))
    (old,) = f.wait_workers(1)
    hold.write_text("")
    os.kill(f.pid, signal.SIGHUP)
    f.wait_log(r"re-executing")
    for _ in range(2000):
        assert uwsgi_get(tmp / "s.sock", "/x").body == b"ok"
    assert hold.exists() and f.workers() == [old]  # all answered while the import waited
    hold.unlink()
    f.wait_workers(1, exclude=[old], timeout=30)
    wait_until(lambda: len(f.request_lines()) >= 2000, 10, message="every request line")
