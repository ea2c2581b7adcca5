#pragma once

// The option table: every key ferry accepts, in ini files and as --flags, with its help
// line, plus the uWSGI options ferry knows about but does not take.

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"

namespace ferry::config {

enum class OptionKind { flag, number, text, list };

struct Option {
  std::string_view name;
  std::string_view aliases;  // space-separated other spellings
  OptionKind kind;
  std::string_view metavar;
  std::string_view help;
  void (*apply)(Config&, std::string_view value, const Location&, Warnings&);
};

std::span<const Option> options();
const Option* find_option(std::string_view name);

// A uWSGI option that has no meaning in ferry: accepted with a warning saying why.
// Returns the reason, or empty.
std::string_view meaningless_uwsgi_option(std::string_view name);

// A uWSGI option ferry does not implement (yet): refused with this explanation.
std::string_view unsupported_uwsgi_option(std::string_view name);

// The closest known option name to a typo, or empty.
std::string closest_option(std::string_view name);

// One line per option, for --help.
std::string options_help();

// The other spellings of an option that --help and ferry(1) show: its aliases, without the
// one-letter ones.
std::vector<std::string_view> long_aliases(const Option& option);

// "true"/"1"/"on"/"yes" and their opposites; anything else is an error naming `key`.
bool parse_bool(std::string_view key, std::string_view value, const Location& where);
// A value that must not be empty; a ConfigError "KEY needs a value" otherwise.
std::string parse_text(std::string_view key, std::string_view value, const Location& where);
// A whole number in [min, max]; a ConfigError naming the key, the value and the range.
long parse_number(std::string_view key, std::string_view value, const Location& where, long min, long max);

}  // namespace ferry::config
