// src/master/process.cpp: fork_child runs the child's main and _exits with its result,
// with only the kept descriptors, its output on `output_fd` and default signal handlers.

#include "master/process.hpp"

#include <doctest/doctest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

using ferry::master::fork_child;
using ferry::master::ForkHooks;

namespace {

int wait_code(pid_t pid) {
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  return WEXITSTATUS(status);
}

std::string read_all(int fd) {
  std::string out;
  char buffer[256];
  ssize_t n;
  while ((n = ::read(fd, buffer, sizeof buffer)) > 0) out.append(buffer, static_cast<std::size_t>(n));
  return out;
}

bool is_open(int fd) { return ::fcntl(fd, F_GETFD) != -1; }

}  // namespace

TEST_CASE("the child's result is its exit code; its stdout and stderr go to output_fd") {
  int out[2];
  REQUIRE(::pipe2(out, O_CLOEXEC) == 0);
  const pid_t pid = fork_child({}, out[1], [] {
    ::write(STDOUT_FILENO, "to stdout\n", 10);
    ::write(STDERR_FILENO, "to stderr\n", 10);
    return 42;
  });
  REQUIRE(pid > 0);
  ::close(out[1]);
  CHECK(wait_code(pid) == 42);
  CHECK(read_all(out[0]) == "to stdout\nto stderr\n");
  ::close(out[0]);
}

TEST_CASE("the child holds only the descriptors in keep") {
  int out[2], kept[2], dropped[2];
  REQUIRE(::pipe(out) == 0);
  REQUIRE(::pipe(kept) == 0);  // not close-on-exec: fork_child itself must close what is not kept
  REQUIRE(::pipe(dropped) == 0);
  const int keep_fd = kept[1], drop_fd = dropped[1];
  const pid_t pid = fork_child({keep_fd}, out[1], [keep_fd, drop_fd] {
    if (!is_open(keep_fd)) return 1;
    if (is_open(drop_fd)) return 2;
    return 0;
  });
  for (int fd : {out[1], kept[0], kept[1], dropped[0], dropped[1]}) ::close(fd);
  CHECK(wait_code(pid) == 0);
  ::close(out[0]);
}

TEST_CASE("the child starts with default signal handlers and an unblocked mask") {
  int out[2];
  REQUIRE(::pipe2(out, O_CLOEXEC) == 0);
  ::signal(SIGUSR1, SIG_IGN);
  const pid_t pid = fork_child({}, out[1], [] {
    struct sigaction current {};
    ::sigaction(SIGUSR1, nullptr, &current);
    if (current.sa_handler != SIG_DFL) return 1;
    sigset_t mask;
    ::pthread_sigmask(SIG_SETMASK, nullptr, &mask);
    if (sigismember(&mask, SIGTERM)) return 2;
    return 0;
  });
  ::signal(SIGUSR1, SIG_DFL);
  ::close(out[1]);
  CHECK(wait_code(pid) == 0);
  ::close(out[0]);
  // And the parent's mask is as it was before the fork.
  sigset_t mask;
  ::pthread_sigmask(SIG_SETMASK, nullptr, &mask);
  CHECK_FALSE(sigismember(&mask, SIGTERM));
}

TEST_CASE("hooks: prepare and parent run here, child runs in the child") {
  int out[2];
  REQUIRE(::pipe2(out, O_CLOEXEC) == 0);
  std::string order;
  ForkHooks hooks;
  hooks.prepare = [&] { order += "prepare,"; };
  hooks.parent = [&] { order += "parent,"; };
  bool child_hook_ran = false;
  hooks.child = [&] { child_hook_ran = true; };
  const pid_t pid = fork_child(
      {}, out[1], [&] { return child_hook_ran && order == "prepare," ? 0 : 1; }, &hooks);
  ::close(out[1]);
  CHECK(wait_code(pid) == 0);
  CHECK(order == "prepare,parent,");
  CHECK_FALSE(child_hook_ran);
  ::close(out[0]);
}
