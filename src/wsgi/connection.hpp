#pragma once

// What src/wsgi/ needs from the connection a request arrived on: its parsed request, its
// body, and somewhere to write the response. src/worker/ implements it (worker::Exchange)
// over a socket; the unit tests implement it over a string. Blocking calls: the caller
// releases the GIL around them.

#include <sys/uio.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "protocol/cgi.hpp"
#include "protocol/uwsgi.hpp"

namespace ferry::wsgi {

class Connection {
 public:
  explicit Connection(protocol::Packet& packet) : packet(packet) {}
  virtual ~Connection() = default;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Reads up to `n` body bytes into `dst`: 0 at the end of the body (CONTENT_LENGTH
  // reached), -1 if the client vanished or timed out first.
  virtual long read_body(char* dst, std::size_t n) = 0;
  // Body bytes not read yet.
  virtual std::uint64_t body_left() const = 0;
  // Reads until `n` bytes are in `dst` or the body ends; fewer than asked for means the
  // body ended (body_left() == 0) or the client vanished (client_gone).
  std::size_t read_body_fully(char* dst, std::size_t n) {
    std::size_t have = 0;
    while (have < n) {
      const long got = read_body(dst + have, n - have);
      if (got <= 0) break;
      have += static_cast<std::size_t>(got);
    }
    return have;
  }

  // Completes a response head (ending in its blank line) just before it is written:
  // on the HTTP listener, adds Date, Connection and the body's framing; on the uwsgi
  // listener, nothing. `known_length` is the whole body's size when the caller knows it.
  virtual void frame_head(std::string& head, bool has_length, std::optional<std::uint64_t> known_length) = 0;
  // Writes everything (body parts are framed to match the head); false once the client is
  // gone, after which every write is skipped.
  virtual bool write(const iovec* parts, int count) = 0;
  // Sends `count` bytes of the regular file `file` from `offset`; false once the client
  // is gone. How many bytes went out: `sent`.
  virtual bool send_file(int file, std::uint64_t offset, std::uint64_t count, std::uint64_t& sent) = 0;
  // A complete plain-text response the server makes itself (404, 500), accounted below.
  virtual void send_plain(int status) = 0;
  // The response came out shorter than its head promised: end the connection after it,
  // so the client sees it as truncated. (Nothing to do where the protocol frames it.)
  virtual void close_after_response() = 0;
  // The address the connection was accepted on, as SERVER_NAME names a host, for the
  // rare request that names none.
  virtual std::string server_address() const = 0;

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
  // For the stats: the app raised or its response failed and the server made it a 500 or
  // cut it (wsgi's handler sets it); reading the body or writing the response failed.
  bool app_failed = false;
  bool read_failed = false;
  bool write_failed = false;
};

}  // namespace ferry::wsgi
