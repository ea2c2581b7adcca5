#pragma once

// The addresses options name: http = [ADDR]:PORT and stats = a path or [ADDR]:PORT, checked
// as the option is read so a typo is an error at its file and line. Pure.

#include <string>
#include <string_view>

#include "config/config.hpp"

namespace ferry::config {

// http, http-socket: TCP only (":8000" is every interface, as in uWSGI). Throws ConfigError.
SocketOption http_socket(std::string_view key, std::string_view value, const Location& where);

// [HOST]:PORT split at the last ':', an IPv6 host's brackets removed: "[::1]:80" gives
// {"::1", "80"}, ":80" gives {"", "80"}. The one reading of a TCP address, for binding
// (master/listeners) and for connecting (ferry --ping).
struct HostPort {
  std::string host;
  std::string port;
};
HostPort split_host_port(std::string_view address);

// stats: a Unix socket path (it has a '/' or no ':') or [ADDR]:PORT. Throws ConfigError.
SocketOption stats_address(std::string_view value, const Location& where);

}  // namespace ferry::config
