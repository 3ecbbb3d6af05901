#pragma once
// Client: Redis for a whole process, one multiplexed connection per event loop.
//
// Thread-safe: any coroutine on any event loop may call it; each loop gets its own
// redis::Connection (connection.h) on first use, and every command of that loop is pipelined on
// it (no pool, no lock per command: a thread-local cache finds the loop's connection). The loop
// must have a core::Poller: a core::Runtime worker has one; on any other loop the Client makes
// its own.
//
// Results: exec() returns the server's Reply, error replies included (Reply::server_error());
// the error_code is for transport failures only (errors.h: not connected, lost, timeout, ...).
// call() folds an error reply into its error_code as well, for callers that only need to know
// whether it worked.
//
// Scripts: eval() sends EVALSHA with the script's SHA-1; on -NOSCRIPT (a restarted server, a
// SCRIPT FLUSH) it loads the script with SCRIPT LOAD and retries once. eval() is not itself a
// coroutine: it builds the command before it returns, so keys and args may be temporaries (an
// awaitable starts only when awaited, and a coroutine taking them by reference would read them
// after they died). The Script must outlive the awaitable: scripts are meant to be long-lived
// (static or members), built once, hashed once.
//
// Lifetime: close() (from any thread) closes every loop's connection gracefully (commands in
// flight finish); a Runtime's drain should call it, since an open connection keeps its loop
// running. Destroy the Client before the loops it was used on.
#include "core/result.h"
#include "core/thread_annotations.h"
#include "redis/command.h"
#include "redis/connection.h"
#include "redis/metrics.h"
#include "redis/reply.h"

#include <boost/asio/awaitable.hpp>

#include <atomic>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace tenx::redis {

class Script {
 public:
  explicit Script(std::string source);
  const std::string& source() const { return source_; }
  const std::string& sha() const { return sha_; }

 private:
  std::string source_;
  std::string sha_;
};

class Client {
 public:
  explicit Client(Options options, Metrics* metrics = nullptr);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  const Options& options() const { return options_; }
  Metrics& metrics() { return *metrics_; }

  boost::asio::awaitable<Result<Reply>> exec(Command cmd, std::chrono::milliseconds timeout = {});
  boost::asio::awaitable<Result<Reply>> call(Command cmd, std::chrono::milliseconds timeout = {});
  boost::asio::awaitable<Result<Reply>> eval(const Script& script,
                                             const std::vector<std::string>& keys,
                                             const std::vector<std::string>& args);

  // The calling loop's connection (created on first use).
  Connection& connection(boost::asio::io_context& loop);
  // Graceful close of every loop's connection; commands after it fail with disconnected.
  void close();

 private:
  struct Loop;
  boost::asio::awaitable<Result<Reply>> eval_command(const Script& script, Command evalsha);

  const Options options_;
  std::unique_ptr<Metrics> own_metrics_;
  Metrics* metrics_;
  const std::uint64_t instance_;
  std::atomic<bool> closed_{false};
  core::Mutex mu_;  // first use on a loop, close, destruction: never per command
  std::vector<std::shared_ptr<Loop>> loops_ GUARDED_BY(mu_);
};

}  // namespace tenx::redis
