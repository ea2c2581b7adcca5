// src/master/reexec.cpp: the exec side of a preload reload: the signals it blocks, the
// binary it execs, the handover taken back out of the environment (only by the process it
// names), a failed exec undone, and the handed-over sockets adopted as listeners.

#include "master/reexec.hpp"

#include "master/handover.hpp"

#include <doctest/doctest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>

using namespace ferry::master;
using ferry::config::Config;
using ferry::config::Location;
using ferry::config::SocketOption;
using ferry::config::Warnings;

namespace {

bool close_on_exec(int fd) { return (::fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0; }

// Three descriptors without close-on-exec, as a new master inherits them.
struct Inherited {
  int pipe[2] = {-1, -1};
  int socket = -1;
  Inherited() {
    REQUIRE(::pipe(pipe) == 0);
    socket = ::socket(AF_UNIX, SOCK_STREAM, 0);
  }
  ~Inherited() {
    ::close(pipe[0]);
    ::close(pipe[1]);
    ::close(socket);
  }
  Handover handover(pid_t pid) const {
    Handover h;
    h.pid = pid;
    h.events_read = pipe[0];
    h.events_write = pipe[1];
    h.counters_fd = pipe[0];
    h.sockets.push_back({socket, 0, 0, "/run/app.sock", false});
    return h;
  }
};

}  // namespace

TEST_CASE("a re-exec blocks every signal the master handles, and no others") {
  const sigset_t set = master_signals();
  for (int sig : {SIGHUP, SIGUSR1, SIGUSR2, SIGTERM, SIGINT, SIGQUIT, SIGCHLD}) CHECK(sigismember(&set, sig) == 1);
  for (int sig : {SIGKILL, SIGSEGV, SIGPIPE, SIGALRM}) CHECK(sigismember(&set, sig) == 0);
}

TEST_CASE("the binary to exec is this one's path, which exists") {
  const std::string path = executable_path();
  CHECK(path == std::filesystem::read_symlink("/proc/self/exe").string());
  CHECK(::access(path.c_str(), X_OK) == 0);
}

TEST_CASE("take_handover: nothing without the variable; a handover for another pid is dropped") {
  ::unsetenv(kHandoverVariable);
  CHECK_FALSE(take_handover());

  Inherited fds;
  ::setenv(kHandoverVariable, fds.handover(::getpid() + 1).encode().c_str(), 1);
  CHECK_FALSE(take_handover());
  CHECK(std::getenv(kHandoverVariable) == nullptr);  // the app must not see it either

  ::setenv(kHandoverVariable, "not a handover", 1);
  CHECK_FALSE(take_handover());
  CHECK(std::getenv(kHandoverVariable) == nullptr);
}

TEST_CASE("take_handover: ours is returned and its descriptors are close-on-exec again") {
  Inherited fds;
  ::setenv(kHandoverVariable, fds.handover(::getpid()).encode().c_str(), 1);
  const auto handover = take_handover();
  REQUIRE(handover);
  CHECK(handover->events_write == fds.pipe[1]);
  REQUIRE(handover->sockets.size() == 1);
  CHECK(handover->sockets[0].address == "/run/app.sock");
  CHECK(std::getenv(kHandoverVariable) == nullptr);
  CHECK(close_on_exec(fds.pipe[0]));
  CHECK(close_on_exec(fds.pipe[1]));
  CHECK(close_on_exec(fds.socket));
}

TEST_CASE("an exec that fails returns its errno and undoes everything") {
  Inherited fds;
  for (int fd : {fds.pipe[0], fds.pipe[1], fds.socket}) ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  const int error = exec_with_handover(fds.handover(::getpid()), "/nonexistent/ferry", {"--ini", "x.ini"});
  CHECK(error == ENOENT);
  CHECK(std::getenv(kHandoverVariable) == nullptr);
  CHECK(close_on_exec(fds.pipe[0]));
  CHECK(close_on_exec(fds.pipe[1]));
  CHECK(close_on_exec(fds.socket));
  sigset_t mask;
  ::pthread_sigmask(SIG_SETMASK, nullptr, &mask);
  CHECK_FALSE(sigismember(&mask, SIGHUP));  // not left blocked
}

TEST_CASE("adopt_listeners: the handed-over sockets replace the configured ones, with a warning if they differ") {
  Handover handover;
  handover.sockets.push_back({::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), 5, 77, "/run/app.sock", false});
  handover.sockets.push_back({::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), 0, 0, "127.0.0.1:8080", true});
  const int unix_fd = handover.sockets[0].fd;

  Config same;
  same.sockets = {SocketOption{"/run/app.sock", Location{}, false}, SocketOption{"127.0.0.1:8080", Location{}, true}};
  Warnings warnings;
  auto listeners = adopt_listeners(handover, same, warnings);
  CHECK(warnings.empty());
  REQUIRE(listeners.size() == 2);
  CHECK(listeners[0].fd.get() == unix_fd);
  CHECK(listeners[0].is_unix);
  CHECK(listeners[0].inode == 77);
  CHECK_FALSE(listeners[1].is_unix);
  CHECK(listeners[1].http);
  listeners[0].fd.release();  // handed over twice below: not ours to close twice
  listeners[1].fd.release();

  Config changed;
  changed.sockets = {SocketOption{"/run/other.sock", Location{"site.ini", 2}, false}};
  auto again = adopt_listeners(handover, changed, warnings);
  REQUIRE(warnings.size() == 1);
  CHECK(warnings[0].find("restart ferry") != std::string::npos);
  REQUIRE(changed.sockets.size() == 2);  // the kept list, not the configured one
  CHECK(changed.sockets[0].address == "/run/app.sock");
}
