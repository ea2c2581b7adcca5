#pragma once

// What the stats remember across worker processes, per worker id: how often the id was
// started, and the counts of its processes that have exited, folded together so that the
// counters labelled by worker never go down while the master runs. Also the previous
// reading of each process's requests, for uWSGI's delta_requests. Pure: the master feeds it
// spawns and exits; stats_collect reads it.

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <vector>

#include "master/stats_snapshot.hpp"
#include "worker/worker.hpp"

namespace ferry::master {

class StatsHistory {
 public:
  // Records in memory of its own until attach() gives it the shared ones.
  StatsHistory() : own_(kIds), records_(own_.data()) {}
  // `records`: kIds of them, indexed by worker id, kept across a re-exec (SharedCounters::ids).
  void attach(worker::IdRecord* records) { records_ = records; }

  void on_spawn(int id);
  // A process of worker `id` exited with these counts; `harakiri`: it was killed by it.
  void on_exit(int id, pid_t pid, const worker::WorkerTotals& totals, bool harakiri);

  std::uint64_t spawns(int id) const;
  std::uint64_t harakiri(int id) const;
  std::uint64_t respawns_total() const;  // spawns beyond each id's first
  // The exited processes' counts of worker `id` plus `current` (a live process's), cumulative.
  LifetimeCounts lifetime(int id, const worker::WorkerTotals* current) const;
  // Requests since the previous call for this pid (all of them the first time).
  std::uint64_t delta_requests(pid_t pid, std::uint64_t requests);
  // listen_queue_errors: how many times a stats reading found a socket's accept queue
  // full (uWSGI counts the master's checks that find it full, the same idea).
  void note_full_queue() { ++full_queues_; }
  std::uint64_t full_queues() const { return full_queues_; }

 private:
  static constexpr int kIds = worker::SharedCounters::kWorkerIds + 1;
  const worker::IdRecord* find(int id) const { return id >= 0 && id < kIds ? &records_[id] : nullptr; }

  std::vector<worker::IdRecord> own_;
  worker::IdRecord* records_;
  std::map<pid_t, std::uint64_t> last_requests_;
  std::uint64_t full_queues_ = 0;
};

// `exited` (may be null) plus `current` (may be null), as cumulative lifetime counts.
LifetimeCounts lifetime_counts(const worker::WorkerTotals* exited, const worker::WorkerTotals* current,
                               std::uint64_t harakiri);

// Duration buckets per bucket -> Prometheus' cumulative counts, +Inf last.
std::vector<std::uint64_t> cumulative(const worker::WorkerTotals& totals);

}  // namespace ferry::master
