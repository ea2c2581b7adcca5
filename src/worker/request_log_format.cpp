#include "worker/request_log_format.hpp"

#include <fmt/format.h>

#include "common/json_text.hpp"
#include "common/logging.hpp"

namespace ferry::worker {
namespace {

using config::LogVar;

// The fields of a JSON line without log-format.
constexpr std::string_view kDefaultJsonFields =
    "%(time)%(addr)%(user)%(method)%(uri)%(proto)%(host)%(status)%(size)%(rsize)%(hsize)%(headers)%(cl)"
    "%(msecs)%(micros)%(referer)%(uagent)%(pid)%(wid)%(core)";

std::string_view var_value(const RequestLogEntry& e, std::string_view name) {
  for (const auto& var : e.vars) {
    if (var.key == name) return var.value;
  }
  return {};
}

std::string_view client_text(const RequestLogEntry& e, const config::LogPiece& piece) {
  const auto& f = *e.facts;
  switch (piece.var) {
    case LogVar::addr: return e.client();
    case LogVar::user: return f.remote_user;
    case LogVar::method: return f.method;
    case LogVar::uri: return f.uri;
    case LogVar::proto: return f.protocol;
    case LogVar::host: return var_value(e, "HTTP_HOST");
    case LogVar::uagent: return var_value(e, "HTTP_USER_AGENT");
    case LogVar::referer: return var_value(e, "HTTP_REFERER");
    case LogVar::var: return var_value(e, piece.text);
    default: return {};
  }
}

std::uint64_t number(const RequestLogEntry& e, LogVar var, MemoryFigures memory) {
  switch (var) {
    case LogVar::status: return static_cast<std::uint64_t>(e.status);
    case LogVar::size: return e.body_bytes + e.header_bytes;
    case LogVar::rsize: return e.body_bytes;
    case LogVar::hsize: return e.header_bytes;
    case LogVar::headers: return e.header_count;
    case LogVar::cl: return e.content_length;
    case LogVar::msecs: return e.msecs;
    case LogVar::micros: return e.micros;
    case LogVar::time: return static_cast<std::uint64_t>(e.started);
    case LogVar::epoch: return static_cast<std::uint64_t>(e.now);
    case LogVar::pid: return static_cast<std::uint64_t>(e.pid);
    case LogVar::wid: return static_cast<std::uint64_t>(e.worker_id);
    case LogVar::core: return static_cast<std::uint64_t>(e.core);
    case LogVar::rss: return memory.rss;
    case LogVar::vsz: return memory.vsz;
    case LogVar::rssM: return memory.rss / (1024 * 1024);
    case LogVar::vszM: return memory.vsz / (1024 * 1024);
    case LogVar::vars: return e.var_count;
    case LogVar::pktsize: return e.vars_bytes;
    default: return 0;
  }
}

// strftime into `out` for the local time `when`, without allocating once `out` has room.
void append_strftime(std::string& out, const char* format, std::time_t when) {
  std::tm local{};
  localtime_r(&when, &local);
  const std::size_t start = out.size();
  for (std::size_t room = 64;; room *= 4) {
    out.resize(start + room);
    const std::size_t n = std::strftime(out.data() + start, room, format, &local);
    if (n > 0 || room > 64 * 1024) {
      out.resize(start + n);
      return;
    }
  }
}

// A date variable: its text (ctime, ltime) in `out`.
void append_date(std::string& out, LogVar var, std::time_t when) {
  append_strftime(out, var == LogVar::ltime ? "%d/%b/%Y:%H:%M:%S %z" : "%a %b %e %H:%M:%S %Y", when);
}

void append_secs(std::string& out, std::uint64_t micros) {
  fmt::format_to(std::back_inserter(out), "{}.{:06}", micros / 1000000, micros % 1000000);
}

}  // namespace

std::string_view forwarded_client(std::string_view header) {
  const auto comma = header.find(',');
  auto first = header.substr(0, comma);
  while (!first.empty() && (first.front() == ' ' || first.front() == '\t')) first.remove_prefix(1);
  while (!first.empty() && (first.back() == ' ' || first.back() == '\t')) first.remove_suffix(1);
  return first;
}

bool kept_by_filters(const config::RequestLogShape& shape, std::uint64_t msecs, int status, std::uint64_t body_bytes) {
  return (shape.slow_ms && msecs >= *shape.slow_ms) || (shape.log_4xx && status >= 400 && status <= 499) ||
         (shape.log_5xx && status >= 500 && status <= 599) || (shape.big_bytes && body_bytes >= *shape.big_bytes);
}

RequestLogFormatter::RequestLogFormatter(const config::RequestLogShape& shape)
    : shape_(shape), json_fields_(shape.format ? *shape.format : config::compile_log_format(kDefaultJsonFields, {})) {}

bool RequestLogFormatter::needs_memory() const {
  return (shape_.format && shape_.format->uses_memory) || (shape_.json && json_fields_.uses_memory);
}

void RequestLogFormatter::append(std::string& out, const RequestLogEntry& entry, MemoryFigures memory) const {
  if (shape_.json) return append_json(out, entry, memory);
  if (shape_.date) {
    if (shape_.date->empty()) {
      append_date(out, LogVar::ctime, entry.now);
      out += " - ";
    } else {
      append_strftime(out, shape_.date->c_str(), entry.now);
    }
  }
  if (!shape_.format) return format_request_line(out, entry);
  append_text(out, entry, memory);
  out += '\n';
}

void RequestLogFormatter::append_text(std::string& out, const RequestLogEntry& e, MemoryFigures memory) const {
  auto sink = std::back_inserter(out);
  for (const auto& piece : shape_.format->pieces) {
    switch (piece.var) {
      case LogVar::literal:
        if (shape_.format_strftime && piece.has_percent) {
          append_strftime(out, piece.text.c_str(), e.started);
        } else {
          out += piece.text;
        }
        break;
      case LogVar::ctime:
      case LogVar::ltime: append_date(out, piece.var, e.started); break;
      case LogVar::secs: append_secs(out, e.micros); break;
      default:
        if (config::log_var_from_client(piece.var)) {
          fmt::format_to(sink, "{}", LogSafe{client_text(e, piece)});
        } else {
          fmt::format_to(sink, "{}", number(e, piece.var, memory));
        }
    }
  }
}

void RequestLogFormatter::append_json(std::string& out, const RequestLogEntry& e, MemoryFigures memory) const {
  auto sink = std::back_inserter(out);
  char separator = '{';
  for (const auto& piece : json_fields_.pieces) {
    if (piece.var == LogVar::literal) continue;
    out += separator;
    separator = ',';
    out += '"';
    out += config::log_var_name(piece.var);
    if (piece.var == LogVar::var) {
      out += '.';
      append_json_text(out, piece.text);
    }
    out += "\":";
    switch (piece.var) {
      case LogVar::ctime:
      case LogVar::ltime:
        out += '"';
        append_date(out, piece.var, e.started);
        out += '"';
        break;
      case LogVar::secs: append_secs(out, e.micros); break;
      default:
        if (config::log_var_from_client(piece.var)) {
          append_json_string(out, client_text(e, piece));
        } else {
          fmt::format_to(sink, "{}", number(e, piece.var, memory));
        }
    }
  }
  out += separator == '{' ? "{}\n" : "}\n";
}

}  // namespace ferry::worker
