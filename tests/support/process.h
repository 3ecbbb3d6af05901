#pragma once
// Child processes for the end-to-end tests: the tenx binary under test (TenxProcess) and
// one-shot commands run to completion (run_command), plus temporary files for configs.
//
// TenxProcess forks and execs the binary with stdout on a pipe (the test reads the
// "tenx gateway listening on http://127.0.0.1:PORT" line from it) and stderr in a temporary
// file (read back for log lines). It owns the child: the destructor kills (SIGKILL) and reaps
// it if it still runs, so a failing test never leaves a server behind. Every wait has a
// timeout, so a hung child fails the test instead of hanging it.
//
// Not thread-safe: the test thread that created a TenxProcess is the only one that uses it.
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tenx::e2e {

using namespace std::chrono_literals;

// The binary under test and the checked-in test configs (tests/configs/<name>).
std::string tenx_binary();
std::string test_config(std::string_view name);

// Arguments for `tenx gateway --config CONFIG --listen 127.0.0.1:0 EXTRA...`.
std::vector<std::string> gateway_args(const std::string& config,
                                      std::vector<std::string> extra = {});

class TenxProcess {
 public:
  // Starts `tenx ARGS...` (ARGS without the binary name).
  explicit TenxProcess(std::vector<std::string> args);
  ~TenxProcess();
  TenxProcess(const TenxProcess&) = delete;
  TenxProcess& operator=(const TenxProcess&) = delete;

  // Waits for the first stdout line and returns the port it names, or nullopt when the line
  // does not come within `timeout`, the process exits first, or the line is not the
  // "tenx gateway|app listening on" line (listening_line() then holds what came).
  std::optional<std::uint16_t> wait_listening(std::chrono::milliseconds timeout = 10s);
  const std::string& listening_line() const { return first_line_; }

  // Waits until stdout holds `needle` (for commands whose first line is not the listening
  // line, such as `tenx up`); false after `timeout` or at EOF without it.
  bool wait_for_stdout(std::string_view needle, std::chrono::milliseconds timeout = 10s);

  // Sends a signal; false if the process has already been reaped or kill() failed.
  bool signal(int sig);
  // Waits for the process to exit; its exit code (128 + signal number when killed by a
  // signal), or nullopt if it still runs after `timeout`.
  std::optional<int> wait_exit(std::chrono::milliseconds timeout);
  bool running();
  pid_t pid() const { return pid_; }

  // Everything written to stdout so far (reads what is available without blocking).
  std::string stdout_text();
  // Everything written to stderr so far (the log).
  std::string stderr_text() const;
  // Waits until stderr contains `needle` (`times` times); false after `timeout`. Woken by
  // the log file's writes, not by polling.
  bool wait_for_stderr(std::string_view needle, std::chrono::milliseconds timeout = 5s) const;
  bool wait_for_stderr_count(std::string_view needle, std::size_t times,
                             std::chrono::milliseconds timeout) const;

 private:
  bool read_stdout(int timeout_ms);

  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  std::string stderr_path_;
  std::string stdout_;
  std::string first_line_;
  std::optional<int> exit_code_;
};

struct CommandResult {
  int exit_code = -1;  // 128 + signal number when killed by a signal
  std::string out;
  std::string err;
  bool timed_out = false;
};

// Runs argv[0] (a path, or a name looked up in PATH) to completion with `input` on stdin,
// capturing stdout and stderr; kills it after `timeout`.
CommandResult run_command(const std::vector<std::string>& argv, std::string_view input = {},
                          std::chrono::milliseconds timeout = 30s);
// run_command with the tenx binary prepended.
CommandResult run_tenx(std::vector<std::string> args, std::chrono::milliseconds timeout = 30s);

// A file under /tmp with the given contents, removed by the destructor.
class TempFile {
 public:
  explicit TempFile(std::string_view contents, std::string_view suffix = ".toml");
  ~TempFile();
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  const std::string& path() const { return path_; }
  // Replaces the contents (atomically, by rename, so a reader never sees half a file).
  void write(std::string_view contents);

 private:
  std::string path_;
};

// The contents of a file ("" if it cannot be read).
std::string read_file(const std::string& path);

}  // namespace tenx::e2e
