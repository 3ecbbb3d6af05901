#include "support/process.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <system_error>
#include <thread>

namespace tenx::e2e {
namespace {

using clock_type = std::chrono::steady_clock;

// The first stdout line of `tenx gateway` and `tenx app`.
bool is_listening_line(std::string_view line) {
  return line.starts_with("tenx gateway listening on http://") ||
         line.starts_with("tenx app listening on http://");
}

[[noreturn]] void fail(const char* what) {
  throw std::system_error(errno, std::generic_category(), what);
}

// Writes to a child's stdin must not kill the test runner when the child exits first.
void ignore_sigpipe_once() {
  static std::once_flag once;
  std::call_once(once, [] { std::signal(SIGPIPE, SIG_IGN); });
}

int decode_status(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

int ms_left(clock_type::time_point deadline) {
  const auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock_type::now()).count();
  return left < 0 ? 0 : static_cast<int>(left);
}

// Runs in the forked child before exec: only async-signal-safe calls from here on.
[[noreturn]] void exec_child(char* const* argv, pid_t parent, int in_fd, int out_fd, int err_fd) {
  // Die with the test runner even if it is killed without running destructors.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) ::_exit(126);
  if (::dup2(in_fd, 0) < 0 || ::dup2(out_fd, 1) < 0 || ::dup2(err_fd, 2) < 0) ::_exit(126);
  // The runner ignores SIGPIPE and may block signals in some thread; the child starts clean.
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  ::sigaction(SIGPIPE, &dfl, nullptr);
  sigset_t none;
  ::sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  if (std::strchr(argv[0], '/'))
    ::execv(argv[0], argv);
  else
    ::execvp(argv[0], argv);
  ::_exit(127);
}

std::vector<char*> c_argv(std::vector<std::string>& args) {
  std::vector<char*> out;
  for (auto& a : args) out.push_back(a.data());
  out.push_back(nullptr);
  return out;
}

}  // namespace

// TENX_TEST_BINARY runs the suite against another build (e.g. the last release, to see a new
// test fail on the defect it was written for).
std::string tenx_binary() {
  const char* other = std::getenv("TENX_TEST_BINARY");
  return other && *other ? other : TENX_BINARY;
}

std::string test_config(std::string_view name) {
  return std::string(TENX_SOURCE_DIR) + "/tests/configs/" + std::string(name);
}

std::vector<std::string> gateway_args(const std::string& config, std::vector<std::string> extra) {
  std::vector<std::string> args = {"gateway", "--config", config, "--listen", "127.0.0.1:0"};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

// ---- TenxProcess ----

TenxProcess::TenxProcess(std::vector<std::string> args) {
  ignore_sigpipe_once();
  args.insert(args.begin(), tenx_binary());
  auto argv = c_argv(args);

  std::string err_name = "/tmp/tenx-e2e-stderr-" + std::string(6, 'X');  // mkostemp's template
  char* err_template = err_name.data();
  const int err_fd = ::mkostemp(err_template, O_CLOEXEC);
  if (err_fd < 0) fail("mkostemp");
  stderr_path_ = err_template;
  const int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  int out[2];
  if (null_fd < 0 || ::pipe2(out, O_CLOEXEC) != 0) fail("pipe2");

  const pid_t parent = ::getpid();
  pid_ = ::fork();
  if (pid_ < 0) fail("fork");
  if (pid_ == 0) exec_child(argv.data(), parent, null_fd, out[1], err_fd);
  ::close(out[1]);
  ::close(err_fd);
  ::close(null_fd);
  stdout_fd_ = out[0];
}

TenxProcess::~TenxProcess() {
  if (pid_ > 0 && !exit_code_) {
    ::kill(pid_, SIGKILL);
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
  }
  if (stdout_fd_ >= 0) ::close(stdout_fd_);
  if (!stderr_path_.empty()) ::unlink(stderr_path_.c_str());
}

// Reads what stdout has within timeout_ms (0: only what is there now); false at EOF.
bool TenxProcess::read_stdout(int timeout_ms) {
  if (stdout_fd_ < 0) return false;
  pollfd p{stdout_fd_, POLLIN, 0};
  int r;
  do {
    r = ::poll(&p, 1, timeout_ms);
  } while (r < 0 && errno == EINTR);
  if (r <= 0) return true;
  char buf[4096];
  ssize_t n;
  do {
    n = ::read(stdout_fd_, buf, sizeof buf);
  } while (n < 0 && errno == EINTR);
  if (n <= 0) {
    ::close(stdout_fd_);
    stdout_fd_ = -1;
    return false;
  }
  stdout_.append(buf, static_cast<std::size_t>(n));
  return true;
}

std::optional<std::uint16_t> TenxProcess::wait_listening(std::chrono::milliseconds timeout) {
  const auto deadline = clock_type::now() + timeout;
  std::size_t nl;
  while ((nl = stdout_.find('\n')) == std::string::npos) {
    if (clock_type::now() >= deadline) return std::nullopt;
    if (!read_stdout(ms_left(deadline))) break;  // EOF: the process exited or closed stdout
  }
  if (nl == std::string::npos) return std::nullopt;
  first_line_ = stdout_.substr(0, nl);
  if (!is_listening_line(first_line_)) return std::nullopt;
  const auto colon = first_line_.rfind(':');
  if (colon == std::string::npos) return std::nullopt;
  const std::string port = first_line_.substr(colon + 1);
  if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos)
    return std::nullopt;
  const unsigned long p = std::stoul(port);
  if (p == 0 || p > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(p);
}

bool TenxProcess::wait_for_stdout(std::string_view needle, std::chrono::milliseconds timeout) {
  const auto deadline = clock_type::now() + timeout;
  while (stdout_.find(needle) == std::string::npos) {
    if (clock_type::now() >= deadline) return false;
    if (!read_stdout(ms_left(deadline))) return stdout_.find(needle) != std::string::npos;
  }
  return true;
}

bool TenxProcess::signal(int sig) {
  if (pid_ <= 0 || exit_code_) return false;
  return ::kill(pid_, sig) == 0;
}

std::optional<int> TenxProcess::wait_exit(std::chrono::milliseconds timeout) {
  if (exit_code_) return exit_code_;
  if (pid_ <= 0) return std::nullopt;
  const auto deadline = clock_type::now() + timeout;
  for (;;) {
    int status = 0;
    const pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      exit_code_ = decode_status(status);
      return exit_code_;
    }
    if (r < 0 && errno != EINTR) return std::nullopt;
    if (clock_type::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(5ms);
  }
}

bool TenxProcess::running() { return pid_ > 0 && !wait_exit(0ms); }

std::string TenxProcess::stdout_text() {
  while (stdout_fd_ >= 0) {
    const auto before = stdout_.size();
    if (!read_stdout(0) || stdout_.size() == before) break;
  }
  return stdout_;
}

std::string TenxProcess::stderr_text() const { return read_file(stderr_path_); }

bool TenxProcess::wait_for_stderr(std::string_view needle,
                                  std::chrono::milliseconds timeout) const {
  return wait_for_stderr_count(needle, 1, timeout);
}

namespace {
std::size_t occurrences(std::string_view text, std::string_view needle) {
  std::size_t n = 0;
  for (auto at = text.find(needle); at != std::string_view::npos;
       at = text.find(needle, at + needle.size()))
    ++n;
  return n;
}
}  // namespace

// Woken by the kernel when the log file is written (inotify IN_MODIFY), not by polling.
bool TenxProcess::wait_for_stderr_count(std::string_view needle, std::size_t times,
                                        std::chrono::milliseconds timeout) const {
  const auto deadline = clock_type::now() + timeout;
  const int fd = ::inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "inotify_init1");
  struct Close {
    int fd;
    ~Close() { ::close(fd); }
  } closer{fd};
  if (::inotify_add_watch(fd, stderr_path_.c_str(), IN_MODIFY) < 0)
    throw std::system_error(errno, std::generic_category(), "inotify_add_watch " + stderr_path_);
  for (;;) {
    // Read after the watch is set: a write between the two still wakes the poll below.
    if (occurrences(stderr_text(), needle) >= times) return true;
    const int left = ms_left(deadline);
    if (left <= 0) return false;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, left) > 0) {
      char events[4096];
      while (::read(fd, events, sizeof events) > 0) {
      }
    }
  }
}

// ---- run_command ----

CommandResult run_command(const std::vector<std::string>& argv_in, std::string_view input,
                          std::chrono::milliseconds timeout) {
  ignore_sigpipe_once();
  auto args = argv_in;
  auto argv = c_argv(args);
  int in[2], out[2], err[2];
  if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0)
    fail("pipe2");
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) fail("fork");
  if (pid == 0) exec_child(argv.data(), parent, in[0], out[1], err[1]);
  ::close(in[0]);
  ::close(out[1]);
  ::close(err[1]);

  CommandResult result;
  const auto deadline = clock_type::now() + timeout;
  int in_fd = in[1];
  if (input.empty()) {
    ::close(in_fd);
    in_fd = -1;
  } else {
    ::fcntl(in_fd, F_SETFL, O_NONBLOCK);
  }
  int out_fd = out[0], err_fd = err[0];
  std::size_t written = 0;
  while (out_fd >= 0 || err_fd >= 0 || in_fd >= 0) {
    pollfd fds[3];
    int n = 0;
    if (in_fd >= 0) fds[n++] = {in_fd, POLLOUT, 0};
    if (out_fd >= 0) fds[n++] = {out_fd, POLLIN, 0};
    if (err_fd >= 0) fds[n++] = {err_fd, POLLIN, 0};
    const int r = ::poll(fds, n, ms_left(deadline));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      result.timed_out = true;
      break;
    }
    for (int i = 0; i < n; ++i) {
      if (!fds[i].revents) continue;
      if (fds[i].fd == in_fd) {
        const ssize_t w = ::write(in_fd, input.data() + written, input.size() - written);
        if (w > 0) written += static_cast<std::size_t>(w);
        if (w < 0 && errno != EAGAIN && errno != EINTR) written = input.size();  // reader gone
        if (written == input.size()) {
          ::close(in_fd);
          in_fd = -1;
        }
        continue;
      }
      char buf[8192];
      const ssize_t got = ::read(fds[i].fd, buf, sizeof buf);
      if (got < 0 && errno == EINTR) continue;
      std::string& sink = fds[i].fd == out_fd ? result.out : result.err;
      if (got > 0) {
        sink.append(buf, static_cast<std::size_t>(got));
      } else {
        ::close(fds[i].fd);
        (fds[i].fd == out_fd ? out_fd : err_fd) = -1;
      }
    }
  }
  for (int fd : {in_fd, out_fd, err_fd})
    if (fd >= 0) ::close(fd);
  if (result.timed_out) ::kill(pid, SIGKILL);
  int status = 0;
  // Output closed; the exit follows at once, unless it closed its outputs and kept running.
  for (;;) {
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    if (r < 0 && errno != EINTR) return result;
    if (clock_type::now() >= deadline) {
      result.timed_out = true;
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      break;
    }
    std::this_thread::sleep_for(2ms);
  }
  result.exit_code = decode_status(status);
  return result;
}

CommandResult run_tenx(std::vector<std::string> args, std::chrono::milliseconds timeout) {
  args.insert(args.begin(), tenx_binary());
  return run_command(args, {}, timeout);
}

// ---- TempFile ----

TempFile::TempFile(std::string_view contents, std::string_view suffix) {
  std::string tmpl = "/tmp/tenx-e2e-" + std::string(6, 'X') + std::string(suffix);
  const int fd = ::mkstemps(tmpl.data(), static_cast<int>(suffix.size()));
  if (fd < 0) fail("mkstemps");
  ::close(fd);
  path_ = tmpl;
  write(contents);
}

TempFile::~TempFile() { ::unlink(path_.c_str()); }

void TempFile::write(std::string_view contents) {
  const std::string tmp = path_ + ".new";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    f.write(contents.data(), static_cast<std::streamsize>(contents.size()));
    if (!f) throw std::runtime_error("cannot write " + tmp);
  }
  if (::rename(tmp.c_str(), path_.c_str()) != 0) fail("rename");
}

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

}  // namespace tenx::e2e
