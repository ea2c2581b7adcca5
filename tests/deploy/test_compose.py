"""Our user's stack with podman-compose (packaging/compose/compose.yaml): nginx -> ferry
(the demo Django project) -> MariaDB. A real headless Chromium logs into the Django admin
through nginx, adds a group, the row is read back from MariaDB, then the ferry container
restarts and both the data and the browser's session survive.

The project has a name of its own and its own secrets (a generated env file); nginx is
published on 127.0.0.1 only. `down -v` (and whatever it leaves: the network) runs even on
failure. The images are tagged :test and kept on purpose (tests/deploy/podman.py)."""

import secrets
import time
import urllib.request
import uuid

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

import podman
from podman import FERRY_IMAGE, MARIADB_IMAGE, NGINX_IMAGE, Compose, run

from fixtures.browser import PAGE_TIMEOUT, chromium
from fixtures.net import free_port
from fixtures.processes import procs, tmp  # noqa: F401 (pytest fixtures)

ADMIN = "admin"


@pytest.fixture
def stack(tmp):  # noqa: F811 (tmp is the imported fixture)
    for tag in (FERRY_IMAGE, NGINX_IMAGE, MARIADB_IMAGE):
        podman.image(tag)
    password = secrets.token_urlsafe(16)
    env_file = tmp / "stack.env"
    env_file.write_text(f"MARIADB_DATABASE=server_dev\nMARIADB_USER=demo\nMARIADB_PASSWORD={password}\n"
                        f"FERRY_DEMO_MYSQL_DB=server_dev\nFERRY_DEMO_MYSQL_USER=demo\n"
                        f"FERRY_DEMO_MYSQL_PASSWORD={password}\n"
                        f"FERRY_DEMO_SECRET_KEY={secrets.token_urlsafe(40)}\n")
    port = free_port()
    compose = Compose(f"ferrytest{uuid.uuid4().hex[:8]}",
                      environment={"STACK_ENV_FILE": str(env_file), "HTTP_PORT": str(port), "IMAGE_TAG": "test"})
    compose.port = port
    try:
        started = time.monotonic()
        compose("up", "-d", "--no-build")
        for service in ("mariadb", "ferry", "nginx"):
            podman.wait_healthy(compose.container(service), timeout=180)
        print(f"\nstack up and healthy in {time.monotonic() - started:.1f} s")
        yield compose
    finally:
        if compose("ps", check=False).returncode == 0:
            print(compose("logs", check=False).stdout[-6000:])
        compose.down()


def in_mariadb(compose, sql):
    """SQL run by the app's user inside the MariaDB container; tab-separated rows."""
    return run("exec", compose.container("mariadb"), "sh", "-c",
               f'MYSQL_PWD="$MARIADB_PASSWORD" mariadb -u"$MARIADB_USER" -N -B -e "{sql}" "$MARIADB_DATABASE"').stdout


def test_admin_through_nginx_survives_a_ferry_restart(stack, procs, tmp):  # noqa: F811
    admin_password = secrets.token_urlsafe(12)
    run("exec", "-e", f"DJANGO_SUPERUSER_PASSWORD={admin_password}", stack.container("ferry"),
        "python3", "manage.py", "createsuperuser", "--noinput", "--username", ADMIN, "--email", "a@example.com")
    base = f"http://127.0.0.1:{stack.port}"
    # nginx serves the collected static files itself, from the shared volume.
    with urllib.request.urlopen(f"{base}/static/admin/css/base.css", timeout=10) as r:
        assert r.status == 200 and r.headers["Content-Type"] == "text/css", r.headers
    group = f"compose-{uuid.uuid4().hex[:8]}"

    driver = chromium(procs, tmp)
    try:
        wait = WebDriverWait(driver, PAGE_TIMEOUT)
        driver.get(f"{base}/admin/")
        wait.until(EC.presence_of_element_located((By.ID, "id_username")))
        driver.find_element(By.ID, "id_username").send_keys(ADMIN)
        driver.find_element(By.ID, "id_password").send_keys(admin_password)
        driver.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
        wait.until(EC.title_contains("Site administration"))

        driver.get(f"{base}/admin/auth/group/add/")
        wait.until(EC.presence_of_element_located((By.ID, "id_name"))).send_keys(group)
        driver.find_element(By.CSS_SELECTOR, "input[name=_save]").click()
        wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "ul.messagelist")))
        assert group in driver.find_element(By.TAG_NAME, "body").text
        assert in_mariadb(stack, "SELECT name FROM auth_group").split() == [group]

        started = time.monotonic()
        run("restart", "-t", "10", stack.container("ferry"))
        podman.wait_healthy(stack.container("ferry"), timeout=120)
        print(f"\nferry container restarted and healthy again in {time.monotonic() - started:.1f} s")

        # The same browser, the same session cookie: still logged in, the group still there.
        driver.get(f"{base}/admin/auth/group/")
        wait.until(EC.presence_of_element_located((By.ID, "result_list")))
        assert "/admin/login/" not in driver.current_url, driver.current_url
        assert group in driver.find_element(By.ID, "result_list").text
    finally:
        driver.quit()
    assert in_mariadb(stack, "SELECT COUNT(*) FROM django_session").split() != ["0"]
    logs = run("logs", stack.container("ferry")).stdout
    assert "POST /admin/auth/group/add/" in logs, logs[-3000:]
