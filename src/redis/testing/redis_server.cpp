#include "redis/testing/redis_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <stdexcept>
#include <thread>

namespace tenx::redis::testing {
namespace {
constexpr const char* kBinary = "/usr/bin/redis-server";

// A port below the kernel's ephemeral range (ip_local_port_range starts at 32768 here and by
// default): a port the kernel picked for us would be in that range, and while the server is
// stopped (restart(), stop()) a client's reconnect could be given it as its own source port,
// connect to itself and hold it, so the server could not come back on it. Random in
// [20000, 32000), checked free by binding it.
std::uint16_t free_port() {
  std::random_device rd;
  std::uniform_int_distribution<int> pick(20000, 31999);
  for (int attempt = 0; attempt < 200; ++attempt) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);  // as redis-server binds
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<std::uint16_t>(pick(rd)));
    const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    ::close(fd);
    if (ok) return ntohs(a.sin_port);
  }
  throw std::runtime_error("no free port for redis-server in [20000, 32000)");
}

int connect_to(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  timeval tv{2, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}
}  // namespace

RedisServer::RedisServer(std::vector<std::string> extra_args) : extra_(std::move(extra_args)) {
  if (::access(kBinary, X_OK) != 0)
    throw std::runtime_error(
        "redis-server is not installed (/usr/bin/redis-server); run scripts/install-deps.sh");
  char tmpl[] = "/tmp/tenx_redis_XXXXXX";
  if (!::mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
  dir_ = tmpl;
  port_ = free_port();
  start();
}

RedisServer::~RedisServer() {
  if (pid_ > 0) {
    ::kill(pid_, SIGCONT);
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

std::string RedisServer::url() const { return "redis://127.0.0.1:" + std::to_string(port_); }

void RedisServer::start() {
  if (pid_ > 0) return;
  std::vector<std::string> args{kBinary,
                                "--port",
                                std::to_string(port_),
                                "--bind",
                                "127.0.0.1",
                                "--dir",
                                dir_,
                                "--save",
                                "",
                                "--appendonly",
                                "no",
                                "--daemonize",
                                "no",
                                "--logfile",
                                dir_ + "/redis.log",
                                "--enable-debug-command",
                                "yes"};
  args.insert(args.end(), extra_.begin(), extra_.end());
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // a test killed by its timeout takes its server along
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(kBinary, argv.data());
    ::_exit(127);
  }
  pid_ = pid;
  // Ready when it answers (PING, or -NOAUTH when a password is set).
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < until) {
    const int fd = connect_to(port_);
    if (fd >= 0) {
      const char ping[] = "*1\r\n$4\r\nPING\r\n";
      char buf[64];
      const bool answered =
          ::send(fd, ping, sizeof ping - 1, MSG_NOSIGNAL) > 0 && ::recv(fd, buf, sizeof buf, 0) > 0;
      ::close(fd);
      if (answered) return;
    }
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      throw std::runtime_error("redis-server exited at start; see " + dir_ + "/redis.log");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  throw std::runtime_error("redis-server did not answer PING within 10 s");
}

void RedisServer::stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGCONT);
  ::kill(pid_, SIGTERM);
  ::waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

void RedisServer::pause() {
  if (pid_ > 0) ::kill(pid_, SIGSTOP);
}
void RedisServer::resume() {
  if (pid_ > 0) ::kill(pid_, SIGCONT);
}

std::string RedisServer::command(const std::vector<std::string>& args) const {
  const int fd = connect_to(port_);
  if (fd < 0) throw std::runtime_error("cannot connect to redis-server");
  std::string req = "*" + std::to_string(args.size()) + "\r\n";
  for (const auto& a : args) req += "$" + std::to_string(a.size()) + "\r\n" + a + "\r\n";
  ::send(fd, req.data(), req.size(), MSG_NOSIGNAL);
  std::string out;
  char buf[4096];
  // One read is enough for the short replies tests ask for.
  const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
  if (n > 0) out.assign(buf, static_cast<std::size_t>(n));
  ::close(fd);
  return out;
}

}  // namespace tenx::redis::testing
