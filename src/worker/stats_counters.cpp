#include "worker/stats_counters.hpp"

#include <algorithm>

namespace ferry::worker {
namespace {

template <std::size_t N>
std::size_t put(char (&dst)[N], std::string_view text) {
  const std::size_t n = std::min(N, text.size());
  std::memcpy(dst, text.data(), n);
  return n;
}

}  // namespace

WorkerTotals read_totals(const WorkerCounters& counters, std::uint64_t requests) {
  WorkerTotals t;
  t.requests = requests;
  t.exceptions = counters.exceptions.load(std::memory_order_relaxed);
  t.tx_bytes = counters.tx_bytes.load(std::memory_order_relaxed);
  t.running_us = counters.running_us.load(std::memory_order_relaxed);
  for (std::size_t i = 0; i < t.responses.size(); ++i)
    t.responses[i] = counters.responses[i].load(std::memory_order_relaxed);
  for (std::size_t i = 0; i < t.durations.size(); ++i)
    t.durations[i] = counters.durations[i].load(std::memory_order_relaxed);
  return t;
}

void clear(WorkerCounters& counters) {
  for (auto* a : {&counters.exceptions, &counters.tx_bytes, &counters.running_us})
    a->store(0, std::memory_order_relaxed);
  counters.in_flight.store(0, std::memory_order_relaxed);
  for (auto& a : counters.responses) a.store(0, std::memory_order_relaxed);
  for (auto& a : counters.durations) a.store(0, std::memory_order_relaxed);
}

void clear(CoreCounters& core) {
  for (auto* a : {&core.requests, &core.static_requests, &core.write_errors, &core.read_errors}) {
    a->store(0, std::memory_order_relaxed);
  }
  core.in_request.store(0, std::memory_order_relaxed);
}

// A sequence lock: the writer makes `sequence` odd, writes, makes it even again; a reader
// that saw the same even value before and after its copy has a whole one. The text is
// copied with plain memcpy between fences, the usual seqlock compromise: a torn copy is
// possible only when the sequence check then rejects it.
void begin_core_request(CoreCounters& core, std::string_view method, std::string_view uri, std::string_view remote,
                        std::chrono::system_clock::time_point started) {
  const auto seq = core.sequence.load(std::memory_order_relaxed);
  core.sequence.store(seq + 1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  core.method_length.store(static_cast<std::uint8_t>(put(core.method, method)), std::memory_order_relaxed);
  core.uri_length.store(static_cast<std::uint16_t>(put(core.uri, uri)), std::memory_order_relaxed);
  core.remote_length.store(static_cast<std::uint8_t>(put(core.remote, remote)), std::memory_order_relaxed);
  core.started_us.store(std::chrono::duration_cast<std::chrono::microseconds>(started.time_since_epoch()).count(),
                        std::memory_order_relaxed);
  core.in_request.store(1, std::memory_order_relaxed);
  core.sequence.store(seq + 2, std::memory_order_release);
}

bool read_core_request(const CoreCounters& core, CoreRequest& out) {
  constexpr int kTries = 8;
  for (int i = 0; i < kTries; ++i) {
    const auto before = core.sequence.load(std::memory_order_acquire);
    if (before & 1) continue;
    out.in_request = core.in_request.load(std::memory_order_acquire) != 0;
    const std::size_t m =
        std::min<std::size_t>(core.method_length.load(std::memory_order_relaxed), CoreCounters::kMethod);
    const std::size_t u = std::min<std::size_t>(core.uri_length.load(std::memory_order_relaxed), CoreCounters::kUri);
    const std::size_t r =
        std::min<std::size_t>(core.remote_length.load(std::memory_order_relaxed), CoreCounters::kRemote);
    std::memcpy(out.method_buffer, core.method, m);
    std::memcpy(out.uri_buffer, core.uri, u);
    std::memcpy(out.remote_buffer, core.remote, r);
    out.started_us = core.started_us.load(std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_acquire);
    if (core.sequence.load(std::memory_order_relaxed) != before) continue;
    out.method = {out.method_buffer, m};
    out.uri = {out.uri_buffer, u};
    out.remote = {out.remote_buffer, r};
    return true;
  }
  out.in_request = false;
  return false;
}

}  // namespace ferry::worker
