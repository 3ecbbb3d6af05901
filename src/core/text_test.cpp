#include "core/text.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

namespace tenx::core {
namespace {

std::vector<std::string> elements(std::string_view list, char separator = ',') {
  std::vector<std::string> out;
  split_list(list, separator, [&](std::string_view e) { out.emplace_back(e); });
  return out;
}

using List = std::vector<std::string>;

TEST(TrimOws, StripsSpacesAndTabsAtBothEnds) {
  EXPECT_EQ(trim_ows("  a b \t"), "a b");
  EXPECT_EQ(trim_ows("\t\tx"), "x");
  EXPECT_EQ(trim_ows("x  "), "x");
  EXPECT_EQ(trim_ows("x"), "x");
}

TEST(TrimOws, LeavesOnlyWhitespaceEmpty) {
  EXPECT_EQ(trim_ows(""), "");
  EXPECT_EQ(trim_ows(" \t \t"), "");
}

TEST(TrimOws, KeepsWhitespaceThatIsNotOws) {
  // RFC 9110 §5.6.3: OWS is SP and HTAB only.
  EXPECT_EQ(trim_ows("\r\nx\n"), "\r\nx\n");
  EXPECT_EQ(trim_ows(" \vx\f "), "\vx\f");
}

TEST(TrimOws, ReturnsAViewIntoTheInput) {
  const std::string_view s = "  abc  ";
  const auto t = trim_ows(s);
  EXPECT_EQ(t.data(), s.data() + 2);
  EXPECT_EQ(t.size(), 3u);
}

TEST(SplitList, YieldsTrimmedElementsInOrder) {
  EXPECT_EQ(elements("a,b,c"), (List{"a", "b", "c"}));
  EXPECT_EQ(elements(" keep-alive ,\tUpgrade\t"), (List{"keep-alive", "Upgrade"}));
  EXPECT_EQ(elements("one"), (List{"one"}));
}

TEST(SplitList, SkipsEmptyElements) {
  // RFC 9110 §5.6.1: "a recipient MUST parse and ignore a reasonable number of empty list
  // elements".
  EXPECT_EQ(elements(",a,,b,"), (List{"a", "b"}));
  EXPECT_EQ(elements(" , \t ,"), List{});
  EXPECT_EQ(elements(""), List{});
  EXPECT_EQ(elements(","), List{});
}

TEST(SplitList, KeepsInnerWhitespace) { EXPECT_EQ(elements("a b, c\td"), (List{"a b", "c\td"})); }

TEST(SplitList, TakesAnotherSeparator) {
  EXPECT_EQ(elements("for=1.2.3.4; proto=http;;by=x", ';'),
            (List{"for=1.2.3.4", "proto=http", "by=x"}));
  EXPECT_EQ(elements("a,b;c", ';'), (List{"a,b", "c"}));
}

TEST(SplitList, StopsWhenTheCallbackReturnsFalse) {
  std::vector<std::string> seen;
  split_list("a, b, c, d", [&](std::string_view e) {
    seen.emplace_back(e);
    return e != "b";
  });
  EXPECT_EQ(seen, (List{"a", "b"}));
}

TEST(SplitList, ElementsAreViewsIntoTheList) {
  const std::string list = "x, yy";
  std::vector<std::string_view> views;
  split_list(list, [&](std::string_view e) { views.push_back(e); });
  ASSERT_EQ(views.size(), 2u);
  EXPECT_EQ(views[0].data(), list.data());
  EXPECT_EQ(views[1].data(), list.data() + 3);
}

TEST(TakeListElement, TakesOneElementAndLeavesTheRest) {
  std::string_view rest = " a ,b";
  EXPECT_EQ(take_list_element(rest, ','), "a");
  EXPECT_EQ(rest, "b");
  EXPECT_EQ(take_list_element(rest, ','), "b");
  EXPECT_TRUE(rest.empty());

  rest = ",x";
  EXPECT_EQ(take_list_element(rest, ','), "");  // an empty element is returned as such
  EXPECT_EQ(rest, "x");
}

}  // namespace
}  // namespace tenx::core
