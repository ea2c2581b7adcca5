#include "worker/tls.hpp"

#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <asio/ssl.hpp>
#include <cerrno>
#include <cstring>
#include <fmt/format.h>

namespace ferry::worker {
namespace {

// writev's parts are gathered into one record up to this, so a response head and a small
// body cost one record and one send, as they cost one writev in plain text.
constexpr std::size_t kGatherLimit = 16 * 1024;
// Binds a session to the context it came from: resumption needs one with client
// verification, and every ferry context uses the same.
constexpr unsigned char kSessionContext[] = "ferry";

// The queue of OpenSSL errors as one line (and the queue emptied).
std::string openssl_reason() {
  std::string text;
  while (const unsigned long code = ERR_get_error()) {
    char buffer[256];
    ERR_error_string_n(code, buffer, sizeof buffer);
    if (!text.empty()) text += "; ";
    text += buffer;
  }
  return text.empty() ? "no reason given" : text;
}

// "user 'nobody' (uid 65534)": who this process reads files as.
std::string reading_user() {
  const uid_t uid = ::geteuid();
  passwd entry{};
  passwd* found = nullptr;
  char names[1024];
  if (::getpwuid_r(uid, &entry, names, sizeof names, &found) == 0 && found != nullptr) {
    return fmt::format("user '{}' (uid {})", found->pw_name, uid);
  }
  return fmt::format("uid {}", uid);
}

// A file the option names: there and readable, else a TlsError naming both and the fix.
void check_readable(const config::TlsFiles& files, std::string_view what, const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    struct stat st {};
    const bool regular = ::fstat(fd, &st) == 0 && !S_ISDIR(st.st_mode);
    ::close(fd);
    if (regular) return;
    throw TlsError(fmt::format("{}: the {} file {} is a directory; name the PEM file in it", files.option, what, path));
  }
  const int error = errno;
  if (error == ENOENT) {
    throw TlsError(
        fmt::format("{}: the {} file {} does not exist; fix the path in '{} = ADDRESS,CERT,KEY[,CIPHERS,CA]'",
                    files.option, what, path, files.option));
  }
  // At startup that is the user ferry starts as; on a reload after uid = ..., the one it
  // dropped to: name it, as it is the user the file must be readable by.
  throw TlsError(
      fmt::format("{}: the {} file {} cannot be read: {}; ferry reads it as {}: make the file and its "
                  "directories readable by that user (chmod/chown, or a group), or name another file",
                  files.option, what, path, std::strerror(error), reading_user()));
}

[[noreturn]] void not_usable(const config::TlsFiles& files, std::string_view what, const std::string& path,
                             std::string_view expected) {
  throw TlsError(
      fmt::format("{}: the {} file {} is not {} (OpenSSL: {})", files.option, what, path, expected, openssl_reason()));
}

}  // namespace

TlsContext::TlsContext(const config::TlsFiles& files)
    : files_(files), context_(std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server)) {
  ERR_clear_error();
  SSL_CTX* ctx = context_->native_handle();
  // TLS 1.2 at least: 1.0 and 1.1 are deprecated (RFC 8996); 1.3 is preferred when both sides have it.
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  context_->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_compression |
                        asio::ssl::context::single_dh_use);
  // A peer that closes without close_notify ends the stream like EOF: the uwsgi packet and
  // CONTENT_LENGTH frame every request, so a truncation is seen anyway.
  SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_RENEGOTIATION);
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  SSL_CTX_set_session_id_context(ctx, kSessionContext, sizeof kSessionContext - 1);
  // TLS 1.3 sends session tickets after each handshake, two by default; nginx keeps one
  // per upstream, so the second costs an encryption and a record for nothing.
  SSL_CTX_set_num_tickets(ctx, 1);

  check_readable(files, "certificate", files.cert);
  if (SSL_CTX_use_certificate_chain_file(ctx, files.cert.c_str()) != 1) {
    not_usable(files, "certificate", files.cert, "a PEM certificate (-----BEGIN CERTIFICATE-----)");
  }
  check_readable(files, "key", files.key);
  if (SSL_CTX_use_PrivateKey_file(ctx, files.key.c_str(), SSL_FILETYPE_PEM) != 1) {
    const std::string reason = openssl_reason();
    if (reason.find("key values mismatch") != std::string::npos) {
      throw TlsError(
          fmt::format("{}: the key file {} does not match the certificate {}; name the key the certificate "
                      "was made for (OpenSSL: {})",
                      files.option, files.key, files.cert, reason));
    }
    throw TlsError(
        fmt::format("{}: the key file {} is not an unencrypted PEM private key (-----BEGIN PRIVATE KEY-----; "
                    "OpenSSL: {})",
                    files.option, files.key, reason));
  }
  if (SSL_CTX_check_private_key(ctx) != 1) {
    throw TlsError(
        fmt::format("{}: the key file {} does not match the certificate {}; name the key the certificate "
                    "was made for (OpenSSL: {})",
                    files.option, files.key, files.cert, openssl_reason()));
  }
  if (!files.ciphers.empty() && SSL_CTX_set_cipher_list(ctx, files.ciphers.c_str()) != 1) {
    throw TlsError(
        fmt::format("{}: the cipher list '{}' selects no cipher OpenSSL knows; write an OpenSSL cipher "
                    "string such as ECDHE+AESGCM, or leave the field empty for the defaults (OpenSSL: {})",
                    files.option, files.ciphers, openssl_reason()));
  }
  if (!files.ca.empty()) {
    check_readable(files, "CA", files.ca);
    if (SSL_CTX_load_verify_locations(ctx, files.ca.c_str(), nullptr) != 1) {
      not_usable(files, "CA", files.ca, "a PEM certificate bundle");
    }
    // The CA's name goes in the certificate request, so a client knows which of its
    // certificates to send.
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(files.ca.c_str());
    if (names == nullptr) not_usable(files, "CA", files.ca, "a PEM certificate bundle");
    SSL_CTX_set_client_CA_list(ctx, names);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  }
}

TlsContext::~TlsContext() = default;

TlsContexts TlsContexts::load(const config::Config& config) {
  TlsContexts contexts;
  for (const auto& socket : config.sockets) {
    if (!socket.tls) continue;
    contexts.by_address_.emplace_back(socket.address, std::make_shared<TlsContext>(*socket.tls));
  }
  return contexts;
}

TlsContext* TlsContexts::find(const std::string& address) const {
  for (const auto& [known, context] : by_address_) {
    if (known == address) return context.get();
  }
  return nullptr;
}

TlsSession::TlsSession(TlsContext& context, int fd) : ssl_(SSL_new(context.context().native_handle())) {
  if (ssl_ == nullptr) return;
  SSL_set_fd(ssl_, fd);
  // A connection that reaches a serving thread before its handshake (one accepted as the
  // worker stops, when the front no longer runs) gets it inside its first read.
  SSL_set_accept_state(ssl_);
}

TlsSession::~TlsSession() {
  if (ssl_ == nullptr) return;
  if (SSL_is_init_finished(ssl_) && !failed_) {
    ERR_clear_error();
    SSL_shutdown(ssl_);
    ERR_clear_error();  // the queue is per thread: leave nothing for the next session
  }
  SSL_free(ssl_);
}

TlsSession::Step TlsSession::handshake() {
  if (ssl_ == nullptr) {
    error_ = "out of memory for a TLS session";
    return Step::failed;
  }
  ERR_clear_error();
  const int rc = SSL_accept(ssl_);
  if (rc == 1) return Step::done;
  const int code = SSL_get_error(ssl_, rc);
  if (code == SSL_ERROR_WANT_READ) return Step::want_read;
  if (code == SSL_ERROR_WANT_WRITE) return Step::want_write;
  failed_ = true;
  // The end of the stream before the handshake (with SSL_OP_IGNORE_UNEXPECTED_EOF, seen as
  // a close): nothing at all is a port check, which the plain listeners do not log either.
  if ((code == SSL_ERROR_ZERO_RETURN || code == SSL_ERROR_SYSCALL) && ERR_peek_error() == 0) {
    if (BIO_number_read(SSL_get_rbio(ssl_)) == 0) return Step::closed;
    error_ = errno != 0 ? std::strerror(errno) : "the client closed the connection during the handshake";
    return Step::failed;
  }
  const long verified = SSL_get_verify_result(ssl_);
  error_ = openssl_reason();
  if (verified != X509_V_OK)
    error_ += fmt::format(" (client certificate: {})", X509_verify_cert_error_string(verified));
  return Step::failed;
}

ssize_t TlsSession::finish(int rc, std::size_t* transferred) {
  if (rc == 1) return static_cast<ssize_t>(*transferred);
  const int code = SSL_get_error(ssl_, rc);
  switch (code) {
    case SSL_ERROR_WANT_READ:
      wants_ = POLLIN;
      errno = EAGAIN;
      return -1;
    case SSL_ERROR_WANT_WRITE:
      wants_ = POLLOUT;
      errno = EAGAIN;
      return -1;
    case SSL_ERROR_ZERO_RETURN: return 0;
    default: break;
  }
  failed_ = true;
  const int saved = errno;
  error_ = code == SSL_ERROR_SYSCALL && ERR_peek_error() == 0 ? std::strerror(saved) : openssl_reason();
  errno = code == SSL_ERROR_SYSCALL && saved != 0 ? saved : ECONNRESET;
  return -1;
}

ssize_t TlsSession::read(char* dst, std::size_t n) {
  ERR_clear_error();
  std::size_t got = 0;
  return finish(SSL_read_ex(ssl_, dst, n, &got), &got);
}

ssize_t TlsSession::writev(const iovec* parts, int count) {
  while (count > 0 && parts->iov_len == 0) {
    ++parts;
    --count;
  }
  if (count == 0) return 0;
  const void* data = parts->iov_base;
  std::size_t size = parts->iov_len;
  if (count > 1 && size < kGatherLimit) {
    gathered_.clear();
    for (int i = 0; i < count && gathered_.size() < kGatherLimit; ++i) {
      const std::size_t take = std::min(parts[i].iov_len, kGatherLimit - gathered_.size());
      gathered_.append(static_cast<const char*>(parts[i].iov_base), take);
    }
    data = gathered_.data();
    size = gathered_.size();
  }
  ERR_clear_error();
  std::size_t written = 0;
  return finish(SSL_write_ex(ssl_, data, size, &written), &written);
}

bool TlsSession::established() const { return ssl_ != nullptr && SSL_is_init_finished(ssl_) == 1; }

std::string TlsSession::version() const { return ssl_ != nullptr ? SSL_get_version(ssl_) : ""; }

}  // namespace ferry::worker
