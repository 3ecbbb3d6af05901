#include "http/health.h"

#include "http/json.h"
#include "metrics/process.h"
#include "metrics/registry.h"

#include <fmt/format.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "core/blocking_pool.h"

#include <sys/statvfs.h>

#include <atomic>
#include <optional>

namespace tenx::http {
namespace asio = boost::asio;
using clock_type = std::chrono::steady_clock;

namespace {
// statvfs can hang (a dead NFS mount): it runs here, off the event loop. One thread: a check
// stuck in the kernel holds only itself and the checks queued behind it, which time out.
core::BlockingPool& disk_check_pool() {
  static core::BlockingPool pool(1, 64);
  return pool;
}
std::atomic<int (*)(const char*, struct statvfs*)> g_statvfs{&::statvfs};
}  // namespace

void HealthChecks::set_statvfs_for_test(int (*fn)(const char*, struct statvfs*)) {
  g_statvfs = fn ? fn : &::statvfs;
}

void HealthChecks::add(std::string name, std::chrono::milliseconds timeout, HealthCheck check,
                       Need need) {
  checks_.push_back({std::move(name), timeout, std::move(check), need});
}

asio::awaitable<std::vector<HealthChecks::Outcome>> HealthChecks::run() const {
  auto ex = co_await asio::this_coro::executor;
  struct State {
    explicit State(const asio::any_io_executor& e, std::size_t n)
        : timer(e), results(n), done_at(n) {}
    asio::steady_timer timer;
    std::size_t pending = 0;
    std::vector<std::optional<CheckResult>> results;
    std::vector<clock_type::time_point> done_at;
  };
  auto st = std::make_shared<State>(ex, checks_.size());
  const auto start = clock_type::now();
  st->pending = checks_.size();
  for (std::size_t i = 0; i < checks_.size(); ++i) {
    asio::co_spawn(
        ex,
        [st, i, check = checks_[i].check]() -> asio::awaitable<void> {
          CheckResult r;
          try {
            r = co_await check();
          } catch (const std::exception& e) {
            r = {false, std::string("check threw: ") + e.what()};
          }
          st->results[i] = std::move(r);
          st->done_at[i] = clock_type::now();
          --st->pending;
          st->timer.cancel();  // the waiter re-evaluates what it still waits for
        },
        asio::detached);
  }
  // Wait until every check has finished or passed its own deadline, whichever is first for
  // each: the report is never held up by a check that has already timed out.
  for (;;) {
    const auto now = clock_type::now();
    auto next = clock_type::time_point::max();
    for (std::size_t i = 0; i < checks_.size(); ++i) {
      const auto deadline = start + checks_[i].timeout;
      if (!st->results[i] && deadline > now) next = std::min(next, deadline);
    }
    if (next == clock_type::time_point::max()) break;
    st->timer.expires_at(next);
    co_await st->timer.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  std::vector<Outcome> out;
  const auto now = clock_type::now();
  for (std::size_t i = 0; i < checks_.size(); ++i) {
    Outcome o;
    o.name = checks_[i].name;
    o.optional = checks_[i].need == Need::optional;
    const auto deadline = start + checks_[i].timeout;
    const bool finished = st->results[i].has_value() && st->done_at[i] <= deadline;
    const auto end = st->results[i] ? st->done_at[i] : now;
    o.duration_ms = std::chrono::duration<double, std::milli>(end - start).count();
    if (finished) {
      o.ok = st->results[i]->ok;
      o.message = st->results[i]->message;
    } else {
      o.ok = false;
      o.message = fmt::format("timed out after {} ms", checks_[i].timeout.count());
    }
    out.push_back(std::move(o));
  }
  co_return out;
}

asio::awaitable<void> HealthChecks::respond(Exchange& ex) const {
  auto outcomes = co_await run();
  bool required_ok = true, all_ok = true;
  std::string body = "{\"status\":";
  for (const auto& o : outcomes) {
    all_ok = all_ok && o.ok;
    required_ok = required_ok && (o.ok || o.optional);
  }
  body += all_ok ? "\"healthy\"" : required_ok ? "\"degraded\"" : "\"unhealthy\"";
  body += ",\"checks\":{";
  for (std::size_t i = 0; i < outcomes.size(); ++i) {
    const auto& o = outcomes[i];
    if (i) body += ',';
    append_json_string(body, o.name);
    body += ":{\"status\":";
    body += o.ok ? "\"pass\"" : o.optional ? "\"warn\"" : "\"fail\"";
    body += ",\"message\":";
    append_json_string(body, o.message);
    body += fmt::format(",\"duration_ms\":{:.3f}}}", o.duration_ms);
  }
  body += "}}";
  const Header headers[] = {{"Cache-Control", "no-store"}};
  ex.respond(required_ok ? 200 : 503, "application/json", body, headers);
}

Handler HealthChecks::handler() const {
  auto self = std::make_shared<const HealthChecks>(*this);
  return [self](Exchange& ex) { return self->respond(ex); };
}

HealthCheck HealthChecks::disk_space(std::string path, std::uint64_t min_free_bytes) {
  return [path = std::move(path), min_free_bytes]() -> asio::awaitable<CheckResult> {
    auto job = [path] {
      struct statvfs st {};
      const int rc = g_statvfs.load()(path.c_str(), &st);
      return rc == 0 ? std::optional<std::uint64_t>(static_cast<std::uint64_t>(st.f_bavail) *
                                                    st.f_frsize)
                     : std::nullopt;
    };
    auto r = co_await disk_check_pool().run(std::move(job));
    if (!r) co_return CheckResult{false, "the disk check is still busy with an earlier one"};
    if (!*r) co_return CheckResult{false, "cannot stat filesystem of " + path};
    const std::uint64_t free = **r;
    co_return CheckResult{free >= min_free_bytes, fmt::format("{} MiB free (minimum {} MiB)",
                                                              free >> 20, min_free_bytes >> 20)};
  };
}

HealthCheck HealthChecks::memory(std::uint64_t max_rss_bytes) {
  return [max_rss_bytes]() -> asio::awaitable<CheckResult> {
    const auto rss = metrics::read_process_stats().resident_bytes;
    co_return CheckResult{rss < max_rss_bytes, fmt::format("{} MiB resident (limit {} MiB)",
                                                           rss >> 20, max_rss_bytes >> 20)};
  };
}

Handler metrics_handler() {
  return [](Exchange& ex) -> asio::awaitable<void> {
    const std::string text = metrics::Registry::global().expose();
    ex.respond(200, "text/plain; version=0.0.4; charset=utf-8", text);
    co_return;
  };
}

}  // namespace tenx::http
