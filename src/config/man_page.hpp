#pragma once

// The manual page ferry(1), written from the option table (config/options.hpp) so that it
// lists exactly the options ferry accepts: the build generates it (src/man_page_main.cpp),
// nobody edits it by hand.

#include <string>
#include <string_view>

namespace ferry::config {

// The whole page in roff (man macros), for ferry version `version`.
std::string man_page(std::string_view version);

// `text` with roff's special characters escaped: backslashes, hyphens (as \-, so that
// "--socket" stays copy-pasteable) and a leading '.' or '\'' that would start a request.
std::string roff_escape(std::string_view text);

}  // namespace ferry::config
