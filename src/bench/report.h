#pragma once
// Report: everything `tenx bench` shows or stores about a finished run, made from a Summary
// alone — the text table on stdout, the `--json` file (and reading it back), the one-page
// HTML report, and the side-by-side table of `tenx bench compare`.
//
// All functions are pure: they take a Summary by const reference, keep no state, and may be
// called from any thread. Only load_summary() touches the file system.
//
// The JSON format is a contract with scripts: the key names and their order are listed in
// report.cpp (to_json) and must not change. Integers round-trip exactly; doubles are printed
// in the shortest form that reads back to the same double, so they round-trip exactly too.
// A double that is not finite (NaN, ±inf) is written as `null` and reads back as NaN.
#include <iosfwd>
#include <stdexcept>
#include <string>
#include <string_view>

#include "bench/summary.h"

namespace tenx::bench {

// A result file that cannot be read or is not a tenx bench result. The message starts with
// the source name and says what is wrong, ready to print as it is:
//   `a.json: not a tenx bench result: missing "latency_ms.p99"`
//   `a.json: invalid JSON at offset 17: syntax error`
struct ReportError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The Summary as a pretty-printed JSON document (2-space indent, ends in a newline).
std::string to_json(const Summary& s);

// Parses what to_json() wrote. Required: requests_per_second, requests and all ten
// latency_ms figures; everything else is optional and takes the Summary's default. A field
// that is present with the wrong type is an error even when it is optional. `source_name`
// (usually the path) prefixes every error message. Throws ReportError.
Summary summary_from_json(std::string_view text, std::string_view source_name);

// Reads and parses the file at `path`. Throws ReportError ("path: cannot read: <reason>").
Summary load_summary(const std::string& path);

// The human table, wrk-like: target and shape of the run, throughput, latency percentiles,
// status codes, errors, bytes transferred.
void print_table(std::ostream& out, const Summary& s);

// One self-contained HTML page: inline CSS and inline SVG charts (latency by percentile,
// throughput over time); it loads nothing from anywhere. Every string from the Summary is
// HTML-escaped.
std::string to_html(const Summary& s);

// Two runs side by side, one row per figure, with the ratio B/A ("—" when A is 0). Where one
// side is better (higher requests/s, lower latency and errors) its value is marked with `*`.
void print_compare(std::ostream& out, const Summary& a, const Summary& b, std::string_view name_a,
                   std::string_view name_b);

}  // namespace tenx::bench
