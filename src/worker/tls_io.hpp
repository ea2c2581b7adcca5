#pragma once

// The HTTP front's reads and writes, through a connection's TlsSession when it has one,
// as Asio's async_read_some / async_write do on the plain socket: the session tries the
// operation, and on EAGAIN the descriptor waits for the direction it wants. Handlers are
// never called from inside the initiating function (asio::post), as with Asio's own.

#include <poll.h>

#include <asio.hpp>
#include <cerrno>
#include <memory>
#include <string>

#include "worker/tls.hpp"

namespace ferry::worker::tls_io {

using Descriptor = asio::posix::stream_descriptor;

inline Descriptor::wait_type direction(const TlsSession& tls) {
  return tls.wants() == POLLOUT ? Descriptor::wait_write : Descriptor::wait_read;
}

// handler(error_code, bytes): asio::error::eof at the end of the stream.
template <class Handler>
void async_read_some(Descriptor& sock, TlsSession* tls, asio::mutable_buffer buffer, Handler handler) {
  if (tls == nullptr) return sock.async_read_some(buffer, std::move(handler));
  const ssize_t n = tls->read(static_cast<char*>(buffer.data()), buffer.size());
  if (n < 0 && errno == EAGAIN) {
    return sock.async_wait(direction(*tls), [&sock, tls, buffer, handler](const asio::error_code& error) mutable {
      if (error) return handler(error, std::size_t{0});
      async_read_some(sock, tls, buffer, std::move(handler));
    });
  }
  asio::error_code error;
  if (n <= 0) error = n == 0 ? asio::error::make_error_code(asio::error::eof) : asio::error::connection_reset;
  asio::post(sock.get_executor(), [handler, error, n]() mutable { handler(error, n > 0 ? std::size_t(n) : 0); });
}

// Writes all of `data` (kept alive by the caller until the handler runs): handler(error_code, bytes).
template <class Handler>
void async_write(Descriptor& sock, TlsSession* tls, const std::string& data, Handler handler, std::size_t done = 0) {
  if (tls == nullptr) return asio::async_write(sock, asio::buffer(data), std::move(handler));
  while (done < data.size()) {
    const iovec part{const_cast<char*>(data.data() + done), data.size() - done};
    const ssize_t n = tls->writev(&part, 1);
    if (n > 0) {
      done += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno == EAGAIN) {
      return sock.async_wait(direction(*tls),
                             [&sock, tls, &data, handler, done](const asio::error_code& error) mutable {
                               if (error) return handler(error, done);
                               async_write(sock, tls, data, std::move(handler), done);
                             });
    }
    return asio::post(sock.get_executor(), [handler, done]() mutable { handler(asio::error::connection_reset, done); });
  }
  asio::post(sock.get_executor(), [handler, done]() mutable { handler(asio::error_code{}, done); });
}

// handler(Step): done, failed (tls.error() says why) or closed. A cancelled wait (the
// connection's deadline) ends it as failed; the handler sees its connection gone.
template <class Handler>
void async_handshake(Descriptor& sock, TlsSession& tls, Handler handler) {
  using Step = TlsSession::Step;
  const Step step = tls.handshake();
  if (step != Step::want_read && step != Step::want_write) {
    return asio::post(sock.get_executor(), [handler, step]() mutable { handler(step); });
  }
  sock.async_wait(step == Step::want_write ? Descriptor::wait_write : Descriptor::wait_read,
                  [&sock, &tls, handler](const asio::error_code& error) mutable {
                    if (error) return handler(Step::failed);
                    async_handshake(sock, tls, std::move(handler));
                  });
}

// A short write that must not wait (100 Continue): what fits now goes, the rest is lost,
// as with the plain socket's non-blocking send.
inline void send_now(int fd, TlsSession* tls, std::string_view data) {
  if (tls == nullptr) {
    [[maybe_unused]] auto ignored = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    return;
  }
  const iovec part{const_cast<char*>(data.data()), data.size()};
  [[maybe_unused]] auto ignored = tls->writev(&part, 1);
}

}  // namespace ferry::worker::tls_io
