#include "master/process.hpp"

#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "worker/worker_signals.hpp"

namespace ferry::master {
namespace {

// Closes every descriptor above 2 that is not in `keep` (sorted): the child must not hold
// the master's epoll fd, signal pipe, other workers' log pipes or the event pipe's read end.
void close_all_but(std::vector<int> keep) {
  std::sort(keep.begin(), keep.end());
  unsigned first = 3;
  for (int fd : keep) {
    if (fd < static_cast<int>(first)) continue;
    if (static_cast<unsigned>(fd) > first) ::close_range(first, static_cast<unsigned>(fd) - 1, 0);
    first = static_cast<unsigned>(fd) + 1;
  }
  ::close_range(first, ~0U, 0);
}

}  // namespace

pid_t fork_child(const std::vector<int>& keep, int output_fd, const std::function<int()>& child_main,
                 const ForkHooks* hooks) {
  // Block every signal across fork: a signal arriving in the child before it resets the
  // master's handlers would run them and be reported to the master's signal_set as its own.
  sigset_t all, previous;
  sigfillset(&all);
  ::pthread_sigmask(SIG_BLOCK, &all, &previous);
  const pid_t parent = ::getpid();
  if (hooks) hooks->prepare();
  const pid_t pid = ::fork();
  if (pid != 0) {
    const int saved = errno;
    if (hooks) hooks->parent();
    ::pthread_sigmask(SIG_SETMASK, &previous, nullptr);
    errno = saved;
    return pid;
  }
  if (hooks) hooks->child();
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig != SIGKILL && sig != SIGSTOP) ::signal(sig, SIG_DFL);
  }
  // If the master dies (even by SIGKILL), its workers stop gracefully instead of serving
  // on as orphans that no one supervises. The check closes the race with a master that
  // died before prctl ran.
  ::prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (::getppid() != parent) ::_exit(0);
  ::dup2(output_fd, STDOUT_FILENO);
  ::dup2(output_fd, STDERR_FILENO);
  close_all_but(keep);
  sigset_t none;
  sigemptyset(&none);
  ::pthread_sigmask(SIG_SETMASK, &none, nullptr);
  ::_exit(child_main());
}

void stop_worker(pid_t pid, bool drain) {
  if (!drain) {
    ::kill(pid, SIGTERM);
    return;
  }
  sigval value{};
  value.sival_int = worker::kDrainListeners;
  ::sigqueue(pid, SIGTERM, value);
}

}  // namespace ferry::master
