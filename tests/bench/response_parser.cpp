#include "response_parser.hpp"

#include <algorithm>
#include <charconv>

namespace ferry::bench {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return (x | 0x20) == (y | 0x20);  // ASCII letters only; fine for header names
         });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// True if the comma-separated header value lists token (Connection, Transfer-Encoding).
bool lists_token(std::string_view value, std::string_view token) {
  while (!value.empty()) {
    const auto comma = value.find(',');
    if (iequals(trim(value.substr(0, comma)), token)) return true;
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return false;
}

}  // namespace

void ResponseParser::reset() {
  state_ = State::head;
  head_.clear();
  status_ = 0;
  keep_alive_ = false;
  framing_ = Framing::until_close;
  remaining_ = body_bytes_ = 0;
  chunk_ = Chunk::size_line;
  line_.clear();
  error_.clear();
  framing_done_ = false;
}

ResponseParser::State ResponseParser::fail(std::string_view why) {
  state_ = State::invalid;
  error_ = why;
  return state_;
}

ResponseParser::State ResponseParser::feed(std::string_view data) {
  if (state_ == State::invalid) return state_;
  if (state_ == State::head) {
    // Only the last three old bytes can start a terminator that the new data finishes,
    // and the old bytes alone held none, so a terminator found ends inside `data`.
    const std::size_t old_size = head_.size();
    const std::size_t search_from = old_size < 3 ? 0 : old_size - 3;
    head_.append(data.substr(0, std::min(data.size(), kMaxHead + 4 - old_size)));
    const auto end = head_.find("\r\n\r\n", search_from);
    if (end == std::string::npos) {
      if (head_.size() > kMaxHead) return fail("response head larger than 64 KiB");
      return state_;
    }
    data.remove_prefix(end + 4 - old_size);  // the rest is the start of the body
    head_.resize(end + 4);
    if (!parse_head()) return state_;
    state_ = State::body;
    if (framing_ == Framing::content_length && remaining_ == 0) framing_done_ = true;
  }
  if (state_ != State::body) {
    if (!data.empty()) return fail("bytes after the end of the response");
    return state_;
  }
  while (!data.empty() && state_ == State::body) {
    if (framing_done_) return fail("bytes after the end of the response body");
    data.remove_prefix(feed_body(data));
  }
  if (state_ == State::body && framing_done_ && end_ == End::framed) state_ = State::complete;
  return state_;
}

ResponseParser::State ResponseParser::on_close() {
  switch (state_) {
    case State::head:
      return fail(head_.empty() ? "connection closed without a response" : "connection closed in the response head");
    case State::body:
      if (framing_ == Framing::until_close || framing_done_) {
        state_ = State::complete;
        return state_;
      }
      return fail(framing_ == Framing::chunked ? "connection closed inside a chunked body"
                                               : "connection closed before Content-Length bytes");
    case State::complete:
    case State::invalid: break;
  }
  return state_;
}

bool ResponseParser::parse_head() {
  std::string_view head(head_);
  const auto line_end = head.find("\r\n");
  const std::string_view status_line = head.substr(0, line_end);
  // "HTTP/1.x SSS reason"
  if (status_line.size() < 12 || status_line.substr(0, 7) != "HTTP/1." || status_line[8] != ' ') {
    fail("bad status line");
    return false;
  }
  const bool http10 = status_line[7] == '0';
  const auto code = status_line.substr(9, 3);
  if (std::from_chars(code.data(), code.data() + 3, status_).ec != std::errc() || status_ < 100 || status_ > 999) {
    fail("bad status code");
    return false;
  }
  keep_alive_ = !http10;
  bool chunked = false;
  bool has_length = false;
  head.remove_prefix(line_end + 2);
  while (!head.empty()) {
    const auto eol = head.find("\r\n");
    const std::string_view line = head.substr(0, eol);
    head.remove_prefix(eol + 2);
    if (line.empty()) break;
    const auto colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) {
      fail("bad header line");
      return false;
    }
    const auto name = line.substr(0, colon);
    const auto value = trim(line.substr(colon + 1));
    if (iequals(name, "Content-Length")) {
      std::uint64_t length = 0;
      const auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), length);
      if (ec != std::errc() || ptr != value.data() + value.size() || value.empty() ||
          (has_length && length != remaining_)) {
        fail("bad Content-Length");
        return false;
      }
      has_length = true;
      remaining_ = length;
    } else if (iequals(name, "Transfer-Encoding")) {
      chunked = lists_token(value, "chunked");
    } else if (iequals(name, "Connection")) {
      if (lists_token(value, "close")) keep_alive_ = false;
      if (lists_token(value, "keep-alive")) keep_alive_ = true;
    }
  }
  // RFC 9112 6.3: no body for these, whatever the headers say.
  if (status_ == 204 || status_ == 304 || status_ < 200) {
    framing_ = Framing::content_length;
    remaining_ = 0;
  } else if (chunked) {
    framing_ = Framing::chunked;
    remaining_ = 0;
  } else if (has_length) {
    framing_ = Framing::content_length;
  } else {
    framing_ = Framing::until_close;
    keep_alive_ = false;
  }
  return true;
}

std::size_t ResponseParser::feed_body(std::string_view data) {
  switch (framing_) {
    case Framing::until_close: body_bytes_ += data.size(); return data.size();
    case Framing::content_length: {
      const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, data.size()));
      remaining_ -= n;
      body_bytes_ += n;
      if (remaining_ == 0) framing_done_ = true;
      return n;
    }
    case Framing::chunked: return feed_chunked(data);
  }
  return data.size();
}

std::size_t ResponseParser::feed_chunked(std::string_view data) {
  std::size_t used = 0;
  while (used < data.size() && state_ == State::body && !framing_done_) {
    const std::string_view rest = data.substr(used);
    switch (chunk_) {
      case Chunk::data: {
        const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, rest.size()));
        remaining_ -= n;
        body_bytes_ += n;
        used += n;
        if (remaining_ == 0) chunk_ = Chunk::data_crlf;
        break;
      }
      case Chunk::size_line:
      case Chunk::data_crlf:
      case Chunk::trailer_line: {
        const auto lf = rest.find('\n');
        const auto take = lf == std::string_view::npos ? rest.size() : lf + 1;
        line_.append(rest.substr(0, take));
        used += take;
        if (line_.size() > kMaxChunkLine) {
          fail("chunk line too long");
          break;
        }
        if (lf == std::string_view::npos) break;
        if (line_.size() < 2 || line_[line_.size() - 2] != '\r') {
          fail("chunk line without CRLF");
          break;
        }
        line_.resize(line_.size() - 2);
        if (chunk_ == Chunk::data_crlf) {
          if (!line_.empty()) fail("chunk data longer than its size");
          chunk_ = Chunk::size_line;
        } else if (chunk_ == Chunk::size_line) {
          if (!chunk_size_line()) break;
        } else if (line_.empty()) {
          framing_done_ = true;  // the empty line after the last chunk and its trailers
        }
        line_.clear();
        break;
      }
    }
  }
  return used;
}

bool ResponseParser::chunk_size_line() {
  std::string_view size = line_;
  size = trim(size.substr(0, size.find(';')));  // chunk extensions are ignored
  const auto [ptr, ec] = std::from_chars(size.data(), size.data() + size.size(), remaining_, 16);
  if (size.empty() || ec != std::errc() || ptr != size.data() + size.size()) {
    fail("bad chunk size");
    return false;
  }
  chunk_ = remaining_ == 0 ? Chunk::trailer_line : Chunk::data;
  return true;
}

}  // namespace ferry::bench
