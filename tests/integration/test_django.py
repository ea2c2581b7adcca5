"""The user's own stack: their ini (fixed), real nginx, the demo Django project."""

import json
import os
import re
import shutil
import signal
import subprocess
import time
from http.cookies import SimpleCookie
from urllib.parse import urlencode

import pytest

from conftest import REPO, SYSTEM_PYTHON, RequestLoop, http_request, make_venv

DEMO = REPO / "conf" / "server_dev"
ADMIN_PASSWORD = "ferry-Test-pw-4711"

# The seed ini with its paths in the test's directory and its second line split in two;
# everything else (including the Korean inline comments) exactly as the user wrote it.
SEED_FIXED = """[uwsgi]
base = {base}
home = %(base)/venv
chdir = %(base) #가상환경 경로
module = server_dev.wsgi:application #프로젝트 경로
socket = {tmp}/django.sock #리눅스에서 제공하는 소켓사용
chmod-socket = 666 #소켓의 파일권한
master = true #마스터 프로세스 유무
enable-threads = true # 워커를 쓰레드 기반으로 할 것인가
pidfile = {tmp}/django.pid #uwsgi 모든 프로세스 번호를 쉽게 확인
vacuum = true #uwsgi 흔적(soket, pid)을 자동으로 지워줌
logger = file:{tmp}/uwsgi.log # log파일 기록
env = FERRY_DEMO_DATA={data}
"""


def manage(base, data, *args, extra_env=None):
    env = dict(os.environ, FERRY_DEMO_DATA=str(data), **(extra_env or {}))
    r = subprocess.run([SYSTEM_PYTHON, str(base / "manage.py"), *args], cwd=base, env=env,
                       timeout=180, capture_output=True, text=True)
    assert r.returncode == 0, f"manage.py {' '.join(args)} failed:\n{r.stdout}\n{r.stderr}"


def prepare_project(tmp, admin=True):
    """The demo project copied to tmp/server_dev with its venv, migrated (with an admin)."""
    base = tmp / "server_dev"
    shutil.copytree(DEMO, base, ignore=shutil.ignore_patterns("data", "venv", "__pycache__",
                                                              "*.sqlite3"))
    make_venv(base / "venv")
    data = tmp / "data"
    manage(base, data, "migrate", "--noinput")
    if not admin:
        return base, data
    manage(base, data, "createsuperuser", "--noinput", extra_env={
        "DJANGO_SUPERUSER_USERNAME": "admin", "DJANGO_SUPERUSER_PASSWORD": ADMIN_PASSWORD,
        "DJANGO_SUPERUSER_EMAIL": "admin@example.org"})
    return base, data


@pytest.fixture
def seed_project(tmp):
    return prepare_project(tmp)


def cookies_from(headers, jar):
    for k, v in headers:
        if k.lower() == "set-cookie":
            c = SimpleCookie()
            c.load(v)
            for name, morsel in c.items():
                jar[name] = morsel.value
    return jar


def cookie_header(jar):
    return "; ".join(f"{k}={v}" for k, v in jar.items())


def test_seed_ini_serves_django_behind_nginx(ferry, nginx, tmp, seed_project):
    base, data = seed_project
    f = ferry(SEED_FIXED.format(base=base, tmp=tmp, data=data), sockets=[tmp / "django.sock"],
              log=tmp / "uwsgi.log", pidfile=tmp / "django.pid")
    ng = nginx(tmp / "django.sock")

    status, headers, body = ng.get("/")
    assert status == 200, body[:2000]
    assert body.decode() == "Hello from ferry"

    status, _, body = ng.get("/info/")
    assert status == 200, body[:2000]
    assert json.loads(body)["pid"] in f.workers()

    # The admin login page: a form with a CSRF token (templates, static URLs, DB sessions).
    jar = {}
    status, headers, body = ng.get("/admin/login/?next=/admin/")
    assert status == 200, body[:2000]
    page = body.decode()
    m = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert m and "<form" in page, page[:2000]
    cookies_from(headers, jar)
    assert "csrftoken" in jar

    # Log in: a POST body through nginx, cookies both ways, a session in SQLite.
    form = urlencode({"csrfmiddlewaretoken": m.group(1), "username": "admin",
                      "password": ADMIN_PASSWORD, "next": "/admin/"}).encode()
    status, headers, body = ng.request("POST", "/admin/login/?next=/admin/", body=form, headers=[
        ("Content-Type", "application/x-www-form-urlencoded"), ("Cookie", cookie_header(jar)),
        ("Referer", f"http://127.0.0.1:{ng.port}/admin/login/")])
    assert status == 302, body[:3000]
    assert dict((k.lower(), v) for k, v in headers)["location"].endswith("/admin/")
    cookies_from(headers, jar)
    assert "sessionid" in jar
    status, _, body = ng.get("/admin/", headers=[("Cookie", cookie_header(jar))])
    assert status == 200 and b"Site administration" in body, body[:2000]

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
    ini = SEED_FIXED.format(base=base, tmp=tmp, data=data) + "processes = 2\n"
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
        loop.wait_count(len(loop.results) + 30, timeout=20)
    f.wait_log(rf"^(?=.*\b{victim}\b)(?=.*\bsignal 9\b).*$")
    assert len(kill_failures) <= 1, kill_failures
    assert not [r for r in kill_failures if r[0] > replaced_at], kill_failures
    assert [r for r in loop.results[reload_from:] if not r[1]] == [], "failures during reload"
    assert served_by & set(after_reload), "the reloaded workers served requests"
    assert f.stop() == 0, f.diagnostics()
    assert not (tmp / "django.sock").exists() and not (tmp / "django.pid").exists()
