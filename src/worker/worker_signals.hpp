#pragma once

// A worker's process-wide state that signal and fork handlers touch, so it is plain
// globals behind these functions: the stop (SIGTERM and friends, or harakiri), and what a
// child forked by the app inside a request must blank out.

#include <vector>

#include "worker/events.hpp"

namespace ferry::worker {

// Creates the stop eventfd and installs the handlers (stop, SIGPIPE and SIGUSR1 ignored).
void install_signal_handlers();
// A stop was asked for; stop_fd() is readable from then on, for poll and the HTTP front.
bool stop_requested();
int stop_fd();
// Async-signal-safe: what a stop signal does.
void request_stop();
// The master's SIGTERM at a graceful stop of the whole server carries this value
// (sigqueue): the worker then drains the uwsgi listeners' queues before they are shut
// down (stop_drain.hpp). A SIGTERM without it, such as a recycled worker's, leaves the
// queues to the other workers.
inline constexpr int kDrainListeners = 0x6472;  // "dr"
bool drain_requested();

// os.fork() inside a request: from then on the child blanks the listening sockets and
// every in-flight client socket (note_client_fd), and is_forked_child() is true in it.
// `listen_fds` must outlive the worker's serving.
void guard_forks_in_requests(const std::vector<int>& listen_fds, int threads);
void note_client_fd(int core, int fd);  // -1 between requests
bool is_forked_child();

// Tells the master (the write end of its event pipe) that this worker is ready, or wants
// a replacement.
void notify_master(int events_fd, EventKind kind);

}  // namespace ferry::worker
