#include "master/touch_files.hpp"

#include <sys/stat.h>

namespace ferry::master {

TouchFiles::TouchFiles(const std::vector<std::string>& reload, const std::vector<std::string>& chain_reload) {
  for (const auto& path : reload) files_.push_back({path, false, mtime_of(path)});
  for (const auto& path : chain_reload) files_.push_back({path, true, mtime_of(path)});
}

std::optional<TouchFiles::Touched> TouchFiles::changed() {
  for (auto& file : files_) {
    const auto mtime = mtime_of(file.path);
    if (mtime == file.mtime) continue;
    file.mtime = mtime;
    return Touched{file.path, file.chain};
  }
  return std::nullopt;
}

std::int64_t TouchFiles::mtime_of(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return 0;
  return static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
}

}  // namespace ferry::master
