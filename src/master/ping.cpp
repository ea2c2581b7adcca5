#include "master/ping.hpp"

#include <fmt/format.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "common/unique_fd.hpp"
#include "config/socket_address.hpp"
#include "master/listeners.hpp"
#include "protocol/uwsgi.hpp"

namespace ferry::master {
namespace {

using Clock = std::chrono::steady_clock;

// Longer than any probe period; a typo such as 3000 (meant as ms) is refused, not waited out.
constexpr double kMaxPingTimeoutSeconds = 3600;

std::optional<std::chrono::milliseconds> parse_timeout(const std::string& text) {
  char* end = nullptr;
  errno = 0;
  const double seconds = std::strtod(text.c_str(), &end);
  if (text.empty() || end != text.c_str() + text.size() || errno != 0 || !std::isfinite(seconds) || seconds <= 0 ||
      seconds > kMaxPingTimeoutSeconds) {
    return std::nullopt;
  }
  return std::chrono::milliseconds(std::max(1L, std::lround(seconds * 1000)));
}

std::string seconds_text(std::chrono::milliseconds timeout) {
  return fmt::format("{:g} s", static_cast<double>(timeout.count()) / 1000);
}

std::string hex_bytes(std::string_view bytes) {
  std::string out;
  for (const char c : bytes) {
    if (!out.empty()) out += ' ';
    out += fmt::format("{:02x}", static_cast<unsigned char>(c));
  }
  return out;
}

struct Target {
  sockaddr_storage addr{};
  socklen_t length = 0;
  bool is_unix = false;
  std::string error;  // set when the address cannot be used
};

Target resolve(const std::string& address) {
  Target target;
  if (is_unix_address(address)) {
    target.is_unix = true;
    auto* un = reinterpret_cast<sockaddr_un*>(&target.addr);
    if (address.size() >= sizeof un->sun_path) {
      target.error = fmt::format("the socket path is {} bytes, over the {} a Unix socket path may have", address.size(),
                                 sizeof un->sun_path - 1);
      return target;
    }
    un->sun_family = AF_UNIX;
    std::memcpy(un->sun_path, address.c_str(), address.size() + 1);
    target.length = sizeof *un;
    return target;
  }
  auto [host, port] = config::split_host_port(address);
  if (host.empty()) host = "127.0.0.1";  // ":3031", as a socket option writes it, is served on this host too
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  if (const int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &found); rc != 0) {
    target.error = fmt::format("cannot resolve host '{}' port '{}': {} (expected a socket path or host:port)", host,
                               port, gai_strerror(rc));
    return target;
  }
  std::memcpy(&target.addr, found->ai_addr, found->ai_addrlen);
  target.length = found->ai_addrlen;
  ::freeaddrinfo(found);
  return target;
}

std::string connect_failure(const Target& target, int error) {
  switch (error) {
    case ECONNREFUSED:
      return target.is_unix ? "nothing is listening there (connection refused; is ferry running, or is this a "
                              "socket file a stopped server left behind?)"
                            : "nothing is listening there (connection refused; is ferry running with this socket?)";
    case ENOENT: return "no socket at that path (is ferry running, with socket = that path?)";
    case EACCES:
    case EPERM: return "permission denied (run the check as a user who may write the socket, or widen chmod-socket)";
    case EAGAIN: return "the socket's listen queue is full (every worker is busy; raise processes or listen)";
    default: return fmt::format("cannot connect: {}", std::strerror(error));
  }
}

// False when the deadline passed first.
bool wait_for(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, events, 0};
    const int rc = ::poll(&p, 1, static_cast<int>(left.count()));
    if (rc > 0) return true;
    if (rc < 0 && errno != EINTR) return true;  // let the following call report the error
  }
}

}  // namespace

bool wants_ping(const std::vector<std::string>& args) {
  for (const auto& arg : args) {
    if (arg == "--ping" || arg.rfind("--ping=", 0) == 0) return true;
  }
  return false;
}

std::optional<PingRequest> parse_ping_args(const std::vector<std::string>& args, std::string& error) {
  PingRequest request;
  bool have_address = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    const auto equals = arg.find('=');
    const std::string name = arg.substr(0, equals);
    if (name != "--ping" && name != "--ping-timeout") {
      error = fmt::format("--ping takes only an address and --ping-timeout SECONDS, not '{}'", arg);
      return std::nullopt;
    }
    std::string value;
    if (equals != std::string::npos) {
      value = arg.substr(equals + 1);
    } else if (i + 1 < args.size()) {
      value = args[++i];
    } else {
      error = fmt::format("{} needs a value", name);
      return std::nullopt;
    }
    if (name == "--ping") {
      if (value.empty()) {
        error = "--ping needs an address: a Unix socket path or host:port";
        return std::nullopt;
      }
      request.address = value;
      have_address = true;
    } else if (const auto timeout = parse_timeout(value)) {
      request.timeout = *timeout;
    } else {
      error = fmt::format("--ping-timeout '{}' is not a number of seconds above 0 and up to {:g}", value,
                          kMaxPingTimeoutSeconds);
      return std::nullopt;
    }
  }
  if (!have_address) {
    error = "--ping-timeout goes with --ping ADDR";
    return std::nullopt;
  }
  return request;
}

std::string judge_pong(std::string_view answer) {
  if (answer.empty()) return "the connection was closed without an answer (is this a uwsgi socket?)";
  if (answer.size() < protocol::kHeaderSize) {
    return fmt::format("the connection was closed after {} byte(s) ({}), not a whole uwsgi pong", answer.size(),
                       hex_bytes(answer));
  }
  const auto header = protocol::decode_header(answer.data());
  const auto pong = protocol::decode_header(protocol::kPong);
  if (header.modifier1 == pong.modifier1 && header.modifier2 == pong.modifier2) return {};
  if (answer.substr(0, 4) == "HTTP") {
    return "the answer is HTTP, not a uwsgi pong: this is an http socket; ping the uwsgi socket instead";
  }
  return fmt::format("the answer ({}) is not a uwsgi pong ({})", hex_bytes(answer.substr(0, protocol::kHeaderSize)),
                     hex_bytes(std::string_view(protocol::kPong, protocol::kHeaderSize)));
}

PingOutcome ping(const PingRequest& request) {
  const auto deadline = Clock::now() + request.timeout;
  const Target target = resolve(request.address);
  if (!target.error.empty()) return {false, target.error};

  UniqueFd fd(::socket(target.addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) return {false, fmt::format("cannot make a socket: {}", std::strerror(errno))};
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&target.addr), target.length) != 0) {
    if (errno != EINPROGRESS) return {false, connect_failure(target, errno)};
    if (!wait_for(fd.get(), POLLOUT, deadline)) {
      return {false,
              fmt::format("no connection within {} (a firewall dropping packets?)", seconds_text(request.timeout))};
    }
    int error = 0;
    socklen_t length = sizeof error;
    ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &error, &length);
    if (error != 0) return {false, connect_failure(target, error)};
  }

  const std::string packet = protocol::encode_packet({}, protocol::kModifierPing);
  for (std::size_t sent = 0; sent < packet.size();) {
    const ssize_t n = ::send(fd.get(), packet.data() + sent, packet.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<std::size_t>(n);
    } else if (errno == EAGAIN && wait_for(fd.get(), POLLOUT, deadline)) {
      continue;
    } else if (errno == EPIPE || errno == ECONNRESET) {
      return {false, judge_pong({})};
    } else if (errno != EINTR) {
      return {false, fmt::format("cannot send the ping: {}", std::strerror(errno))};
    }
  }

  // Whatever arrives until a header's worth or the close; a pong may carry data after its
  // header (uWSGI can), which is not ours to judge.
  std::string answer;
  char buffer[protocol::kHeaderSize];
  while (answer.size() < protocol::kHeaderSize) {
    if (!wait_for(fd.get(), POLLIN, deadline)) {
      return {false, fmt::format("connected, but no answer within {} (are its workers all busy, stuck or still "
                                 "starting?)",
                                 seconds_text(request.timeout))};
    }
    const ssize_t n = ::recv(fd.get(), buffer, protocol::kHeaderSize - answer.size(), 0);
    if (n > 0) {
      answer.append(buffer, static_cast<std::size_t>(n));
    } else if (n == 0 || errno == ECONNRESET) {
      break;
    } else if (errno != EAGAIN && errno != EINTR) {
      return {false, fmt::format("cannot read the answer: {}", std::strerror(errno))};
    }
  }
  std::string why = judge_pong(answer);
  return {why.empty(), std::move(why)};
}

}  // namespace ferry::master
