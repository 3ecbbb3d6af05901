#include "gateway/static_files.h"

#include "http/test_harness.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace tenx::gateway {
namespace {

TEST(StaticFiles, RecognisesFingerprintedNames) {
  EXPECT_TRUE(StaticFiles::fingerprinted("app.3f2a9c1b.js"));
  EXPECT_TRUE(StaticFiles::fingerprinted("assets/main-0123456789abcdef.css"));
  EXPECT_TRUE(StaticFiles::fingerprinted("vendor.DEADBEEF.min.js"));
}

TEST(StaticFiles, PlainNamesAreNotFingerprinted) {
  EXPECT_FALSE(StaticFiles::fingerprinted("app.js"));
  EXPECT_FALSE(StaticFiles::fingerprinted("index.html"));
  EXPECT_FALSE(StaticFiles::fingerprinted("app.3f2a9c1.js"));        // 7 hex digits: too short
  EXPECT_FALSE(StaticFiles::fingerprinted("deadbeefcafe.js"));       // the whole name, no stem
  EXPECT_FALSE(StaticFiles::fingerprinted("release.3f2a9c1bz.js"));  // not all hex
  EXPECT_FALSE(StaticFiles::fingerprinted("3f2a9c1b.dir/app.js"));   // only the file name counts
}

TEST(StaticFiles, RefusesARootThatIsNotADirectory) {
  EXPECT_THROW(StaticFiles("/nonexistent-tenx-root", "no-cache", "/"), std::runtime_error);
}

// The path taken when the kernel would have gone to disk: the open and every read on the
// blocking pool, the worker never waiting.
TEST(StaticFiles, ServesWholeFilesAndRedirectsThroughTheBlockingPool) {
  namespace fs = std::filesystem;
  const auto root = fs::temp_directory_path() / ("tenx-static-pool-" + std::to_string(::getpid()));
  fs::create_directories(root / "dir");
  std::string big(300 * 1024, 'q');
  for (std::size_t i = 0; i < big.size(); i += 997) big[i] = static_cast<char>('a' + i % 26);
  std::ofstream(root / "big.bin", std::ios::binary) << big;
  std::ofstream(root / "dir" / "index.html") << "index";
  StaticFiles::always_block_for_test(true);
  {
    auto files = std::make_shared<StaticFiles>(root.string(), "no-cache", "");
    http::test_support::TestServer s([files](http::Exchange& ex) -> boost::asio::awaitable<void> {
      co_await files->handle(ex);
    });
    auto whole = http::test_support::get_once(s, "/big.bin");
    ASSERT_TRUE(whole) << whole.error().message();
    EXPECT_EQ(whole->status, 200u);
    EXPECT_TRUE(whole->body == big) << "body of " << whole->body.size() << " bytes differs";
    auto moved = http::test_support::get_once(s, "/dir");
    ASSERT_TRUE(moved);
    EXPECT_EQ(moved->status, 301u);
    auto index = http::test_support::get_once(s, "/dir/");
    ASSERT_TRUE(index);
    EXPECT_EQ(index->body, "index");
  }
  StaticFiles::always_block_for_test(false);
  fs::remove_all(root);
}

}  // namespace
}  // namespace tenx::gateway
