#include "http/path.h"

#include <gtest/gtest.h>

#include <string>

namespace tenx::http {
namespace {

std::string norm(std::string_view in, PathRules rules = {}) {
  std::string out;
  switch (normalize_path(in, out, rules)) {
    case PathStatus::unchanged:
      return std::string(in);
    case PathStatus::normalized:
      return out;
    case PathStatus::bad_escape:
      return "<bad escape>";
    case PathStatus::encoded_slash:
      return "<encoded slash>";
    case PathStatus::encoded_nul:
      return "<nul>";
  }
  return "?";
}

TEST(NormalizePath, EverySpellingOfAdminIsAdmin) {
  for (const char* p : {"/admin", "/%61dmin", "/%61%64%6D%69%6E", "//admin", "/./admin",
                        "/a/../admin", "/a/b/../../admin", "/../admin", "///./admin"})
    EXPECT_EQ(norm(p), "/admin") << p;
}

TEST(NormalizePath, TrailingSlashAndDotEndingsKeepADirectoryForm) {
  EXPECT_EQ(norm("/a/"), "/a/");
  EXPECT_EQ(norm("/a/."), "/a/");
  EXPECT_EQ(norm("/a/b/.."), "/a/");
  EXPECT_EQ(norm("/a/.."), "/");
  EXPECT_EQ(norm("/.."), "/");
  EXPECT_EQ(norm("/"), "/");
  EXPECT_EQ(norm("//"), "/");
}

TEST(NormalizePath, DotsInsideNamesAreNotSegments) {
  std::string out;
  EXPECT_EQ(normalize_path("/a/.hidden/..b/c..", out), PathStatus::unchanged);
}

TEST(NormalizePath, ReservedEscapesStayEncodedWithUpperCaseHex) {
  EXPECT_EQ(norm("/a%3fb"), "/a%3Fb");
  EXPECT_EQ(norm("/caf%c3%a9"), "/caf%C3%A9");
  EXPECT_EQ(norm("/a%20b"), "/a%20b");
}

TEST(NormalizePath, SlashRunsStayWhenMergingIsOff) {
  EXPECT_EQ(norm("/a//b", {.merge_slashes = false}), "/a//b");
  EXPECT_EQ(norm("/a//b/../c", {.merge_slashes = false}), "/a//c");
  EXPECT_EQ(norm("/a//b"), "/a/b");
}

TEST(NormalizePath, EncodedSeparatorsAndNulAreRefused) {
  EXPECT_EQ(norm("/a%2Fb"), "<encoded slash>");
  EXPECT_EQ(norm("/a%2fb"), "<encoded slash>");
  EXPECT_EQ(norm("/a%5Cb"), "<encoded slash>");
  EXPECT_EQ(norm("/a%2Fb", {.allow_encoded_slash = true}), "/a%2Fb");
  EXPECT_EQ(norm("/a%00b"), "<nul>");
  EXPECT_EQ(norm("/a%00b", {.allow_encoded_slash = true}), "<nul>");
}

TEST(NormalizePath, MalformedEscapesAreRefused) {
  for (const char* p : {"/a%", "/a%2", "/a%zz", "/a%2g", "/%"})
    EXPECT_EQ(norm(p), "<bad escape>") << p;
}

TEST(NormalizePath, OnlyOriginFormPathsAreTouched) {
  std::string out;
  EXPECT_EQ(normalize_path("*", out), PathStatus::unchanged);
  EXPECT_EQ(normalize_path("", out), PathStatus::unchanged);
}

TEST(NormalizePath, NormalFormIsAFixedPoint) {
  for (const char* p : {"/%61/../b//c/./d%2e%2e/", "/x/%7euser/../y", "/a/b/c/../../.."}) {
    const auto once = norm(p);
    EXPECT_EQ(norm(once), once) << p;
  }
}

}  // namespace
}  // namespace tenx::http
