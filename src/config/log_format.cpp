#include "config/log_format.hpp"

#include <array>
#include <utility>
#include <fmt/format.h>

namespace ferry::config {
namespace {

struct Named {
  std::string_view name;
  LogVar var;
};

constexpr std::array kVariables{
    Named{"addr", LogVar::addr},       Named{"user", LogVar::user},       Named{"method", LogVar::method},
    Named{"uri", LogVar::uri},         Named{"proto", LogVar::proto},     Named{"host", LogVar::host},
    Named{"uagent", LogVar::uagent},   Named{"referer", LogVar::referer}, Named{"status", LogVar::status},
    Named{"size", LogVar::size},       Named{"rsize", LogVar::rsize},     Named{"hsize", LogVar::hsize},
    Named{"headers", LogVar::headers}, Named{"cl", LogVar::cl},           Named{"msecs", LogVar::msecs},
    Named{"micros", LogVar::micros},   Named{"secs", LogVar::secs},       Named{"time", LogVar::time},
    Named{"epoch", LogVar::epoch},     Named{"ctime", LogVar::ctime},     Named{"ltime", LogVar::ltime},
    Named{"pid", LogVar::pid},         Named{"wid", LogVar::wid},         Named{"core", LogVar::core},
    Named{"rss", LogVar::rss},         Named{"vsz", LogVar::vsz},         Named{"rssM", LogVar::rssM},
    Named{"vszM", LogVar::vszM},       Named{"vars", LogVar::vars},       Named{"pktsize", LogVar::pktsize},
};

std::string known_names() {
  std::string out;
  for (const auto& named : kVariables) out += fmt::format("%({}) ", named.name);
  return out + "%(var.NAME)";
}

void add_literal(LogFormat& format, std::string_view text) {
  if (text.empty()) return;
  if (format.pieces.empty() || format.pieces.back().var != LogVar::literal) format.pieces.push_back(LogPiece{});
  auto& piece = format.pieces.back();
  piece.text += text;
  piece.has_percent = piece.text.find('%') != std::string::npos;
}

}  // namespace

LogFormat compile_log_format(std::string_view text, const Location& where) {
  if (text.empty()) throw ConfigError(where, "log-format needs a value, e.g. log-format = %(addr) %(method) %(uri)");
  LogFormat format;
  std::size_t at = 0;
  while (at < text.size()) {
    const auto start = text.find("%(", at);
    if (start == std::string_view::npos) break;
    const auto end = text.find(')', start + 2);
    if (end == std::string_view::npos) {
      throw ConfigError(where, fmt::format("log-format: '{}' has no closing ')'; write %(name)", text.substr(start)));
    }
    add_literal(format, text.substr(at, start - at));
    const auto name = text.substr(start + 2, end - start - 2);
    LogPiece piece;
    if (name.starts_with("var.") && name.size() > 4) {
      piece.var = LogVar::var;
      piece.text = name.substr(4);
    } else {
      for (const auto& named : kVariables) {
        if (named.name == name) piece.var = named.var;
      }
      if (piece.var == LogVar::literal) {
        throw ConfigError(where,
                          fmt::format("log-format: unknown variable %({}); ferry knows {}", name, known_names()));
      }
    }
    format.uses_memory = format.uses_memory || piece.var == LogVar::rss || piece.var == LogVar::vsz ||
                         piece.var == LogVar::rssM || piece.var == LogVar::vszM;
    format.pieces.push_back(std::move(piece));
    at = end + 1;
  }
  add_literal(format, text.substr(at));
  return format;
}

std::string_view log_var_name(LogVar var) {
  if (var == LogVar::var) return "var";
  for (const auto& named : kVariables) {
    if (named.var == var) return named.name;
  }
  return "";
}

bool log_var_from_client(LogVar var) {
  switch (var) {
    case LogVar::addr:
    case LogVar::user:
    case LogVar::method:
    case LogVar::uri:
    case LogVar::proto:
    case LogVar::host:
    case LogVar::uagent:
    case LogVar::referer:
    case LogVar::var: return true;
    default: return false;
  }
}

}  // namespace ferry::config
