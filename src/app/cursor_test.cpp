#include "app/cursor.h"

#include <gtest/gtest.h>

namespace tenx::app {
namespace {

TEST(Cursor, RoundTripsPositions) {
  CursorCodec c("k");
  for (CursorPosition p : {CursorPosition{1, 1}, CursorPosition{1'790'000'000'123'456, 987654321},
                           CursorPosition{0, INT64_MAX}}) {
    auto back = c.decode(c.encode(p));
    ASSERT_TRUE(back);
    EXPECT_EQ(*back, p);
  }
}

TEST(Cursor, IsUrlSafeAndOpaque) {
  CursorCodec c("k");
  const auto s = c.encode({1'790'000'000'000'000, 42});
  EXPECT_EQ(s.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
            std::string::npos);
  EXPECT_EQ(s.find("42"), std::string::npos);
}

TEST(Cursor, RefusesEveryOneCharacterEditAndOtherKeys) {
  CursorCodec c("k");
  const auto s = c.encode({1'790'000'000'000'000, 42});
  for (std::size_t i = 0; i < s.size(); ++i) {
    auto t = s;
    t[i] = t[i] == 'A' ? 'B' : 'A';
    EXPECT_FALSE(c.decode(t)) << "edit at " << i;
  }
  EXPECT_FALSE(CursorCodec("other").decode(s));
  EXPECT_FALSE(c.decode(""));
  EXPECT_FALSE(c.decode(s.substr(1)));
  EXPECT_FALSE(c.decode(s + "A"));
  EXPECT_FALSE(c.decode(std::string(s.size(), '!')));
}

}  // namespace
}  // namespace tenx::app

#include "app/api/detail.h"

namespace tenx::app {
namespace {

TEST(IsoTime, FormatsUtcWithMicroseconds) {
  EXPECT_EQ(detail::iso_time(0), "1970-01-01T00:00:00.000000Z");
  EXPECT_EQ(detail::iso_time(1'790'000'000'123'456), "2026-09-21T14:13:20.123456Z");
  EXPECT_EQ(detail::iso_time(951'782'400'000'001), "2000-02-29T00:00:00.000001Z");  // leap day
  EXPECT_EQ(detail::iso_time(4'102'444'799'999'999), "2099-12-31T23:59:59.999999Z");
  EXPECT_EQ(detail::iso_time(-1), "1969-12-31T23:59:59.999999Z");
}

}  // namespace
}  // namespace tenx::app
