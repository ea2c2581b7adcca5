#pragma once

// `ferry --ping ADDR [--ping-timeout SECONDS]`: uWSGI's health check. Sends a uwsgi ping
// (modifier1 100, no vars) to a socket and waits for a worker's pong; what a container
// HEALTHCHECK or a Kubernetes exec probe runs. A pong proves a worker accepted the
// connection and read a packet, which a bare TCP connect (answered by the kernel's
// backlog even when every worker is stuck) does not.
//
// The argument parsing and the judging of an answer are pure; ping() does the socket work.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ferry::master {

inline constexpr double kDefaultPingTimeoutSeconds = 3;

struct PingRequest {
  std::string address;  // a Unix socket path, or host:port (":3031" is this host)
  std::chrono::milliseconds timeout{static_cast<long>(kDefaultPingTimeoutSeconds * 1000)};
};

// True when argv asks for the ping sub-command (has --ping or --ping=ADDR).
bool wants_ping(const std::vector<std::string>& args);

// `--ping ADDR`, `--ping=ADDR`, `--ping-timeout N`, `--ping-timeout=N`, in any order.
// nullopt with `error` set (one line, naming the fix) for anything else.
std::optional<PingRequest> parse_ping_args(const std::vector<std::string>& args, std::string& error);

// Empty when `answer` (the bytes read before the peer closed, at most a header's worth)
// is a pong; otherwise why not, in words.
std::string judge_pong(std::string_view answer);

struct PingOutcome {
  bool ok = false;
  std::string reason;  // when !ok: one line, what happened and what to check
};

// Connects, sends the ping, waits for the answer; the whole exchange within the timeout.
PingOutcome ping(const PingRequest& request);

}  // namespace ferry::master
