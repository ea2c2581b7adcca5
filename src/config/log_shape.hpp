#pragma once

// How the request log looks and which requests it keeps: log-format, log-date,
// log-req-encoder, the log-slow/4xx/5xx/big filters. Plain data in Config.

#include <cstdint>
#include <optional>
#include <string>

#include "config/log_format.hpp"

namespace ferry::config {

struct RequestLogShape {
  std::optional<LogFormat> format;  // log-format; none: uWSGI's default line
  bool format_strftime = false;     // logformat-strftime: expand %Y... in its literals
  std::optional<std::string> date;  // log-date: prefix; empty: the default date format
  bool x_forwarded_for = false;     // log-x-forwarded-for
  bool json = false;                // log-req-encoder = json: one JSON object per request
  bool json_other = false;          // log-encoder = json: every other line as an object
  std::string file;                 // req-logger = file:PATH: request lines go there
  // With disable-logging, a request that matches one of these is logged anyway.
  std::optional<std::uint64_t> slow_ms;    // log-slow: took more than this
  std::optional<std::uint64_t> big_bytes;  // log-big: response bigger than this
  bool log_4xx = false;
  bool log_5xx = false;

  // Request lines travel on a pipe of their own, apart from the worker's other output.
  bool own_pipe() const { return !file.empty() || json_other; }
  bool filtered() const { return slow_ms || big_bytes || log_4xx || log_5xx; }
};

}  // namespace ferry::config
