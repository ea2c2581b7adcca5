#pragma once

// The per-request log line in uWSGI's default format, so existing log tooling keeps
// working:
// [pid: 812|app: 0|req: 3/9] 127.0.0.1 () {34 vars in 612 bytes} [Wed Nov 25 10:37:38 2026]
//   GET /path => generated 12 bytes in 1 msecs (HTTP/1.1 200) 2 headers in 79 bytes
//   (1 switches on core 0)

#include <cstdint>
#include <ctime>
#include <span>
#include <string>
#include <string_view>

#include "protocol/cgi.hpp"
#include "protocol/uwsgi.hpp"

namespace ferry::worker {

struct RequestLogEntry {
  int pid;
  int app_id;
  std::uint64_t worker_requests;
  std::uint64_t total_requests;
  const protocol::RequestFacts* facts;
  std::size_t var_count;
  std::size_t vars_bytes;
  std::time_t started;
  std::uint64_t msecs;
  std::uint64_t body_bytes;
  int status;
  std::uint32_t header_count;
  std::uint64_t header_bytes;
  int core;
  // For log-format and the JSON line (the default line needs none of them).
  std::uint64_t micros = 0;
  std::uint64_t content_length = 0;
  int worker_id = 0;
  std::string_view remote_addr{};  // the client as logged (log-x-forwarded-for); empty: facts'
  std::span<const protocol::Var> vars{};
  std::time_t now = 0;

  std::string_view client() const { return remote_addr.empty() ? facts->remote_addr : remote_addr; }
};

// Appends the line (with its newline) to `out`.
void format_request_line(std::string& out, const RequestLogEntry& entry);

}  // namespace ferry::worker
