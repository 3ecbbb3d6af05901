// Static files through a gateway route, as a browser sees them: validators and 304s, ranges,
// immutable caching for fingerprinted names, and no way out of the root directory.
#include "support/process.h"
#include "support/raw_client.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace tenx::e2e {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

class GatewayStatic : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / fmt::format("tenx-static-{}-{}", ::getpid(), counter_++);
    fs::create_directories(dir_ / "public" / "docs");
    write(dir_ / "public" / "hello.txt", "hello, static world\n");
    write(dir_ / "public" / "app.3f2a9c1b.js", "console.log('fingerprinted');\n");
    write(dir_ / "public" / "docs" / "index.html", "<h1>docs</h1>\n");
    write(dir_ / "secret.txt", "outside the root\n");
    fs::create_symlink(dir_ / "secret.txt", dir_ / "public" / "link-out.txt");
    config_ = std::make_unique<TempFile>(fmt::format(R"([server]
threads = 1
[log]
level = "warn"
[[gateway.routes]]
prefix = "/static/"
static_root = "{}"
cache_control = "public, max-age=300"
)",
                                                     (dir_ / "public").string()));
    gw_ = std::make_unique<TenxProcess>(gateway_args(config_->path()));
    port_ = gw_->wait_listening().value_or(0);
    ASSERT_NE(port_, 0) << gw_->stderr_text();
  }
  void TearDown() override {
    if (gw_) {
      gw_->signal(SIGTERM);
      EXPECT_EQ(gw_->wait_exit(10s), 0) << gw_->stderr_text();
    }
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  static void write(const fs::path& p, const std::string& text) {
    std::ofstream(p, std::ios::binary) << text;
  }
  std::optional<Response> get(std::string_view path, std::string_view extra = {},
                              bool head = false) {
    RawClient c(port_);
    if (!c.ok()) return std::nullopt;
    const std::string req =
        fmt::format("{} {} HTTP/1.1\r\nHost: test\r\n{}\r\n", head ? "HEAD" : "GET", path, extra);
    if (!c.send(req)) return std::nullopt;
    return c.read_response(head);
  }

  static inline int counter_ = 0;
  fs::path dir_;
  std::unique_ptr<TempFile> config_;
  std::unique_ptr<TenxProcess> gw_;
  std::uint16_t port_ = 0;
};

TEST_F(GatewayStatic, ServesAFileWithValidatorsAndItsPolicy) {
  const auto r = get("/static/hello.txt");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "hello, static world\n");
  EXPECT_THAT(r->header("content-type").value_or(""), StartsWith("text/plain"));
  EXPECT_THAT(r->header("etag").value_or(""), StartsWith("\""));
  EXPECT_THAT(r->header("last-modified").value_or(""), HasSubstr("GMT"));
  EXPECT_EQ(r->header("cache-control").value_or(""), "public, max-age=300");
}

TEST_F(GatewayStatic, MatchingIfNoneMatchIs304WithoutBody) {
  const auto first = get("/static/hello.txt");
  ASSERT_TRUE(first);
  const auto etag = first->header("etag").value_or("");
  const auto r = get("/static/hello.txt", "If-None-Match: " + etag + "\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 304);
  EXPECT_EQ(r->body, "");
  EXPECT_EQ(r->header("etag").value_or(""), etag);
  const auto other = get("/static/hello.txt", "If-None-Match: \"nope\"\r\n");
  ASSERT_TRUE(other);
  EXPECT_EQ(other->status, 200);
}

TEST_F(GatewayStatic, IfModifiedSinceIs304UnlessTheFileIsNewer) {
  const auto first = get("/static/hello.txt");
  ASSERT_TRUE(first);
  const auto lm = first->header("last-modified").value_or("");
  const auto same = get("/static/hello.txt", "If-Modified-Since: " + lm + "\r\n");
  ASSERT_TRUE(same);
  EXPECT_EQ(same->status, 304);
  const auto old = get("/static/hello.txt", "If-Modified-Since: Mon, 01 Jan 2001 00:00:00 GMT\r\n");
  ASSERT_TRUE(old);
  EXPECT_EQ(old->status, 200);
}

TEST_F(GatewayStatic, FingerprintedNamesAreImmutable) {
  const auto r = get("/static/app.3f2a9c1b.js");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->header("cache-control").value_or(""), "public, max-age=31536000, immutable");
  EXPECT_THAT(r->header("content-type").value_or(""), StartsWith("text/javascript"));
}

TEST_F(GatewayStatic, RangesAre206AndUnsatisfiableOnesAre416) {
  const auto r = get("/static/hello.txt", "Range: bytes=7-12\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 206);
  EXPECT_EQ(r->body, "static");
  EXPECT_EQ(r->header("content-range").value_or(""), "bytes 7-12/20");
  const auto tail = get("/static/hello.txt", "Range: bytes=-6\r\n");
  ASSERT_TRUE(tail);
  EXPECT_EQ(tail->status, 206);
  EXPECT_EQ(tail->body, "world\n");
  const auto bad = get("/static/hello.txt", "Range: bytes=100-\r\n");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 416);
  EXPECT_EQ(bad->header("content-range").value_or(""), "bytes */20");
  const auto stale = get("/static/hello.txt", "Range: bytes=0-4\r\nIf-Range: \"old\"\r\n");
  ASSERT_TRUE(stale);
  EXPECT_EQ(stale->status, 200);  // If-Range does not match: the whole file
  EXPECT_EQ(stale->body, "hello, static world\n");
}

TEST_F(GatewayStatic, DirectoryServesItsIndexAndHeadHasNoBody) {
  const auto r = get("/static/docs/");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "<h1>docs</h1>\n");
  const auto h = get("/static/hello.txt", {}, true);
  ASSERT_TRUE(h);
  EXPECT_EQ(h->status, 200);
  EXPECT_EQ(h->header("content-length").value_or(""), "20");
  EXPECT_EQ(h->body, "");
}

TEST_F(GatewayStatic, LargeFileArrivesWholeAcrossPieces) {
  // Bigger than the 64 KiB pieces the route reads and sends: the streamed path, not one write.
  std::string big;
  for (int i = 0; big.size() < 200 * 1024; ++i) big += fmt::format("line {:06d}\n", i);
  write(dir_ / "public" / "big.txt", big);
  const auto r = get("/static/big.txt");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body.size(), big.size());
  EXPECT_TRUE(r->body == big);
  const auto part = get("/static/big.txt", "Range: bytes=65530-65549\r\n");
  ASSERT_TRUE(part);
  EXPECT_EQ(part->status, 206);
  EXPECT_EQ(part->body, big.substr(65530, 20));
}

TEST_F(GatewayStatic, NoPathLeavesTheRoot) {
  for (const char* path :
       {"/static/../secret.txt", "/static/%2e%2e/secret.txt", "/static/..%2fsecret.txt",
        "/static/%2e%2e%2fsecret.txt", "/static/docs/../../secret.txt", "/static//etc/passwd",
        "/static/%2fetc%2fpasswd", "/static/link-out.txt", "/static/docs/..%2f..%2fsecret.txt"}) {
    SCOPED_TRACE(path);
    const auto r = get(path);
    ASSERT_TRUE(r);
    // 404 (dot segments resolved before routing, a link out refused) or 400 (an encoded '/').
    EXPECT_TRUE(r->status == 404 || r->status == 400) << r->status;
    EXPECT_THAT(r->body, Not(HasSubstr("outside the root")));
    EXPECT_THAT(r->body, Not(HasSubstr("root:")));
  }
}

TEST_F(GatewayStatic, AFifoInTheRootIsNotFoundAndHangsNothing) {
  ASSERT_EQ(::mkfifo((dir_ / "public" / "pipe").c_str(), 0600), 0);
  const auto r = get("/static/pipe");
  ASSERT_TRUE(r) << "the request for a FIFO got no answer";
  EXPECT_EQ(r->status, 404);
  const auto after = get("/static/hello.txt");
  ASSERT_TRUE(after) << "the worker is stuck";
  EXPECT_EQ(after->status, 200);
}

TEST_F(GatewayStatic, DotfilesAreNotServedButWellKnownIs) {
  write(dir_ / "public" / ".env", "SECRET=1\n");
  fs::create_directories(dir_ / "public" / ".git");
  write(dir_ / "public" / ".git" / "config", "[core]\n");
  fs::create_directories(dir_ / "public" / "docs" / ".hidden");
  write(dir_ / "public" / "docs" / ".hidden" / "x.txt", "x\n");
  fs::create_directories(dir_ / "public" / ".well-known");
  write(dir_ / "public" / ".well-known" / "security.txt", "Contact: ops@example.test\n");
  for (const char* p :
       {"/static/.env", "/static/.git/config", "/static/docs/.hidden/x.txt", "/static/%2eenv"}) {
    const auto r = get(p);
    ASSERT_TRUE(r) << p;
    EXPECT_EQ(r->status, 404) << p;
    EXPECT_THAT(r->body, Not(HasSubstr("SECRET"))) << p;
  }
  const auto known = get("/static/.well-known/security.txt");
  ASSERT_TRUE(known);
  EXPECT_EQ(known->status, 200);
}

TEST_F(GatewayStatic, EtagChangesWhenAFileChangesWithinTheSameSecond) {
  const auto file = dir_ / "public" / "same.txt";
  write(file, "aaaa");
  timespec times[2] = {{1'700'000'000, 100}, {1'700'000'000, 100}};
  ASSERT_EQ(::utimensat(AT_FDCWD, file.c_str(), times, 0), 0);
  const auto first = get("/static/same.txt");
  ASSERT_TRUE(first);
  write(file, "bbbb");                                // same size
  times[0].tv_nsec = times[1].tv_nsec = 900'000'000;  // same second
  ASSERT_EQ(::utimensat(AT_FDCWD, file.c_str(), times, 0), 0);
  const auto second = get("/static/same.txt");
  ASSERT_TRUE(second);
  EXPECT_EQ(second->body, "bbbb");
  EXPECT_NE(first->header("ETag"), second->header("ETag"));
  // And a client holding the old ETag gets the new body, not a 304.
  const auto revalidated =
      get("/static/same.txt", "If-None-Match: " + *first->header("ETag") + "\r\n");
  ASSERT_TRUE(revalidated);
  EXPECT_EQ(revalidated->status, 200);
}

TEST_F(GatewayStatic, DirectoryWithoutTrailingSlashIsRedirected) {
  const auto r = get("/static/docs?x=1");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 301);
  EXPECT_EQ(r->header("Location"), "/static/docs/?x=1");
  const auto index = get("/static/docs/");
  ASSERT_TRUE(index);
  EXPECT_EQ(index->status, 200);
  EXPECT_EQ(index->body, "<h1>docs</h1>\n");
}

TEST_F(GatewayStatic, OtherMethodsAre405) {
  RawClient c(port_);
  ASSERT_TRUE(c.send("DELETE /static/hello.txt HTTP/1.1\r\nHost: t\r\n\r\n"));
  const auto r = c.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 405);
  EXPECT_EQ(r->header("allow").value_or(""), "GET, HEAD");
}

}  // namespace
}  // namespace tenx::e2e
