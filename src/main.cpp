// ferry: argv -> Config -> the master, or a client sub-command (--stop, --reload, --ping).

#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "common/exit_codes.hpp"
#include "common/process_title.hpp"
#include "config/client_commands.hpp"
#include "config/environment.hpp"
#include "config/loader.hpp"
#include "config/options.hpp"
#include "ferry_build_config.hpp"
#include "master/master.hpp"
#include "master/pidfile.hpp"
#include "master/ping.hpp"
#include "master/startup_error.hpp"

namespace {

constexpr const char* kUsage =
    "usage: ferry FILE.ini [--option value ...]\n"
    "       ferry --socket /run/app.sock --module project.wsgi:application [--option value ...]\n"
    "       ferry --stop PIDFILE | --reload PIDFILE | --chain-reload PIDFILE\n"
    "       ferry --ping SOCKET [--ping-timeout SECONDS]\n"
    "\n"
    "Runs a WSGI app behind nginx (uwsgi_pass), reading uWSGI-style ini files.\n"
    "Every option works in the [uwsgi] section of an ini file as 'name = value' and on the\n"
    "command line as '--name value'; later ones override earlier ones. FERRY_<OPTION>\n"
    "environment variables (FERRY_PROCESSES=4) are read first, so both override them.\n"
    "\n"
    "options:\n";

int signal_pidfile(const std::string& path, int sig, const char* what) {
  const pid_t pid = ferry::master::read_pidfile(path);
  if (pid <= 0) {
    std::fprintf(stderr, "ferry: cannot read a pid from %s\n", path.c_str());
    return ferry::kExitStartup;
  }
  if (::kill(pid, sig) != 0) {
    std::perror(("ferry: " + std::string(what) + " pid " + std::to_string(pid)).c_str());
    return ferry::kExitStartup;
  }
  return ferry::kExitOk;
}

int ping(const std::vector<std::string>& args) {
  std::string error;
  const auto request = ferry::master::parse_ping_args(args, error);
  if (!request) {
    std::fprintf(stderr, "ferry: %s\n", error.c_str());
    return ferry::kExitConfig;
  }
  const auto outcome = ferry::master::ping(*request);
  if (!outcome.ok) {
    std::fprintf(stderr, "ferry: ping %s: %s\n", request->address.c_str(), outcome.reason.c_str());
    return ferry::kExitPingFailed;
  }
  std::printf("ferry: ping %s: pong\n", request->address.c_str());
  return ferry::kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);  // copied before titles overwrite argv
  std::vector<std::string> environment;
  for (char** entry = environ; *entry != nullptr; ++entry) environment.emplace_back(*entry);
  ferry::init_process_title(argc, argv);
  if (args.empty() && !ferry::config::has_environment_options(environment)) {
    std::fputs(kUsage, stderr);
    std::fputs("\nferry needs an ini file, options or FERRY_<OPTION> variables; see ferry --help\n", stderr);
    return ferry::kExitConfig;
  }
  const std::string first = args.empty() ? std::string() : args[0];  // none: FERRY_ variables alone
  if (first == "--help" || first == "-h") {
    std::printf("%s%s", kUsage, ferry::config::options_help().c_str());
    for (const auto& command : ferry::config::kClientCommands) {
      std::printf("  %-34.*s %.*s\n", static_cast<int>(command.usage.size()), command.usage.data(),
                  static_cast<int>(command.help.size()), command.help.data());
    }
    return ferry::kExitOk;
  }
  if (first == "--version") {
    std::printf("ferry %s (Python %s)\n", FERRY_VERSION, FERRY_PYTHON_VERSION);
    return ferry::kExitOk;
  }
  if (ferry::master::wants_ping(args)) return ping(args);
  if (args.size() == 2) {
    if (args[0] == "--stop") return signal_pidfile(args[1], SIGTERM, "stop");
    if (args[0] == "--reload") return signal_pidfile(args[1], SIGHUP, "reload");
    if (args[0] == "--chain-reload") return signal_pidfile(args[1], SIGUSR2, "chain-reload");
  }

  ferry::config::Loaded loaded;
  try {
    loaded = ferry::config::load(args, environment);
  } catch (const ferry::config::ConfigError& e) {
    std::fprintf(stderr, "ferry: configuration error: %s\n", e.what());
    return ferry::kExitConfig;
  }
  for (const auto& warning : loaded.warnings) std::fprintf(stderr, "ferry: warning: %s\n", warning.c_str());
  try {
    return ferry::master::run_master(std::move(loaded));
  } catch (const ferry::master::StartupError& e) {
    std::fprintf(stderr, "ferry: cannot start: %s\n", e.what());
    return ferry::kExitStartup;
  }
}
