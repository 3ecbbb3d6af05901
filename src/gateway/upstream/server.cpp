#include "gateway/upstream/server.h"

#include <xxhash.h>

#include <algorithm>
#include <cstdio>

namespace tenx::gateway {

namespace {
std::string make_id(const std::string& address) {
  // Salted so that the id cannot be looked up from a list of likely addresses.
  static constexpr std::uint64_t kSalt = 0x7465'6e78'7374'6b79ULL;  // "tenxstky"
  const auto h = XXH3_64bits_withSeed(address.data(), address.size(), kSalt);
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}
}  // namespace

UpstreamServer::UpstreamServer(ServerParams params, boost::asio::ip::tcp::endpoint endpoint)
    : params_(std::move(params)), endpoint_(std::move(endpoint)), id_(make_id(params_.address)) {}

bool UpstreamServer::passively_down(clock::time_point now) const {
  return ns(now) < down_until_ns_.load(std::memory_order_relaxed);
}

bool UpstreamServer::available(clock::time_point now) const {
  return healthy() && !draining() && !passively_down(now);
}

std::uint32_t UpstreamServer::effective_weight(clock::time_point now) const {
  const auto w = params_.weight;
  const auto recovered = recovered_ns_.load(std::memory_order_relaxed);
  if (params_.slow_start.count() <= 0 || recovered == 0) return w;
  const auto elapsed = ns(now) - recovered;
  const auto ramp =
      std::chrono::duration_cast<std::chrono::nanoseconds>(params_.slow_start).count();
  if (elapsed >= ramp) return w;
  if (elapsed <= 0) return 1;
  return std::max<std::uint32_t>(1, static_cast<std::uint32_t>(w * elapsed / ramp));
}

void UpstreamServer::report_success() {
  if (fails_.load(std::memory_order_relaxed) != 0) fails_.store(0, std::memory_order_relaxed);
}

bool UpstreamServer::report_failure(clock::time_point now) {
  if (params_.max_fails == 0) return false;
  const auto window =
      std::chrono::duration_cast<std::chrono::nanoseconds>(params_.fail_timeout).count();
  const auto t = ns(now);
  // nginx: failures are counted within fail_timeout of the first one.
  auto first = first_fail_ns_.load(std::memory_order_relaxed);
  if (first == 0 || t - first > window) {
    first_fail_ns_.store(t, std::memory_order_relaxed);
    fails_.store(0, std::memory_order_relaxed);
  }
  const auto n = fails_.fetch_add(1, std::memory_order_relaxed) + 1;
  if (n >= params_.max_fails) {
    down_until_ns_.store(t + window, std::memory_order_relaxed);
    recovered_ns_.store(t + window, std::memory_order_relaxed);  // slow start after the pause
    fails_.store(0, std::memory_order_relaxed);
    first_fail_ns_.store(0, std::memory_order_relaxed);
    return true;
  }
  return false;
}

void UpstreamServer::set_healthy(bool healthy, clock::time_point now) {
  const bool was = healthy_.exchange(healthy, std::memory_order_relaxed);
  if (healthy && !was) recovered_ns_.store(ns(now), std::memory_order_relaxed);
}

void UpstreamServer::record_latency(std::chrono::nanoseconds d) {
  const auto sample = static_cast<std::uint64_t>(std::max<std::int64_t>(0, d.count()));
  const auto old = ewma_ns_.load(std::memory_order_relaxed);
  const auto next = old == 0 ? sample : (old * 4 + sample) / 5;  // alpha = 0.2
  ewma_ns_.store(next, std::memory_order_relaxed);
}

}  // namespace tenx::gateway
