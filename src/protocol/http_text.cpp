#include "protocol/http_text.hpp"

namespace ferry::protocol::http {

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

bool is_tchar(unsigned char c) {
  // RFC 9110 5.6.2: token characters.
  if ((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')) return true;
  return c != 0 && std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
}

std::size_t absolute_scheme_length(std::string_view target) {
  if (istarts_with(target, "http://")) return 7;
  if (istarts_with(target, "https://")) return 8;
  return 0;
}

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

const char* LineCheck::scan(std::string_view framing) {
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

}  // namespace ferry::protocol::http
