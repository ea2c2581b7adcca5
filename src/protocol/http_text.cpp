#include "protocol/http_text.hpp"

namespace ferry::protocol::http {

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
