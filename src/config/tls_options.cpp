#include "config/tls_options.hpp"

#include <array>
#include <fmt/format.h>
#include <vector>

#include "config/socket_address.hpp"

namespace ferry::config {

SocketOption parse_tls_socket(std::string_view key, std::string_view value, const Location& where, bool http) {
  std::vector<std::string> fields;
  for (std::size_t start = 0;;) {
    const auto comma = value.find(',', start);
    fields.emplace_back(value.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  if (fields.size() < 3 || fields.size() > 5 || fields[0].empty() || fields[1].empty() || fields[2].empty()) {
    throw ConfigError(where, fmt::format("{} expects ADDRESS,CERT,KEY[,CIPHERS,CA], e.g. {} = "
                                         "127.0.0.1:8443,/etc/ferry/server.crt,/etc/ferry/server.key; got '{}'",
                                         key, key, value));
  }
  SocketOption socket;
  if (http) {
    socket = http_socket(key, fields[0], where);
  } else {
    socket = {fields[0], where, false, std::nullopt};
  }
  fields.resize(5);
  socket.tls = TlsFiles{std::string(key), fields[1], fields[2], fields[3], fields[4]};
  return socket;
}

bool is_tls_socket(const Config& config, std::string_view address) {
  for (const auto& socket : config.sockets) {
    if (socket.address == address && socket.tls) return true;
  }
  return false;
}

namespace {

constexpr std::array kTlsOptions{
    Option{"ssl-socket", "", OptionKind::list, "ADDR,CERT,KEY[,CIPHERS,CA]",
           "serve the uwsgi protocol over TLS (nginx: uwsgi_pass suwsgi://ADDR); with CA, clients need a certificate "
           "it signed (repeatable)",
           [](Config& c, std::string_view v, const Location& w, Warnings&) {
             c.sockets.push_back(parse_tls_socket("ssl-socket", v, w, /*http=*/false));
           }},
    Option{"https", "https-socket", OptionKind::list, "[ADDR]:PORT,CERT,KEY[,CIPHERS,CA]",
           "serve HTTP/1.1 over TLS to clients directly; with CA, clients need a certificate it signed (repeatable)",
           [](Config& c, std::string_view v, const Location& w, Warnings&) {
             c.sockets.push_back(parse_tls_socket("https", v, w, /*http=*/true));
           }},
};

}  // namespace

std::span<const Option> tls_options() { return kTlsOptions; }

}  // namespace ferry::config
