#pragma once

// Worker -> master notifications over one shared pipe. Each record is written with a
// single write(2) of less than PIPE_BUF bytes, so records from different workers never mix.

#include <cstdint>
#include <sys/types.h>

namespace ferry::worker {

enum class EventKind : std::int32_t {
  ready = 1,   // the app is loaded; this worker accepts requests
  retire = 2,  // hit max-requests or a memory limit: start my replacement, then stop me
};

struct Event {
  std::int32_t pid;
  EventKind kind;
};

}  // namespace ferry::worker
