#pragma once

// The end of a graceful stop of the whole server, on the uwsgi listeners. The kernel
// completes connections into a listener's queue before any worker accepts them, and nginx
// writes its request into them at once. Shutting the listener down resets every one still
// queued, and nginx does not retry a request it has sent unless it is idempotent: a POST
// would get a 502. So each worker's front, on the master's stop (its SIGTERM carries
// kDrainListeners), accepts what is queued and hands it to the serving threads, and only
// then shuts the listener down: the next client is refused at once (nginx tries another
// host). What can still be reset is a connection that completes between the last accept
// and the shutdown, two system calls apart.

#include <cstddef>
#include <vector>

#include "protocol/http.hpp"
#include "worker/http_front.hpp"
#include "worker/tls.hpp"

namespace ferry::worker {

struct DrainListener {
  int fd = -1;
  TlsContext* tls = nullptr;  // ssl-socket: the drained connections' TLS
  bool shut = true;           // false for a socket systemd passed: it keeps clients for the next ferry
};

// Accepts every connection queued on `listeners` into `ready` (a uwsgi connection whose
// packet a serving thread reads), then shuts down those marked `shut`. Returns how many it
// took. Another worker may have shut a listener first: its accept then fails, and that is
// the end of it.
std::size_t drain_listeners(const std::vector<DrainListener>& listeners, ReadyQueue& ready,
                            protocol::http::Limits limits);

}  // namespace ferry::worker
