// Unit tests of what needs no server: the reply reader, commands, URLs, SHA-1, backoff.
#include "redis/reply.h"
#include "redis/command.h"
#include "redis/connection.h"
#include "redis/errors.h"
#include "redis/sha1.h"
#include "redis/url.h"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

namespace tenx::redis {
namespace {

Reply read_one(std::string_view bytes) {
  ReplyReader r;
  EXPECT_FALSE(r.feed(bytes));
  auto next = r.next();
  EXPECT_TRUE(next.has_value());
  EXPECT_TRUE(next->has_value());
  return std::move(**next);
}

TEST(ReplyReader, ReadsEveryRespTwoType) {
  EXPECT_EQ(read_one("+OK\r\n").type(), Reply::Type::status);
  EXPECT_TRUE(read_one("+OK\r\n").is_ok());
  EXPECT_EQ(read_one(":-42\r\n").integer(), -42);
  EXPECT_TRUE(read_one("$-1\r\n").is_nil());
  EXPECT_TRUE(read_one("*-1\r\n").is_nil());
  const auto s = read_one(std::string_view("$5\r\na\r\nb\0\r\n", 11));  // CR LF, NUL inside
  EXPECT_EQ(s.type(), Reply::Type::string);
  EXPECT_EQ(s.text(), std::string("a\r\nb", 4) + std::string(1, '\0'));
  const auto a = read_one("*3\r\n$1\r\nx\r\n:7\r\n*1\r\n$-1\r\n");
  ASSERT_TRUE(a.is_array());
  ASSERT_EQ(a.elements().size(), 3U);
  EXPECT_EQ(a.elements()[0].text(), "x");
  EXPECT_EQ(a.elements()[1].integer(), 7);
  EXPECT_TRUE(a.elements()[2].elements()[0].is_nil());
}

TEST(ReplyReader, ReassemblesRepliesSplitAtAnyByte) {
  const std::string wire = "*2\r\n$11\r\nhello world\r\n:12345\r\n+PONG\r\n";
  for (std::size_t cut = 1; cut < wire.size(); ++cut) {
    ReplyReader r;
    ASSERT_FALSE(r.feed(std::string_view(wire).substr(0, cut)));
    std::vector<Reply> got;
    for (auto n = r.next(); n && *n; n = r.next()) got.push_back(std::move(**n));
    ASSERT_FALSE(r.feed(std::string_view(wire).substr(cut)));
    for (auto n = r.next(); n && *n; n = r.next()) got.push_back(std::move(**n));
    ASSERT_EQ(got.size(), 2U) << "cut at " << cut;
    EXPECT_EQ(got[0].elements()[0].text(), "hello world");
    EXPECT_EQ(got[0].elements()[1].integer(), 12345);
    EXPECT_EQ(got[1].text(), "PONG");
  }
}

TEST(ReplyReader, ErrorRepliesNameTheServerError) {
  EXPECT_EQ(read_one("-WRONGTYPE Operation against a key\r\n").server_error(), Errc::wrong_type);
  EXPECT_EQ(read_one("-LOADING Redis is loading\r\n").server_error(), Errc::loading);
  EXPECT_EQ(read_one("-READONLY You can't write\r\n").server_error(), Errc::read_only);
  EXPECT_EQ(read_one("-NOSCRIPT No matching script\r\n").server_error(), Errc::no_script);
  const auto err = read_one("-ERR unknown command\r\n");
  EXPECT_EQ(err.server_error(), Errc::server_error);
  EXPECT_EQ(err.text(), "ERR unknown command");
  EXPECT_TRUE(is_server(err.server_error()));
  EXPECT_FALSE(is_transport(err.server_error()));
  EXPECT_TRUE(is_transport(make_error_code(Errc::disconnected)));
  EXPECT_FALSE(is_server(make_error_code(Errc::timeout)));
  EXPECT_FALSE(read_one("+OK\r\n").server_error());
}

TEST(ReplyReader, RefusesBytesThatAreNotResp) {
  ReplyReader r;
  ASSERT_FALSE(r.feed("?what\r\n"));
  auto n = r.next();
  ASSERT_FALSE(n.has_value());
  EXPECT_EQ(n.error(), Errc::protocol);
  EXPECT_EQ(r.feed("+OK\r\n"), Errc::protocol) << "a failed reader stays failed";
}

TEST(ReplyReader, RefusesAReplyOverTheLimitBeforeItIsComplete) {
  ReplyReader r(1024);
  ASSERT_FALSE(r.feed("$100000\r\n" + std::string(2000, 'x')));
  auto n = r.next();
  ASSERT_FALSE(n.has_value());
  EXPECT_EQ(n.error(), Errc::reply_too_large);
}

// Found by reply_fuzz: "*555555550" made hiredis's own array object calloc 4.4 GB before a
// single element had arrived. An array announcing more elements than the reply limit could hold
// (each takes at least 3 bytes) is refused at once, whatever its nesting.
TEST(ReplyReader, RefusesAnArrayCountTheReplyLimitCannotHold) {
  for (const std::string announce : {"*555555550\r\n", "*2\r\n:1\r\n*2147483647\r\n"}) {
    ReplyReader r(4096);
    ASSERT_FALSE(r.feed(announce));
    auto n = r.next();
    ASSERT_FALSE(n.has_value()) << announce;
    EXPECT_EQ(n.error(), Errc::reply_too_large) << announce;
  }
  ReplyReader ok(4096);
  ASSERT_FALSE(ok.feed("*3\r\n:1\r\n*1\r\n$1\r\na\r\n$-1\r\n"));
  auto n = ok.next();
  ASSERT_TRUE(n.has_value() && n->has_value()) << "a nested array within the limit still reads";
  EXPECT_EQ((*n)->debug_string(), "[(integer) 1, [\"a\"], (nil)]");
}

TEST(ReplyReader, LimitCountsOneReplyNotTheWholeStream) {
  ReplyReader r(64);
  for (int i = 0; i < 100; ++i) {
    ASSERT_FALSE(r.feed("$10\r\n0123456789\r\n"));
    auto n = r.next();
    ASSERT_TRUE(n.has_value()) << n.error().message();
    ASSERT_TRUE(n->has_value());
  }
}

TEST(ReplyReader, LimitCountsManySmallElementsOfOneArray) {
  ReplyReader r(1000);
  std::string wire = "*100000\r\n";
  for (int i = 0; i < 500; ++i) wire += ":1\r\n";
  ASSERT_FALSE(r.feed(wire));
  auto n = r.next();
  ASSERT_FALSE(n.has_value());
  EXPECT_EQ(n.error(), Errc::reply_too_large);
}

TEST(Command, EncodesArraysOfBulkStrings) {
  std::string out;
  Command("SET", "k", std::string("v\r\n"), "PX", 1500).append_to(out);
  EXPECT_EQ(out, "*5\r\n$3\r\nSET\r\n$1\r\nk\r\n$3\r\nv\r\n\r\n$2\r\nPX\r\n$4\r\n1500\r\n");
  Command m("MGET");
  m.arg("a").arg("b");
  EXPECT_EQ(m.argc(), 3U);
  EXPECT_EQ(m.name(), "MGET");
}

TEST(RedisUrl, ParsesEveryPart) {
  const auto u = parse_url("redis://alice:p%40ss@cache.local:6380/3");
  EXPECT_EQ(u.host, "cache.local");
  EXPECT_EQ(u.port, 6380);
  EXPECT_EQ(u.user, "alice");
  EXPECT_EQ(u.password, "p@ss");
  EXPECT_EQ(u.db, 3);
  EXPECT_EQ(u.redacted(), "redis://alice:***@cache.local:6380/3");
  const auto d = parse_url("redis://127.0.0.1");
  EXPECT_EQ(d.port, 6379);
  EXPECT_EQ(d.db, 0);
  EXPECT_TRUE(d.password.empty());
  EXPECT_EQ(parse_url("redis://:secret@h:1").password, "secret");
  EXPECT_EQ(parse_url("redis://[::1]:7000").host, "::1");
}

TEST(RedisUrl, RefusesWhatItCannotHonourWithoutShowingThePassword) {
  for (const char* bad : {"http://h:1", "rediss://h:1", "redis://h:99999", "redis://h:1/x",
                          "redis://h:1?timeout=3", "redis://", "redis://h:1/-1", "redis://h:0"}) {
    EXPECT_THROW(parse_url(bad), std::invalid_argument) << bad;
  }
  try {
    parse_url("redis://u:hunter2@h:1/zz");
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_EQ(std::string(e.what()).find("hunter2"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("database number"), std::string::npos) << e.what();
  }
}

TEST(Sha1, MatchesTheFipsExamplesAndRedis) {
  EXPECT_EQ(sha1_hex("abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
  EXPECT_EQ(sha1_hex(""), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
  EXPECT_EQ(sha1_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
  EXPECT_EQ(sha1_hex(std::string(1000000, 'a')), "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
  // What `SCRIPT LOAD "return 1"` answers.
  EXPECT_EQ(sha1_hex("return 1"), "e0e1f9fabfc9d4800c877a703b823ac0578ff8db");
}

TEST(ReconnectDelay, GrowsExponentiallyWithFullJitterUpToTheCeiling) {
  Options o;
  o.reconnect_min = std::chrono::milliseconds(50);
  o.reconnect_max = std::chrono::milliseconds(5000);
  EXPECT_EQ(reconnect_delay(o, 0, 0.999).count(), 49);
  EXPECT_EQ(reconnect_delay(o, 3, 0.5).count(), 200);  // 50 * 2^3 * 0.5
  EXPECT_EQ(reconnect_delay(o, 20, 0.999).count(), 4995);
  EXPECT_EQ(reconnect_delay(o, 200, 0.5).count(), 2500);
  EXPECT_EQ(reconnect_delay(o, 5, 0.0).count(), 1) << "never a zero wait (no busy loop)";
}

}  // namespace
}  // namespace tenx::redis
