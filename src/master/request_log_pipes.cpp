#include "master/request_log_pipes.hpp"

#include <fcntl.h>
#include <unistd.h>

#include "master/daemon.hpp"

namespace ferry::master {
namespace {

std::unique_ptr<LogFile> open_file(const std::string& path, UniqueFd& fd) {
  if (path.empty()) return nullptr;
  fd = open_log(path);
  return std::make_unique<LogFile>(fd.get(), path);
}

}  // namespace

RequestLogPipes::RequestLogPipes(asio::io_context& io, const config::RequestLogShape& shape, LogFile& main_log,
                                 LogRotation rotation)
    : path_(shape.file),
      json_other_(shape.json_other),
      own_pipe_(shape.own_pipe()),
      file_(open_file(path_, fd_)),
      collector_(io, file_ ? *file_ : main_log) {
  if (file_) file_->set_rotation(std::move(rotation));
  if (shape.json_other && !shape.json) collector_.encode_as_json();  // every line of the log an object
}

RequestLogPipes::Reopened RequestLogPipes::reopen() {
  if (!file_) return {};
  collector_.flush();  // what was written before the signal goes to the old file
  return {path_, file_->reopen()};
}

}  // namespace ferry::master
