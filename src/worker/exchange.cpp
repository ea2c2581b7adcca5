#include "worker/exchange.hpp"

#include <poll.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fmt/format.h>
#include <string>

namespace ferry::worker {

bool Exchange::wait(short events) {
  pollfd p{fd_, events, 0};
  for (;;) {
    const int rc = ::poll(&p, 1, timeout_ms_);
    if (rc > 0) return true;
    if (rc == 0) return false;  // timed out
    if (errno != EINTR) return false;
  }
}

long Exchange::read_body(char* dst, std::size_t n) {
  if (body_left_ == 0 || n == 0) return 0;
  n = static_cast<std::size_t>(std::min<std::uint64_t>(n, body_left_));
  if (!buffered_.empty()) {
    n = std::min(n, buffered_.size());
    std::memcpy(dst, buffered_.data(), n);
    buffered_.remove_prefix(n);
    body_left_ -= n;
    return static_cast<long>(n);
  }
  for (;;) {
    const ssize_t got = ::read(fd_, dst, n);
    if (got > 0) {
      body_left_ -= static_cast<std::uint64_t>(got);
      return got;
    }
    if (got < 0 && errno == EINTR) continue;
    if (got < 0 && errno == EAGAIN && wait(POLLIN)) continue;
    client_gone = true;  // EOF before CONTENT_LENGTH, an error, or a timeout
    return -1;
  }
}

std::size_t Exchange::read_body_fully(char* dst, std::size_t n) {
  std::size_t have = 0;
  while (have < n) {
    const long got = read_body(dst + have, n - have);
    if (got <= 0) break;
    have += static_cast<std::size_t>(got);
  }
  return have;
}

void Exchange::send_plain(int code, std::string_view reason) {
  const std::string response = fmt::format("HTTP/1.1 {} {}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{}\n",
                                           code, reason, reason.size() + 1, reason);
  status = code;
  header_count = 2;
  body_bytes = reason.size() + 1;
  header_bytes = response.size() - body_bytes;
  write(response);
}

bool Exchange::write(const iovec* parts, int count) {
  if (client_gone) return false;
  // writev may stop part-way: advance through a local copy of the vector.
  constexpr int kMaxParts = 64;
  iovec local[kMaxParts];
  while (count > 0) {
    const int batch = std::min(count, kMaxParts);
    std::copy(parts, parts + batch, local);
    iovec* cur = local;
    int left = batch;
    while (left > 0) {
      const ssize_t n = ::writev(fd_, cur, left);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN && wait(POLLOUT)) continue;
        client_gone = true;
        return false;
      }
      std::size_t written = static_cast<std::size_t>(n);
      while (left > 0 && written >= cur->iov_len) {
        written -= cur->iov_len;
        ++cur;
        --left;
      }
      if (left > 0) {
        cur->iov_base = static_cast<char*>(cur->iov_base) + written;
        cur->iov_len -= written;
      }
    }
    parts += batch;
    count -= batch;
  }
  return true;
}

bool Exchange::send_file(int file, std::uint64_t offset, std::uint64_t count, std::uint64_t& sent) {
  sent = 0;
  if (client_gone) return false;
  auto position = static_cast<off_t>(offset);
  while (sent < count) {
    const ssize_t n = ::sendfile(fd_, file, &position, static_cast<std::size_t>(count - sent));
    if (n > 0) {
      sent += static_cast<std::uint64_t>(n);
      continue;
    }
    if (n == 0) break;  // the file is shorter than it was: the caller logs the shortfall
    if (errno == EINTR) continue;
    if (errno == EAGAIN && wait(POLLOUT)) continue;
    client_gone = true;
    return false;
  }
  return true;
}

void Exchange::discard_body() {
  char scratch[16384];
  while (body_left_ > 0 && !client_gone) {
    if (read_body(scratch, sizeof scratch) <= 0) break;
  }
}

}  // namespace ferry::worker
