#pragma once
// Tests only: a private redis-server on 127.0.0.1, on a free port below the ephemeral range (see
// redis_server.cpp) and a fresh
// directory, with no persistence; stopped (by PID) when the object goes. restart() brings it
// back on the same port (a Redis restart as clients see it), pause()/resume() stop and continue
// the process (a hung server). Extra arguments are redis-server options ("--requirepass", "x").
//
// Throws std::runtime_error when redis-server is not installed (scripts/install-deps.sh
// installs it) or does not answer PING within a few seconds.
#include "redis/connection.h"
#include "redis/url.h"

#include <sys/types.h>

#include <chrono>

#include <cstdint>
#include <string>
#include <vector>

namespace tenx::redis::testing {

// Client options for tests: a 2 s command timeout and quick reconnects (`reconnect` at first,
// twice that at most), so a test that restarts Redis does not wait for production backoffs.
inline Options quick_options(const std::string& url,
                             std::chrono::milliseconds reconnect = std::chrono::milliseconds(5)) {
  Options o;
  o.url = parse_url(url);
  o.command_timeout = std::chrono::seconds(2);
  o.reconnect_min = reconnect;
  o.reconnect_max = reconnect * 2;
  return o;
}

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
