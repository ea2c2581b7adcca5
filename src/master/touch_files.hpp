#pragma once

// touch-reload and touch-chain-reload: the files whose modification time, when it
// changes, asks for a (chain) reload. Pure bookkeeping over stat(): master.cpp calls
// changed() on a one-second timer and does the reloading.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace ferry::master {

class TouchFiles {
 public:
  // Records each file's current mtime; a missing file counts as mtime 0, so creating it
  // later is a touch, and so is deleting it.
  TouchFiles(const std::vector<std::string>& reload, const std::vector<std::string>& chain_reload);

  bool empty() const { return files_.empty(); }

  struct Touched {
    std::string path;
    bool chain = false;
  };
  // The first file whose mtime differs from the one last seen (which it now remembers),
  // or nullopt. One touch per call: a second changed file is reported by the next call.
  std::optional<Touched> changed();

 private:
  struct File {
    std::string path;
    bool chain;
    std::int64_t mtime;  // nanoseconds, 0 when the file does not exist
  };
  static std::int64_t mtime_of(const std::string& path);

  std::vector<File> files_;
};

}  // namespace ferry::master
