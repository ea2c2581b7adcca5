#pragma once

// An app imported while workers serve requests (by a worker started during a reload, a
// recycle or a respawn; by the master re-executed for a preload reload) is imported at a
// lower CPU priority, so that the import, often a second or more of CPU for a Django
// project, does not take the CPUs from the requests being answered. On a 2-core machine
// at 3,000 requests/s this took the p99 of the requests due in the 3 s after a lazy
// reload from 11-62 ms to 3-8 ms (docs/benchmarks.md).
//
// Only done where it can be undone: setting a nice value back down needs CAP_SYS_NICE or
// an RLIMIT_NICE that allows it (the master raises the limit before it drops root
// privileges), which a short-lived probe thread checks first. Nice values are per thread
// on Linux: the import's thread is lowered, and afterwards it is put back together with
// every thread the app started meanwhile, which inherited the lowered value.

namespace ferry {

class ImportPriority {
 public:
  static constexpr int kIncrement = 10;

  // Lowers the calling thread's priority by kIncrement if `lower` and it can be undone.
  explicit ImportPriority(bool lower);
  ~ImportPriority();  // puts every lowered thread back
  ImportPriority(const ImportPriority&) = delete;
  ImportPriority& operator=(const ImportPriority&) = delete;

 private:
  int base_ = 0;
  int lowered_to_ = 0;
  bool lowered_ = false;
};

}  // namespace ferry
