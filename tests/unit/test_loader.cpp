// src/config/loader.cpp: command line + ini files (+ the files they include) -> Config.

#include "config/loader.hpp"

#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <initializer_list>

using namespace ferry::config;
namespace fs = std::filesystem;

namespace {

// A fresh directory under the system temp dir, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "ferry-test-XXXXXX").string();
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  // Writes `text` to `name` inside the directory; returns its path.
  std::string write(const std::string& name, const std::string& text) const {
    const fs::path file = path_ / name;
    std::ofstream(file, std::ios::binary) << text;
    return file.string();
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// The [uwsgi] lines every loadable config needs, for tests about something else.
const std::string kMinimal = "[uwsgi]\nsocket = /tmp/app.sock\nmodule = app:application\n";

Loaded load_args(std::initializer_list<std::string> args) {
  const std::vector<std::string> arguments(args);
  return load(arguments);
}

ConfigError error_of(std::initializer_list<std::string> args) {
  try {
    load_args(args);
  } catch (const ConfigError& e) {
    return e;
  }
  FAIL("expected a ConfigError");
  throw;  // not reached
}

bool contains(const std::string& text, std::string_view part) { return text.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("a minimal ini file") {
  TempDir dir;
  const auto ini = dir.write("app.ini", kMinimal);
  const auto loaded = load_args({ini});
  const Config& c = loaded.config;
  REQUIRE(c.sockets.size() == 1);
  CHECK(c.sockets[0].address == "/tmp/app.sock");
  CHECK(c.sockets[0].where.file == ini);
  CHECK(c.sockets[0].where.line == 2);
  CHECK(c.module == "app");
  CHECK(c.callable == "application");
  CHECK(c.ini_files == std::vector<std::string>{ini});
  CHECK(c.arguments == std::vector<std::string>{ini});
  CHECK(loaded.warnings.empty());
}

TEST_CASE("%(key) expands an earlier key, including a custom one such as base") {
  TempDir dir;
  const auto ini = dir.write("app.ini", kMinimal +
                                            "base = /home/ubuntu/server_dev\n"
                                            "home = %(base)/venv\n"
                                            "chdir = %(base)\n"
                                            "pidfile = %(socket).pid\n");
  const auto c = load_args({ini}).config;
  CHECK(c.home == "/home/ubuntu/server_dev/venv");
  CHECK(c.chdir == "/home/ubuntu/server_dev");
  CHECK(c.pidfile == "/tmp/app.sock.pid");
}

TEST_CASE("%(key) before the key is set is an error on that line") {
  TempDir dir;
  const auto ini = dir.write("app.ini", kMinimal + "chdir = %(base)\nbase = /srv\n");
  const auto error = error_of({ini});
  CHECK(error.where().line == 4);
  CHECK(contains(error.what(), "%(base) refers to a key that is not set before this line"));
}

TEST_CASE("set-placeholder defines a placeholder that is not an option") {
  TempDir dir;
  const auto ini = dir.write("app.ini", kMinimal + "set-placeholder = root=/srv\nchdir = %(root)/app\n");
  CHECK(load_args({ini}).config.chdir == "/srv/app");
}

TEST_CASE("$(ENV) expands a set variable; an unset one is an error") {
  TempDir dir;
  const auto ini = dir.write("app.ini", kMinimal + "chdir = $(FERRY_TEST_APP_DIR)/x\n");
  ::setenv("FERRY_TEST_APP_DIR", "/srv/app", 1);
  CHECK(load_args({ini}).config.chdir == "/srv/app/x");

  ::unsetenv("FERRY_TEST_APP_DIR");
  const auto error = error_of({ini});
  CHECK(error.where().line == 4);
  CHECK(contains(error.what(), "export FERRY_TEST_APP_DIR"));
}

TEST_CASE("%d, %n, %p and %% name the ini file") {
  TempDir dir;
  const auto ini = dir.write("site.ini", kMinimal +
                                             "chdir = %d\n"
                                             "pidfile = /run/%n.pid\n"
                                             "logto = %p.log\n"
                                             "env = PERCENT=100%%\n");
  const auto c = load_args({ini}).config;
  const fs::path absolute = fs::absolute(ini).lexically_normal();
  CHECK(c.chdir == absolute.parent_path().string() + "/");
  CHECK(c.pidfile == "/run/site.pid");
  CHECK(c.logfile == absolute.string() + ".log");
  CHECK(c.env[0].second == "100%");
}

TEST_CASE("an unknown %x is an error") {
  TempDir dir;
  const auto ini = dir.write("app.ini", kMinimal + "chdir = /srv/%q\n");
  CHECK(contains(error_of({ini}).what(), "unknown magic variable '%q'"));
}

TEST_CASE("ini = includes another file in place") {
  TempDir dir;
  dir.write("common.ini", "[uwsgi]\nprocesses = 3\nsocket = /tmp/common.sock\n");
  const auto ini = dir.write("app.ini", "[uwsgi]\nprocesses = 2\nini = %dcommon.ini\nmodule = app\n");
  const auto c = load_args({ini}).config;
  CHECK(c.processes == 3);  // the include comes later than `processes = 2`
  REQUIRE(c.sockets.size() == 1);
  CHECK(c.sockets[0].where.file == (dir.path() / "common.ini").string());
  CHECK(c.ini_files.size() == 2);
}

TEST_CASE("an ini file that includes itself stops with an error") {
  TempDir dir;
  const auto ini = dir.write("loop.ini", "[uwsgi]\nini = %p\n");
  CHECK(contains(error_of({ini}).what(), "include each other more than 16 levels deep"));
}

TEST_CASE("file.ini:section reads that section") {
  TempDir dir;
  const auto ini = dir.write("app.ini", kMinimal + "processes = 2\n[staging]\nsocket = /tmp/s.sock\nmodule = st\n");
  const auto c = load_args({ini + ":staging"}).config;
  CHECK(c.module == "st");
  CHECK(c.processes == 1);

  const auto error = error_of({ini + ":production"});
  CHECK(error.where().file == "");
  CHECK(contains(error.what(), "has no [production] section"));
}

TEST_CASE("a missing ini file is an error naming it") {
  CHECK(contains(error_of({"/nonexistent/app.ini"}).what(), "cannot read ini file '/nonexistent/app.ini'"));
}

TEST_CASE("an unknown key in an ini file: error with a did-you-mean hint") {
  TempDir dir;
  const auto ini = dir.write("app.ini", kMinimal + "procesess = 4\n");
  const auto error = error_of({ini});
  CHECK(error.where().file == ini);
  CHECK(error.where().line == 4);
  CHECK(contains(error.what(), "unknown option 'procesess'; did you mean 'processes'?"));
}

TEST_CASE("an unknown --flag: error with a did-you-mean hint") {
  const auto error = error_of({"--socket", "/tmp/a.sock", "--module", "app", "--procesess", "4"});
  CHECK(error.where().file == "");
  CHECK(contains(error.what(), "command line: unknown option '--procesess'; did you mean '--processes'?"));
}

TEST_CASE("a custom key nothing refers to is an unknown option") {
  TempDir dir;
  const auto ini = dir.write("app.ini", kMinimal + "base = /srv/app\n");
  const auto error = error_of({ini});
  CHECK(error.where().line == 4);
  CHECK(contains(error.what(), "unknown option 'base'"));
  CHECK(contains(error.what(), "%(base)"));
}

TEST_CASE("a meaningless uWSGI option is a warning, not an error") {
  TempDir dir;
  const auto ini = dir.write("app.ini", kMinimal + "plugins = python3\n");
  const auto loaded = load_args({ini});
  REQUIRE(loaded.warnings.size() == 1);
  CHECK(contains(loaded.warnings[0], ini + ", line 4: 'plugins' is a uWSGI option ferry does not need"));
}

TEST_CASE("an unsupported uWSGI option is an error") {
  TempDir dir;
  const auto ini = dir.write("app.ini", kMinimal + "cheaper = 1\n");
  const auto error = error_of({ini});
  CHECK(error.where().line == 4);
  CHECK(contains(error.what(), "'cheaper' is not supported by ferry"));
}

TEST_CASE("stats: a Unix path or host:port, also as stats-server; stats-http and stats-minified") {
  TempDir dir;
  auto loaded = load_args({dir.write("app.ini", kMinimal + "stats = 127.0.0.1:9191\nstats-http = true\n")});
  REQUIRE(loaded.config.stats);
  CHECK(loaded.config.stats->address == "127.0.0.1:9191");
  CHECK(loaded.config.stats_http);
  CHECK_FALSE(loaded.config.stats_minified);
  loaded = load_args({dir.write("b.ini", kMinimal + "stats-server = /run/app/stats.sock\nstats-minified\n")});
  REQUIRE(loaded.config.stats);
  CHECK(loaded.config.stats->address == "/run/app/stats.sock");
  CHECK(loaded.config.stats_minified);
  CHECK_FALSE(load_args({dir.write("c.ini", kMinimal)}).config.stats);
}

TEST_CASE("stats: a bad address names the line and what is expected") {
  TempDir dir;
  const auto ini = dir.write("app.ini", kMinimal + "stats = 127.0.0.1:http\n");
  const auto error = error_of({ini});
  CHECK(error.where().line == 4);
  CHECK(contains(error.what(), "stats expects a Unix socket path or [ADDRESS]:PORT"));
  CHECK(contains(error.what(), "'127.0.0.1:http'"));
  CHECK(error_of({dir.write("b.ini", kMinimal + "stats-http = maybe\n")}).where().line == 4);
}

TEST_CASE("later settings override earlier ones, flags and ini alike") {
  TempDir dir;
  const auto ini = dir.write("app.ini", kMinimal + "processes = 2\n");
  CHECK(load_args({ini, "--processes", "4"}).config.processes == 4);
  CHECK(load_args({"--processes", "4", ini}).config.processes == 2);
  CHECK(load_args({ini, "--module", "other:app"}).config.module == "other");
}

TEST_CASE("list options accumulate: socket, env, pythonpath") {
  TempDir dir;
  const auto ini = dir.write("app.ini", kMinimal +
                                            "socket = 127.0.0.1:3031\n"
                                            "env = A=1\n"
                                            "env = B=2\n"
                                            "pythonpath = /srv/lib\n");
  const auto c = load_args({ini, "--socket", ":3032", "--pythonpath", "/srv/more"}).config;
  REQUIRE(c.sockets.size() == 3);
  CHECK(c.sockets[0].address == "/tmp/app.sock");
  CHECK(c.sockets[1].address == "127.0.0.1:3031");
  CHECK(c.sockets[2].address == ":3032");
  CHECK(c.sockets[2].where.file == "");
  CHECK(c.env == std::vector<std::pair<std::string, std::string>>{{"A", "1"}, {"B", "2"}});
  CHECK(c.pythonpath == std::vector<std::string>{"/srv/lib", "/srv/more"});
}

TEST_CASE("--master alone is a flag; a following ini file is still read") {
  TempDir dir;
  const auto ini = dir.write("app.ini", kMinimal);
  const auto loaded = load_args({"--master", ini});
  CHECK(loaded.warnings.empty());
  CHECK(loaded.config.ini_files.size() == 1);

  const auto off = load_args({ini, "--master", "false"});
  REQUIRE(off.warnings.size() == 1);
  CHECK(contains(off.warnings[0], "master = false has no effect"));
}

TEST_CASE("--key=value") {
  const auto c = load_args({"--socket=/tmp/a.sock", "--module=app", "--processes=3", "--vacuum=true"}).config;
  CHECK(c.processes == 3);
  CHECK(c.vacuum);
  CHECK(c.sockets[0].address == "/tmp/a.sock");
}

TEST_CASE("a bare option in an ini file needs a value, except flags and chmod-socket") {
  TempDir dir;
  CHECK(load_args({dir.write("a.ini", kMinimal + "vacuum\nchmod-socket\n")}).config.chmod_socket == 0666);
  const auto error = error_of({dir.write("b.ini", kMinimal + "pidfile\n")});
  CHECK(error.where().line == 4);
  CHECK(contains(error.what(), "pidfile needs a value"));
}

TEST_CASE("uWSGI's one-letter flags") {
  const auto c = load_args({"-s", "/tmp/a.sock", "-M", "-p", "4", "--module", "app"}).config;
  CHECK(c.sockets[0].address == "/tmp/a.sock");
  CHECK(c.processes == 4);
}

TEST_CASE("badly spelled flags") {
  CHECK(contains(error_of({"-pp", "4"}).what(), "options are spelled --name value"));
  CHECK(contains(error_of({"--"}).what(), "options are spelled --name value"));
  CHECK(contains(error_of({"--socket", "/tmp/a", "--processes"}).what(), "--processes needs a value"));
}

TEST_CASE("module a.b:app means module a.b, callable app") {
  const auto c = load_args({"--socket", "/tmp/a.sock", "--module", "a.b:app"}).config;
  CHECK(c.module == "a.b");
  CHECK(c.callable == "app");
  CHECK(c.app_description() == "a.b:app");

  const auto named = load_args({"--socket", "/tmp/a.sock", "--callable", "other", "--module", "a.b:app"}).config;
  CHECK(named.callable == "other");
}

TEST_CASE("no app, or two apps, is an error") {
  CHECK(contains(error_of({"--socket", "/tmp/a.sock"}).what(), "no app to serve"));
  CHECK(contains(error_of({"--socket", "/tmp/a.sock", "--module", "a", "--wsgi-file", "a.py"}).what(),
                 "both 'module' and 'wsgi-file' are set"));
}

TEST_CASE("no socket is an error") {
  const auto error = error_of({"--module", "app"});
  CHECK(error.where().file == "");
  CHECK(contains(error.what(), "no socket to listen on"));
}

TEST_CASE("the seed config stops at line 3 of its file") {
  TempDir dir;
  const auto ini = dir.write("seed.ini",
                             "[uwsgi]\n"
                             "base = /home/ubuntu/server_dev\n"
                             "home = %(base)/venv chdir = %(base) #가상환경 경로\n"
                             "module = server_dev.wsgi:application #프로젝트 경로\n"
                             "socket = /tmp/django.sock #리눅스에서 제공하는 소켓사용\n");
  const auto error = error_of({ini});
  CHECK(error.where().file == ini);
  CHECK(error.where().line == 3);
  CHECK(contains(error.what(), ini + ", line 3: this line holds two options, 'home' and 'chdir'"));
}

TEST_CASE("an inline comment is stripped with one warning listing the lines") {
  TempDir dir;
  const auto ini = dir.write("app.ini", kMinimal + "processes = 2 # two\nvacuum = true ; yes\n");
  const auto loaded = load_args({ini});
  CHECK(loaded.config.processes == 2);
  CHECK(loaded.config.vacuum);
  REQUIRE(loaded.warnings.size() == 1);
  CHECK(contains(loaded.warnings[0], "stripped the inline comment on lines 4, 5"));
}

TEST_CASE("FERRY_ variables are read before the command line, which overrides them") {
  const std::vector<std::string> arguments{"--socket", "/run/b.sock", "--processes", "8"};
  const std::vector<std::string> environment{"FERRY_PROCESSES=2", "FERRY_MODULE=app:application",
                                             "FERRY_SOCKET=/run/a.sock", "FERRY_THREADS=3"};
  const Config c = load(arguments, environment).config;
  CHECK(c.processes == 8);
  CHECK(c.module == "app");
  REQUIRE(c.sockets.size() == 2);  // a list: the variable's and the flag's
  CHECK(c.sockets[0].address == "/run/a.sock");
  CHECK(c.sockets[0].where.variable == "FERRY_SOCKET");
  CHECK(c.sockets[1].address == "/run/b.sock");
}

TEST_CASE("FERRY_INI is read first; the other variables adjust it; an ini argument replaces it") {
  TempDir dir;
  const auto image = dir.write("image.ini", kMinimal + "processes = 2\n");
  const auto mine = dir.write("mine.ini", "[uwsgi]\nsocket = /tmp/mine.sock\nmodule = mine:application\n");
  const std::vector<std::string> environment{"FERRY_PROCESSES=5", "FERRY_INI=" + image};
  const Config from_image = load({}, environment).config;
  CHECK(from_image.ini_files == std::vector<std::string>{image});
  CHECK(from_image.processes == 5);
  CHECK(from_image.module == "app");
  const std::vector<std::string> arguments{mine};
  const Config replaced = load(arguments, environment).config;
  CHECK(replaced.ini_files == std::vector<std::string>{mine});
  CHECK(replaced.module == "mine");
  CHECK(replaced.processes == 5);
}

TEST_CASE("a variable's value is literal and its errors name the variable") {
  const std::vector<std::string> environment{"FERRY_SOCKET=/run/$(HOME)%d.sock", "FERRY_MODULE=app:application"};
  CHECK(load({}, environment).config.sockets.at(0).address == "/run/$(HOME)%d.sock");
  const std::vector<std::string> bad{"FERRY_SOCKET=/run/a.sock", "FERRY_MODULE=app", "FERRY_PROCESSES=lots"};
  try {
    load({}, bad);
    FAIL("expected a ConfigError");
  } catch (const ConfigError& e) {
    CHECK(contains(e.what(), "environment variable FERRY_PROCESSES: "));
  }
}
