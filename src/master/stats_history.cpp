#include "master/stats_history.hpp"

namespace ferry::master {
namespace {

void add(worker::WorkerTotals& into, const worker::WorkerTotals& more) {
  into.requests += more.requests;
  into.exceptions += more.exceptions;
  into.tx_bytes += more.tx_bytes;
  into.running_us += more.running_us;
  for (std::size_t i = 0; i < into.responses.size(); ++i) into.responses[i] += more.responses[i];
  for (std::size_t i = 0; i < into.durations.size(); ++i) into.durations[i] += more.durations[i];
}

}  // namespace

std::vector<std::uint64_t> cumulative(const worker::WorkerTotals& totals) {
  std::vector<std::uint64_t> out;
  std::uint64_t running = 0;
  for (const auto n : totals.durations) out.push_back(running += n);
  return out;
}

void StatsHistory::on_spawn(int id) { ++ids_[id].spawns; }

void StatsHistory::on_exit(int id, pid_t pid, const worker::WorkerTotals& totals, bool harakiri) {
  auto& record = ids_[id];
  add(record.exited, totals);
  if (harakiri) ++record.harakiri;
  last_requests_.erase(pid);
}

std::uint64_t StatsHistory::spawns(int id) const {
  const auto it = ids_.find(id);
  return it == ids_.end() ? 0 : it->second.spawns;
}

std::uint64_t StatsHistory::harakiri(int id) const {
  const auto it = ids_.find(id);
  return it == ids_.end() ? 0 : it->second.harakiri;
}

std::uint64_t StatsHistory::respawns_total() const {
  std::uint64_t total = 0;
  for (const auto& [id, record] : ids_) total += record.spawns > 1 ? record.spawns - 1 : 0;
  return total;
}

LifetimeCounts StatsHistory::lifetime(int id, const worker::WorkerTotals* current) const {
  worker::WorkerTotals sum;
  if (const auto it = ids_.find(id); it != ids_.end()) sum = it->second.exited;
  if (current) add(sum, *current);
  LifetimeCounts out;
  out.requests = sum.requests;
  out.exceptions = sum.exceptions;
  out.harakiri = harakiri(id);
  out.tx_bytes = sum.tx_bytes;
  out.responses_by_class = sum.responses;
  out.bucket_counts = cumulative(sum);
  out.duration_seconds_sum = static_cast<double>(sum.running_us) / 1e6;
  return out;
}

std::uint64_t StatsHistory::delta_requests(pid_t pid, std::uint64_t requests) {
  auto& last = last_requests_[pid];
  const std::uint64_t delta = requests >= last ? requests - last : requests;
  last = requests;
  return delta;
}

}  // namespace ferry::master
