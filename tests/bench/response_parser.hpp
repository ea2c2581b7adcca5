#pragma once

// The load generator's HTTP/1.x response parser. Pure and incremental: it is fed whatever
// a read returned and says whether the response is complete, so a 100 MB download is
// counted, never buffered. Only the head is kept (up to kMaxHead bytes).
//
// Two ways a response can end:
//   - at_close: uwsgi. The server closes the connection after the response, as nginx
//     expects; the response is complete only at EOF. A Content-Length or chunked framing,
//     if present, must agree with what arrived, so a truncated body is still caught.
//   - framed: HTTP/1.1. Content-Length, chunked, or (with neither) the close.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace ferry::bench {

// Large enough for any real response head; a server sending more is broken.
inline constexpr std::size_t kMaxHead = 64 * 1024;
// A chunk-size line (hex digits and extensions) longer than this is garbage.
inline constexpr std::size_t kMaxChunkLine = 1024;

class ResponseParser {
 public:
  enum class End { at_close, framed };
  enum class State { head, body, complete, invalid };

  explicit ResponseParser(End end) : end_(end) {}

  void reset();

  // Consumes bytes. Returns the state afterwards; complete means no more bytes belong to
  // this response (never with End::at_close: only on_close() completes those).
  State feed(std::string_view data);

  // The peer closed the connection: completes a response delimited by the close, and
  // turns anything unfinished into invalid.
  State on_close();

  State state() const { return state_; }
  int status() const { return status_; }
  // The server will keep the connection open after this response (HTTP/1.1 and no
  // "Connection: close", or HTTP/1.0 with keep-alive). Meaningless with at_close.
  bool keep_alive() const { return keep_alive_; }
  std::uint64_t body_bytes() const { return body_bytes_; }
  std::string_view error() const { return error_; }

 private:
  enum class Framing { until_close, content_length, chunked };
  enum class Chunk { size_line, data, data_crlf, trailer_line };

  State fail(std::string_view why);
  bool parse_head();
  std::size_t feed_body(std::string_view data);
  std::size_t feed_chunked(std::string_view data);
  bool chunk_size_line();

  End end_;
  State state_ = State::head;
  std::string head_;
  int status_ = 0;
  bool keep_alive_ = false;
  Framing framing_ = Framing::until_close;
  std::uint64_t remaining_ = 0;  // Content-Length left, or the current chunk's bytes left
  std::uint64_t body_bytes_ = 0;
  bool framing_done_ = false;  // Content-Length reached, or the last chunk's trailer read
  Chunk chunk_ = Chunk::size_line;
  std::string line_;  // the chunk-size or trailer line being read
  std::string error_;
};

}  // namespace ferry::bench
