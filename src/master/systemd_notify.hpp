#pragma once

// systemd's readiness protocol (sd_notify(3)): datagrams such as "READY=1" sent to the
// Unix socket named by $NOTIFY_SOCKET. Written out rather than linked from libsystemd:
// it is one sendto(), and containers without systemd need no extra library.

#include <string>
#include <string_view>

#include "common/unique_fd.hpp"

namespace ferry::master {

class SystemdNotifier {
 public:
  // Reads $NOTIFY_SOCKET; without it every send() does nothing.
  SystemdNotifier();
  bool enabled() const { return static_cast<bool>(fd_); }
  // One datagram of newline-separated assignments, e.g. "READY=1\nSTATUS=serving".
  void send(std::string_view state) const;
  // RELOADING=1 with the MONOTONIC_USEC systemd wants with it (Type=notify-reload).
  void send_reloading() const;
  // Puts $NOTIFY_SOCKET back, for the master ferry re-executes as (preload reload); the
  // variable was taken out so workers do not inherit it.
  void restore_environment() const;

 private:
  UniqueFd fd_;
  std::string variable_;  // $NOTIFY_SOCKET as it was
  std::string address_;   // a path, or "\0name" for the abstract namespace ('@name')
};

}  // namespace ferry::master
