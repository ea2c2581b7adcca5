#pragma once

// The HTTP listener's front: one thread per worker, running an Asio loop, that accepts
// HTTP connections, reads each request's head (and a small or chunked body) without
// blocking, and only then hands the connection to a serving thread. Idle keep-alive
// connections and slow clients (slowloris) therefore cost a few bytes of memory here,
// never a Python thread. After the response a keep-alive connection comes back to wait
// for its next request; pipelined bytes travel with it.
//
// It also waits for uwsgi packets that did not come with their connection (a serving
// thread hands those over), so idle uwsgi clients cost no Python thread either. It holds
// at most what the open file limit allows, closing the oldest waiting connection to take
// a new one, and logs refusals, sheds and timeouts once per burst.
//
// The parsing itself is protocol/http.hpp (llhttp); this file is the I/O around it.

#include <spdlog/logger.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/unique_fd.hpp"
#include "config/config.hpp"
#include "protocol/http.hpp"
#include "worker/body_spill.hpp"
#include "worker/tls.hpp"

namespace ferry::worker {

// One client connection, owned by the front while it waits for a request and by one
// serving thread while the app answers it.
struct HttpConnection {
  HttpConnection(UniqueFd fd, protocol::http::Limits limits) : fd(std::move(fd)), parser(limits) {}

  UniqueFd fd;
  protocol::http::RequestParser parser;
  protocol::http::Endpoint peer, local;
  // Bytes read but not parsed yet: the start of a body, or pipelined requests.
  std::string unparsed;
  // The current request's body when the front read it whole (body_complete): in memory,
  // or for a large chunked upload in an unlinked temp file.
  bool body_complete = false;
  SpilledBody body;
  int requests = 0;  // answered on this connection
  // A uwsgi connection whose packet was slow to come: `unparsed` holds the bytes read,
  // which include the whole vars block once the front hands it back.
  bool uwsgi = false;
  // ssl-socket, https: the connection's TLS, after `fd` so it ends (close_notify) before
  // the fd is closed.
  std::unique_ptr<TlsSession> tls;

  // A uwsgi connection (`uwsgi` set): with `tls` (an ssl-socket), a TLS session whose
  // handshake is still to come, in the front or inside a serving thread's first read.
  static std::unique_ptr<HttpConnection> for_uwsgi(UniqueFd fd, protocol::http::Limits limits, TlsContext* tls) {
    auto connection = std::make_unique<HttpConnection>(std::move(fd), limits);
    connection->uwsgi = true;
    if (tls != nullptr) connection->tls = std::make_unique<TlsSession>(*tls, connection->fd.get());
    return connection;
  }

  // Ready for the next request on the same connection.
  void next_request() {
    parser.reset();
    body_complete = false;
    body.clear();
  }
};

// Requests ready for Python, from the front to the serving threads. fd() is an eventfd
// in semaphore mode that the serving threads poll with their listeners (ready_queue.cpp).
class ReadyQueue {
 public:
  ReadyQueue();
  int fd() const { return event_.get(); }
  void push(std::unique_ptr<HttpConnection> connection);
  // Non-blocking; nullptr when another thread took it first.
  // Cheap when empty (no syscall): the serving threads try it before every accept.
  std::unique_ptr<HttpConnection> try_pop();
  std::size_t size() {
    std::lock_guard lock(mutex_);
    return queue_.size();
  }

 private:
  UniqueFd event_;
  std::atomic<std::size_t> queued_{0};  // a hint for try_pop; the eventfd decides who takes one
  std::mutex mutex_;
  std::deque<std::unique_ptr<HttpConnection>> queue_;
};

class HttpFront {
 public:
  // `stop_fd` becomes readable when the worker stops: the front stops accepting and closes
  // the connections it holds (none of them has a request in progress). `at_stop` runs on
  // the front's thread first, before a stopping serving thread may exit: what it puts in
  // the ready queue is answered (the drain of stop_drain.hpp).
  // `listen_tls` pairs with `listen_fds`: the https listeners' context, nullptr for plain HTTP.
  HttpFront(const config::Config& config, std::vector<int> listen_fds, std::vector<TlsContext*> listen_tls,
            ReadyQueue& ready, int stop_fd, std::shared_ptr<spdlog::logger> log, std::function<void()> at_stop = {});
  // New connections are accepted only while fewer than `threads` requests wait for a
  // serving thread: the rest stay in the kernel's queue, where an idle worker takes them.
  ~HttpFront();

  void start();
  void join();
  // From a serving thread, after a keep-alive response.
  void give_back(std::unique_ptr<HttpConnection> connection);
  // From a serving thread: a uwsgi connection whose packet has not arrived (`received` is
  // what has). The front waits up to socket-timeout for the whole vars block, then queues
  // it for a serving thread. With `tls` (an ssl-socket), the TLS handshake comes first,
  // within the same deadline, so a client that never finishes it holds no thread.
  void wait_for_uwsgi_packet(UniqueFd fd, std::string received, TlsContext* tls = nullptr);
  // Readable once the front has stopped and holds none of those: with the ready queue's
  // fd, what a stopping serving thread waits on; stopped() is then true.
  int released_fd() const;
  bool stopped() const;
  protocol::http::Limits limits() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
  std::thread thread_;
};

}  // namespace ferry::worker
