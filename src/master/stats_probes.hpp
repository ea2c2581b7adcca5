#pragma once

// What the stats read from the kernel: a process's memory (/proc/PID/statm) and how many
// connections wait in a listening socket's accept queue. Syscalls only; the master calls
// them when a stats client connects, never on a worker's request path.

#include <sys/types.h>

#include <cstdint>
#include <optional>

#include "master/listeners.hpp"

namespace ferry::master {

struct Memory {
  std::uint64_t rss = 0;  // bytes resident
  std::uint64_t vsz = 0;  // bytes of address space
};
std::optional<Memory> process_memory(pid_t pid);

struct ListenQueue {
  std::uint64_t queue = 0;      // connections the kernel completed that nobody accepted yet
  std::uint64_t max_queue = 0;  // the backlog it was listened with (as the kernel capped it)
};
// TCP: TCP_INFO on the listening socket (tcpi_unacked is the accept queue's length there,
// tcpi_sacked the backlog). Unix: sock_diag (NETLINK_SOCK_DIAG, UNIX_DIAG_RQLEN), asked
// for this socket's inode. nullopt if the kernel would not say.
std::optional<ListenQueue> listen_queue(const Listener& listener);

}  // namespace ferry::master
