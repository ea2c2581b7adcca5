"""A worker (or the preloading master) that fails before it is ready: exit code 4 when the
app itself does not import, 6 when the worker cannot get ready around it (chdir, limit-as,
static-map, stack dumps), and the master's own line quotes the reason, so the log's last
lines name the cause without scrolling back to a traceback (there may be none)."""

import os
import re
import signal

from conftest import basic_ini, uwsgi_get

EXIT_APP_LOAD = 4
EXIT_WORKER_BOOT = 6

SWITCHABLE = '''
import os
if os.path.exists(os.path.join(os.path.dirname(__file__), "broken")):
    raise RuntimeError("broken on purpose")
def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]
'''


def app_ini(tmp, source, *extra, name="bootapp", processes=2):
    (tmp / f"{name}.py").write_text(source)
    return basic_ini(tmp, f"pythonpath = {tmp}", *extra, module=name, processes=processes)


def test_a_missing_module_exits_4_and_the_master_quotes_the_exception(ferry, tmp):
    f = ferry(app_ini(tmp, "import nope_not_installed_7c1\n"), start=False)
    assert f.run_to_exit(timeout=20) == EXIT_APP_LOAD, f.diagnostics()
    log = f.log_text()
    assert re.search(r"worker \d \(pid \d+\) could not load the app: ModuleNotFoundError: No module named "
                     r"'nope_not_installed_7c1'; stopping ferry$", log, re.M), f.diagnostics()
    assert "see the traceback" not in log
    assert "ferry stopped with exit code 4" in log
    assert "ModuleNotFoundError" in f.stderr  # repeated on the terminal: the log is a file


def test_a_custom_exception_with_a_multi_line_message_is_quoted_by_its_first_line(ferry, tmp):
    source = ('class BootError(Exception):\n    pass\n\n'
              'raise BootError("database unreachable\\nhost: db1\\nport: 3306")\n')
    f = ferry(app_ini(tmp, source, processes=1), start=False)
    assert f.run_to_exit(timeout=20) == EXIT_APP_LOAD, f.diagnostics()
    log = f.log_text()
    assert re.search(r"worker 1 \(pid \d+\) could not load the app: bootapp\.BootError: database unreachable "
                     r"\(\+2 more lines in the log\); stopping ferry$", log, re.M), f.diagnostics()
    assert "host: db1\nport: 3306\n" in log  # the whole message is in the traceback above


def test_a_missing_chdir_exits_6_quoting_the_workers_error(ferry, tmp):
    f = ferry(basic_ini(tmp, f"chdir = {tmp}/nope", processes=1), start=False)
    assert f.run_to_exit(timeout=20) == EXIT_WORKER_BOOT, f.diagnostics()
    log = f.log_text()
    assert re.search(rf"worker 1 \(pid \d+\) failed to start: chdir = {tmp}/nope: No such file or directory; "
                     r"fix the path; stopping ferry$", log, re.M), f.diagnostics()
    assert "could not load the app" not in log
    assert "ferry stopped with exit code 6" in log
    assert f"chdir = {tmp}/nope" in f.stderr


def test_a_static_map_to_a_missing_directory_exits_6(ferry, tmp):
    f = ferry(basic_ini(tmp, f"static-map = /static={tmp}/nope", processes=1), start=False)
    assert f.run_to_exit(timeout=20) == EXIT_WORKER_BOOT, f.diagnostics()
    assert re.search(r"worker 1 \(pid \d+\) failed to start: static-map: .*fix the directory; stopping ferry$",
                     f.log_text(), re.M), f.diagnostics()


def test_preload_with_a_failing_import_exits_4_quoting_the_exception(ferry, tmp):
    ini = app_ini(tmp, "import nope_not_installed_7c1\n", "preload = true", f"pidfile = {tmp}/f.pid",
                  "vacuum = true")
    f = ferry(ini, start=False)
    assert f.run_to_exit(timeout=20) == EXIT_APP_LOAD, f.diagnostics()
    quote = "ModuleNotFoundError: No module named 'nope_not_installed_7c1'"
    log = f.log_text()
    assert f"ferry: the app could not be imported in the master (preload): {quote}; stopping ferry\n" in log, \
        f.diagnostics()
    assert log.count(quote) >= 2  # CPython's report, then the master's line
    assert f"failed to import in the master (preload): {quote}; the traceback is in" in f.stderr
    assert not (tmp / "s.sock").exists() and not (tmp / "f.pid").exists()


def test_a_failed_reload_quotes_the_new_workers_exception(ferry, tmp):
    f = ferry(app_ini(tmp, SWITCHABLE))
    old = set(f.wait_workers(2))
    (tmp / "broken").write_text("")
    after = f.log_offset()
    os.kill(f.pid, signal.SIGHUP)
    f.wait_log(r"reload failed: worker \d \(pid \d+\) could not load the app: RuntimeError: broken on purpose; "
               r"the old workers keep serving$", timeout=30, after=after)
    assert set(f.wait_workers(2)) == old
    assert uwsgi_get(tmp / "s.sock").body == b"ok"


def test_a_chain_reload_stopped_by_a_bad_chdir_quotes_it(ferry, tmp):
    ini = app_ini(tmp, SWITCHABLE)
    f = ferry(ini)
    old = set(f.wait_workers(2))
    f.ini_path.write_text(ini + f"chdir = {tmp}/gone\n")
    after = f.log_offset()
    os.kill(f.pid, signal.SIGUSR2)
    f.wait_log(rf"chain reload stopped: worker 1 \(pid \d+\) failed to start: chdir = {tmp}/gone: No such file "
               r"or directory; fix the path; the workers not yet replaced keep serving the old code$",
               timeout=30, after=after)
    assert set(f.wait_workers(2)) == old
    assert uwsgi_get(tmp / "s.sock").body == b"ok"


def test_a_failed_preload_reload_quotes_the_new_masters_exception(ferry, tmp):
    f = ferry(app_ini(tmp, SWITCHABLE, "preload = true", f"pidfile = {tmp}/f.pid"))
    old = set(f.wait_workers(2))
    (tmp / "broken").write_text("")
    after = f.log_offset()
    os.kill(f.pid, signal.SIGHUP)
    f.wait_log(r"reload failed: the app did not import: RuntimeError: broken on purpose; the 2 workers of "
               r"generation \d+ keep serving the old code", timeout=30, after=after)
    assert set(f.wait_workers(2)) == old
    assert uwsgi_get(tmp / "s.sock").body == b"ok"
