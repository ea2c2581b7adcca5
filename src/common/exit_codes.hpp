#pragma once

// Process exit codes, documented in README.md. Distinct codes let systemd units, container
// runtimes and scripts tell "fix your config" from "fix your app" without reading the log.
namespace ferry {

inline constexpr int kExitOk = 0;
// The client `ferry --ping`: no pong (nothing listening, no answer in time, a wrong answer).
// 1, as uWSGI's --ping exits and as Docker's HEALTHCHECK means "unhealthy"; the server
// itself never exits with it.
inline constexpr int kExitPingFailed = 1;
inline constexpr int kExitConfig = 2;   // bad ini line, unknown option, bad value, bad flag
inline constexpr int kExitStartup = 3;  // cannot bind, pidfile held by a live ferry, no log file
inline constexpr int kExitAppLoad = 4;  // the WSGI app failed to import or is not callable
// A worker that ended itself because a request overran harakiri (never the master's code).
inline constexpr int kExitHarakiri = 5;
// A worker could not get ready for a reason other than the app itself: chdir failed, the
// stack dumps harakiri needs could not be set up, limit-as is below what the loaded app
// already uses, a static-map directory is unusable. The master stops with it too when no
// worker ever got ready.
inline constexpr int kExitWorkerBoot = 6;

}  // namespace ferry
