#pragma once

// When a worker asks the master for a replacement: max-requests (staggered by
// max-requests-delta), reload-on-rss, reload-on-as, and near limit-as, none of them before
// min-worker-lifetime. Pure: the caller passes what it counted and measured; the worker
// keeps serving until the replacement is ready, so the slot never goes unserved.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "config/config.hpp"

namespace ferry::worker {

struct MemoryUse {
  std::uint64_t rss_mb = 0;  // resident
  std::uint64_t as_mb = 0;   // address space
};

// /proc/self/statm's text ("size resident ..." in pages); nullopt if it is not that.
std::optional<MemoryUse> parse_statm(std::string_view text, std::uint64_t page_size);

struct RecyclePolicy {
  std::uint64_t max_requests = 0;  // 0: never
  std::uint64_t reload_on_rss_mb = 0, reload_on_as_mb = 0, limit_as_mb = 0;
  std::chrono::steady_clock::duration min_lifetime{};

  // Worker `slot`'s policy: max-requests-delta staggers the workers, since all of them
  // recycling at once would leave nobody with the app's code warm.
  static RecyclePolicy from(const config::Config& config, int slot);
  // Whether a check needs the worker's memory use.
  bool watches_memory() const { return reload_on_rss_mb > 0 || reload_on_as_mb > 0 || limit_as_mb > 0; }
};

struct WorkerUsage {
  std::uint64_t served = 0;                     // requests this worker answered
  std::chrono::steady_clock::duration lived{};  // since it began serving
  std::optional<MemoryUse> memory;              // nullopt: not measured (or not readable)
};

// Why the worker should be recycled now, or "" to keep it.
std::string recycle_reason(const RecyclePolicy& policy, const WorkerUsage& usage);

}  // namespace ferry::worker
