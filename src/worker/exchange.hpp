#pragma once

// One request/response on one accepted connection: the packet as parsed, the body still
// to read, and what the response cost, for the request log. Blocking I/O with a timeout,
// and no Python: src/wsgi/ drives it and releases the GIL around the calls that wait.

#include <sys/socket.h>
#include <sys/uio.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "protocol/cgi.hpp"
#include "protocol/http.hpp"
#include "protocol/uwsgi.hpp"

namespace ferry::worker {

// The reason phrase of each status ferry answers by itself, from RFC 9110, on both
// listeners.
std::string_view reason_phrase(int status);

// The head of a response the server makes itself: "HTTP/1.1 S R", a text/plain type and
// the length of its body, which is the reason and a newline (plain_body).
std::string plain_head(int status, std::string_view reason);
inline std::string plain_body(std::string_view reason) { return std::string(reason) + '\n'; }

// How a response is framed for a client of the HTTP listener (nginx frames uwsgi
// responses itself, so the uwsgi path has none of this).
struct HttpFraming {
  bool keep_alive = true;  // the client may send another request on this connection
  bool version_1_1 = true;
  std::string_view date;  // the Date header's value
  // Set while the response is written:
  bool chunked = false;     // the length was unknown: Transfer-Encoding: chunked
  bool must_close = false;  // the body cannot be delimited otherwise, or came out short
};

// A TCP address as the CGI vars carry it: numeric, IPv6 without brackets; empty for a
// Unix socket.
protocol::http::Endpoint endpoint_of(const sockaddr_storage& addr);

class Exchange {
 public:
  // `packet` belongs to the serving thread and is reused, so its vectors keep their capacity.
  Exchange(int fd, int timeout_ms, protocol::Packet& packet) : packet(packet), fd_(fd), timeout_ms_(timeout_ms) {}

  // Reads up to `n` body bytes into `dst`: 0 at the end of the body (CONTENT_LENGTH
  // reached), -1 if the client vanished or timed out first.
  long read_body(char* dst, std::size_t n);
  std::uint64_t body_left() const { return body_left_; }
  // Reads until `n` bytes are in `dst` or the body ends; fewer than asked for means the
  // body ended (body_left() == 0) or the client vanished (client_gone).
  std::size_t read_body_fully(char* dst, std::size_t n);

  // Writes everything; false once the client is gone (then every later write is skipped).
  bool write(const iovec* parts, int count);
  bool write(std::string_view data) {
    iovec part{const_cast<char*>(data.data()), data.size()};
    return write(&part, 1);
  }

  // A complete plain-text response the server makes itself (400, 404, 413, 500), with
  // the request log's accounting filled in.
  void send_plain(int status);

  // Sends `count` bytes of the regular file `file` from `offset` with sendfile(2); false
  // once the client is gone. Returns how many bytes went out in `sent`.
  bool send_file(int file, std::uint64_t offset, std::uint64_t count, std::uint64_t& sent);

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

  // HTTP listener only, called once just before `head` (a complete response head, ending
  // in a blank line) is written: adds Date and Connection, and Content-Length (the app
  // gave none but `known_length` is the whole body) or chunked framing. The uwsgi path
  // returns at once. Later writes are framed to match; end_response() ends the body.
  void frame_head(std::string& head, bool has_length, std::optional<std::uint64_t> known_length);
  bool end_response();
  HttpFraming* http = nullptr;
  int fd() const { return fd_; }
  // The address this connection was accepted on, as SERVER_NAME names a host: an IP
  // literal ("[::1]" bracketed), or "localhost" on a Unix socket, whose peer is on this
  // machine. One getsockname(): for the rare request that names no host.
  std::string server_address() const;

  protocol::Packet& packet;
  // What the worker read from the vars (method, URI, ...), computed once per request.
  protocol::RequestFacts facts;
  bool is_head = false;

  // Filled while the response is written, read by the request log.
  int app_id = 0;  // which app (main = 0, then mounts) served it
  int status = 0;
  std::uint64_t body_bytes = 0;
  std::uint32_t header_count = 0;
  std::uint64_t header_bytes = 0;
  bool client_gone = false;

 private:
  bool wait(short events);
  bool write_raw(const iovec* parts, int count);
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
