// loadgen: the closed-loop load generator of ferry's benchmarks (tests/bench/compare.py).
//
// C connections each send a request, read the whole response, and send the next, for D
// seconds, so the load adapts to the server the way a busy nginx's does. It speaks
//   --uwsgi: the uwsgi protocol straight to the server's socket, one connection per
//            request, as nginx's uwsgi_pass does (the server closes after the response);
//   --http:  HTTP/1.1, to gunicorn or to nginx, closing after each response unless
//            --keepalive.
// A request succeeds only with a complete "HTTP/1.x 200" response; everything else is an
// error of a named kind. Latency percentiles come from every successful request's sample.
//
//   loadgen --uwsgi unix:/tmp/app.sock -c 16 -d 10 --path / --json
//   loadgen --http 127.0.0.1:8000 -c 16 -d 10 --keepalive
//
// One io_context per thread (-t), each with its own share of the connections and its own
// statistics, merged at the end: no locks on the request path.

#include <signal.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fmt/format.h>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "client.hpp"
#include "options.hpp"

namespace ferry::bench {
namespace {

struct Summary {
  double seconds = 0;
  double rps = 0;
  double p50 = 0, p90 = 0, p99 = 0, max = 0, mean = 0;  // milliseconds
};

Summary summarize(Stats& s, Clock::time_point measure_from, Clock::time_point stop_at) {
  Summary out;
  // The measured window ends when the last request started in it finished (a slow
  // request's tail counts), or at the planned end if nothing was still running.
  const auto end = std::max(s.last_done, std::min(stop_at, Clock::now()));
  out.seconds = std::chrono::duration<double>(end - measure_from).count();
  if (out.seconds > 0) out.rps = static_cast<double>(s.ok) / out.seconds;
  auto& v = s.latencies_us;
  if (v.empty()) return out;
  std::sort(v.begin(), v.end());
  auto at = [&](double q) {
    const auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(v.size())));
    return v[std::min(v.size() - 1, rank == 0 ? 0 : rank - 1)] / 1000.0;
  };
  out.p50 = at(0.50);
  out.p90 = at(0.90);
  out.p99 = at(0.99);
  out.max = v.back() / 1000.0;
  double total = 0;
  for (auto x : v) total += x;
  out.mean = total / static_cast<double>(v.size()) / 1000.0;
  return out;
}

std::string json_string(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += fmt::format("\\u{:04x}", c);
    } else {
      out += c;
    }
  }
  return out + "\"";
}

void print_json(const Options& o, const Stats& s, const Summary& m) {
  std::string errors, first, statuses;
  for (std::size_t i = 0; i < kErrorNames.size(); ++i) {
    errors += fmt::format("{}\"{}\": {}", i ? ", " : "", kErrorNames[i], s.errors[i]);
    if (!s.first_error[i].empty()) {
      first += fmt::format("{}\"{}\": {}", first.empty() ? "" : ", ", kErrorNames[i], json_string(s.first_error[i]));
    }
  }
  for (const auto& [code, n] : s.statuses) {
    statuses += fmt::format("{}\"{}\": {}", statuses.empty() ? "" : ", ", code, n);
  }
  fmt::print(
      "{{\"mode\": \"{}\", \"address\": {}, \"path\": {}, \"connections\": {}, \"threads\": {}, "
      "\"body_bytes_sent_per_request\": {}, \"keepalive\": {}, \"rate\": {}, \"seconds\": {:.3f}, "
      "\"requests\": {}, \"ok\": {}, \"errors\": {}, \"error_kinds\": {{{}}}, \"first_errors\": {{{}}}, "
      "\"warmup_errors\": {}, \"statuses\": {{{}}}, \"rps\": {:.1f}, "
      "\"latency_ms\": {{\"p50\": {:.3f}, \"p90\": {:.3f}, \"p99\": {:.3f}, \"max\": {:.3f}, \"mean\": {:.3f}}}, "
      "\"bytes_sent\": {}, \"bytes_received\": {}, \"body_bytes_received\": {}, "
      "\"connections_opened\": {}, \"keepalive_retries\": {}}}\n",
      o.mode == Mode::uwsgi ? "uwsgi" : "http", json_string(o.address), json_string(o.path), o.connections, o.threads,
      o.body_bytes, o.keepalive ? "true" : "false", o.rate, m.seconds, s.ok + s.error_total(), s.ok, s.error_total(),
      errors, first, s.warmup_errors, statuses, m.rps, m.p50, m.p90, m.p99, m.max, m.mean, s.bytes_sent,
      s.bytes_received, s.body_bytes, s.connections_opened, s.keepalive_retries);
}

void print_text(const Options& o, const Stats& s, const Summary& m) {
  fmt::print("{} {} {} {}: {} connections, {} thread(s), {}, {:.2f} s measured\n",
             o.mode == Mode::uwsgi ? "uwsgi" : "http", o.address, o.body_bytes ? "POST" : "GET", o.path, o.connections,
             o.threads, o.rate > 0 ? fmt::format("open loop at {:g} req/s", o.rate) : "closed loop", m.seconds);
  fmt::print("  requests  {} ok, {} errors, {:.1f} req/s\n", s.ok, s.error_total(), m.rps);
  fmt::print("  latency   p50 {:.2f} ms  p90 {:.2f} ms  p99 {:.2f} ms  max {:.2f} ms  mean {:.2f} ms\n", m.p50, m.p90,
             m.p99, m.max, m.mean);
  fmt::print("  bytes     {} received ({} body), {} sent\n", s.bytes_received, s.body_bytes, s.bytes_sent);
  for (std::size_t i = 0; i < kErrorNames.size(); ++i) {
    if (s.errors[i]) fmt::print("  errors    {} {} (first: {})\n", s.errors[i], kErrorNames[i], s.first_error[i]);
  }
  for (const auto& [code, n] : s.statuses) {
    if (code != 200) fmt::print("  status    {}: {}\n", code, n);
  }
  if (s.warmup_errors) fmt::print("  warm-up   {} errors (not counted above)\n", s.warmup_errors);
}

// One line per measured request, in the order they ended.
void write_timeline(const std::string& path, std::vector<Stats::Event> events, Clock::time_point measure_from) {
  std::sort(events.begin(), events.end(), [](const auto& a, const auto& b) { return a.done < b.done; });
  std::FILE* f = std::fopen(path.c_str(), "w");
  if (!f) throw std::runtime_error(fmt::format("cannot write {}: {}", path, std::strerror(errno)));
  fmt::print(f, "end_ms,latency_us,result\n");
  for (const auto& e : events) {
    fmt::print(f, "{:.3f},{},{}\n", std::chrono::duration<double, std::milli>(e.done - measure_from).count(),
               e.latency_us, e.kind < 0 ? "ok" : kErrorNames[static_cast<std::size_t>(e.kind)]);
  }
  std::fclose(f);
}

int run(int argc, char** argv) {
  ::signal(SIGPIPE, SIG_IGN);
  const Options options = parse_options(argc, argv);
  const Client::Protocol::endpoint endpoint = resolve(options.address);
  const Request request = build_request(options);

  Plan plan;
  const auto start = Clock::now();
  auto seconds = [](double s) { return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s)); };
  plan.measure_from = start + seconds(options.warmup);
  plan.stop_at = plan.measure_from + seconds(options.duration);
  plan.max_requests = options.max_requests;
  plan.rate = options.rate;
  plan.start = start;

  std::vector<Stats> stats(static_cast<std::size_t>(options.threads));
  std::vector<std::thread> threads;
  for (int t = 0; t < options.threads; ++t) {
    threads.emplace_back([&, t] {
      asio::io_context io(1);
      std::vector<std::unique_ptr<Client>> clients;
      for (int c = t; c < options.connections; c += options.threads) {
        clients.push_back(std::make_unique<Client>(io, options, endpoint, request, plan, stats[t]));
      }
      for (auto& client : clients) client->next();
      io.run();
    });
  }
  for (auto& thread : threads) thread.join();

  Stats total;
  for (const auto& s : stats) total.merge(s);
  const Summary summary = summarize(total, plan.measure_from, plan.stop_at);
  if (!options.timeline.empty()) write_timeline(options.timeline, std::move(total.timeline), plan.measure_from);
  if (options.json) {
    print_json(options, total, summary);
  } else {
    print_text(options, total, summary);
  }
  return 0;
}

}  // namespace
}  // namespace ferry::bench

int main(int argc, char** argv) {
  try {
    return ferry::bench::run(argc, argv);
  } catch (const std::exception& e) {  // e.g. a Unix socket path too long for sockaddr_un
    std::fprintf(stderr, "loadgen: %s\n", e.what());
    return 1;
  }
}