#include "core/runtime.h"
#include "core/net_address.h"
#include "core/thread_annotations.h"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include <csignal>
#include <stdexcept>

namespace tenx::core {
namespace asio = boost::asio;

namespace {
thread_local std::size_t t_worker_index = Runtime::kNotWorker;
}

struct Runtime::Guards {
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::unique_ptr<asio::signal_set> signals;
  std::unique_ptr<asio::steady_timer> deadline;
};

Runtime::Runtime(RuntimeOptions options) : options_(options), guards_(std::make_unique<Guards>()) {
  std::size_t n = options_.threads;
  if (n == 0) n = std::max(1u, std::thread::hardware_concurrency());
  for (std::size_t i = 0; i < n; ++i) {
    loops_.push_back(std::make_unique<asio::io_context>(1));
    pollers_.push_back(std::make_unique<Poller>(*loops_.back()));
    guards_->work.emplace_back(loops_.back()->get_executor());
  }
  // Install the handlers now rather than in run(): a process announces readiness (the gateway
  // prints its listening line) before it calls run(), and a SIGTERM or SIGHUP sent in between
  // must not meet the default action, which kills the process. Asio queues a signal that
  // arrives before async_wait.
  if (options_.handle_signals)
    guards_->signals = std::make_unique<asio::signal_set>(control_, SIGINT, SIGTERM, SIGHUP);
}

Runtime::~Runtime() {
  for (auto& l : loops_) l->stop();
  for (auto& t : workers_)
    if (t.joinable()) t.join();
  // Teardown order: coroutines still parked on a Poller are released while their loop exists
  // (Asio unwinds a coroutine through its executor), then the loops go (destroying every
  // parked coroutine, whose connections deregister from a Poller that only marks them dead),
  // then the Pollers.
  for (auto& p : pollers_) p->shutdown();
  guards_.reset();  // work guards and the signal set refer to the loops
  loops_.clear();
  pollers_.clear();
}

std::size_t Runtime::current_index() { return t_worker_index; }

Runtime::HookId Runtime::on_drain(std::function<void()> hook) {
  core::MutexLock lock(hooks_mu_);
  const HookId id = next_hook_++;
  drain_hooks_.emplace_back(id, std::move(hook));
  return id;
}

void Runtime::remove_drain_hook(HookId id) {
  core::MutexLock lock(hooks_mu_);
  std::erase_if(drain_hooks_, [id](const auto& h) { return h.first == id; });
}

std::size_t Runtime::drain_hooks_for_test() const {
  core::MutexLock lock(hooks_mu_);
  return drain_hooks_.size();
}

void Runtime::on_reload(std::function<void()> hook) {
  core::MutexLock lock(hooks_mu_);
  reload_hooks_.push_back(std::move(hook));
}

void Runtime::for_each_loop(const std::function<void(std::size_t)>& fn) {
  for (std::size_t i = 0; i < loops_.size(); ++i) asio::post(*loops_[i], [fn, i] { fn(i); });
}

int Runtime::run() {
  auto control_guard = asio::make_work_guard(control_);
  if (guards_->signals) wait_signal();
  running_workers_ = loops_.size();
  for (std::size_t i = 0; i < loops_.size(); ++i) {
    workers_.emplace_back([this, i] {
      t_worker_index = i;
      Poller::set_current(pollers_[i].get());
      loops_[i]->run();
      Poller::set_current(nullptr);
      t_worker_index = kNotWorker;
      if (running_workers_.fetch_sub(1) == 1) {
        asio::post(control_, [this] {
          if (guards_->signals) guards_->signals->cancel();
          if (guards_->deadline) guards_->deadline->cancel();
          control_.stop();
        });
      }
    });
  }
  control_.run();
  for (auto& t : workers_) t.join();
  workers_.clear();
  guards_->signals.reset();
  return hard_stopped_ ? 1 : 0;
}

void Runtime::wait_signal() {
  guards_->signals->async_wait([this](const boost::system::error_code& ec, int sig) {
    if (ec) return;  // cancelled: the runtime is finishing
    if (sig == SIGHUP) {
      std::vector<std::function<void()>> hooks;
      {
        core::MutexLock lock(hooks_mu_);
        hooks = reload_hooks_;
      }
      for (auto& h : hooks) h();
    } else if (draining()) {
      hard_stop();  // second signal: the operator means it
    } else {
      begin_drain();
    }
    wait_signal();
  });
}

void Runtime::stop() {
  asio::post(control_, [this] {
    if (!draining()) begin_drain();
  });
}

void Runtime::begin_drain() {
  draining_.store(true, std::memory_order_release);
  std::vector<std::function<void()>> hooks;
  {
    core::MutexLock lock(hooks_mu_);
    for (const auto& [id, h] : drain_hooks_) hooks.push_back(h);
  }
  for (auto& h : hooks) h();
  guards_->work.clear();  // workers now exit once their in-flight work is done
  guards_->deadline = std::make_unique<asio::steady_timer>(control_, options_.drain_timeout);
  guards_->deadline->async_wait([this](const boost::system::error_code& ec) {
    if (!ec) hard_stop();
  });
}

void Runtime::hard_stop() {
  hard_stopped_ = true;
  for (auto& l : loops_) l->stop();
}

asio::ip::tcp::endpoint parse_endpoint(const std::string& text, const std::string& default_host) {
  const auto listen = parse_host_port(text);
  if (!listen)
    throw std::invalid_argument("bad listen address '" + text + "': " + listen.error().message());
  const std::string_view host = listen->host.empty() ? default_host : listen->host;
  auto address = parse_address(host == "localhost" ? "127.0.0.1" : host);
  if (!address)
    throw std::invalid_argument("bad IP address '" + std::string(host) + "' in '" + text +
                                "' (use a numeric address)");
  return {*address, *listen->port};
}

void check_port_free(const asio::ip::tcp::endpoint& ep) {
  if (ep.port() == 0) return;
  // A bind without SO_REUSEPORT fails on a port that any listener holds, with or without it.
  // SO_REUSEADDR keeps connections in TIME_WAIT from counting. The probe is closed before the
  // workers bind: the window between is the time of two system calls.
  asio::io_context ctx;
  asio::ip::tcp::acceptor probe(ctx);
  probe.open(ep.protocol());
  probe.set_option(asio::socket_base::reuse_address(true));
  boost::system::error_code ec;
  probe.bind(ep, ec);
  if (ec == boost::system::errc::address_in_use)
    throw boost::system::system_error(ec, "address already in use");
  if (ec) throw boost::system::system_error(ec, "bind");
}

asio::ip::tcp::acceptor listen_reuseport(asio::io_context& ctx, const asio::ip::tcp::endpoint& ep,
                                         int backlog) {
  asio::ip::tcp::acceptor acceptor(ctx);
  acceptor.open(ep.protocol());
  acceptor.set_option(asio::socket_base::reuse_address(true));
  int one = 1;
  if (::setsockopt(acceptor.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0)
    throw boost::system::system_error(errno, boost::system::system_category(), "SO_REUSEPORT");
  acceptor.bind(ep);
  acceptor.listen(backlog);
  acceptor.non_blocking(true);
  return acceptor;
}

}  // namespace tenx::core
