#include "http/message.h"

#include <gtest/gtest.h>

#include <string>

namespace tenx::http {
namespace {

TEST(Message, IequalsIgnoresAsciiCaseOnly) {
  EXPECT_TRUE(iequals("Content-Length", "content-length"));
  EXPECT_TRUE(iequals("CHUNKED", "chunked"));
  EXPECT_TRUE(iequals("", ""));
  EXPECT_FALSE(iequals("chunked", "chunke"));
  EXPECT_FALSE(iequals("chunked", "chunkes"));
  // Characters that differ only in bit 0x20 but are not letters are different.
  EXPECT_FALSE(iequals("@", "`"));
  EXPECT_FALSE(iequals("[", "{"));
  EXPECT_FALSE(iequals("^", "~"));
  EXPECT_FALSE(iequals("1", "\x11"));
  EXPECT_FALSE(iequals("\xC9", "\xE9"));  // Latin-1 É / é: not ASCII, compared exactly
  EXPECT_TRUE(iequals("a-B_c.9", "A-b_C.9"));
}

TEST(Message, PercentDecodeDecodesEscapes) {
  std::string out;
  EXPECT_TRUE(percent_decode("a%20b%2Fc%2fd", out));
  EXPECT_EQ(out, "a b/c/d");
  EXPECT_TRUE(percent_decode("%41", out));
  EXPECT_EQ(out, "A");
  EXPECT_TRUE(percent_decode("", out));
  EXPECT_EQ(out, "");
  EXPECT_TRUE(percent_decode("%00x", out));
  EXPECT_EQ(out, std::string("\0x", 2));
  EXPECT_TRUE(percent_decode("%E2%82%AC", out));
  EXPECT_EQ(out, "\xE2\x82\xAC");
}

TEST(Message, PercentDecodeRefusesBadEscapes) {
  std::string out;
  EXPECT_FALSE(percent_decode("%", out));
  EXPECT_FALSE(percent_decode("abc%", out));
  EXPECT_FALSE(percent_decode("abc%4", out));
  EXPECT_FALSE(percent_decode("%G1", out));
  EXPECT_FALSE(percent_decode("%1G", out));
  EXPECT_FALSE(percent_decode("%%", out));
  EXPECT_FALSE(percent_decode("%-1", out));
}

TEST(Message, PercentDecodeReplacesOutputAndKeepsPlusUnlessAsked) {
  std::string out = "old";
  EXPECT_TRUE(percent_decode("a+b", out));
  EXPECT_EQ(out, "a+b");
  EXPECT_TRUE(percent_decode("a+b%2B", out, /*plus_as_space=*/true));
  EXPECT_EQ(out, "a b+");
}

TEST(Message, QueryParamFindsAndDecodesValues) {
  std::string out;
  EXPECT_TRUE(query_param("a=1&name=John+Smith%21&b=2", "name", out));
  EXPECT_EQ(out, "John Smith!");
  EXPECT_TRUE(query_param("a=1&b=2", "a", out));
  EXPECT_EQ(out, "1");
  EXPECT_TRUE(query_param("a=1&b=2", "b", out));
  EXPECT_EQ(out, "2");
  EXPECT_TRUE(query_param("flag&x=1", "flag", out));
  EXPECT_EQ(out, "");
  EXPECT_TRUE(query_param("x=&y=2", "x", out));
  EXPECT_EQ(out, "");
  // First occurrence wins.
  EXPECT_TRUE(query_param("k=first&k=second", "k", out));
  EXPECT_EQ(out, "first");
}

TEST(Message, QueryParamMissesAbsentKeysAndBadEscapes) {
  std::string out;
  EXPECT_FALSE(query_param("", "a", out));
  EXPECT_FALSE(query_param("ab=1&b=2", "a", out));  // a key is matched whole
  EXPECT_FALSE(query_param("a=1", "A", out));       // keys are case-sensitive
  EXPECT_FALSE(query_param("a=%zz", "a", out));
}

TEST(Message, RequestHeadSplitsPathAndQuery) {
  RequestHead h;
  h.target = "/api/posts?page=2&sort=new";
  EXPECT_EQ(h.path(), "/api/posts");
  EXPECT_EQ(h.query(), "page=2&sort=new");
  h.target = "/plain";
  EXPECT_EQ(h.path(), "/plain");
  EXPECT_EQ(h.query(), "");
  h.target = "/x?";
  EXPECT_EQ(h.path(), "/x");
  EXPECT_EQ(h.query(), "");
  h.target = "/x?a=1?b=2";
  EXPECT_EQ(h.path(), "/x");
  EXPECT_EQ(h.query(), "a=1?b=2");
}

TEST(Message, RequestHeadHasBodyFromFraming) {
  RequestHead h;
  EXPECT_FALSE(h.has_body());
  h.content_length = 0;
  EXPECT_FALSE(h.has_body());
  h.content_length = 5;
  EXPECT_TRUE(h.has_body());
  h.content_length.reset();
  h.chunked = true;
  EXPECT_TRUE(h.has_body());
}

TEST(Message, HeaderListFindsByIdAndByNameCaseInsensitively) {
  HeaderList list;
  list.push_back({Field::host, "Host", "example.com"});
  list.push_back({Field::unknown, "X-Trace", "abc"});
  list.push_back({Field::accept, "Accept", "text/html"});
  list.push_back({Field::accept, "accept", "application/json"});
  EXPECT_EQ(list.find(Field::host), "example.com");
  EXPECT_EQ(list.find(Field::accept), "text/html");  // first value
  EXPECT_EQ(list.find("x-trace"), "abc");
  EXPECT_EQ(list.find("ACCEPT"), "text/html");
  EXPECT_FALSE(list.find(Field::cookie).has_value());
  EXPECT_FALSE(list.find("X-Other").has_value());
  EXPECT_EQ(list.count(Field::accept), 2u);
  EXPECT_EQ(list.count(Field::cookie), 0u);
  EXPECT_EQ(list.size(), 4u);
}

TEST(Message, ReasonPhraseForKnownAndUnknownCodes) {
  EXPECT_EQ(reason_phrase(200), "OK");
  EXPECT_EQ(reason_phrase(404), "Not Found");
  EXPECT_EQ(reason_phrase(413), "Payload Too Large");
  EXPECT_EQ(reason_phrase(431), "Request Header Fields Too Large");
  EXPECT_EQ(reason_phrase(503), "Service Unavailable");
  EXPECT_EQ(reason_phrase(299), "Unknown");
  EXPECT_EQ(reason_phrase(999), "Unknown");
}

}  // namespace
}  // namespace tenx::http
