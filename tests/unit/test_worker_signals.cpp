// src/worker/worker_signals.cpp: a stop signal only records (stop_requested, the stop
// eventfd), SIGPIPE and SIGUSR1 do not kill, a child forked inside a request loses the
// sockets, and the worker's events reach the master's pipe whole. Handlers are installed
// in forked children, never in the test runner.

#include "worker/worker_signals.hpp"

#include "worker/events.hpp"

#include <doctest/doctest.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <vector>

#include "in_child.hpp"

using namespace ferry::worker;

using ferry::test::in_child;

namespace {

bool readable(int fd) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, 0) == 1;
}

bool is_dev_null(int fd) {
  struct stat st {};
  return ::fstat(fd, &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3);
}

}  // namespace

TEST_CASE("a worker's events are one small record each, written whole to the master's pipe") {
  static_assert(sizeof(Event) < PIPE_BUF, "records from different workers must not interleave");
  int pipe[2];
  REQUIRE(::pipe2(pipe, O_CLOEXEC) == 0);
  notify_master(pipe[1], EventKind::ready);
  notify_master(pipe[1], EventKind::retire);
  Event events[2]{};
  REQUIRE(::read(pipe[0], events, sizeof events) == sizeof events);
  CHECK(events[0].pid == ::getpid());
  CHECK(events[0].kind == EventKind::ready);
  CHECK(events[1].kind == EventKind::retire);
  CHECK(static_cast<int>(EventKind::ready) != static_cast<int>(EventKind::retire));
  ::close(pipe[0]);
  ::close(pipe[1]);
}

TEST_CASE("SIGTERM, SIGINT, SIGHUP and SIGQUIT request a stop; the stop fd becomes readable") {
  for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGQUIT}) {
    CAPTURE(sig);
    const int code = in_child([sig] {
      install_signal_handlers();
      if (stop_requested()) return 1;
      if (stop_fd() < 0 || readable(stop_fd())) return 2;
      ::raise(sig);  // the process must survive it
      if (!stop_requested()) return 3;
      if (!readable(stop_fd())) return 4;
      return 0;
    });
    CHECK(code == 0);
  }
}

TEST_CASE("request_stop (harakiri's way) does what a stop signal does") {
  const int code = in_child([] {
    install_signal_handlers();
    request_stop();
    return stop_requested() && readable(stop_fd()) ? 0 : 1;
  });
  CHECK(code == 0);
}

TEST_CASE("a vanished client is EPIPE, not a death; SIGUSR1 (logrotate) is ignored") {
  const int code = in_child([] {
    install_signal_handlers();
    int pair[2];
    ::socketpair(AF_UNIX, SOCK_STREAM, 0, pair);
    ::close(pair[1]);
    if (::write(pair[0], "x", 1) != -1 || errno != EPIPE) return 1;
    ::raise(SIGUSR1);
    return stop_requested() ? 2 : 0;
  });
  CHECK(code == 0);
}

TEST_CASE("without the handlers the same signal would have killed: the check above can fail") {
  CHECK(in_child([] {
          ::signal(SIGTERM, SIG_DFL);  // doctest's own handler would report a crash instead
          ::raise(SIGTERM);
          return 0;
        }) == 128 + SIGTERM);
}

TEST_CASE("os.fork() inside a request: the child's listening and client sockets point at /dev/null") {
  const int code = in_child([] {
    install_signal_handlers();
    int listener[2], client[2];
    ::socketpair(AF_UNIX, SOCK_STREAM, 0, listener);
    ::socketpair(AF_UNIX, SOCK_STREAM, 0, client);
    static const std::vector<int> listen_fds{listener[0]};
    guard_forks_in_requests(listen_fds, 2);
    note_client_fd(1, client[0]);
    if (is_forked_child()) return 1;
    const int grandchild = in_child([&] {
      if (!is_forked_child()) return 1;
      if (!is_dev_null(listener[0])) return 2;
      if (!is_dev_null(client[0])) return 3;
      if (is_dev_null(client[1])) return 4;  // only the noted sockets
      return 0;
    });
    if (grandchild != 0) return 10 + grandchild;
    // The worker itself keeps its sockets.
    if (is_forked_child() || is_dev_null(listener[0]) || is_dev_null(client[0])) return 20;
    // Between requests (-1) there is no client socket to blank.
    note_client_fd(1, -1);
    const int later = in_child([&] { return is_dev_null(client[0]) ? 1 : 0; });
    return later == 0 ? 0 : 30;
  });
  CHECK(code == 0);
}
