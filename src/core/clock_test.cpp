// Clock: coarse_now() is now() at a coarser resolution, on the same epoch, never ahead of it;
// ManualClock's is exact. FunctionRef calls what it refers to, with its arguments.
#include "core/clock.h"
#include "core/function_ref.h"

#include <gtest/gtest.h>

#include <string>

namespace tenx::core {
namespace {

using namespace std::chrono_literals;

TEST(ClockTest, SystemCoarseNowIsNowAtATicksResolutionNeverAhead) {
  SystemClock& c = SystemClock::instance();
  for (int i = 0; i < 1000; ++i) {
    const auto coarse = c.coarse_now();
    const auto fine = c.now();
    ASSERT_LE(coarse, fine) << "coarse_now() must not run ahead of now()";
    ASSERT_LT(fine - coarse, 100ms) << "the same epoch, a tick (a few ms) behind at most";
  }
}

TEST(ClockTest, ManualCoarseNowIsExact) {
  ManualClock c;
  EXPECT_EQ(c.coarse_now(), c.now());
  c.advance(1ms);
  EXPECT_EQ(c.coarse_now(), c.now());
}

TEST(FunctionRefTest, CallsTheReferencedCallableWithItsArguments) {
  int calls = 0;
  std::string seen;
  auto f = [&](const std::string& s, int n) {
    ++calls;
    seen = s + std::to_string(n);
    return n * 2;
  };
  FunctionRef<int(const std::string&, int)> ref(f);
  EXPECT_EQ(ref("a", 3), 6);
  EXPECT_EQ(ref("b", 4), 8);
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(seen, "b4");
}

}  // namespace
}  // namespace tenx::core
