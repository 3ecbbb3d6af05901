#pragma once
// Tests only: a private redis-server on 127.0.0.1, on a free port below the ephemeral range (see
// redis_server.cpp) and a fresh
// directory, with no persistence; stopped (by PID) when the object goes. restart() brings it
// back on the same port (a Redis restart as clients see it), pause()/resume() stop and continue
// the process (a hung server). Extra arguments are redis-server options ("--requirepass", "x").
//
// Throws std::runtime_error when redis-server is not installed (scripts/install-deps.sh
// installs it) or does not answer PING within a few seconds.
#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace tenx::redis::testing {

class RedisServer {
 public:
  explicit RedisServer(std::vector<std::string> extra_args = {});
  ~RedisServer();
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  std::uint16_t port() const { return port_; }
  std::string url() const;  // redis://127.0.0.1:PORT
  void stop();              // SIGTERM, waits for the exit
  void start();             // after stop(): again on the same port
  void restart() {
    stop();
    start();
  }
  void pause();   // SIGSTOP
  void resume();  // SIGCONT
  // Runs one command through a blocking connection of its own (test set-up and checks):
  // the reply as redis-cli would print it in --no-raw mode is not needed, so this returns
  // the raw RESP bytes of the reply.
  std::string command(const std::vector<std::string>& args) const;
  bool running() const { return pid_ > 0; }

 private:
  std::vector<std::string> extra_;
  std::string dir_;
  std::uint16_t port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace tenx::redis::testing
