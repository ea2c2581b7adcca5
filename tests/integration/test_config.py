"""The command line and the ini dialect: forms, placeholders, errors and exit codes."""

import grp
import os
import pwd
import re
import socket
import subprocess

import pytest

from conftest import APPS, SEED_FIXED, basic_ini, free_port, uwsgi_get, wait_until

EXIT_CONFIG = 2
EXIT_STARTUP = 3
EXIT_APP_LOAD = 4

# Every option issue 2 requires, as `--help` must list it.
SUPPORTED_OPTIONS = [
    "ini", "home", "virtualenv", "chdir", "pythonpath", "module", "wsgi-file", "callable",
    "env", "socket", "chmod-socket", "master", "processes", "workers", "enable-threads",
    "pidfile", "vacuum", "logger", "logto", "daemonize", "disable-logging", "buffer-size",
    "listen", "help", "version",
]
ALIASES = {"workers": "processes", "virtualenv": "home"}


def osenv(sock):
    r = uwsgi_get(sock, "/osenv")
    assert r.status == 200, r.raw[:500]
    return r.json()


def cli(ferry, *args, timeout=15):
    """Runs ferry with args to its exit; returns the Ferry (rc in .returncode)."""
    f = ferry(None, args=args, start=False)
    f.run_to_exit(timeout)
    return f


# --------------------------------------------------------------------------------------
# --version, --help


def test_version_prints_name_and_semver(ferry):
    f = cli(ferry, "--version")
    assert f.returncode == 0, f.diagnostics()
    assert re.match(r"^ferry \d+\.\d+\.\d+\b", f.stdout), f.diagnostics()


def test_help_lists_every_option_one_line_each(ferry):
    f = cli(ferry, "--help")
    assert f.returncode == 0, f.diagnostics()
    lines = f.stdout.splitlines()
    missing = []
    for opt in SUPPORTED_OPTIONS:
        rx = re.compile(r"(?<![\w-])--" + re.escape(opt) + r"(?![\w-])")
        # The option must be the subject of a line, i.e. near its start...
        if any(rx.search(line[:40]) for line in lines):
            continue
        # ... or, for an alias, be named on its primary option's line ("(also workers)").
        if opt in ALIASES and any(re.search(rf"(?<![\w-]){re.escape(opt)}(?![\w-])", line)
                                  and re.search(rf"--{ALIASES[opt]}(?![\w-])", line)
                                  for line in lines):
            continue
        missing.append(opt)
    assert not missing, f"--help does not list {missing}:\n{f.stdout}"


# --------------------------------------------------------------------------------------
# Ways to give the configuration


@pytest.mark.parametrize("form", ["positional", "--ini", "--ini="])
def test_ini_file_forms_are_equivalent(ferry, tmp, form):
    ini = basic_ini(tmp)
    path = tmp / "app.ini"
    path.write_text(ini)
    args = {"positional": [path], "--ini": ["--ini", path], "--ini=": [f"--ini={path}"]}[form]
    ferry(None, args=args, sockets=[tmp / "s.sock"], log=tmp / "ferry.log")
    assert uwsgi_get(tmp / "s.sock").body == b"hello"


def test_every_key_works_as_a_flag_without_ini(ferry, tmp):
    sock, log = tmp / "s.sock", tmp / "ferry.log"
    f = ferry(None, args=["--socket", sock, f"--pythonpath={APPS}", "--module", "testapp",
                          "--master", "--processes=2", "--logto", log,
                          "--env", "FLAG_ENV=from-flag", "--chmod-socket", "660"])
    r = uwsgi_get(sock, "/osenv")
    assert r.status == 200
    assert r.json()["FLAG_ENV"] == "from-flag"
    f.wait_workers(2)
    assert (sock.stat().st_mode & 0o777) == 0o660
    wait_until(lambda: "ferry" in f.log_text(), 5, message="banner in the --logto file")


def test_later_flag_overrides_ini_value(ferry, tmp):
    f = ferry(basic_ini(tmp, processes=1), args=["--processes", "3"])
    f.wait_workers(3)


def test_later_ini_overrides_earlier_flag(ferry, tmp):
    path = tmp / "app.ini"
    path.write_text(basic_ini(tmp, processes=1))
    f = ferry(None, args=["--processes", "3", "--ini", path], sockets=[tmp / "s.sock"],
              log=tmp / "ferry.log")
    f.wait_workers(1)
    # The master's own count, not a quiet period: it started one worker, not three.
    assert len(re.findall(r"started worker \d", f.log_text())) == 1, f.log_text()
    assert re.search(r"starting: .*, 1 worker x 1 thread,", f.log_text()), f.log_text()


def test_repeated_key_last_one_wins_for_scalars(ferry, tmp):
    ini = basic_ini(tmp, processes=3) + "processes = 1\n"
    f = ferry(ini)
    f.wait_workers(1)
    assert len(re.findall(r"started worker \d", f.log_text())) == 1, f.log_text()
    assert re.search(r"starting: .*, 1 worker x 1 thread,", f.log_text()), f.log_text()


def test_list_options_accumulate(ferry, tmp):
    s1, s2, s3 = tmp / "a.sock", tmp / "b.sock", tmp / "c.sock"
    ini = f"""[uwsgi]
socket = {s1}
socket = {s2}
pythonpath = {tmp}/does-not-matter
pythonpath = {APPS}
module = testapp
env = FIRST=1
env = SECOND=2
master = true
processes = 1
logger = file:{tmp}/ferry.log
"""
    ferry(ini, args=["--socket", s3, "--env", "THIRD=3"])
    for s in (s1, s2, s3):
        env = osenv(s)
        assert (env["FIRST"], env["SECOND"], env["THIRD"]) == ("1", "2", "3")
    cwd = uwsgi_get(s1, "/cwd").json()
    assert str(APPS) in cwd["sys_path"] and f"{tmp}/does-not-matter" in cwd["sys_path"]


def test_section_selection_with_colon(ferry, tmp):
    ini = f"""[uwsgi]
socket = {tmp}/wrong.sock
pythonpath = {APPS}
module = testapp

[other]
socket = {tmp}/right.sock
pythonpath = {APPS}
module = testapp
env = SECTION=other
processes = 1
logger = file:{tmp}/ferry.log
"""
    ferry(ini, ini_name="app.ini:other", sockets=[tmp / "right.sock"])
    assert osenv(tmp / "right.sock")["SECTION"] == "other"
    assert not (tmp / "wrong.sock").exists()


def test_placeholders_env_and_magic_variables(ferry, tmp):
    ini = f"""[uwsgi]
base = {tmp}
sockname = s.sock
socket = %(base)/%(sockname)
pythonpath = {APPS}
module = testapp
master = true
processes = 1
logger = file:%(base)/ferry.log
env = BASE=%(base)/x
env = DIR=%d
env = NAME=%n
env = FULL=%p
env = FROM_ENV=$(FERRY_T_VALUE)
"""
    ferry(ini, ini_name="myconf.ini", env={"FERRY_T_VALUE": "hello-env"},
          sockets=[tmp / "s.sock"], log=tmp / "ferry.log")
    env = osenv(tmp / "s.sock")
    assert env["BASE"] == f"{tmp}/x"
    assert env["DIR"] == f"{tmp}/"
    assert env["NAME"] == "myconf"
    assert env["FULL"] == f"{tmp}/myconf.ini"
    assert env["FROM_ENV"] == "hello-env"
    assert (tmp / "ferry.log").exists()


@pytest.mark.parametrize("how", ["absolute", "relative to %d"])
def test_include_another_ini(ferry, tmp, how):
    sub = tmp / "sub"
    sub.mkdir()
    (sub / "common.ini").write_text(f"""[uwsgi]
pythonpath = {APPS}
module = testapp
env = INCLUDED=yes
env = INC_DIR=%d
""")
    ini = f"""[uwsgi]
socket = {tmp}/s.sock
ini = {sub if how == "absolute" else "%d" + "sub"}/common.ini
processes = 1
master = true
logger = file:{tmp}/ferry.log
"""
    ferry(ini)
    env = osenv(tmp / "s.sock")
    assert env["INCLUDED"] == "yes"
    assert env["INC_DIR"] == f"{sub}/", "%d in an included file is that file's directory"


def test_bare_keys_are_true(ferry, tmp):
    ini = f"""[uwsgi]
socket = {tmp}/s.sock
pythonpath = {APPS}
module = testapp
processes = 2
master
vacuum
pidfile = {tmp}/f.pid
logger = file:{tmp}/ferry.log
"""
    f = ferry(ini)
    f.wait_workers(2)
    assert f.stop() == 0, f.diagnostics()
    assert not (tmp / "s.sock").exists(), "bare `vacuum` must mean true"
    assert not (tmp / "f.pid").exists()


@pytest.mark.parametrize("value,expected", [
    ("true", True), ("on", True), ("yes", True), ("1", True),
    ("false", False), ("off", False), ("no", False), ("0", False),
])
def test_boolean_spellings(ferry, tmp, value, expected):
    f = ferry(basic_ini(tmp, f"vacuum = {value}", processes=1))
    assert uwsgi_get(tmp / "s.sock").status == 200
    assert f.stop() == 0, f.diagnostics()
    assert (not (tmp / "s.sock").exists()) == expected


# --------------------------------------------------------------------------------------
# Inline comments, the seed's mistake, unknown keys, bad values


def test_inline_comments_are_stripped_with_one_warning(ferry, tmp):
    ini = f"""[uwsgi]
socket = {tmp}/s.sock #the socket
pythonpath = {APPS} ; where the apps are
module = testapp #프로젝트 경로
processes = 2 # two workers
master = true #마스터 프로세스 유무
env = CMT=value ;comment
env = HASH=a#b
logger = file:{tmp}/ferry.log # log파일 기록
"""
    f = ferry(ini, sockets=[tmp / "s.sock"], log=tmp / "ferry.log")
    env = osenv(tmp / "s.sock")
    assert env["CMT"] == "value"
    assert env["HASH"] == "a#b", "only ' #' / ' ;' start an inline comment"
    f.wait_workers(2)
    in_stderr = [l for l in f.stderr.splitlines() if "inline comment" in l.lower()]
    in_log = [l for l in f.log_lines() if "inline comment" in l.lower()]
    assert in_stderr or in_log, "no warning about inline comments\n" + f.diagnostics()
    assert len(in_stderr) <= 1 and len(in_log) <= 1, \
        f"expected ONE inline-comment warning, got {in_stderr + in_log}"


# The seed exactly as the user wrote it: home and chdir pasted onto line 3.
SEED = SEED_FIXED.replace("home = %(base)/venv\nchdir = %(base)", "home = %(base)/venv chdir = %(base)").replace(
    "env = FERRY_DEMO_DATA={data}\n", "")


def test_seed_as_written_fails_naming_line_3(ferry, tmp):
    f = ferry(SEED.format(base=tmp / "server_dev", tmp=tmp), start=False)
    rc = f.run_to_exit()
    assert rc == EXIT_CONFIG, f.diagnostics()
    err = f.stderr
    assert str(f.ini_path) in err, err
    assert re.search(r"\bline 3\b", err), err
    assert "chdir" in err, err
    assert not (tmp / "django.sock").exists()
    assert not (tmp / "django.pid").exists()


def test_unknown_key_did_you_mean(ferry, tmp):
    f = ferry(basic_ini(tmp, "procesess = 2"), start=False)
    assert f.run_to_exit() == EXIT_CONFIG, f.diagnostics()
    assert "did you mean 'processes'" in f.stderr, f.stderr
    assert "procesess" in f.stderr


def test_unknown_flag_did_you_mean(ferry, tmp):
    f = ferry(basic_ini(tmp), args=["--procesess", "2"], start=False)
    assert f.run_to_exit() == EXIT_CONFIG, f.diagnostics()
    assert re.search(r"did you mean '(--)?processes'", f.stderr), f.stderr


@pytest.mark.parametrize("line,needle", [
    ("processes = abc", "processes"),
    ("processes = -2", "processes"),
    ("master = maybe", "master"),
    ("chmod-socket = 999", "chmod-socket"),
    ("buffer-size = lots", "buffer-size"),
    ("listen = many", "listen"),
])
def test_bad_value_is_a_config_error(ferry, tmp, line, needle):
    f = ferry(basic_ini(tmp, line), start=False)
    assert f.run_to_exit() == EXIT_CONFIG, f.diagnostics()
    assert needle in f.stderr, f.stderr
    assert not (tmp / "s.sock").exists()


def test_malformed_section_header_is_a_config_error(ferry, tmp):
    ini = basic_ini(tmp).replace("[uwsgi]", "[uwsgi")
    f = ferry(ini, start=False)
    assert f.run_to_exit() == EXIT_CONFIG, f.diagnostics()
    assert re.search(r"\bline 1\b", f.stderr), f.stderr


def test_missing_ini_file_is_a_config_error(ferry, tmp):
    f = cli(ferry, str(tmp / "nope.ini"))
    assert f.returncode == EXIT_CONFIG, f.diagnostics()
    assert "nope.ini" in f.stderr


def test_missing_section_is_a_config_error(ferry, tmp):
    f = ferry(basic_ini(tmp), ini_name="app.ini:nosuch", start=False)
    assert f.run_to_exit() == EXIT_CONFIG, f.diagnostics()
    assert "nosuch" in f.stderr


def test_meaningless_uwsgi_options_only_warn(ferry, tmp):
    names = ["plugins", "plugin", "single-interpreter", "thunder-lock", "die-on-term"]
    ini = basic_ini(tmp, "plugins = python3", "plugin = python3", "single-interpreter = true",
                    "thunder-lock = true", "die-on-term = true")
    f = ferry(ini)
    assert uwsgi_get(tmp / "s.sock").body == b"hello"
    lines = f.stderr.splitlines()
    for name in names:
        rx = re.compile(r"(?<![\w-])" + re.escape(name) + r"(?![\w-])")
        assert any(rx.search(l) for l in lines), f"no warning naming {name}:\n{f.stderr}"


# --------------------------------------------------------------------------------------
# Startup failures (exit 3) and app load failures (exit 4)


def test_unix_socket_bind_failure_exits_3(ferry, tmp):
    ini = basic_ini(tmp).replace(f"socket = {tmp}/s.sock", f"socket = {tmp}/no/such/dir/s.sock")
    f = ferry(ini, start=False)
    assert f.run_to_exit() == EXIT_STARTUP, f.diagnostics()
    assert f"{tmp}/no/such/dir/s.sock" in f.stderr + f.log_text()


def test_tcp_port_in_use_exits_3(ferry, tmp):
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    port = holder.getsockname()[1]
    try:
        ini = basic_ini(tmp).replace(f"socket = {tmp}/s.sock", f"socket = 127.0.0.1:{port}")
        f = ferry(ini, start=False)
        assert f.run_to_exit() == EXIT_STARTUP, f.diagnostics()
        assert f"127.0.0.1:{port}" in f.stderr + f.log_text()
    finally:
        holder.close()


def test_pidfile_held_by_running_ferry_exits_3(ferry, tmp):
    first = ferry(basic_ini(tmp, f"pidfile = {tmp}/f.pid"))
    wait_until(lambda: (tmp / "f.pid").exists(), 5, message="pidfile")
    second_dir = tmp / "second"
    second_dir.mkdir()
    second = ferry(basic_ini(second_dir, f"pidfile = {tmp}/f.pid"), workdir=second_dir,
                   start=False)
    assert second.run_to_exit() == EXIT_STARTUP, second.diagnostics()
    assert str(first.pid) in second.stderr or "f.pid" in second.stderr, second.stderr
    assert first.running()
    assert (tmp / "f.pid").read_text().split()[0] == str(first.pid)
    assert uwsgi_get(tmp / "s.sock").status == 200
    assert not (second_dir / "s.sock").exists()


def test_stale_pidfile_is_replaced(ferry, tmp):
    dead = subprocess.Popen(["true"])
    dead.wait()
    (tmp / "f.pid").write_text(f"{dead.pid}\n")
    f = ferry(basic_ini(tmp, f"pidfile = {tmp}/f.pid"))
    wait_until(lambda: (tmp / "f.pid").read_text().split()[0] == str(f.pid), 5,
               message="pidfile rewritten with the master pid")


@pytest.mark.parametrize("module,needles", [
    ("badimport", ["Traceback", "import failure marker 7f3a", "_helper_that_fails"]),
    ("does_not_exist_mod", ["does_not_exist_mod"]),
    ("callables", ["application"]),  # module imports, default callable missing
    ("callables:nope", ["nope"]),
])
def test_app_load_failure_exits_4(ferry, tmp, module, needles):
    f = ferry(basic_ini(tmp, module=module), start=False)
    rc = f.run_to_exit(timeout=20)
    assert rc == EXIT_APP_LOAD, f.diagnostics()
    for needle in needles:
        assert needle in f.stderr, f"{needle!r} not on stderr\n" + f.diagnostics()
        assert needle in f.log_text(), f"{needle!r} not in the log\n" + f.diagnostics()


# Other keys real uWSGI ini files use (FIELD-NOTES): each must either work (ferry starts
# and serves) or be refused at start with exit 2 and a message naming it. Never a crash,
# a hang or another exit code.
OTHER_UWSGI_KEYS = [
    "threads = 2", "harakiri = 30", "max-requests = 100", "static-map = /static=/tmp",
    "http = 127.0.0.1:{port}", "http-socket = 127.0.0.1:{port}", "socket-timeout = 10",
    "post-buffering = 8192", "memory-report = true", "log-maxsize = 1000000",
    "touch-reload = {tmp}/app.ini", "py-autoreload = 1", "offload-threads = 2",
    "lazy-apps = true", "cheaper = 1", "auto-procname = true", "umask = 022",
    "reload-mercy = 5", "no-orphans = true", "need-app = true", "log-reopen = true",
    "stats = 127.0.0.1:{port}", "harakiri-verbose = true", "chown-socket = {user}:{group}",
    "uid = {user}", "gid = {group}", "limit-as = 4096", "reload-on-rss = 512",
]


@pytest.mark.parametrize("line", OTHER_UWSGI_KEYS, ids=lambda l: l.split(" =")[0])
def test_other_uwsgi_keys_work_or_are_refused_clearly(ferry, tmp, line):
    key = line.split(" =")[0]
    line = line.format(port=free_port(), tmp=tmp, user=pwd.getpwuid(os.getuid()).pw_name,
                       group=grp.getgrgid(os.getgid()).gr_name)
    f = ferry(basic_ini(tmp, line, processes=2), start=False)
    f.start(wait=False)
    wait_until(lambda: f.returncode is not None or (tmp / "s.sock").exists(), 15,
               message="ferry to start or exit")
    if f.returncode is None:
        f.wait_ready()
        r = uwsgi_get(tmp / "s.sock")
        assert (r.status, r.body) == (200, b"hello"), r.raw[:500]
        assert f.stop() == 0, f.diagnostics()
    else:
        assert f.returncode == EXIT_CONFIG, f.diagnostics()
        assert key in f.stderr, f.diagnostics()


def test_unwritable_pidfile_exits_3_and_leaves_nothing(ferry, tmp):
    f = ferry(basic_ini(tmp, f"pidfile = {tmp}/no/such/dir/f.pid", "vacuum = true"),
              start=False)
    assert f.run_to_exit() == EXIT_STARTUP, f.diagnostics()
    assert f"{tmp}/no/such/dir/f.pid" in f.stderr + f.log_text()
    assert not (tmp / "s.sock").exists(), "a failed start must not leave its socket behind"


def test_stale_socket_file_is_replaced(ferry, tmp):
    """A socket file left by a ferry that was SIGKILLed: nobody listens on it."""
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(tmp / "s.sock"))
    stale.close()
    assert (tmp / "s.sock").exists()
    ferry(basic_ini(tmp))
    assert uwsgi_get(tmp / "s.sock").body == b"hello"


def test_live_socket_of_another_server_is_not_stolen(ferry, tmp):
    other = socket.socket(socket.AF_UNIX)
    other.bind(str(tmp / "s.sock"))
    other.listen(5)
    try:
        inode = (tmp / "s.sock").stat().st_ino
        f = ferry(basic_ini(tmp), start=False)
        assert f.run_to_exit() == EXIT_STARTUP, f.diagnostics()
        assert f"{tmp}/s.sock" in f.stderr + f.log_text()
        assert (tmp / "s.sock").stat().st_ino == inode, "the other server's socket was replaced"
    finally:
        other.close()
