// src/config/ini.cpp: the ini dialect reader, text in, entries out.

#include "config/ini.hpp"

#include <doctest/doctest.h>

#include "config/options.hpp"

using namespace ferry::config;

namespace {

bool is_option(std::string_view name) { return find_option(name) != nullptr; }

IniText parse(std::string_view text, std::string_view section = "uwsgi") {
  return parse_ini(text, "app.ini", section, is_option);
}

// The ConfigError parse() throws; fails the test if there is none.
ConfigError error_of(std::string_view text) {
  try {
    parse(text);
  } catch (const ConfigError& e) {
    return e;
  }
  FAIL("expected a ConfigError for:\n" << text);
  throw;  // not reached
}

}  // namespace

TEST_CASE("only the wanted section is kept") {
  const auto ini = parse(
      "[other]\n"
      "processes = 9\n"
      "[uwsgi]\n"
      "processes = 2\n"
      "[more]\n"
      "socket = /x\n");
  CHECK(ini.section_found);
  REQUIRE(ini.entries.size() == 1);
  CHECK(ini.entries[0].key == "processes");
  CHECK(ini.entries[0].value == "2");
  CHECK(ini.entries[0].where.file == "app.ini");
  CHECK(ini.entries[0].where.line == 4);
}

TEST_CASE("another section by name; a missing one is reported as not found") {
  const std::string text = "[uwsgi]\nprocesses = 2\n[ staging ]\nprocesses = 3\n";
  const auto staging = parse(text, "staging");
  CHECK(staging.section_found);
  REQUIRE(staging.entries.size() == 1);
  CHECK(staging.entries[0].value == "3");

  const auto missing = parse(text, "production");
  CHECK_FALSE(missing.section_found);
  CHECK(missing.entries.empty());
}

TEST_CASE("split_ini_spec: file.ini:section") {
  using Spec = std::pair<std::string, std::string>;
  CHECK(split_ini_spec("app.ini") == Spec{"app.ini", "uwsgi"});
  CHECK(split_ini_spec("app.ini:staging") == Spec{"app.ini", "staging"});
  CHECK(split_ini_spec("/etc/a:b/app.ini") == Spec{"/etc/a:b/app.ini", "uwsgi"});
  CHECK(split_ini_spec("/etc/a:b/app.ini:prod") == Spec{"/etc/a:b/app.ini", "prod"});
  CHECK(split_ini_spec("app.ini:") == Spec{"app.ini:", "uwsgi"});
}

TEST_CASE("a bare key means true; 'key =' is an empty value") {
  const auto ini = parse("[uwsgi]\nmaster\nvacuum =\n");
  REQUIRE(ini.entries.size() == 2);
  CHECK(ini.entries[0].key == "master");
  CHECK(ini.entries[0].bare);
  CHECK_FALSE(ini.entries[1].bare);
  CHECK(ini.entries[1].value == "");
}

TEST_CASE("comment lines, blank lines, indentation and CRLF are skipped") {
  const auto ini = parse(
      "# a comment\r\n"
      "; another\r\n"
      "\r\n"
      "[uwsgi]\r\n"
      "   # indented comment\r\n"
      "\tsocket   =   /tmp/app.sock   \r\n");
  REQUIRE(ini.entries.size() == 1);
  CHECK(ini.entries[0].value == "/tmp/app.sock");
  CHECK(ini.entries[0].where.line == 6);
  CHECK(ini.inline_comment_lines.empty());
}

TEST_CASE("an inline ' #' or ' ;' comment is stripped and its line recorded") {
  const auto ini = parse(
      "[uwsgi]\n"
      "module = app:app  # the app\n"
      "master = false ; off\n"
      "env = COLOR=#fff\n"
      "pidfile = /tmp/a;b\n");
  REQUIRE(ini.entries.size() == 4);
  CHECK(ini.entries[0].value == "app:app");
  CHECK(ini.entries[1].value == "false");
  CHECK(ini.entries[2].value == "COLOR=#fff");  // no space before '#': part of the value
  CHECK(ini.entries[3].value == "/tmp/a;b");
  CHECK(ini.inline_comment_lines == std::vector<int>{2, 3});
}

TEST_CASE("two options on one line: the seed's line 3 is an error naming both keys") {
  const auto error = error_of(
      "[uwsgi]\n"
      "base = /home/ubuntu/server_dev\n"
      "home = %(base)/venv chdir = %(base) #가상환경 경로\n"
      "module = server_dev.wsgi:application #프로젝트 경로\n");
  CHECK(error.where().file == "app.ini");
  CHECK(error.where().line == 3);
  const std::string message = error.what();
  CHECK(message.starts_with("app.ini, line 3: "));
  CHECK(message.find("'home'") != std::string::npos);
  CHECK(message.find("'chdir'") != std::string::npos);
  CHECK(message.find("own line") != std::string::npos);
}

TEST_CASE("words that are not options may follow '=' inside a value") {
  const auto ini = parse("[uwsgi]\nenv = GREETING=a x = c\n");
  REQUIRE(ini.entries.size() == 1);
  CHECK(ini.entries[0].value == "GREETING=a x = c");
}

TEST_CASE("the seed config, with line 3 split in two, reads every option") {
  const auto ini = parse(
      "[uwsgi]\n"
      "base = /home/ubuntu/server_dev\n"
      "home = %(base)/venv #가상환경 경로\n"
      "chdir = %(base)\n"
      "module = server_dev.wsgi:application #프로젝트 경로\n"
      "socket = /tmp/django.sock #리눅스에서 제공하는 소켓사용\n"
      "chmod-socket = 666 #소켓의 파일권한\n"
      "master = true #마스터 프로세스 유무\n"
      "enable-threads = true # 워커를 쓰레드 기반으로 할 것인가\n"
      "pidfile = /tmp/django.pid #uwsgi 모든 프로세스 번호를 쉽게 확인\n"
      "vacuum = true #uwsgi 흔적(soket, pid)을 자동으로 지워줌\n"
      "logger = file:/tmp/uwsgi.log # log파일 기록\n");
  REQUIRE(ini.entries.size() == 11);
  CHECK(ini.entries[1].value == "%(base)/venv");
  CHECK(ini.entries[3].value == "server_dev.wsgi:application");
  CHECK(ini.entries[10].key == "logger");
  CHECK(ini.entries[10].value == "file:/tmp/uwsgi.log");
  CHECK(ini.inline_comment_lines == std::vector<int>{3, 5, 6, 7, 8, 9, 10, 11, 12});
}

TEST_CASE("a key before any section is an error on its line") {
  const auto error = error_of("# comment\n\nsocket = /tmp/a.sock\n[uwsgi]\n");
  CHECK(error.where().line == 3);
  CHECK(std::string(error.what()).find("before any [section]") != std::string::npos);
}

TEST_CASE("a malformed section header is an error on its line") {
  const auto error = error_of("[uwsgi]\nmaster\n[staging\n");
  CHECK(error.where().line == 3);
  CHECK(std::string(error.what()).find("[staging") != std::string::npos);
}

TEST_CASE("a key with spaces or odd characters is an error") {
  CHECK(error_of("[uwsgi]\nmy key = 1\n").where().line == 2);
  CHECK(error_of("[uwsgi]\n= 1\n").where().line == 2);
  CHECK(error_of("[uwsgi]\nkey!\n").where().line == 2);
}

TEST_CASE("lines in other sections are not checked") {
  CHECK_NOTHROW(parse("[uwsgi]\nmaster\n[notes]\nthis is free text\n"));
}
