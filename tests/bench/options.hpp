#pragma once

// loadgen's command line: what to load, how hard and for how long.

#include <asio.hpp>
#include <cstdint>
#include <string>

namespace ferry::bench {

enum class Mode { uwsgi, http };

struct Options {
  Mode mode = Mode::uwsgi;
  std::string address;
  int connections = 10;
  double duration = 10;
  bool duration_given = false;
  double warmup = 0;
  std::uint64_t max_requests = 0;
  int threads = 1;
  std::string path = "/";
  std::uint64_t body_bytes = 0;
  std::string host = "localhost";
  bool keepalive = false;
  double timeout = 30;
  bool json = false;
  double rate = 0;       // requests/s on a fixed schedule (open loop); 0 = closed loop
  std::string timeline;  // CSV of every measured request, for latency-over-time plots
};

// Exits with status 2 and the usage on a bad command line.
Options parse_options(int argc, char** argv);

// unix:/path, /path or host:port, as an endpoint of a generic stream socket.
asio::generic::stream_protocol::endpoint resolve(const std::string& address);

}  // namespace ferry::bench
