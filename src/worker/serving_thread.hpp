#pragma once

// One of a worker's serving threads (threads = N): takes the next request, from the HTTP
// front's ready queue first, else by accepting on the uwsgi listeners; reads a uwsgi
// packet (or hands a slow one to the front); runs the request (RequestRun); then checks
// whether the worker is due for recycling. On a stop it answers what it accepted, then
// returns.

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>

#include "common/http_date.hpp"
#include "protocol/uwsgi.hpp"
#include "worker/request_run.hpp"
#include "worker/uwsgi_listeners.hpp"
#include "worker/worker_state.hpp"

namespace ferry::wsgi {
class RequestHandler;
}

namespace ferry::worker {

class ServingThread {
 public:
  ServingThread(WorkerState& state, wsgi::RequestHandler& handler, int core);
  void run();

 private:
  enum class Served { done, handed_off };

  // One uwsgi connection: `have` bytes of it are in buffer_ already. With `may_hand_off`,
  // a packet that is not there yet goes to the front to wait for (and the fd with it).
  // `tls`: an ssl-socket connection, its handshake done by the front, or (when the worker
  // stops) still to finish inside the first read.
  Served serve(int fd, std::size_t have, bool may_hand_off, TlsSession* tls = nullptr);
  // A request the HTTP front has read (its head, and its body if small or chunked).
  void serve_http(std::unique_ptr<HttpConnection> connection);
  // max-requests, reload-on-rss ...: asks the master for a replacement when due.
  void after_request();
  // How long serve() polls for more of a uwsgi connection: socket-timeout, except for an
  // ssl-socket connection still in its handshake once the worker stops, which has what is
  // left of kStopHandshakeGrace (counted from the first such wait of this thread), or of
  // its own kStopHandshakeFloor (`own`: counted from its first such wait) if longer.
  int packet_wait_ms(bool handshaking, std::optional<std::chrono::steady_clock::time_point>& own);

  WorkerState& state_;
  RequestRun request_;
  // Not zero-filled (a std::vector would be): untouched pages cost no memory, and with
  // preload a zeroed buffer is 80 KiB of private pages per thread.
  std::unique_ptr<char[]> buffer_;
  std::size_t buffer_size_;
  protocol::Packet packet_;
  UwsgiListeners listeners_;
  HttpDateClock dates_;
  std::optional<std::chrono::steady_clock::time_point> stop_handshake_deadline_;
  int handshakes_cut_at_stop_ = 0;  // logged as the thread ends
};

}  // namespace ferry::worker
