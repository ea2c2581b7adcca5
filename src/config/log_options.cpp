#include "config/log_options.hpp"

#include <array>
#include <charconv>
#include <fmt/format.h>

namespace ferry::config {
namespace {

std::uint64_t amount(std::string_view key, std::string_view value, const Location& where, std::string_view unit) {
  std::uint64_t result = 0;
  const auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), result);
  if (value.empty() || ec != std::errc() || ptr != value.data() + value.size()) {
    throw ConfigError(where, fmt::format("{} expects a whole number of {}, got '{}'", key, unit, value));
  }
  return result;
}

// log-encoder / log-req-encoder: ferry has the json encoder (typed fields, no template)
// and accepts uWSGI's nl, since every line ends in a newline anyway.
bool encoder(std::string_view key, std::string_view value, const Location& where) {
  if (value == "nl") return false;
  if (value == "json") return true;
  if (value.starts_with("json ") || value.starts_with("json:")) {
    throw ConfigError(where, fmt::format("{} = {}: ferry's json encoder takes no template or logger name: it writes "
                                         "each field typed; write '{} = json'",
                                         key, value, key));
  }
  throw ConfigError(
      where,
      fmt::format("{} = {}: ferry has the 'json' encoder only (and accepts 'nl'); write '{} = json'", key, value, key));
}

constexpr std::array kLogOptions{
    Option{"log-format", "logformat", OptionKind::text, "FORMAT",
           "the request line as uWSGI's logformat, e.g. %(addr) \"%(method) %(uri)\" %(status) %(msecs)",
           [](Config& c, std::string_view v, const Location& w, Warnings&) {
             c.request_log.format = compile_log_format(v, w);
           }},
    Option{"logformat-strftime", "log-format-strftime", OptionKind::flag, "",
           "expand strftime codes (%Y, %H...) in log-format's text with the request's start time",
           [](Config& c, std::string_view v, const Location& w, Warnings&) {
             c.request_log.format_strftime = parse_bool("logformat-strftime", v, w);
           }},
    Option{"log-date", "logdate", OptionKind::flag, "[STRFTIME]",
           "prefix each request line with the date, or with a strftime format (log-date = %Y-%m-%dT%H:%M:%S)",
           [](Config& c, std::string_view v, const Location&, Warnings&) {
             for (std::string_view word : {"", "true", "1", "on", "yes"}) {
               if (v == word) return void(c.request_log.date = std::string());
             }
             for (std::string_view word : {"false", "0", "off", "no"}) {
               if (v == word) return void(c.request_log.date.reset());
             }
             c.request_log.date = std::string(v);
           }},
    Option{"log-x-forwarded-for", "", OptionKind::flag, "",
           "log the first X-Forwarded-For address as the client's (%(addr) and the default line)",
           [](Config& c, std::string_view v, const Location& w, Warnings&) {
             c.request_log.x_forwarded_for = parse_bool("log-x-forwarded-for", v, w);
           }},
    Option{"log-req-encoder", "", OptionKind::list, "json", "write each request line as one JSON object, typed fields",
           [](Config& c, std::string_view v, const Location& w, Warnings&) {
             c.request_log.json = encoder("log-req-encoder", v, w) || c.request_log.json;
           }},
    Option{"log-encoder", "", OptionKind::list, "json",
           "write every other log line (ferry's own, the app's output) as a JSON object",
           [](Config& c, std::string_view v, const Location& w, Warnings&) {
             c.request_log.json_other = encoder("log-encoder", v, w) || c.request_log.json_other;
           }},
    Option{"req-logger", "logger-req", OptionKind::text, "file:PATH",
           "write the request lines to PATH, everything else stays in the main log",
           [](Config& c, std::string_view v, const Location& w, Warnings&) {
             if (!v.starts_with("file:") || v.size() == 5) {
               throw ConfigError(w, fmt::format("req-logger = {}: ferry's request logger writes to a file; use "
                                                "'req-logger = file:/path/to/requests.log'",
                                                v));
             }
             c.request_log.file = std::string(v.substr(5));
           }},
    Option{"log-slow", "", OptionKind::number, "MS", "with disable-logging, still log requests slower than MS",
           [](Config& c, std::string_view v, const Location& w, Warnings&) {
             c.request_log.slow_ms = amount("log-slow", v, w, "milliseconds");
           }},
    Option{"log-big", "", OptionKind::number, "BYTES", "with disable-logging, still log responses bigger than BYTES",
           [](Config& c, std::string_view v, const Location& w, Warnings&) {
             c.request_log.big_bytes = amount("log-big", v, w, "bytes");
           }},
    Option{"log-4xx", "", OptionKind::flag, "", "with disable-logging, still log 4xx responses",
           [](Config& c, std::string_view v, const Location& w, Warnings&) {
             c.request_log.log_4xx = parse_bool("log-4xx", v, w);
           }},
    Option{"log-5xx", "", OptionKind::flag, "", "with disable-logging, still log 5xx responses",
           [](Config& c, std::string_view v, const Location& w, Warnings&) {
             c.request_log.log_5xx = parse_bool("log-5xx", v, w);
           }},
    Option{"log-maxsize", "", OptionKind::number, "BYTES", "rotate the log file when it would pass BYTES",
           [](Config& c, std::string_view v, const Location& w, Warnings&) {
             c.log_maxsize = static_cast<std::uint64_t>(parse_number("log-maxsize", v, w, 0, 1L << 50));
             if (c.log_maxsize > 0 && c.log_maxsize < 1024) {
               throw ConfigError(w, fmt::format("log-maxsize = {} is too small; use at least 1024 bytes", v));
             }
           }},
    Option{"log-backupname", "", OptionKind::text, "PATH",
           "with log-maxsize: the rotated log's name (replaced each time)",
           [](Config& c, std::string_view v, const Location& w, Warnings&) {
             c.log_backupname = parse_text("log-backupname", v, w);
           }},
    Option{"log-reopen", "", OptionKind::flag, "", "reopen the log file after each reload",
           [](Config& c, std::string_view v, const Location& w, Warnings&) {
             c.log_reopen = parse_bool("log-reopen", v, w);
           }},
    Option{"touch-logreopen", "", OptionKind::list, "FILE", "reopen the log file when FILE's mtime changes",
           [](Config& c, std::string_view v, const Location& w, Warnings&) {
             c.touch_logreopen.push_back(parse_text("touch-logreopen", v, w));
           }},
};

}  // namespace

std::span<const Option> log_options() { return kLogOptions; }

bool is_log_template(std::string_view key) {
  for (std::string_view name : {"log-format", "logformat", "log-date", "logdate"}) {
    if (key == name || (key.starts_with("--") && key.substr(2) == name)) return true;
  }
  return false;
}

std::string log_template(std::string_view raw) {
  std::string out;
  for (std::size_t i = 0; i < raw.size(); ++i) {
    out += raw[i];
    if (raw[i] == '%' && i + 1 < raw.size() && raw[i + 1] == '%') ++i;
  }
  return out;
}

}  // namespace ferry::config
