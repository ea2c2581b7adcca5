#include "master/counter_slots.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fmt/format.h>

#include "master/startup_error.hpp"

namespace ferry::master {
namespace {

using worker::SharedCounters;

SharedCounters* map_counters(int fd, bool fresh) {
  if (fresh && ::ftruncate(fd, sizeof(SharedCounters)) != 0) {
    throw StartupError(fmt::format("ftruncate: {}", std::strerror(errno)));
  }
  void* memory = ::mmap(nullptr, sizeof(SharedCounters), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (memory == MAP_FAILED) throw StartupError(fmt::format("mmap: {}", std::strerror(errno)));
  // Not constructed: a fresh memfd is all zeros, every member's initial value (worker.hpp).
  return static_cast<SharedCounters*>(memory);
}

}  // namespace

CounterSlots CounterSlots::create() {
  UniqueFd fd(::memfd_create("ferry-counters", MFD_CLOEXEC));
  if (!fd) throw StartupError(fmt::format("memfd_create: {}", std::strerror(errno)));
  auto* counters = map_counters(fd.get(), /*fresh=*/true);
  return CounterSlots(std::move(fd), counters, {});
}

CounterSlots CounterSlots::adopt(int fd, const std::map<pid_t, int>& taken) {
  UniqueFd owned(fd);
  auto* counters = map_counters(owned.get(), /*fresh=*/false);
  return CounterSlots(std::move(owned), counters, taken);
}

CounterSlots::CounterSlots(UniqueFd fd, SharedCounters* counters, const std::map<pid_t, int>& taken)
    : fd_(std::move(fd)), counters_(counters), owners_(taken) {
  for (const auto& [pid, slot] : taken) {
    const auto& w = counters_->workers[slot];
    const int count = w.cores.load(std::memory_order_relaxed);
    if (count > 0) core_ranges_[slot] = {w.first_core.load(std::memory_order_relaxed), count};
  }
  for (int i = SharedCounters::kWorkerSlots; i-- > 0;) {
    if (std::none_of(taken.begin(), taken.end(), [i](const auto& owner) { return owner.second == i; })) {
      free_.push_back(i);
    }
  }
}

std::optional<int> CounterSlots::next_free() {
  if (free_.empty()) return std::nullopt;
  const int slot = free_.back();
  counters_->served[slot].store(0, std::memory_order_relaxed);
  counters_->in_flight[slot].length.store(0, std::memory_order_relaxed);
  worker::clear(counters_->workers[slot]);
  return slot;
}

bool CounterSlots::reserve_cores(int slot, int threads) {
  core_ranges_.erase(slot);
  auto& w = counters_->workers[slot];
  w.first_core.store(0, std::memory_order_relaxed);
  w.cores.store(0, std::memory_order_relaxed);
  std::vector<std::pair<int, int>> used;
  for (const auto& [owner, range] : core_ranges_) used.push_back(range);
  std::sort(used.begin(), used.end());
  int first = 0;  // first fit
  for (const auto& [start, count] : used) {
    if (start - first >= threads) break;
    first = std::max(first, start + count);
  }
  if (first + threads > SharedCounters::kCoreSlots) return false;
  core_ranges_[slot] = {first, threads};
  for (int i = first; i < first + threads; ++i) worker::clear(counters_->cores[i]);
  w.first_core.store(first, std::memory_order_relaxed);
  w.cores.store(threads, std::memory_order_relaxed);
  return true;
}

void CounterSlots::assign(pid_t pid, int slot) {
  free_.erase(std::remove(free_.begin(), free_.end(), slot), free_.end());
  owners_[pid] = slot;
}

std::optional<int> CounterSlots::slot_of(pid_t pid) const {
  const auto it = owners_.find(pid);
  if (it == owners_.end()) return std::nullopt;
  return it->second;
}

std::optional<CounterSlots::Left> CounterSlots::release(pid_t pid) {
  const auto it = owners_.find(pid);
  if (it == owners_.end()) return std::nullopt;
  const int slot = it->second;
  Left left;
  left.served = counters_->served[slot].load(std::memory_order_relaxed);
  left.totals = worker::read_totals(counters_->workers[slot], left.served);
  core_ranges_.erase(slot);
  // The worker is gone, so nobody writes this any more; a fresh worker in the slot
  // starts with it clear.
  auto& in_flight = counters_->in_flight[slot];
  const auto length =
      std::min<std::size_t>(in_flight.length.load(std::memory_order_acquire), SharedCounters::InFlight::kText);
  left.serving.assign(in_flight.text, length);
  in_flight.length.store(0, std::memory_order_relaxed);
  free_.push_back(slot);
  owners_.erase(it);
  return left;
}

}  // namespace ferry::master
