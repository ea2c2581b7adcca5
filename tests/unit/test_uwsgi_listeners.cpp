// src/worker/uwsgi_listeners.cpp: the serving threads' accept loop on real loopback
// listeners: round robin, waiting in poll until a connection or a wake fd, and accept
// failing for want of descriptors (a lowered RLIMIT_NOFILE) logged once the burst ends.

#include "worker/uwsgi_listeners.hpp"

#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <sstream>
#include <thread>

using ferry::worker::AcceptRefusals;
using ferry::worker::UwsgiListeners;

namespace {

struct Listener {
  int fd = -1;
  sockaddr_in addr{};
  Listener() {
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(fd, 16) == 0);
    socklen_t length = sizeof addr;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &length);
  }
  ~Listener() { ::close(fd); }
  int connect() const {
    const int client = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(::connect(client, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0);
    return client;
  }
  int port() const { return ntohs(addr.sin_port); }
};

int local_port_of_peer(int accepted) {
  sockaddr_in local{};
  socklen_t length = sizeof local;
  ::getsockname(accepted, reinterpret_cast<sockaddr*>(&local), &length);
  return ntohs(local.sin_port);
}

struct Log {
  std::ostringstream out;
  spdlog::logger log{"test", std::make_shared<spdlog::sinks::ostream_sink_mt>(out)};
  Log() { log.set_pattern("%v"); }
};

}  // namespace

TEST_CASE("a waiting connection is accepted at once, non-blocking; the listeners take turns") {
  Listener a, b;
  Log log;
  AcceptRefusals refusals;
  UwsgiListeners listeners({a.fd, b.fd}, {});
  const int ca1 = a.connect(), ca2 = a.connect(), cb = b.connect();
  const int first = listeners.accept_next(refusals, log.log);
  const int second = listeners.accept_next(refusals, log.log);
  const int third = listeners.accept_next(refusals, log.log);
  REQUIRE(first >= 0);
  REQUIRE(second >= 0);
  REQUIRE(third >= 0);
  // a, then b (round robin, though a has another waiting), then a again.
  CHECK(local_port_of_peer(first) == a.port());
  CHECK(local_port_of_peer(second) == b.port());
  CHECK(local_port_of_peer(third) == a.port());
  CHECK((::fcntl(first, F_GETFL) & O_NONBLOCK) != 0);
  for (int fd : {first, second, third, ca1, ca2, cb}) ::close(fd);
  CHECK(log.out.str().empty());
}

TEST_CASE("idle listeners: the thread waits in poll until a wake fd is readable, then returns -1") {
  Listener a;
  Log log;
  AcceptRefusals refusals;
  const int wake = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  UwsgiListeners listeners({a.fd}, {wake});
  std::thread waker([wake] {
    const std::uint64_t one = 1;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    ::write(wake, &one, sizeof one);
  });
  CHECK(listeners.accept_next(refusals, log.log) == -1);
  waker.join();
  ::close(wake);
}

TEST_CASE("idle listeners: a connection arriving ends the wait, and the next call accepts it") {
  Listener a;
  Log log;
  AcceptRefusals refusals;
  UwsgiListeners listeners({a.fd}, {});
  int client = -1;
  std::thread connector([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    client = a.connect();
  });
  CHECK(listeners.accept_next(refusals, log.log) == -1);
  connector.join();
  const int accepted = listeners.accept_next(refusals, log.log);
  CHECK(accepted >= 0);
  ::close(accepted);
  ::close(client);
}

TEST_CASE("out of descriptors: -1 after a pause, then the burst is logged when accept works again") {
  Listener a;
  Log log;
  AcceptRefusals refusals;
  UwsgiListeners listeners({a.fd}, {});
  const int client = a.connect();
  // The lowest free descriptor as the limit: accept4 has nowhere to put the connection.
  const int lowest_free = ::dup(0);
  ::close(lowest_free);
  rlimit before{};
  ::getrlimit(RLIMIT_NOFILE, &before);
  rlimit low = before;
  low.rlim_cur = static_cast<rlim_t>(lowest_free);
  REQUIRE(::setrlimit(RLIMIT_NOFILE, &low) == 0);
  const int starved = listeners.accept_next(refusals, log.log);
  ::setrlimit(RLIMIT_NOFILE, &before);
  CHECK(starved == -1);
  CHECK(log.out.str().empty());  // the first failure of a burst is counted, not yet logged

  const int accepted = listeners.accept_next(refusals, log.log);  // the connection waited in the queue
  CHECK(accepted >= 0);
  log.log.flush();
  CHECK(log.out.str().find("accept on the uwsgi socket failed 1 time in ") != std::string::npos);
  CHECK(log.out.str().find(" s: Too many open files; ") != std::string::npos);
  // Logged once: another good accept adds nothing.
  const std::string after = log.out.str();
  refusals.clear(log.log);
  CHECK(log.out.str() == after);
  ::close(accepted);
  ::close(client);
}
