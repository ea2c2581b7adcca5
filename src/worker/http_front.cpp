#include "worker/http_front.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <asio.hpp>
#include <cerrno>
#include <cstring>
#include <fmt/format.h>
#include <map>
#include <set>

#include "common/http_date.hpp"
#include "common/logging.hpp"
#include "protocol/http_response.hpp"
#include "protocol/uwsgi.hpp"
#include "worker/accept_refusals.hpp"
#include "worker/burst_counter.hpp"
#include "worker/exchange.hpp"
#include "worker/tls_failures.hpp"
#include "worker/tls_io.hpp"
#include "worker/uwsgi_handoffs.hpp"

namespace ferry::worker {
namespace {

constexpr std::size_t kReadChunk = 16 * 1024;
// Bodies up to this (or post-buffering, if larger) are read here, before the request
// reaches Python; larger ones are streamed by the app through wsgi.input.
constexpr std::uint64_t kFrontBodyLimit = 64 * 1024;
// A chunked body is always read here (its length is unknown until its end); above this
// it goes to an unlinked temp file instead of memory.
constexpr std::size_t kChunkedInMemory = 1024 * 1024;
// How long a refused client may take to read our error before the connection is closed.
constexpr auto kLinger = std::chrono::seconds(2);
// How soon a worker whose serving threads are all spoken for looks at its listeners again.
constexpr auto kBusyRetry = std::chrono::milliseconds(5);
// How long a listener rests after accept failed with EMFILE/ENFILE: the listener stays
// readable, so accepting again at once would spin at 100 % CPU.
constexpr auto kAcceptPause = std::chrono::milliseconds(100);
// A burst of refusals, sheds or timeouts is over (and its count logged) after this long
// without another.
constexpr auto kQuiet = std::chrono::seconds(1);

}  // namespace

struct HttpFront::Impl {
  using Clock = std::chrono::steady_clock;

  // A connection while the front holds it: the Asio descriptor borrows the fd, which the
  // HttpConnection owns and carries to the serving thread.
  struct Conn {
    Conn(asio::io_context& io, std::unique_ptr<HttpConnection> connection)
        : c(std::move(connection)), sock(io, c->fd.get()), timer(io) {}
    ~Conn() {
      if (sock.is_open()) sock.release();
    }
    std::unique_ptr<HttpConnection> c;
    asio::posix::stream_descriptor sock;
    asio::steady_timer timer;
    std::array<char, kReadChunk> buffer{};
    bool idle = false;                       // waiting between requests (keep-alive), not inside one
    std::size_t received = 0;                // bytes read since the front took the connection
    Clock::time_point since = Clock::now();  // when the front took it: the oldest is shed first
  };
  using ConnPtr = std::shared_ptr<Conn>;

  Impl(const config::Config& config, std::vector<int> fds, std::vector<TlsContext*> tls, ReadyQueue& ready, int stop_fd,
       std::shared_ptr<spdlog::logger> log)
      : config(config), ready(ready), log(std::move(log)), stop(io, ::fcntl(stop_fd, F_DUPFD_CLOEXEC, 3)) {
    for (int fd : fds) listeners.push_back(std::make_unique<asio::posix::stream_descriptor>(io, fd));
    for (std::size_t i = 0; i < tls.size(); ++i) listener_tls[listeners.at(i).get()] = tls[i];
    limits.max_head_bytes = config.buffer_size;
    limits.max_target_bytes = config.buffer_size;
    limits.max_body = config.limit_post;
    body_in_front = std::max<std::uint64_t>(kFrontBodyLimit, config.post_buffering);
    max_conns = connections_allowed();
    uwsgi_packet_limit = protocol::kHeaderSize + config.buffer_size;
  }

  ~Impl() {
    for (auto& l : listeners) l->release();  // the worker owns the listening sockets
  }

  void run() {
    for (auto& l : listeners) accept_on(*l);
    stop.async_wait(asio::posix::stream_descriptor::wait_read, [this](const asio::error_code&) { shut_down(); });
    io.run();
  }

  void shut_down() {
    stopping = true;
    if (at_stop) at_stop();
    for (auto& l : listeners) l->cancel();
    // A uwsgi connection was accepted by a serving thread, and an accepted request is
    // answered even during a stop: it goes back to be read to the end there (blocking,
    // within socket-timeout). HTTP connections here have no request of theirs yet.
    for (const auto& conn : std::set<ConnPtr>(conns)) {
      conn->timer.cancel();
      conn->sock.cancel();
      if (conn->c->uwsgi) dispatch(conn);
    }
    conns.clear();
    quiet.cancel();
    if (handoffs.finish_if_empty()) keep_running.reset();
    // No io.stop(): what was posted meanwhile (a uwsgi hand-over) still runs; every other
    // handler sees `stopping` or a cancelled operation, and run() returns once they did.
  }

  // A uwsgi connection handed over by a serving thread is back in the ready queue, or
  // closed: the last one at a stop lets the loop end.
  void uwsgi_released() {
    if (handoffs.release() == 0 && stopping && handoffs.finish_if_empty()) keep_running.reset();
  }

  void accept_on(asio::posix::stream_descriptor& listener) {
    listener.async_wait(asio::posix::stream_descriptor::wait_read, [this, &listener](const asio::error_code& error) {
      if (error || stopping) return;
      if (ready.size() >= static_cast<std::size_t>(config.threads)) {
        // Every serving thread has a request waiting: leave new clients to other workers
        // and look again shortly.
        auto timer = std::make_shared<asio::steady_timer>(io, kBusyRetry);
        timer->async_wait([this, &listener, timer](const asio::error_code& e) {
          if (!e && !stopping) accept_on(listener);
        });
        return;
      }
      for (int accepted = 0; accepted < config.threads * 4; ++accepted) {
        sockaddr_storage peer{};
        socklen_t length = sizeof peer;
        const int fd = ::accept4(listener.native_handle(), reinterpret_cast<sockaddr*>(&peer), &length,
                                 SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
          if (accept_starved(errno)) {
            // The client waits in the listen queue; so does this listener, for a moment.
            refused_errno = errno;
            if (auto r = refused.note(Clock::now())) report_accept_refusals(*log, "HTTP accept", *r, refused_errno);
            quiet_later();
            auto timer = std::make_shared<asio::steady_timer>(io, kAcceptPause);
            timer->async_wait([this, &listener, timer](const asio::error_code& e) {
              if (!e && !stopping) accept_on(listener);
            });
            return;
          }
          break;
        }
        if (refused.in_burst()) {
          if (auto r = refused.end(Clock::now())) report_accept_refusals(*log, "HTTP accept", *r, refused_errno);
        }
        const int one = 1;
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);  // small responses leave at once
        auto connection = std::make_unique<HttpConnection>(UniqueFd(fd), limits);
        connection->peer = endpoint_of(peer);
        sockaddr_storage local{};
        length = sizeof local;
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &length);
        connection->local = endpoint_of(local);
        if (TlsContext* tls = listener_tls[&listener]) connection->tls = std::make_unique<TlsSession>(*tls, fd);
        watch(std::move(connection));
      }
      accept_on(listener);
    });
  }

  // At the most connections the open file limit allows: the one that has waited longest
  // for its request goes, so that a flood of idle or slow clients cannot keep new ones out.
  void make_room() {
    if (conns.size() < max_conns) {
      if (shed.in_burst()) {
        if (auto r = shed.end(Clock::now())) report_shed(*log, *r, max_conns);
      }
      return;
    }
    auto oldest = std::min_element(conns.begin(), conns.end(),
                                   [](const ConnPtr& a, const ConnPtr& b) { return a->since < b->since; });
    close(*oldest);
    if (auto r = shed.note(Clock::now())) report_shed(*log, *r, max_conns);
    quiet_later();
  }

  // A uwsgi connection whose packet a serving thread did not get at once.
  void watch_uwsgi(std::unique_ptr<HttpConnection> connection) {
    make_room();
    auto conn = std::make_shared<Conn>(io, std::move(connection));
    conns.insert(conn);
    conn->received = conn->c->unparsed.size();
    // socket-timeout for the whole packet, however it trickles in.
    conn->timer.expires_after(std::chrono::seconds(config.socket_timeout));
    conn->timer.async_wait([this, conn](const asio::error_code& error) {
      if (error || !conns.count(conn)) return;
      timed_out(conn, fmt::format("no complete request within socket-timeout ({} s)", config.socket_timeout));
    });
    if (conn->c->tls) return handshake(conn, [this](const ConnPtr& c) { read_uwsgi(c); });
    read_uwsgi(conn);
  }

  // ssl-socket, https: the TLS handshake, within the deadline the caller armed. A peer that
  // fails it costs its connection and a line (TlsFailures), then `next` reads the request.
  template <class Next>
  void handshake(const ConnPtr& conn, Next next) {
    tls_io::async_handshake(conn->sock, *conn->c->tls, [this, conn, next](TlsSession::Step step) {
      if (!conns.count(conn)) return;
      if (step == TlsSession::Step::done) return next(conn);
      if (step == TlsSession::Step::closed) return close(conn);
      tls_failures.failed(*log, *conn->c);
      quiet_later();
      close(conn);
    });
  }

  void read_uwsgi(const ConnPtr& conn) {
    const std::string& have = conn->c->unparsed;
    if (have.size() >= protocol::kHeaderSize) {
      const std::size_t datasize = protocol::decode_header(have.data()).datasize;
      // Whole, or more than ferry accepts: either way the serving thread has what it needs
      // to answer or to refuse it (and to log why).
      if (have.size() >= protocol::kHeaderSize + datasize || have.size() >= uwsgi_packet_limit) {
        return dispatch(conn);
      }
    }
    read_some(conn, [this, conn](const asio::error_code& error, std::size_t n) {
      if (!conns.count(conn)) return;
      if (error) {
        if (conn->received > 0) {
          log->warn("dropped a connection: the client closed it after {} bytes of the request packet", conn->received);
        }
        close(conn);
        return;
      }
      conn->received += n;
      conn->c->unparsed.append(conn->buffer.data(), n);
      read_uwsgi(conn);
    });
  }

  // Takes a connection (new, or back from a serving thread) and waits for its next request.
  void watch(std::unique_ptr<HttpConnection> connection) {
    make_room();
    auto conn = std::make_shared<Conn>(io, std::move(connection));
    conns.insert(conn);
    conn->idle = conn->c->requests > 0 && conn->c->unparsed.empty();
    conn->received = conn->c->unparsed.size();
    arm_timer(conn);
    if (conn->c->tls && !conn->c->tls->established()) return handshake(conn, [this](const ConnPtr& c) { process(c); });
    process(conn);
  }

  template <class Handler>  // through the connection's TLS, if it has one
  void read_some(const ConnPtr& conn, Handler handler) {
    tls_io::async_read_some(conn->sock, conn->c->tls.get(), asio::buffer(conn->buffer), std::move(handler));
  }

  // A request gets http-timeout in total for its head (and a body read here): a client
  // that sends a byte now and then (slowloris) is cut off all the same. Between requests
  // a keep-alive connection may idle for http-keepalive.
  void arm_timer(const ConnPtr& conn) {
    conn->timer.expires_after(std::chrono::seconds(conn->idle ? config.http_keepalive : config.http_timeout));
    conn->timer.async_wait([this, conn](const asio::error_code& error) {
      if (error || !conns.count(conn)) return;
      if (conn->idle) {
        close(conn);  // an idle keep-alive connection: nobody is waiting for anything
        return;
      }
      timed_out(conn, fmt::format("no complete request within http-timeout ({} s)", config.http_timeout));
    });
  }

  // A flood of idle or slowloris clients would write one line each: the first of a burst
  // is logged whole (client, request), the rest are counted.
  void timed_out(const ConnPtr& conn, const std::string& why) {
    const bool first = !timeouts.in_burst();
    if (auto r = timeouts.note(Clock::now())) report_timeouts(*r);
    quiet_later();
    if (tls_failures.timed_out(*log, *conn->c, why, first)) return close(conn);
    if (conn->c->uwsgi) {
      if (first) log->warn("dropped a connection: {}; got {} bytes", why, conn->received);
      return close(conn);
    }
    reject(conn, 408, why, first);
  }

  void report_timeouts(const BurstCounter::Report& r) {
    log->warn(
        "{} connection{} in {:.1f} s{} sent no complete request in time (http-timeout {} s, socket-timeout {} s) "
        "and {} closed",
        r.count, r.count == 1 ? "" : "s", std::chrono::duration<double>(r.lasted).count(),
        r.over ? "" : ", and more go on", config.http_timeout, config.socket_timeout, r.count == 1 ? "was" : "were");
  }

  void end_timeouts() {
    if (!timeouts.in_burst()) return;
    if (auto r = timeouts.end(Clock::now()); r && r->count > 1) report_timeouts(*r);
  }

  // A burst also ends when nothing more happens: its count is logged after a quiet second.
  void quiet_later() {
    quiet.expires_after(kQuiet);
    quiet.async_wait([this](const asio::error_code& error) {
      if (error || stopping) return;
      end_timeouts();
      if (auto r = shed.end(Clock::now())) report_shed(*log, *r, max_conns);
      if (auto r = refused.end(Clock::now())) report_accept_refusals(*log, "HTTP accept", *r, refused_errno);
      tls_failures.quiet(*log);
    });
  }

  void process(const ConnPtr& conn) {
    HttpConnection& c = *conn->c;
    for (;;) {
      const auto result = c.parser.feed(c.unparsed);
      // result.body points into `unparsed`: take it before the consumed bytes are dropped.
      if (result.status == protocol::http::RequestParser::Status::body &&
          !c.body.append(result.body, kChunkedInMemory)) {
        return reject(conn, 500, fmt::format("cannot buffer the chunked body: {}", std::strerror(errno)));
      }
      c.unparsed.erase(0, result.consumed);
      using Status = protocol::http::RequestParser::Status;
      switch (result.status) {
        case Status::need_more: return read_more(conn);
        case Status::head_complete: {
          const auto& head = c.parser.head();
          const bool has_body = head.chunked || head.content_length.value_or(0) > 0;
          if (has_body && head.expect_continue) {
            // The request is accepted (a body over limit-post was refused before this).
            static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
            tls_io::send_now(c.fd.get(), c.tls.get(), kContinue);
          }
          if (has_body && !head.chunked && *head.content_length > body_in_front) return dispatch(conn);
          continue;
        }
        case Status::body: continue;
        case Status::message_complete: c.body_complete = true; return dispatch(conn);
        case Status::error: return reject(conn, result.http_status, result.error);
      }
    }
  }

  void read_more(const ConnPtr& conn) {
    read_some(conn, [this, conn](const asio::error_code& error, std::size_t n) {
      if (!conns.count(conn)) return;
      if (error) {
        // Closed between requests is the normal end of a keep-alive connection.
        if (!conn->idle && conn->received > 0) {
          log->warn("HTTP client {} closed the connection in the middle of a request", conn->c->peer.addr);
        }
        close(conn);
        return;
      }
      if (conn->idle) {  // the next request has begun: it gets http-timeout from now
        conn->idle = false;
        arm_timer(conn);
      }
      conn->received += n;
      conn->c->unparsed.append(conn->buffer.data(), n);
      process(conn);
    });
  }

  void dispatch(const ConnPtr& conn) {
    end_timeouts();
    conn->timer.cancel();
    conn->sock.release();
    const bool uwsgi = conn->c->uwsgi;
    if (conns.erase(conn) == 0) return;
    ready.push(std::move(conn->c));
    if (uwsgi) uwsgi_released();
  }

  // Answers an error itself, then closes: after a framing error nobody knows where the
  // next request would start. The client gets a moment to read the answer before the
  // close, so it is not lost to a connection reset.
  void reject(const ConnPtr& conn, int status, const std::string& why, bool logged = true) {
    HttpConnection& c = *conn->c;
    const auto& head = c.parser.head();
    if (logged) {
      log->warn("refused an HTTP request from {} with {}: {}{}", c.peer.addr, status, why,
                head.method.empty()
                    ? ""
                    : fmt::format(" ({} {})", LogSafe{head.method}, LogSafe{head.target.substr(0, 200)}));
    }
    auto response =
        std::make_shared<std::string>(protocol::http::plain_head(status, protocol::http::reason_phrase(status)));
    response->insert(response->size() - 2, fmt::format("Date: {}\r\nConnection: close\r\n", dates.now()));
    *response += protocol::http::plain_body(protocol::http::reason_phrase(status));
    conn->timer.cancel();
    tls_io::async_write(conn->sock, conn->c->tls.get(), *response,
                        [this, conn, response](const asio::error_code& error, std::size_t) {
                          if (error || !conns.count(conn)) return close(conn);
                          conn->c->tls.reset();  // its close_notify, before the TCP half-close
                          ::shutdown(conn->c->fd.get(), SHUT_WR);
                          conn->timer.expires_after(kLinger);
                          conn->timer.async_wait([this, conn](const asio::error_code& e) {
                            if (!e) close(conn);
                          });
                          drain(conn);
                        });
  }

  void drain(const ConnPtr& conn) {
    read_some(conn, [this, conn](const asio::error_code& error, std::size_t) {
      if (!conns.count(conn)) return;
      if (error) return close(conn);
      drain(conn);
    });
  }

  void close(const ConnPtr& conn) {
    conn->timer.cancel();
    conn->sock.cancel();
    // The HttpConnection (and its fd) goes with the last handler.
    if (conns.erase(conn) != 0 && conn->c->uwsgi) uwsgi_released();
  }

  const config::Config& config;
  ReadyQueue& ready;
  std::shared_ptr<spdlog::logger> log;
  asio::io_context io;
  std::vector<std::unique_ptr<asio::posix::stream_descriptor>> listeners;
  std::map<const asio::posix::stream_descriptor*, TlsContext*> listener_tls;  // https: its context
  std::function<void()> at_stop;
  asio::posix::stream_descriptor stop;
  protocol::http::Limits limits;
  std::uint64_t body_in_front = kFrontBodyLimit;
  std::size_t max_conns = 0;           // connections_allowed()
  std::size_t uwsgi_packet_limit = 0;  // header + buffer-size: read no more than that here
  std::set<ConnPtr> conns;
  // uwsgi connections handed over and not yet back in the ready queue (or closed): the
  // serving threads do not exit on a stop while there are any. Their hand-overs are
  // posted to `io`, so the loop runs (keep_running) until they are finished.
  UwsgiHandoffs handoffs;
  asio::executor_work_guard<asio::io_context::executor_type> keep_running{io.get_executor()};
  BurstCounter refused, shed;  // accept failures, connections closed by make_room()
  BurstCounter timeouts;       // connections cut off by http-timeout / socket-timeout
  TlsFailures tls_failures;
  asio::steady_timer quiet{io};  // quiet_later()
  int refused_errno = 0;
  HttpDateClock dates;
  bool stopping = false;
};

HttpFront::HttpFront(const config::Config& config, std::vector<int> listen_fds, std::vector<TlsContext*> listen_tls,
                     ReadyQueue& ready, int stop_fd, std::shared_ptr<spdlog::logger> log, std::function<void()> at_stop)
    : impl_(std::make_unique<Impl>(config, std::move(listen_fds), std::move(listen_tls), ready, stop_fd,
                                   std::move(log))) {
  impl_->at_stop = std::move(at_stop);
}

HttpFront::~HttpFront() { join(); }

void HttpFront::start() {
  thread_ = std::thread([this] { impl_->run(); });
}

void HttpFront::join() {
  if (thread_.joinable()) thread_.join();
}

protocol::http::Limits HttpFront::limits() const { return impl_->limits; }

void HttpFront::wait_for_uwsgi_packet(UniqueFd fd, std::string received, TlsContext* tls) {
  auto connection = HttpConnection::for_uwsgi(std::move(fd), impl_->limits, tls);
  connection->unparsed = std::move(received);
  auto holder = std::make_shared<std::unique_ptr<HttpConnection>>(std::move(connection));
  if (!impl_->handoffs.hold()) return impl_->ready.push(std::move(*holder));  // the front has stopped
  asio::post(impl_->io, [this, holder] {
    if (!impl_->stopping) return impl_->watch_uwsgi(std::move(*holder));
    impl_->ready.push(std::move(*holder));  // a stop came first: a serving thread reads it
    impl_->uwsgi_released();
  });
}

int HttpFront::released_fd() const { return impl_->handoffs.released_fd(); }
bool HttpFront::stopped() const { return impl_->handoffs.finished(); }

void HttpFront::give_back(std::unique_ptr<HttpConnection> connection) {
  auto holder = std::make_shared<std::unique_ptr<HttpConnection>>(std::move(connection));
  asio::post(impl_->io, [this, holder] {
    if (impl_->stopping) return;
    auto& c = **holder;
    ++c.requests;
    c.next_request();
    impl_->watch(std::move(*holder));
  });
}

}  // namespace ferry::worker
