#pragma once

// Where a request body too large for memory goes: an unlinked temp file
// (common/temp_file.hpp, as post-buffering's in src/wsgi/input.cpp). A chunked body is
// read whole by the HTTP front (its length is unknown until its end): in memory up to a
// limit, then in such a file.

#include <cstdint>
#include <string>
#include <string_view>

#include "common/unique_fd.hpp"

namespace ferry::worker {

// A body read piece by piece: `memory` holds it until it would pass `in_memory` bytes,
// then it moves to `file`, which takes the rest.
struct SpilledBody {
  std::string memory;
  UniqueFd file;
  std::uint64_t size = 0;

  // false (errno set) when the temp file cannot be made or written.
  bool append(std::string_view piece, std::size_t in_memory);
  void clear();
};

}  // namespace ferry::worker
