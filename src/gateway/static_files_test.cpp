#include "gateway/static_files.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace tenx::gateway
