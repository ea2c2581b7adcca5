#include "options.hpp"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fmt/format.h>
#include <optional>
#include <stdexcept>
#include <vector>

namespace ferry::bench {
namespace {

constexpr const char* kUsage = R"(usage: loadgen (--uwsgi ADDR | --http ADDR) [options]
ADDR is unix:/path/to.sock, /path/to.sock, or host:port.
  -c, --connections N   concurrent connections (default 10)
  -d, --duration SECS   measured time (default 10; unlimited with -n alone)
  -w, --warmup SECS     unmeasured load before it (default 0)
  -n, --requests N      stop after N measured requests
  -t, --threads N       threads, each with its share of the connections (default 1)
      --path TARGET     request target, with any ?query (default /)
      --body-bytes N    POST a body of N bytes (default: GET)
      --host NAME       Host header / HTTP_HOST (default localhost)
      --keepalive       HTTP: reuse each connection for the next request
      --timeout SECS    per request, connect to last byte (default 30)
      --rate R          open loop: start R requests/s on a fixed schedule, each on a
                        free connection, with latency counted from when it was due
                        (default: closed loop, each connection sends as soon as it can)
      --json            print the result as one JSON object
      --timeline FILE   write each measured request as CSV: when it ended (ms into the
                        measurement), its latency (µs), ok or the error kind
)";

[[noreturn]] void usage_error(const std::string& message) {
  std::fprintf(stderr, "loadgen: %s\n%s", message.c_str(), kUsage);
  std::exit(2);
}

template <typename T>
T number(const std::string& flag, const std::string& text) {
  try {
    std::size_t used = 0;
    double value = std::stod(text, &used);
    if (used != text.size() || value < 0 || !std::isfinite(value)) throw std::invalid_argument(text);
    return static_cast<T>(value);
  } catch (const std::exception&) {
    usage_error(fmt::format("{} wants a non-negative number, not '{}'", flag, text));
  }
}

}  // namespace

Options parse_options(int argc, char** argv) {
  Options o;
  std::vector<std::string> args(argv + 1, argv + argc);
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string flag = args[i];
    std::optional<std::string> inline_value;
    if (const auto eq = flag.find('='); flag.starts_with("--") && eq != std::string::npos) {
      inline_value = flag.substr(eq + 1);
      flag.resize(eq);
    }
    auto value = [&]() -> std::string {
      if (inline_value) return *inline_value;
      if (i + 1 >= args.size()) usage_error(flag + " needs a value");
      return args[++i];
    };
    if (flag == "--uwsgi" || flag == "--http") {
      o.mode = flag == "--uwsgi" ? Mode::uwsgi : Mode::http;
      o.address = value();
    } else if (flag == "-c" || flag == "--connections") {
      o.connections = number<int>(flag, value());
    } else if (flag == "-d" || flag == "--duration") {
      o.duration = number<double>(flag, value());
      o.duration_given = true;
    } else if (flag == "-w" || flag == "--warmup") {
      o.warmup = number<double>(flag, value());
    } else if (flag == "-n" || flag == "--requests") {
      o.max_requests = number<std::uint64_t>(flag, value());
    } else if (flag == "-t" || flag == "--threads") {
      o.threads = number<int>(flag, value());
    } else if (flag == "--path") {
      o.path = value();
    } else if (flag == "--body-bytes") {
      o.body_bytes = number<std::uint64_t>(flag, value());
    } else if (flag == "--host") {
      o.host = value();
    } else if (flag == "--timeout") {
      o.timeout = number<double>(flag, value());
    } else if (flag == "--keepalive" && !inline_value) {
      o.keepalive = true;
    } else if (flag == "--rate") {
      o.rate = number<double>(flag, value());
    } else if (flag == "--timeline") {
      o.timeline = value();
    } else if (flag == "--json" && !inline_value) {
      o.json = true;
    } else if (flag == "-h" || flag == "--help") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    } else {
      usage_error("unknown argument '" + args[i] + "'");
    }
  }
  if (o.address.empty()) usage_error("give --uwsgi ADDR or --http ADDR");
  if (o.connections < 1 || o.threads < 1) usage_error("-c and -t must be at least 1");
  if (o.path.empty() || o.path[0] != '/') usage_error("--path must start with /");
  if (o.rate > 0 && o.max_requests) usage_error("--rate runs for -d seconds; it does not take -n");
  if (o.keepalive && o.mode == Mode::uwsgi) usage_error("--keepalive is for --http (uwsgi closes)");
  if (o.max_requests && !o.duration_given) o.duration = 1e9;
  o.threads = std::min(o.threads, o.connections);
  return o;
}

asio::generic::stream_protocol::endpoint resolve(const std::string& address) {
  if (address.starts_with("unix:") || address.find('/') != std::string::npos) {
    const std::string path = address.starts_with("unix:") ? address.substr(5) : address;
    return asio::generic::stream_protocol::endpoint(asio::local::stream_protocol::endpoint(path));
  }
  const auto colon = address.rfind(':');
  if (colon == std::string::npos) usage_error("address '" + address + "' is neither a path nor host:port");
  std::string host = address.substr(0, colon);
  if (host.empty()) host = "127.0.0.1";
  asio::io_context io;
  asio::ip::tcp::resolver resolver(io);
  asio::error_code ec;
  const auto results = resolver.resolve(host, address.substr(colon + 1), ec);
  if (ec || results.empty()) usage_error(fmt::format("cannot resolve '{}': {}", address, ec.message()));
  return asio::generic::stream_protocol::endpoint(results.begin()->endpoint());
}

}  // namespace ferry::bench
