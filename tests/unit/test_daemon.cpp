// src/master/daemon.cpp: open_log appends to the log file (above fd 2, close-on-exec), or
// copies stderr; a path it cannot open is a StartupError naming it.

#include "master/daemon.hpp"

#include "master/startup_error.hpp"

#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

using ferry::UniqueFd;
using ferry::master::open_log;
using ferry::master::StartupError;
namespace fs = std::filesystem;

namespace {

std::string read_all(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

bool close_on_exec(int fd) { return (::fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0; }

}  // namespace

TEST_CASE("a log file is created, then appended to, never truncated") {
  std::string templ = (fs::temp_directory_path() / "ferry-daemon-XXXXXX").string();
  const fs::path dir = ::mkdtemp(templ.data());
  const std::string path = (dir / "ferry.log").string();
  {
    const UniqueFd log = open_log(path);
    REQUIRE(log);
    CHECK(log.get() > 2);
    CHECK(close_on_exec(log.get()));
    REQUIRE(::write(log.get(), "first\n", 6) == 6);
  }
  {
    const UniqueFd again = open_log(path);
    REQUIRE(::write(again.get(), "second\n", 7) == 7);
  }
  CHECK(read_all(path) == "first\nsecond\n");
  fs::remove_all(dir);
}

TEST_CASE("no path: a close-on-exec copy of stderr") {
  const UniqueFd log = open_log("");
  REQUIRE(log);
  CHECK(log.get() > 2);
  CHECK(close_on_exec(log.get()));
  struct stat ours {
  }, err{};
  REQUIRE(::fstat(log.get(), &ours) == 0);
  REQUIRE(::fstat(STDERR_FILENO, &err) == 0);
  CHECK(ours.st_ino == err.st_ino);
  CHECK(ours.st_dev == err.st_dev);
}

TEST_CASE("a log in a missing directory is refused, naming the path") {
  CHECK_THROWS_WITH_AS(open_log("/nonexistent-ferry-dir/ferry.log"),
                       doctest::Contains("cannot open the log file /nonexistent-ferry-dir/ferry.log"), StartupError);
}
