#include "worker/worker_signals.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <memory>

namespace ferry::worker {
namespace {

// Signal handlers only record; the serving loops act (they poll stop_fd).
volatile sig_atomic_t g_stopping = 0;
volatile sig_atomic_t g_drain = 0;
int g_stop_fd = -1;

void on_stop_signal(int, siginfo_t* info, void*) {
  if (info != nullptr && info->si_code == SI_QUEUE && info->si_value.sival_int == kDrainListeners &&
      info->si_pid == ::getppid()) {
    g_drain = 1;
  }
  request_stop();
}

// os.fork() inside a request: the child is a copy of this worker with one thread, in the
// middle of the app. It must not answer the request (the parent does), accept on the
// listening sockets, or write request lines as if it were a worker. At fork (an atfork
// handler, so only async-signal-safe calls) the child points the listening sockets and
// every in-flight client socket at /dev/null, keeping their numbers valid for the code
// still running; when the app returns into ferry, the child _exits quietly.
volatile sig_atomic_t g_forked_child = 0;
const std::vector<int>* g_listen_fds = nullptr;
std::unique_ptr<std::atomic<int>[]> g_client_fds;  // per serving thread; -1 between requests
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

}  // namespace

void request_stop() {
  const int saved = errno;
  g_stopping = 1;
  const std::uint64_t one = 1;
  [[maybe_unused]] auto ignored = ::write(g_stop_fd, &one, sizeof one);
  errno = saved;
}

bool stop_requested() { return g_stopping != 0; }
bool drain_requested() { return g_drain != 0; }
int stop_fd() { return g_stop_fd; }

void install_signal_handlers() {
  g_stop_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  struct sigaction stop {};
  stop.sa_sigaction = on_stop_signal;
  stop.sa_flags = SA_SIGINFO;
  sigemptyset(&stop.sa_mask);
  // SIGTERM from the master, SIGINT from a Ctrl-C that reaches the whole process group,
  // SIGHUP/SIGQUIT sent by hand: all mean "finish what you are doing and exit".
  for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGQUIT}) ::sigaction(sig, &stop, nullptr);
  ::signal(SIGPIPE, SIG_IGN);  // a vanished client is an EPIPE from write, not a death
  // SIGUSR1 (reopen the log) is the master's business; `killall -USR1 ferry` from a
  // logrotate script reaches the workers too, and its default action would kill them.
  ::signal(SIGUSR1, SIG_IGN);
}

void guard_forks_in_requests(const std::vector<int>& listen_fds, int threads) {
  g_client_fds = std::make_unique<std::atomic<int>[]>(static_cast<std::size_t>(threads));
  for (int core = 0; core < threads; ++core) g_client_fds[core].store(-1);
  g_listen_fds = &listen_fds;
  g_serving_threads = threads;
  ::pthread_atfork(nullptr, nullptr, in_forked_child);
}

void note_client_fd(int core, int fd) { g_client_fds[core].store(fd, std::memory_order_relaxed); }

bool is_forked_child() { return g_forked_child != 0; }

void notify_master(int events_fd, EventKind kind) {
  const Event event{static_cast<std::int32_t>(::getpid()), kind};
  [[maybe_unused]] auto ignored = ::write(events_fd, &event, sizeof event);
}

}  // namespace ferry::worker
