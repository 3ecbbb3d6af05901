#include "gateway/balancers/balancer.h"

#include "config/policies.h"

#include <gtest/gtest.h>

#include <boost/asio/ip/address.hpp>

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace tenx::gateway {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = UpstreamServer::clock;

// Far from the clock's epoch: UpstreamServer treats a stored time of 0 as "never".
const Clock::time_point kT0 = Clock::time_point{} + std::chrono::hours(1);

// Owns the servers; span() is what a balancer sees.
class Pool {
 public:
  Pool() = default;
  explicit Pool(const std::vector<std::uint32_t>& weights, milliseconds slow_start = {}) {
    for (const auto w : weights) add(w, slow_start);
  }
  explicit Pool(std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) add();
  }

  UpstreamServer& add(std::uint32_t weight = 1, milliseconds slow_start = {}) {
    const auto port = static_cast<unsigned short>(9000 + owned_.size());
    ServerParams p;
    p.address = "127.0.0.1:" + std::to_string(port);
    p.weight = weight;
    p.slow_start = slow_start;
    owned_.push_back(std::make_unique<UpstreamServer>(
        p, boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), port)));
    ptrs_.push_back(owned_.back().get());
    return *owned_.back();
  }

  UpstreamServer& operator[](std::size_t i) { return *owned_[i]; }
  std::size_t size() const { return owned_.size(); }
  std::span<UpstreamServer* const> span() const { return ptrs_; }
  std::span<UpstreamServer* const> first(std::size_t n) const { return span().first(n); }

 private:
  std::vector<std::unique_ptr<UpstreamServer>> owned_;
  std::vector<UpstreamServer*> ptrs_;
};

void mark_passively_down(UpstreamServer& s, Clock::time_point now) {
  // max_fails defaults to 1: one failure takes the server out for fail_timeout.
  ASSERT_TRUE(s.report_failure(now));
}

std::string client_ip(int k) {
  return "10." + std::to_string((k >> 16) & 255) + "." + std::to_string((k >> 8) & 255) + "." +
         std::to_string(k & 255);
}

// Picks `n` times with the same request; counts per server index (and -1 at the back).
std::vector<int> count_picks(Balancer& b, const Pool& pool, int n, const PickRequest& r = {},
                             Clock::time_point now = kT0) {
  std::vector<int> counts(pool.size() + 1, 0);
  for (int k = 0; k < n; ++k) {
    const int i = b.pick(pool.span(), r, now);
    ++counts[i < 0 ? pool.size() : static_cast<std::size_t>(i)];
  }
  return counts;
}

std::vector<int> sequence(Balancer& b, const Pool& pool, int n, const PickRequest& r = {},
                          Clock::time_point now = kT0) {
  std::vector<int> out;
  for (int k = 0; k < n; ++k) out.push_back(b.pick(pool.span(), r, now));
  return out;
}

TEST(BalanceName, ParsesEveryPolicyNameAndRoundTrips) {
  for (const auto kind : {BalanceKind::round_robin, BalanceKind::least_conn, BalanceKind::ip_hash,
                          BalanceKind::sticky_cookie, BalanceKind::p2c_ewma}) {
    const auto parsed = parse_balance(balance_name(kind));
    ASSERT_TRUE(parsed.has_value()) << balance_name(kind);
    EXPECT_EQ(*parsed, kind);
  }
  EXPECT_EQ(parse_balance("round_robin"), BalanceKind::round_robin);
  EXPECT_EQ(parse_balance("p2c_ewma"), BalanceKind::p2c_ewma);
}

TEST(BalanceName, EveryNameInTheConfigTableBuildsAPolicy) {
  for (const auto& p : config::kBalancers) {
    const auto kind = parse_balance(p.name);
    ASSERT_TRUE(kind) << p.name;
    EXPECT_EQ(balance_name(*kind), p.name);
    EXPECT_NE(make_balancer(*kind, 1), nullptr) << p.name;
    EXPECT_FALSE(p.description.empty()) << p.name;
  }
}

TEST(BalanceName, RejectsUnknownNames) {
  EXPECT_FALSE(parse_balance(""));
  EXPECT_FALSE(parse_balance("random"));
  EXPECT_FALSE(parse_balance("Round_Robin"));
  EXPECT_FALSE(parse_balance("least_conn "));
}

// ---------------------------------------------------------------------------------------------
// Conformance: every policy, the same contract.

class BalancerConformance : public ::testing::TestWithParam<BalanceKind> {
 protected:
  std::unique_ptr<Balancer> make() { return make_balancer(GetParam(), 42); }

  // A different request each time: client addresses vary, and the sticky id cycles through
  // none, an unknown one and every server's id (eligible or not).
  PickRequest varied(int k, const Pool& pool, const std::vector<bool>* tried = nullptr) {
    ips_.push_back(client_ip(k));
    PickRequest r;
    r.client_ip = ips_.back();
    const auto pick = static_cast<std::size_t>(k) % (pool.size() + 2);
    if (pick == 1) r.sticky_id = "00000000deadbeef";
    if (pick >= 2) r.sticky_id = pool.span()[pick - 2]->id();
    r.tried = tried;
    return r;
  }

  std::deque<std::string> ips_;  // deque: string_views into it stay valid as it grows
};

TEST_P(BalancerConformance, NeverReturnsUnavailableDrainingOrPassivelyDownServer) {
  Pool pool(6);
  pool[1].set_healthy(false, kT0);
  pool[2].set_draining(true);
  mark_passively_down(pool[3], kT0);
  auto b = make();
  std::map<int, int> seen;
  for (int k = 0; k < 600; ++k) {
    const int i = b->pick(pool.span(), varied(k, pool), kT0 + seconds(1));
    ++seen[i];
  }
  for (const auto& [i, n] : seen) {
    EXPECT_TRUE(i == 0 || i == 4 || i == 5) << "picked ineligible server " << i << " x" << n;
  }
}

TEST_P(BalancerConformance, IgnoringHealthPicksDownServersButNeverDrainingOnes) {
  // The proxy's last resort when every server is down.
  Pool pool(4);
  pool[0].set_healthy(false, kT0);
  pool[1].set_draining(true);
  mark_passively_down(pool[2], kT0);
  pool[3].set_healthy(false, kT0);
  auto b = make();
  EXPECT_EQ(b->pick(pool.span(), varied(0, pool), kT0 + seconds(1)), -1);
  std::set<int> seen;
  for (int k = 0; k < 200; ++k) {
    PickRequest r = varied(k, pool);
    r.ignore_health = true;
    const int i = b->pick(pool.span(), r, kT0 + seconds(1));
    ASSERT_NE(i, -1) << "round " << k;
    EXPECT_NE(i, 1) << "picked the draining server";
    seen.insert(i);
  }
  EXPECT_FALSE(seen.empty());
}

TEST_P(BalancerConformance, SingleEligibleServerIsAlwaysChosen) {
  Pool pool(5);
  pool[0].set_healthy(false, kT0);
  pool[1].set_draining(true);
  mark_passively_down(pool[2], kT0);
  pool[4].set_healthy(false, kT0);
  auto b = make();
  for (int k = 0; k < 200; ++k) ASSERT_EQ(b->pick(pool.span(), varied(k, pool), kT0), 3);

  Pool one(1);
  auto b1 = make();
  for (int k = 0; k < 50; ++k) ASSERT_EQ(b1->pick(one.span(), varied(k, one), kT0), 0);
}

TEST_P(BalancerConformance, NeverReturnsServerAlreadyTried) {
  Pool pool(4);
  const std::vector<bool> tried{true, false, true, false};
  auto b = make();
  std::set<int> seen;
  for (int k = 0; k < 400; ++k) seen.insert(b->pick(pool.span(), varied(k, pool, &tried), kT0));
  EXPECT_TRUE(seen.count(1) || seen.count(3));
  EXPECT_FALSE(seen.count(0) || seen.count(2) || seen.count(-1));

  // A `tried` shorter than the pool only covers the servers it names.
  const std::vector<bool> short_tried{true};
  for (int k = 0; k < 400; ++k) {
    const int i = b->pick(pool.span(), varied(k, pool, &short_tried), kT0);
    ASSERT_GE(i, 1);
    ASSERT_LT(i, 4);
  }
}

TEST_P(BalancerConformance, ReturnsMinusOneWhenNoServerIsEligible) {
  auto b = make();
  Pool empty;
  EXPECT_EQ(b->pick(empty.span(), varied(0, empty), kT0), -1);

  Pool pool(3);
  const std::vector<bool> all_tried(3, true);
  for (int k = 0; k < 20; ++k)
    EXPECT_EQ(b->pick(pool.span(), varied(k, pool, &all_tried), kT0), -1);

  pool[0].set_healthy(false, kT0);
  pool[1].set_draining(true);
  mark_passively_down(pool[2], kT0);
  for (int k = 0; k < 20; ++k) EXPECT_EQ(b->pick(pool.span(), varied(k, pool), kT0), -1);

  // Once the passive down period is over, server 2 is back.
  EXPECT_EQ(b->pick(pool.span(), varied(0, pool), kT0 + pool[2].params().fail_timeout), 2);
}

TEST_P(BalancerConformance, ReturnsAnEligibleServerWheneverOneExists) {
  // Random pools in random states; the answer must be eligible, or -1 exactly when none is.
  std::mt19937 rng(7);
  auto b = make();
  for (int round = 0; round < 400; ++round) {
    const std::size_t n = rng() % 7;
    Pool pool(n);
    std::vector<bool> tried(n, false);
    bool any = false;
    for (std::size_t i = 0; i < n; ++i) {
      switch (rng() % 6) {
        case 0:
          pool[i].set_healthy(false, kT0);
          break;
        case 1:
          pool[i].set_draining(true);
          break;
        case 2:
          mark_passively_down(pool[i], kT0);
          break;
        case 3:
          tried[i] = true;
          break;
        default:
          pool[i].begin_request();  // uneven load, for the load-aware policies
          any = true;
          break;
      }
    }
    const int picked = b->pick(pool.span(), varied(round, pool, &tried), kT0);
    if (!any) {
      EXPECT_EQ(picked, -1) << "round " << round;
      continue;
    }
    ASSERT_GE(picked, 0) << "round " << round;
    ASSERT_LT(static_cast<std::size_t>(picked), n);
    EXPECT_TRUE(pool[picked].available(kT0) && !tried[picked]) << "round " << round;
  }
}

TEST_P(BalancerConformance, SurvivesPoolShrinkingAndGrowingBetweenCalls) {
  Pool pool({5, 1, 1, 3, 2, 1, 4, 1});
  auto b = make();
  int k = 0;
  for (const std::size_t n : {3u, 8u, 1u, 0u, 5u, 2u, 7u, 3u, 8u}) {
    const auto view = pool.first(n);
    for (int j = 0; j < 30; ++j, ++k) {
      const int i = b->pick(view, varied(k, pool), kT0);
      if (n == 0) {
        ASSERT_EQ(i, -1);
      } else {
        ASSERT_GE(i, 0) << "size " << n;
        ASSERT_LT(static_cast<std::size_t>(i), n) << "size " << n;
      }
    }
  }
}

TEST_P(BalancerConformance, EveryAvailableServerGetsTraffic) {
  Pool pool(3);
  auto b = make();
  std::vector<int> counts(3, 0);
  for (int k = 0; k < 600; ++k) {
    const std::string ip = client_ip(k);
    PickRequest r;
    r.client_ip = ip;
    ++counts.at(b->pick(pool.span(), r, kT0));
  }
  for (int i = 0; i < 3; ++i) EXPECT_GT(counts[i], 0) << "server " << i;
}

INSTANTIATE_TEST_SUITE_P(AllPolicies, BalancerConformance,
                         ::testing::Values(BalanceKind::round_robin, BalanceKind::least_conn,
                                           BalanceKind::ip_hash, BalanceKind::sticky_cookie,
                                           BalanceKind::p2c_ewma),
                         [](const auto& info) { return std::string(balance_name(info.param)); });

// ---------------------------------------------------------------------------------------------
// round_robin

TEST(RoundRobin, RotatesThroughEqualServersInOrder) {
  Pool pool(3);
  auto b = make_balancer(BalanceKind::round_robin, 0);
  EXPECT_EQ(sequence(*b, pool, 6), (std::vector<int>{0, 1, 2, 0, 1, 2}));
}

TEST(RoundRobin, WeightsFiveOneOneGiveNginxSmoothSequence) {
  Pool pool({5, 1, 1});
  auto b = make_balancer(BalanceKind::round_robin, 0);
  // a a b a c a a, twice: the cycle repeats exactly.
  EXPECT_EQ(sequence(*b, pool, 14), (std::vector<int>{0, 0, 1, 0, 2, 0, 0, 0, 0, 1, 0, 2, 0, 0}));
}

TEST(RoundRobin, SharesFollowWeightsExactly) {
  Pool pool({5, 1, 1});
  auto b = make_balancer(BalanceKind::round_robin, 0);
  const auto counts = count_picks(*b, pool, 700);
  EXPECT_EQ(counts[0], 500);
  EXPECT_EQ(counts[1], 100);
  EXPECT_EQ(counts[2], 100);
}

TEST(RoundRobin, SkipsServerMarkedDownAndKeepsRotating) {
  Pool pool(3);
  auto b = make_balancer(BalanceKind::round_robin, 0);
  EXPECT_EQ(sequence(*b, pool, 3), (std::vector<int>{0, 1, 2}));

  pool[1].set_healthy(false, kT0);
  EXPECT_EQ(sequence(*b, pool, 4), (std::vector<int>{0, 2, 0, 2}));
  const auto counts = count_picks(*b, pool, 100);
  EXPECT_EQ(counts[0], 50);
  EXPECT_EQ(counts[1], 0);
  EXPECT_EQ(counts[2], 50);

  pool[1].set_healthy(true, kT0);
  EXPECT_EQ(sequence(*b, pool, 3), (std::vector<int>{0, 1, 2}));
}

TEST(RoundRobin, SlowStartGivesRecoveredServerARampedShare) {
  Pool pool({10, 10, 10}, seconds(10));
  pool[0].set_healthy(false, kT0 - seconds(5));
  pool[0].set_healthy(true, kT0);
  auto b = make_balancer(BalanceKind::round_robin, 0);

  // 1 s into a 10 s ramp: weight 1 against 10 and 10, so 1 pick in 21.
  const auto early = kT0 + seconds(1);
  ASSERT_EQ(pool[0].effective_weight(early), 1u);
  const auto ramping = count_picks(*b, pool, 210, {}, early);
  EXPECT_EQ(ramping[0], 10);

  // After the ramp: an equal third.
  const auto late = kT0 + seconds(20);
  ASSERT_EQ(pool[0].effective_weight(late), 10u);
  const auto settled = count_picks(*b, pool, 210, {}, late);
  EXPECT_EQ(settled[0], 70);
  EXPECT_LT(ramping[0] * 5, settled[0]);
}

// ---------------------------------------------------------------------------------------------
// least_conn

TEST(LeastConn, PrefersServerWithFewerActiveRequests) {
  Pool pool(3);
  pool[0].begin_request();
  pool[0].begin_request();
  pool[1].begin_request();
  auto b = make_balancer(BalanceKind::least_conn, 0);
  for (int k = 0; k < 5; ++k) EXPECT_EQ(b->pick(pool.span(), {}, kT0), 2);

  for (int k = 0; k < 3; ++k) pool[2].begin_request();
  EXPECT_EQ(b->pick(pool.span(), {}, kT0), 1);

  // Finished requests count: server 0 drains to idle and wins.
  pool[0].end_request();
  pool[0].end_request();
  EXPECT_EQ(b->pick(pool.span(), {}, kT0), 0);
}

TEST(LeastConn, ComparesActiveRequestsRelativeToWeight) {
  Pool pool({3, 1});
  pool[0].begin_request();
  pool[0].begin_request();
  pool[1].begin_request();
  auto b = make_balancer(BalanceKind::least_conn, 0);
  // 2 / 3 < 1 / 1: the heavier server takes more in flight before it loses.
  EXPECT_EQ(b->pick(pool.span(), {}, kT0), 0);
  pool[0].begin_request();  // 3 / 3 == 1 / 1: a tie
  pool[0].begin_request();  // 4 / 3 > 1 / 1
  EXPECT_EQ(b->pick(pool.span(), {}, kT0), 1);
}

TEST(LeastConn, LongRequestsSpreadInProportionToWeight) {
  // Requests that never finish: each pick adds one in flight to the chosen server.
  Pool pool({3, 1});
  auto b = make_balancer(BalanceKind::least_conn, 0);
  for (int k = 0; k < 400; ++k) {
    const int i = b->pick(pool.span(), {}, kT0);
    ASSERT_GE(i, 0);
    pool[i].begin_request();
  }
  EXPECT_EQ(pool[0].active(), 300u);
  EXPECT_EQ(pool[1].active(), 100u);
}

TEST(LeastConn, TiesRotateAmongTheTied) {
  Pool pool(3);
  auto b = make_balancer(BalanceKind::least_conn, 0);
  EXPECT_EQ(sequence(*b, pool, 6), (std::vector<int>{0, 1, 2, 0, 1, 2}));

  pool[0].begin_request();  // 1 and 2 tie at zero
  EXPECT_EQ(sequence(*b, pool, 4), (std::vector<int>{1, 2, 1, 2}));
}

// ---------------------------------------------------------------------------------------------
// ip_hash

// Server index for each of `n` client addresses.
std::vector<int> assignments(Balancer& b, const Pool& pool, int n) {
  std::vector<int> out;
  for (int k = 0; k < n; ++k) {
    const std::string ip = client_ip(k);
    PickRequest r;
    r.client_ip = ip;
    out.push_back(b.pick(pool.span(), r, kT0));
  }
  return out;
}

TEST(IpHash, SameClientKeepsItsServer) {
  Pool pool(3);
  auto b = make_balancer(BalanceKind::ip_hash, 0);
  const auto first = assignments(*b, pool, 200);
  for (int round = 0; round < 10; ++round) EXPECT_EQ(assignments(*b, pool, 200), first);

  // Another worker's instance (another seed, no shared state) agrees.
  auto other = make_balancer(BalanceKind::ip_hash, 99);
  EXPECT_EQ(assignments(*other, pool, 200), first);
}

TEST(IpHash, SpreadsClientsOverAllServers) {
  Pool pool(3);
  auto b = make_balancer(BalanceKind::ip_hash, 0);
  std::vector<int> counts(3, 0);
  for (const int i : assignments(*b, pool, 1000)) ++counts.at(i);
  for (int i = 0; i < 3; ++i) EXPECT_GT(counts[i], 200) << "server " << i;
}

TEST(IpHash, OnlyClientsOfADownServerMove) {
  Pool pool(3);
  auto b = make_balancer(BalanceKind::ip_hash, 0);
  const auto before = assignments(*b, pool, 1000);

  pool[1].set_healthy(false, kT0);
  const auto during = assignments(*b, pool, 1000);
  std::set<int> new_homes;
  for (std::size_t k = 0; k < before.size(); ++k) {
    if (before[k] == 1) {
      ASSERT_NE(during[k], 1);
      new_homes.insert(during[k]);
    } else {
      EXPECT_EQ(during[k], before[k]) << "client " << client_ip(static_cast<int>(k)) << " moved";
    }
  }
  // The orphans are shared out, not dumped on one neighbour.
  EXPECT_EQ(new_homes, (std::set<int>{0, 2}));

  // When it is back, its clients return.
  pool[1].set_healthy(true, kT0);
  EXPECT_EQ(assignments(*b, pool, 1000), before);
}

TEST(IpHash, WeightsShiftTheShare) {
  Pool pool({3, 1, 1});
  auto b = make_balancer(BalanceKind::ip_hash, 0);
  std::vector<int> counts(3, 0);
  for (const int i : assignments(*b, pool, 5000)) ++counts.at(i);
  // Expected 60 % / 20 % / 20 %.
  EXPECT_GT(counts[0], 2750);
  EXPECT_LT(counts[0], 3250);
  EXPECT_GT(counts[1], 750);
  EXPECT_LT(counts[1], 1250);
  EXPECT_GT(counts[2], 750);
  EXPECT_LT(counts[2], 1250);
}

// ---------------------------------------------------------------------------------------------
// sticky_cookie

TEST(StickyCookie, CookieServerIsChosenWhileAvailable) {
  Pool pool(3);
  auto b = make_balancer(BalanceKind::sticky_cookie, 0);
  PickRequest r;
  r.sticky_id = pool[2].id();
  for (int k = 0; k < 20; ++k) EXPECT_EQ(b->pick(pool.span(), r, kT0), 2);
  r.sticky_id = pool[0].id();
  for (int k = 0; k < 20; ++k) EXPECT_EQ(b->pick(pool.span(), r, kT0), 0);
}

TEST(StickyCookie, DownCookieServerFallsBackToTheOthers) {
  Pool pool(3);
  pool[2].set_healthy(false, kT0);
  auto b = make_balancer(BalanceKind::sticky_cookie, 0);
  PickRequest r;
  r.sticky_id = pool[2].id();
  EXPECT_EQ(sequence(*b, pool, 4, r), (std::vector<int>{0, 1, 0, 1}));

  pool[2].set_healthy(true, kT0);
  EXPECT_EQ(b->pick(pool.span(), r, kT0), 2);
}

TEST(StickyCookie, TriedCookieServerFallsBackOnRetry) {
  Pool pool(3);
  auto b = make_balancer(BalanceKind::sticky_cookie, 0);
  const std::vector<bool> tried{false, true, false};
  PickRequest r;
  r.sticky_id = pool[1].id();
  r.tried = &tried;
  EXPECT_EQ(sequence(*b, pool, 4, r), (std::vector<int>{0, 2, 0, 2}));
}

TEST(StickyCookie, UnknownOrMissingIdFallsBackToRoundRobin) {
  Pool pool(3);
  auto b = make_balancer(BalanceKind::sticky_cookie, 0);
  PickRequest unknown;
  unknown.sticky_id = "0123456789abcdef";
  EXPECT_EQ(sequence(*b, pool, 3, unknown), (std::vector<int>{0, 1, 2}));
  EXPECT_EQ(sequence(*b, pool, 3, PickRequest{}), (std::vector<int>{0, 1, 2}));
}

TEST(StickyCookie, FallbackRoundRobinFollowsWeights) {
  Pool pool({5, 1, 1});
  auto b = make_balancer(BalanceKind::sticky_cookie, 0);
  EXPECT_EQ(sequence(*b, pool, 7), (std::vector<int>{0, 0, 1, 0, 2, 0, 0}));
}

// ---------------------------------------------------------------------------------------------
// p2c_ewma

TEST(P2cEwma, SlowServerGetsSmallShare) {
  Pool pool(3);
  pool[0].record_latency(milliseconds(100));
  pool[1].record_latency(milliseconds(1));
  pool[2].record_latency(milliseconds(1));
  auto b = make_balancer(BalanceKind::p2c_ewma, 1);
  const auto counts = count_picks(*b, pool, 1000);
  EXPECT_LT(counts[0], 100);
  EXPECT_GT(counts[1], 300);
  EXPECT_GT(counts[2], 300);
}

TEST(P2cEwma, AvoidsServersWithMoreActiveRequests) {
  Pool pool(3);
  for (std::size_t i = 0; i < 3; ++i) pool[i].record_latency(milliseconds(5));
  for (int k = 0; k < 10; ++k) pool[0].begin_request();
  auto b = make_balancer(BalanceKind::p2c_ewma, 2);
  const auto counts = count_picks(*b, pool, 1000);
  EXPECT_LT(counts[0], 100);
  EXPECT_GT(counts[1], 300);
  EXPECT_GT(counts[2], 300);
}

TEST(P2cEwma, HeavierServerWinsAtEqualLatency) {
  Pool pool({1, 4});
  pool[0].record_latency(milliseconds(5));
  pool[1].record_latency(milliseconds(5));
  pool[1].begin_request();
  pool[1].begin_request();
  auto b = make_balancer(BalanceKind::p2c_ewma, 3);
  // 5 ms x 1 / 1 against 5 ms x 3 / 4.
  for (int k = 0; k < 20; ++k) EXPECT_EQ(b->pick(pool.span(), {}, kT0), 1);
}

TEST(P2cEwma, UnsampledServerScoresAsFastestKnown) {
  Pool pool(2);
  pool[1].record_latency(milliseconds(50));
  auto b = make_balancer(BalanceKind::p2c_ewma, 4);
  // No sample: scored as 50 ms, the fastest known; it wins on load.
  pool[1].begin_request();
  for (int k = 0; k < 20; ++k) EXPECT_EQ(b->pick(pool.span(), {}, kT0), 0);

  // Not as free: with more in flight than the sampled server it loses.
  pool[0].begin_request();
  pool[0].begin_request();
  for (int k = 0; k < 20; ++k) EXPECT_EQ(b->pick(pool.span(), {}, kT0), 1);
}

TEST(P2cEwma, WithoutAnySampleLoadDecides) {
  Pool pool(2);
  for (int k = 0; k < 3; ++k) pool[0].begin_request();
  auto b = make_balancer(BalanceKind::p2c_ewma, 5);
  for (int k = 0; k < 20; ++k) EXPECT_EQ(b->pick(pool.span(), {}, kT0), 1);
}

TEST(P2cEwma, FixedSeedGivesTheSameSequence) {
  Pool pool(3);
  for (std::size_t i = 0; i < 3; ++i) pool[i].record_latency(milliseconds(5));
  auto a = make_balancer(BalanceKind::p2c_ewma, 1234);
  auto b = make_balancer(BalanceKind::p2c_ewma, 1234);
  const auto seq = sequence(*a, pool, 200);
  EXPECT_EQ(sequence(*b, pool, 200), seq);
  EXPECT_EQ(std::set<int>(seq.begin(), seq.end()), (std::set<int>{0, 1, 2}));

  auto c = make_balancer(BalanceKind::p2c_ewma, 4321);
  EXPECT_NE(sequence(*c, pool, 200), seq);
}

}  // namespace
}  // namespace tenx::gateway
