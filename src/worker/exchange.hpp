#pragma once

// One request/response on one accepted connection, the wsgi::Connection the app's request
// is served through: the packet as parsed, the body still to read, and what the response
// cost, for the request log. Blocking I/O with a timeout, and no Python: src/wsgi/ drives
// it and releases the GIL around the calls that wait.

#include <sys/socket.h>
#include <poll.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "protocol/cgi.hpp"
#include "protocol/http.hpp"
#include "protocol/http_response.hpp"
#include "protocol/uwsgi.hpp"
#include "worker/tls.hpp"
#include "wsgi/connection.hpp"

namespace ferry::worker {

// A TCP address as the CGI vars carry it: numeric, IPv6 without brackets; empty for a
// Unix socket.
protocol::http::Endpoint endpoint_of(const sockaddr_storage& addr);

class Exchange final : public wsgi::Connection {
 public:
  // `packet` belongs to the serving thread and is reused, so its vectors keep their capacity.
  Exchange(int fd, int timeout_ms, protocol::Packet& packet) : Connection(packet), fd_(fd), timeout_ms_(timeout_ms) {}

  long read_body(char* dst, std::size_t n) override;
  std::uint64_t body_left() const override { return body_left_; }

  bool write(const iovec* parts, int count) override;
  bool write(std::string_view data) {
    iovec part{const_cast<char*>(data.data()), data.size()};
    return write(&part, 1);
  }

  // A complete plain-text response the server makes itself (400, 404, 413, 500), with
  // the request log's accounting filled in.
  void send_plain(int status) override;

  // With sendfile(2).
  bool send_file(int file, std::uint64_t offset, std::uint64_t count, std::uint64_t& sent) override;

  // Reads and drops the body the app did not read, so closing the socket does not reset
  // a connection nginx is still reading our response from.
  void discard_body();

  // Set by the worker before the app runs.
  void start_body(std::string_view already_read, std::uint64_t content_length) {
    buffered_ = already_read.substr(0, content_length);
    body_left_ = content_length;
  }
  // A body read in full before the app runs (a chunked upload on the HTTP listener):
  // `size` bytes in the regular file `file`, from offset 0.
  void start_body_from_file(int file, std::uint64_t size) {
    body_file_ = file;
    buffered_ = {};
    body_left_ = size;
  }

  // HTTP listener only (`http` set), called once just before `head` is written: see
  // protocol::http::frame_head. The uwsgi path returns at once. Later writes are framed to
  // match; end_response() ends the body.
  void frame_head(std::string& head, bool has_length, std::optional<std::uint64_t> known_length) override;
  bool end_response();
  void close_after_response() override {
    if (http != nullptr) http->must_close = true;
  }
  protocol::http::ResponseFraming* http = nullptr;  // HTTP listener only
  int fd() const { return fd_; }
  // ssl-socket, https: every byte goes through the session (set before the first read).
  TlsSession* tls = nullptr;
  // read(2) on the socket, through `tls` if set: bytes, 0 at EOF, or -1 with errno.
  ssize_t read_some(char* dst, std::size_t n) { return tls != nullptr ? tls->read(dst, n) : ::read(fd_, dst, n); }
  // What to poll for after read_some's EAGAIN: POLLIN, or POLLOUT when TLS must send first.
  short read_event() const { return tls != nullptr ? tls->wants() : POLLIN; }
  // An IP literal ("[::1]" bracketed), or "localhost" on a Unix socket, whose peer is on
  // this machine. One getsockname().
  std::string server_address() const override;

 private:
  bool wait(short events);
  bool write_raw(const iovec* parts, int count);
  bool send_file_through_tls(int file, std::uint64_t offset, std::uint64_t count, std::uint64_t& sent);
  bool write_raw_text(std::string_view text) {
    iovec part{const_cast<char*>(text.data()), text.size()};
    return write_raw(&part, 1);
  }

  int fd_;
  int timeout_ms_;
  std::string_view buffered_;
  std::uint64_t body_left_ = 0;
  int body_file_ = -1;
  std::uint64_t body_file_offset_ = 0;
  bool head_pending_ = false;  // frame_head ran: the next write starts with the head
};

}  // namespace ferry::worker
