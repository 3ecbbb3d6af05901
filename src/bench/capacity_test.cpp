// The capacity search on a simulated system and simulated time: no sockets, no sleeping.
#include "bench/capacity.h"

#include "bench/plan.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sstream>

namespace tenx::bench {
namespace {

using ::testing::HasSubstr;

// Holds p99 = 5 ms up to `knee` requests/s, then latency explodes. Each step advances the
// simulated clock by its duration.
class SimulatedSystem : public StepRunner {
 public:
  explicit SimulatedSystem(double knee) : knee_(knee) {}
  double probe(double seconds) override {
    now += seconds;
    return knee_ * 1.3;
  }
  StepResult step(double rate, double seconds, const CapacityOptions&) override {
    StepResult s;
    s.achieved_rate = rate;
    const bool over = rate > knee_;
    s.observed_ms = {over ? 500.0 : 5.0};
    s.aborted = over && rate > 2 * knee_;
    now += s.aborted ? 1.0 : seconds;  // a badly broken step is cut short
    asked.push_back(rate);
    return s;
  }
  double now = 0;
  std::vector<double> asked;

 private:
  double knee_;
};

CapacityOptions options() {
  CapacityOptions o;
  o.slos = parse_slos({"p99=50ms"});
  o.step_s = 5;
  o.max_time_s = 300;
  return o;
}

TEST(Capacity, FindsTheKneeWithinThePrecisionAndNeverAbove) {
  SimulatedSystem sys(1234);
  auto o = options();
  auto r = find_capacity(o, sys, [&] { return sys.now; });
  EXPECT_LE(r.capacity_rps, 1234.0);
  EXPECT_GE(r.capacity_rps, 1234.0 * 0.95);
  EXPECT_FALSE(r.time_bound_hit);
  // Ramp starts at an eighth of the probe and doubles.
  ASSERT_GE(sys.asked.size(), 3u);
  EXPECT_DOUBLE_EQ(sys.asked[0], std::floor(1234 * 1.3 / 8));
  EXPECT_DOUBLE_EQ(sys.asked[1], 2 * sys.asked[0]);
}

TEST(Capacity, HeadroomIsCapacityOverTodaysPeak) {
  SimulatedSystem sys(1000);
  auto o = options();
  o.current_rps = 80;
  auto r = find_capacity(o, sys, [&] { return sys.now; });
  EXPECT_NEAR(r.headroom, r.capacity_rps / 80, 1e-9);
  std::ostringstream out;
  print_capacity(out, r, o);
  EXPECT_THAT(out.str(), HasSubstr("x today's peak"));
  EXPECT_THAT(out.str(), HasSubstr("highest rate holding the SLO"));
}

TEST(Capacity, NeverRunsPastItsTimeBound) {
  SimulatedSystem sys(100000);
  auto o = options();
  o.max_time_s = 23;  // the probe and three 5 s steps fit; a fourth does not
  auto r = find_capacity(o, sys, [&] { return sys.now; });
  EXPECT_TRUE(r.time_bound_hit);
  EXPECT_LE(sys.now, 23.0);
  EXPECT_EQ(sys.asked.size(), 4u);
  EXPECT_GT(r.capacity_rps, 0.0);
}

TEST(Capacity, FirstStepBreakingHalvesDownwards) {
  SimulatedSystem sys(40);
  auto o = options();
  o.start_rate = 1000;
  auto r = find_capacity(o, sys, [&] { return sys.now; });
  EXPECT_LE(r.capacity_rps, 40.0);
  EXPECT_GE(r.capacity_rps, 38.0);
  EXPECT_EQ(r.probe_rps, 0.0);  // a start rate skips the probe
}

TEST(Capacity, ErrorsAndAnUnservedRateBreakTheSlo) {
  class Erroring : public StepRunner {
   public:
    double probe(double) override { return 800; }
    StepResult step(double rate, double, const CapacityOptions&) override {
      StepResult s;
      s.observed_ms = {1};
      s.achieved_rate = std::min(rate, 300.0);  // serves at most 300/s
      s.error_rate = rate > 200 ? 0.01 : 0;
      return s;
    }
  } runner;
  auto o = options();
  o.max_error_rate = parse_error_rate("0.1%");
  double t = 0;
  auto r = find_capacity(o, runner, [&] { return t += 1; });
  EXPECT_LE(r.capacity_rps, 200.0);
  EXPECT_GT(r.capacity_rps, 180.0);
  bool saw_error_reason = false;
  for (const auto& s : r.steps)
    if (!s.held && s.why.find("errors") != std::string::npos) saw_error_reason = true;
  EXPECT_TRUE(saw_error_reason);
}

TEST(Capacity, SloAndErrorRateParsing) {
  auto s = parse_slos({"p99=50ms,p99.9=0.2s", "p50=800us"});
  ASSERT_EQ(s.size(), 3u);
  EXPECT_DOUBLE_EQ(s[0].quantile, 0.99);
  EXPECT_DOUBLE_EQ(s[0].limit_ms, 50);
  EXPECT_DOUBLE_EQ(s[1].quantile, 0.999);
  EXPECT_DOUBLE_EQ(s[1].limit_ms, 200);
  EXPECT_DOUBLE_EQ(s[2].limit_ms, 0.8);
  EXPECT_DOUBLE_EQ(parse_error_rate("0.1%"), 0.001);
  EXPECT_DOUBLE_EQ(parse_error_rate("0.02"), 0.02);
  EXPECT_THROW(parse_slos({"p99=50"}), PlanError);
  EXPECT_THROW(parse_slos({"q99=50ms"}), PlanError);
  EXPECT_THROW(parse_slos({"p100=50ms"}), PlanError);
  EXPECT_THROW(parse_slos({}), PlanError);
  EXPECT_THROW(parse_error_rate("lots"), PlanError);
  EXPECT_THROW(parse_error_rate("150%"), PlanError);
}

TEST(Capacity, SloListIsACommaListWithOptionalSpaces) {
  // The list rules of every list tenx reads (core::split_list, RFC 9110 §5.6.1).
  const auto s = parse_slos({" p50=10ms, p99=50ms ,,"});
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0].label, "p50");
  EXPECT_EQ(s[1].label, "p99");
  EXPECT_THROW(parse_slos({" , "}), PlanError);  // no SLO at all
  try {
    parse_slos({"p99=50ms, p9 9=1ms"});
    ADD_FAILURE() << "no exception";
  } catch (const PlanError& e) {
    EXPECT_NE(std::string(e.what()).find("bad --slo \"p9 9=1ms\""), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace tenx::bench
