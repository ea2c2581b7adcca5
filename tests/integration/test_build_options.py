"""meson's -Dpython picks the interpreter ferry embeds: its path and version reach the
build's config and its libpython the link line; a missing interpreter is refused at setup
with the fix."""

import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def meson_setup(tmp_path, *options):
    return subprocess.run(["meson", "setup", str(tmp_path / "b"), "-Dtests=disabled", *options], cwd=REPO,
                          capture_output=True, text=True, timeout=300)


def test_python_option_names_the_interpreter_and_its_library(tmp_path):
    result = meson_setup(tmp_path, "-Dpython=/usr/bin/python3.11")
    assert result.returncode == 0, result.stdout + result.stderr
    config = (tmp_path / "b" / "ferry_build_config.hpp").read_text()
    assert '#define FERRY_PYTHON_EXECUTABLE "/usr/bin/python3.11"' in config
    assert '#define FERRY_PYTHON_VERSION "3.11"' in config
    # The embed library meson found through that interpreter's own sysconfig.
    log = (tmp_path / "b" / "meson-logs" / "meson-log.txt").read_text()
    assert "python-3.11-embed" in log


def test_a_missing_interpreter_is_refused_with_the_fix(tmp_path):
    result = meson_setup(tmp_path, "-Dpython=/nonexistent/python3")
    assert result.returncode != 0
    assert "-Dpython=/nonexistent/python3: no such file" in result.stdout + result.stderr
