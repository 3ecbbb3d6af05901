#include "metrics/registry.h"

#include <gtest/gtest.h>

#include <cmath>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace tenx::metrics {
namespace {

// The exposition lines, for exact-line assertions.
std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

bool has_line(const std::string& text, const std::string& line) {
  for (const auto& l : lines_of(text))
    if (l == line) return true;
  return false;
}

// The value on the line that starts with `prefix ` (name and labels), or NaN.
double sample(const std::string& text, const std::string& prefix) {
  for (const auto& l : lines_of(text))
    if (l.size() > prefix.size() && l.compare(0, prefix.size(), prefix) == 0 &&
        l[prefix.size()] == ' ')
      return std::stod(l.substr(prefix.size() + 1));
  return std::nan("");
}

TEST(Registry, CounterWithLabelsIsExposedPerSeries) {
  Registry r;
  auto& f = r.counter("http_requests_total", "Requests served.", {"method", "status"});
  f.series({"GET", "200"}).inc();
  f.series({"GET", "200"}).inc(2);
  f.series({"POST", "500"}).inc();
  const auto text = r.expose();
  EXPECT_TRUE(has_line(text, "# HELP http_requests_total Requests served.")) << text;
  EXPECT_TRUE(has_line(text, "# TYPE http_requests_total counter")) << text;
  EXPECT_TRUE(has_line(text, R"(http_requests_total{method="GET",status="200"} 3)")) << text;
  EXPECT_TRUE(has_line(text, R"(http_requests_total{method="POST",status="500"} 1)")) << text;
}

TEST(Registry, GaugeGoesUpAndDown) {
  Registry r;
  auto s = r.gauge("open_connections", "Open connections.").series({});
  s.inc(5);
  s.dec(2);
  EXPECT_DOUBLE_EQ(s.value(), 3.0);
  const auto text = r.expose();
  EXPECT_TRUE(has_line(text, "# TYPE open_connections gauge")) << text;
  EXPECT_TRUE(has_line(text, "open_connections 3")) << text;
}

TEST(Registry, FractionalValuesAreExposedAsDecimals) {
  Registry r;
  r.gauge("ratio", "A ratio.").series({}).inc(0.25);
  EXPECT_TRUE(has_line(r.expose(), "ratio 0.25")) << r.expose();
}

TEST(Registry, ValuesFromSeveralThreadsAreSummed) {
  Registry r;
  auto& f = r.counter("jobs_total", "Jobs.", {"kind"});
  auto& h = r.histogram("job_seconds", "Job time.", {"kind"});
  constexpr int kThreads = 4;
  constexpr int kPerThread = 10'000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      auto s = f.series({"a"});
      auto hs = h.series({"a"});
      for (int i = 0; i < kPerThread; ++i) {
        s.inc();
        hs.observe_ns(1'000);
      }
      f.series({"b"}).inc(0.5);
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_DOUBLE_EQ(f.series({"a"}).value(), kThreads * kPerThread);
  EXPECT_DOUBLE_EQ(f.series({"b"}).value(), kThreads * 0.5);
  EXPECT_EQ(h.series({"a"}).histogram().count(), std::uint64_t{kThreads} * kPerThread);
  const auto text = r.expose();
  EXPECT_EQ(sample(text, R"(jobs_total{kind="a"})"), kThreads * kPerThread) << text;
  EXPECT_EQ(sample(text, R"(jobs_total{kind="b"})"), 2) << text;
  EXPECT_EQ(sample(text, R"(job_seconds_count{kind="a"})"), kThreads * kPerThread) << text;
}

TEST(Registry, SeriesValueIsZeroBeforeAnyRecording) {
  Registry r;
  auto s = r.counter("c_total", "C.", {"x"}).series({"1"});
  EXPECT_TRUE(s.valid());
  EXPECT_EQ(s.value(), 0.0);
  EXPECT_FALSE(Series().valid());
}

TEST(Registry, SeriesHandlesForSameLabelsShareOneValue) {
  Registry r;
  auto& f = r.counter("c_total", "C.", {"x"});
  auto a = f.series({"1"});
  std::vector<std::string_view> values = {"1"};
  auto b = f.series(values);
  a.inc();
  b.inc();
  EXPECT_EQ(a.value(), 2.0);
  EXPECT_EQ(f.series({"2"}).value(), 0.0);
}

TEST(Registry, LocalRegistriesAreIndependent) {
  Registry one, two;
  one.counter("c_total", "C.").series({}).inc(3);
  two.counter("c_total", "C.").series({}).inc(7);
  EXPECT_EQ(one.counter("c_total", "C.").series({}).value(), 3.0);
  EXPECT_EQ(two.counter("c_total", "C.").series({}).value(), 7.0);
}

TEST(Registry, LabelValuesAreEscapedInExposition) {
  Registry r;
  r.counter("odd_total", "Odd labels.", {"v"}).series({"a\"b\\c\nd"}).inc();
  const auto text = r.expose();
  EXPECT_TRUE(has_line(text, R"(odd_total{v="a\"b\\c\nd"} 1)")) << text;
}

TEST(Registry, HistogramExpositionHasBucketsSumAndCount) {
  Registry r;
  auto s = r.histogram("request_seconds", "Request time.", {"route"}).series({"/x"});
  s.observe_seconds(0.003);  // 3 ms
  s.observe_seconds(0.003);
  s.observe_seconds(2.0);
  s.observe_ns(50'000);  // 50 µs
  const auto text = r.expose();
  EXPECT_TRUE(has_line(text, "# HELP request_seconds Request time.")) << text;
  EXPECT_TRUE(has_line(text, "# TYPE request_seconds histogram")) << text;
  EXPECT_EQ(sample(text, R"(request_seconds_bucket{route="/x",le="0.0001"})"), 1) << text;
  EXPECT_EQ(sample(text, R"(request_seconds_bucket{route="/x",le="0.001"})"), 1) << text;
  EXPECT_EQ(sample(text, R"(request_seconds_bucket{route="/x",le="0.005"})"), 3) << text;
  EXPECT_EQ(sample(text, R"(request_seconds_bucket{route="/x",le="1"})"), 3) << text;
  EXPECT_EQ(sample(text, R"(request_seconds_bucket{route="/x",le="2.5"})"), 4) << text;
  EXPECT_EQ(sample(text, R"(request_seconds_bucket{route="/x",le="60"})"), 4) << text;
  EXPECT_EQ(sample(text, R"(request_seconds_bucket{route="/x",le="+Inf"})"), 4) << text;
  EXPECT_EQ(sample(text, R"(request_seconds_count{route="/x"})"), 4) << text;
  EXPECT_NEAR(sample(text, R"(request_seconds_sum{route="/x"})"), 2.00605, 1e-6) << text;
}

TEST(Registry, HistogramBucketsAreCumulativeAndInfEqualsCount) {
  Registry r;
  auto s = r.histogram("lat_seconds", "Latency.").series({});
  for (std::uint64_t ns = 10'000; ns < 100'000'000'000; ns = ns * 3 / 2) s.observe_ns(ns);
  const auto text = r.expose();
  double prev = 0;
  int buckets = 0;
  for (const auto& l : lines_of(text)) {
    if (l.rfind("lat_seconds_bucket{", 0) != 0) continue;
    const double v = std::stod(l.substr(l.rfind(' ') + 1));
    EXPECT_GE(v, prev) << l;
    prev = v;
    ++buckets;
  }
  EXPECT_GT(buckets, 10);
  EXPECT_EQ(sample(text, R"(lat_seconds_bucket{le="+Inf"})"), sample(text, "lat_seconds_count"));
  EXPECT_EQ(sample(text, "lat_seconds_count"), static_cast<double>(s.histogram().count()));
  // Observations above the last finite boundary (60 s) appear only in +Inf.
  EXPECT_LT(sample(text, R"(lat_seconds_bucket{le="60"})"), sample(text, "lat_seconds_count"));
}

TEST(Registry, RetiredSeriesAreNotExposedAndTheirCellsAreFreed) {
  Registry r;
  auto& reqs = r.counter("reqs_total", "Requests.", {"pool", "server"});
  auto& lat = r.histogram("lat_seconds", "Latency.", {"pool", "server"});
  reqs.series({"p", "a:1"}).inc(3);
  reqs.series({"p", "b:2"}).inc(5);
  lat.series({"p", "a:1"}).observe_ns(1000);
  ASSERT_EQ(r.cells_for_test(), 3u);
  const auto match = [](const std::vector<std::string>& v) { return v[1] == "a:1"; };
  EXPECT_EQ(reqs.retire_if(match), 1u);
  EXPECT_EQ(lat.retire_if(match), 1u);
  EXPECT_EQ(reqs.retire_if(match), 0u);  // already gone
  const auto text = r.expose();
  EXPECT_EQ(text.find("a:1"), std::string::npos) << text;
  EXPECT_TRUE(has_line(text, "reqs_total{pool=\"p\",server=\"b:2\"} 5")) << text;
  // This thread frees its cells the next time it records anything.
  reqs.series({"p", "b:2"}).inc();
  EXPECT_EQ(r.cells_for_test(), 1u);
  EXPECT_EQ(sample(r.expose(), "reqs_total{pool=\"p\",server=\"b:2\"}"), 6);
}

TEST(Registry, ASeriesRetiredAndSeenAgainStartsFromZero) {
  Registry r;
  auto& reqs = r.counter("reqs_total", "Requests.", {"server"});
  reqs.series({"a"}).inc(7);
  reqs.retire_if([](const std::vector<std::string>& v) { return v[0] == "a"; });
  reqs.series({"a"}).inc();
  EXPECT_EQ(sample(r.expose(), "reqs_total{server=\"a\"}"), 1);
}

TEST(Registry, OtherThreadsFreeRetiredCellsWhenTheyNextRecord) {
  Registry r;
  auto& reqs = r.counter("reqs_total", "Requests.", {"server"});
  auto& other = r.counter("other_total", "Other.");
  std::thread t1([&] { reqs.series({"a"}).inc(); });
  t1.join();
  reqs.series({"a"}).inc();
  ASSERT_EQ(r.cells_for_test(), 2u);
  reqs.retire_if([](const std::vector<std::string>&) { return true; });
  std::thread t2([&] { other.series({}).inc(); });  // a fresh thread: nothing to free
  t2.join();
  other.series({}).inc();                  // this thread frees its cell of "a"
  EXPECT_EQ(r.cells_for_test(), 1u + 2u);  // t1's stays until t1 records again; two "other"
}

TEST(Registry, SameFamilyRegisteredTwiceIsTheSameObject) {
  Registry r;
  auto& a = r.counter("x_total", "X.", {"a"});
  auto& b = r.counter("x_total", "X.", {"a"});
  EXPECT_EQ(&a, &b);
  EXPECT_EQ(a.name(), "x_total");
  EXPECT_EQ(a.kind(), Kind::counter);
  a.series({"1"}).inc();
  const auto text = r.expose();
  // One family, one HELP line.
  int help = 0;
  for (const auto& l : lines_of(text)) help += l.rfind("# HELP x_total", 0) == 0;
  EXPECT_EQ(help, 1) << text;
}

TEST(Registry, SameNameWithDifferentShapeThrows) {
  Registry r;
  r.counter("x_total", "X.", {"a"});
  EXPECT_THROW(r.gauge("x_total", "X.", {"a"}), std::invalid_argument);
  EXPECT_THROW(r.counter("x_total", "X.", {"b"}), std::invalid_argument);
  EXPECT_THROW(r.counter("x_total", "X.", {"a", "b"}), std::invalid_argument);
  EXPECT_THROW(r.histogram("x_total", "X.", {"a"}), std::invalid_argument);
}

TEST(Registry, WrongNumberOfLabelValuesThrows) {
  Registry r;
  auto& f = r.counter("x_total", "X.", {"a", "b"});
  EXPECT_THROW(f.series({"1"}), std::invalid_argument);
  EXPECT_THROW(f.series({"1", "2", "3"}), std::invalid_argument);
  EXPECT_NO_THROW(f.series({"1", "2"}));
  auto& none = r.gauge("g", "G.");
  EXPECT_THROW(none.series({"1"}), std::invalid_argument);
}

TEST(Registry, CollectorOutputIsExposedWithHelpAndType) {
  Registry r;
  int calls = 0;
  r.add_collector("process_resident_memory_bytes", "Resident memory.", Kind::gauge,
                  [&](std::vector<Sample>& out) {
                    ++calls;
                    out.push_back({"process_resident_memory_bytes", {}, 4096});
                    out.push_back({"process_resident_memory_bytes", {{"kind", "an\"on"}}, 1.5});
                  });
  const auto text = r.expose();
  EXPECT_EQ(calls, 1);
  EXPECT_TRUE(has_line(text, "# HELP process_resident_memory_bytes Resident memory.")) << text;
  EXPECT_TRUE(has_line(text, "# TYPE process_resident_memory_bytes gauge")) << text;
  EXPECT_TRUE(has_line(text, "process_resident_memory_bytes 4096")) << text;
  EXPECT_TRUE(has_line(text, R"(process_resident_memory_bytes{kind="an\"on"} 1.5)")) << text;
  r.expose();
  EXPECT_EQ(calls, 2);  // run at every scrape
}

TEST(Registry, EveryNonCommentLineIsNamePossiblyLabelsAndNumber) {
  Registry r;
  r.counter("a_total", "A.", {"k"}).series({"v"}).inc();
  r.histogram("b_seconds", "B.").series({}).observe_seconds(0.5);
  r.gauge("c", "C.").series({}).inc(-2);
  for (const auto& l : lines_of(r.expose())) {
    if (l.empty() || l[0] == '#') continue;
    const auto space = l.rfind(' ');
    ASSERT_NE(space, std::string::npos) << l;
    const auto value = l.substr(space + 1);
    std::size_t used = 0;
    if (value != "+Inf" && value != "-Inf" && value != "NaN") {
      std::stod(value, &used);
      EXPECT_EQ(used, value.size()) << l;
    }
  }
  EXPECT_TRUE(has_line(r.expose(), "c -2"));
}

}  // namespace
}  // namespace tenx::metrics
