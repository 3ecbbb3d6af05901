#include "gateway/proxy/retry_budget.h"

#include <gtest/gtest.h>

namespace tenx::gateway {
namespace {

int spend_all(RetryBudget& b, std::int64_t second, std::size_t worker, int most = 10'000) {
  int n = 0;
  while (n < most && b.try_spend(second, worker)) ++n;
  return n;
}

TEST(RetryBudget, FloorAllowsTwoSecondsOfMinimumRetriesWithNoTraffic) {
  RetryBudget b(0.2, 10, 1);
  EXPECT_EQ(spend_all(b, 100, 0), 20);  // the current and the previous second
}

TEST(RetryBudget, ShareOfRecentRequestsAddsToTheFloor) {
  RetryBudget b(0.2, 0, 2);
  for (int i = 0; i < 50; ++i) b.count_request(100, 0);
  for (int i = 0; i < 50; ++i) b.count_request(100, 1);
  EXPECT_EQ(spend_all(b, 100, 1), 20);  // 20 % of 100 requests over both workers
}

TEST(RetryBudget, OldSecondsNoLongerCount) {
  RetryBudget b(0.5, 0, 1);
  for (int i = 0; i < 100; ++i) b.count_request(100, 0);
  EXPECT_EQ(spend_all(b, 100, 0), 50);
  // Two seconds later the requests and the retries of second 100 are forgotten.
  b.count_request(102, 0);
  b.count_request(102, 0);
  EXPECT_EQ(spend_all(b, 102, 0), 1);
}

TEST(RetryBudget, PreviousSecondStillCounts) {
  RetryBudget b(1.0, 0, 1);
  for (int i = 0; i < 10; ++i) b.count_request(100, 0);
  b.count_request(101, 0);
  EXPECT_EQ(spend_all(b, 101, 0), 11);
}

TEST(RetryBudget, ZeroShareAndFloorAllowsNoRetry) {
  RetryBudget b(0.0, 0, 1);
  for (int i = 0; i < 100; ++i) b.count_request(5, 0);
  EXPECT_FALSE(b.try_spend(5, 0));
}

}  // namespace
}  // namespace tenx::gateway
