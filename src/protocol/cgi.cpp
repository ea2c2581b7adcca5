#include "protocol/cgi.hpp"

#include <algorithm>
#include <cstring>
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

std::string percent_decode(std::string_view text, bool* all_valid) {
  if (all_valid) *all_valid = true;
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%') {
      const int hi = i + 2 < text.size() ? hex_value(text[i + 1]) : -1;
      const int lo = i + 2 < text.size() ? hex_value(text[i + 2]) : -1;
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
      if (all_valid) *all_valid = false;
    }
    out.push_back(text[i]);
  }
  return out;
}

std::string normalize_path(std::string path, const char** why) {
  *why = nullptr;
  if (path.find('\0') != std::string::npos) {
    *why = "a NUL byte (%00) in the request path";
    return {};
  }
  // In place: the result is never longer than what has been read of the path so far.
  const bool trailing_slash = !path.empty() && path.back() == '/';
  const std::size_t n = path.size();
  std::size_t written = 0, read = 0;
  while (read < n) {
    if (path[read] == '/') {
      ++read;
      continue;
    }
    const std::size_t end = std::min(path.find('/', read), n);
    const std::size_t length = end - read;
    const bool last = end == n;
    if (length == 1 && path[read] == '.') {
      if (last) path[written++] = '/';  // "/a/." is "/a/"
    } else if (length == 2 && path[read] == '.' && path[read + 1] == '.') {
      if (written == 0) {
        *why = "a \"..\" segment above the root of the request path";
        return {};
      }
      written = path.rfind('/', written - 1);
      if (last) path[written++] = '/';  // "/a/b/.." is "/a/"
    } else {
      path[written++] = '/';
      std::memmove(path.data() + written, path.data() + read, length);
      written += length;
    }
    read = end;
  }
  path.resize(written);
  // A path that ends in a slash keeps it; the root is "/".
  if (path.empty() || (trailing_slash && path.back() != '/')) path += '/';
  return path;
}

}  // namespace ferry::protocol
