#pragma once

// The HTTP front's account of TLS peers that failed the handshake (a wrong CA, no client
// certificate, plain text on a TLS port) or never finished it: the first of a burst is
// logged whole, naming the peer and OpenSSL's reason, the rest are counted, so a flood of
// bad clients is not also a flood of log lines. On the front's thread only.

#include <spdlog/logger.h>

#include <string>

#include "worker/burst_counter.hpp"
#include "worker/http_front.hpp"

namespace ferry::worker {

// "203.0.113.7:52114" (one getpeername the first time), or "a Unix socket client".
std::string peer_text(HttpConnection& c);

class TlsFailures {
 public:
  // A handshake that failed: c.tls->error() says why.
  void failed(spdlog::logger& log, HttpConnection& c);
  // The connection's deadline passed: if its handshake had not finished, logs that (when
  // `log_it`, the first of a burst of timeouts) and returns true; the caller closes it.
  bool timed_out(spdlog::logger& log, HttpConnection& c, const std::string& why, bool log_it);
  // A quiet second after the last one: the burst's count, if more than the first.
  void quiet(spdlog::logger& log);

 private:
  void report(spdlog::logger& log, const BurstCounter::Report& r);
  BurstCounter counter_;
};

}  // namespace ferry::worker
