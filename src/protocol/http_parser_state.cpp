#include "protocol/http_parser_state.hpp"

#include <cctype>
#include <string>

#include "protocol/cgi.hpp"

namespace ferry::protocol::http::detail {
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

}  // namespace

ParserState::ParserState(Limits l) : limits(l) {
  // Every llhttp_set_lenient_* stays off: strict parsing is the point.
  llhttp_init(&parser, HTTP_REQUEST, &callbacks());
  parser.data = this;
}

int ParserState::set_path(std::string_view raw) {
  bool escapes_valid = false;
  std::string decoded = percent_decode(raw, &escapes_valid);
  if (!escapes_valid) return reject(400, "an invalid %-escape in the request path");
  const char* why = nullptr;
  head.path_info = normalize_path(std::move(decoded), &why);
  return why == nullptr ? 0 : reject(400, why);
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

}  // namespace ferry::protocol::http::detail
