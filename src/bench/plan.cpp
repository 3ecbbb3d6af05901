#include "bench/plan.h"

#include "core/text.h"

#include <fmt/format.h>
#include <toml++/toml.h>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <boost/url/parse.hpp>

#include <netdb.h>
#include <strings.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

namespace tenx::bench {

bool Template::constant() const {
  return std::all_of(segments.begin(), segments.end(), [](const auto& s) { return s.var < 0; });
}

namespace {

Template literal(std::string_view text) {
  Template t;
  if (!text.empty()) t.segments.push_back({std::string(text), -1});
  return t;
}

// Length of an identifier [A-Za-z_][A-Za-z0-9_-]* at the start of s (0 if none).
std::size_t ident_length(std::string_view s) {
  std::size_t n = 0;
  while (n < s.size() &&
         (std::isalpha(static_cast<unsigned char>(s[n])) || s[n] == '_' ||
          (n > 0 && (std::isdigit(static_cast<unsigned char>(s[n])) || s[n] == '-'))))
    ++n;
  return n;
}

// Splits "a{x}b" into segments. Only `{identifier}` is a variable, so JSON bodies need no
// escaping; `{{identifier}}` is the literal text `{identifier}`. `where` prefixes errors.
Template parse_template(std::string_view text, const std::vector<Var>& vars,
                        const std::string& where) {
  Template t;
  std::string lit;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '{') {
      lit += text[i];
      continue;
    }
    const auto rest = text.substr(i + 1);
    if (!rest.empty() && rest[0] == '{') {
      const auto n = ident_length(rest.substr(1));
      if (n > 0 && rest.substr(1 + n).starts_with("}}")) {
        lit += '{';
        lit += rest.substr(1, n);
        lit += '}';
        i += n + 4;
        continue;
      }
    }
    const auto n = ident_length(rest);
    if (n == 0 || n >= rest.size() || rest[n] != '}') {
      lit += '{';
      continue;
    }
    const auto name = rest.substr(0, n);
    auto it = std::find_if(vars.begin(), vars.end(), [&](const Var& v) { return v.name == name; });
    if (it == vars.end())
      throw PlanError(where + ": unknown variable {" + std::string(name) +
                      "} (define it in [vars], or write {{" + std::string(name) +
                      "}} for the text)");
    if (!lit.empty()) t.segments.push_back({std::move(lit), -1});
    lit.clear();
    t.segments.push_back({{}, static_cast<int>(it - vars.begin())});
    i += n + 1;
  }
  if (!lit.empty()) t.segments.push_back({std::move(lit), -1});
  return t;
}

bool valid_token(std::string_view s) {
  if (s.empty()) return false;
  return std::all_of(s.begin(), s.end(), [](unsigned char c) {
    return std::isalnum(c) || std::strchr("!#$%&'*+-.^_`|~", c) != nullptr;
  });
}

struct Resolved {
  std::string host_header;
  std::string path;
};

// Parses an http URL and resolves its host into plan.address.
Resolved resolve_url(std::string_view url, Plan& plan) {
  auto parsed = boost::urls::parse_uri(url);
  if (!parsed)
    throw PlanError(fmt::format("bad URL \"{}\": {} (expected http://host[:port]/path)", url,
                                parsed.error().message()));
  const auto& u = *parsed;
  if (u.scheme() == "https")
    throw PlanError(fmt::format(
        "bad URL \"{}\": https is not supported (tenx bench speaks plain HTTP/1.1)", url));
  if (u.scheme() != "http")
    throw PlanError(fmt::format("bad URL \"{}\": scheme must be http", url));
  if (u.host().empty()) throw PlanError(fmt::format("bad URL \"{}\": no host", url));
  if (u.has_userinfo() || u.has_fragment())
    throw PlanError(fmt::format("bad URL \"{}\": user info and fragments are not supported", url));
  std::string host = u.host();  // percent-decoded; IPv6 without brackets
  std::string port = u.has_port() ? std::string(u.port()) : "80";
  if (port.empty()) port = "80";

  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &res); rc != 0)
    throw PlanError(fmt::format("cannot resolve \"{}\": {}", host, ::gai_strerror(rc)));
  std::memcpy(&plan.address, res->ai_addr, res->ai_addrlen);
  plan.address_len = res->ai_addrlen;
  ::freeaddrinfo(res);

  Resolved r;
  r.host_header = std::string(u.encoded_host_and_port());
  r.path = std::string(u.encoded_path());
  if (r.path.empty()) r.path = "/";
  if (u.has_query()) r.path += "?" + std::string(u.encoded_query());
  return r;
}

// Builds the fixed bytes of requests that do not vary.
void finish(Plan& plan) {
  for (auto& r : plan.requests) {
    r.head = r.method == "HEAD";
    r.has_host = std::any_of(r.headers.begin(), r.headers.end(), [](const auto& h) {
      return h.first.size() == 4 && ::strncasecmp(h.first.data(), "host", 4) == 0;
    });
    bool constant = r.target.constant() && r.body.constant();
    for (const auto& h : r.headers) constant = constant && h.second.constant();
    if (constant) {
      Renderer renderer(plan);
      VarState st;
      std::mt19937_64 rng;
      renderer.render(static_cast<std::size_t>(&r - plan.requests.data()), st, rng, r.fixed);
    }
  }
  for (const auto& v : plan.vars)
    if (v.kind == Var::Kind::from_response) plan.parse_response_json = true;
}

void split_header(std::string_view line, std::string& name, std::string& value,
                  const std::string& where) {
  const auto colon = line.find(':');
  if (colon == std::string_view::npos)
    throw PlanError(where + ": header \"" + std::string(line) + "\" is not \"Name: value\"");
  name = std::string(line.substr(0, colon));
  value = std::string(core::trim_ows(line.substr(colon + 1)));
  if (!valid_token(name)) throw PlanError(where + ": bad header name \"" + name + "\"");
  if (value.find_first_of("\r\n") != std::string::npos)
    throw PlanError(where + ": header value of \"" + name + "\" contains a line break");
}

// --- scenario files ---------------------------------------------------------------------

class Scenario {
 public:
  Scenario(std::string source, std::string base_dir)
      : source_(std::move(source)), base_dir_(std::move(base_dir)) {}

  Plan build(const toml::table& root) {
    Plan plan;
    plan.source = source_;
    check_keys(root, {"base_url", "headers", "vars", "request"});
    auto base = root["base_url"];
    if (!base)
      throw PlanError(at(root) + "missing base_url (e.g. base_url = \"http://127.0.0.1:8080\")");
    if (!base.is_string()) throw PlanError(at(*base.node()) + "base_url must be a string");
    Resolved r;
    try {
      r = resolve_url(*base.value<std::string>(), plan);
    } catch (const PlanError& e) {
      throw PlanError(at(*base.node()) + e.what());
    }
    plan.host_header = r.host_header;
    std::string prefix = r.path == "/" ? "" : r.path;
    if (!prefix.empty() && prefix.back() == '/') prefix.pop_back();

    if (auto* vars = root.get("vars")) read_vars(table_of(*vars, "vars"), plan);

    std::vector<std::pair<std::string, std::string>> common;
    if (auto* h = root.get("headers")) common = read_header_table(table_of(*h, "headers"));

    auto* reqs = root.get("request");
    if (!reqs || !reqs->is_array_of_tables() || reqs->as_array()->empty())
      throw PlanError(at(reqs ? *reqs : static_cast<const toml::node&>(root)) +
                      "a scenario needs at least one [[request]]");
    // Names first, so a variable may follow a request defined after it.
    for (auto& node : *reqs->as_array()) {
      RequestSpec spec;
      if (auto n = node.as_table()->get("name")) {
        if (!n->is_string()) throw PlanError(at(*n) + "request.name must be a string");
        spec.name = *n->value<std::string>();
      }
      plan.requests.push_back(std::move(spec));
    }
    for (std::size_t i = 0; i < pending_request_refs_.size(); ++i) {
      auto& [var_index, name, line] = pending_request_refs_[i];
      auto it = std::find_if(plan.requests.begin(), plan.requests.end(),
                             [&wanted = name](const RequestSpec& s) { return s.name == wanted; });
      if (it == plan.requests.end())
        throw PlanError(fmt::format("{}:{}: vars.{}: no [[request]] is named \"{}\"", source_, line,
                                    plan.vars[var_index].name, name));
      plan.vars[var_index].from_request = static_cast<int>(it - plan.requests.begin());
    }
    std::size_t i = 0;
    for (auto& node : *reqs->as_array())
      read_request(*node.as_table(), plan, plan.requests[i++], prefix, common);
    finish(plan);
    return plan;
  }

 private:
  std::string at(const toml::node& n) const {
    return fmt::format("{}:{}: ", source_, n.source().begin.line);
  }

  const toml::table& table_of(const toml::node& n, std::string_view key) {
    if (!n.is_table()) throw PlanError(at(n) + std::string(key) + " must be a table");
    return *n.as_table();
  }

  void check_keys(const toml::table& t, const std::set<std::string_view>& known,
                  std::string_view where = "") {
    for (auto&& [k, v] : t) {
      if (!known.count(k.str())) {
        std::string list;
        for (auto n : known) list += (list.empty() ? "" : ", ") + std::string(n);
        throw PlanError(at(v) + "unknown key \"" + std::string(where) + std::string(k.str()) +
                        "\" (known: " + list + ")");
      }
    }
  }

  std::string str(const toml::table& t, std::string_view key, std::string_view where) {
    auto* n = t.get(key);
    if (!n->is_string())
      throw PlanError(at(*n) + std::string(where) + std::string(key) + " must be a string");
    return *n->value<std::string>();
  }

  std::vector<std::pair<std::string, std::string>> read_header_table(const toml::table& t) {
    std::vector<std::pair<std::string, std::string>> out;
    for (auto&& [k, v] : t) {
      if (!v.is_string())
        throw PlanError(at(v) + "header \"" + std::string(k.str()) + "\" must be a string");
      std::string name, value;
      split_header(std::string(k.str()) + ": " + *v.value<std::string>(), name, value,
                   at(v).substr(0, at(v).size() - 2));
      out.emplace_back(name, value);
    }
    return out;
  }

  void read_vars(const toml::table& vars, Plan& plan) {
    for (auto&& [k, node] : vars) {
      Var v;
      v.name = std::string(k.str());
      const std::string where = "vars." + v.name + ".";
      if (ident_length(v.name) != v.name.size())
        throw PlanError(at(node) + "bad variable name \"" + v.name +
                        "\" (letters, digits, _ and -, not starting with a digit)");
      const auto& t = table_of(node, "vars." + v.name);
      if (t.contains("random")) {
        check_keys(t, {"random"}, where);
        auto* a = t.get("random")->as_array();
        if (!a || a->size() != 2 || !(*a)[0].is_integer() || !(*a)[1].is_integer())
          throw PlanError(at(*t.get("random")) + where + "random must be [lo, hi] (integers)");
        v.kind = Var::Kind::random_int;
        v.lo = *(*a)[0].value<std::int64_t>();
        v.hi = *(*a)[1].value<std::int64_t>();
        if (v.lo > v.hi) throw PlanError(at(*a) + where + "random: lo is greater than hi");
      } else if (t.contains("file")) {
        check_keys(t, {"file", "order"}, where);
        v.kind = Var::Kind::file_values;
        auto file = str(t, "file", where);
        std::filesystem::path p(file);
        if (p.is_relative()) p = std::filesystem::path(base_dir_) / p;
        std::ifstream in(p);
        if (!in) throw PlanError(at(*t.get("file")) + where + "file: cannot read " + p.string());
        std::string line;
        while (std::getline(in, line)) {
          if (!line.empty() && line.back() == '\r') line.pop_back();
          if (!line.empty()) v.values.push_back(line);
        }
        if (v.values.empty())
          throw PlanError(at(*t.get("file")) + where + "file: " + p.string() + " has no values");
        if (t.contains("order")) {
          auto order = str(t, "order", where);
          if (order != "random" && order != "sequential")
            throw PlanError(at(*t.get("order")) + where +
                            "order must be \"random\" or \"sequential\"");
          v.sequential = order == "sequential";
        }
      } else if (t.contains("from_response")) {
        check_keys(t, {"from_response", "request", "initial"}, where);
        v.kind = Var::Kind::from_response;
        auto field = str(t, "from_response", where);
        std::stringstream ss(field);
        for (std::string part; std::getline(ss, part, '.');) {
          if (part.empty())
            throw PlanError(fmt::format("{}{}from_response: empty field name in \"{}\"",
                                        at(*t.get("from_response")), where, field));
          v.field.push_back(part);
        }
        if (v.field.empty())
          throw PlanError(at(*t.get("from_response")) + where + "from_response is empty");
        if (t.contains("initial")) v.initial = str(t, "initial", where);
        if (t.contains("request"))
          pending_request_refs_.emplace_back(plan.vars.size(), str(t, "request", where),
                                             t.get("request")->source().begin.line);
      } else {
        throw PlanError(
            at(node) + "vars." + v.name +
            " needs one of random = [lo, hi], file = \"...\", from_response = \"field\"");
      }
      plan.vars.push_back(std::move(v));
    }
  }

  void read_request(const toml::table& t, Plan& plan, RequestSpec& spec, const std::string& prefix,
                    const std::vector<std::pair<std::string, std::string>>& common) {
    check_keys(t, {"name", "weight", "method", "path", "headers", "body"}, "request.");
    const std::string here = at(t).substr(0, at(t).size() - 2);
    if (auto* w = t.get("weight")) {
      auto v = w->value<std::int64_t>();
      if (!w->is_integer() || *v < 1 || *v > 1'000'000)
        throw PlanError(at(*w) + "request.weight must be an integer in [1, 1000000]");
      spec.weight = static_cast<unsigned>(*v);
    }
    if (t.contains("method")) {
      spec.method = str(t, "method", "request.");
      if (!valid_token(spec.method))
        throw PlanError(at(*t.get("method")) + "request.method \"" + spec.method +
                        "\" is not a method");
    }
    if (!t.contains("path")) throw PlanError(here + ": request needs a path");
    auto path = str(t, "path", "request.");
    if (path.empty() || path[0] != '/')
      throw PlanError(at(*t.get("path")) + "request.path must start with '/'");
    if (path.find_first_of(" \r\n") != std::string::npos)
      throw PlanError(at(*t.get("path")) + "request.path must not contain spaces or line breaks");
    spec.target = parse_template(prefix + path, plan.vars, at(*t.get("path")) + "request.path");
    for (const auto& [n, v] : common) spec.headers.emplace_back(n, literal(v));
    if (auto* h = t.get("headers")) {
      for (auto&& [k, node] : table_of(*h, "request.headers")) {
        if (!node.is_string())
          throw PlanError(at(node) + "header \"" + std::string(k.str()) + "\" must be a string");
        std::string name, value;
        split_header(std::string(k.str()) + ": " + *node.value<std::string>(), name, value,
                     at(node).substr(0, at(node).size() - 2));
        spec.headers.emplace_back(name,
                                  parse_template(value, plan.vars, at(node) + "header " + name));
      }
    }
    if (t.contains("body")) {
      spec.has_body = true;
      spec.body = parse_template(str(t, "body", "request."), plan.vars,
                                 at(*t.get("body")) + "request.body");
    }
  }

  std::string source_;
  std::string base_dir_;
  std::vector<std::tuple<std::size_t, std::string, std::uint32_t>> pending_request_refs_;
};

bool unreserved(unsigned char c) {
  return std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

}  // namespace

Plan plan_from_url(std::string_view url, std::string_view method,
                   const std::vector<std::string>& headers, std::string_view body) {
  Plan plan;
  plan.source = std::string(url);
  auto r = resolve_url(url, plan);
  plan.host_header = r.host_header;
  RequestSpec spec;
  spec.method = method.empty() ? "GET" : std::string(method);
  if (!valid_token(spec.method)) throw PlanError("bad method \"" + spec.method + "\"");
  spec.target = literal(r.path);
  for (const auto& h : headers) {
    std::string name, value;
    split_header(h, name, value, "--header");
    spec.headers.emplace_back(name, literal(value));
  }
  if (!body.empty()) {
    spec.has_body = true;
    spec.body = literal(body);
  }
  plan.requests.push_back(std::move(spec));
  finish(plan);
  return plan;
}

Plan plan_from_scenario_text(std::string_view text, const std::string& source_name,
                             const std::string& base_dir) {
  toml::table root;
  try {
    root = toml::parse(text, source_name);
  } catch (const toml::parse_error& e) {
    throw PlanError(fmt::format("{}:{}: {}", source_name, e.source().begin.line, e.description()));
  }
  return Scenario(source_name, base_dir).build(root);
}

Plan plan_from_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw PlanError(path + ": cannot read the scenario file: " + std::strerror(errno));
  std::stringstream ss;
  ss << in.rdbuf();
  auto dir = std::filesystem::path(path).parent_path().string();
  return plan_from_scenario_text(ss.str(), path, dir.empty() ? "." : dir);
}

Plan load_plan(const std::string& target, std::string_view method,
               const std::vector<std::string>& headers, std::string_view body) {
  if (target.find("://") != std::string::npos) return plan_from_url(target, method, headers, body);
  if (!std::filesystem::exists(target))
    throw PlanError("\"" + target +
                    "\" is neither a URL (http://host[:port]/path) nor a scenario file");
  if (!headers.empty() || !body.empty() || (method != "GET" && !method.empty()))
    throw PlanError("--method, --header and --body apply to a URL; a scenario file sets its own");
  return plan_from_file(target);
}

// --- rendering ---------------------------------------------------------------------------

Renderer::Renderer(const Plan& plan) : plan_(plan) {
  std::uint64_t sum = 0;
  for (const auto& r : plan.requests) cumulative_.push_back(sum += r.weight);
}

VarState Renderer::new_state() const {
  VarState s;
  s.values.resize(plan_.vars.size());
  s.next_line.resize(plan_.vars.size());
  for (std::size_t i = 0; i < plan_.vars.size(); ++i) s.values[i] = plan_.vars[i].initial;
  return s;
}

std::size_t Renderer::pick(std::mt19937_64& rng) const {
  if (cumulative_.size() == 1) return 0;
  const auto x = rng() % cumulative_.back();
  return static_cast<std::size_t>(std::upper_bound(cumulative_.begin(), cumulative_.end(), x) -
                                  cumulative_.begin());
}

void Renderer::append(const Template& t, bool encode, VarState& state, std::mt19937_64& rng,
                      std::string& out) const {
  for (const auto& seg : t.segments) {
    if (seg.var < 0) {
      out += seg.text;
      continue;
    }
    const Var& v = plan_.vars[seg.var];
    std::string_view value;
    char digits[24];
    switch (v.kind) {
      case Var::Kind::random_int: {
        const auto span = static_cast<std::uint64_t>(v.hi - v.lo) + 1;
        const auto x = v.lo + static_cast<std::int64_t>(span == 0 ? rng() : rng() % span);
        value = std::string_view(digits, fmt::format_to(digits, "{}", x) - digits);
        break;
      }
      case Var::Kind::file_values:
        if (v.sequential) {
          if (state.next_line.size() <= static_cast<std::size_t>(seg.var))
            state.next_line.resize(plan_.vars.size());
          value = v.values[state.next_line[seg.var]++ % v.values.size()];
        } else {
          value = v.values[rng() % v.values.size()];
        }
        break;
      case Var::Kind::from_response:
        value = state.values.size() > static_cast<std::size_t>(seg.var) ? state.values[seg.var]
                                                                        : v.initial;
        break;
    }
    if (!encode) {
      out += value;
      continue;
    }
    static constexpr char kHex[] = "0123456789ABCDEF";
    for (unsigned char c : value) {
      if (unreserved(c)) {
        out += static_cast<char>(c);
      } else {
        out += '%';
        out += kHex[c >> 4];
        out += kHex[c & 15];
      }
    }
  }
}

std::size_t Renderer::render(std::size_t index, VarState& state, std::mt19937_64& rng,
                             std::string& out) const {
  const RequestSpec& r = plan_.requests[index];
  if (!r.fixed.empty()) {
    out += r.fixed;
    return r.fixed.size();
  }
  const auto start = out.size();
  out += r.method;
  out += ' ';
  append(r.target, true, state, rng, out);
  out += " HTTP/1.1\r\n";
  if (!r.has_host) {
    out += "Host: ";
    out += plan_.host_header;
    out += "\r\n";
  }
  for (const auto& [name, value] : r.headers) {
    out += name;
    out += ": ";
    append(value, false, state, rng, out);
    out += "\r\n";
  }
  if (r.has_body) {
    // The body is rendered after the head, then Content-Length is slotted in before it.
    std::string body;
    append(r.body, false, state, rng, body);
    fmt::format_to(std::back_inserter(out), "Content-Length: {}\r\n\r\n", body.size());
    out += body;
  } else if (r.method == "POST" || r.method == "PUT" || r.method == "PATCH") {
    out += "Content-Length: 0\r\n\r\n";  // RFC 9110 §8.6: a user agent SHOULD send it
  } else {
    out += "\r\n";
  }
  return out.size() - start;
}

void Renderer::observe_response(std::size_t index, std::string_view body, VarState& state) const {
  if (body.empty()) return;
  boost::system::error_code ec;
  auto doc = boost::json::parse(body, ec);
  if (ec) return;
  for (std::size_t i = 0; i < plan_.vars.size(); ++i) {
    const Var& v = plan_.vars[i];
    if (v.kind != Var::Kind::from_response) continue;
    if (v.from_request >= 0 && static_cast<std::size_t>(v.from_request) != index) continue;
    const boost::json::value* at = &doc;
    for (const auto& part : v.field) {
      const auto* obj = at->if_object();
      at = obj ? obj->if_contains(part) : nullptr;
      if (!at) break;
    }
    if (!at) continue;  // missing: unchanged
    if (at->is_string()) {
      state.values[i] = std::string(at->get_string());
    } else if (at->is_int64()) {
      state.values[i] = std::to_string(at->get_int64());
    } else if (at->is_uint64()) {
      state.values[i] = std::to_string(at->get_uint64());
    } else if (at->is_double()) {
      state.values[i] = fmt::format("{}", at->get_double());
    } else if (at->is_null() || (at->is_bool() && !at->get_bool())) {
      state.values[i] = v.initial;
    }
  }
}

}  // namespace tenx::bench
