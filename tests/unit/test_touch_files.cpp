// src/master/touch_files.cpp: a touch-reload file's mtime changing (touched, created,
// deleted) is reported once, as a reload or a chain reload. Real files in a temp dir.

#include "master/touch_files.hpp"

#include <doctest/doctest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>

using ferry::master::TouchFiles;
namespace fs = std::filesystem;

namespace {

struct TempDir {
  fs::path path;
  TempDir() {
    std::string templ = (fs::temp_directory_path() / "ferry-touch-XXXXXX").string();
    path = ::mkdtemp(templ.data());
  }
  ~TempDir() { fs::remove_all(path); }
  std::string file(const char* name) const { return (path / name).string(); }
};

// Sets the file's mtime `seconds` away from now: no sleeping for the clock to move on.
void touch(const std::string& path, int seconds) {
  if (!fs::exists(path)) std::ofstream{path};
  fs::last_write_time(path, fs::file_time_type::clock::now() + std::chrono::seconds(seconds));
}

}  // namespace

TEST_CASE("no files: empty, and never a change") {
  TouchFiles files({}, {});
  CHECK(files.empty());
  CHECK_FALSE(files.changed());
}

TEST_CASE("a touched file is reported once, as a reload or a chain reload") {
  TempDir dir;
  const auto reload = dir.file("reload"), chain = dir.file("chain");
  touch(reload, -100);
  touch(chain, -100);
  TouchFiles files({reload}, {chain});
  CHECK_FALSE(files.empty());
  CHECK_FALSE(files.changed());

  touch(reload, 5);
  auto touched = files.changed();
  REQUIRE(touched);
  CHECK(touched->path == reload);
  CHECK_FALSE(touched->chain);
  CHECK_FALSE(files.changed());  // remembered

  touch(chain, 5);
  touched = files.changed();
  REQUIRE(touched);
  CHECK(touched->path == chain);
  CHECK(touched->chain);
}

TEST_CASE("two touched files are reported by two calls") {
  TempDir dir;
  const auto a = dir.file("a"), b = dir.file("b");
  touch(a, -50);
  touch(b, -50);
  TouchFiles files({a, b}, {});
  touch(a, 3);
  touch(b, 3);
  const auto first = files.changed();
  const auto second = files.changed();
  REQUIRE(first);
  REQUIRE(second);
  CHECK(first->path == a);
  CHECK(second->path == b);
  CHECK_FALSE(files.changed());
}

TEST_CASE("creating a missing file is a touch, and so is deleting it") {
  TempDir dir;
  const auto path = dir.file("later");
  TouchFiles files({path}, {});
  CHECK_FALSE(files.changed());
  touch(path, 0);
  auto touched = files.changed();
  REQUIRE(touched);
  CHECK(touched->path == path);
  fs::remove(path);
  CHECK(files.changed());
  CHECK_FALSE(files.changed());
}
