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

void StatsHistory::on_spawn(int id) {
  if (find(id)) ++records_[id].spawns;
}

void StatsHistory::on_exit(int id, pid_t pid, const worker::WorkerTotals& totals, bool harakiri) {
  last_requests_.erase(pid);
  if (!find(id)) return;
  auto& record = records_[id];
  add(record.exited, totals);
  if (harakiri) ++record.harakiri;
}

std::uint64_t StatsHistory::spawns(int id) const {
  const auto* record = find(id);
  return record ? record->spawns : 0;
}

std::uint64_t StatsHistory::harakiri(int id) const {
  const auto* record = find(id);
  return record ? record->harakiri : 0;
}

std::uint64_t StatsHistory::respawns_total() const {
  std::uint64_t total = 0;
  for (int id = 0; id < kIds; ++id) total += records_[id].spawns > 1 ? records_[id].spawns - 1 : 0;
  return total;
}

LifetimeCounts lifetime_counts(const worker::WorkerTotals* exited, const worker::WorkerTotals* current,
                               std::uint64_t harakiri) {
  worker::WorkerTotals sum;
  if (exited) sum = *exited;
  if (current) add(sum, *current);
  LifetimeCounts out;
  out.requests = sum.requests;
  out.exceptions = sum.exceptions;
  out.harakiri = harakiri;
  out.tx_bytes = sum.tx_bytes;
  out.responses_by_class = sum.responses;
  out.bucket_counts = cumulative(sum);
  out.duration_seconds_sum = static_cast<double>(sum.running_us) / 1e6;
  return out;
}

LifetimeCounts StatsHistory::lifetime(int id, const worker::WorkerTotals* current) const {
  const auto* record = find(id);
  return lifetime_counts(record ? &record->exited : nullptr, current, harakiri(id));
}

std::uint64_t StatsHistory::delta_requests(pid_t pid, std::uint64_t requests) {
  auto& last = last_requests_[pid];
  const std::uint64_t delta = requests >= last ? requests - last : requests;
  last = requests;
  return delta;
}

}  // namespace ferry::master
