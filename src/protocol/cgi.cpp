#include "protocol/cgi.hpp"

#include <string>

namespace ferry::protocol {
namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

RequestFacts request_facts(const Packet& packet) {
  RequestFacts facts;
  for (const auto& [key, value] : packet.vars) {
    // Dispatch on the first letter: most vars are HTTP_* and skip every comparison.
    switch (key.front()) {
      case 'R':
        if (key == "REQUEST_METHOD")
          facts.method = value;
        else if (key == "REQUEST_URI")
          facts.uri = value;
        else if (key == "REMOTE_ADDR")
          facts.remote_addr = value;
        else if (key == "REMOTE_USER")
          facts.remote_user = value;
        break;
      case 'S':
        if (key == "SERVER_PROTOCOL")
          facts.protocol = value;
        else if (key == "SCRIPT_NAME")
          facts.script_name = value;
        break;
      case 'P':
        if (key == "PATH_INFO") facts.path_info = value;
        break;
      case 'C':
        if (key == "CONTENT_LENGTH") facts.content_length = value;
        break;
      default: break;
    }
  }
  if (facts.uri.empty()) facts.uri = facts.path_info.empty() ? std::string_view("/") : facts.path_info;
  if (facts.method.empty()) facts.method = "GET";
  if (facts.protocol.empty()) facts.protocol = "HTTP/1.1";
  return facts;
}

std::string percent_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size()) {
      const int hi = hex_value(text[i + 1]);
      const int lo = hex_value(text[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(text[i]);
  }
  return out;
}

bool valid_percent_escapes(std::string_view text) {
  for (std::size_t i = text.find('%'); i != std::string_view::npos; i = text.find('%', i + 3)) {
    if (i + 2 >= text.size() || hex_value(text[i + 1]) < 0 || hex_value(text[i + 2]) < 0) return false;
  }
  return true;
}

std::string normalize_path(std::string_view decoded, const char** why) {
  *why = nullptr;
  if (decoded.find('\0') != std::string_view::npos) {
    *why = "a NUL byte (%00) in the request path";
    return {};
  }
  std::string out;
  out.reserve(decoded.size() + 1);
  std::size_t i = 0;
  while (i < decoded.size()) {
    if (decoded[i] == '/') {
      ++i;
      continue;
    }
    const std::size_t end = std::min(decoded.find('/', i), decoded.size());
    const std::string_view segment = decoded.substr(i, end - i);
    const bool last = end >= decoded.size();
    if (segment == ".") {
      if (last) out += '/';  // "/a/." is "/a/"
    } else if (segment == "..") {
      if (out.empty()) {
        *why = "a \"..\" segment above the root of the request path";
        return {};
      }
      out.resize(out.rfind('/'));
      if (last) out += '/';  // "/a/b/.." is "/a/"
    } else {
      out += '/';
      out += segment;
    }
    i = end;
  }
  // A path that ends in a slash keeps it; the root is "/".
  if (out.empty() || (decoded.back() == '/' && out.back() != '/')) out += '/';
  return out;
}

}  // namespace ferry::protocol
