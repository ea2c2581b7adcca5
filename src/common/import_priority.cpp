#include "common/import_priority.hpp"

#include <dirent.h>
#include <sys/resource.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <thread>

namespace ferry {
namespace {

// Whether a thread of this process may go from `lowered` back to `base`, tried on a thread
// of its own so that the caller's priority is untouched either way.
bool can_restore(int base, int lowered) {
  bool ok = false;
  std::thread([&] {
    ok = ::setpriority(PRIO_PROCESS, 0, lowered) == 0 && ::setpriority(PRIO_PROCESS, 0, base) == 0;
  }).join();
  return ok;
}

}  // namespace

ImportPriority::ImportPriority(bool lower) {
  if (!lower) return;
  errno = 0;
  base_ = ::getpriority(PRIO_PROCESS, 0);  // on Linux, the calling thread's
  if (errno != 0) return;
  lowered_to_ = std::min(19, base_ + kIncrement);
  if (lowered_to_ == base_ || !can_restore(base_, lowered_to_)) return;
  lowered_ = ::setpriority(PRIO_PROCESS, 0, lowered_to_) == 0;
}

ImportPriority::~ImportPriority() {
  if (!lowered_) return;
  // The import's thread and any thread the app started during the import.
  if (DIR* tasks = ::opendir("/proc/self/task")) {
    while (const dirent* entry = ::readdir(tasks)) {
      const int tid = std::atoi(entry->d_name);
      if (tid <= 0) continue;
      errno = 0;
      const int nice = ::getpriority(PRIO_PROCESS, static_cast<id_t>(tid));
      if (errno == 0 && nice == lowered_to_) ::setpriority(PRIO_PROCESS, static_cast<id_t>(tid), base_);
    }
    ::closedir(tasks);
  }
  ::setpriority(PRIO_PROCESS, 0, base_);
}

}  // namespace ferry
