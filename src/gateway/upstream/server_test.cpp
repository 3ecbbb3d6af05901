// Passive health, slow start and active-check streaks of one upstream server, on a
// ManualClock: every time comes from the injected clock, so nothing here sleeps.
#include "gateway/upstream/server.h"
#include "gateway/upstream/health_checker.h"

#include "core/clock.h"

#include <gtest/gtest.h>

#include <chrono>

namespace tenx::gateway {
namespace {

using namespace std::chrono_literals;

UpstreamServer make_server(std::uint32_t weight, std::uint32_t max_fails,
                           std::chrono::milliseconds fail_timeout,
                           std::chrono::milliseconds slow_start = 0ms) {
  ServerParams p;
  p.address = "127.0.0.1:9001";
  p.weight = weight;
  p.max_fails = max_fails;
  p.fail_timeout = fail_timeout;
  p.slow_start = slow_start;
  return UpstreamServer(std::move(p), {});
}

TEST(PassiveHealth, MaxFailsWithinFailTimeoutMarkDownForFailTimeout) {
  core::ManualClock clock;
  auto s = make_server(1, 2, 10s);
  EXPECT_FALSE(s.report_failure(clock.now()));
  clock.advance(3s);
  EXPECT_TRUE(s.report_failure(clock.now())) << "the second failure within 10 s marks it down";
  EXPECT_FALSE(s.available(clock.now()));
  clock.advance(9999ms);
  EXPECT_FALSE(s.available(clock.now())) << "down for fail_timeout from the failure";
  clock.advance(1ms);
  EXPECT_TRUE(s.available(clock.now()));
}

TEST(PassiveHealth, FailuresFurtherApartThanFailTimeoutDoNotAddUp) {
  core::ManualClock clock;
  auto s = make_server(1, 2, 10s);
  EXPECT_FALSE(s.report_failure(clock.now()));
  clock.advance(10001ms);
  EXPECT_FALSE(s.report_failure(clock.now())) << "the first failure's window has passed";
  EXPECT_TRUE(s.available(clock.now()));
  clock.advance(1s);
  EXPECT_TRUE(s.report_failure(clock.now()));
}

TEST(PassiveHealth, ASuccessClearsTheCount) {
  core::ManualClock clock;
  auto s = make_server(1, 2, 10s);
  EXPECT_FALSE(s.report_failure(clock.now()));
  s.report_success();
  EXPECT_EQ(s.fails(), 0u);
  EXPECT_FALSE(s.report_failure(clock.now())) << "counting starts again after a success";
  EXPECT_TRUE(s.available(clock.now()));
}

TEST(PassiveHealth, MaxFailsZeroNeverMarksDown) {
  core::ManualClock clock;
  auto s = make_server(1, 0, 10s);
  for (int i = 0; i < 100; ++i) EXPECT_FALSE(s.report_failure(clock.now()));
  EXPECT_TRUE(s.available(clock.now()));
}

TEST(SlowStart, WeightRampsLinearlyAfterThePassivePause) {
  core::ManualClock clock;
  auto s = make_server(10, 1, 1s, 20s);
  EXPECT_EQ(s.effective_weight(clock.now()), 10u) << "no ramp before any recovery";
  ASSERT_TRUE(s.report_failure(clock.now()));
  clock.advance(1s);  // the pause ends: the ramp starts here
  EXPECT_TRUE(s.available(clock.now()));
  EXPECT_EQ(s.effective_weight(clock.now()), 1u) << "never below 1";
  clock.advance(10s);
  EXPECT_EQ(s.effective_weight(clock.now()), 5u) << "half way through the ramp";
  clock.advance(10s);
  EXPECT_EQ(s.effective_weight(clock.now()), 10u);
}

config::HealthCheckConfig thresholds(std::uint32_t healthy, std::uint32_t unhealthy) {
  config::HealthCheckConfig c;
  c.healthy_threshold = healthy;
  c.unhealthy_threshold = unhealthy;
  return c;
}

TEST(ProbeStreak, UnhealthyAfterThresholdFailuresInARowHealthyAfterThresholdPasses) {
  core::ManualClock clock;
  auto s = make_server(1, 1, 10s);
  ProbeStreak streak;
  const auto c = thresholds(2, 3);
  EXPECT_EQ(apply_probe_result(s, streak, c, false, clock), HealthChange::none);
  EXPECT_EQ(apply_probe_result(s, streak, c, false, clock), HealthChange::none);
  EXPECT_EQ(apply_probe_result(s, streak, c, true, clock), HealthChange::none)
      << "a pass breaks the run of failures";
  EXPECT_EQ(apply_probe_result(s, streak, c, false, clock), HealthChange::none);
  EXPECT_EQ(apply_probe_result(s, streak, c, false, clock), HealthChange::none);
  EXPECT_TRUE(s.healthy());
  EXPECT_EQ(apply_probe_result(s, streak, c, false, clock), HealthChange::became_unhealthy);
  EXPECT_FALSE(s.healthy());
  EXPECT_EQ(apply_probe_result(s, streak, c, true, clock), HealthChange::none);
  EXPECT_FALSE(s.healthy());
  EXPECT_EQ(apply_probe_result(s, streak, c, true, clock), HealthChange::became_healthy);
  EXPECT_TRUE(s.healthy());
  EXPECT_EQ(apply_probe_result(s, streak, c, true, clock), HealthChange::none);
}

TEST(ProbeStreak, RecoveryStartsSlowStartAtTheClocksTimeAndStampsTheCheck) {
  core::ManualClock clock;
  auto s = make_server(8, 1, 10s, 8s);
  ProbeStreak streak;
  const auto c = thresholds(1, 1);
  ASSERT_EQ(apply_probe_result(s, streak, c, false, clock), HealthChange::became_unhealthy);
  clock.advance(30s);
  ASSERT_EQ(apply_probe_result(s, streak, c, true, clock), HealthChange::became_healthy);
  EXPECT_EQ(s.effective_weight(clock.now()), 1u);
  clock.advance(4s);
  EXPECT_EQ(s.effective_weight(clock.now()), 4u);
  clock.advance(4s);
  EXPECT_EQ(s.effective_weight(clock.now()), 8u);
  const auto wall_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                           (clock.wall_now() - 8s).time_since_epoch())
                           .count();
  EXPECT_EQ(s.last_check_unix_ms(), wall_ms) << "the last check is the clock's wall time";
}

}  // namespace
}  // namespace tenx::gateway
