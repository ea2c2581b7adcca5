#pragma once

// One log line per burst of the same trouble (accept failing with EMFILE, connections
// shed to stay under the open file limit), with a count, instead of one line per event:
// under an fd exhaustion attack the per-event lines would be the next flood. Pure: the
// caller passes the time and writes the line; not thread-safe (guard it, or keep it on
// one thread).

#include <chrono>
#include <cstdint>
#include <optional>

namespace ferry::worker {

class BurstCounter {
 public:
  using Clock = std::chrono::steady_clock;

  struct Report {
    std::uint64_t count;     // events since the previous report
    Clock::duration lasted;  // since the burst began
    bool over;               // the burst has ended (else it goes on)
  };

  explicit BurstCounter(Clock::duration report_every = std::chrono::seconds(10)) : every_(report_every) {}

  // An event. A burst that goes on is reported every `report_every`, so the log shows it
  // while it lasts.
  std::optional<Report> note(Clock::time_point now) {
    if (!in_burst_) {
      in_burst_ = true;
      began_ = reported_ = now;
    }
    ++count_;
    if (now - reported_ < every_) return std::nullopt;
    Report r{count_, now - began_, false};
    count_ = 0;
    reported_ = now;
    return r;
  }

  // The trouble is over (an accept worked): what was not reported yet, if anything.
  std::optional<Report> end(Clock::time_point now) {
    if (!in_burst_) return std::nullopt;
    in_burst_ = false;
    if (count_ == 0) return std::nullopt;
    Report r{count_, now - began_, true};
    count_ = 0;
    return r;
  }

  bool in_burst() const { return in_burst_; }

 private:
  Clock::duration every_;
  bool in_burst_ = false;
  std::uint64_t count_ = 0;
  Clock::time_point began_{}, reported_{};
};

}  // namespace ferry::worker
