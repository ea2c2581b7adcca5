#include "worker/exchange.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fmt/format.h>
#include <string>
#include <utility>

namespace ferry::worker {
namespace {

// Files at least this large are sent with one blocking sendfile (see send_file).
constexpr std::uint64_t kBlockingSendfile = 4 * 1024 * 1024;

}  // namespace

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
  if (body_file_ >= 0) {
    const ssize_t got = ::pread(body_file_, dst, n, static_cast<off_t>(body_file_offset_));
    if (got <= 0) {
      client_gone = read_failed = true;
      return -1;
    }
    body_file_offset_ += static_cast<std::uint64_t>(got);
    body_left_ -= static_cast<std::uint64_t>(got);
    return got;
  }
  if (!buffered_.empty()) {
    n = std::min(n, buffered_.size());
    std::memcpy(dst, buffered_.data(), n);
    buffered_.remove_prefix(n);
    body_left_ -= n;
    return static_cast<long>(n);
  }
  for (;;) {
    const ssize_t got = read_some(dst, n);
    if (got > 0) {
      body_left_ -= static_cast<std::uint64_t>(got);
      return got;
    }
    if (got < 0 && errno == EINTR) continue;
    if (got < 0 && errno == EAGAIN && wait(read_event())) continue;
    client_gone = read_failed = true;  // EOF before CONTENT_LENGTH, an error, or a timeout
    return -1;
  }
}

void Exchange::send_plain(int code) {
  const std::string_view reason = protocol::http::reason_phrase(code);
  std::string head = protocol::http::plain_head(code, reason);
  status = code;
  header_count = 2;
  frame_head(head, true, std::nullopt);
  header_bytes = head.size();
  const std::string body = protocol::http::plain_body(reason);
  body_bytes = is_head ? 0 : body.size();
  iovec parts[2] = {{head.data(), head.size()}, {const_cast<char*>(body.data()), body.size()}};
  write(parts, is_head ? 1 : 2);
}

void Exchange::frame_head(std::string& head, bool has_length, std::optional<std::uint64_t> known_length) {
  if (http == nullptr) return;
  head_pending_ = true;
  protocol::http::frame_head(*http, head, {status, is_head, has_length, known_length});
}

bool Exchange::end_response() {
  if (http == nullptr || !http->chunked) return !client_gone;
  http->chunked = false;
  return write(protocol::http::kLastChunk);
}

bool Exchange::write(const iovec* parts, int count) {
  if (client_gone) return false;
  if (http != nullptr && http->chunked) {
    const protocol::http::ChunkFrame chunk(parts, count, std::exchange(head_pending_, false));
    return write_raw(chunk.parts(), chunk.count());
  }
  head_pending_ = false;
  return write_raw(parts, count);
}

bool Exchange::write_raw(const iovec* parts, int count) {
  // writev may stop part-way: advance through a local copy of the vector.
  constexpr int kMaxParts = 64;
  iovec local[kMaxParts];
  while (count > 0) {
    const int batch = std::min(count, kMaxParts);
    std::copy(parts, parts + batch, local);
    iovec* cur = local;
    int left = batch;
    while (left > 0) {
      const ssize_t n = tls != nullptr ? tls->writev(cur, left) : ::writev(fd_, cur, left);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN && wait(tls != nullptr ? tls->wants() : POLLOUT)) continue;
        client_gone = write_failed = true;
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
  if (http != nullptr && http->chunked && count > 0) {
    const std::string line = protocol::http::chunk_size_line(count);
    if (!write_raw_text(line)) return false;
    http->chunked = false;  // the file goes out as this chunk's data, unframed
    const bool ok = send_file(file, offset, count, sent);
    http->chunked = true;
    if (!ok || sent != count) {
      http->must_close = true;  // a short chunk cannot be completed: end the connection
      return ok;
    }
    return write_raw_text("\r\n");
  }
  if (tls != nullptr) return send_file_through_tls(file, offset, count, sent);
  // A large file goes out through one blocking sendfile: the kernel keeps copying as the
  // client drains the socket, instead of one call and one wakeup per socket buffer (556
  // calls per 100 MB over a Unix socket). SO_SNDTIMEO keeps socket-timeout in force; a
  // signal or harakiri's shutdown() ends the call early, and the loop goes on or stops.
  int flags = -1;
  if (count >= kBlockingSendfile) {
    const timeval limit{timeout_ms_ / 1000, (timeout_ms_ % 1000) * 1000};
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit);
    flags = ::fcntl(fd_, F_GETFL);
    if (flags >= 0) ::fcntl(fd_, F_SETFL, flags & ~O_NONBLOCK);
  }
  struct RestoreFlags {
    int fd, flags;
    ~RestoreFlags() {
      if (flags >= 0) ::fcntl(fd, F_SETFL, flags);
    }
  } restore{fd_, flags};
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
    client_gone = write_failed = true;
    return false;
  }
  return true;
}

// sendfile(2) cannot encrypt: the file is read and written through the session in
// blocks, each one TLS record.
bool Exchange::send_file_through_tls(int file, std::uint64_t offset, std::uint64_t count, std::uint64_t& sent) {
  char block[16384];
  while (sent < count) {
    const auto want = static_cast<std::size_t>(std::min<std::uint64_t>(sizeof block, count - sent));
    const ssize_t got = ::pread(file, block, want, static_cast<off_t>(offset + sent));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;  // shorter than it was (or unreadable): the caller logs the shortfall
    if (!write_raw_text({block, static_cast<std::size_t>(got)})) return false;
    sent += static_cast<std::uint64_t>(got);
  }
  return true;
}

void Exchange::discard_body() {
  char scratch[16384];
  while (body_left_ > 0 && !client_gone) {
    if (read_body(scratch, sizeof scratch) <= 0) break;
  }
}

protocol::http::Endpoint endpoint_of(const sockaddr_storage& addr) {
  char text[INET6_ADDRSTRLEN] = "";
  unsigned port = 0;
  if (addr.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&addr);
    ::inet_ntop(AF_INET, &in->sin_addr, text, sizeof text);
    port = ntohs(in->sin_port);
  } else if (addr.ss_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&addr);
    ::inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof text);
    port = ntohs(in6->sin6_port);
  }
  return {text, std::to_string(port)};
}

std::string Exchange::server_address() const {
  sockaddr_storage local{};
  socklen_t length = sizeof local;
  if (::getsockname(fd_, reinterpret_cast<sockaddr*>(&local), &length) != 0) return "localhost";
  const protocol::http::Endpoint address = endpoint_of(local);
  if (address.addr.empty()) return "localhost";  // AF_UNIX
  return local.ss_family == AF_INET6 ? fmt::format("[{}]", address.addr) : address.addr;
}

}  // namespace ferry::worker
