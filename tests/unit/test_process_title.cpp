// src/common/process_title.cpp: the title `ps` shows overwrites the argv area (cut to its
// length) and sets the kernel's 15-character comm.

#include "common/process_title.hpp"

#include <doctest/doctest.h>

#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "in_child.hpp"

using ferry::init_process_title;
using ferry::set_process_title;
using ferry::test::in_child;

namespace {

std::string comm() {
  char name[17] = {};
  ::prctl(PR_GET_NAME, name, 0, 0, 0);
  return name;
}

}  // namespace

TEST_CASE("the title overwrites the argv area, cut to its length, and the kernel's comm") {
  const pid_t pid = ::fork();  // comm and the argv area are this process's: change them in a child
  if (pid == 0) {
    // An argv as the kernel lays it out: the strings back to back.
    char area[] = "ferry\0--ini\0site.ini";
    char* argv[] = {area, area + 6, area + 12, nullptr};
    init_process_title(3, argv);
    set_process_title("ferry worker 1");
    if (std::string(area) != "ferry worker 1") ::_exit(1);
    if (area[14] != '\0' || area[19] != '\0') ::_exit(2);  // the rest is blanked
    if (comm() != "ferry worker 1") ::_exit(3);

    set_process_title("uWSGI worker 12 (a long prefix that does not fit)");
    if (std::string(area, 20) != std::string("uWSGI worker 12 (a l", 20)) ::_exit(4);
    if (area[20] != '\0') ::_exit(5);             // never past the area's terminator
    if (comm() != "uWSGI worker 12") ::_exit(6);  // comm holds 15 characters
    ::_exit(0);
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}

TEST_CASE("without init, only comm changes") {
  CHECK(in_child([] {
          set_process_title("ferry master");
          return comm() == "ferry master" ? 0 : 1;
        }) == 0);
}
