#include "worker/worker.hpp"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fmt/format.h>
#include <thread>
#include <vector>

#include "common/exit_codes.hpp"
#include "common/import_priority.hpp"
#include "common/logging.hpp"
#include "common/process_title.hpp"
#include "common/unique_fd.hpp"
#include "protocol/cgi.hpp"
#include "protocol/uwsgi.hpp"
#include "common/http_date.hpp"
#include "protocol/http.hpp"
#include "worker/accept_refusals.hpp"
#include "worker/events.hpp"
#include "worker/burst_counter.hpp"
#include "worker/exchange.hpp"
#include "worker/harakiri.hpp"
#include "worker/http_front.hpp"
#include "worker/static_files.hpp"
#include "worker/request_clock.hpp"
#include "worker/recycling.hpp"
#include "worker/request_log.hpp"
#include "wsgi/app.hpp"

namespace ferry::worker {
namespace {

// Body bytes read together with the packet, so a small POST costs no extra read.
constexpr std::size_t kBodyPrefetch = 16 * 1024;
// How long a serving thread waits for descriptors when accept fails with EMFILE.
constexpr auto kAcceptPause = std::chrono::milliseconds(100);
// How long a serving thread waits for a uwsgi packet that has not arrived with the
// connection, before the HTTP front's loop waits for it instead: nginx writes the request
// right after connecting, so it is about to arrive; a client that sends nothing (or a
// byte at a time) must not hold a Python thread for socket-timeout.
constexpr int kPacketGraceMs = 1;

// Signal handlers only record; the serving loops act (they poll stop_fd).
volatile sig_atomic_t g_stopping = 0;
int g_stop_fd = -1;

void on_stop_signal(int) {
  const int saved = errno;
  g_stopping = 1;
  const std::uint64_t one = 1;
  [[maybe_unused]] auto ignored = ::write(g_stop_fd, &one, sizeof one);
  errno = saved;
}

// os.fork() inside a request: the child is a copy of this worker with one thread, in the
// middle of the app. It must not answer the request (the parent does), accept on the
// listening sockets, or write request lines as if it were a worker. At fork (an atfork
// handler, so only async-signal-safe calls) the child points the listening sockets and
// every in-flight client socket at /dev/null, keeping their numbers valid for the code
// still running; when the app returns into ferry, the child _exits quietly.
volatile sig_atomic_t g_forked_child = 0;
const std::vector<int>* g_listen_fds = nullptr;
std::atomic<int>* g_client_fds = nullptr;  // per serving thread; -1 between requests
int g_serving_threads = 0;

void in_forked_child() {
  g_forked_child = 1;
  const int null = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null < 0) return;
  auto blank = [null](int fd) {
    if (fd >= 0) ::dup3(null, fd, O_CLOEXEC);
  };
  if (g_listen_fds) {
    for (int fd : *g_listen_fds) blank(fd);
  }
  for (int core = 0; g_client_fds && core < g_serving_threads; ++core) {
    blank(g_client_fds[core].load(std::memory_order_relaxed));
  }
  ::close(null);
}

void install_signal_handlers() {
  struct sigaction stop {};
  stop.sa_handler = on_stop_signal;
  sigemptyset(&stop.sa_mask);
  // SIGTERM from the master, SIGINT from a Ctrl-C that reaches the whole process group,
  // SIGHUP/SIGQUIT sent by hand: all mean "finish what you are doing and exit".
  for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGQUIT}) ::sigaction(sig, &stop, nullptr);
  ::signal(SIGPIPE, SIG_IGN);  // a vanished client is an EPIPE from write, not a death
  // SIGUSR1 (reopen the log) is the master's business; `killall -USR1 ferry` from a
  // logrotate script reaches the workers too, and its default action would kill them.
  ::signal(SIGUSR1, SIG_IGN);
}

void notify_master(int events_fd, EventKind kind) {
  const Event event{static_cast<std::int32_t>(::getpid()), kind};
  [[maybe_unused]] auto ignored = ::write(events_fd, &event, sizeof event);
}

// accept() failing for want of descriptors (EMFILE, ENFILE) or memory: counted, and
// logged once per burst (BurstCounter), by whichever serving thread sees it.
class AcceptRefusals {
 public:
  void note(spdlog::logger& log, int error) {
    std::lock_guard lock(mutex_);
    pending_.store(true, std::memory_order_relaxed);
    error_ = error;
    if (auto r = counter_.note(std::chrono::steady_clock::now())) report(log, *r);
  }
  // After an accept that did not fail that way: cheap unless a burst was going on.
  void clear(spdlog::logger& log) {
    if (!pending_.load(std::memory_order_relaxed)) return;
    std::lock_guard lock(mutex_);
    pending_.store(false, std::memory_order_relaxed);
    if (auto r = counter_.end(std::chrono::steady_clock::now())) report(log, *r);
  }

 private:
  void report(spdlog::logger& log, const BurstCounter::Report& r) {
    report_accept_refusals(log, "accept on the uwsgi socket", r, error_);
  }

  std::mutex mutex_;
  std::atomic<bool> pending_{false};
  BurstCounter counter_;
  int error_ = 0;
};

struct WorkerState {
  const WorkerSetup& setup;
  std::shared_ptr<spdlog::logger> log;
  RecyclePolicy recycle;
  int timeout_ms;
  std::size_t buffer_capacity;
  bool log_requests;
  int pid = static_cast<int>(::getpid());
  std::unique_ptr<RequestClock> clock;  // only with harakiri
  std::atomic<bool> retire_requested{false};
  UniqueFd statm;                                       // /proc/self/statm, only with reload-on-rss / reload-on-as
  std::chrono::steady_clock::time_point serving_since;  // for min-worker-lifetime
  std::unique_ptr<StaticFiles> statics;                 // only with static-map
  std::unique_ptr<ReadyQueue> ready;                    // only with HTTP listeners: requests the front has read
  std::unique_ptr<HttpFront> front;
  AcceptRefusals refusals;
};

// The worker's memory use, for reload-on-rss / reload-on-as / limit-as.
std::optional<MemoryUse> memory_use(const WorkerState& state) {
  if (!state.statm) return std::nullopt;
  char text[128];
  const ssize_t n = ::pread(state.statm.get(), text, sizeof text - 1, 0);
  if (n <= 0) return std::nullopt;
  return parse_statm({text, static_cast<std::size_t>(n)}, static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE)));
}

class ServingThread {
 public:
  ServingThread(WorkerState& state, wsgi::RequestHandler& handler, int core)
      : state_(state),
        handler_(handler),
        core_(core),
        buffer_(new char[state.buffer_capacity]),
        buffer_size_(state.buffer_capacity),
        listeners_(state.setup.listen_fds) {
    for (int fd : listeners_) polls_.push_back({fd, POLLIN, 0});
    if (state_.ready) polls_.push_back({state_.ready->fd(), POLLIN, 0});
    polls_.push_back({g_stop_fd, POLLIN, 0});
  }

  void run() {
    for (;;) {
      // Requests the HTTP front has read go first, and are all answered before a stop.
      if (auto connection = state_.ready ? state_.ready->try_pop() : nullptr) {
        if (connection->uwsgi) {
          // A uwsgi packet that the front waited for; the connection closes after it.
          const std::size_t have = std::min(connection->unparsed.size(), buffer_size_);
          std::memcpy(buffer_.get(), connection->unparsed.data(), have);
          serve(connection->fd.get(), have, /*may_hand_off=*/false);
        } else {
          serve_http(std::move(connection));
        }
        after_request();
        continue;
      }
      if (g_stopping) {
        if (!state_.front->holds_uwsgi()) break;
        // The front is handing back accepted uwsgi connections: they are answered first.
        pollfd p{state_.ready->fd(), POLLIN, 0};
        ::poll(&p, 1, 20);
        continue;
      }
      const int fd = accept_next();
      if (fd < 0) continue;
      if (serve(fd, 0, /*may_hand_off=*/true) == Served::handed_off) continue;
      ::close(fd);
      after_request();
    }
  }

 private:
  void after_request() {
    if (state_.retire_requested.load(std::memory_order_relaxed) || g_stopping) return;
    const auto lived = std::chrono::steady_clock::now() - state_.serving_since;
    if (lived < state_.recycle.min_lifetime) return;
    const std::string why =
        recycle_reason(state_.recycle, {served_here().load(std::memory_order_relaxed), lived, memory_use(state_)});
    // Keep serving: the master starts a replacement and stops this worker once it is
    // ready, so the slot never goes unserved.
    if (!why.empty() && !state_.retire_requested.exchange(true)) {
      state_.log->info("{}; asking the master for a replacement", why);
      notify_master(state_.setup.events_fd, EventKind::retire);
    }
  }

  // A request the HTTP front has read (its head, and its body if small or chunked).
  void serve_http(std::unique_ptr<HttpConnection> connection) {
    HttpConnection& c = *connection;
    const auto started = std::chrono::steady_clock::now();
    const auto& head = c.parser.head();
    packet_.clear();
    protocol::http::append_cgi_vars(head, c.peer, c.local, packet_);
    Exchange exchange(c.fd.get(), state_.timeout_ms, packet_);
    HttpFraming framing;
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
    run_request(exchange, exchange.body_left(), started);
    exchange.end_response();
    c.unparsed.erase(0, prefix);
    const bool reusable =
        framing.keep_alive && !framing.must_close && !exchange.client_gone && exchange.body_left() == 0 && !g_stopping;
    if (reusable) state_.front->give_back(std::move(connection));
  }

  // static-map: a file under a mapped prefix is answered here, before the app.
  bool serve_static(Exchange& exchange) {
    const auto& facts = exchange.facts;
    if (facts.method != "GET" && facts.method != "HEAD") return false;
    std::string_view if_modified_since;
    for (const auto& var : exchange.packet.vars) {
      if (var.key == "HTTP_IF_MODIFIED_SINCE") if_modified_since = var.value;
    }
    auto decision = state_.statics->resolve(facts.path_info.empty() ? facts.uri : facts.path_info, if_modified_since);
    using Kind = StaticDecision::Kind;
    if (decision.kind == Kind::not_mapped || decision.kind == Kind::not_found) return false;
    exchange.is_head = facts.method == "HEAD";
    if (decision.kind == Kind::forbidden) {
      state_.log->warn("static-map refused {} {}: {}", LogSafe{facts.method}, LogSafe{facts.uri}, decision.reason);
      exchange.send_plain(403);
      return true;
    }
    const bool modified = decision.kind == Kind::serve;
    exchange.status = modified ? 200 : 304;
    std::string head =
        fmt::format("HTTP/1.1 {}\r\nContent-Type: {}\r\nLast-Modified: {}\r\n",
                    modified ? "200 OK" : "304 Not Modified", decision.content_type, decision.last_modified);
    if (modified) head += fmt::format("Content-Length: {}\r\n", decision.size);
    head += "\r\n";
    exchange.header_count = modified ? 3 : 2;
    exchange.frame_head(head, true, std::nullopt);
    exchange.header_bytes = head.size();
    if (!exchange.write(head) || !modified || exchange.is_head) return true;
    std::uint64_t sent = 0;
    exchange.send_file(decision.file.get(), 0, decision.size, sent);
    exchange.body_bytes = sent;
    if (sent < decision.size && exchange.http) exchange.http->must_close = true;
    return true;
  }

  // Tries every listener without blocking, and sleeps in poll only when all are idle:
  // under load a request costs one accept4, not a poll plus an accept.
  int accept_next() {
    for (std::size_t i = 0; i < listeners_.size(); ++i) {
      const int listener = listeners_[(next_ + i) % listeners_.size()];
      const int fd = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (fd >= 0) {
        next_ = (next_ + i + 1) % listeners_.size();
        state_.refusals.clear(*state_.log);
        return fd;
      }
      if (accept_starved(errno)) {
        // The connection stays in the listen queue and the listener stays readable, so
        // polling again at once would spin at 100 % CPU: wait for descriptors to be freed
        // (a slow client timing out, a response finishing) instead.
        state_.refusals.note(*state_.log, errno);
        std::this_thread::sleep_for(kAcceptPause);
        return -1;
      }
    }
    state_.refusals.clear(*state_.log);
    ::poll(polls_.data(), polls_.size(), -1);
    return -1;
  }

  enum class Served { done, handed_off };

  // One uwsgi connection: `have` bytes of it are in buffer_ already. With `may_hand_off`,
  // a packet that is not there yet goes to the front to wait for (and the fd with it).
  Served serve(int fd, std::size_t have, bool may_hand_off) {
    Exchange exchange(fd, state_.timeout_ms, packet_);
    const auto started = std::chrono::steady_clock::now();
    protocol::ParseResult parsed;
    for (;;) {
      parsed = protocol::parse_packet({buffer_.get(), have}, state_.setup.config->buffer_size, exchange.packet);
      if (parsed.status != protocol::Status::need_more) break;
      const ssize_t n = ::read(fd, buffer_.get() + have, buffer_size_ - have);
      if (n > 0) {
        have += static_cast<std::size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) {
        // The stop signal (no SA_RESTART) interrupts this wait too: a worker told to stop
        // right after accepting must still read and answer the request it took.
        pollfd p{fd, POLLIN, 0};
        int ready;
        do {
          ready = ::poll(&p, 1, may_hand_off ? kPacketGraceMs : state_.timeout_ms);
        } while (ready < 0 && errno == EINTR);
        if (ready > 0) continue;
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
    run_request(exchange, *content_length, started);
    return Served::done;
  }

  // Everything after the protocol: limits, static files, the app, the request log.
  void run_request(Exchange& exchange, std::uint64_t content_length, std::chrono::steady_clock::time_point started) {
    const protocol::RequestFacts& facts = exchange.facts;
    if (state_.clock) state_.clock->begin(core_, exchange.fd(), facts.method, facts.uri, started);
    auto& in_flight = state_.setup.counters->in_flight[state_.setup.counter_slot];
    const auto text =
        fmt::format_to_n(in_flight.text, sizeof in_flight.text, "{} {}", LogSafe{facts.method}, LogSafe{facts.uri});
    in_flight.core.store(core_, std::memory_order_relaxed);
    in_flight.length.store(static_cast<std::uint32_t>(std::min(text.size, sizeof in_flight.text)),
                           std::memory_order_release);
    g_client_fds[core_].store(exchange.fd(), std::memory_order_relaxed);
    struct RequestEnd {  // every return below ends the request's harakiri clock and in-flight record
      RequestClock* clock;
      SharedCounters::InFlight& in_flight;
      int core;
      ~RequestEnd() {
        if (clock) clock->end(core);
        g_client_fds[core].store(-1, std::memory_order_relaxed);
        if (in_flight.core.load(std::memory_order_relaxed) == core)
          in_flight.length.store(0, std::memory_order_relaxed);
      }
    } request_end{state_.clock.get(), in_flight, core_};
    const auto limit = state_.setup.config->limit_post;
    if (limit > 0 && content_length > limit) {
      state_.log->warn("refused {} {} with 413: its body of {} bytes is above limit-post = {}", LogSafe{facts.method},
                       LogSafe{facts.uri}, content_length, limit);
      exchange.send_plain(413);
      exchange.discard_body();  // so nginx reads the 413 instead of a connection reset
      return;
    }
    const std::time_t wall_start = std::time(nullptr);
    if (!(state_.statics && serve_static(exchange))) handler_.handle(exchange);
    if (g_forked_child) ::_exit(0);  // the app forked and this is the child: see in_forked_child
    exchange.discard_body();

    const auto served = served_here().fetch_add(1, std::memory_order_relaxed) + 1;
    const auto total = state_.setup.counters->requests.fetch_add(1, std::memory_order_relaxed) + 1;
    if (!state_.log_requests) return;
    const auto elapsed = std::chrono::steady_clock::now() - started;
    line_.clear();
    format_request_line(
        line_, RequestLogEntry{
                   state_.pid, exchange.app_id, served, total, &facts, exchange.packet.vars.size(),
                   exchange.packet.vars_bytes, wall_start,
                   static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count()),
                   exchange.body_bytes, exchange.status, exchange.header_count, exchange.header_bytes, core_});
    write_fully(2, line_);
  }

  // This worker's count, in the memory the master reads when the worker exits.
  std::atomic<std::uint64_t>& served_here() { return state_.setup.counters->served[state_.setup.counter_slot]; }

  WorkerState& state_;
  wsgi::RequestHandler& handler_;
  int core_;
  // Not zero-filled (a std::vector would be): untouched pages cost no memory, and with
  // preload a zeroed buffer is 80 KiB of private pages per thread.
  std::unique_ptr<char[]> buffer_;
  std::size_t buffer_size_;
  protocol::Packet packet_;
  std::vector<int> listeners_;
  std::vector<pollfd> polls_;
  std::size_t next_ = 0;
  std::string line_;
  HttpDateClock dates_;
};

// limit-as: the worker's address space is capped with RLIMIT_AS once the app is loaded,
// so an allocation past it fails (a MemoryError in Python, a 500 for that request) instead
// of the machine swapping or the OOM killer choosing a victim. reload-on-rss only looks
// after a request ends, too late for a request that leaks gigabytes.
bool limit_address_space(std::uint64_t mb, spdlog::logger& log) {
  const rlim_t bytes = static_cast<rlim_t>(mb) << 20;
  std::uint64_t now_mb = 0;
  if (FILE* f = std::fopen("/proc/self/statm", "re")) {
    unsigned long long pages = 0;
    if (std::fscanf(f, "%llu", &pages) == 1) now_mb = pages * static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE)) >> 20;
    std::fclose(f);
  }
  if (now_mb >= mb) {
    log.error(
        "limit-as = {} MB is below the {} MB of address space this worker has with the app loaded; raise limit-as", mb,
        now_mb);
    return false;
  }
  rlimit limit{};
  ::getrlimit(RLIMIT_AS, &limit);
  limit.rlim_cur = limit.rlim_max == RLIM_INFINITY ? bytes : std::min(bytes, limit.rlim_max);
  if (::setrlimit(RLIMIT_AS, &limit) != 0) {
    log.error("limit-as = {} MB: setrlimit(RLIMIT_AS) failed: {}", mb, std::strerror(errno));
    return false;
  }
  return true;
}

}  // namespace

int run_worker(const WorkerSetup& setup) {
  const config::Config& config = *setup.config;
  g_stop_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  install_signal_handlers();
  auto log = make_fd_logger(fmt::format("worker{}", setup.slot), 2);
  if (config.auto_procname) set_process_title(fmt::format("{}ferry worker {}", config.procname_prefix, setup.slot));

  for (const auto& [key, value] : config.env) ::setenv(key.c_str(), value.c_str(), 1);
  if (!config.chdir.empty() && ::chdir(config.chdir.c_str()) != 0) {
    log->error("chdir = {}: {}; fix the path", config.chdir, std::strerror(errno));
    return kExitAppLoad;
  }
  std::unique_ptr<wsgi::App> loaded_here;
  wsgi::App* app = setup.preloaded;  // made ready for this worker by the fork's child hook
  if (app == nullptr) {
    const ImportPriority priority(setup.others_serving);
    loaded_here = wsgi::App::load(config, wsgi::WorkerInfo::for_worker(config, setup.slot));
    if (!loaded_here) return kExitAppLoad;
    app = loaded_here.get();
  }
  // kill -USR2 <worker pid> dumps its Python stacks into the log; harakiri relies on it.
  if (!app->enable_stack_dumps(kStackDumpSignal) && config.harakiri > 0) return kExitAppLoad;
  // Before begin_serving, while an early return still unwinds cleanly: the serving
  // threads and the front are started under the limit, their stacks counted in it.
  if (config.limit_as_mb > 0 && !limit_address_space(config.limit_as_mb, *log)) return kExitAppLoad;
  app->begin_serving();

  WorkerState state{setup,
                    log,
                    RecyclePolicy::from(config, setup.slot),
                    config.socket_timeout * 1000,
                    protocol::kHeaderSize + config.buffer_size + kBodyPrefetch,
                    !config.disable_logging,
                    static_cast<int>(::getpid()),
                    nullptr,
                    {},
                    {},
                    std::chrono::steady_clock::now(),
                    nullptr,
                    nullptr,
                    nullptr,
                    {}};
  // The first handler adopts the loading thread's Python state, so make it here.
  auto main_handler = app->make_handler();
  if (state.recycle.watches_memory()) {
    state.statm.reset(::open("/proc/self/statm", O_RDONLY | O_CLOEXEC));
  }
  if (!config.static_maps.empty()) {
    try {
      state.statics = std::make_unique<StaticFiles>(config.static_maps, MimeTypes::load());
    } catch (const std::exception& e) {
      log->error("static-map: {}; fix the directory", e.what());
      return kExitAppLoad;
    }
  }
  // The front runs even without HTTP listeners: it waits for the uwsgi packets that did
  // not arrive with their connection (kPacketGraceMs), so idle clients cost no thread.
  state.ready = std::make_unique<ReadyQueue>();
  state.front = std::make_unique<HttpFront>(config, setup.http_listen_fds, *state.ready, g_stop_fd, log);
  if (config.harakiri > 0) {
    state.clock = std::make_unique<RequestClock>(config.threads);
    start_harakiri_watchdog(*state.clock, log, {config.harakiri, config.worker_reload_mercy, setup.slot, state.pid},
                            [] { on_stop_signal(0); });
  }
  std::vector<int> all_listen_fds = setup.listen_fds;
  all_listen_fds.insert(all_listen_fds.end(), setup.http_listen_fds.begin(), setup.http_listen_fds.end());
  const auto client_fds = std::make_unique<std::atomic<int>[]>(static_cast<std::size_t>(config.threads));
  for (int core = 0; core < config.threads; ++core) client_fds[core].store(-1);
  g_listen_fds = &all_listen_fds;
  g_client_fds = client_fds.get();
  g_serving_threads = config.threads;
  ::pthread_atfork(nullptr, nullptr, in_forked_child);
  if (state.front) state.front->start();
  notify_master(setup.events_fd, EventKind::ready);

  std::vector<std::thread> threads;
  for (int core = 1; core < config.threads; ++core) {
    threads.emplace_back([app, &state, core] {
      auto handler = app->make_handler();
      ServingThread(state, *handler, core).run();
    });
  }
  ServingThread(state, *main_handler, 0).run();
  for (auto& thread : threads) thread.join();
  if (state.front) state.front->join();
  app->finish();
  return kExitOk;
}

}  // namespace ferry::worker
