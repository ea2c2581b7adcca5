#pragma once

// The master's first log lines: what ferry is about to serve, and how.

#include <spdlog/logger.h>
#include <vector>

#include "config/config.hpp"
#include "master/handover.hpp"
#include "master/listeners.hpp"

namespace ferry::master {

// `handover`: set when this master was re-executed for a reload.
void log_banner(spdlog::logger& log, const config::Config& config, const std::vector<Listener>& listeners,
                const Handover* handover);

}  // namespace ferry::master
