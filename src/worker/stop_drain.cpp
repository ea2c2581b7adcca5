#include "worker/stop_drain.hpp"

#include <sys/socket.h>

#include "common/unique_fd.hpp"

namespace ferry::worker {

std::size_t drain_listeners(const std::vector<DrainListener>& listeners, ReadyQueue& ready,
                            protocol::http::Limits limits) {
  std::size_t taken = 0;
  for (const auto& listener : listeners) {
    for (;;) {
      const int fd = ::accept4(listener.fd, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (fd < 0) break;  // EAGAIN: the queue is empty; EINVAL: another worker shut it; EMFILE: no room left
      ready.push(HttpConnection::for_uwsgi(UniqueFd(fd), limits, listener.tls));
      ++taken;
    }
    if (listener.shut) ::shutdown(listener.fd, SHUT_RD);
  }
  return taken;
}

}  // namespace ferry::worker
