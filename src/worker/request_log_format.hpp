#pragma once

// The request line when the log is shaped: log-format's pieces filled in for one request,
// the log-date prefix, logformat-strftime, or one JSON object with typed fields
// (log-req-encoder = json). Pure: the caller passes the times and memory figures in. The
// default line stays format_request_line (request_log.hpp).

#include <cstdint>
#include <string>
#include <string_view>

#include "config/log_shape.hpp"
#include "worker/request_log.hpp"

namespace ferry::worker {

struct MemoryFigures {
  std::uint64_t rss = 0;  // bytes
  std::uint64_t vsz = 0;
};

// The client a proxy names first in X-Forwarded-For ("203.0.113.7, 10.0.0.1" ->
// "203.0.113.7"); empty if the header names none.
std::string_view forwarded_client(std::string_view x_forwarded_for);

// Whether disable-logging's exceptions (log-slow, log-4xx, log-5xx, log-big) keep it.
bool kept_by_filters(const config::RequestLogShape& shape, std::uint64_t msecs, int status, std::uint64_t body_bytes);

class RequestLogFormatter {
 public:
  explicit RequestLogFormatter(const config::RequestLogShape& shape);

  // True when the line is the default one, with neither a prefix nor JSON.
  bool is_default() const { return !shape_.format && !shape_.date && !shape_.json; }
  bool needs_memory() const;

  // Appends the line, with its newline, to `out`.
  void append(std::string& out, const RequestLogEntry& entry, MemoryFigures memory) const;

 private:
  void append_text(std::string& out, const RequestLogEntry& entry, MemoryFigures memory) const;
  void append_json(std::string& out, const RequestLogEntry& entry, MemoryFigures memory) const;

  const config::RequestLogShape& shape_;
  config::LogFormat json_fields_;  // log-format's variables, or the default set
};

}  // namespace ferry::worker
