#include "master/stats_server.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <string>

#include "master/stats_json.hpp"
#include "protocol/http.hpp"

namespace ferry::master {

struct StatsServer::Shared {
  bool http = false;
  StatsRouting routing;
  std::shared_ptr<spdlog::logger> log;
  std::size_t open = 0;
  bool refusing = false;  // at the cap, and said so in the log
};

namespace {

// The head of a stats request: a request line and a few headers. Bigger is refused (431).
constexpr std::size_t kMaxHeadBytes = 8192;
// After the response, what the client still sends is read and dropped for this long, so
// that closing with unread bytes does not reset the connection before it reads the answer.
constexpr auto kLinger = std::chrono::seconds(1);

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(asio::io_context& io, int fd, std::shared_ptr<StatsServer::Shared> shared)
      : socket_(io, fd),
        timer_(io),
        shared_(std::move(shared)),
        parser_(protocol::http::Limits{kMaxHeadBytes, kMaxHeadBytes, 100, 0}) {
    ++shared_->open;
  }
  ~Connection() {
    --shared_->open;
    if (shared_->refusing && shared_->open < kMaxStatsConnections) shared_->refusing = false;
  }

  void start() {
    timer_.expires_after(kStatsConnectionTimeout);
    timer_.async_wait([self = shared_from_this()](const asio::error_code& error) {
      if (error) return;
      self->shared_->log->info("stats: a client {} within {} s; closed its connection",
                               self->response_.empty() ? "sent no request" : "did not read its answer",
                               kStatsConnectionTimeout.count());
      self->close();
    });
    if (shared_->http) {
      read_request();
    } else {
      // As uWSGI: the document at once, without waiting for the client to say anything.
      respond(stats_json(shared_->routing.collect(), shared_->routing.minified), /*linger=*/false);
    }
  }

 private:
  void read_request() {
    socket_.async_read_some(asio::buffer(buffer_),
                            [self = shared_from_this()](const asio::error_code& error, std::size_t n) {
                              if (error) return self->close();  // the client left, or the timeout closed the socket
                              self->parse(std::string_view(self->buffer_.data(), n));
                            });
  }

  void parse(std::string_view data) {
    using Status = protocol::http::RequestParser::Status;
    while (true) {
      const auto result = parser_.feed(data);
      data.remove_prefix(result.consumed);
      switch (result.status) {
        case Status::need_more: return read_request();
        case Status::error: {
          shared_->log->info("stats: a bad HTTP request ({}), answered {}", result.error, result.http_status);
          return respond(stats_reply_bytes(stats_error_reply(result.http_status, result.error), false), true);
        }
        case Status::head_complete: {
          const auto& head = parser_.head();
          const StatsReply reply = route_stats_request(head, shared_->routing);
          return respond(stats_reply_bytes(reply, head.method == "HEAD"), true);
        }
        case Status::body:
        case Status::message_complete: continue;  // not reached before head_complete
      }
    }
  }

  void respond(std::string bytes, bool linger) {
    response_ = std::move(bytes);
    asio::async_write(socket_, asio::buffer(response_),
                      [self = shared_from_this(), linger](const asio::error_code& error, std::size_t) {
                        if (error || !linger) return self->close();
                        self->linger();
                      });
  }

  // HTTP: our side is done; drop what the client still sends until it closes, or kLinger.
  void linger() {
    ::shutdown(socket_.native_handle(), SHUT_WR);
    timer_.expires_after(kLinger);
    timer_.async_wait([self = shared_from_this()](const asio::error_code& error) {
      if (!error) self->close();
    });
    drain();
  }

  void drain() {
    socket_.async_read_some(asio::buffer(buffer_),
                            [self = shared_from_this()](const asio::error_code& error, std::size_t) {
                              if (error) return self->close();
                              self->drain();
                            });
  }

  void close() {
    asio::error_code ignored;
    timer_.cancel();
    socket_.close(ignored);
  }

  asio::posix::stream_descriptor socket_;
  asio::steady_timer timer_;
  std::shared_ptr<StatsServer::Shared> shared_;
  protocol::http::RequestParser parser_;
  std::array<char, 4096> buffer_{};
  std::string response_;
};

}  // namespace

StatsServer::StatsServer(asio::io_context& io, const Listener& listener, bool http, StatsRouting routing,
                         std::shared_ptr<spdlog::logger> log)
    : io_(io), listening_(io, ::fcntl(listener.fd.get(), F_DUPFD_CLOEXEC, 0)), shared_(std::make_shared<Shared>()) {
  shared_->http = http;
  shared_->routing = std::move(routing);
  shared_->log = std::move(log);
  wait_accept();
}

StatsServer::~StatsServer() {
  asio::error_code ignored;
  listening_.close(ignored);
}

std::size_t StatsServer::open_connections() const { return shared_->open; }

void StatsServer::wait_accept() {
  listening_.async_wait(asio::posix::stream_descriptor::wait_read, [this](const asio::error_code& error) {
    if (error) return;
    while (true) {
      const int fd = ::accept4(listening_.native_handle(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EINTR || errno == ECONNABORTED) continue;
        // EAGAIN: the queue is empty. EMFILE and the like: try again at the next wake-up.
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
          shared_->log->warn("stats: accept failed: {}", std::strerror(errno));
        }
        break;
      }
      if (shared_->open >= kMaxStatsConnections) {
        // A client that floods the stats address gets closed, not queued behind the others.
        if (!shared_->refusing) {
          shared_->log->warn("stats: {} connections are open already; closing new ones until some finish",
                             kMaxStatsConnections);
          shared_->refusing = true;
        }
        ::close(fd);
        continue;
      }
      std::make_shared<Connection>(io_, fd, shared_)->start();
    }
    wait_accept();
  });
}

}  // namespace ferry::master
