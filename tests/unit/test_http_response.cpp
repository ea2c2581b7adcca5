// src/protocol/http_response.cpp: the HTTP listener's response framing, as pure functions.

#include "protocol/http_response.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using namespace ferry::protocol::http;

namespace {

std::string joined(const ChunkFrame& frame) {
  std::string out;
  for (int i = 0; i < frame.count(); ++i) {
    out.append(static_cast<const char*>(frame.parts()[i].iov_base), frame.parts()[i].iov_len);
  }
  return out;
}

iovec part(const std::string& s) { return {const_cast<char*>(s.data()), s.size()}; }

const std::string kHead = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n";

}  // namespace

TEST_CASE("the server's own responses: reason phrase, text/plain and the length of reason + newline") {
  CHECK(reason_phrase(413) == "Content Too Large");
  CHECK(reason_phrase(501) == "Not Implemented");
  CHECK(reason_phrase(299) == "Error");
  CHECK(plain_head(404, "Not Found") ==
        "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 10\r\n\r\n");
  CHECK(plain_body("Not Found") == "Not Found\n");
}

TEST_CASE("frame_head: a known length becomes Content-Length, an unknown one chunked on HTTP/1.1") {
  ResponseFraming framing{.date = "Mon, 07 Dec 2026 09:00:00 GMT"};
  std::string head = kHead;
  frame_head(framing, head, {.status = 200, .known_length = 5});
  CHECK(head ==
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nDate: Mon, 07 Dec 2026 09:00:00 GMT\r\n"
        "Content-Length: 5\r\n\r\n");
  CHECK_FALSE(framing.chunked);
  CHECK_FALSE(framing.must_close);

  ResponseFraming streaming{.date = "D"};
  head = kHead;
  frame_head(streaming, head, {.status = 200});
  CHECK(head.ends_with("Date: D\r\nTransfer-Encoding: chunked\r\n\r\n"));
  CHECK(streaming.chunked);
}

TEST_CASE("frame_head: HTTP/1.0 without a length ends the body by closing; keep-alive is said on 1.0") {
  ResponseFraming old{.version_1_1 = false, .date = "D"};
  std::string head = kHead;
  frame_head(old, head, {.status = 200});
  CHECK(head.ends_with("Date: D\r\nConnection: close\r\n\r\n"));
  CHECK(old.must_close);
  CHECK_FALSE(old.chunked);

  ResponseFraming kept{.version_1_1 = false, .date = "D"};
  head = kHead;
  frame_head(kept, head, {.status = 200, .has_length = true});
  CHECK(head.ends_with("Date: D\r\nConnection: keep-alive\r\n\r\n"));
  CHECK_FALSE(kept.must_close);
}

TEST_CASE("frame_head: bodiless responses get no framing; a client that asked to close gets Connection: close") {
  for (int status : {204, 304}) {
    ResponseFraming framing{.date = "D"};
    std::string head = kHead;
    frame_head(framing, head, {.status = status});
    CHECK(head.ends_with("Date: D\r\n\r\n"));
    CHECK_FALSE(framing.chunked);
  }
  ResponseFraming head_request{.date = "D"};
  std::string head = kHead;
  frame_head(head_request, head, {.status = 200, .is_head = true});
  CHECK(head.find("chunked") == std::string::npos);

  ResponseFraming closing{.keep_alive = false, .date = "D"};
  head = kHead;
  frame_head(closing, head, {.status = 200, .has_length = true});
  CHECK(head.ends_with("Connection: close\r\n\r\n"));
  CHECK(closing.must_close);
}

TEST_CASE("ChunkFrame wraps a write's parts in one chunk, the head before it unframed") {
  const std::string a = "hello, ", b = "world";
  const iovec body[] = {part(a), part(b)};
  CHECK(joined(ChunkFrame(body, 2, false)) == "c\r\nhello, world\r\n");

  const iovec with_head[] = {part(kHead), part(a)};
  CHECK(joined(ChunkFrame(with_head, 2, true)) == kHead + "7\r\nhello, \r\n");

  // An empty body is no chunk at all (a zero-size chunk would end the body).
  const std::string empty;
  const iovec only_head[] = {part(kHead), part(empty)};
  CHECK(joined(ChunkFrame(only_head, 2, true)) == kHead);
  CHECK(ChunkFrame(body, 0, false).count() == 0);
}

TEST_CASE("ChunkFrame takes more parts than fit on its stack") {
  const std::string x = "x";
  std::vector<iovec> many(40, part(x));
  const ChunkFrame frame(many.data(), static_cast<int>(many.size()), false);
  CHECK(frame.count() == 42);
  CHECK(joined(frame) == "28\r\n" + std::string(40, 'x') + "\r\n");
  CHECK(chunk_size_line(255) == "ff\r\n");
  CHECK(kLastChunk == "0\r\n\r\n");
}
