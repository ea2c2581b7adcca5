#include "worker/recycling.hpp"

#include <fmt/format.h>

#include <cstdio>
#include <string>

namespace ferry::worker {

std::optional<MemoryUse> parse_statm(std::string_view text, std::uint64_t page_size) {
  const std::string copy(text.substr(0, 127));
  unsigned long long size_pages = 0, resident_pages = 0;
  if (std::sscanf(copy.c_str(), "%llu %llu", &size_pages, &resident_pages) != 2) return std::nullopt;
  return MemoryUse{resident_pages * page_size >> 20, size_pages * page_size >> 20};
}

RecyclePolicy RecyclePolicy::from(const config::Config& config, int slot) {
  RecyclePolicy policy;
  if (config.max_requests > 0) {
    policy.max_requests = static_cast<std::uint64_t>(config.max_requests) +
                          static_cast<std::uint64_t>(slot) * static_cast<std::uint64_t>(config.max_requests_delta);
  }
  policy.reload_on_rss_mb = config.reload_on_rss_mb;
  policy.reload_on_as_mb = config.reload_on_as_mb;
  policy.limit_as_mb = config.limit_as_mb;
  policy.min_lifetime = std::chrono::seconds(config.min_worker_lifetime);
  return policy;
}

std::string recycle_reason(const RecyclePolicy& policy, const WorkerUsage& usage) {
  if (usage.lived < policy.min_lifetime) return {};
  if (policy.max_requests > 0 && usage.served >= policy.max_requests) {
    return fmt::format("served max-requests ({})", policy.max_requests);
  }
  if (!usage.memory) return {};
  const auto [rss_mb, as_mb] = *usage.memory;
  if (policy.reload_on_rss_mb > 0 && rss_mb > policy.reload_on_rss_mb) {
    return fmt::format("uses {} MB of resident memory, above reload-on-rss = {}", rss_mb, policy.reload_on_rss_mb);
  }
  if (policy.reload_on_as_mb > 0 && as_mb > policy.reload_on_as_mb) {
    return fmt::format("uses {} MB of address space, above reload-on-as = {}", as_mb, policy.reload_on_as_mb);
  }
  // Past 90 % of limit-as the next request's allocations are likely to fail (MemoryError):
  // a fresh worker serves it better than this one with its heap still spread out.
  if (policy.limit_as_mb > 0 && as_mb * 10 > policy.limit_as_mb * 9) {
    return fmt::format("uses {} MB of address space, near limit-as = {}", as_mb, policy.limit_as_mb);
  }
  return {};
}

}  // namespace ferry::worker
