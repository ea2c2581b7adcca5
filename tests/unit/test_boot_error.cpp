// src/master/boot_error.cpp: the line the master quotes from a failed worker's output.

#include "master/boot_error.hpp"

#include <doctest/doctest.h>

#include <string>

#include "common/exit_codes.hpp"

using ferry::kExitAppLoad;
using ferry::kExitWorkerBoot;
using ferry::master::quote_boot_failure;

namespace {

// What App::load prints around CPython's own report.
std::string app_failure(const std::string& python_report) {
  return "ferry: the app (module = myapp) failed to load; the Python traceback follows:\n" + python_report +
         "ferry: fix the error above (or the module/chdir/pythonpath/home options) and start ferry again\n";
}

}  // namespace

TEST_CASE("the exception line of a traceback is quoted") {
  const std::string output = "loading settings\n" + app_failure(
                                                        "Traceback (most recent call last):\n"
                                                        "  File \"/srv/app/myapp.py\", line 3, in <module>\n"
                                                        "    import nope\n"
                                                        "ModuleNotFoundError: No module named 'nope'\n");
  CHECK(quote_boot_failure(output, kExitAppLoad) == "ModuleNotFoundError: No module named 'nope'");
}

TEST_CASE("an exception printed without a traceback (no Python frame) is quoted too") {
  CHECK(quote_boot_failure(app_failure("ModuleNotFoundError: No module named 'nope'\n"), kExitAppLoad) ==
        "ModuleNotFoundError: No module named 'nope'");
}

TEST_CASE("a message of several lines: its first line, and how many follow") {
  const std::string output = app_failure(
      "Traceback (most recent call last):\n"
      "  File \"/srv/app/myapp.py\", line 5, in <module>\n"
      "    raise BootError(\"database unreachable\\nhost: db1\\nport: 3306\")\n"
      "myapp.BootError: database unreachable\n"
      "host: db1\n"
      "port: 3306\n");
  CHECK(quote_boot_failure(output, kExitAppLoad) == "myapp.BootError: database unreachable (+2 more lines in the log)");
}

TEST_CASE("chained exceptions: the last one raised is quoted") {
  const std::string output = app_failure(
      "Traceback (most recent call last):\n"
      "  File \"/srv/app/myapp.py\", line 2, in <module>\n"
      "KeyError: 'DB'\n"
      "\n"
      "During handling of the above exception, another exception occurred:\n"
      "\n"
      "Traceback (most recent call last):\n"
      "  File \"/srv/app/myapp.py\", line 4, in <module>\n"
      "RuntimeError: set DB in the environment\n");
  CHECK(quote_boot_failure(output, kExitAppLoad) == "RuntimeError: set DB in the environment");
}

TEST_CASE("a SyntaxError's caret lines are part of the traceback, not the message") {
  const std::string output = app_failure(
      "Traceback (most recent call last):\n"
      "  File \"/srv/app/myapp.py\", line 1\n"
      "    def (:\n"
      "        ^\n"
      "SyntaxError: invalid syntax\n");
  CHECK(quote_boot_failure(output, kExitAppLoad) == "SyntaxError: invalid syntax");
}

TEST_CASE("an earlier failure's traceback is not quoted for a later one") {
  const std::string earlier = app_failure("Traceback (most recent call last):\n  File \"x\"\nOldError: old\n");
  const std::string later = app_failure("Traceback (most recent call last):\n  File \"x\"\nNewError: new\n");
  CHECK(quote_boot_failure(earlier + later, kExitAppLoad) == "NewError: new");
}

TEST_CASE("without a traceback, ferry's own complaint is quoted") {
  const std::string output =
      "ferry: home = /venv: not a virtualenv (no pyvenv.cfg or bin/python there); create one with: x\n";
  CHECK(quote_boot_failure(output, kExitAppLoad) ==
        "home = /venv: not a virtualenv (no pyvenv.cfg or bin/python there); create one with: x");
  CHECK(quote_boot_failure("ferry: the app failed to load: bad mountpoint\n", kExitAppLoad) ==
        "the app failed to load: bad mountpoint");
}

TEST_CASE("a worker boot failure quotes its last error line, without the log prefix") {
  const std::string output =
      "2026-11-25 10:37:38.120 worker1[812] info: something harmless\n"
      "2026-11-25 10:37:38.123 worker1[812] error: chdir = /nope: No such file or directory; fix the path\n"
      "some trailing output\n";
  CHECK(quote_boot_failure(output, kExitWorkerBoot) == "chdir = /nope: No such file or directory; fix the path");
  CHECK(quote_boot_failure("ferry: cannot set up Python stack dumps for harakiri: boom\n", kExitWorkerBoot) ==
        "cannot set up Python stack dumps for harakiri: boom");
}

TEST_CASE("with no error line, the last line that is not empty; nothing at all gives \"\"") {
  CHECK(quote_boot_failure("first\nlast words\n\n", kExitWorkerBoot) == "last words");
  CHECK(quote_boot_failure("", kExitWorkerBoot).empty());
  CHECK(quote_boot_failure("", kExitAppLoad).empty());
  CHECK(quote_boot_failure("\n\n", kExitAppLoad).empty());
}

TEST_CASE("an exception group prints every line indented: the group's own line is quoted") {
  const std::string output = app_failure(
      "  + Exception Group Traceback (most recent call last):\n"
      "  |   File \"/srv/app/myapp.py\", line 1, in <module>\n"
      "  |     raise ExceptionGroup(\"two problems\", [ValueError(\"a\"), KeyError(\"b\")])\n"
      "  | ExceptionGroup: two problems (2 sub-exceptions)\n"
      "  +-+---------------- 1 ----------------\n"
      "    | ValueError: a\n"
      "    +---------------- 2 ----------------\n"
      "    | KeyError: 'b'\n"
      "    +------------------------------------\n");
  CHECK(quote_boot_failure(output, kExitAppLoad) == "ExceptionGroup: two problems (2 sub-exceptions)");
}
