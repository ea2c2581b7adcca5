// append_cgi_vars (declared in http.hpp): a parsed request's head as the CGI vars nginx
// would have sent for it, so everything after the parser is the same for both listeners.

#include "protocol/http.hpp"

#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "protocol/http_text.hpp"

namespace ferry::protocol::http {

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
