"""FERRY_<OPTION> environment variables, with the real binary: they configure ferry alone,
adjust the ini named by FERRY_INI, yield to the command line, and a misspelt one stops
ferry with the right spelling."""

import signal

from conftest import APPS, basic_ini, read_text, ready_worker_pids, uwsgi_get, wait_until

EXIT_CONFIG = 2


def ready_workers(f, log, count):
    return wait_until(lambda: len(ready_worker_pids(read_text(log))) >= count and
                      ready_worker_pids(read_text(log)), 15, message=f"{count} workers ready in {log}")


def test_variables_alone_configure_ferry(ferry, tmp):
    sock, log = tmp / "env.sock", tmp / "ferry.log"
    env = {"FERRY_SOCKET": str(sock), "FERRY_PYTHONPATH": str(APPS), "FERRY_MODULE": "testapp",
           "FERRY_PROCESSES": "3", "FERRY_LOGGER": f"file:{log}",
           "FERRY_ENV": "FROM_FERRY_ENV=literal $(HOME) %d"}
    f = ferry(None, args=[], env=env, sockets=[sock], log=log)
    r = uwsgi_get(sock, "/osenv")
    assert r.status == 200, r.raw[:300]
    # The value arrives as the shell set it: no $(...) or %d expansion on top.
    assert r.json()["FROM_FERRY_ENV"] == "literal $(HOME) %d"
    ready_workers(f, log, 3)
    assert len(ready_worker_pids(read_text(log))) == 3, read_text(log)
    # The test runner's own FERRY_BIN (and FERRY_IT_TAG) are not options: no warning.
    assert "warning" not in f.stderr, f.stderr
    assert f.stop() == 0, f.diagnostics()


def test_variables_adjust_ferry_ini_and_the_command_line_wins(ferry, tmp):
    ini = tmp / "app.ini"
    ini.write_text(basic_ini(tmp, processes=1))
    sock, log = tmp / "s.sock", tmp / "ferry.log"
    f = ferry(None, args=["--processes", "2"], env={"FERRY_INI": str(ini), "FERRY_PROCESSES": "4",
                                                    "FERRY_DISABLE_LOGGING": "true"},
              sockets=[sock], log=log)
    assert uwsgi_get(sock, "/").status == 200
    ready_workers(f, log, 2)
    assert len(ready_worker_pids(read_text(log))) == 2, read_text(log)
    assert f.request_lines() == [], "FERRY_DISABLE_LOGGING=true did not switch request lines off"
    assert f.stop() == 0, f.diagnostics()


def test_an_ini_argument_replaces_ferry_ini(ferry, tmp):
    ini = tmp / "app.ini"
    ini.write_text(basic_ini(tmp))
    f = ferry(None, args=[ini], env={"FERRY_INI": str(tmp / "image-default.ini")},
              sockets=[tmp / "s.sock"], log=tmp / "ferry.log")
    assert uwsgi_get(tmp / "s.sock", "/").status == 200
    assert f.stop() == 0, f.diagnostics()


def test_a_misspelt_variable_stops_ferry_with_the_right_name(ferry, tmp):
    ini = tmp / "app.ini"
    ini.write_text(basic_ini(tmp))
    f = ferry(None, args=[ini], env={"FERRY_PROCESES": "4"}, start=False)
    f.run_to_exit()
    assert f.returncode == EXIT_CONFIG, f.diagnostics()
    assert "environment variable FERRY_PROCESES" in f.stderr, f.stderr
    assert "did you mean FERRY_PROCESSES?" in f.stderr, f.stderr


def test_a_foreign_variable_is_a_warning_and_an_empty_one_is_unset(ferry, tmp):
    ini = tmp / "app.ini"
    ini.write_text(basic_ini(tmp))
    f = ferry(None, args=[], env={"FERRY_INI": str(ini), "FERRY_FAVOURITE_COLOUR": "blue",
                                  "FERRY_PROCESSES": ""},
              sockets=[tmp / "s.sock"], log=tmp / "ferry.log")
    assert uwsgi_get(tmp / "s.sock", "/").status == 200
    assert "FERRY_FAVOURITE_COLOUR: not an option" in f.stderr, f.stderr
    assert f.stop() == 0, f.diagnostics()


def test_no_arguments_and_no_variables_prints_the_usage(ferry, tmp):
    f = ferry(None, args=[], start=False)
    f.run_to_exit()
    assert f.returncode == EXIT_CONFIG, f.diagnostics()
    assert "usage: ferry" in f.stderr and "FERRY_<OPTION>" in f.stderr, f.stderr


def test_a_reload_reads_the_same_variables(ferry, tmp):
    sock, log = tmp / "env.sock", tmp / "ferry.log"
    env = {"FERRY_SOCKET": str(sock), "FERRY_PYTHONPATH": str(APPS), "FERRY_MODULE": "testapp",
           "FERRY_PROCESSES": "2", "FERRY_LOGGER": f"file:{log}"}
    f = ferry(None, args=[], env=env, sockets=[sock], log=log)
    first = ready_workers(f, log, 2)
    f.proc.send_signal(signal.SIGHUP)
    # Without the variables the reload would find no app and keep the old workers.
    ready_workers(f, log, 4)
    assert "reload aborted" not in read_text(log), read_text(log)
    assert len(ready_worker_pids(read_text(log)) - first) == 2, read_text(log)
    assert uwsgi_get(sock, "/").status == 200
    assert f.stop() == 0, f.diagnostics()
