#include "common/temp_file.hpp"

#include <fcntl.h>

#include <cstdlib>

namespace ferry {

const char* temp_directory() {
  const char* dir = std::getenv("TMPDIR");
  return dir && *dir ? dir : "/tmp";
}

int open_unlinked_temp_file() { return ::open(temp_directory(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600); }

}  // namespace ferry
