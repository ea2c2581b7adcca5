// Fuzzes the HTTP request parser, src/protocol/http*.cpp (and llhttp under it, and the
// CGI vars built from what it accepts) with arbitrary bytes arriving in arbitrary pieces,
// as a client could send them.
//
// Input: byte 0 picks the limits, byte 1 seeds how the rest is cut into socket reads and
// whether the caller resets between requests; the rest is the connection's byte stream
// (any number of pipelined requests).

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <string_view>

#include "protocol/cgi.hpp"
#include "protocol/http.hpp"

using namespace ferry::protocol::http;
using ferry::protocol::Packet;
using Status = RequestParser::Status;

namespace {

void require(bool ok, const char* invariant) {
  if (!ok) {
    std::fprintf(stderr, "fuzz_http: invariant broken: %s\n", invariant);
    std::abort();
  }
}

bool inside(std::string_view view, std::string_view buffer) {
  const std::less_equal<const char*> le;
  return le(buffer.data(), view.data()) && le(view.data() + view.size(), buffer.data() + buffer.size());
}

// Deterministic socket-read sizes: mostly small, sometimes everything at once.
class Reads {
 public:
  explicit Reads(std::uint8_t seed) : state_(seed * 2654435761u + 1) {}
  std::size_t next() {
    state_ = state_ * 1103515245u + 12345u;
    const std::uint32_t r = state_ >> 16;
    return (r & 7) == 0 ? 1u << 20 : 1 + r % 37;
  }
  bool coin() { return (next() & 1) != 0; }

 private:
  std::uint32_t state_;
};

void check_head(const Head& head, const Limits& limits) {
  require(!head.method.empty() && !head.target.empty(), "a complete head has a method and a target");
  require(head.version_major == 1 && head.version_minor <= 1, "only HTTP/1.0 and 1.1 get through");
  require(head.target.size() <= limits.max_target_bytes, "target within max_target_bytes");
  require(head.headers.size() <= limits.max_headers, "header count within max_headers");
  std::size_t bytes = head.method.size() + head.target.size();
  for (const auto& [name, value] : head.headers) {
    require(!name.empty(), "header names are never empty");
    bytes += name.size() + value.size();
  }
  require(bytes <= limits.max_head_bytes, "what was kept fits in max_head_bytes");
  require(!(head.chunked && head.content_length), "never both chunked and Content-Length");
  require(limits.max_body == 0 || head.content_length.value_or(0) <= limits.max_body, "CL within max_body");
  require(head.version_minor == 1 || !head.chunked, "no chunked HTTP/1.0 request");
  require(head.target[0] == '/' || head.target == "*" || head.target[0] == 'h' || head.target[0] == 'H',
          "target is origin-form, absolute-form or *");

  // The vars nginx would have sent; ASan catches any view left dangling.
  Packet packet;
  append_cgi_vars(head, {"192.0.2.9", "40000"}, {"::1", "8000"}, packet);
  std::size_t touched = 0;
  for (const auto& [key, value] : packet.vars) {
    require(!key.empty(), "var keys are never empty");
    for (const char c : key) touched += static_cast<unsigned char>(c);
    for (const char c : value) touched += static_cast<unsigned char>(c);
  }
  const auto facts = ferry::protocol::request_facts(packet);
  require(facts.method == head.method, "REQUEST_METHOD is the method");
  require(touched > 0, "vars were produced");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  Limits limits;
  const std::size_t head_sizes[] = {24, 96, 512, 4096};
  limits.max_head_bytes = head_sizes[data[0] & 3];
  limits.max_target_bytes = (data[0] & 4) ? 32 : limits.max_head_bytes;
  limits.max_headers = (data[0] & 8) ? 3 : 100;
  const std::uint64_t bodies[] = {0, 1, 16, 1000};
  limits.max_body = bodies[(data[0] >> 4) & 3];
  Reads reads(data[1]);
  const std::string_view stream(reinterpret_cast<const char*>(data) + 2, size - 2);

  RequestParser parser(limits);
  std::string pending;
  std::size_t arrived = 0;
  std::uint64_t body_bytes = 0;
  bool in_body = false;
  // Every call consumes bytes or moves the request forward; a bounded count proves it.
  const std::size_t max_calls = 4 * stream.size() + 16;
  for (std::size_t calls = 0;; ++calls) {
    require(calls < max_calls, "feed() makes progress");
    const RequestParser::Result result = parser.feed(pending);
    require(result.consumed <= pending.size(), "consumed <= what was fed");
    switch (result.status) {
      case Status::need_more: require(result.consumed == pending.size(), "need_more consumes everything"); break;
      case Status::head_complete:
        require(!in_body, "one head per request");
        check_head(parser.head(), limits);
        in_body = true;
        body_bytes = 0;
        // Sometimes the caller reads a Content-Length body itself, as the worker may.
        if (parser.head().content_length && reads.coin()) {
          pending.erase(0, result.consumed);
          std::uint64_t left = *parser.head().content_length;
          while (left > 0) {
            if (pending.empty()) {
              if (arrived == stream.size()) return 0;  // the client went away mid-body
              const std::size_t n = std::min(reads.next(), stream.size() - arrived);
              pending.append(stream.substr(arrived, n));
              arrived += n;
            }
            const std::size_t take = static_cast<std::size_t>(std::min<std::uint64_t>(left, pending.size()));
            pending.erase(0, take);
            left -= take;
          }
          parser.reset();
          in_body = false;
          continue;
        }
        break;
      case Status::body:
        require(in_body, "body only after a head");
        require(!result.body.empty(), "body pieces are never empty");
        require(inside(result.body, pending), "the body is a view into the fed bytes");
        require(result.body.data() + result.body.size() == pending.data() + result.consumed,
                "a body piece is the last thing consumed");
        body_bytes += result.body.size();
        if (limits.max_body != 0) require(body_bytes <= limits.max_body, "body within max_body");
        break;
      case Status::message_complete: {
        require(in_body, "a message ends after its head");
        const Head& head = parser.head();
        if (head.content_length) require(body_bytes == *head.content_length, "a CL body is exactly CL bytes");
        if (!head.content_length && !head.chunked) require(body_bytes == 0, "no framing, no body");
        in_body = false;
        if (!head.keep_alive) return 0;    // the worker closes here
        if (reads.coin()) parser.reset();  // optional after message_complete
        break;
      }
      case Status::error: {
        const int s = result.http_status;
        require(s == 400 || s == 413 || s == 414 || s == 431 || s == 501 || s == 505, "a documented status");
        require(!result.error.empty(), "every error has a reason");
        const RequestParser::Result again = parser.feed("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
        require(again.status == Status::error && again.http_status == s && again.consumed == 0, "errors are final");
        return 0;
      }
    }
    pending.erase(0, result.consumed);
    if (result.status == Status::need_more) {
      if (arrived == stream.size()) return 0;
      const std::size_t n = std::min(reads.next(), stream.size() - arrived);
      pending.append(stream.substr(arrived, n));
      arrived += n;
    }
  }
}
