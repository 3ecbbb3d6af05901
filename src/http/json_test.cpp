#include "http/json.h"

#include <gtest/gtest.h>

namespace tenx::http {
namespace {

std::string quoted(std::string_view s) {
  std::string out;
  append_json_string(out, s);
  return out;
}

TEST(Json, EscapesQuotesBackslashesAndControlCharacters) {
  EXPECT_EQ(quoted("plain text"), "\"plain text\"");
  EXPECT_EQ(quoted(""), "\"\"");
  EXPECT_EQ(quoted("say \"hi\""), "\"say \\\"hi\\\"\"");
  EXPECT_EQ(quoted("a\\b"), "\"a\\\\b\"");
  EXPECT_EQ(quoted("l1\nl2\r\t"), "\"l1\\nl2\\r\\t\"");
  EXPECT_EQ(quoted(std::string_view("\x01z\x1f", 3)), "\"\\u0001z\\u001f\"");
  EXPECT_EQ(quoted("\"\""), "\"\\\"\\\"\"");
  EXPECT_EQ(quoted("caf\xc3\xa9"), "\"caf\xc3\xa9\"");  // UTF-8 passes through
}

TEST(Json, AppendsToWhatIsThere) {
  std::string out = "{\"k\":";
  append_json_string(out, "v");
  EXPECT_EQ(out, "{\"k\":\"v\"");
}

}  // namespace
}  // namespace tenx::http

namespace tenx::http {
namespace {

TEST(JsonMediaType, MatchesApplicationJsonInAnyCaseWithParameters) {
  for (const char* ct :
       {"application/json", "APPLICATION/JSON", "Application/Json; charset=utf-8",
        " application/json ", "application/merge-patch+json", "application/problem+JSON;q=1"})
    EXPECT_TRUE(is_json_media_type(ct)) << ct;
}

TEST(JsonMediaType, RefusesOtherTypesThatMentionJson) {
  for (const char* ct :
       {"text/plain;x=json", "text/json", "application/jsonx", "json", "",
        "application/x-www-form-urlencoded", "application/+json", "application/a/b+json"})
    EXPECT_FALSE(is_json_media_type(ct)) << ct;
}

}  // namespace
}  // namespace tenx::http
