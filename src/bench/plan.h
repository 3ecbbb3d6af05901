#pragma once
// Plan: what `tenx bench` sends, built once before the run from a URL or a scenario file and
// then shared read-only by every worker thread.
//
// A URL gives one request (method, headers and body from the command line). A scenario file
// (TOML) gives weighted requests whose path, header values and body are templates over
// variables:
//
//   base_url = "http://127.0.0.1:8080"
//   [headers]                                  # sent with every request
//   Accept = "application/json"
//   [vars]
//   id     = { random = [1, 100000] }          # a uniform integer in [lo, hi]
//   name   = { file = "names.txt" }            # a line of the file (order = "random" |
//   "sequential") cursor = { from_response = "next_cursor", request = "feed", initial = "" }
//   [[request]]
//   name = "feed"      # optional; used by from_response's `request`
//   weight = 9         # default 1
//   method = "GET"     # default GET
//   path = "/api/posts?cursor={cursor}"
//   headers = { Authorization = "Bearer {name}" }
//   body = '{"id": {id}}'
//
// `{var}` is replaced by the variable's value (percent-encoded in the path, as is in headers
// and the body). Only `{identifier}` is a variable, so JSON needs no escaping; an unknown
// identifier is an error (a typo), and `{{name}}` is the literal text `{name}`. A from_response
// variable is per connection (a connection is one virtual user): after each response with a JSON
// body (of the named request, if given) its dotted field is read; a string or number becomes the
// value, null or false resets it to `initial` (the end of a cursor chain starts over), a
// missing field leaves it unchanged.
//
// Errors (bad URL, unreachable name, unknown key, unknown variable, bad types) throw
// PlanError with a clear message; scenario errors carry `file:line:`.
#include <sys/socket.h>

#include <cstdint>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tenx::bench {

struct PlanError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A string with `{var}` holes, split once at load time.
struct Template {
  struct Segment {
    std::string text;  // literal text, when var < 0
    int var = -1;      // index into Plan::vars
  };
  std::vector<Segment> segments;
  bool constant() const;
};

struct Var {
  enum class Kind { random_int, file_values, from_response };
  std::string name;
  Kind kind = Kind::random_int;
  std::int64_t lo = 0, hi = 0;      // random_int
  std::vector<std::string> values;  // file_values
  bool sequential = false;          // file_values: in file order (per thread) instead of random
  std::vector<std::string> field;   // from_response: the dotted path, split
  int from_request = -1;            // from_response: only that request's responses; -1: any
  std::string initial;              // from_response: value until a response sets it
};

struct RequestSpec {
  std::string name;
  unsigned weight = 1;
  std::string method = "GET";
  Template target;  // path and query
  std::vector<std::pair<std::string, Template>> headers;
  Template body;
  bool has_body = false;
  bool head = false;      // HEAD: responses carry no body
  bool has_host = false;  // a Host header is among `headers`
  // The whole request, when nothing in it varies: sent as is, never rendered again.
  std::string fixed;
};

struct Plan {
  std::string source;       // the URL or the scenario's path, for reports
  std::string host_header;  // host[:port] as in the URL
  sockaddr_storage address{};
  socklen_t address_len = 0;
  std::vector<RequestSpec> requests;
  std::vector<Var> vars;
  bool parse_response_json = false;  // some variable follows responses

  const RequestSpec& request(std::size_t i) const { return requests[i]; }
};

// From a URL: http://host[:port]/path?query. `headers` are "Name: value" strings.
Plan plan_from_url(std::string_view url, std::string_view method = "GET",
                   const std::vector<std::string>& headers = {}, std::string_view body = {});
// From a scenario file.
Plan plan_from_file(const std::string& path);
Plan plan_from_scenario_text(std::string_view text, const std::string& source_name,
                             const std::string& base_dir);
// A URL if it contains "://", else a scenario file.
Plan load_plan(const std::string& target, std::string_view method,
               const std::vector<std::string>& headers, std::string_view body);

// Per-connection state of the variables that follow responses.
struct VarState {
  std::vector<std::string> values;     // indexed like Plan::vars (only from_response used)
  std::vector<std::size_t> next_line;  // sequential file_values cursor
};

class Renderer {
 public:
  explicit Renderer(const Plan& plan);
  VarState new_state() const;
  // Picks a request by weight.
  std::size_t pick(std::mt19937_64& rng) const;
  // Appends request `index`, rendered, to out. Returns its byte count.
  std::size_t render(std::size_t index, VarState& state, std::mt19937_64& rng,
                     std::string& out) const;
  // Updates the from_response variables from a response body of request `index`.
  void observe_response(std::size_t index, std::string_view body, VarState& state) const;

 private:
  void append(const Template& t, bool encode, VarState& state, std::mt19937_64& rng,
              std::string& out) const;
  const Plan& plan_;
  std::vector<std::uint64_t> cumulative_;  // running sum of the weights
};

}  // namespace tenx::bench
