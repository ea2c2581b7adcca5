#include "protocol/http.hpp"

#include <llhttp.h>

#include <algorithm>
#include <string>

#include "protocol/http_parser_state.hpp"
#include "protocol/http_text.hpp"

// Rejected here, although llhttp 8.1 in strict mode accepts it (each probed, each tested in
// tests/unit/test_http.cpp). Everything else malformed is llhttp's verdict.
//   1. A bare LF as a line ending (after the request line, as the empty line ending the
//      head, after the last chunk), and a CR not followed by LF: a front end that reads
//      lines differently sees a different request.                            LineCheck
//   2. Obsolete line folding (a field line starting with SP/HTAB): RFC 9112 5.2 lets a
//      server reject it, and a proxy that unfolds differently is a smuggling vector. LineCheck
//   3. More than one SP between method, target and version, and HTTP/0.9's two-word
//      request line: RFC 9112 3 requires single SPs.                          LineCheck
//   4. An empty header field name (": x").                         on_header_field_complete
//   5. HTTP/0.9 and HTTP/2.0 in the version, and the HTTP/2 preface: 505.   on_version_complete
//   6. A request-target that is not origin-form, absolute-form (http/https, no userinfo) or
//      "*" with OPTIONS (llhttp takes "*" with any method, and any scheme); a path whose
//      ".." segments climb above the root, or with a NUL (%00), as nginx refuses both
//      (PATH_INFO is normalized as nginx's $uri: protocol::normalize_path).  on_url_complete
//   7. CONNECT (llhttp would hand us the raw socket). An Upgrade offer is not refused but
//      declined: the request is served in HTTP/1.1.
//   8. Transfer-Encoding in HTTP/1.0 (RFC 9112 6.1: the framing is faulty), any transfer
//      coding but a lone "chunked" (501, RFC 9112 6.1), a Host missing from HTTP/1.1 or sent
//      twice (RFC 9112 3.2: 400).                                          on_headers_complete
//   9. Chunk extensions are checked here and never reach llhttp, which refuses the BWS that
//      RFC 9112 7.1.1 allows around ';' and '=' ("5 ; a = b") and an extension after a
//      name=value one ("5;a=b;c"). ferry ignores extensions: llhttp gets the chunk size and
//      its CRLF, and ChunkExtensions the bytes between.           ParserState::execute
//  10. A method llhttp does not know: 501 when it is a token (RFC 9110 9.1, 15.6.2), else
//      400. llhttp's methods are a fixed list, so it cannot pass such a method on.   feed
// The llhttp rejections ferry relies on include: Content-Length with Transfer-Encoding, any
// duplicate Content-Length, non-digit lengths, chunked not last, bad chunk sizes, control
// characters in the target and field values, bad methods and versions.
// Where each check lives: LineCheck in http_text, ChunkExtensions in http_chunk_ext, the
// llhttp callbacks and ParserState::execute in http_parser_state; feed below.

namespace ferry::protocol::http {

using detail::ParserState;
using Phase = ParserState::Phase;

namespace {

std::string describe_llhttp_error(const llhttp_t& parser, llhttp_errno_t error) {
  const char* reason = llhttp_get_error_reason(&parser);
  std::string text = reason != nullptr && *reason != '\0' ? reason : "malformed request";
  text += " (";
  text += llhttp_errno_name(error);
  text += ")";
  return text;
}

}  // namespace

RequestParser::RequestParser(Limits limits) : state_(std::make_unique<ParserState>(limits)) {}
RequestParser::~RequestParser() = default;
RequestParser::RequestParser(RequestParser&&) noexcept = default;
RequestParser& RequestParser::operator=(RequestParser&&) noexcept = default;

const Head& RequestParser::head() const { return state_->head; }

void RequestParser::reset() {
  ParserState& s = *state_;
  llhttp_reset(&s.parser);  // keeps settings and data
  s.start_message();
  s.phase = Phase::idle;
}

RequestParser::Result RequestParser::feed(std::string_view data) {
  ParserState& s = *state_;
  if (s.phase == Phase::failed) return s.failure;
  if (s.phase == Phase::idle || s.phase == Phase::done) s.start_message();
  // llhttp reports positions relative to the pointer it was given: never hand it nullptr.
  if (data.data() == nullptr) data = std::string_view("", 0);

  // While in the head, llhttp never sees more than the head may still grow by, so a huge
  // head costs neither memory nor time: the limit is checked before anything is copied.
  std::string_view input = data;
  if (s.phase == Phase::head) input = data.substr(0, s.limits.max_head_bytes - s.head_bytes);

  s.head_event = s.message_event = false;
  s.body_piece = {};
  llhttp_resume(&s.parser);  // no-op unless paused
  std::size_t consumed = 0;
  const llhttp_errno_t error = s.execute(input, consumed);

  // A piece of body is always the last thing before a pause; everything before it is
  // request line, field lines or chunk framing.
  const std::size_t framing_end =
      s.body_piece.empty() ? consumed : static_cast<std::size_t>(s.body_piece.data() - input.data());
  if (const char* bad = s.lines.scan(input.substr(0, framing_end)); bad != nullptr) {
    return s.fail(400, bad, consumed);
  }
  if (!s.body_piece.empty()) s.lines.skip_body();

  if (error != HPE_OK && error != HPE_PAUSED) {
    if (s.own_status != 0) return s.fail(s.own_status, s.own_reason, consumed);
    // Rejection 10. llhttp stopped inside the method, at `consumed`, on a token character:
    // an unknown method (what it took before matched a known method's start). Or it knew
    // the method from RTSP, which it refuses in HTTP.
    std::string method;
    if (error == HPE_INVALID_METHOD && consumed < input.size() &&
        is_tchar(static_cast<unsigned char>(input[consumed]))) {
      s.note_method(input.substr(0, consumed));
      std::size_t end = consumed;
      while (end < input.size() && is_tchar(static_cast<unsigned char>(input[end]))) ++end;
      method = s.method_seen;
      method.append(input.substr(consumed, end - consumed));
    } else if (error == HPE_INVALID_CONSTANT &&
               std::string_view(llhttp_get_error_reason(&s.parser)) == "Invalid method for HTTP/x.x request") {
      method = llhttp_method_name(static_cast<llhttp_method_t>(s.parser.method));
    }
    if (!method.empty()) {
      constexpr std::size_t kShown = 40;  // of the method, in the log line
      const bool cut = method.size() > kShown;
      method.resize(std::min(method.size(), kShown));
      return s.fail(
          501, "method " + method + (cut ? "..." : "") + " is not implemented (ferry serves the methods llhttp knows)",
          consumed);
    }
    return s.fail(400, describe_llhttp_error(s.parser, error), consumed);
  }

  if (s.phase == Phase::head) {
    if (!s.method_done) s.note_method(input.substr(0, consumed));
    s.head_bytes += consumed;
    if (s.head_event) {
      s.phase = Phase::body;
      return {Status::head_complete, consumed, {}, 0, {}};
    }
    if (input.size() < data.size()) {  // the head did not end within max_head_bytes
      const std::string limit = std::to_string(s.limits.max_head_bytes) + " bytes";
      return s.target_complete ? s.fail(431, "request head larger than " + limit, consumed)
                               : s.fail(414, "request line larger than " + limit, consumed);
    }
    return {Status::need_more, consumed, {}, 0, {}};
  }

  // Chunk-size lines with extensions and trailer fields are not kept, but without a bound a
  // client could stream them forever without sending a byte of body.
  s.framing_run += framing_end;
  if (s.framing_run > s.limits.max_head_bytes) {
    const std::string limit = std::to_string(s.limits.max_head_bytes) + " bytes";
    return s.fail(431, "chunk extensions or trailers larger than " + limit, consumed);
  }
  if (s.message_event) {
    s.phase = Phase::done;
    return {Status::message_complete, consumed, {}, 0, {}};
  }
  if (!s.body_piece.empty()) {
    s.framing_run = 0;
    return {Status::body, consumed, s.body_piece, 0, {}};
  }
  return {Status::need_more, consumed, {}, 0, {}};
}

}  // namespace ferry::protocol::http
