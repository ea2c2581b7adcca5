#include "protocol/http_response.hpp"

#include <cstdio>
#include <fmt/format.h>

namespace ferry::protocol::http {

std::string_view reason_phrase(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Error";
  }
}

std::string plain_head(int status, std::string_view reason) {
  return fmt::format("HTTP/1.1 {} {}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n", status, reason,
                     reason.size() + 1);
}

void frame_head(ResponseFraming& framing, std::string& head, const HeadFacts& facts) {
  std::string extra = fmt::format("Date: {}\r\n", framing.date);
  // 1xx, 204 and 304 have no body by definition, and a HEAD response's is not sent.
  const bool bodiless = facts.status < 200 || facts.status == 204 || facts.status == 304 || facts.is_head;
  if (!facts.has_length && !bodiless) {
    if (facts.known_length) {
      extra += fmt::format("Content-Length: {}\r\n", *facts.known_length);
    } else if (framing.version_1_1) {
      extra += "Transfer-Encoding: chunked\r\n";
      framing.chunked = true;
    } else {
      framing.must_close = true;  // HTTP/1.0: the end of the body is the end of the connection
    }
  }
  if (!framing.keep_alive || framing.must_close) {
    framing.must_close = true;
    extra += "Connection: close\r\n";
  } else if (!framing.version_1_1) {
    extra += "Connection: keep-alive\r\n";
  }
  head.insert(head.size() - 2, extra);  // before the blank line that ends the head
}

std::string chunk_size_line(std::uint64_t size) { return fmt::format("{:x}\r\n", size); }

ChunkFrame::ChunkFrame(const iovec* parts, int count, bool with_head) {
  const int first_body = with_head ? 1 : 0;
  std::size_t size = 0;
  for (int i = first_body; i < count; ++i) size += parts[i].iov_len;
  if (count + 2 > kOnStack) {
    many_.resize(static_cast<std::size_t>(count) + 2);
    framed_ = many_.data();
  }
  if (with_head) framed_[count_++] = parts[0];
  if (size == 0) return;
  const int line_length = std::snprintf(line_, sizeof line_, "%zx\r\n", size);
  framed_[count_++] = {line_, static_cast<std::size_t>(line_length)};
  for (int i = first_body; i < count; ++i) framed_[count_++] = parts[i];
  framed_[count_++] = {const_cast<char*>("\r\n"), 2};
}

}  // namespace ferry::protocol::http
