#pragma once

// The TLS listeners' options, ssl-socket (uwsgi over TLS, nginx's suwsgi://) and https,
// kept apart from the main table in options.cpp; options() lists both. Pure: the files
// they name are read by the worker layer (worker/tls.hpp).

#include <span>
#include <string_view>

#include "config/options.hpp"

namespace ferry::config {

std::span<const Option> tls_options();

// ADDR,CERT,KEY[,CIPHERS,CA] as uWSGI writes it. Throws ConfigError naming `key`.
SocketOption parse_tls_socket(std::string_view key, std::string_view value, const Location& where, bool http);

// Whether the socket at `address` is an ssl-socket or https one.
bool is_tls_socket(const Config& config, std::string_view address);

}  // namespace ferry::config
