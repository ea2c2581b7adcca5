// src/worker/body_spill.cpp: a body goes from memory to an unlinked file in $TMPDIR.

#include "worker/body_spill.hpp"

#include "common/temp_file.hpp"

#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <string>

using namespace ferry::worker;

namespace {
std::string fd_target(int fd) {
  char target[PATH_MAX] = {};
  const ssize_t n = ::readlink(("/proc/self/fd/" + std::to_string(fd)).c_str(), target, sizeof target - 1);
  return n > 0 ? std::string(target, static_cast<std::size_t>(n)) : std::string();
}
}  // namespace

TEST_CASE("the spill directory is $TMPDIR, or /tmp when it is unset or empty") {
  const char* saved = std::getenv("TMPDIR");
  const std::string keep = saved ? saved : "";
  ::setenv("TMPDIR", "/somewhere", 1);
  CHECK(std::string(ferry::temp_directory()) == "/somewhere");
  ::setenv("TMPDIR", "", 1);
  CHECK(std::string(ferry::temp_directory()) == "/tmp");
  ::unsetenv("TMPDIR");
  CHECK(std::string(ferry::temp_directory()) == "/tmp");
  if (saved) ::setenv("TMPDIR", keep.c_str(), 1);
}

TEST_CASE("a body stays in memory up to the limit, then moves whole to a temp file there") {
  char dir[] = "/tmp/spillXXXXXX";
  REQUIRE(::mkdtemp(dir));
  const char* saved = std::getenv("TMPDIR");
  const std::string keep = saved ? saved : "";
  ::setenv("TMPDIR", dir, 1);

  SpilledBody body;
  REQUIRE(body.append("hello ", 10));
  REQUIRE(body.append("wor", 10));
  CHECK(body.memory == "hello wor");
  CHECK_FALSE(body.file);
  REQUIRE(body.append("ld!", 10));  // 12 bytes: over the limit
  CHECK(body.memory.empty());
  REQUIRE(body.file);
  CHECK(body.size == 12);
  CHECK(fd_target(body.file.get()).rfind(std::string(dir) + "/#", 0) == 0);
  char back[13] = {};
  CHECK(::pread(body.file.get(), back, 12, 0) == 12);
  CHECK(std::string(back) == "hello world!");

  body.clear();
  CHECK_FALSE(body.file);
  CHECK(body.size == 0);
  if (saved) {
    ::setenv("TMPDIR", keep.c_str(), 1);
  } else {
    ::unsetenv("TMPDIR");
  }
  ::rmdir(dir);
}
