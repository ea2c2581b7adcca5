"""The user's own stack: their ini (fixed), real nginx, the demo Django project."""

import json
import os
import signal
import time

import pytest

from conftest import DjangoClient, RequestLoop, http_request, prepare_project, seed_ini


@pytest.fixture
def seed_project(tmp):
    return prepare_project(tmp)


def test_seed_ini_serves_django_behind_nginx(ferry, nginx, tmp, seed_project):
    base, data = seed_project
    f = ferry(seed_ini(tmp, base, data), sockets=[tmp / "django.sock"],
              log=tmp / "uwsgi.log", pidfile=tmp / "django.pid")
    ng = nginx(tmp / "django.sock")

    status, headers, body = ng.get("/")
    assert status == 200, body[:2000]
    assert body.decode() == "Hello from ferry"

    status, _, body = ng.get("/info/")
    assert status == 200, body[:2000]
    assert json.loads(body)["pid"] in f.workers()

    # The admin login page: a form with a CSRF token (templates, static URLs, DB sessions),
    # then the login: a POST body through nginx, cookies both ways, a session in SQLite.
    DjangoClient(ng.port).admin_login()

    # The seed's options took effect.
    assert ((tmp / "django.sock").stat().st_mode & 0o777) == 0o666
    assert int((tmp / "django.pid").read_text().strip()) == f.pid
    f.wait_log(r"\] GET / => generated 16 bytes in \d+ msecs \(HTTP/1\.1 200\)")
    f.wait_log(r"\] POST /admin/login/\?next=/admin/ => generated \d+ bytes in \d+ msecs "
               r"\(HTTP/1\.1 302\)")

    # `kill -TERM $(cat django.pid)`: a clean stop that leaves nothing behind.
    os.kill(int((tmp / "django.pid").read_text()), signal.SIGTERM)
    assert f.wait(timeout=10) == 0, f.diagnostics()
    assert not (tmp / "django.sock").exists()
    assert not (tmp / "django.pid").exists()


def test_seed_stack_survives_kill9_and_reload_under_requests(ferry, nginx, tmp):
    base, data = prepare_project(tmp, admin=False)
    ini = seed_ini(tmp, base, data, "processes = 2")
    f = ferry(ini, sockets=[tmp / "django.sock"], log=tmp / "uwsgi.log",
              pidfile=tmp / "django.pid")
    ng = nginx(tmp / "django.sock")
    workers = f.wait_workers(2)
    served_by = set()

    def send():
        status, _, body = http_request(ng.port, "GET", "/info/", timeout=10)
        if status == 200:
            served_by.add(json.loads(body)["pid"])
        return status == 200, f"{status} {body[:80]!r}"

    with RequestLoop(send, max_seconds=40, pause=0.002) as loop:
        loop.wait_count(20, timeout=20)
        victim = workers[0]
        os.kill(victim, signal.SIGKILL)
        after_kill = f.wait_workers(2, exclude=(victim,), timeout=15)
        replaced_at = time.monotonic()
        loop.wait_count(len(loop.results) + 30, timeout=20)
        kill_failures = list(loop.failures)
        reload_from = len(loop.results)
        os.kill(f.pid, signal.SIGHUP)
        after_reload = f.wait_workers(2, exclude=after_kill, timeout=20)
        # The new workers serve once they have loaded Django; the old ones until then.
        f.wait_log(r"reload done", timeout=30)
        loop.wait_count(len(loop.results) + 30, timeout=20)
    f.wait_log(rf"^(?=.*\b{victim}\b)(?=.*\bsignal 9\b).*$")
    assert len(kill_failures) <= 1, kill_failures
    assert not [r for r in kill_failures if r[0] > replaced_at], kill_failures
    assert [r for r in loop.results[reload_from:] if not r[1]] == [], "failures during reload"
    assert served_by & set(after_reload), "the reloaded workers served requests"
    assert f.stop() == 0, f.diagnostics()
    assert not (tmp / "django.sock").exists() and not (tmp / "django.pid").exists()
