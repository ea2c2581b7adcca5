#pragma once

// The stats server on the master's Asio loop: each connection gets one reading of the
// snapshot, as uWSGI's stats JSON (then the master closes, as uWSGI does) or, with
// stats-http, an HTTP/1.1 response routed by stats_routes.hpp. Nothing a client does can
// stall the loop that supervises the workers: every read and write is non-blocking, a
// connection lives at most kStatsConnectionTimeout, and at most kMaxStatsConnections are
// open at once (more are closed as they are accepted).

#include <asio.hpp>
#include <chrono>
#include <cstddef>
#include <memory>
#include <spdlog/spdlog.h>

#include "master/listeners.hpp"
#include "master/stats_routes.hpp"

namespace ferry::master {

inline constexpr auto kStatsConnectionTimeout = std::chrono::seconds(5);
inline constexpr std::size_t kMaxStatsConnections = 32;

class StatsServer {
 public:
  // `listener` is bound and listening (non-blocking); `http`: speak HTTP, else write the
  // JSON at once. Starts accepting at once.
  StatsServer(asio::io_context& io, const Listener& listener, bool http, StatsRouting routing,
              std::shared_ptr<spdlog::logger> log);
  ~StatsServer();
  StatsServer(const StatsServer&) = delete;
  StatsServer& operator=(const StatsServer&) = delete;

  std::size_t open_connections() const;

  struct Shared;  // what the connections share with the server (stats_server.cpp)

 private:
  void wait_accept();

  asio::io_context& io_;
  asio::posix::stream_descriptor listening_;  // a duplicate of the listener's fd
  std::shared_ptr<Shared> shared_;
};

}  // namespace ferry::master
