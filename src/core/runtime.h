#pragma once
// Runtime: thread-per-core event loops, signals, graceful drain.
//
// A Runtime owns N worker threads, each running its own io_context (concurrency hint 1), and a
// control loop that runs on the thread that called run(). State created on a worker loop is
// owned by that thread and needs no lock. Listeners are opened once per worker with
// SO_REUSEPORT (listen_reuseport), so the kernel spreads connections over the threads.
//
// Lifecycle:  construct -> components attach (on_drain / on_reload hooks, spawn coroutines on
// loop(i)) -> run() blocks -> SIGINT/SIGTERM or stop() starts the drain: every drain hook runs
// once on the control thread (servers stop accepting, close idle connections), the work guards
// are released, and each worker exits when its in-flight work is done; workers still busy at
// drain_timeout are stopped hard. A second SIGINT/SIGTERM stops at once. SIGHUP calls the
// reload hooks on the control thread. run() returns after every worker has exited.
//
// on_drain / on_reload / for_each_loop may be called from any thread before or during run().
#include "core/poller.h"
#include "core/thread_annotations.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace tenx::core {

struct RuntimeOptions {
  std::size_t threads = 0;  // 0: one per core
  std::chrono::milliseconds drain_timeout{10'000};
  bool handle_signals = true;
};

class Runtime {
 public:
  explicit Runtime(RuntimeOptions options);
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  std::size_t threads() const { return loops_.size(); }
  boost::asio::io_context& loop(std::size_t i) { return *loops_[i]; }
  // Socket readiness for loop i (see core/poller.h); Poller::current() on its thread.
  Poller& poller(std::size_t i) { return *pollers_[i]; }
  boost::asio::io_context& control() { return control_; }

  // Index of the calling worker thread of *any* Runtime, or kNotWorker.
  static constexpr std::size_t kNotWorker = static_cast<std::size_t>(-1);
  static std::size_t current_index();

  // Runs `hook` when the drain begins. The id lets a component that goes away first (a pool
  // retired by a reload) take its hook back, so hooks do not pile up over reloads.
  using HookId = std::uint64_t;
  HookId on_drain(std::function<void()> hook);
  void remove_drain_hook(HookId id);
  std::size_t drain_hooks_for_test() const;
  void on_reload(std::function<void()> hook);
  // Posts fn(i) onto every worker loop i.
  void for_each_loop(const std::function<void(std::size_t)>& fn);

  // Blocks until drained. Returns the process exit status (0 clean, 1 hard-stopped).
  int run();
  // Starts a graceful drain (thread-safe; idempotent).
  void stop();
  bool draining() const { return draining_.load(std::memory_order_acquire); }

 private:
  void wait_signal();
  void begin_drain();
  void hard_stop();

  RuntimeOptions options_;
  boost::asio::io_context control_{1};
  // (pollers_ and loops_ below)
  // Pollers are declared first so they are destroyed last: coroutines destroyed with their
  // loop may still deregister sockets (see ~Runtime).
  std::vector<std::unique_ptr<Poller>> pollers_;
  std::vector<std::unique_ptr<boost::asio::io_context>> loops_;
  std::vector<std::thread> workers_;
  struct Guards;
  std::unique_ptr<Guards> guards_;
  mutable core::Mutex hooks_mu_;  // guards the hook lists; never taken on the request path
  std::vector<std::pair<HookId, std::function<void()>>> drain_hooks_ GUARDED_BY(hooks_mu_);
  HookId next_hook_ GUARDED_BY(hooks_mu_) = 1;
  std::vector<std::function<void()>> reload_hooks_ GUARDED_BY(hooks_mu_);
  std::atomic<bool> draining_{false};
  std::atomic<bool> hard_stopped_{false};
  std::atomic<std::size_t> running_workers_{0};
};

// Parses "HOST:PORT", "[V6]:PORT", ":PORT" (all interfaces) or "PORT" (parse_host_port() in
// core/net_address.h) into an endpoint; the host is numeric or localhost.
// Throws std::invalid_argument with a message naming the bad part.
boost::asio::ip::tcp::endpoint parse_endpoint(const std::string& text,
                                              const std::string& default_host = "0.0.0.0");

// Throws boost::system::system_error (EADDRINUSE, "address already in use") when something
// listens on `ep` already. SO_REUSEPORT lets any process of the same user join a port, and
// the two would then share its traffic; only this process's own workers may share one, so a
// server checks with a plain bind first (as nginx refuses a port in use). Port 0 passes.
void check_port_free(const boost::asio::ip::tcp::endpoint& ep);

// Opens a listening socket on `ep` with SO_REUSEADDR and SO_REUSEPORT on `ctx`.
// Throws boost::system::system_error at start-up if the address cannot be bound.
boost::asio::ip::tcp::acceptor listen_reuseport(boost::asio::io_context& ctx,
                                                const boost::asio::ip::tcp::endpoint& ep,
                                                int backlog = 4096);

}  // namespace tenx::core
