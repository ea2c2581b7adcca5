// src/master/pidfile.cpp: write, read back, replace a stale file, refuse links and
// non-files, and remove only the file we wrote. Real files in a temp dir.

#include "master/pidfile.hpp"

#include "master/startup_error.hpp"

#include <doctest/doctest.h>

#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

using ferry::master::Pidfile;
using ferry::master::read_pidfile;
using ferry::master::StartupError;
namespace fs = std::filesystem;

namespace {

struct TempDir {
  fs::path path;
  TempDir() {
    std::string templ = (fs::temp_directory_path() / "ferry-pidfile-XXXXXX").string();
    path = ::mkdtemp(templ.data());
  }
  ~TempDir() { fs::remove_all(path); }
  std::string file(const char* name) const { return (path / name).string(); }
};

void write_text(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

// A pid that is certainly not running: a child that has been reaped.
pid_t dead_pid() {
  const pid_t pid = ::fork();
  if (pid == 0) ::_exit(0);
  ::waitpid(pid, nullptr, 0);
  return pid;
}

}  // namespace

TEST_CASE("write() puts the pid in the file; remove_if_ours() deletes it") {
  TempDir dir;
  const auto path = dir.file("ferry.pid");
  Pidfile pidfile;
  pidfile.write(path, ::getpid());
  CHECK(read_pidfile(path) == ::getpid());
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), {});
  CHECK(text == std::to_string(::getpid()) + "\n");
  // Readable by everyone (mkostemp's 0600 is widened), writable by no one else.
  const auto perms = fs::status(path).permissions();
  CHECK((perms & fs::perms::owner_read) != fs::perms::none);
  CHECK((perms & fs::perms::others_write) == fs::perms::none);
  // Only the temp file's rename made it: nothing else is left beside it.
  CHECK(std::distance(fs::directory_iterator(dir.path), fs::directory_iterator()) == 1);
  pidfile.remove_if_ours();
  CHECK_FALSE(fs::exists(path));
}

TEST_CASE("remove_if_ours() leaves a pidfile another instance has rewritten") {
  TempDir dir;
  const auto path = dir.file("ferry.pid");
  Pidfile pidfile;
  pidfile.write(path, ::getpid());
  fs::rename(path, path + ".old");                      // kept, so the new file cannot reuse its inode
  write_text(path, std::to_string(::getpid()) + "\n");  // same pid, another file
  pidfile.remove_if_ours();
  CHECK(fs::exists(path));

  Pidfile other;
  other.write(path, ::getpid());
  write_text(path, "1\n");  // same file, another pid
  other.remove_if_ours();
  CHECK(fs::exists(path));
}

TEST_CASE("a stale pidfile (its process is gone) is free and is replaced") {
  TempDir dir;
  const auto path = dir.file("stale.pid");
  const pid_t gone = dead_pid();
  write_text(path, std::to_string(gone) + "\n");
  CHECK(read_pidfile(path) == gone);
  CHECK_NOTHROW(Pidfile::check_free(path));
  Pidfile pidfile;
  pidfile.write(path, ::getpid());
  CHECK(read_pidfile(path) == ::getpid());
}

TEST_CASE("a pidfile naming a live process that is not ferry is stale (the pid was reused)") {
  TempDir dir;
  const auto path = dir.file("reused.pid");
  // A process of ours that runs another program: sleep(1), not ferry.
  char sleep_arg[] = "sleep", seconds[] = "30";
  char* argv[] = {sleep_arg, seconds, nullptr};
  pid_t other = 0;
  REQUIRE(::posix_spawnp(&other, "sleep", nullptr, nullptr, argv, environ) == 0);
  // Until exec has happened the child still runs this binary, which looks like ferry.
  while (fs::read_symlink("/proc/" + std::to_string(other) + "/exe").filename() != "sleep") ::usleep(1000);
  write_text(path, std::to_string(other) + "\n");
  CHECK_NOTHROW(Pidfile::check_free(path));
  ::kill(other, SIGKILL);
  ::waitpid(other, nullptr, 0);
}

TEST_CASE("a symbolic link at the path is refused and its target left untouched") {
  TempDir dir;
  const auto target = dir.file("precious");
  write_text(target, "keep me\n");
  const auto link = dir.file("ferry.pid");
  fs::create_symlink(target, link);
  CHECK_THROWS_WITH_AS(Pidfile::check_free(link), doctest::Contains("symbolic link"), StartupError);
  Pidfile pidfile;
  CHECK_THROWS_AS(pidfile.write(link, ::getpid()), StartupError);
  std::ifstream in(target);
  std::string text((std::istreambuf_iterator<char>(in)), {});
  CHECK(text == "keep me\n");
  CHECK(read_pidfile(link) == 0);  // not followed for reading either
}

TEST_CASE("a directory at the path is refused; a missing directory is a clear error") {
  TempDir dir;
  const auto sub = dir.file("a-directory");
  fs::create_directory(sub);
  CHECK_THROWS_AS(Pidfile::check_free(sub), StartupError);
  CHECK(read_pidfile(sub) == 0);

  Pidfile pidfile;
  CHECK_THROWS_WITH_AS(pidfile.write(dir.file("missing/ferry.pid"), ::getpid()),
                       doctest::Contains("cannot write pidfile"), StartupError);
}

TEST_CASE("read_pidfile: 0 for a missing or unreadable file or one without a number") {
  TempDir dir;
  CHECK(read_pidfile(dir.file("none")) == 0);
  write_text(dir.file("junk"), "hello\n");
  CHECK(read_pidfile(dir.file("junk")) == 0);
}

TEST_CASE("adopt() takes over the file a previous incarnation wrote, so it is removed at exit") {
  TempDir dir;
  const auto path = dir.file("ferry.pid");
  Pidfile first;
  first.write(path, ::getpid());
  Pidfile second;
  second.adopt(path, ::getpid());
  second.remove_if_ours();
  CHECK_FALSE(fs::exists(path));

  // A file naming someone else is not adopted, so not removed.
  write_text(path, "1\n");
  Pidfile third;
  third.adopt(path, ::getpid());
  third.remove_if_ours();
  CHECK(fs::exists(path));
}
