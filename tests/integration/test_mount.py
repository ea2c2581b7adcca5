"""mount = /prefix=app and manage-script-name: several apps in one worker."""

import json

from conftest import APPS, basic_ini, http_request, nginx_vars, parse_http_response, uwsgi_request

MOUNTS = APPS / "mounts"


def mount_ini(tmp, *extra, main=True):
    lines = [f"pythonpath = {MOUNTS}", "mount = /api=echo_paths:api",
             f"mount = /api/v2/deep={MOUNTS}/echo_paths.py:deep", *extra]
    ini = basic_ini(tmp, *lines, processes=1, module="echo_paths:main")
    return ini if main else ini.replace("module = echo_paths:main\n", "")


def ask(tmp, path, script_name=None):
    vars_ = nginx_vars(path)
    if script_name is not None:
        vars_.append(("SCRIPT_NAME", script_name))
    r = parse_http_response(uwsgi_request(tmp / "s.sock", vars_))
    return r.status, (json.loads(r.body) if r.status == 200 else r.body)


def test_manage_script_name_picks_the_longest_prefix(ferry, tmp):
    f = ferry(mount_ini(tmp, "manage-script-name = true"))
    assert ask(tmp, "/") == (200, {"app": "main", "script_name": "", "path_info": "/"})
    assert ask(tmp, "/api") == (200, {"app": "api", "script_name": "/api", "path_info": ""})
    assert ask(tmp, "/api/users/7") == (200, {"app": "api", "script_name": "/api", "path_info": "/users/7"})
    # A prefix matches whole path segments only.
    assert ask(tmp, "/apix") == (200, {"app": "main", "script_name": "", "path_info": "/apix"})
    assert ask(tmp, "/api/v2/deep/x") == (200, {"app": "deep", "script_name": "/api/v2/deep", "path_info": "/x"})
    # The request log names the app that served each request (0 = main, then the mounts).
    for app_id in (0, 1, 2):
        f.wait_log(rf"^\[pid: \d+\|app: {app_id}\|")


def test_without_manage_script_name_nginx_script_name_picks_the_app(ferry, tmp):
    ferry(mount_ini(tmp))
    # PATH_INFO is left alone; SCRIPT_NAME is whatever nginx sent.
    assert ask(tmp, "/users", script_name="/api") == (200, {"app": "api", "script_name": "/api", "path_info": "/users"})
    assert ask(tmp, "/api/users") == (200, {"app": "main", "script_name": "", "path_info": "/api/users"})


def test_no_main_app_answers_404_outside_the_mounts(ferry, tmp):
    f = ferry(mount_ini(tmp, "manage-script-name = true", main=False))
    assert ask(tmp, "/api/x")[0] == 200
    status, _ = ask(tmp, "/elsewhere")
    assert status == 404
    f.wait_log(r"no app is mounted for GET /elsewhere")


def test_mounts_through_nginx(ferry, nginx, tmp):
    ferry(mount_ini(tmp, "manage-script-name = true"))
    ng = nginx(tmp / "s.sock")
    status, _, body = http_request(ng.port, "GET", "/api/v2/deep/a%20b?q=1")
    assert status == 200
    assert json.loads(body) == {"app": "deep", "script_name": "/api/v2/deep", "path_info": "/a b"}


def test_two_apps_on_one_mountpoint_is_a_config_error(ferry, tmp):
    f = ferry(mount_ini(tmp, "mount = /api=echo_paths:main"), start=False)
    assert f.run_to_exit() == 2
    assert "two apps are mounted at '/api'" in f.stderr
