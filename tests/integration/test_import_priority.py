"""A worker started while others serve (here: by a reload) imports its app at a lower CPU
priority, and serves at the normal one; only where it can go back (worker/import_priority)."""

import os
import re
import signal
import subprocess

from conftest import FERRY_BIN, basic_ini, uwsgi_get, wait_until

BASE = os.getpriority(os.PRIO_PROCESS, 0)  # what ferry inherits from the test run
LOWERED = min(19, BASE + 10)


def report(sock) -> dict:
    r = uwsgi_get(sock, "/")
    assert r.status == 200, r.raw[:300]
    return {k: int(v) for k, v in re.findall(r"(\w+)=(-?\d+)", r.body.decode())}


def reload_and_report(master_pid, sock, old_pid) -> dict:
    os.kill(master_pid, signal.SIGHUP)
    got = {}

    def replaced():
        got.update(report(sock))
        return got["pid"] != old_pid

    wait_until(replaced, 30, interval=0.1, message="a worker of the new generation answering")
    return got


def test_reloaded_worker_imports_at_lower_priority_and_serves_at_normal(ferry, tmp):
    assert os.geteuid() == 0, "CI runs as root"
    f = ferry(basic_ini(tmp, processes=1, module="niceapp"))
    f.wait_workers(1)
    first = report(tmp / "s.sock")
    # The first worker: nobody serves yet, so nothing to make way for.
    assert (first["import"], first["serving"], first["thread"]) == (BASE, BASE, BASE), first
    new = reload_and_report(f.pid, tmp / "s.sock", first["pid"])
    assert new["import"] == LOWERED, new
    # Back to normal for serving, the app's own import-time thread included.
    assert (new["serving"], new["thread"]) == (BASE, BASE), new


def nice_limit(pid) -> int:
    """The soft RLIMIT_NICE of a process, from /proc/PID/limits."""
    for line in open(f"/proc/{pid}/limits"):
        if line.startswith("Max nice priority"):
            return int(line.split()[3])
    raise AssertionError(f"no nice limit for {pid}")


def test_after_dropping_root_the_import_is_lowered_only_if_the_worker_can_go_back(ferry, tmp):
    # Before setuid the master raises RLIMIT_NICE to allow its own priority, so that the
    # unprivileged workers may return to it. That takes CAP_SYS_RESOURCE, which a
    # container's root may lack (these CI machines do): then the import keeps its priority.
    f = ferry(basic_ini(tmp, "uid = nobody", "gid = nogroup", "chown-socket = nobody:nogroup",
                        processes=1, module="niceapp"))
    f.wait_workers(1)
    first = report(tmp / "s.sock")
    new = reload_and_report(f.pid, tmp / "s.sock", first["pid"])
    can_go_back = nice_limit(new["pid"]) >= 20 - BASE
    assert new["import"] == (LOWERED if can_go_back else BASE), (new, nice_limit(new["pid"]))
    assert (new["serving"], new["thread"]) == (BASE, BASE), new  # never left lowered


def test_without_the_right_to_go_back_the_import_keeps_normal_priority(procs, tmp):
    # Started unprivileged with RLIMIT_NICE 0 (no way back from a lowered priority): the
    # import is not lowered, rather than leaving the worker slow for good.
    os.chmod(tmp, 0o777)
    (tmp / "f.ini").write_text(basic_ini(tmp, processes=1, module="niceapp"))
    argv = ["prlimit", "--nice=0:0", "setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
            FERRY_BIN, str(tmp / "f.ini")]
    p = procs.popen(argv, env=procs.env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: (tmp / "s.sock").exists() or p.poll() is not None, 20, message="the socket")
        assert p.poll() is None, p.stdout.read().decode(errors="replace")
        wait_until(lambda: b"pid=" in uwsgi_get(tmp / "s.sock", "/").body, 20, interval=0.1,
                   message="a worker answering")
        first = report(tmp / "s.sock")
        new = reload_and_report(p.pid, tmp / "s.sock", first["pid"])
        assert (new["import"], new["serving"], new["thread"]) == (BASE, BASE, BASE), new
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=20)


def test_preload_reload_imports_in_the_new_master_at_lower_priority(ferry, tmp):
    # With preload the app is imported by the master, and on SIGHUP by the re-executed
    # master while the handed-over workers serve: that import is the lowered one, and the
    # workers it forks serve at the normal priority.
    f = ferry(basic_ini(tmp, "preload = true", processes=1, module="niceapp"))
    f.wait_workers(1)
    first = report(tmp / "s.sock")
    assert (first["import"], first["serving"]) == (BASE, BASE), first
    new = reload_and_report(f.pid, tmp / "s.sock", first["pid"])
    assert (new["import"], new["serving"]) == (LOWERED, BASE), new
    assert os.getpriority(os.PRIO_PROCESS, f.pid) == BASE  # the master's own thread, after
