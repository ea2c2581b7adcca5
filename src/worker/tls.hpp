#pragma once

// TLS for the ssl-socket (uwsgi, nginx's suwsgi://) and https listeners, with OpenSSL:
// a TlsContext per listener (certificate, key, ciphers, client verification), built with
// Asio's ssl::context from the files the option names, and a TlsSession per accepted
// connection. A session works on the connection's own non-blocking fd, with read/writev
// that behave like the syscalls (EAGAIN, then wait for wants()), so the serving threads'
// blocking loops and the HTTP front's Asio loop drive it the same way they drive a plain
// socket, and the uwsgi and HTTP parsers see plain bytes either way.

#include <sys/types.h>
#include <sys/uio.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "config/config.hpp"

struct ssl_st;

namespace asio::ssl {
class context;
}

namespace ferry::worker {

// A certificate or key that cannot be used: what() names the option, the file and the fix.
class TlsError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class TlsContext {
 public:
  // Reads the files now (at startup, on a reload, in each new worker, so a replaced
  // certificate is picked up by the next workers). Throws TlsError.
  explicit TlsContext(const config::TlsFiles& files);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  const config::TlsFiles& files() const { return files_; }
  asio::ssl::context& context() { return *context_; }

 private:
  config::TlsFiles files_;
  std::unique_ptr<asio::ssl::context> context_;
};

// Every TLS listener's context, by its address. The master makes them at startup (as
// root, like the sockets are bound, so a key only root reads works) and anew on each
// reload, and its workers inherit them across fork: a reload picks up replaced files,
// and the workers share the session-ticket keys, so nginx's session reuse works whichever
// worker it reaches.
class TlsContexts {
 public:
  static TlsContexts load(const config::Config& config);  // throws TlsError
  TlsContext* find(const std::string& address) const;     // nullptr: a plain listener
  bool empty() const { return by_address_.empty(); }

 private:
  std::vector<std::pair<std::string, std::shared_ptr<TlsContext>>> by_address_;
};

// One TLS connection on an accepted socket the caller owns (and closes after this is gone).
class TlsSession {
 public:
  TlsSession(TlsContext& context, int fd);
  // Sends close_notify (one non-blocking try) if the handshake was done, so the peer sees
  // a clean end rather than a truncation.
  ~TlsSession();
  TlsSession(const TlsSession&) = delete;
  TlsSession& operator=(const TlsSession&) = delete;

  // closed: the client went away before sending anything (a port check), nothing to log.
  enum class Step { done, want_read, want_write, failed, closed };
  Step handshake();
  // The handshake is over, by handshake() or inside a read (a connection a serving thread
  // took before its handshake).
  bool established() const;

  // As read(2) and writev(2) on a non-blocking socket: bytes, 0 at the end of the stream,
  // or -1 with errno (EAGAIN: poll for wants(), then call again with the same data).
  ssize_t read(char* dst, std::size_t n);
  ssize_t writev(const iovec* parts, int count);
  short wants() const { return wants_; }  // POLLIN or POLLOUT
  // Why the last call failed (OpenSSL's reason, or the certificate check's).
  const std::string& error() const { return error_; }
  std::string version() const;  // "TLSv1.3"

 private:
  ssize_t finish(int rc, std::size_t* transferred);

  ssl_st* ssl_;
  short wants_ = 0;
  bool failed_ = false;
  std::string error_;
  std::string gathered_;  // writev's parts as one record
};

}  // namespace ferry::worker
