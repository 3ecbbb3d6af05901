#pragma once
// Access log: one JSON line per request, e.g.
//   {"time":"2026-11-28T03:16:48.123Z","remote":"127.0.0.1","method":"GET","target":"/x",
//    "route":"/x","status":200,"bytes":123,"duration_us":456,"user_agent":"curl/7.88.1"}
//
// Kept off the request path's critical section: each runtime thread appends to its own
// buffer (no lock) and writes it with one write(2) when it passes 32 KiB or when flush()
// runs (the server flushes every second and on drain). Lines from other threads (not runtime
// workers) go through a mutex-guarded buffer. The file is opened O_APPEND, so lines from
// different threads and processes never interleave within a line.
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>
#include "core/thread_annotations.h"

namespace tenx::http {

class AccessLog {
 public:
  // path: a file (appended to), "stdout" or "stderr". Throws std::runtime_error if the file
  // cannot be opened.
  AccessLog(const std::string& path, std::size_t threads);
  ~AccessLog();
  AccessLog(const AccessLog&) = delete;
  AccessLog& operator=(const AccessLog&) = delete;

  // Appends one line (without the newline) for the calling thread.
  void write(std::string_view line);
  // Writes the calling thread's buffer (or every buffer, from a non-worker thread when the
  // workers have stopped).
  void flush_local();
  void flush_all();

 private:
  void write_out(std::string& buf);
  int fd_;
  bool owns_fd_;
  std::vector<std::string> per_thread_;
  core::Mutex other_mu_;
  std::string other_ GUARDED_BY(other_mu_);
};

}  // namespace tenx::http
