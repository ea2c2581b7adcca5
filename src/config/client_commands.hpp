#pragma once

// The sub-commands src/main.cpp handles before reading any option. Its --help and the
// manual page (config/man_page.cpp) both list them from here.

#include <array>
#include <string_view>

namespace ferry::config {

struct ClientCommand {
  std::string_view usage;
  std::string_view help;
};

inline constexpr std::array kClientCommands{
    ClientCommand{"--stop PIDFILE", "stop the ferry whose pidfile this is (SIGTERM: a graceful stop)"},
    ClientCommand{"--reload PIDFILE", "reload it gracefully (SIGHUP)"},
    ClientCommand{"--chain-reload PIDFILE", "replace its workers one at a time (SIGUSR2)"},
    ClientCommand{"--ping SOCKET [--ping-timeout SECONDS]",
                  "exit 0 if a worker answers a uwsgi ping within SECONDS (default 3)"},
    ClientCommand{"--version", "print the version"},
    ClientCommand{"--help", "print the options, one line each"},
};

}  // namespace ferry::config
