#include "bench/report.h"

#include <fmt/format.h>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/stream_parser.hpp>
#include <boost/json/string.hpp>
#include <boost/json/value.hpp>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <ostream>
#include <vector>

namespace tenx::bench {
namespace {

namespace json = boost::json;

// ---------------------------------------------------------------------------------------------
// Number and text formatting shared by the table, the HTML page and compare.

// "1234567" -> "1,234,567": inserts separators into the leading run of digits of `digits`.
std::string group_thousands(std::string digits) {
  std::size_t begin = (!digits.empty() && digits[0] == '-') ? 1 : 0;
  std::size_t end = digits.find('.');
  if (end == std::string::npos) end = digits.size();
  for (std::size_t i = end; i > begin + 3; i -= 3) digits.insert(i - 3, 1, ',');
  return digits;
}

std::string count_text(std::uint64_t n) { return group_thousands(fmt::format("{}", n)); }

std::string fixed_text(double v, int decimals) {
  if (!std::isfinite(v)) return "n/a";
  return group_thousands(fmt::format("{:.{}f}", v, decimals));
}

// Latencies are always shown with three decimals, in ms below one second and in s above, so
// a column of them reads at a glance and the unit changes only where the magnitude does.
std::string latency_text(double ms) {
  if (!std::isfinite(ms)) return "n/a";
  if (ms >= 1000) return fmt::format("{:.3f} s", ms / 1000);
  return fmt::format("{:.3f} ms", ms);
}

// latency_text() for columns: the unit padded to two characters so that the digits of "s" and
// "ms" values line up.
std::string latency_cell(double ms) {
  std::string text = latency_text(ms);
  return text.ends_with(" s") ? text + " " : text;
}

std::string bytes_text(double bytes) {
  static constexpr const char* kUnits[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  if (!std::isfinite(bytes)) return "n/a";
  if (bytes < 1024) return fmt::format("{:.0f} B", bytes);
  int unit = -1;
  while (bytes >= 1024 && unit < 5) {
    bytes /= 1024;
    ++unit;
  }
  return fmt::format("{:.1f} {}", bytes, kUnits[unit]);
}

std::string plural(std::uint64_t n, std::string_view word) {
  return fmt::format("{} {}{}", count_text(n), word, n == 1 ? "" : "s");
}

std::string mode_text(const std::string& mode) {
  if (mode == "closed" || mode == "open") return mode + " loop";
  return mode.empty() ? "unknown mode" : mode;
}

// "1 thread, 64 connections, pipeline 16, 10.0 s"
std::string shape_text(const Summary& s) {
  std::string text = plural(s.threads, "thread") + ", " + plural(s.connections, "connection");
  if (s.pipeline > 1) text += fmt::format(", pipeline {}", s.pipeline);
  return text + fmt::format(", {:.1f} s", s.duration_s);
}

std::string status_text(const Summary& s) {
  if (s.status_codes.empty()) return "none";
  std::string text;
  for (const auto& [code, n] : s.status_codes) {
    if (!text.empty()) text += "  ";
    text += fmt::format("{}: {}", code, count_text(n));
  }
  return text;
}

std::string errors_text(const ErrorCounts& e) {
  if (e.total() == 0) return "none";
  const std::pair<const char*, std::uint64_t> causes[] = {
      {"connect", e.connect}, {"read", e.read},   {"write", e.write},
      {"timeout", e.timeout}, {"reset", e.reset}, {"protocol", e.protocol}};
  std::string text;
  for (const auto& [name, n] : causes) {
    if (n != 0) text += fmt::format("{} {}  ", name, count_text(n));
  }
  return text + fmt::format("({} total)", count_text(e.total()));
}

std::string transfer_text(const Summary& s) {
  std::string text = "in " + bytes_text(static_cast<double>(s.bytes_in));
  if (s.duration_s > 0) {
    text += fmt::format(" ({}/s)", bytes_text(static_cast<double>(s.bytes_in) / s.duration_s));
  }
  return text + "  out " + bytes_text(static_cast<double>(s.bytes_out));
}

struct LatencyFigure {
  const char* label;
  double ms;
};

std::vector<LatencyFigure> latency_figures(const LatencySummary& l) {
  return {{"p50", l.p50_ms},   {"p75", l.p75_ms},    {"p90", l.p90_ms},      {"p95", l.p95_ms},
          {"p99", l.p99_ms},   {"p99.9", l.p999_ms}, {"p99.99", l.p9999_ms}, {"max", l.max_ms},
          {"mean", l.mean_ms}, {"stdev", l.stdev_ms}};
}

// Display width of UTF-8 text: one column per code point, which holds for what we print
// (ASCII and the em dash).
std::size_t display_width(std::string_view text) {
  return static_cast<std::size_t>(std::count_if(text.begin(), text.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  }));
}

std::string pad_left(std::string_view text, std::size_t width) {
  std::size_t w = display_width(text);
  return std::string(w < width ? width - w : 0, ' ') + std::string(text);
}

std::string pad_right(std::string_view text, std::size_t width) {
  std::size_t w = display_width(text);
  return std::string(text) + std::string(w < width ? width - w : 0, ' ');
}

// ---------------------------------------------------------------------------------------------
// JSON writing.

// The shortest text that reads back as the same double (fmt's default), so doubles round-trip
// exactly. JSON has no NaN or infinity; `null` stands for both and reads back as NaN.
std::string json_double(double v) {
  if (!std::isfinite(v)) return "null";
  return fmt::format("{}", v);
}

bool is_scalar(const json::value& v) { return !v.is_object() && !v.is_array(); }

void write_scalar(std::string& out, const json::value& v) {
  switch (v.kind()) {
    case json::kind::null:
      out += "null";
      break;
    case json::kind::bool_:
      out += v.get_bool() ? "true" : "false";
      break;
    case json::kind::int64:
      out += fmt::format("{}", v.get_int64());
      break;
    case json::kind::uint64:
      out += fmt::format("{}", v.get_uint64());
      break;
    case json::kind::double_:
      out += json_double(v.get_double());
      break;
    case json::kind::string:
      out += json::serialize(v);  // escapes as JSON requires
      break;
    default:
      break;
  }
}

// Pretty-printer: containers are broken over lines with 2-space indents, except a container of
// scalars inside an array, which stays on one line. That keeps the long percentile_curve and
// timeline arrays at one entry per line (`[99.9, 3.412]`) while the top-level figures each get
// their own line.
void write_pretty(std::string& out, const json::value& v, int indent, bool in_array) {
  const std::string pad(static_cast<std::size_t>(indent) * 2, ' ');
  const std::string inner(static_cast<std::size_t>(indent + 1) * 2, ' ');
  if (const json::object* o = v.if_object()) {
    if (o->empty()) {
      out += "{}";
      return;
    }
    bool one_line = in_array && std::all_of(o->begin(), o->end(),
                                            [](const auto& kv) { return is_scalar(kv.value()); });
    out += one_line ? "{" : "{\n";
    bool first = true;
    for (const auto& kv : *o) {
      if (!first) out += one_line ? ", " : ",\n";
      first = false;
      if (!one_line) out += inner;
      out += json::serialize(json::string(kv.key()));
      out += ": ";
      write_pretty(out, kv.value(), indent + 1, false);
    }
    out += one_line ? "}" : "\n" + pad + "}";
  } else if (const json::array* a = v.if_array()) {
    if (a->empty()) {
      out += "[]";
      return;
    }
    bool one_line = in_array && std::all_of(a->begin(), a->end(), is_scalar);
    out += one_line ? "[" : "[\n";
    bool first = true;
    for (const auto& e : *a) {
      if (!first) out += one_line ? ", " : ",\n";
      first = false;
      if (!one_line) out += inner;
      write_pretty(out, e, indent + 1, true);
    }
    out += one_line ? "]" : "\n" + pad + "]";
  } else {
    write_scalar(out, v);
  }
}

// ---------------------------------------------------------------------------------------------
// JSON reading.

std::string_view kind_name(json::kind k) {
  switch (k) {
    case json::kind::null:
      return "null";
    case json::kind::bool_:
      return "a boolean";
    case json::kind::int64:
    case json::kind::uint64:
    case json::kind::double_:
      return "a number";
    case json::kind::string:
      return "a string";
    case json::kind::array:
      return "an array";
    case json::kind::object:
      return "an object";
  }
  return "a value";
}

// Reads fields out of the parsed document; every failure throws a ReportError naming the
// source and the dotted path of the field.
class Reader {
 public:
  explicit Reader(std::string_view source) : source_(source) {}

  [[noreturn]] void fail(std::string_view problem) const {
    throw ReportError(fmt::format("{}: not a tenx bench result: {}", source_, problem));
  }

  [[noreturn]] void wrong_type(const std::string& path, const json::value& v,
                               std::string_view wanted) const {
    fail(fmt::format("\"{}\" is {}, not {}", path, kind_name(v.kind()), wanted));
  }

  // The member `key` of `o`, or nullptr when absent (then a required field fails).
  const json::value* member(const json::object& o, std::string_view key, const std::string& path,
                            bool required) const {
    const json::value* v = o.if_contains(key);
    if (v == nullptr && required) fail(fmt::format("missing \"{}\"", path));
    return v;
  }

  double to_double(const json::value& v, const std::string& path) const {
    if (v.is_null()) return std::numeric_limits<double>::quiet_NaN();
    if (!v.is_number()) wrong_type(path, v, "a number");
    return v.to_number<double>();
  }

  std::uint64_t to_count(const json::value& v, const std::string& path) const {
    if (const std::uint64_t* u = v.if_uint64()) return *u;
    if (const std::int64_t* i = v.if_int64(); i != nullptr && *i >= 0) {
      return static_cast<std::uint64_t>(*i);
    }
    // A whole double (a script that wrote 1e6) is accepted; 18446744073709551616.0 is 2^64.
    if (const double* d = v.if_double();
        d != nullptr && *d >= 0 && *d < 18446744073709551616.0 && std::floor(*d) == *d) {
      return static_cast<std::uint64_t>(*d);
    }
    wrong_type(path, v, "a non-negative integer");
  }

  void read(const json::object& o, std::string_view key, const std::string& prefix, bool required,
            double& out) const {
    std::string path = prefix + std::string(key);
    if (const json::value* v = member(o, key, path, required)) out = to_double(*v, path);
  }

  void read(const json::object& o, std::string_view key, const std::string& prefix, bool required,
            std::uint64_t& out) const {
    std::string path = prefix + std::string(key);
    if (const json::value* v = member(o, key, path, required)) out = to_count(*v, path);
  }

  void read(const json::object& o, std::string_view key, const std::string& prefix, bool required,
            unsigned& out) const {
    std::string path = prefix + std::string(key);
    if (const json::value* v = member(o, key, path, required)) {
      std::uint64_t n = to_count(*v, path);
      if (n > std::numeric_limits<unsigned>::max()) fail(fmt::format("\"{}\" is too large", path));
      out = static_cast<unsigned>(n);
    }
  }

  void read(const json::object& o, std::string_view key, const std::string& prefix, bool required,
            std::string& out) const {
    std::string path = prefix + std::string(key);
    if (const json::value* v = member(o, key, path, required)) {
      const json::string* s = v->if_string();
      if (s == nullptr) wrong_type(path, *v, "a string");
      out.assign(s->data(), s->size());
    }
  }

  const json::object* object(const json::object& o, std::string_view key, bool required) const {
    std::string path(key);
    const json::value* v = member(o, key, path, required);
    if (v == nullptr) return nullptr;
    if (!v->is_object()) wrong_type(path, *v, "an object");
    return &v->get_object();
  }

  const json::array* array(const json::object& o, std::string_view key) const {
    std::string path(key);
    const json::value* v = member(o, key, path, false);
    if (v == nullptr) return nullptr;
    if (!v->is_array()) wrong_type(path, *v, "an array");
    return &v->get_array();
  }

 private:
  std::string_view source_;
};

json::value parse_document(std::string_view text, std::string_view source) {
  json::stream_parser parser;
  json::error_code ec;
  std::size_t offset = parser.write(text.data(), text.size(), ec);
  if (!ec) {
    parser.finish(ec);
    offset = text.size();
  }
  if (ec) {
    throw ReportError(
        fmt::format("{}: invalid JSON at offset {}: {}", source, offset, ec.message()));
  }
  return parser.release();
}

// ---------------------------------------------------------------------------------------------
// HTML and SVG.

std::string html_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// A round step (1, 2 or 5 times a power of ten) that cuts [0, range] into about `ticks` parts.
double nice_step(double range, int ticks) {
  if (!(range > 0) || !std::isfinite(range)) return 1;
  double raw = range / ticks;
  double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  double norm = raw / magnitude;
  double step = norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 5 ? 5 : 10;
  return step * magnitude;
}

// Enough decimals to tell ticks `step` apart, and no more (0.5 -> 1, 20 -> 0).
int step_decimals(double step) {
  return std::max(0, -static_cast<int>(std::floor(std::log10(step) + 1e-9)));
}

// One chart's drawing area inside its SVG, and the data ranges mapped onto it.
struct Plot {
  static constexpr double kWidth = 760, kHeight = 320;
  static constexpr double kLeft = 72, kRight = 40, kTop = 16, kBottom = 48;
  double x_min = 0, x_max = 1, y_max = 1;

  double px(double x) const {
    return kLeft + (x - x_min) / (x_max - x_min) * (kWidth - kLeft - kRight);
  }
  double py(double y) const { return kTop + (1 - y / y_max) * (kHeight - kTop - kBottom); }
  double bottom() const { return kHeight - kBottom; }
  double right() const { return kWidth - kRight; }
};

std::string svg_open(std::string_view label) {
  return fmt::format(
      "<svg viewBox=\"0 0 {} {}\" width=\"{}\" height=\"{}\" role=\"img\" aria-label=\"{}\">\n",
      Plot::kWidth, Plot::kHeight, Plot::kWidth, Plot::kHeight, html_escape(label));
}

std::string svg_no_data(std::string_view label) {
  return svg_open(label) +
         fmt::format(
             "<rect class=\"frame\" x=\"1\" y=\"1\" width=\"{}\" height=\"{}\"/>\n"
             "<text class=\"nodata\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">no data"
             "</text>\n</svg>\n",
             Plot::kWidth - 2, Plot::kHeight - 2, Plot::kWidth / 2, Plot::kHeight / 2);
}

// Horizontal grid lines and labels for the y axis, from 0 to plot.y_max by `step`.
std::string svg_y_axis(const Plot& plot, double step, std::string_view title, bool grouped) {
  std::string out;
  int decimals = step_decimals(step);
  for (int i = 0;; ++i) {
    double y = i * step;
    if (y > plot.y_max * (1 + 1e-9)) break;
    std::string label = grouped ? fixed_text(y, decimals) : fmt::format("{:.{}f}", y, decimals);
    out += fmt::format(
        "<line class=\"grid\" x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\"/>"
        "<text class=\"tick\" x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"end\">{}</text>\n",
        Plot::kLeft, plot.py(y), plot.right(), plot.py(y), Plot::kLeft - 6, plot.py(y) + 4, label);
  }
  out += fmt::format(
      "<text class=\"axis\" transform=\"translate(16 {:.1f}) rotate(-90)\" "
      "text-anchor=\"middle\">{}</text>\n",
      (Plot::kTop + plot.bottom()) / 2, html_escape(title));
  return out;
}

std::string svg_x_tick(const Plot& plot, double x, std::string_view label) {
  return fmt::format(
      "<line class=\"grid\" x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\"/>"
      "<text class=\"tick\" x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\">{}</text>\n",
      plot.px(x), Plot::kTop, plot.px(x), plot.bottom(), plot.px(x), plot.bottom() + 16,
      html_escape(label));
}

std::string svg_x_title(std::string_view title) {
  return fmt::format(
      "<text class=\"axis\" x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\">{}"
      "</text>\n",
      (Plot::kLeft + Plot::kWidth - Plot::kRight) / 2, Plot::kHeight - 8, html_escape(title));
}

// "0%", "90%", "99%", "99.9%", ... for decade d of 1/(1-q).
std::string percentile_tick_label(int decade) {
  if (decade == 0) return "0%";
  return fmt::format("{:.{}f}%", 100 * (1 - std::pow(10.0, -decade)), std::max(0, decade - 2));
}

// HdrHistogram's percentile plot: x = log10(1 / (1 - q)), so 90%, 99%, 99.9%... are evenly
// spaced and the tail gets the room it deserves. 100% (the max) has no finite x; it is drawn
// at the right edge.
std::string latency_chart(const Summary& s) {
  static constexpr const char* kLabel = "Latency by percentile";
  static constexpr int kMaxDecade = 7;            // 99.99999%: beyond any run we can measure
  std::vector<std::pair<double, double>> points;  // (x or +inf, ms)
  double x_data = 0, ms_max = 0;
  for (const auto& [p, ms] : s.percentile_curve) {
    if (!std::isfinite(ms) || !(p >= 0)) continue;
    double x = p >= 100 ? std::numeric_limits<double>::infinity() : -std::log10(1 - p / 100);
    if (std::isfinite(x)) x_data = std::max(x_data, x);
    ms_max = std::max(ms_max, ms);
    points.emplace_back(x, ms);
  }
  if (points.empty()) return svg_no_data(kLabel);

  Plot plot;
  int decades = std::clamp(static_cast<int>(std::ceil(x_data - 1e-9)), 1, kMaxDecade);
  plot.x_max = decades;
  double step = nice_step(ms_max, 5);
  plot.y_max = ms_max > 0 ? std::ceil(ms_max / step - 1e-9) * step : 1;

  std::string out = svg_open(kLabel);
  out += svg_y_axis(plot, step, "latency (ms)", false);
  for (int d = 0; d <= decades; ++d) out += svg_x_tick(plot, d, percentile_tick_label(d));
  out += svg_x_title("percentile");
  std::string coords;
  for (const auto& [x, ms] : points) {
    coords += fmt::format("{:.1f},{:.1f} ", plot.px(std::min(x, plot.x_max)), plot.py(ms));
  }
  out += fmt::format("<polyline class=\"curve\" points=\"{}\"/>\n", coords);
  // The last point (the max, normally) gets a dot and its value: it is often far above the
  // rest of the curve, and the reader wants the number, not an estimate from the y axis.
  const auto& [last_x, last_ms] = points.back();
  std::string last =
      fmt::format("{} {}", std::isinf(last_x) ? "max" : "last", latency_text(last_ms));
  double cx = plot.px(std::min(last_x, plot.x_max)), cy = plot.py(last_ms);
  out += fmt::format(
      "<circle class=\"dot\" cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"3\"/>"
      "<text class=\"tick\" x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"end\">{}</text>\n",
      cx, cy, cx - 6, std::max(cy + 4, Plot::kTop + 10), html_escape(last));
  return out + "</svg>\n";
}

// Requests per second for each timeline point, one bar per point spanning its interval; the
// seconds that saw errors get the second colour.
std::string throughput_chart(const Summary& s) {
  static constexpr const char* kLabel = "Throughput over time";
  if (s.timeline.empty()) return svg_no_data(kLabel);

  struct Bar {
    double t0, t1, rate;
    std::uint64_t errors;
  };
  std::vector<Bar> bars;
  double t_prev = 0, t_end = 0, rate_max = 0;
  bool any_errors = false;
  for (const TimelinePoint& p : s.timeline) {
    // The last point may cover less than a full second; dividing by its real span keeps its
    // bar comparable with the others.
    double span = p.t_s - t_prev;
    double t0 = span > 0 ? t_prev : p.t_s - 1;
    double rate = static_cast<double>(p.requests) / (span > 0 ? span : 1);
    bars.push_back({t0, p.t_s, rate, p.errors});
    t_prev = p.t_s;
    t_end = std::max(t_end, p.t_s);
    rate_max = std::max(rate_max, rate);
    any_errors = any_errors || p.errors > 0;
  }

  Plot plot;
  plot.x_min = std::min(0.0, bars.front().t0);
  plot.x_max = t_end > plot.x_min ? t_end : plot.x_min + 1;
  double y_step = nice_step(rate_max, 5);
  plot.y_max = rate_max > 0 ? std::ceil(rate_max / y_step - 1e-9) * y_step : 1;

  std::string out = svg_open(kLabel);
  out += svg_y_axis(plot, y_step, "requests/s", true);
  double x_step = nice_step(plot.x_max - plot.x_min, 8);
  int x_decimals = step_decimals(x_step);
  for (double t = std::ceil(plot.x_min / x_step) * x_step; t <= plot.x_max * (1 + 1e-9);
       t += x_step) {
    out += svg_x_tick(plot, t, fmt::format("{:.{}f} s", t, x_decimals));
  }
  out += svg_x_title("time into the measured window");
  for (const Bar& b : bars) {
    double x0 = plot.px(b.t0), x1 = plot.px(b.t1);
    double gap = std::min(1.0, (x1 - x0) / 4);  // keeps neighbouring bars apart
    std::string tip = fmt::format("{:.1f} s: {} req/s", b.t1, fixed_text(b.rate, 1));
    if (b.errors > 0) tip += fmt::format(", {}", plural(b.errors, "error"));
    out += fmt::format(
        "<rect class=\"{}\" x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\">"
        "<title>{}</title></rect>\n",
        b.errors > 0 ? "bar err" : "bar", x0 + gap, plot.py(b.rate),
        std::max(0.0, x1 - x0 - 2 * gap), plot.bottom() - plot.py(b.rate), html_escape(tip));
  }
  out += "</svg>\n";
  if (any_errors) {
    out +=
        "<p class=\"legend\"><span class=\"swatch\"></span>requests/s "
        "<span class=\"swatch err\"></span>a second with errors</p>\n";
  }
  return out;
}

constexpr const char* kStyle = R"(
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d2330;
       margin: 2em auto; max-width: 800px; padding: 0 1em; }
h1 { font-size: 1.4em; margin-bottom: 0.2em; word-break: break-all; }
h2 { font-size: 1.1em; margin-top: 2em; }
.sub { color: #5b6475; margin-top: 0; }
table.figures { border-collapse: collapse; }
table.figures th { text-align: left; font-weight: 600; padding: 3px 16px 3px 0;
                   vertical-align: top; white-space: nowrap; }
table.figures td { padding: 3px 16px 3px 0; font-variant-numeric: tabular-nums; }
table.figures tr + tr > * { border-top: 1px solid #e4e7ee; }
svg { max-width: 100%; height: auto; font-size: 11px; }
svg .grid { stroke: #e4e7ee; stroke-width: 1; }
svg .tick { fill: #5b6475; }
svg .axis { fill: #1d2330; font-size: 12px; }
svg .frame { fill: none; stroke: #e4e7ee; }
svg .nodata { fill: #5b6475; font-size: 16px; }
svg .curve { fill: none; stroke: #3b6fd8; stroke-width: 2; stroke-linejoin: round; }
svg .dot { fill: #3b6fd8; }
svg .bar { fill: #3b6fd8; }
svg .bar.err, .swatch.err { fill: #d8543b; background: #d8543b; }
.legend { color: #5b6475; }
.swatch { display: inline-block; width: 10px; height: 10px; background: #3b6fd8;
          margin: 0 4px 0 12px; }
footer { color: #8a92a3; margin-top: 3em; font-size: 0.85em; }
)";

}  // namespace

// ---------------------------------------------------------------------------------------------

std::string to_json(const Summary& s) {
  // Key names and order are the contract with scripts (see report.h): add, never rename.
  json::object o;
  o["tool"] = "tenx bench";
  o["target"] = s.target;
  o["mode"] = s.mode;
  o["threads"] = s.threads;
  o["connections"] = s.connections;
  o["pipeline"] = s.pipeline;
  o["duration_s"] = s.duration_s;
  if (s.mode == "open") o["target_rate"] = s.target_rate;
  o["requests"] = s.requests;
  o["requests_per_second"] = s.requests_per_second;
  o["unfinished"] = s.unfinished;

  const LatencySummary& l = s.latency;
  json::object latency;
  latency["p50"] = l.p50_ms;
  latency["p75"] = l.p75_ms;
  latency["p90"] = l.p90_ms;
  latency["p95"] = l.p95_ms;
  latency["p99"] = l.p99_ms;
  latency["p999"] = l.p999_ms;
  latency["p9999"] = l.p9999_ms;
  latency["max"] = l.max_ms;
  latency["mean"] = l.mean_ms;
  latency["stdev"] = l.stdev_ms;
  o["latency_ms"] = std::move(latency);

  json::object status;
  for (const auto& [code, n] : s.status_codes) status[fmt::format("{}", code)] = n;
  o["status_codes"] = std::move(status);

  const ErrorCounts& e = s.errors;
  json::object errors;
  errors["connect"] = e.connect;
  errors["read"] = e.read;
  errors["write"] = e.write;
  errors["timeout"] = e.timeout;
  errors["reset"] = e.reset;
  errors["protocol"] = e.protocol;
  errors["total"] = e.total();
  o["errors"] = std::move(errors);

  o["bytes_in"] = s.bytes_in;
  o["bytes_out"] = s.bytes_out;

  json::array curve;
  curve.reserve(s.percentile_curve.size());
  for (const auto& [p, ms] : s.percentile_curve) curve.push_back(json::array{p, ms});
  o["percentile_curve"] = std::move(curve);

  json::array timeline;
  timeline.reserve(s.timeline.size());
  for (const TimelinePoint& t : s.timeline) {
    timeline.push_back(
        json::object{{"t_s", t.t_s}, {"requests", t.requests}, {"errors", t.errors}});
  }
  o["timeline"] = std::move(timeline);

  std::string out;
  write_pretty(out, o, 0, false);
  out += '\n';
  return out;
}

Summary summary_from_json(std::string_view text, std::string_view source_name) {
  json::value doc = parse_document(text, source_name);
  Reader r(source_name);
  if (!doc.is_object()) {
    r.fail(fmt::format("the document is {}, not an object", kind_name(doc.kind())));
  }
  const json::object& o = doc.get_object();
  Summary s;

  // `tool` is optional (hand-written files), but a file from another tool is refused by name
  // rather than by whichever field it happens to lack.
  std::string tool = "tenx bench";
  r.read(o, "tool", "", false, tool);
  if (tool != "tenx bench") r.fail(fmt::format("\"tool\" is \"{}\"", tool));

  r.read(o, "target", "", false, s.target);
  r.read(o, "mode", "", false, s.mode);
  r.read(o, "threads", "", false, s.threads);
  r.read(o, "connections", "", false, s.connections);
  r.read(o, "pipeline", "", false, s.pipeline);
  r.read(o, "duration_s", "", false, s.duration_s);
  r.read(o, "target_rate", "", false, s.target_rate);
  r.read(o, "requests", "", true, s.requests);
  r.read(o, "requests_per_second", "", true, s.requests_per_second);
  r.read(o, "unfinished", "", false, s.unfinished);

  const json::object* latency = r.object(o, "latency_ms", true);
  LatencySummary& l = s.latency;
  const std::pair<const char*, double*> figures[] = {
      {"p50", &l.p50_ms},   {"p75", &l.p75_ms},    {"p90", &l.p90_ms},     {"p95", &l.p95_ms},
      {"p99", &l.p99_ms},   {"p999", &l.p999_ms},  {"p9999", &l.p9999_ms}, {"max", &l.max_ms},
      {"mean", &l.mean_ms}, {"stdev", &l.stdev_ms}};
  for (const auto& [key, field] : figures) r.read(*latency, key, "latency_ms.", true, *field);

  if (const json::object* status = r.object(o, "status_codes", false)) {
    for (const auto& kv : *status) {
      std::string_view key = kv.key();
      unsigned code = 0;
      auto [end, ec] = std::from_chars(key.data(), key.data() + key.size(), code);
      if (ec != std::errc() || end != key.data() + key.size() || key.empty()) {
        r.fail(fmt::format("\"status_codes\" has key \"{}\", not a status code", key));
      }
      s.status_codes[code] = r.to_count(kv.value(), fmt::format("status_codes.{}", key));
    }
  }

  // errors.total is derived (ErrorCounts::total()), so it is written but never read.
  if (const json::object* errors = r.object(o, "errors", false)) {
    ErrorCounts& e = s.errors;
    r.read(*errors, "connect", "errors.", false, e.connect);
    r.read(*errors, "read", "errors.", false, e.read);
    r.read(*errors, "write", "errors.", false, e.write);
    r.read(*errors, "timeout", "errors.", false, e.timeout);
    r.read(*errors, "reset", "errors.", false, e.reset);
    r.read(*errors, "protocol", "errors.", false, e.protocol);
  }

  r.read(o, "bytes_in", "", false, s.bytes_in);
  r.read(o, "bytes_out", "", false, s.bytes_out);

  if (const json::array* curve = r.array(o, "percentile_curve")) {
    for (std::size_t i = 0; i < curve->size(); ++i) {
      std::string path = fmt::format("percentile_curve[{}]", i);
      const json::value& v = (*curve)[i];
      const json::array* pair = v.if_array();
      if (pair == nullptr || pair->size() != 2) r.wrong_type(path, v, "a [percentile, ms] pair");
      s.percentile_curve.emplace_back(r.to_double((*pair)[0], path + "[0]"),
                                      r.to_double((*pair)[1], path + "[1]"));
    }
  }

  if (const json::array* timeline = r.array(o, "timeline")) {
    for (std::size_t i = 0; i < timeline->size(); ++i) {
      std::string path = fmt::format("timeline[{}]", i);
      const json::value& v = (*timeline)[i];
      if (!v.is_object()) r.wrong_type(path, v, "an object");
      TimelinePoint p;
      r.read(v.get_object(), "t_s", path + ".", false, p.t_s);
      r.read(v.get_object(), "requests", path + ".", false, p.requests);
      r.read(v.get_object(), "errors", path + ".", false, p.errors);
      s.timeline.push_back(p);
    }
  }
  return s;
}

Summary load_summary(const std::string& path) {
  // C stdio rather than iostreams: it sets errno, so the message can say why.
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr)
    throw ReportError(fmt::format("{}: cannot read: {}", path, std::strerror(errno)));
  std::string text;
  char buf[64 * 1024];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) text.append(buf, n);
  bool failed = std::ferror(f) != 0;
  int err = errno;
  std::fclose(f);
  if (failed) throw ReportError(fmt::format("{}: cannot read: {}", path, std::strerror(err)));
  return summary_from_json(text, path);
}

void print_table(std::ostream& out, const Summary& s) {
  std::string text =
      fmt::format("tenx bench {}  {}  {}\n", s.target, mode_text(s.mode), shape_text(s));
  auto row = [&text](std::string_view label, std::string_view value) {
    std::string line = fmt::format("  {:<14}{}", label, value);
    line.erase(line.find_last_not_of(' ') + 1);  // a trailing "s " cell pads to nothing
    text += line + '\n';
  };

  std::string requests = fmt::format("{} in {:.1f} s   {} req/s", count_text(s.requests),
                                     s.duration_s, fixed_text(s.requests_per_second, 1));
  if (s.mode == "open") requests += fmt::format("   asked {} req/s", fixed_text(s.target_rate, 1));
  row("requests", requests);

  // Four aligned cells a line: label left, value right, so equal units line up in columns.
  std::vector<LatencyFigure> figures = latency_figures(s.latency);
  for (std::size_t i = 0; i < figures.size(); i += 4) {
    std::string cells;
    for (std::size_t j = i; j < std::min(i + 4, figures.size()); ++j) {
      if (j > i) cells += "   ";
      cells += fmt::format("{:<7}{:>10}", figures[j].label, latency_cell(figures[j].ms));
    }
    row(i == 0 ? "latency" : "", cells);
  }

  row("status", status_text(s));
  row("errors", errors_text(s.errors));
  row("transfer", transfer_text(s));
  if (s.unfinished > 0) {
    row("unfinished", count_text(s.unfinished) + " (sent or due when the window closed)");
  }
  out << text;
}

std::string to_html(const Summary& s) {
  std::string title = fmt::format("tenx bench: {} ({})", s.target, mode_text(s.mode));
  std::string out = fmt::format(
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
      "<title>{}</title>\n<style>{}</style>\n</head>\n<body>\n",
      html_escape(title), kStyle);
  out += fmt::format("<h1>tenx bench {}</h1>\n<p class=\"sub\">{} &middot; {}</p>\n",
                     html_escape(s.target), html_escape(mode_text(s.mode)),
                     html_escape(shape_text(s)));

  out += "<table class=\"figures\">\n";
  auto row = [&out](std::string_view label, std::string_view value) {
    out += fmt::format("<tr><th>{}</th><td>{}</td></tr>\n", html_escape(label), html_escape(value));
  };
  row("Throughput", fixed_text(s.requests_per_second, 1) + " req/s");
  if (s.mode == "open") row("Asked rate", fixed_text(s.target_rate, 1) + " req/s");
  row("Requests", fmt::format("{} in {:.1f} s", count_text(s.requests), s.duration_s));
  std::string latency;
  for (const LatencyFigure& f : latency_figures(s.latency)) {
    if (!latency.empty()) latency += " \u00b7 ";  // middle dot: keeps the cells apart
    latency += fmt::format("{} {}", f.label, latency_text(f.ms));
  }
  row("Latency", latency);
  row("Status codes", status_text(s));
  row("Errors", errors_text(s.errors));
  row("Transfer", transfer_text(s));
  if (s.unfinished > 0) {
    row("Unfinished", count_text(s.unfinished) + " (sent or due when the window closed)");
  }
  out += "</table>\n";

  out += "<h2>Latency by percentile</h2>\n" + latency_chart(s);
  out += "<h2>Throughput over time</h2>\n" + throughput_chart(s);
  out +=
      "<footer>Generated by tenx bench. This page is self-contained: it loads nothing."
      "</footer>\n</body>\n</html>\n";
  return out;
}

void print_compare(std::ostream& out, const Summary& a, const Summary& b, std::string_view name_a,
                   std::string_view name_b) {
  enum class Better { kHigher, kLower, kNeither };
  struct Row {
    std::string figure;
    double a, b;
    Better better;
    std::string (*text)(double);
  };
  auto rate = [](double v) { return fixed_text(v, 1); };
  auto count = [](double v) { return fixed_text(v, 0); };
  auto latency = [](double v) { return latency_cell(v); };
  auto bytes = [](double v) { return bytes_text(v); };
  auto d = [](std::uint64_t v) { return static_cast<double>(v); };

  // Requests and bytes depend on the run's length and the response size, so neither side of
  // them is "better"; they are shown for context.
  std::vector<Row> rows = {
      {"requests/s", a.requests_per_second, b.requests_per_second, Better::kHigher, rate},
      {"requests", d(a.requests), d(b.requests), Better::kNeither, count},
  };
  std::vector<LatencyFigure> la = latency_figures(a.latency), lb = latency_figures(b.latency);
  for (std::size_t i = 0; i < la.size(); ++i) {
    rows.push_back(
        {fmt::format("latency {}", la[i].label), la[i].ms, lb[i].ms, Better::kLower, latency});
  }
  rows.push_back({"errors", d(a.errors.total()), d(b.errors.total()), Better::kLower, count});
  rows.push_back({"bytes in", d(a.bytes_in), d(b.bytes_in), Better::kNeither, bytes});
  rows.push_back({"bytes out", d(a.bytes_out), d(b.bytes_out), Better::kNeither, bytes});

  // Cells first, then widths: the values' lengths are not known in advance.
  std::vector<std::array<std::string, 4>> cells;
  cells.push_back({"figure", "A", "B", "B/A"});
  for (const Row& r : rows) {
    bool a_better =
        (r.better == Better::kHigher && r.a > r.b) || (r.better == Better::kLower && r.a < r.b);
    bool b_better =
        (r.better == Better::kHigher && r.b > r.a) || (r.better == Better::kLower && r.b < r.a);
    std::string ratio = (r.a != 0 && std::isfinite(r.a) && std::isfinite(r.b))
                            ? fmt::format("{:.2f}", r.b / r.a)
                            : "\u2014";
    // The mark goes after the value and non-marked values get a space, so digits stay aligned.
    cells.push_back({r.figure, r.text(r.a) + (a_better ? "*" : " "),
                     r.text(r.b) + (b_better ? "*" : " "), ratio});
  }
  std::array<std::size_t, 4> width{};
  for (const auto& c : cells) {
    for (std::size_t i = 0; i < 4; ++i) width[i] = std::max(width[i], display_width(c[i]));
  }

  std::string text = fmt::format("A  {}\nB  {}\n\n", name_a, name_b);
  for (std::size_t r = 0; r < cells.size(); ++r) {
    const auto& c = cells[r];
    // Header labels sit over the digits, not over the mark column.
    std::string va = r == 0 ? c[1] + " " : c[1], vb = r == 0 ? c[2] + " " : c[2];
    text += fmt::format("  {}   {}   {}   {}\n", pad_right(c[0], width[0]), pad_left(va, width[1]),
                        pad_left(vb, width[2]), pad_left(c[3], width[3]));
  }
  text +=
      "\n  * the better side: higher requests/s; lower latency and errors. "
      "B/A above 1.00 means B is higher.\n";
  out << text;
}

}  // namespace tenx::bench
