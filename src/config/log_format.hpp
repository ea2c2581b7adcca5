#pragma once

// log-format (uWSGI's logformat): "%(method) %(uri) => %(status)" compiled once, when the
// option is read, into literal and variable pieces, so a request only walks the list. An
// unknown %(name) is a configuration error here (uWSGI writes it literally).

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "config/diagnostics.hpp"

namespace ferry::config {

enum class LogVar : std::uint8_t {
  literal,
  // what the client sent (escaped when written)
  addr,
  user,
  method,
  uri,
  proto,
  host,
  uagent,
  referer,
  var,  // %(var.NAME): any request var, e.g. %(var.HTTP_X_REQUEST_ID)
  // numbers and times
  status,
  size,   // response headers + body bytes
  rsize,  // response body bytes
  hsize,  // response header bytes
  headers,
  cl,  // the request's CONTENT_LENGTH
  msecs,
  micros,
  secs,
  time,   // the request's start, Unix seconds
  epoch,  // now, Unix seconds
  ctime,
  ltime,  // Apache style: 07/Dec/2026:11:00:00 +0000
  pid,
  wid,
  core,
  rss,  // bytes
  vsz,
  rssM,  // megabytes
  vszM,
  vars,  // how many vars the request had
  pktsize,
};

struct LogPiece {
  LogVar var = LogVar::literal;
  std::string text;          // the literal, or NAME of %(var.NAME)
  bool has_percent = false;  // a literal that logformat-strftime would expand
};

struct LogFormat {
  std::vector<LogPiece> pieces;
  bool uses_memory = false;  // rss/vsz: the worker reads /proc/self/statm for them
};

// Throws ConfigError at `where` naming an unknown variable and listing the known ones.
LogFormat compile_log_format(std::string_view format, const Location& where);

// The variable's name as written in %(), e.g. "msecs"; "var" for var.NAME.
std::string_view log_var_name(LogVar var);

// True for the variables a client controls: written escaped, JSON strings.
bool log_var_from_client(LogVar var);

}  // namespace ferry::config
