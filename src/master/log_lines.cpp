#include "master/log_lines.hpp"

namespace ferry::master {

void LineJoiner::feed(std::string_view data, std::string& out) {
  const auto last_newline = data.rfind('\n');
  if (last_newline != std::string_view::npos) {
    // The common case under load: whole lines, written out without being copied line by line.
    out.append(partial_);
    partial_.clear();
    out.append(data.substr(0, last_newline + 1));
    data.remove_prefix(last_newline + 1);
  }
  while (partial_.size() + data.size() >= kMaxLine) {
    const std::size_t take = kMaxLine - partial_.size();
    out.append(partial_);
    out.append(data.substr(0, take));
    out.push_back('\n');
    partial_.clear();
    data.remove_prefix(take);
  }
  partial_.append(data);
}

void LineJoiner::finish(std::string& out) {
  if (partial_.empty()) return;
  out.append(partial_);
  out.push_back('\n');
  partial_.clear();
}

void RecentOutput::add(std::string_view lines) {
  bool cut = false;
  if (lines.size() >= limit_) {
    text_.clear();
    lines.remove_prefix(lines.size() - limit_);
    cut = true;
  } else if (text_.size() + lines.size() > limit_) {
    text_.erase(0, text_.size() + lines.size() - limit_);
    cut = true;
  }
  text_.append(lines);
  // A line whose start was cut off goes too, unless it is the only one.
  if (cut) {
    const auto newline = text_.find('\n');
    if (newline != std::string::npos && newline + 1 < text_.size()) text_.erase(0, newline + 1);
  }
}

}  // namespace ferry::master
