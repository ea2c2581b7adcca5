#include "master/handover.hpp"

#include <algorithm>
#include <charconv>
#include <fmt/format.h>

namespace ferry::master {
namespace {

// Space-separated `key=value` fields; lists repeat their key. Values are numbers joined
// by ',', except a socket's address, hex-encoded last: a Unix path may hold any byte.
constexpr std::string_view kVersion = "ferry-handover-1";

std::string hex(std::string_view text) {
  std::string out;
  for (unsigned char c : text) out += fmt::format("{:02x}", c);
  return out;
}

std::optional<std::string> unhex(std::string_view text) {
  if (text.size() % 2 != 0) return std::nullopt;
  std::string out;
  for (std::size_t i = 0; i < text.size(); i += 2) {
    unsigned value = 0;
    const auto [end, ec] = std::from_chars(text.data() + i, text.data() + i + 2, value, 16);
    if (ec != std::errc() || end != text.data() + i + 2) return std::nullopt;
    out += static_cast<char>(value);
  }
  return out;
}

// Splits "a,b,c" into exactly `count` fields.
std::optional<std::vector<std::string_view>> fields(std::string_view text, std::size_t count) {
  std::vector<std::string_view> out;
  while (out.size() + 1 < count) {
    const auto comma = text.find(',');
    if (comma == std::string_view::npos) return std::nullopt;
    out.push_back(text.substr(0, comma));
    text.remove_prefix(comma + 1);
  }
  if (text.find(',') != std::string_view::npos) return std::nullopt;
  out.push_back(text);
  return out;
}

template <typename Number>
bool number(std::string_view text, Number& out) {
  if (text.empty()) return false;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size();
}

}  // namespace

std::string Handover::encode() const {
  std::string out = fmt::format("{} pid={} chain={} generation={} events={},{} counters={}", kVersion, pid,
                                chain ? 1 : 0, generation, events_read, events_write, counters_fd);
  for (const auto& s : sockets) {
    const int flags = (s.http ? 1 : 0) | (s.activated ? 2 : 0);
    out += fmt::format(" socket={},{},{},{},{}", s.fd, static_cast<unsigned long long>(s.device),
                       static_cast<unsigned long long>(s.inode), flags, hex(s.address));
  }
  for (const auto& w : workers) {
    out += fmt::format(" worker={},{},{},{},{},{},{}", w.pid, w.slot, w.generation, w.output_fd, w.counter_slot,
                       w.retiring ? 1 : 0, w.started_ns);
  }
  for (const auto& w : workers) {  // a key of its own: a handover without any reads as before
    if (w.request_fd >= 0) out += fmt::format(" request_pipe={},{}", w.pid, w.request_fd);
  }
  return out;
}

std::optional<Handover> Handover::decode(std::string_view text) {
  Handover h;
  bool versioned = false, have_pid = false, have_events = false, have_counters = false;
  while (!text.empty()) {
    const auto space = text.find(' ');
    const std::string_view token = text.substr(0, space);
    text.remove_prefix(space == std::string_view::npos ? text.size() : space + 1);
    if (!versioned) {
      if (token != kVersion) return std::nullopt;
      versioned = true;
      continue;
    }
    const auto eq = token.find('=');
    if (eq == std::string_view::npos) return std::nullopt;
    const std::string_view key = token.substr(0, eq), value = token.substr(eq + 1);
    if (key == "pid") {
      if (!number(value, h.pid)) return std::nullopt;
      have_pid = true;
    } else if (key == "chain") {
      int chain = 0;
      if (!number(value, chain) || chain > 1) return std::nullopt;
      h.chain = chain == 1;
    } else if (key == "generation") {
      if (!number(value, h.generation)) return std::nullopt;
    } else if (key == "events") {
      const auto f = fields(value, 2);
      if (!f || !number((*f)[0], h.events_read) || !number((*f)[1], h.events_write)) return std::nullopt;
      have_events = true;
    } else if (key == "counters") {
      if (!number(value, h.counters_fd)) return std::nullopt;
      have_counters = true;
    } else if (key == "socket") {
      const auto f = fields(value, 5);
      Socket s;
      unsigned long long device = 0, inode = 0;
      int flags = 0;  // 1: http, 2: activated (a master of before the flag writes 0 or 1)
      if (!f || !number((*f)[0], s.fd) || !number((*f)[1], device) || !number((*f)[2], inode) ||
          !number((*f)[3], flags) || flags < 0 || flags > 3) {
        return std::nullopt;
      }
      s.http = (flags & 1) != 0;
      s.activated = (flags & 2) != 0;
      auto address = unhex((*f)[4]);
      if (!address || address->empty()) return std::nullopt;
      s.device = static_cast<dev_t>(device);
      s.inode = static_cast<ino_t>(inode);
      s.address = std::move(*address);
      h.sockets.push_back(std::move(s));
    } else if (key == "worker") {
      const auto f = fields(value, 7);
      Worker w;
      int retiring = 0;
      if (!f || !number((*f)[0], w.pid) || !number((*f)[1], w.slot) || !number((*f)[2], w.generation) ||
          !number((*f)[3], w.output_fd) || !number((*f)[4], w.counter_slot) || !number((*f)[5], retiring) ||
          retiring > 1 || !number((*f)[6], w.started_ns)) {
        return std::nullopt;
      }
      w.retiring = retiring == 1;
      h.workers.push_back(w);
    } else if (key == "request_pipe") {
      const auto f = fields(value, 2);
      pid_t pid = 0;
      int fd = -1;
      if (!f || !number((*f)[0], pid) || !number((*f)[1], fd)) return std::nullopt;
      auto w = std::find_if(h.workers.begin(), h.workers.end(), [pid](const Worker& x) { return x.pid == pid; });
      if (w == h.workers.end()) return std::nullopt;
      w->request_fd = fd;
    } else {
      return std::nullopt;
    }
  }
  if (!versioned || !have_pid || !have_events || !have_counters || h.sockets.empty()) return std::nullopt;
  return h;
}

}  // namespace ferry::master
