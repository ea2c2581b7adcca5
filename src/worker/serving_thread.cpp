#include "worker/serving_thread.hpp"

#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>

#include "common/logging.hpp"
#include "protocol/http.hpp"
#include "protocol/http_response.hpp"
#include "worker/events.hpp"
#include "worker/exchange.hpp"
#include "worker/worker_signals.hpp"

namespace ferry::worker {
namespace {

// How long a serving thread waits for a uwsgi packet that has not arrived with the
// connection, before the HTTP front's loop waits for it instead: nginx writes the request
// right after connecting, so it is about to arrive; a client that sends nothing (or a
// byte at a time) must not hold a Python thread for socket-timeout.
constexpr int kPacketGraceMs = 1;
// How long, from the moment a serving thread sees the stop, the ssl-socket connections
// whose TLS handshake is not done may take to finish it. Such a connection has sent no
// request yet (as a plain connection that sent nothing has none either), and nginx's
// handshake takes a round trip or two, so a second is ample for one under way; a client
// that sent nothing or part of its ClientHello must not hold the stop for socket-timeout.
constexpr auto kStopHandshakeGrace = std::chrono::seconds(1);
// But each such connection gets at least this long from when the thread takes it up: at a
// stop of the server a thread may answer the connections drained from the socket's queue
// one after another (stop_drain.hpp), and a handshake that nginx started there must not
// be cut just because the thread came to it after the second had passed.
constexpr auto kStopHandshakeFloor = std::chrono::milliseconds(200);

// The worker's memory use, for reload-on-rss / reload-on-as / limit-as.
std::optional<MemoryUse> memory_use(const WorkerState& state) {
  if (!state.statm) return std::nullopt;
  char text[128];
  const ssize_t n = ::pread(state.statm.get(), text, sizeof text - 1, 0);
  if (n <= 0) return std::nullopt;
  return parse_statm({text, static_cast<std::size_t>(n)}, static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE)));
}

}  // namespace

ServingThread::ServingThread(WorkerState& state, wsgi::RequestHandler& handler, int core)
    : state_(state),
      request_(state, handler, core),
      buffer_(new char[state.buffer_capacity]),
      buffer_size_(state.buffer_capacity),
      listeners_(state.setup.listen_fds, {state.ready->fd(), stop_fd()}) {}

void ServingThread::run() {
  for (;;) {
    // Requests the HTTP front has read go first, and are all answered before a stop.
    if (auto connection = state_.ready ? state_.ready->try_pop() : nullptr) {
      if (connection->uwsgi) {
        // A uwsgi packet that the front waited for; the connection closes after it.
        const std::size_t have = std::min(connection->unparsed.size(), buffer_size_);
        std::memcpy(buffer_.get(), connection->unparsed.data(), have);
        serve(connection->fd.get(), have, /*may_hand_off=*/false, connection->tls.get());
      } else {
        serve_http(std::move(connection));
      }
      after_request();
      continue;
    }
    if (stop_requested()) {
      // The front's last pushes come before stopped() turns true, so a queue found
      // empty before that may have filled since: look again before leaving.
      if (state_.front->stopped() && state_.ready->size() == 0) {
        if (handshakes_cut_at_stop_ > 0) {
          state_.log->info(
              "closed {} ssl-socket connection{} at the stop whose TLS handshake had not finished within the "
              "stop's grace ({} ms, at least {} ms each; no request had been sent on {})",
              handshakes_cut_at_stop_, handshakes_cut_at_stop_ == 1 ? "" : "s",
              std::chrono::milliseconds(kStopHandshakeGrace).count(), kStopHandshakeFloor.count(),
              handshakes_cut_at_stop_ == 1 ? "it" : "them");
        }
        break;
      }
      // The front is handing back accepted uwsgi connections (those it waited for, and
      // at a stop of the server those still queued on the listeners): they are answered
      // first. Each comes through the ready queue; once the front holds none,
      // released_fd() is readable and stopped() true.
      pollfd wake[] = {{state_.ready->fd(), POLLIN, 0}, {state_.front->released_fd(), POLLIN, 0}};
      ::poll(wake, 2, -1);
      continue;
    }
    const int fd = listeners_.accept_next(state_.refusals, *state_.log);
    if (fd < 0) continue;
    if (TlsContext* tls = state_.uwsgi_tls.at(listeners_.last_listener())) {
      // ssl-socket: the handshake waits on the front's loop, within socket-timeout, so a
      // client that never sends its ClientHello (or sends it a byte at a time) holds no
      // serving thread; the connection comes back through the ready queue.
      state_.front->wait_for_uwsgi_packet(UniqueFd(fd), {}, tls);
      continue;
    }
    if (serve(fd, 0, /*may_hand_off=*/true) == Served::handed_off) continue;
    ::close(fd);
    after_request();
  }
}

int ServingThread::packet_wait_ms(bool handshaking, std::optional<std::chrono::steady_clock::time_point>& own) {
  if (!handshaking || !stop_requested()) return state_.timeout_ms;
  const auto now = std::chrono::steady_clock::now();
  if (!stop_handshake_deadline_) stop_handshake_deadline_ = now + kStopHandshakeGrace;
  if (!own) own = now + kStopHandshakeFloor;
  const auto deadline = std::max(*stop_handshake_deadline_, *own);
  const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - now).count();
  return static_cast<int>(std::clamp<std::int64_t>(left, 0, state_.timeout_ms));
}

void ServingThread::after_request() {
  if (state_.retire_requested.load(std::memory_order_relaxed) || stop_requested()) return;
  const auto lived = std::chrono::steady_clock::now() - state_.serving_since;
  if (lived < state_.recycle.min_lifetime) return;
  const std::string why = recycle_reason(
      state_.recycle, {request_.served_here().load(std::memory_order_relaxed), lived, memory_use(state_)});
  // Keep serving: the master starts a replacement and stops this worker once it is
  // ready, so the slot never goes unserved.
  if (!why.empty() && !state_.retire_requested.exchange(true)) {
    state_.log->info("{}; asking the master for a replacement", why);
    notify_master(state_.setup.events_fd, EventKind::retire);
  }
}

void ServingThread::serve_http(std::unique_ptr<HttpConnection> connection) {
  HttpConnection& c = *connection;
  const auto started = std::chrono::steady_clock::now();
  const auto& head = c.parser.head();
  packet_.clear();
  protocol::http::append_cgi_vars(head, c.peer, c.local, packet_);
  // https: as nginx's uwsgi_params says it, so wsgi.url_scheme is "https" (REQUEST_SCHEME
  // stays "http" for the codec; the environ takes either).
  if (c.tls) packet_.vars.push_back({"HTTPS", "on"});
  Exchange exchange(c.fd.get(), state_.timeout_ms, packet_);
  exchange.tls = c.tls.get();
  protocol::http::ResponseFraming framing;
  framing.keep_alive = head.keep_alive && state_.setup.config->http_keepalive > 0;
  framing.version_1_1 = head.version_minor == 1;
  framing.date = dates_.now();
  exchange.http = &framing;
  exchange.facts = protocol::request_facts(exchange.packet);
  std::size_t prefix = 0;
  if (c.body_complete && c.body.file) {
    exchange.start_body_from_file(c.body.file.get(), c.body.size);
  } else if (c.body_complete) {
    exchange.start_body(c.body.memory, c.body.memory.size());
  } else {
    // A large Content-Length body: the app reads it from the socket as it arrives.
    const std::uint64_t length = head.content_length.value_or(0);
    prefix = static_cast<std::size_t>(std::min<std::uint64_t>(c.unparsed.size(), length));
    exchange.start_body(std::string_view(c.unparsed).substr(0, prefix), length);
  }
  request_.run(exchange, exchange.body_left(), started);
  exchange.end_response();
  c.unparsed.erase(0, prefix);
  const bool reusable = framing.keep_alive && !framing.must_close && !exchange.client_gone &&
                        exchange.body_left() == 0 && !stop_requested();
  if (reusable) state_.front->give_back(std::move(connection));
}

ServingThread::Served ServingThread::serve(int fd, std::size_t have, bool may_hand_off, TlsSession* tls) {
  Exchange exchange(fd, state_.timeout_ms, packet_);
  exchange.tls = tls;
  const auto started = std::chrono::steady_clock::now();
  std::optional<std::chrono::steady_clock::time_point> handshake_floor;  // packet_wait_ms
  protocol::ParseResult parsed;
  for (;;) {
    parsed = protocol::parse_packet({buffer_.get(), have}, state_.setup.config->buffer_size, exchange.packet);
    if (parsed.status != protocol::Status::need_more) break;
    const ssize_t n = exchange.read_some(buffer_.get() + have, buffer_size_ - have);
    if (n > 0) {
      have += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) {
      // The stop signal (no SA_RESTART) interrupts this wait too: a worker told to stop
      // right after accepting must still read and answer the request it took.
      pollfd p{fd, exchange.read_event(), 0};
      int ready;
      const bool handshaking = tls != nullptr && !tls->established();
      do {
        ready = ::poll(&p, 1, may_hand_off ? kPacketGraceMs : packet_wait_ms(handshaking, handshake_floor));
      } while (ready < 0 && errno == EINTR);
      if (ready > 0) continue;
      if (handshaking && stop_requested()) {
        ++handshakes_cut_at_stop_;  // logged once, as the thread ends
        return Served::done;
      }
      if (may_hand_off) {
        state_.front->wait_for_uwsgi_packet(UniqueFd(fd), std::string(buffer_.get(), have));
        return Served::handed_off;
      }
      state_.log->warn("dropped a connection: no complete request within socket-timeout ({} s); got {} of {} bytes",
                       state_.timeout_ms / 1000, have, parsed.bytes_needed);
      return Served::done;
    }
    if (have == 0) return Served::done;  // connected and closed without a request, e.g. a port check
    state_.log->warn("dropped a connection: the client closed it after {} of {} bytes of the request packet", have,
                     parsed.bytes_needed);
    return Served::done;
  }
  if (parsed.status == protocol::Status::invalid) {
    if (parsed.error == protocol::Error::vars_too_large) {
      state_.log->error(
          "dropped a request: its vars block is {} bytes, above buffer-size = {} (raise buffer-size, "
          "up to 65535)",
          exchange.packet.header.datasize, state_.setup.config->buffer_size);
    } else {
      state_.log->error("dropped a malformed uwsgi packet ({} bytes): {}", exchange.packet.header.datasize,
                        protocol::describe(parsed.error));
    }
    return Served::done;
  }
  const auto modifier1 = exchange.packet.header.modifier1;
  if (modifier1 == protocol::kModifierPing) {
    exchange.write(std::string_view(protocol::kPong, sizeof protocol::kPong));
    return Served::done;
  }
  if (modifier1 != protocol::kModifierWsgi) {
    state_.log->error(
        "refused a packet with modifier1 {} (modifier2 {}): ferry serves modifier1 0 (WSGI) and "
        "100 (ping) only; is something other than nginx's uwsgi_pass using this socket?",
        modifier1, exchange.packet.header.modifier2);
    return Served::done;
  }

  exchange.facts = protocol::request_facts(exchange.packet);
  const protocol::RequestFacts& facts = exchange.facts;
  const auto content_length = protocol::parse_content_length(facts.content_length);
  if (!content_length) {
    state_.log->error("refused {} {}: CONTENT_LENGTH '{}' is not a number", LogSafe{facts.method}, LogSafe{facts.uri},
                      LogSafe{facts.content_length});
    exchange.send_plain(400);
    return Served::done;
  }
  exchange.start_body({buffer_.get() + parsed.bytes_needed, have - parsed.bytes_needed}, *content_length);
  request_.run(exchange, *content_length, started);
  return Served::done;
}

}  // namespace ferry::worker
