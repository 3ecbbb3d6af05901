#include "bench/report.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <unistd.h>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

namespace tenx::bench {
namespace {

namespace json = boost::json;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

// Every field set, each to a different value, with doubles that have no short decimal form.
Summary filled() {
  Summary s;
  s.target = "http://127.0.0.1:8080/items?id=7&x=\"q\"";
  s.mode = "open";
  s.threads = 3;
  s.connections = 257;
  s.pipeline = 4;
  s.duration_s = 10.000123456789;
  s.target_rate = 2000.5;
  s.requests_per_second = 123456.78901234567;
  s.requests = 1234567;
  s.unfinished = 12;
  s.latency = {0.1 + 0.2, 0.5123, 0.9, 1.25, 3.14159265358979, 12.5, 40.125, 97.003, 0.45, 1.0 / 3};
  s.status_codes = {{200, 1234500}, {404, 60}, {503, 7}};
  s.errors = {.connect = 1, .read = 2, .write = 3, .timeout = 4, .reset = 5, .protocol = 6};
  s.bytes_in = std::numeric_limits<std::uint64_t>::max();  // largest integer JSON must keep
  s.bytes_out = 45'600'000;
  s.percentile_curve = {{0, 0.1},     {50, 0.3},    {90, 0.9},
                        {99, 3.1},    {99.9, 12.5}, {99.99923706054688, 40.1},
                        {100, 97.003}};
  s.timeline = {{1, 120000, 0}, {2, 125000, 3}, {2.5, 60000, 0}};
  return s;
}

// The ReportError message that parsing `text` throws ("" if it parses).
std::string error_of(const std::string& text) {
  try {
    summary_from_json(text, "a.json");
  } catch (const ReportError& e) {
    return e.what();
  }
  return "";
}

// to_json(filled()) with one change made to the parsed document.
template <typename Edit>
std::string edited_json(Edit edit) {
  json::value doc = json::parse(to_json(filled()));
  edit(doc.as_object());
  return json::serialize(doc);
}

std::string table_of(const Summary& s) {
  std::ostringstream out;
  print_table(out, s);
  return out.str();
}

std::string compare_of(const Summary& a, const Summary& b) {
  std::ostringstream out;
  print_compare(out, a, b, "a.json", "b.json");
  return out.str();
}

// The first line of `text` that contains `needle`.
std::string line_with(const std::string& text, const std::string& needle) {
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.find(needle) != std::string::npos) return line;
  }
  return "";
}

std::size_t count_of(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (auto i = text.find(needle); i != std::string::npos; i = text.find(needle, i + 1)) ++n;
  return n;
}

TEST(BenchReport, JsonRoundTripsEveryFigure) {
  const Summary s = filled();
  const Summary r = summary_from_json(to_json(s), "round-trip");
  EXPECT_EQ(r.target, s.target);
  EXPECT_EQ(r.mode, s.mode);
  EXPECT_EQ(r.threads, s.threads);
  EXPECT_EQ(r.connections, s.connections);
  EXPECT_EQ(r.pipeline, s.pipeline);
  EXPECT_EQ(r.duration_s, s.duration_s);
  EXPECT_EQ(r.target_rate, s.target_rate);
  EXPECT_EQ(r.requests_per_second, s.requests_per_second);
  EXPECT_EQ(r.requests, s.requests);
  EXPECT_EQ(r.unfinished, s.unfinished);
  EXPECT_EQ(r.latency.p50_ms, s.latency.p50_ms);
  EXPECT_EQ(r.latency.p75_ms, s.latency.p75_ms);
  EXPECT_EQ(r.latency.p90_ms, s.latency.p90_ms);
  EXPECT_EQ(r.latency.p95_ms, s.latency.p95_ms);
  EXPECT_EQ(r.latency.p99_ms, s.latency.p99_ms);
  EXPECT_EQ(r.latency.p999_ms, s.latency.p999_ms);
  EXPECT_EQ(r.latency.p9999_ms, s.latency.p9999_ms);
  EXPECT_EQ(r.latency.max_ms, s.latency.max_ms);
  EXPECT_EQ(r.latency.mean_ms, s.latency.mean_ms);
  EXPECT_EQ(r.latency.stdev_ms, s.latency.stdev_ms);
  EXPECT_EQ(r.status_codes, s.status_codes);
  EXPECT_EQ(r.errors.connect, s.errors.connect);
  EXPECT_EQ(r.errors.read, s.errors.read);
  EXPECT_EQ(r.errors.write, s.errors.write);
  EXPECT_EQ(r.errors.timeout, s.errors.timeout);
  EXPECT_EQ(r.errors.reset, s.errors.reset);
  EXPECT_EQ(r.errors.protocol, s.errors.protocol);
  EXPECT_EQ(r.bytes_in, s.bytes_in);
  EXPECT_EQ(r.bytes_out, s.bytes_out);
  EXPECT_EQ(r.percentile_curve, s.percentile_curve);
  ASSERT_EQ(r.timeline.size(), s.timeline.size());
  for (std::size_t i = 0; i < s.timeline.size(); ++i) {
    EXPECT_EQ(r.timeline[i].t_s, s.timeline[i].t_s) << i;
    EXPECT_EQ(r.timeline[i].requests, s.timeline[i].requests) << i;
    EXPECT_EQ(r.timeline[i].errors, s.timeline[i].errors) << i;
  }
  // Writing what was read gives the same text: nothing drifts through a compare or html run.
  EXPECT_EQ(to_json(r), to_json(s));
}

TEST(BenchReport, JsonUsesTheDocumentedKeysInOrder) {
  const json::value doc = json::parse(to_json(filled()));
  const json::object& o = doc.as_object();
  std::vector<std::string> keys;
  for (const auto& kv : o) keys.emplace_back(kv.key());
  EXPECT_EQ(keys, (std::vector<std::string>{"tool", "target", "mode", "threads", "connections",
                                            "pipeline", "duration_s", "target_rate", "requests",
                                            "requests_per_second", "unfinished", "latency_ms",
                                            "status_codes", "errors", "bytes_in", "bytes_out",
                                            "percentile_curve", "timeline"}));
  EXPECT_EQ(o.at("tool").as_string(), "tenx bench");
  EXPECT_DOUBLE_EQ(o.at("requests_per_second").to_number<double>(), 123456.78901234567);
  std::vector<std::string> latency_keys;
  for (const auto& kv : o.at("latency_ms").as_object()) latency_keys.emplace_back(kv.key());
  EXPECT_EQ(latency_keys, (std::vector<std::string>{"p50", "p75", "p90", "p95", "p99", "p999",
                                                    "p9999", "max", "mean", "stdev"}));
  EXPECT_DOUBLE_EQ(o.at("latency_ms").at("p999").to_number<double>(), 12.5);
  EXPECT_EQ(o.at("status_codes").at("200").to_number<std::uint64_t>(), 1234500u);
  EXPECT_EQ(o.at("errors").at("timeout").to_number<std::uint64_t>(), 4u);
  EXPECT_EQ(o.at("errors").at("total").to_number<std::uint64_t>(), 21u);
  const json::array& curve = o.at("percentile_curve").as_array();
  ASSERT_EQ(curve.size(), 7u);
  EXPECT_DOUBLE_EQ(curve[4].as_array()[0].to_number<double>(), 99.9);
  EXPECT_DOUBLE_EQ(curve[4].as_array()[1].to_number<double>(), 12.5);
  const json::object& second = o.at("timeline").as_array()[1].as_object();
  EXPECT_DOUBLE_EQ(second.at("t_s").to_number<double>(), 2);
  EXPECT_EQ(second.at("requests").to_number<std::uint64_t>(), 125000u);
  EXPECT_EQ(second.at("errors").to_number<std::uint64_t>(), 3u);
}

TEST(BenchReport, JsonHasNoTargetRateInClosedLoop) {
  Summary s = filled();
  s.mode = "closed";
  s.target_rate = 0;
  const json::value doc = json::parse(to_json(s));
  EXPECT_FALSE(doc.as_object().contains("target_rate"));
}

TEST(BenchReport, JsonIsIndentedOneFigureALine) {
  const std::string text = to_json(filled());
  EXPECT_THAT(text, StartsWith("{\n  \"tool\": \"tenx bench\",\n"));
  EXPECT_THAT(text, HasSubstr("\n  \"requests\": 1234567,\n"));
  EXPECT_THAT(text, HasSubstr("\n    \"p999\": 12.5,\n"));
  EXPECT_THAT(text, HasSubstr("\n    [99.9, 12.5],\n"));
  EXPECT_THAT(text, HasSubstr("\n    {\"t_s\": 2, \"requests\": 125000, \"errors\": 3},\n"));
  EXPECT_EQ(text.back(), '\n');
}

TEST(BenchReport, NonFiniteFigureIsWrittenAsNullAndReadsBackAsNaN) {
  Summary s = filled();
  s.latency.stdev_ms = std::numeric_limits<double>::quiet_NaN();
  const std::string text = to_json(s);
  EXPECT_THAT(text, HasSubstr("\"stdev\": null"));
  EXPECT_TRUE(std::isnan(summary_from_json(text, "a.json").latency.stdev_ms));
}

TEST(BenchReport, MalformedJsonNamesSourceAndOffset) {
  EXPECT_THAT(error_of("{\"requests\": 1,,}"), StartsWith("a.json: invalid JSON at offset 15: "));
  EXPECT_THAT(error_of("{\"requests\": 1"), StartsWith("a.json: invalid JSON at offset 14: "));
  EXPECT_THAT(error_of(""), StartsWith("a.json: invalid JSON at offset 0: "));
  EXPECT_THAT(error_of("{} x"), StartsWith("a.json: invalid JSON at offset "));
}

TEST(BenchReport, MissingRequiredFieldIsNamed) {
  EXPECT_EQ(
      error_of(edited_json([](json::object& o) { o["latency_ms"].as_object().erase("p99"); })),
      "a.json: not a tenx bench result: missing \"latency_ms.p99\"");
  EXPECT_EQ(error_of(edited_json([](json::object& o) { o.erase("requests_per_second"); })),
            "a.json: not a tenx bench result: missing \"requests_per_second\"");
  EXPECT_EQ(error_of(edited_json([](json::object& o) { o.erase("latency_ms"); })),
            "a.json: not a tenx bench result: missing \"latency_ms\"");
  EXPECT_EQ(error_of("[1, 2]"),
            "a.json: not a tenx bench result: the document is an array, not an object");
}

TEST(BenchReport, WrongTypedFieldIsNamedEvenWhenOptional) {
  EXPECT_EQ(
      error_of(edited_json([](json::object& o) { o["requests"] = "many"; })),
      "a.json: not a tenx bench result: \"requests\" is a string, not a non-negative integer");
  EXPECT_THAT(error_of(edited_json([](json::object& o) { o["requests"] = -1; })),
              HasSubstr("\"requests\" is a number, not a non-negative integer"));
  EXPECT_THAT(
      error_of(edited_json([](json::object& o) { o["errors"].as_object()["reset"] = 1.5; })),
      HasSubstr("\"errors.reset\""));
  EXPECT_THAT(error_of(edited_json([](json::object& o) { o["threads"] = true; })),
              HasSubstr("\"threads\" is a boolean"));
  EXPECT_THAT(error_of(edited_json([](json::object& o) {
                o["percentile_curve"].as_array()[2] = json::array{1, 2, 3};
              })),
              HasSubstr("\"percentile_curve[2]\""));
  EXPECT_THAT(error_of(edited_json([](json::object& o) {
                o["timeline"].as_array()[1].as_object()["requests"] = "x";
              })),
              HasSubstr("\"timeline[1].requests\""));
  EXPECT_THAT(
      error_of(edited_json([](json::object& o) { o["status_codes"].as_object()["ok"] = 1; })),
      HasSubstr("\"ok\", not a status code"));
  EXPECT_THAT(error_of(edited_json([](json::object& o) { o["tool"] = "wrk"; })),
              HasSubstr("\"tool\" is \"wrk\""));
}

TEST(BenchReport, OptionalFieldsTakeTheirDefaults) {
  const Summary s = summary_from_json(
      R"({"requests": 10, "requests_per_second": 1e1,
          "latency_ms": {"p50": 1, "p75": 2, "p90": 3, "p95": 4, "p99": 5, "p999": 6,
                         "p9999": 7, "max": 8, "mean": 2.5, "stdev": 0.5}})",
      "hand.json");
  EXPECT_EQ(s.requests, 10u);
  EXPECT_EQ(s.requests_per_second, 10.0);
  EXPECT_EQ(s.latency.p9999_ms, 7.0);
  EXPECT_EQ(s.pipeline, 1u);
  EXPECT_EQ(s.target, "");
  EXPECT_TRUE(s.status_codes.empty());
  EXPECT_EQ(s.errors.total(), 0u);
  EXPECT_TRUE(s.percentile_curve.empty());
  EXPECT_TRUE(s.timeline.empty());
}

TEST(BenchReport, LoadSummaryReadsTheFileAndNamesAnUnreadableOne) {
  const std::filesystem::path path = std::filesystem::temp_directory_path() /
                                     ("tenx_report_test_" + std::to_string(::getpid()) + ".json");
  { std::ofstream(path) << to_json(filled()); }
  EXPECT_EQ(load_summary(path.string()).requests, 1234567u);
  std::filesystem::remove(path);
  try {
    load_summary(path.string());
    FAIL() << "expected ReportError";
  } catch (const ReportError& e) {
    EXPECT_EQ(std::string(e.what()), path.string() + ": cannot read: No such file or directory");
  }
}

TEST(BenchReport, TableShowsGroupedCountsAndStatusCodes) {
  Summary s = filled();
  s.mode = "closed";
  const std::string table = table_of(s);
  EXPECT_THAT(table, StartsWith("tenx bench " + s.target +
                                "  closed loop  3 threads, 257 connections, pipeline 4, 10.0 s\n"));
  EXPECT_THAT(line_with(table, "requests"), HasSubstr("1,234,567 in 10.0 s   123,456.8 req/s"));
  EXPECT_THAT(table, Not(HasSubstr("asked")));
  EXPECT_THAT(line_with(table, "status"), HasSubstr("200: 1,234,500  404: 60  503: 7"));
  EXPECT_THAT(line_with(table, "latency"), HasSubstr("p50      0.300 ms"));
  EXPECT_THAT(table, HasSubstr("p99.9   12.500 ms"));
  EXPECT_THAT(table, HasSubstr("stdev    0.333 ms"));
  EXPECT_THAT(line_with(table, "transfer"), HasSubstr("out 43.5 MiB"));
  EXPECT_THAT(line_with(table, "unfinished"), HasSubstr("12 (sent or due"));
}

TEST(BenchReport, TableShowsAskedRateErrorsByCauseAndSeconds) {
  Summary s = filled();
  s.errors = {.connect = 3, .timeout = 2};
  s.latency.max_ms = 1234.4;
  s.unfinished = 0;
  const std::string table = table_of(s);
  EXPECT_THAT(line_with(table, "requests"), HasSubstr("asked 2,000.5 req/s"));
  EXPECT_THAT(line_with(table, "errors"), HasSubstr("connect 3  timeout 2  (5 total)"));
  EXPECT_THAT(table, HasSubstr("max      1.234 s\n"));
  EXPECT_THAT(table, Not(HasSubstr("unfinished")));

  s.errors = {};
  EXPECT_THAT(line_with(table_of(s), "errors"), HasSubstr("none"));
}

TEST(BenchReport, HtmlIsOneSelfContainedPage) {
  Summary s = filled();
  s.target = "bench.internal:8080/items";
  const std::string html = to_html(s);
  EXPECT_THAT(html, StartsWith("<!DOCTYPE html>"));
  EXPECT_EQ(count_of(html, "<svg"), 2u);
  EXPECT_THAT(html, HasSubstr("<polyline"));
  for (const char* fetches :
       {"http://", "https://", "src=", "href=", "<link", "<script", "url(", "@import"}) {
    EXPECT_THAT(html, Not(HasSubstr(fetches))) << fetches;
  }
  EXPECT_THAT(html, HasSubstr("Latency by percentile"));
  EXPECT_THAT(html, HasSubstr("Throughput over time"));
  EXPECT_THAT(html, HasSubstr("123,456.8 req/s"));
}

TEST(BenchReport, HtmlEscapesTheTarget) {
  Summary s = filled();
  s.target = "http://x/<script>alert('x')</script>&";
  const std::string html = to_html(s);
  EXPECT_THAT(html, Not(HasSubstr("<script")));
  EXPECT_THAT(html, HasSubstr("http://x/&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;"));
}

TEST(BenchReport, HtmlSaysNoDataForEmptyCharts) {
  Summary s = filled();
  s.percentile_curve.clear();
  s.timeline.clear();
  const std::string html = to_html(s);
  EXPECT_EQ(count_of(html, ">no data<"), 2u);
  EXPECT_THAT(html, Not(HasSubstr("<polyline")));
  EXPECT_EQ(count_of(to_html(Summary{}), ">no data<"), 2u);
}

TEST(BenchReport, HtmlLabelsPercentilesOnlyAsFarAsTheDataGoes) {
  Summary s = filled();
  s.percentile_curve = {{0, 1}, {90, 2}, {99, 3}, {99.9, 4}, {99.99, 5}, {100, 6}};
  std::string html = to_html(s);
  for (const char* tick : {">0%<", ">90%<", ">99%<", ">99.9%<", ">99.99%<"}) {
    EXPECT_THAT(html, HasSubstr(tick)) << tick;
  }
  EXPECT_THAT(html, Not(HasSubstr(">99.999%<")));
  // Round y ticks: 0 to 6 ms in steps of 1.
  EXPECT_THAT(html, HasSubstr(">6<"));

  s.percentile_curve = {{50, 1}, {99.999, 2}, {100, 3}};
  EXPECT_THAT(to_html(s), HasSubstr(">99.999%<"));
}

TEST(BenchReport, HtmlColoursSecondsWithErrors) {
  Summary s = filled();
  EXPECT_EQ(count_of(to_html(s), "class=\"bar err\""), 1u);
  for (TimelinePoint& p : s.timeline) p.errors = 0;
  EXPECT_EQ(count_of(to_html(s), "class=\"bar err\""), 0u);
  EXPECT_EQ(count_of(to_html(s), "class=\"bar\""), 3u);
}

TEST(BenchReport, CompareShowsRatioBOverAAndMarksTheBetterSide) {
  Summary a = filled(), b = filled();
  a.requests_per_second = 100;
  b.requests_per_second = 150;
  a.latency.p99_ms = 4;
  b.latency.p99_ms = 2;
  a.errors = {};
  b.errors = {.timeout = 3};
  const std::string text = compare_of(a, b);
  EXPECT_THAT(text, StartsWith("A  a.json\nB  b.json\n"));

  const std::string rps = line_with(text, "requests/s");
  EXPECT_THAT(rps, HasSubstr("100.0 "));
  EXPECT_THAT(rps, HasSubstr("150.0*"));
  EXPECT_THAT(rps, HasSubstr("1.50"));

  const std::string p99 = line_with(text, "latency p99 ");
  EXPECT_THAT(p99, HasSubstr("4.000 ms "));
  EXPECT_THAT(p99, HasSubstr("2.000 ms*"));
  EXPECT_THAT(p99, HasSubstr("0.50"));

  const std::string errors = line_with(text, "errors");
  EXPECT_THAT(errors, HasSubstr("0*"));
  EXPECT_THAT(errors, HasSubstr("\u2014"));  // A is 0: no ratio

  const std::string same = line_with(text, "latency p50");
  EXPECT_THAT(same, Not(HasSubstr("*")));
  EXPECT_THAT(same, HasSubstr("1.00"));
  EXPECT_THAT(text, HasSubstr("* the better side"));
}

}  // namespace
}  // namespace tenx::bench
