#pragma once

// What RequestParser keeps between feed() calls: llhttp's parser, the head being read, and
// the state of ferry's own checks (the "Rejected here" list in http.cpp). The llhttp
// callbacks, validate_head and execute live in http_parser_state.cpp; RequestParser::feed in
// http.cpp. Only those two files include this header: it brings in llhttp.h, which
// http.hpp keeps out of its users.

#include <llhttp.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "protocol/http.hpp"
#include "protocol/http_chunk_ext.hpp"
#include "protocol/http_text.hpp"

namespace ferry::protocol::http::detail {

struct ParserState {
  using Result = RequestParser::Result;
  using Status = RequestParser::Status;

  explicit ParserState(Limits l);

  Limits limits;
  llhttp_t parser;
  Head head;

  // idle: nothing of a request yet. head/body: inside one. done: paused at its end.
  enum class Phase { idle, head, body, done, failed } phase = Phase::idle;
  LineCheck lines;
  std::size_t head_bytes = 0;    // consumed while in Phase::head, against max_head_bytes
  std::size_t framing_run = 0;   // chunk framing/trailer bytes since the last body piece
  std::uint64_t body_bytes = 0;  // decoded body so far, against max_body
  bool target_complete = false;  // picks 414 or 431 when the head outgrows its limit
  bool in_field = false;         // between a field name's first byte and its end
  std::size_t field_bytes = 0;   // length of the field name being read (trailers too)
  bool headers_done = false;     // later field lines are trailers: checked, not kept

  // Where llhttp stands in a chunk-size line (rejection 9): from the line's start (after the
  // head, or after a chunk's data) to its CR or LF.
  enum class ChunkLine { none, size, extensions } chunk_line = ChunkLine::none;
  bool size_digits = false;   // the chunk-size line has a hex digit so far
  bool last_chunk = false;    // the latest chunk-size line said 0
  bool chunk_resume = false;  // llhttp paused at a chunk's end only to let execute() look
  ChunkExtensions extensions;

  // Set by callbacks during one llhttp_execute; each one pauses the parser.
  bool head_event = false;
  bool message_event = false;
  std::string_view body_piece;

  // The request line's first bytes, up to its first SP: the method of a 501 (rejection 10)
  // when llhttp consumed part of it in an earlier feed().
  std::string method_seen;
  bool method_done = false;

  // A callback's own rejection (llhttp reports it as HPE_USER or HPE_CB_*).
  int own_status = 0;
  std::string own_reason;
  Result failure;  // repeated by every feed() after an error

  void start_message() {
    head = Head{};
    phase = Phase::head;
    lines = LineCheck{};
    head_bytes = framing_run = 0;
    body_bytes = 0;
    target_complete = in_field = headers_done = false;
    field_bytes = 0;
    own_status = 0;
    chunk_line = ChunkLine::none;
    last_chunk = chunk_resume = false;
    method_seen.clear();
    method_done = false;
  }

  void note_method(std::string_view consumed) {
    constexpr std::size_t kKept = 41;  // enough to show 40 and say there was more
    for (const char c : consumed) {
      if (c == ' ') {
        method_done = true;
        return;
      }
      if ((c == '\r' || c == '\n') && method_seen.empty()) continue;  // empty lines before it
      if (method_seen.size() < kKept) method_seen.push_back(c);
    }
  }

  void start_chunk_line() {
    chunk_line = ChunkLine::size;
    size_digits = false;
  }

  llhttp_errno_t execute(std::string_view input, std::size_t& consumed);

  // PATH_INFO, as nginx would pass it: decoded, then normalized (protocol::normalize_path).
  int set_path(std::string_view raw);

  int reject(int status, std::string reason) {
    own_status = status;
    own_reason = std::move(reason);
    return HPE_USER;
  }

  Result fail(int status, std::string reason, std::size_t consumed) {
    phase = Phase::failed;
    failure = {Status::error, 0, {}, status, std::move(reason)};
    Result first = failure;
    first.consumed = consumed;
    return first;
  }

  int validate_head();
};

}  // namespace ferry::protocol::http::detail
