#include "protocol/http.hpp"

#include <llhttp.h>

#include <algorithm>
#include <cctype>
#include <stdexcept>
#include <string>
#include <unordered_map>

#include "protocol/cgi.hpp"

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

namespace ferry::protocol::http {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

bool istarts_with(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() && iequals(text.substr(0, prefix.size()), prefix);
}

std::string_view trim_ows(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

// "http://" or "https://", any case: the only schemes an origin server answers for.
std::size_t absolute_scheme_length(std::string_view target) {
  if (istarts_with(target, "http://")) return 7;
  if (istarts_with(target, "https://")) return 8;
  return 0;
}

// A request-target cut into the pieces the CGI vars need; views into the target.
struct TargetParts {
  bool absolute = false;
  std::string_view authority;       // absolute-form only: host[:port]
  std::string_view path_and_query;  // without the fragment; may be empty in absolute-form
  std::string_view path;
  std::string_view query;
};

TargetParts split_target(std::string_view target) {
  TargetParts parts;
  std::string_view rest = target;
  if (const std::size_t scheme = absolute_scheme_length(target); scheme > 0) {
    parts.absolute = true;
    rest.remove_prefix(scheme);
    const std::size_t end = rest.find_first_of("/?#");
    parts.authority = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view() : rest.substr(end);
  }
  // Clients never send a fragment, but llhttp lets one through: it is not part of the URI
  // the server sees (RFC 9110 4.2.4), so it reaches neither PATH_INFO nor QUERY_STRING.
  rest = rest.substr(0, rest.find('#'));
  parts.path_and_query = rest;
  const std::size_t question = rest.find('?');
  parts.path = rest.substr(0, question);
  if (question != std::string_view::npos) parts.query = rest.substr(question + 1);
  return parts;
}

// Rejections 1-3: llhttp 8.1 takes a bare LF as a line end in several places (strict mode
// or not) and folds obs-fold lines into the value. It gives no callback at line ends, so
// this looks at the bytes llhttp consumed outside body data: CR must be followed by LF, LF
// preceded by CR, no line may start with whitespace, and the request line has exactly two
// SPs (method, target and version never contain one). A lexical check, not a grammar.
class LineCheck {
 public:
  // Returns why `framing` is unacceptable, or nullptr. Called with consecutive slices.
  const char* scan(std::string_view framing) {
    for (const char c : framing) {
      if (previous_cr_ && c != '\n') return "bare CR: line endings must be CRLF";
      if (c == '\n' && !previous_cr_) return "bare LF: line endings must be CRLF";
      if (in_request_line_) {
        if (c != '\r' && c != '\n') {
          request_line_started_ = true;
          if (c == ' ') ++spaces_;
        } else if (c == '\n' && request_line_started_) {  // empty lines before it are allowed
          if (spaces_ != 2) return "request line must be method SP target SP version";
          in_request_line_ = false;
        }
      } else if (line_start_ && (c == ' ' || c == '\t')) {
        return "obsolete line folding (a field line starting with whitespace)";
      }
      previous_cr_ = c == '\r';
      line_start_ = c == '\n';
    }
    return nullptr;
  }
  // Body bytes are data, not lines: whatever follows them starts afresh.
  void skip_body() { previous_cr_ = line_start_ = false; }

 private:
  bool previous_cr_ = false;
  bool line_start_ = false;
  bool in_request_line_ = true;
  bool request_line_started_ = false;
  int spaces_ = 0;
};

bool is_tchar(unsigned char c) {
  // RFC 9110 5.6.2: token characters.
  if ((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')) return true;
  return c != 0 && std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
}

// Rejection 9: the chunk-size line's extensions, RFC 9112 7.1.1:
//   chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
//   chunk-ext-val = token / quoted-string
// Fed consecutive slices of one chunk-size line, from the first byte after the size's hex
// digits; keeps its state between slices, so an extension may arrive a byte at a time.
class ChunkExtensions {
 public:
  enum class Verdict { more, end, bad };

  // Reads `line` up to its CR or LF. `end` says where that is (`used` bytes in); `bad`,
  // with why(), where the grammar broke; `more` that every byte was used.
  Verdict scan(std::string_view line, std::size_t& used) {
    for (used = 0; used < line.size(); ++used) {
      const auto c = static_cast<unsigned char>(line[used]);
      const bool space = c == ' ' || c == '\t';
      if ((c == '\r' || c == '\n') && state_ != State::quoted && state_ != State::quoted_pair) {
        if (state_ == State::name || state_ == State::token_value || state_ == State::value_end) return Verdict::end;
        why_ = state_ == State::after_size || state_ == State::name_space || state_ == State::value_space
                   ? "malformed chunk extensions: whitespace before the end of the chunk-size line"
                   : "malformed chunk extensions: the line ends inside an extension";
        return Verdict::bad;
      }
      switch (state_) {
        case State::after_size:  // only whitespace so far; a ';' must follow it
        case State::value_space:
          if (c == ';')
            state_ = State::semicolon;
          else if (!space)
            return fail("malformed chunk extensions: whitespace must be followed by ';'");
          break;
        case State::semicolon:
          if (is_tchar(c))
            state_ = State::name;
          else if (!space)
            return fail("malformed chunk extensions: an extension name must follow ';'");
          break;
        case State::name:
        case State::name_space:
          if (c == '=')
            state_ = State::equals;
          else if (c == ';')
            state_ = State::semicolon;
          else if (space)
            state_ = State::name_space;
          else if (!is_tchar(c) || state_ == State::name_space)
            return fail("malformed chunk extensions: an extension name must be a token");
          break;
        case State::equals:
          if (c == '"')
            state_ = State::quoted;
          else if (is_tchar(c))
            state_ = State::token_value;
          else if (!space)
            return fail("malformed chunk extensions: an extension value must be a token or a quoted string");
          break;
        case State::token_value:
          if (c == ';')
            state_ = State::semicolon;
          else if (space)
            state_ = State::value_space;
          else if (!is_tchar(c))
            return fail("malformed chunk extensions: an extension value must be a token or a quoted string");
          break;
        case State::quoted:  // qdtext: HTAB, SP, VCHAR but '"' and '\', obs-text
          if (c == '"')
            state_ = State::value_end;
          else if (c == '\\')
            state_ = State::quoted_pair;
          else if (!space && (c < 0x21 || c == 0x7f))
            return fail("malformed chunk extensions: a control byte in a quoted extension value");
          break;
        case State::quoted_pair:
          if (!space && (c < 0x21 || c == 0x7f))
            return fail("malformed chunk extensions: a control byte in a quoted extension value");
          state_ = State::quoted;
          break;
        case State::value_end:
          if (c == ';')
            state_ = State::semicolon;
          else if (space)
            state_ = State::value_space;
          else
            return fail("malformed chunk extensions: a quoted extension value must be followed by ';' or the line end");
          break;
      }
    }
    return Verdict::more;
  }
  // Begins a line's extensions at the byte after the size: ';' or BWS.
  void start() { state_ = State::after_size; }
  const char* why() const { return why_; }

 private:
  enum class State {
    after_size,
    semicolon,
    name,
    name_space,
    equals,
    token_value,
    quoted,
    quoted_pair,
    value_end,
    value_space,
  };
  Verdict fail(const char* why) {
    why_ = why;
    return Verdict::bad;
  }
  State state_ = State::after_size;
  const char* why_ = "";
};

}  // namespace

struct detail::ParserState {
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
  int set_path(std::string_view raw) {
    bool escapes_valid = false;
    std::string decoded = percent_decode(raw, &escapes_valid);
    if (!escapes_valid) return reject(400, "an invalid %-escape in the request path");
    const char* why = nullptr;
    head.path_info = normalize_path(std::move(decoded), &why);
    return why == nullptr ? 0 : reject(400, why);
  }

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

using detail::ParserState;
using Phase = ParserState::Phase;

namespace {

ParserState& state_of(llhttp_t* parser) { return *static_cast<ParserState*>(parser->data); }

int on_url(llhttp_t* parser, const char* at, std::size_t length) {
  auto& s = state_of(parser);
  s.head.target.append(at, length);
  if (s.head.target.size() > s.limits.max_target_bytes) {
    return s.reject(414, "request-target longer than " + std::to_string(s.limits.max_target_bytes) + " bytes");
  }
  return 0;
}

// Rejection 6 (and CONNECT, whose authority-form target is the first sign of it).
int on_url_complete(llhttp_t* parser) {
  auto& s = state_of(parser);
  s.target_complete = true;
  const std::string_view target = s.head.target;
  if (parser->method == HTTP_CONNECT) return s.reject(400, "CONNECT is not supported");
  // "PRI * HTTP/2.0": a client speaking HTTP/2 with prior knowledge.
  if (parser->method == HTTP_PRI) return s.reject(505, "HTTP/2 connection preface: only HTTP/1.x is served");
  if (target.starts_with('/')) return s.set_path(split_target(target).path);  // origin-form
  if (target == "*") {
    s.head.path_info = "*";
    if (parser->method == HTTP_OPTIONS) return 0;
    return s.reject(400, "asterisk-form request-target is only for OPTIONS");
  }
  if (absolute_scheme_length(target) > 0) {
    const TargetParts parts = split_target(target);
    if (parts.authority.empty()) return s.reject(400, "absolute-form request-target without a host");
    // RFC 9110 4.2.4: userinfo in an http(s) URI is to be treated as an error.
    if (parts.authority.find('@') != std::string_view::npos) {
      return s.reject(400, "userinfo in the request-target");
    }
    return s.set_path(parts.path.empty() ? std::string_view("/") : parts.path);
  }
  return s.reject(400, "request-target must be origin-form, absolute-form (http/https) or * for OPTIONS");
}

// Rejection 5. llhttp accepts 0.9, 1.x and 2.0 here; 1.2-1.9 it rejects itself.
int on_version_complete(llhttp_t* parser) {
  if (parser->http_major == 1 && parser->http_minor <= 1) return 0;
  return state_of(parser).reject(505, "HTTP/" + std::to_string(parser->http_major) + "." +
                                          std::to_string(parser->http_minor) +
                                          " is not supported: only HTTP/1.0 and HTTP/1.1");
}

int on_header_field(llhttp_t* parser, const char* at, std::size_t length) {
  auto& s = state_of(parser);
  if (!s.in_field) {
    s.in_field = true;
    s.field_bytes = 0;
    if (!s.headers_done) {
      if (s.head.headers.size() == s.limits.max_headers) {
        return s.reject(431, "more than " + std::to_string(s.limits.max_headers) + " header fields");
      }
      s.head.headers.emplace_back();
    }
  }
  s.field_bytes += length;
  if (!s.headers_done) s.head.headers.back().first.append(at, length);
  return 0;
}

// Rejection 4: llhttp reports ": x" as a field with an empty name.
int on_header_field_complete(llhttp_t* parser) {
  auto& s = state_of(parser);
  const bool named = s.in_field && s.field_bytes > 0;
  s.in_field = false;
  if (!named) return s.reject(400, "header field with an empty name");
  return 0;
}

int on_header_value(llhttp_t* parser, const char* at, std::size_t length) {
  auto& s = state_of(parser);
  // Trailers are read and checked but not kept: the head was handed over already.
  if (!s.headers_done) s.head.headers.back().second.append(at, length);
  return 0;
}

int on_header_value_complete(llhttp_t* parser) {
  auto& s = state_of(parser);
  if (s.headers_done) return 0;
  // llhttp strips the leading whitespace but keeps the trailing (RFC 9112 5: OWS is not
  // part of the value).
  auto& value = s.head.headers.back().second;
  value.resize(trim_ows(value).size());
  return 0;
}

int on_headers_complete(llhttp_t* parser) {
  auto& s = state_of(parser);
  if (const int rejected = s.validate_head(); rejected != 0) return rejected;
  if (s.head.chunked) s.start_chunk_line();
  s.headers_done = true;
  s.head_event = true;
  return HPE_PAUSED;
}

int on_chunk_header(llhttp_t* parser) {
  auto& s = state_of(parser);
  // Refuse before the chunk's data is read; parser->content_length is the chunk's size here.
  if (s.limits.max_body != 0 && parser->content_length > s.limits.max_body - s.body_bytes) {
    return s.reject(413, "chunked body larger than limit-post (" + std::to_string(s.limits.max_body) + " bytes)");
  }
  s.last_chunk = parser->content_length == 0;
  return 0;
}

// After a chunk's data and its CRLF: the next chunk-size line starts. Paused, so that
// execute() sees that line before llhttp does.
int on_chunk_complete(llhttp_t* parser) {
  auto& s = state_of(parser);
  if (s.last_chunk) return 0;
  s.start_chunk_line();
  s.chunk_resume = true;
  return HPE_PAUSED;
}

int on_body(llhttp_t* parser, const char* at, std::size_t length) {
  // llhttp re-opens the body span at the start of every execute, even one given no bytes,
  // and reports it empty: pausing on that would return Status::body forever.
  if (length == 0) return 0;
  auto& s = state_of(parser);
  s.body_bytes += length;
  s.body_piece = std::string_view(at, length);
  return HPE_PAUSED;
}

int on_message_complete(llhttp_t* parser) {
  state_of(parser).message_event = true;
  return HPE_PAUSED;
}

const llhttp_settings_t& callbacks() {
  static const llhttp_settings_t settings = [] {
    llhttp_settings_t s;
    llhttp_settings_init(&s);
    s.on_url = on_url;
    s.on_url_complete = on_url_complete;
    s.on_version_complete = on_version_complete;
    s.on_header_field = on_header_field;
    s.on_header_field_complete = on_header_field_complete;
    s.on_header_value = on_header_value;
    s.on_header_value_complete = on_header_value_complete;
    s.on_headers_complete = on_headers_complete;
    s.on_chunk_header = on_chunk_header;
    s.on_chunk_complete = on_chunk_complete;
    s.on_body = on_body;
    s.on_message_complete = on_message_complete;
    return s;
  }();
  return settings;
}

std::string describe_llhttp_error(const llhttp_t& parser, llhttp_errno_t error) {
  const char* reason = llhttp_get_error_reason(&parser);
  std::string text = reason != nullptr && *reason != '\0' ? reason : "malformed request";
  text += " (";
  text += llhttp_errno_name(error);
  text += ")";
  return text;
}

}  // namespace

ParserState::ParserState(Limits l) : limits(l) {
  // Every llhttp_set_lenient_* stays off: strict parsing is the point.
  llhttp_init(&parser, HTTP_REQUEST, &callbacks());
  parser.data = this;
}

// The checks that need the whole head (rejections 5, 7, 8, and the Content-Length limit),
// then the Head fields llhttp computed.
int ParserState::validate_head() {
  if (parser.http_major != 1 || parser.http_minor > 1) {
    return reject(505, "only HTTP/1.0 and HTTP/1.1 are supported");
  }
  head.version_major = parser.http_major;
  head.version_minor = parser.http_minor;
  // An Upgrade offer (curl --http2 sends "Connection: Upgrade, HTTP2-Settings" with
  // "Upgrade: h2c"; browsers send websocket) is declined by answering in HTTP/1.1, as RFC
  // 9110 7.8 allows: the app sees an ordinary request, with HTTP_UPGRADE in its environ.
  // llhttp set the flag just before this callback and reads it just after, to hand over
  // the connection after the head; cleared, the message is parsed as any other.
  parser.upgrade = 0;

  std::size_t hosts = 0, transfer_encodings = 0;
  std::string_view transfer_encoding;
  for (const auto& [name, value] : head.headers) {
    if (iequals(name, "Host")) ++hosts;
    if (iequals(name, "Transfer-Encoding")) {
      ++transfer_encodings;
      transfer_encoding = value;
    }
    if (iequals(name, "Expect") && iequals(value, "100-continue")) {
      // RFC 9110 10.1.1: an HTTP/1.0 client cannot take a 100 response; ignore it there.
      head.expect_continue = head.version_minor == 1;
    }
  }
  if (hosts > 1) return reject(400, "more than one Host header");
  if (hosts == 0 && head.version_minor == 1) return reject(400, "HTTP/1.1 request without a Host header");

  if (parser.flags & F_TRANSFER_ENCODING) {
    if (head.version_minor == 0) return reject(400, "Transfer-Encoding in an HTTP/1.0 request");
    // llhttp fails this later, after the pause: decide while the head is still ours.
    if (!(parser.flags & F_CHUNKED)) {
      return reject(400, "Transfer-Encoding whose final coding is not chunked");
    }
    if (transfer_encodings != 1 || !iequals(transfer_encoding, "chunked")) {
      return reject(501, "transfer codings other than chunked are not implemented");
    }
    head.chunked = true;
  }
  if (parser.flags & F_CONTENT_LENGTH) {
    head.content_length = parser.content_length;
    if (limits.max_body != 0 && parser.content_length > limits.max_body) {
      return reject(413, "Content-Length " + std::to_string(parser.content_length) + " is above limit-post (" +
                             std::to_string(limits.max_body) + " bytes)");
    }
  }
  head.method = llhttp_method_name(static_cast<llhttp_method_t>(parser.method));
  head.keep_alive = llhttp_should_keep_alive(&parser) != 0;
  return 0;
}

// llhttp over `input` up to its next pause or error; `consumed` says how far it got. In a
// chunk-size line the extensions are left out (rejection 9): llhttp is given the bytes
// before them, ChunkExtensions the extensions, and llhttp again the line end onwards.
llhttp_errno_t ParserState::execute(std::string_view input, std::size_t& consumed) {
  std::size_t pos = 0;
  for (;;) {
    // [pos, feed_end) goes to llhttp; [feed_end, skip_end) are extensions, checked here.
    std::size_t feed_end = input.size(), skip_end = input.size();
    if (chunk_line == ChunkLine::size) {
      std::size_t i = pos;
      while (i < input.size() && std::isxdigit(static_cast<unsigned char>(input[i]))) ++i;
      size_digits = size_digits || i > pos;
      if (i < input.size()) {
        const char c = input[i];
        if (size_digits && (c == ';' || c == ' ' || c == '\t')) {
          chunk_line = ChunkLine::extensions;
          extensions.start();
          feed_end = i;
        } else {
          chunk_line = ChunkLine::none;  // the line ends, or llhttp refuses what is there
        }
      }
    } else if (chunk_line == ChunkLine::extensions) {
      feed_end = pos;
    }
    if (chunk_line == ChunkLine::extensions) {
      std::size_t used = 0;
      const auto verdict = extensions.scan(input.substr(feed_end), used);
      if (verdict == ChunkExtensions::Verdict::bad) {
        consumed = feed_end + used;
        reject(400, extensions.why());
        return HPE_USER;
      }
      skip_end = feed_end + used;
      if (verdict == ChunkExtensions::Verdict::end) chunk_line = ChunkLine::none;
    }

    // Given no bytes at all, llhttp still runs: resumed at a message's end, it reports it.
    if (feed_end > pos || input.empty()) {
      const llhttp_errno_t error = llhttp_execute(&parser, input.data() + pos, feed_end - pos);
      if (error != HPE_OK) {
        const char* stop = llhttp_get_error_pos(&parser);
        consumed = stop != nullptr && stop >= input.data() && stop <= input.data() + input.size()
                       ? static_cast<std::size_t>(stop - input.data())
                       : pos;
        if (error != HPE_PAUSED || !chunk_resume) return error;
        chunk_resume = false;  // a chunk ended: its successor's size line is next
        llhttp_resume(&parser);
        pos = consumed;
        continue;
      }
    }
    pos = skip_end;
    if (pos == input.size()) {
      consumed = pos;
      return HPE_OK;
    }
  }
}

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

namespace {

// "X-Forwarded-For" -> "HTTP_X_FORWARDED_FOR".
std::string cgi_header_key(std::string_view name) {
  std::string key = "HTTP_";
  key.reserve(key.size() + name.size());
  for (const char c : name) {
    const bool lower = c >= 'a' && c <= 'z';
    key.push_back(c == '-' ? '_' : lower ? static_cast<char>(c - 'a' + 'A') : c);
  }
  return key;
}

// Host or an absolute-form authority without its port: "[::1]:8000" -> "[::1]".
std::string_view host_without_port(std::string_view host) {
  if (host.starts_with('[')) {
    const std::size_t close = host.find(']');
    return close == std::string_view::npos ? host : host.substr(0, close + 1);
  }
  return host.substr(0, host.find(':'));
}

}  // namespace

void append_cgi_vars(const Head& head, const Endpoint& peer, const Endpoint& local, Packet& out) {
  if (!out.merged.empty()) {
    throw std::invalid_argument("append_cgi_vars: out.merged must be empty (views into it would move)");
  }
  const TargetParts target = split_target(head.target);

  // The HTTP_* vars first, so that out.merged can be reserved for every string needed
  // before any view into it is taken. `headers` never reallocates: `index` points into it.
  struct HeaderVar {
    std::string key;
    std::string_view value;
    std::string joined;  // used once a repeat arrives
    bool repeated = false;
  };
  std::vector<HeaderVar> headers;
  headers.reserve(head.headers.size() + 1);
  std::unordered_map<std::string_view, std::size_t> index;
  std::string_view content_type, host;
  bool have_content_type = false;
  for (const auto& [name, value] : head.headers) {
    if (iequals(name, "Content-Type")) {
      // A singleton field: nginx's $content_type is the first one.
      if (!have_content_type) content_type = value;
      have_content_type = true;
      continue;
    }
    if (iequals(name, "Content-Length")) continue;      // CONTENT_LENGTH carries it
    if (name.find('_') != std::string::npos) continue;  // nginx's underscores_in_headers off
    std::string key = cgi_header_key(name);
    std::string_view field_value = value;
    if (key == "HTTP_HOST") {
      // RFC 9112 3.2.2: with an absolute-form target the Host field is ignored.
      if (target.absolute) field_value = target.authority;
      host = field_value;
    }
    if (const auto found = index.find(key); found != index.end()) {
      HeaderVar& earlier = headers[found->second];
      if (!earlier.repeated) earlier.joined = earlier.value;
      earlier.repeated = true;
      // As protocol::parse_packet joins repeats of nginx 1.22 (and nginx 1.23+ itself).
      earlier.joined += key == "HTTP_COOKIE" ? "; " : ", ";
      earlier.joined += field_value;
      continue;
    }
    headers.push_back({std::move(key), field_value, {}, false});
    index.emplace(headers.back().key, headers.size() - 1);
  }
  if (target.absolute && host.empty()) {  // HTTP/1.0 may send no Host at all
    host = target.authority;
    headers.push_back({"HTTP_HOST", host, {}, false});
  }

  // path_and_query, CONTENT_LENGTH, SERVER_NAME, 4 endpoint strings, + headers.
  out.merged.reserve(8 + 2 * headers.size());
  const auto keep = [&out](std::string text) -> std::string_view { return out.merged.emplace_back(std::move(text)); };
  const auto add = [&out](std::string_view key, std::string_view value) {
    out.vars.push_back({key, value});
    out.vars_bytes += 4 + key.size() + value.size();
  };

  // The order of nginx's uwsgi_params, then SERVER_ADDR, then the headers in arrival order.
  std::string_view request_uri = target.path_and_query;
  std::string_view path = target.path;
  if (head.target == "*") {
    path = request_uri = "*";
  } else if (path.empty()) {  // "http://host" or "http://host?q": the path is "/"
    path = "/";
    request_uri = keep("/" + std::string(request_uri));
  }
  add("QUERY_STRING", target.query);
  add("REQUEST_METHOD", head.method);
  add("CONTENT_TYPE", content_type);
  add("CONTENT_LENGTH", head.content_length && !head.chunked ? keep(std::to_string(*head.content_length)) : "");
  add("REQUEST_URI", request_uri);
  add("PATH_INFO", head.path_info);
  add("SERVER_PROTOCOL", head.version_minor == 0 ? "HTTP/1.0" : "HTTP/1.1");
  add("REQUEST_SCHEME", "http");
  add("REMOTE_ADDR", keep(peer.addr));
  add("REMOTE_PORT", keep(peer.port));
  std::string_view server_name = host_without_port(host);
  // SERVER_PORT as the client named it in Host (what URLs the app builds should use), else
  // the listener's.
  if (host.size() > server_name.size() + 1 && host[server_name.size()] == ':' && !server_name.empty()) {
    add("SERVER_PORT", host.substr(server_name.size() + 1));
  } else {
    add("SERVER_PORT", keep(local.port));
  }
  if (server_name.empty()) {
    server_name = keep(local.addr.find(':') != std::string::npos ? "[" + local.addr + "]" : local.addr);
  }
  add("SERVER_NAME", server_name);
  add("SERVER_ADDR", keep(local.addr));
  for (auto& header : headers) {
    add(keep(std::move(header.key)), header.repeated ? keep(std::move(header.joined)) : header.value);
  }
}

}  // namespace ferry::protocol::http
