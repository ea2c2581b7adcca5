// src/worker/exchange.cpp: one request's socket I/O over a real socketpair: the body read
// from what was buffered with the head and then from the socket, the response written
// plain (uwsgi) or with HTTP/1.1 chunked framing (exchange.http), the server's own plain
// responses, and the unread body drained.

#include "worker/exchange.hpp"

#include "protocol/http_response.hpp"
#include "protocol/uwsgi.hpp"

#include <doctest/doctest.h>

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <string>

using ferry::protocol::Packet;
using ferry::protocol::http::ResponseFraming;
using ferry::worker::endpoint_of;
using ferry::worker::Exchange;

namespace {

// The server end (non-blocking, as the worker's accepted sockets are) and the client end.
struct Pair {
  int server = -1, client = -1;
  Pair() {
    int fds[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0);
    server = fds[0];
    client = fds[1];
    ::fcntl(server, F_SETFL, O_NONBLOCK);
  }
  ~Pair() {
    ::close(server);
    if (client >= 0) ::close(client);
  }
  void send(const std::string& data) const {
    REQUIRE(::write(client, data.data(), data.size()) == (ssize_t)data.size());
  }
  // What the server has written so far.
  std::string received() const {
    std::string out;
    char buffer[4096];
    pollfd p{client, POLLIN, 0};
    while (::poll(&p, 1, 0) == 1) {
      const ssize_t n = ::read(client, buffer, sizeof buffer);
      if (n <= 0) break;
      out.append(buffer, static_cast<std::size_t>(n));
    }
    return out;
  }
  void close_client() {
    ::close(client);
    client = -1;
  }
};

std::string read_some(Exchange& exchange, std::size_t n) {
  std::string out(n, '\0');
  const long got = exchange.read_body(out.data(), n);
  return got < 0 ? "<gone>" : out.substr(0, static_cast<std::size_t>(got));
}

}  // namespace

TEST_CASE("the body comes from the bytes buffered with the head first, then the socket") {
  Pair pair;
  Packet packet;
  Exchange exchange(pair.server, 1000, packet);
  // 10 bytes of body, 4 of which arrived with the head.
  exchange.start_body("abcd", 10);
  CHECK(exchange.body_left() == 10);
  pair.send("efghij");
  CHECK(read_some(exchange, 3) == "abc");
  CHECK(read_some(exchange, 100) == "d");  // the buffered part is used up before any read(2)
  CHECK(exchange.body_left() == 6);
  char rest[32];
  CHECK(exchange.read_body_fully(rest, sizeof rest) == 6);
  CHECK(std::string(rest, 6) == "efghij");
  CHECK(exchange.body_left() == 0);
  CHECK(read_some(exchange, 10).empty());  // the end of the body, not of the socket
  CHECK_FALSE(exchange.client_gone);
}

TEST_CASE("bytes buffered past CONTENT_LENGTH are not the body") {
  Pair pair;
  Packet packet;
  Exchange exchange(pair.server, 1000, packet);
  exchange.start_body("abcdNEXT", 4);
  CHECK(read_some(exchange, 100) == "abcd");
  CHECK(read_some(exchange, 100).empty());
  CHECK(exchange.body_left() == 0);
}

TEST_CASE("a client that goes away before CONTENT_LENGTH is gone, not an end of body") {
  Pair pair;
  Packet packet;
  Exchange exchange(pair.server, 1000, packet);
  exchange.start_body("", 100);
  pair.send("only");
  pair.close_client();
  CHECK(read_some(exchange, 100) == "only");
  CHECK(read_some(exchange, 100) == "<gone>");
  CHECK(exchange.client_gone);
}

TEST_CASE("a client that sends nothing times out after socket-timeout") {
  Pair pair;
  Packet packet;
  Exchange exchange(pair.server, 50, packet);
  exchange.start_body("", 5);
  CHECK(read_some(exchange, 5) == "<gone>");
  CHECK(exchange.client_gone);
}

TEST_CASE("a body spilled to a file is read from it") {
  Pair pair;
  Packet packet;
  Exchange exchange(pair.server, 1000, packet);
  FILE* spill = std::tmpfile();
  std::fputs("from the file", spill);
  std::fflush(spill);
  exchange.start_body_from_file(::fileno(spill), 13);
  char buffer[64];
  CHECK(exchange.read_body_fully(buffer, sizeof buffer) == 13);
  CHECK(std::string(buffer, 13) == "from the file");
  std::fclose(spill);
}

TEST_CASE("discard_body drains what the app did not read, and no more") {
  Pair pair;
  Packet packet;
  Exchange exchange(pair.server, 1000, packet);
  exchange.start_body("12", 6);
  pair.send("3456NEXT");
  exchange.discard_body();
  CHECK(exchange.body_left() == 0);
  char next[8];
  CHECK(::read(pair.server, next, sizeof next) == 4);  // the next request's bytes are left
}

TEST_CASE("uwsgi: writes go out as they are, with no framing") {
  Pair pair;
  Packet packet;
  Exchange exchange(pair.server, 1000, packet);
  std::string head = "HTTP/1.1 200 OK\r\n\r\n";
  exchange.frame_head(head, false, std::nullopt);
  CHECK(head == "HTTP/1.1 200 OK\r\n\r\n");  // nginx frames uwsgi responses
  iovec parts[2] = {{head.data(), head.size()}, {const_cast<char*>("hello"), 5}};
  CHECK(exchange.write(parts, 2));
  CHECK(exchange.end_response());
  CHECK(pair.received() == "HTTP/1.1 200 OK\r\n\r\nhello");
}

TEST_CASE("HTTP, length unknown: the head says chunked, each write is one chunk, end_response ends it") {
  Pair pair;
  Packet packet;
  Exchange exchange(pair.server, 1000, packet);
  ResponseFraming framing;
  framing.date = "Mon, 07 Dec 2026 09:00:00 GMT";
  exchange.http = &framing;
  exchange.status = 200;
  std::string head = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n";
  exchange.frame_head(head, false, std::nullopt);
  CHECK(framing.chunked);
  iovec first[2] = {{head.data(), head.size()}, {const_cast<char*>("hello, "), 7}};
  CHECK(exchange.write(first, 2));
  CHECK(exchange.write("world"));
  CHECK(exchange.write(""));  // an empty write makes no chunk: a zero-size one would end the body
  CHECK(exchange.end_response());
  CHECK_FALSE(framing.chunked);
  CHECK(pair.received() ==
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nDate: Mon, 07 Dec 2026 09:00:00 GMT\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
        "7\r\nhello, \r\n5\r\nworld\r\n0\r\n\r\n");
}

TEST_CASE("HTTP, a file sent into a chunked body is one chunk") {
  Pair pair;
  Packet packet;
  Exchange exchange(pair.server, 1000, packet);
  ResponseFraming framing;
  framing.date = "D";
  exchange.http = &framing;
  exchange.status = 200;
  std::string head = "HTTP/1.1 200 OK\r\n\r\n";
  exchange.frame_head(head, false, std::nullopt);
  CHECK(exchange.write(head));
  FILE* file = std::tmpfile();
  std::fputs("0123456789abcdef0123", file);
  std::fflush(file);
  std::uint64_t sent = 0;
  CHECK(exchange.send_file(::fileno(file), 2, 16, sent));
  CHECK(sent == 16);
  CHECK(exchange.end_response());
  CHECK(pair.received() ==
        "HTTP/1.1 200 OK\r\nDate: D\r\nTransfer-Encoding: chunked\r\n\r\n"
        "10\r\n23456789abcdef01\r\n0\r\n\r\n");
  std::fclose(file);
}

TEST_CASE("send_plain: a complete response, accounted for the request log") {
  Pair pair;
  Packet packet;
  Exchange exchange(pair.server, 1000, packet);
  exchange.send_plain(413);
  CHECK(exchange.status == 413);
  CHECK(exchange.body_bytes == std::string("Content Too Large\n").size());
  const std::string got = pair.received();
  CHECK(got ==
        "HTTP/1.1 413 Content Too Large\r\nContent-Type: text/plain\r\nContent-Length: 18\r\n\r\n"
        "Content Too Large\n");
  CHECK(exchange.header_bytes == got.size() - exchange.body_bytes);
}

TEST_CASE("send_plain on HTTP to a HEAD request: the head alone, with Date and Connection: close") {
  Pair pair;
  Packet packet;
  Exchange exchange(pair.server, 1000, packet);
  ResponseFraming framing;
  framing.date = "D";
  framing.keep_alive = false;
  exchange.http = &framing;
  exchange.is_head = true;
  exchange.send_plain(404);
  CHECK(exchange.body_bytes == 0);
  CHECK(pair.received() ==
        "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 10\r\nDate: D\r\n"
        "Connection: close\r\n\r\n");
  CHECK(framing.must_close);
}

TEST_CASE("writing to a client that is gone fails once, and every later write is skipped") {
  Pair pair;
  Packet packet;
  Exchange exchange(pair.server, 1000, packet);
  pair.close_client();
  ::signal(SIGPIPE, SIG_IGN);  // as the worker does (install_signal_handlers)
  CHECK_FALSE(exchange.write("lost"));
  ::signal(SIGPIPE, SIG_DFL);
  CHECK(exchange.client_gone);
  CHECK_FALSE(exchange.write("also lost"));
  exchange.close_after_response();  // uwsgi: nothing to mark
}

TEST_CASE("endpoint_of and server_address: numeric addresses, localhost on a Unix socket") {
  sockaddr_storage storage{};
  auto* in = reinterpret_cast<sockaddr_in*>(&storage);
  in->sin_family = AF_INET;
  in->sin_port = htons(8080);
  in->sin_addr.s_addr = htonl(0x7f000001);
  const auto endpoint = endpoint_of(storage);
  CHECK(endpoint.addr == "127.0.0.1");
  CHECK(endpoint.port == "8080");

  Pair pair;
  Packet packet;
  const Exchange exchange(pair.server, 1000, packet);
  CHECK(exchange.server_address() == "localhost");
}
