"""tests/check_layers.py, the structure check tests/run runs: it passes on src/ as it is,
and fails, naming the file and line, on a deliberate back-arrow or sideways include, a
library linking upwards, a file over 500 lines, a bare GIL call or private CPython API."""

import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CHECK = REPO / "tests" / "check_layers.py"


def run_check(src):
    return subprocess.run([sys.executable, str(CHECK), str(src)], capture_output=True, text=True, timeout=60)


def copy_of_src(tmp_path):
    src = tmp_path / "src"
    shutil.copytree(REPO / "src", src)
    return src


def test_the_tree_keeps_its_layers():
    result = run_check(REPO / "src")
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_wsgi_file_including_the_worker_fails(tmp_path):
    src = copy_of_src(tmp_path)
    handler = src / "wsgi" / "handler.cpp"
    lines = handler.read_text().splitlines()
    lines.insert(3, '#include "worker/exchange.hpp"')
    handler.write_text("\n".join(lines) + "\n")
    result = run_check(src)
    assert result.returncode == 1
    assert f"{handler}:4: src/wsgi/ includes worker/ (up:" in result.stdout


def test_protocol_including_config_is_sideways(tmp_path):
    src = copy_of_src(tmp_path)
    header = src / "protocol" / "cgi.hpp"
    header.write_text(header.read_text() + '#include "config/config.hpp"\n')
    result = run_check(src)
    assert result.returncode == 1
    assert "src/protocol/ includes config/ (sideways:" in result.stdout


def test_a_library_linking_upwards_fails(tmp_path):
    src = copy_of_src(tmp_path)
    build = src / "protocol" / "meson.build"
    build.write_text(build.read_text().replace("link_with : ferry_common", "link_with : [ferry_common, ferry_wsgi]"))
    result = run_check(src)
    assert result.returncode == 1
    assert "ferry_protocol links ferry_wsgi, which is not below it" in result.stdout


def test_a_long_file_a_bare_gil_call_and_private_api_fail(tmp_path):
    src = copy_of_src(tmp_path)
    (src / "common" / "long.cpp").write_text("// filler\n" * 501)
    environ = src / "wsgi" / "environ.cpp"
    environ.write_text(environ.read_text() + "static void f() { PyEval_SaveThread(); _PyDict_NewPresized(3); }\n")
    result = run_check(src)
    assert result.returncode == 1
    assert "long.cpp: 501 lines, over 500" in result.stdout
    assert "environ.cpp" in result.stdout and "touches the GIL directly" in result.stdout
    assert "_PyDict_NewPresized is private CPython API" in result.stdout
