#include "config/socket_address.hpp"

#include <fmt/format.h>

namespace ferry::config {

// http = [ADDR]:PORT: TCP only (":8000" is every interface, as in uWSGI).
SocketOption http_socket(std::string_view key, std::string_view value, const Location& where) {
  if (value.empty()) throw ConfigError(where, fmt::format("{} needs a value", key));
  std::string address(value);
  const auto colon = address.rfind(':');
  const bool port_ok = colon != std::string::npos && colon + 1 < address.size() &&
                       address.find_first_not_of("0123456789", colon + 1) == std::string::npos;
  if (!port_ok || address.find('/') != std::string::npos) {
    throw ConfigError(where,
                      fmt::format("{} expects [ADDRESS]:PORT, e.g. :8000 or 127.0.0.1:8000, got '{}'", key, value));
  }
  return {std::move(address), where, /*http=*/true, std::nullopt};
}

HostPort split_host_port(std::string_view address) {
  const auto colon = address.rfind(':');
  std::string_view host = colon == std::string_view::npos ? std::string_view() : address.substr(0, colon);
  const std::string_view port = colon == std::string_view::npos ? address : address.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  return {std::string(host), std::string(port)};
}

// stats = a Unix socket path (it has a '/' or no ':') or [HOST]:PORT.
SocketOption stats_address(std::string_view value, const Location& where) {
  if (value.empty()) throw ConfigError(where, "stats needs a value");
  std::string address(value);
  const auto colon = address.rfind(':');
  const bool is_path = address.find('/') != std::string::npos || colon == std::string::npos;
  if (!is_path &&
      (colon + 1 == address.size() || address.find_first_not_of("0123456789", colon + 1) != std::string::npos)) {
    throw ConfigError(where, fmt::format("stats expects a Unix socket path or [ADDRESS]:PORT, e.g. /run/app/stats.sock "
                                         "or 127.0.0.1:9191, got '{}'",
                                         value));
  }
  return {std::move(address), where, false, std::nullopt};
}

}  // namespace ferry::config
