#include "client.hpp"

#include <algorithm>
#include <fmt/format.h>

#include "protocol/uwsgi.hpp"

namespace ferry::bench {
namespace {

// One read's worth; a 100 MB download passes through it, never accumulates.
constexpr std::size_t kReadBuffer = 128 * 1024;

}  // namespace

Request build_request(const Options& o) {
  Request r;
  r.body.assign(o.body_bytes, 'x');
  const bool post = o.body_bytes > 0;
  const std::string method = post ? "POST" : "GET";
  if (o.mode == Mode::uwsgi) {
    const auto q = o.path.find('?');
    const std::string path_info = o.path.substr(0, q);
    const std::string query = q == std::string::npos ? "" : o.path.substr(q + 1);
    // What nginx sends with `include uwsgi_params`, in its order.
    r.head = protocol::encode_packet({
        {"QUERY_STRING", query},
        {"REQUEST_METHOD", method},
        {"CONTENT_TYPE", post ? "application/octet-stream" : ""},
        {"CONTENT_LENGTH", post ? std::to_string(o.body_bytes) : ""},
        {"REQUEST_URI", o.path},
        {"PATH_INFO", path_info},
        {"DOCUMENT_ROOT", "/usr/share/nginx/html"},
        {"SERVER_PROTOCOL", "HTTP/1.1"},
        {"REQUEST_SCHEME", "http"},
        {"REMOTE_ADDR", "127.0.0.1"},
        {"REMOTE_PORT", "40000"},
        {"SERVER_PORT", "80"},
        {"SERVER_NAME", o.host},
        {"HTTP_HOST", o.host},
        {"HTTP_USER_AGENT", "ferry-loadgen"},
        {"HTTP_ACCEPT", "*/*"},
    });
  } else {
    r.head = fmt::format("{} {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: ferry-loadgen\r\nAccept: */*\r\n", method, o.path,
                         o.host);
    if (post) {
      r.head += fmt::format("Content-Type: application/octet-stream\r\nContent-Length: {}\r\n", o.body_bytes);
    }
    if (!o.keepalive) r.head += "Connection: close\r\n";
    r.head += "\r\n";
  }
  return r;
}

std::uint64_t Stats::error_total() const {
  std::uint64_t n = 0;
  for (auto e : errors) n += e;
  return n;
}

void Stats::merge(const Stats& s) {
  ok += s.ok;
  for (std::size_t i = 0; i < errors.size(); ++i) {
    errors[i] += s.errors[i];
    if (first_error[i].empty()) first_error[i] = s.first_error[i];
  }
  warmup_errors += s.warmup_errors;
  for (const auto& [code, n] : s.statuses) statuses[code] += n;
  bytes_sent += s.bytes_sent;
  bytes_received += s.bytes_received;
  body_bytes += s.body_bytes;
  connections_opened += s.connections_opened;
  keepalive_retries += s.keepalive_retries;
  latencies_us.insert(latencies_us.end(), s.latencies_us.begin(), s.latencies_us.end());
  timeline.insert(timeline.end(), s.timeline.begin(), s.timeline.end());
  last_done = std::max(last_done, s.last_done);
}

Client::Client(asio::io_context& io, const Options& options, const Protocol::endpoint& endpoint, const Request& request,
               Plan& plan, Stats& stats)
    : options_(options),
      endpoint_(endpoint),
      request_(request),
      plan_(plan),
      stats_(stats),
      socket_(io),
      timer_(io),
      buffer_(kReadBuffer),
      parser_(options.mode == Mode::uwsgi ? ResponseParser::End::at_close : ResponseParser::End::framed) {}

void Client::next() {
  const auto now = Clock::now();
  if (plan_.rate > 0) {
    const auto due = plan_.take_slot();
    if (!due) {
      close();
      return;
    }
    if (*due <= now) return start(*due);  // behind schedule: the wait so far counts
    ++generation_;
    timer_.expires_at(*due);
    timer_.async_wait([this, due = *due, generation = generation_](const asio::error_code& ec) {
      if (!ec && generation == generation_) start(due);
    });
    return;
  }
  if (!plan_.may_start(now)) {
    close();
    return;  // this connection's loop ends; run() returns once every loop has
  }
  start(now);
}

// Latency counts from `due`: now in a closed loop, the scheduled time in an open one.
void Client::start(Clock::time_point due) {
  started_ = due;
  measured_ = due >= plan_.measure_from;
  retried_ = false;
  ++generation_;
  timer_.expires_after(std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(options_.timeout)));
  timer_.async_wait([this, generation = generation_](const asio::error_code& ec) {
    if (ec || generation != generation_) return;  // the request ended first
    timed_out_ = true;
    close();  // outstanding operations complete with operation_aborted
  });
  begin();
}

void Client::begin() {
  parser_.reset();
  timed_out_ = false;
  received_ = 0;
  write_error_.clear();
  read_error_.clear();
  closed_by_peer_ = false;
  if (socket_.is_open()) {
    reused_ = true;
    send();
    return;
  }
  reused_ = false;
  asio::error_code ec;
  socket_.open(endpoint_.protocol(), ec);
  if (!ec && endpoint_.protocol().family() != AF_UNIX) socket_.set_option(asio::ip::tcp::no_delay(true), ec);
  if (ec) return conclude_connect_error(ec);
  ++stats_.connections_opened;
  socket_.async_connect(endpoint_, [this](const asio::error_code& ec) {
    if (ec) return conclude_connect_error(ec);
    send();
  });
}

void Client::send() {
  // The write and the read run together, so a server that answers before reading the
  // whole body (413) is seen answering, not as a write error.
  pending_ = 2;
  const std::array<asio::const_buffer, 2> buffers{asio::buffer(request_.head), asio::buffer(request_.body)};
  asio::async_write(socket_, buffers, [this](const asio::error_code& ec, std::size_t n) {
    stats_.bytes_sent += n;
    if (ec) write_error_ = ec.message();
    if (--pending_ == 0) conclude();
  });
  read();
}

void Client::read() {
  socket_.async_read_some(asio::buffer(buffer_), [this](const asio::error_code& ec, std::size_t n) {
    received_ += n;
    stats_.bytes_received += n;
    if (n > 0) parser_.feed(std::string_view(buffer_.data(), n));
    const bool peer_closed = ec == asio::error::eof ||
                             // A reset after the server's last byte is its close too.
                             (ec == asio::error::connection_reset && options_.mode == Mode::uwsgi);
    if (peer_closed) {
      closed_by_peer_ = true;
      parser_.on_close();
    } else if (ec) {
      read_error_ = ec.message();
    }
    const auto state = parser_.state();
    if (ec || state == ResponseParser::State::complete || state == ResponseParser::State::invalid) {
      if (--pending_ == 0) conclude();
      return;
    }
    read();
  });
}

void Client::conclude_connect_error(const asio::error_code& ec) {
  close();
  finish(timed_out_ ? ErrorKind::timeout : ErrorKind::connect, timed_out_ ? "timed out connecting" : ec.message());
}

void Client::conclude() {
  // A kept-alive connection that the server had already closed: not the request's
  // fault. Reconnect and send it again, once.
  if (reused_ && !retried_ && !timed_out_ && received_ == 0 &&
      (closed_by_peer_ || !read_error_.empty() || !write_error_.empty())) {
    retried_ = true;
    ++stats_.keepalive_retries;
    close();
    begin();
    return;
  }
  std::optional<ErrorKind> kind;
  std::string detail;
  const auto state = parser_.state();
  if (timed_out_) {
    kind = ErrorKind::timeout;
    detail = fmt::format("no complete response within {} s", options_.timeout);
  } else if (state == ResponseParser::State::complete) {
    if (parser_.status() != 200) {
      kind = ErrorKind::status;
      detail = fmt::format("status {}", parser_.status());
    }
  } else if (!read_error_.empty()) {
    kind = ErrorKind::read;
    detail = read_error_;
  } else if (received_ == 0 && !write_error_.empty()) {
    kind = ErrorKind::write;
    detail = write_error_;
  } else {
    kind = ErrorKind::invalid;
    detail = std::string(parser_.error());
  }
  if (state != ResponseParser::State::head && measured_) ++stats_.statuses[parser_.status()];
  if (measured_) stats_.body_bytes += parser_.body_bytes();
  const bool reusable = !kind && options_.keepalive && !closed_by_peer_ && parser_.keep_alive() && write_error_.empty();
  if (!reusable) close();
  finish(kind, detail);
}

void Client::finish(std::optional<ErrorKind> kind, const std::string& detail) {
  ++generation_;  // a timer that already fired must not touch the next request
  timer_.cancel();
  const auto now = Clock::now();
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(now - started_).count();
  const auto latency_us = static_cast<std::uint32_t>(std::min<long long>(us, UINT32_MAX));
  if (measured_ && !options_.timeline.empty()) {
    stats_.timeline.push_back({now, latency_us, kind ? static_cast<int>(*kind) : -1});
  }
  if (!measured_) {
    if (kind) ++stats_.warmup_errors;
  } else if (kind) {
    const auto i = static_cast<std::size_t>(*kind);
    ++stats_.errors[i];
    if (stats_.first_error[i].empty()) stats_.first_error[i] = detail;
    stats_.last_done = now;
  } else {
    ++stats_.ok;
    stats_.latencies_us.push_back(latency_us);
    stats_.last_done = now;
  }
  next();
}

void Client::close() {
  asio::error_code ignored;
  socket_.close(ignored);
}

}  // namespace ferry::bench
