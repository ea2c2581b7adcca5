#include "worker/body_spill.hpp"

#include <fcntl.h>

#include <cstdlib>

#include "common/logging.hpp"

namespace ferry::worker {

const char* spill_directory() {
  const char* dir = std::getenv("TMPDIR");
  return dir && *dir ? dir : "/tmp";
}

bool SpilledBody::append(std::string_view piece, std::size_t in_memory) {
  size += piece.size();
  if (!file && memory.size() + piece.size() <= in_memory) {
    memory.append(piece);
    return true;
  }
  if (!file) {
    file.reset(::open(spill_directory(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
    if (!file) return false;
    if (!write_fully(file.get(), memory)) return false;
    memory.clear();
    memory.shrink_to_fit();
  }
  return write_fully(file.get(), piece);
}

void SpilledBody::clear() {
  memory.clear();
  file.reset();
  size = 0;
}

}  // namespace ferry::worker
