// src/worker/http_front.cpp: the HTTP listener's front thread on a real loopback listener:
// a request's head is read there and only then queued for a serving thread; a malformed
// one is answered by the front itself; a stop closes the idle connections it holds.

#include "worker/http_front.hpp"

#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <sstream>
#include <string>

using namespace ferry;
using namespace ferry::worker;

namespace {

struct Front {
  config::Config config;
  UniqueFd listener{::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)};
  UniqueFd stop{::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)};
  sockaddr_in addr{};
  std::ostringstream log_text;
  ReadyQueue ready;
  std::unique_ptr<HttpFront> front;
  bool joined = false;

  Front() {
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(listener.get(), 16) == 0);
    socklen_t length = sizeof addr;
    ::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&addr), &length);
    auto log = std::make_shared<spdlog::logger>("front", std::make_shared<spdlog::sinks::ostream_sink_mt>(log_text));
    front = std::make_unique<HttpFront>(config, std::vector<int>{listener.get()}, std::vector<TlsContext*>{nullptr},
                                        ready, stop.get(), log);
    front->start();
  }
  ~Front() { stop_and_join(); }
  void stop_and_join() {
    if (joined) return;
    const std::uint64_t one = 1;
    ::write(stop.get(), &one, sizeof one);
    front->join();
    joined = true;
  }
  UniqueFd connect(const std::string& send) const {
    UniqueFd client(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    REQUIRE(::connect(client.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0);
    if (!send.empty()) REQUIRE(::write(client.get(), send.data(), send.size()) == static_cast<ssize_t>(send.size()));
    return client;
  }
  // The next connection the front queued, waiting up to 5 s for it.
  std::unique_ptr<HttpConnection> next() {
    pollfd p{ready.fd(), POLLIN, 0};
    if (::poll(&p, 1, 5000) != 1) return nullptr;
    return ready.try_pop();
  }
};

// What the server sent until it closed (or 5 s passed).
std::string read_until_closed(int fd) {
  std::string out;
  char buffer[1024];
  pollfd p{fd, POLLIN, 0};
  while (::poll(&p, 1, 5000) == 1) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n <= 0) break;
    out.append(buffer, static_cast<std::size_t>(n));
  }
  return out;
}

}  // namespace

TEST_CASE("a request's head is read by the front, then queued for a serving thread") {
  Front f;
  auto client = f.connect("GET /hello?x=1 HTTP/1.1\r\nHost: example.test\r\n\r\n");
  auto connection = f.next();
  REQUIRE(connection);
  const auto& head = connection->parser.head();
  CHECK(head.method == "GET");
  CHECK(head.target == "/hello?x=1");
  CHECK(head.keep_alive);
  CHECK(connection->peer.addr == "127.0.0.1");
  CHECK(connection->local.port == std::to_string(ntohs(f.addr.sin_port)));
  CHECK_FALSE(connection->uwsgi);
  CHECK(f.ready.size() == 0);
}

TEST_CASE("a head sent in pieces is queued only once it is whole") {
  Front f;
  auto client = f.connect("POST /form HTTP/1.1\r\nHost: x\r\nContent-");
  pollfd p{f.ready.fd(), POLLIN, 0};
  CHECK(::poll(&p, 1, 100) == 0);  // not yet
  const std::string rest = "Length: 3\r\n\r\nabc";
  REQUIRE(::write(client.get(), rest.data(), rest.size()) == static_cast<ssize_t>(rest.size()));
  auto connection = f.next();
  REQUIRE(connection);
  CHECK(connection->parser.head().method == "POST");
  CHECK(connection->parser.head().content_length == 3u);
}

TEST_CASE("a malformed request is answered by the front and never reaches Python") {
  Front f;
  auto client = f.connect("NOT A REQUEST\r\n\r\n");
  const std::string reply = read_until_closed(client.get());
  CHECK(reply.starts_with("HTTP/1.1 400 "));
  pollfd p{f.ready.fd(), POLLIN, 0};
  CHECK(::poll(&p, 1, 0) == 0);
}

TEST_CASE("a stop closes the idle connections the front holds") {
  Front f;
  auto idle = f.connect("");
  // Make sure the front has accepted it: a request on another connection comes through first.
  auto other = f.connect("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  REQUIRE(f.next());
  f.stop_and_join();
  CHECK(read_until_closed(idle.get()).empty());  // end of file, not a timeout
  char byte;
  CHECK(::read(idle.get(), &byte, 1) == 0);
}
