#include "worker/body_spill.hpp"

#include "common/logging.hpp"
#include "common/temp_file.hpp"

namespace ferry::worker {

bool SpilledBody::append(std::string_view piece, std::size_t in_memory) {
  size += piece.size();
  if (!file && memory.size() + piece.size() <= in_memory) {
    memory.append(piece);
    return true;
  }
  if (!file) {
    file.reset(open_unlinked_temp_file());
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
