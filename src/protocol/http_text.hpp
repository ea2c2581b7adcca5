#pragma once

// The small lexical pieces of HTTP/1.1 that the request parser and the CGI var builder share:
// case-insensitive comparison, optional whitespace, token characters, the request-target cut
// into its parts, and the line-ending check llhttp 8.1 does not do (rejections 1-3 in
// http.cpp). Pure: no llhttp, no I/O. The small helpers are inline: they run per header
// field and per chunk-extension byte, as they did when they shared http.cpp's unit.

#include <cstddef>
#include <string_view>

namespace ferry::protocol::http {

// ASCII case-insensitive equality, as field names and "chunked" compare.
inline bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

inline bool istarts_with(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() && iequals(text.substr(0, prefix.size()), prefix);
}

// `text` without leading and trailing SP and HTAB (RFC 9110 5.6.3, OWS).
inline std::string_view trim_ows(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

// RFC 9110 5.6.2: a token character.
inline bool is_tchar(unsigned char c) {
  if ((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')) return true;
  return c != 0 && std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
}

// 7 for "http://", 8 for "https://" (any case), else 0: the only schemes an origin server
// answers for.
std::size_t absolute_scheme_length(std::string_view target);

// A request-target cut into the pieces the CGI vars need; views into the target.
struct TargetParts {
  bool absolute = false;
  std::string_view authority;       // absolute-form only: host[:port]
  std::string_view path_and_query;  // without the fragment; may be empty in absolute-form
  std::string_view path;
  std::string_view query;
};

TargetParts split_target(std::string_view target);

// Rejections 1-3: llhttp 8.1 takes a bare LF as a line end in several places (strict mode
// or not) and folds obs-fold lines into the value. It gives no callback at line ends, so
// this looks at the bytes llhttp consumed outside body data: CR must be followed by LF, LF
// preceded by CR, no line may start with whitespace, and the request line has exactly two
// SPs (method, target and version never contain one). A lexical check, not a grammar.
class LineCheck {
 public:
  // Returns why `framing` is unacceptable, or nullptr. Called with consecutive slices.
  const char* scan(std::string_view framing);
  // Body bytes are data, not lines: whatever follows them starts afresh.
  void skip_body() { previous_cr_ = line_start_ = false; }

 private:
  bool previous_cr_ = false;
  bool line_start_ = false;
  bool in_request_line_ = true;
  bool request_line_started_ = false;
  int spaces_ = 0;
};

}  // namespace ferry::protocol::http
