#include "common/logging.hpp"

#include <unistd.h>

#include <cerrno>
#include <mutex>
#include <string>

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/base_sink.h>

namespace ferry {
namespace {

// One write per formatted line, so a line is never split between writers.
class LineSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  LineSink(std::function<void(std::string_view)> write, std::function<void()> before_each)
      : write_(std::move(write)), before_each_(std::move(before_each)) {}

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    if (before_each_) before_each_();
    spdlog::memory_buf_t formatted;
    formatter_->format(msg, formatted);
    write_(std::string_view(formatted.data(), formatted.size()));
  }
  void flush_() override {}

 private:
  std::function<void(std::string_view)> write_;
  std::function<void()> before_each_;
};

}  // namespace

std::shared_ptr<spdlog::logger> make_logger(const std::string& name, std::function<void(std::string_view)> write,
                                            std::function<void()> before_each) {
  auto logger =
      std::make_shared<spdlog::logger>(name, std::make_shared<LineSink>(std::move(write), std::move(before_each)));
  logger->set_pattern("%Y-%m-%d %H:%M:%S.%e %n[%P] %l: %v");
  logger->set_level(spdlog::level::info);
  return logger;
}

std::shared_ptr<spdlog::logger> make_fd_logger(const std::string& name, int fd, std::function<void()> before_each) {
  return make_logger(
      name, [fd](std::string_view line) { write_fully(fd, line); }, std::move(before_each));
}

bool write_fully(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

void write_line(int fd, std::string_view line) {
  std::string out;
  out.reserve(line.size() + 1);
  out.append(line);
  out.push_back('\n');
  write_fully(fd, out);
}

}  // namespace ferry
