#include "http/access_log.h"

#include "core/runtime.h"
#include "core/thread_annotations.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace tenx::http {
namespace {
constexpr std::size_t kFlushBytes = 32 * 1024;
}

AccessLog::AccessLog(const std::string& path, std::size_t threads) : per_thread_(threads) {
  if (path == "stdout") {
    fd_ = 1;
    owns_fd_ = false;
  } else if (path == "stderr") {
    fd_ = 2;
    owns_fd_ = false;
  } else {
    fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd_ < 0)
      throw std::runtime_error("cannot open access log '" + path + "': " + std::strerror(errno));
    owns_fd_ = true;
  }
  for (auto& b : per_thread_) b.reserve(kFlushBytes + 1024);
}

AccessLog::~AccessLog() {
  flush_all();
  if (owns_fd_) ::close(fd_);
}

void AccessLog::write_out(std::string& buf) {
  std::size_t off = 0;
  while (off < buf.size()) {
    const ssize_t n = ::write(fd_, buf.data() + off, buf.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      break;  // a full disk must not take the server down; the lines are dropped
    }
    off += static_cast<std::size_t>(n);
  }
  buf.clear();
}

void AccessLog::write(std::string_view line) {
  const auto i = core::Runtime::current_index();
  if (i < per_thread_.size()) {
    auto& b = per_thread_[i];
    b.append(line);
    b.push_back('\n');
    if (b.size() >= kFlushBytes) write_out(b);
    return;
  }
  core::MutexLock lock(other_mu_);
  other_.append(line);
  other_.push_back('\n');
  write_out(other_);
}

void AccessLog::flush_local() {
  const auto i = core::Runtime::current_index();
  if (i < per_thread_.size() && !per_thread_[i].empty()) write_out(per_thread_[i]);
}

void AccessLog::flush_all() {
  for (auto& b : per_thread_)
    if (!b.empty()) write_out(b);
  core::MutexLock lock(other_mu_);
  if (!other_.empty()) write_out(other_);
}

}  // namespace tenx::http
