// ferry-man-page: prints ferry(1) in roff; the build runs it to make ferry.1 (meson.build).

#include <cstdio>

#include "config/man_page.hpp"
#include "ferry_build_config.hpp"

int main() {
  const auto page = ferry::config::man_page(FERRY_VERSION);
  return std::fwrite(page.data(), 1, page.size(), stdout) == page.size() && std::fflush(stdout) == 0 ? 0 : 1;
}
