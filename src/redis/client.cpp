#include "redis/client.h"

#include "core/poller.h"
#include "redis/errors.h"
#include "redis/sha1.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace tenx::redis {

namespace asio = boost::asio;

namespace {
std::atomic<std::uint64_t> g_instances{0};

asio::io_context& context_of(const asio::any_io_executor& ex) {
  return static_cast<asio::io_context&>(asio::query(ex, asio::execution::context));
}
}  // namespace

Script::Script(std::string source) : source_(std::move(source)), sha_(sha1_hex(source_)) {}

// One loop's connection, and the Poller made for it when the loop has none of its own.
struct Client::Loop {
  asio::io_context* context = nullptr;
  std::unique_ptr<core::Poller> own_poller;  // declared first: destroyed after the connection
  std::shared_ptr<Connection> connection;
};

Client::Client(Options options, Metrics* metrics)
    : options_(std::move(options)),
      own_metrics_(metrics ? nullptr : std::make_unique<Metrics>()),
      metrics_(metrics ? metrics : own_metrics_.get()),
      instance_(++g_instances) {}

Client::~Client() {
  core::MutexLock lock(mu_);
  for (auto& l : loops_) {
    // Closed and released on its own loop (a Connection is single-threaded). A loop that never
    // runs again destroys the handler, and the Loop with it, when it is destroyed.
    auto& loop = *l->context;  // before the move below (argument order is unspecified)
    asio::post(loop, [l = std::move(l)] { l->connection->close(); });
  }
  loops_.clear();
}

Connection& Client::connection(asio::io_context& loop) {
  thread_local std::uint64_t cached_instance = 0;
  thread_local asio::io_context* cached_loop = nullptr;
  thread_local Connection* cached = nullptr;
  if (cached_instance == instance_ && cached_loop == &loop) return *cached;
  core::MutexLock lock(mu_);
  Loop* found = nullptr;
  for (auto& l : loops_)
    if (l->context == &loop) found = l.get();
  if (!found) {
    auto l = std::make_shared<Loop>();
    l->context = &loop;
    core::Poller* poller = core::Poller::current();
    if (!poller || &poller->loop() != &loop) {
      l->own_poller = std::make_unique<core::Poller>(loop);
      poller = l->own_poller.get();
    }
    l->connection = std::make_shared<Connection>(*poller, options_, *metrics_);
    if (closed_.load()) l->connection->close();
    loops_.push_back(l);
    found = l.get();
  }
  cached_instance = instance_;
  cached_loop = &loop;
  cached = found->connection.get();
  return *cached;
}

void Client::close() {
  closed_.store(true);
  core::MutexLock lock(mu_);
  for (auto& l : loops_) asio::post(*l->context, [c = l->connection] { c->close(); });
}

asio::awaitable<Result<Reply>> Client::exec(Command cmd, std::chrono::milliseconds timeout) {
  auto& conn = connection(context_of(co_await asio::this_coro::executor));
  auto [ec, reply] =
      co_await conn.exec(std::move(cmd), asio::as_tuple(asio::use_awaitable), timeout);
  if (ec) co_return ec;
  co_return std::move(reply);
}

asio::awaitable<Result<Reply>> Client::call(Command cmd, std::chrono::milliseconds timeout) {
  auto r = co_await exec(std::move(cmd), timeout);
  if (r && r->is_error()) co_return r->server_error();
  co_return r;
}

asio::awaitable<Result<Reply>> Client::eval_command(const Script& script, Command evalsha) {
  auto r = co_await exec(evalsha);
  if (!r || !r->is_error() || r->server_error() != make_error_code(Errc::no_script)) co_return r;
  // Not loaded on this server (a restart, SCRIPT FLUSH): load it and retry once.
  auto loaded = co_await exec(Command("SCRIPT", "LOAD", script.source()));
  if (!loaded) co_return loaded.error();
  if (loaded->is_error()) co_return std::move(*loaded);
  co_return co_await exec(std::move(evalsha));
}

asio::awaitable<Result<Reply>> Client::eval(const Script& script,
                                            const std::vector<std::string>& keys,
                                            const std::vector<std::string>& args) {
  Command cmd("EVALSHA", script.sha(), keys.size());
  for (const auto& k : keys) cmd.arg(k);
  for (const auto& a : args) cmd.arg(a);
  return eval_command(script, std::move(cmd));
}

}  // namespace tenx::redis
