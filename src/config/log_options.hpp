#pragma once

// The request log's options (log-format, log-date, log-req-encoder, log-slow...), kept
// apart from the main table in options.cpp; options() lists both.

#include <span>
#include <string>
#include <string_view>

#include "config/options.hpp"

namespace ferry::config {

std::span<const Option> log_options();

// log-format and log-date (any spelling): their values are templates the request log
// fills in, so the ini reader leaves %(name) and %X alone and only turns uWSGI's %% into %.
bool is_log_template(std::string_view key);
std::string log_template(std::string_view raw);

}  // namespace ferry::config
