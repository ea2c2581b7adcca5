#pragma once

// HTTP/1.1 response framing for the HTTP listener, as pure functions: the reason phrases,
// the server's own plain-text responses, the headers a response head gains (Date,
// Connection, Content-Length or chunked) and chunked encoding. No I/O: src/worker/ writes
// what these build. (nginx frames uwsgi responses itself, so the uwsgi path uses none of
// this but the reason phrases.)

#include <sys/uio.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ferry::protocol::http {

// The reason phrase of each status ferry answers by itself, from RFC 9110.
std::string_view reason_phrase(int status);

// The head of a response the server makes itself: "HTTP/1.1 S R", a text/plain type and
// the length of its body, which is the reason and a newline (plain_body).
std::string plain_head(int status, std::string_view reason);
inline std::string plain_body(std::string_view reason) { return std::string(reason) + '\n'; }

// How one response on an HTTP connection is framed.
struct ResponseFraming {
  bool keep_alive = true;  // the client may send another request on this connection
  bool version_1_1 = true;
  std::string_view date;  // the Date header's value
  // Set by frame_head and while the body is written:
  bool chunked = false;     // the length was unknown: Transfer-Encoding: chunked
  bool must_close = false;  // the body cannot be delimited otherwise, or came out short
};

// What frame_head needs to know of the response.
struct HeadFacts {
  int status = 200;
  bool is_head = false;                       // a HEAD request: the body is not sent
  bool has_length = false;                    // the head already has a Content-Length
  std::optional<std::uint64_t> known_length;  // the whole body's size, when known now
};

// Completes `head` (a response head ending in its blank line): adds Date, then
// Content-Length (no length given but `known_length` is known) or chunked framing (HTTP/1.1)
// or an end-of-connection body (HTTP/1.0), then Connection. Updates `framing` to match.
void frame_head(ResponseFraming& framing, std::string& head, const HeadFacts& facts);

// The chunk that ends a chunked body.
inline constexpr std::string_view kLastChunk = "0\r\n\r\n";

// "<size in hex>\r\n", the line that opens a chunk of `size` bytes.
std::string chunk_size_line(std::uint64_t size);

// One writev's worth of parts wrapped as one chunk: [head] size-line parts... CRLF. The
// head, when `with_head`, is parts[0] and goes out unframed before the chunk. An empty
// body makes no chunk (a zero-size chunk would end the body): only the head, if any.
// Points into `parts`, so it lives no longer than they do; neither copied nor moved.
class ChunkFrame {
 public:
  ChunkFrame(const iovec* parts, int count, bool with_head);
  ChunkFrame(const ChunkFrame&) = delete;
  ChunkFrame& operator=(const ChunkFrame&) = delete;

  const iovec* parts() const { return framed_; }
  int count() const { return count_; }

 private:
  static constexpr int kOnStack = 16;  // more parts than this (a long list body) allocate
  char line_[24];
  iovec local_[kOnStack];
  std::vector<iovec> many_;
  iovec* framed_ = local_;
  int count_ = 0;
};

}  // namespace ferry::protocol::http
