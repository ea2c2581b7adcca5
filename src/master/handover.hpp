#pragma once

// What a master passes to the master it re-executes as. preload imports the app into the
// master, and Python cannot be unloaded, so a reload there is an exec of ferry itself
// that keeps the pid (the pidfile and systemd's MAINPID stay true) and hands over, as
// inherited descriptors named in one environment variable: the listening sockets (no
// connection is refused), the workers still serving (their log pipes, their request
// counters), and the event pipe. The new master imports the app afresh, starts its
// workers, and retires the handed-over ones once they are ready, as any reload does.
//
// Pure: encoding and decoding only; master.cpp does the exec and the adopting.

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ferry::master {

inline constexpr const char* kHandoverVariable = "FERRY_HANDOVER";

struct Handover {
  pid_t pid = 0;       // the process it is meant for: a child that inherits the variable ignores it
  bool chain = false;  // replace the handed-over workers one at a time
  int generation = 0;  // the generation serving when the old master re-executed
  int events_read = -1;
  int events_write = -1;
  int counters_fd = -1;  // a memfd holding worker::SharedCounters

  struct Socket {
    int fd = -1;
    dev_t device = 0;  // the Unix socket file's identity, for vacuum
    ino_t inode = 0;
    std::string address;
    bool http = false;
    bool activated = false;  // systemd's: see Listener::activated
  };
  std::vector<Socket> sockets;

  struct Worker {
    pid_t pid = 0;
    int slot = 0;
    int generation = 0;
    int output_fd = -1;  // the read end of its stdout/stderr pipe
    int counter_slot = 0;
    bool retiring = false;     // already asked to stop
    long long started_ns = 0;  // steady_clock (CLOCK_MONOTONIC, which exec keeps) at its start
    int request_fd = -1;       // the read end of its request-line pipe (request_log_pipes.hpp), if any
  };
  std::vector<Worker> workers;

  std::string encode() const;
  // nullopt if the text is not a handover this version wrote.
  static std::optional<Handover> decode(std::string_view text);
};

}  // namespace ferry::master
