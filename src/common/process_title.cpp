#include "common/process_title.hpp"

#include <sys/prctl.h>

#include <algorithm>
#include <cstring>
#include <string>

namespace ferry {
namespace {

char* g_area = nullptr;
std::size_t g_area_size = 0;

}  // namespace

void init_process_title(int argc, char** argv) {
  if (argc == 0) return;
  // The arguments are contiguous: the area runs from argv[0] to the end of the last one.
  g_area = argv[0];
  char* end = argv[argc - 1] + std::strlen(argv[argc - 1]);
  g_area_size = static_cast<std::size_t>(end - g_area);
}

void set_process_title(std::string_view title) {
  const std::string comm(title.substr(0, 15));
  ::prctl(PR_SET_NAME, comm.c_str(), 0, 0, 0);
  if (g_area == nullptr) return;
  const std::size_t n = std::min(title.size(), g_area_size);
  std::memcpy(g_area, title.data(), n);
  std::memset(g_area + n, 0, g_area_size - n + 1);
}

}  // namespace ferry
