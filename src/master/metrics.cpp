#include "master/metrics.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <iterator>
#include <vector>

namespace ferry::master {
namespace {

// Text appended family by family: each family's HELP and TYPE once, then its samples,
// all contiguous, as the format requires.
class Writer {
 public:
  explicit Writer(std::string& out) : out_(out) {}

  void family(std::string_view name, std::string_view type, std::string_view help) {
    fmt::format_to(std::back_inserter(out_), "# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
  }

  // `labels` is already rendered ("" or `{a="b"}`).
  void sample(std::string_view name, std::string_view labels, std::uint64_t value) {
    fmt::format_to(std::back_inserter(out_), "{}{} {}\n", name, labels, value);
  }
  void sample(std::string_view name, std::string_view labels, double value) {
    fmt::format_to(std::back_inserter(out_), "{}{} {}\n", name, labels, number(value));
  }

  static std::string number(double value) {
    if (std::isnan(value)) return "NaN";
    if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
    return fmt::format("{}", value);  // shortest text that reads back as the same double
  }

 private:
  std::string& out_;
};

std::string label(std::string_view name, std::string_view value) {
  return fmt::format("{{{}=\"{}\"}}", name, escape_label_value(value));
}

// One worker id (slot) as the per-worker series show it. While a worker is replaced (a
// recycle, a chain reload) its successor runs beside it under the same id, so the
// snapshot can list an id twice; a series must appear once. The snapshot gives the id's
// exited processes' counts to its first entry only (stats_collect), so the id's counters
// are the sum over its entries, each request once; memory is what its processes hold.
struct WorkerId {
  int id = 0;
  LifetimeCounts lifetime;
  std::uint64_t rss = 0;
  std::uint64_t vsz = 0;
};

void add(LifetimeCounts& into, const LifetimeCounts& more) {
  into.requests += more.requests;
  into.exceptions += more.exceptions;
  into.harakiri += more.harakiri;
  into.tx_bytes += more.tx_bytes;
  for (std::size_t i = 0; i < into.responses_by_class.size(); ++i) {
    into.responses_by_class[i] += more.responses_by_class[i];
  }
  // Both cumulative over the same bounds; one may be empty (nothing counted yet).
  if (into.bucket_counts.size() < more.bucket_counts.size()) into.bucket_counts.resize(more.bucket_counts.size());
  for (std::size_t i = 0; i < more.bucket_counts.size(); ++i) into.bucket_counts[i] += more.bucket_counts[i];
  into.duration_seconds_sum += more.duration_seconds_sum;
}

std::vector<WorkerId> worker_ids(const StatsSnapshot& s) {
  std::vector<WorkerId> ids;
  for (const auto& worker : s.workers) {
    auto it = std::find_if(ids.begin(), ids.end(), [&](const WorkerId& w) { return w.id == worker.id; });
    if (it == ids.end()) {
      ids.push_back({worker.id, {}, 0, 0});
      it = ids.end() - 1;
    }
    add(it->lifetime, worker.lifetime);
    it->rss += worker.rss;
    it->vsz += worker.vsz;
  }
  std::sort(ids.begin(), ids.end(), [](const WorkerId& a, const WorkerId& b) { return a.id < b.id; });
  return ids;
}

std::string worker_label(const WorkerId& worker) { return label("worker", std::to_string(worker.id)); }

// What ferry_workers counts a process as. One that is not accepting is on its way out
// when the master is stopping or when a newer process has its id (the snapshot lists an
// id's processes oldest first), and on its way in (spawned, loading the app) otherwise.
enum class WorkerState { idle, busy, starting, stopping };
constexpr std::array<std::string_view, 4> kWorkerStateNames = {"idle", "busy", "starting", "stopping"};

WorkerState state_of(const StatsSnapshot& s, std::size_t index) {
  const WorkerSnapshot& worker = s.workers[index];
  if (!worker.accepting) {
    const bool replaced = std::any_of(s.workers.begin() + static_cast<std::ptrdiff_t>(index) + 1, s.workers.end(),
                                      [&](const WorkerSnapshot& later) { return later.id == worker.id; });
    return s.phase == StatsSnapshot::Phase::stopping || replaced ? WorkerState::stopping : WorkerState::starting;
  }
  return worker.status == "busy" || worker.in_flight > 0 ? WorkerState::busy : WorkerState::idle;
}

constexpr std::array<std::string_view, 4> kPhaseNames = {"starting", "serving", "reloading", "stopping"};
constexpr std::array<std::string_view, 6> kStatusClasses = {"1xx", "2xx", "3xx", "4xx", "5xx", "other"};

void write_process(Writer& w, const StatsSnapshot& s) {
  w.family("ferry_build_info", "gauge", "Always 1; the version label is ferry's version.");
  w.sample("ferry_build_info", label("version", s.version), std::uint64_t{1});
  w.family("ferry_start_time_seconds", "gauge", "When the master started, in seconds since the Unix epoch.");
  w.sample("ferry_start_time_seconds", "", static_cast<double>(s.started_at));
  w.family("ferry_master_phase", "gauge",
           "1 for what the master is doing now (starting, serving, reloading, stopping).");
  for (std::size_t i = 0; i < kPhaseNames.size(); ++i) {
    w.sample("ferry_master_phase", label("phase", kPhaseNames[i]),
             std::uint64_t{static_cast<std::size_t>(s.phase) == i ? 1u : 0u});
  }
}

void write_workers(Writer& w, const StatsSnapshot& s) {
  w.family("ferry_workers_configured", "gauge", "Worker processes configured (processes).");
  w.sample("ferry_workers_configured", "", static_cast<std::uint64_t>(std::max(s.configured_workers, 0)));

  std::array<std::uint64_t, kWorkerStateNames.size()> by_state{};
  for (std::size_t i = 0; i < s.workers.size(); ++i) ++by_state[static_cast<std::size_t>(state_of(s, i))];
  w.family("ferry_workers", "gauge", "Worker processes by state: idle, busy, starting or stopping.");
  for (std::size_t i = 0; i < by_state.size(); ++i) {
    w.sample("ferry_workers", label("state", kWorkerStateNames[i]), by_state[i]);
  }

  w.family("ferry_worker_respawns_total", "counter",
           "Workers started again after one exited or was recycled, since the master started.");
  w.sample("ferry_worker_respawns_total", "", s.respawns_total);

  w.family("ferry_inflight_requests", "gauge", "Requests being served right now, over every worker.");
  w.sample("ferry_inflight_requests", "", s.load);

  const auto ids = worker_ids(s);
  w.family("ferry_worker_rss_bytes", "gauge", "Resident memory of each worker id's processes, in bytes.");
  for (const auto& worker : ids) w.sample("ferry_worker_rss_bytes", worker_label(worker), worker.rss);
  w.family("ferry_worker_vsz_bytes", "gauge", "Address space of each worker id's processes, in bytes.");
  for (const auto& worker : ids) w.sample("ferry_worker_vsz_bytes", worker_label(worker), worker.vsz);
}

// One counter family labelled by worker, read from each worker's LifetimeCounts.
template <typename Field>
void write_per_worker_counter(Writer& w, const std::vector<WorkerId>& ids, std::string_view name, std::string_view help,
                              Field field) {
  w.family(name, "counter", help);
  for (const auto& worker : ids) w.sample(name, worker_label(worker), field(worker.lifetime));
}

void write_requests(Writer& w, const std::vector<WorkerId>& ids) {
  write_per_worker_counter(w, ids, "ferry_requests_total", "Requests served by each worker id, over its respawns.",
                           [](const LifetimeCounts& c) { return c.requests; });
  write_per_worker_counter(w, ids, "ferry_exceptions_total",
                           "Requests whose app raised an exception, by worker id, over its respawns.",
                           [](const LifetimeCounts& c) { return c.exceptions; });
  write_per_worker_counter(w, ids, "ferry_harakiri_total",
                           "Requests that overran harakiri (and cost their worker), by worker id.",
                           [](const LifetimeCounts& c) { return c.harakiri; });
  write_per_worker_counter(w, ids, "ferry_tx_bytes_total", "Response bytes sent, by worker id, over its respawns.",
                           [](const LifetimeCounts& c) { return c.tx_bytes; });

  std::array<std::uint64_t, kStatusClasses.size()> by_class{};
  for (const auto& worker : ids) {
    for (std::size_t i = 0; i < by_class.size(); ++i) by_class[i] += worker.lifetime.responses_by_class[i];
  }
  w.family("ferry_responses_total", "counter", "Responses by HTTP status class (1xx..5xx, other), over every worker.");
  for (std::size_t i = 0; i < by_class.size(); ++i) {
    w.sample("ferry_responses_total", label("status", kStatusClasses[i]), by_class[i]);
  }
}

void write_duration_histogram(Writer& w, const std::vector<double>& bounds, const std::vector<WorkerId>& ids) {
  // Each worker's buckets are cumulative, so their sum is too; a worker whose vector is
  // short (no requests counted yet) adds nothing to the buckets it lacks.
  std::vector<std::uint64_t> buckets(bounds.size() + 1, 0);
  double sum = 0;
  for (const auto& worker : ids) {
    const auto& counts = worker.lifetime.bucket_counts;
    for (std::size_t i = 0; i < std::min(counts.size(), buckets.size()); ++i) buckets[i] += counts[i];
    sum += worker.lifetime.duration_seconds_sum;
  }
  constexpr std::string_view name = "ferry_request_duration_seconds";
  w.family(name, "histogram", "How long requests took, in seconds, over every worker.");
  for (std::size_t i = 0; i < bounds.size(); ++i) {
    w.sample("ferry_request_duration_seconds_bucket", label("le", Writer::number(bounds[i])), buckets[i]);
  }
  w.sample("ferry_request_duration_seconds_bucket", label("le", "+Inf"), buckets.back());
  w.sample("ferry_request_duration_seconds_sum", "", sum);
  w.sample("ferry_request_duration_seconds_count", "", buckets.back());
}

void write_sockets(Writer& w, const StatsSnapshot& s) {
  w.family("ferry_listen_queue", "gauge", "Connections waiting in the kernel's accept queue of each listening socket.");
  for (const auto& socket : s.sockets) w.sample("ferry_listen_queue", label("socket", socket.name), socket.queue);
  w.family("ferry_listen_queue_max", "gauge", "The backlog each listening socket was listened with.");
  for (const auto& socket : s.sockets) {
    w.sample("ferry_listen_queue_max", label("socket", socket.name), socket.max_queue);
  }
  w.family("ferry_listen_queue_errors_total", "counter",
           "Connections the kernel dropped because a listen queue was full.");
  w.sample("ferry_listen_queue_errors_total", "", s.listen_queue_errors);
}

}  // namespace

std::string escape_label_value(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (const char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string prometheus_text(const StatsSnapshot& snapshot) {
  std::string out;
  out.reserve(4096 + snapshot.workers.size() * 512);
  Writer w(out);
  write_process(w, snapshot);
  write_workers(w, snapshot);
  const auto ids = worker_ids(snapshot);
  write_requests(w, ids);
  write_duration_histogram(w, snapshot.duration_bounds, ids);
  write_sockets(w, snapshot);
  return out;
}

}  // namespace ferry::master
