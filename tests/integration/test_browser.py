"""A real browser: Debian's headless Chromium, driven by Debian's python3-selenium and
chromium-driver, logs into the Django admin through nginx -> ferry (the seed ini) and
keeps a screenshot of the dashboard in tests/integration/.artifacts/."""

import struct

from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from conftest import (ADMIN_PASSWORD, HERE, nginx_static_location, prepare_project,
                      start_seed_stack)
from fixtures.browser import PAGE_TIMEOUT, chromium

ARTIFACTS = HERE / ".artifacts"


def png_size(path):
    """(width, height) from a PNG's IHDR chunk."""
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR", head
    return struct.unpack(">II", head[16:24])


def test_browser_logs_into_admin_and_sees_dashboard(procs, tmp):
    base, data = prepare_project(tmp, static=True)
    f, ng = start_seed_stack(procs, tmp, base, data,
                             extra_server=nginx_static_location(data))
    shot = ARTIFACTS / "admin-dashboard.png"
    shot.unlink(missing_ok=True)
    ARTIFACTS.mkdir(exist_ok=True)

    driver = chromium(procs, tmp)
    try:
        wait = WebDriverWait(driver, PAGE_TIMEOUT)
        # The dashboard redirects an anonymous visitor to the login page.
        driver.get(f"http://127.0.0.1:{ng.port}/admin/")
        wait.until(EC.presence_of_element_located((By.ID, "id_username")))
        assert "/admin/login/" in driver.current_url, driver.current_url
        driver.find_element(By.ID, "id_username").send_keys("admin")
        driver.find_element(By.ID, "id_password").send_keys(ADMIN_PASSWORD)
        driver.find_element(By.CSS_SELECTOR, "input[type=submit]").click()

        wait.until(EC.title_contains("Site administration"))
        assert driver.current_url == f"http://127.0.0.1:{ng.port}/admin/", driver.current_url
        page = driver.find_element(By.TAG_NAME, "body").text
        assert "Site administration" in page, page
        assert "Notes" in page and "Users" in page, page
        assert "WELCOME, ADMIN" in page.upper(), page
        # The admin's stylesheet came through nginx: the header has its dark background.
        header = driver.find_element(By.ID, "header")
        assert header.value_of_css_property("background-color") != "rgba(0, 0, 0, 0)"
        assert driver.save_screenshot(str(shot))
    finally:
        driver.quit()

    assert shot.stat().st_size > 10_000, shot.stat()
    width, height = png_size(shot)  # the viewport of the 1280x900 window
    assert width == 1280 and 600 <= height <= 900, (width, height)
    f.wait_log(r"\] POST /admin/login/\?next=/admin/ => generated \d+ bytes in \d+ msecs "
               r"\(HTTP/1\.1 302\)")
    assert f.stop() == 0, f.diagnostics()
