#include "worker/tls_failures.hpp"

#include <sys/socket.h>

#include <fmt/format.h>

#include "worker/exchange.hpp"

namespace ferry::worker {

std::string peer_text(HttpConnection& c) {
  if (c.peer.addr.empty()) {
    sockaddr_storage peer{};
    socklen_t length = sizeof peer;
    if (::getpeername(c.fd.get(), reinterpret_cast<sockaddr*>(&peer), &length) == 0) c.peer = endpoint_of(peer);
  }
  return c.peer.addr.empty() ? "a Unix socket client" : fmt::format("{}:{}", c.peer.addr, c.peer.port);
}

void TlsFailures::failed(spdlog::logger& log, HttpConnection& c) {
  const bool first = !counter_.in_burst();
  if (auto r = counter_.note(BurstCounter::Clock::now())) report(log, *r);
  if (first) log.warn("TLS handshake with {} failed: {}", peer_text(c), c.tls ? c.tls->error() : "");
}

bool TlsFailures::timed_out(spdlog::logger& log, HttpConnection& c, const std::string& why, bool log_it) {
  if (!c.tls || c.tls->established()) return false;
  if (log_it) log.warn("dropped a connection from {}: {}; its TLS handshake did not finish", peer_text(c), why);
  return true;
}

void TlsFailures::quiet(spdlog::logger& log) {
  if (auto r = counter_.end(BurstCounter::Clock::now()); r && r->count > 1) report(log, *r);
}

void TlsFailures::report(spdlog::logger& log, const BurstCounter::Report& r) {
  log.warn("{} TLS handshakes failed in {:.1f} s{} (the first one is logged above)", r.count,
           std::chrono::duration<double>(r.lasted).count(), r.over ? "" : ", and more go on");
}

}  // namespace ferry::worker
