#pragma once

// One connection's closed loop: send the request, read the whole response, judge it, record
// it, send the next. Each thread's clients share that thread's Stats; every thread shares
// the Plan (when to start requests) and the prebuilt Request.

#include <array>
#include <asio.hpp>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "options.hpp"
#include "response_parser.hpp"

namespace ferry::bench {

using Clock = std::chrono::steady_clock;

// The request every connection sends, built once.
struct Request {
  std::string head;  // the uwsgi packet, or the HTTP request line and headers
  std::string body;  // shared read-only by every connection
};

Request build_request(const Options& options);

enum class ErrorKind { connect, write, read, timeout, status, invalid, count };
inline constexpr std::array<const char*, static_cast<int>(ErrorKind::count)> kErrorNames = {
    "connect", "write", "read", "timeout", "status", "invalid"};

// Counts of measured requests (those started after the warm-up).
struct Stats {
  std::uint64_t ok = 0;
  std::array<std::uint64_t, kErrorNames.size()> errors{};
  std::array<std::string, kErrorNames.size()> first_error;  // one example message each
  std::uint64_t warmup_errors = 0;
  std::map<int, std::uint64_t> statuses;
  std::uint64_t bytes_sent = 0;
  std::uint64_t bytes_received = 0;
  std::uint64_t body_bytes = 0;
  std::uint64_t connections_opened = 0;
  std::uint64_t keepalive_retries = 0;
  std::vector<std::uint32_t> latencies_us;  // of the successful requests
  struct Event {
    Clock::time_point done;
    std::uint32_t latency_us;
    int kind;  // -1 for ok, else an ErrorKind
  };
  std::vector<Event> timeline;  // every measured request, with --timeline only
  Clock::time_point last_done{};

  std::uint64_t error_total() const;
  void merge(const Stats& other);
};

// When to start requests, shared by every thread.
struct Plan {
  Clock::time_point measure_from;  // the end of the warm-up
  Clock::time_point stop_at;       // no request starts after this
  std::uint64_t max_requests = 0;  // measured requests, 0 = no limit
  std::atomic<std::uint64_t> started{0};
  // Open loop (--rate): request i is due at start + i / rate, whether or not the server
  // kept up, and its latency counts from then. A server that stalls then shows the delay
  // of every request that arrived meanwhile, not just of those in flight.
  double rate = 0;
  Clock::time_point start{};
  std::atomic<std::uint64_t> next_slot{0};

  bool may_start(Clock::time_point now) {
    if (now >= stop_at) return false;
    if (max_requests == 0 || now < measure_from) return true;
    return started.fetch_add(1, std::memory_order_relaxed) < max_requests;
  }

  // When the next request is due, or nothing once the run is over.
  std::optional<Clock::time_point> take_slot() {
    const auto i = next_slot.fetch_add(1, std::memory_order_relaxed);
    const auto due = start + std::chrono::duration_cast<Clock::duration>(
                                 std::chrono::duration<double>(static_cast<double>(i) / rate));
    if (due >= stop_at) return std::nullopt;
    return due;
  }
};

class Client {
 public:
  using Protocol = asio::generic::stream_protocol;

  Client(asio::io_context& io, const Options& options, const Protocol::endpoint& endpoint, const Request& request,
         Plan& plan, Stats& stats);

  // Starts the next request, or ends this connection's loop once the Plan says so;
  // io_context::run() returns when every loop has ended.
  void next();

 private:
  void start(Clock::time_point due);
  void begin();
  void send();
  void read();
  void conclude_connect_error(const asio::error_code& ec);
  void conclude();
  void finish(std::optional<ErrorKind> kind, const std::string& detail);
  void close();

  const Options& options_;
  const Protocol::endpoint& endpoint_;
  const Request& request_;
  Plan& plan_;
  Stats& stats_;
  Protocol::socket socket_;
  asio::steady_timer timer_;
  std::vector<char> buffer_;
  ResponseParser parser_;

  Clock::time_point started_;
  std::uint64_t generation_ = 0;  // which request a timer belongs to
  int pending_ = 0;               // the write and the read of the request in flight
  bool measured_ = false;
  bool reused_ = false;
  bool retried_ = false;
  bool timed_out_ = false;
  bool closed_by_peer_ = false;
  std::uint64_t received_ = 0;
  std::string write_error_;
  std::string read_error_;
};

}  // namespace ferry::bench
