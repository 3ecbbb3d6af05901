#include "http/router.h"

#include <stdexcept>

namespace tenx::http {

struct Router::Node {
  std::vector<std::pair<std::string, std::unique_ptr<Node>>> literals;
  std::unique_ptr<Node> param;
  std::string param_name;
  std::unique_ptr<Node> rest;
  std::string rest_name;
  struct Route {
    Verb method;
    const std::string* pattern;
    Handler handler;
  };
  std::vector<Route> routes;
};

Router::Router() : root_(std::make_unique<Node>()) {}
Router::~Router() = default;
Router::Router(Router&&) noexcept = default;
Router& Router::operator=(Router&&) noexcept = default;

namespace {
std::vector<std::string_view> split(std::string_view path) {
  std::vector<std::string_view> out;
  if (!path.empty() && path.front() == '/') path.remove_prefix(1);
  while (true) {
    auto slash = path.find('/');
    out.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return out;
}
}  // namespace

void Router::add(Verb method, std::string_view pattern, Handler handler) {
  if (pattern.empty() || pattern.front() != '/')
    throw std::invalid_argument("route pattern must start with '/': '" + std::string(pattern) +
                                "'");
  patterns_.push_back(std::make_unique<std::string>(pattern));
  const std::string* stored = patterns_.back().get();
  Node* node = root_.get();
  auto segs = split(*stored);
  for (std::size_t i = 0; i < segs.size(); ++i) {
    auto seg = segs[i];
    if (seg.size() >= 2 && seg.front() == '{' && seg.back() == '}') {
      auto name = seg.substr(1, seg.size() - 2);
      if (!name.empty() && name.front() == '*') {
        name.remove_prefix(1);
        if (i + 1 != segs.size())
          throw std::invalid_argument("{*" + std::string(name) + "} must be the last segment in '" +
                                      *stored + "'");
        if (!node->rest) {
          node->rest = std::make_unique<Node>();
          node->rest_name = std::string(name);
        } else if (node->rest_name != name) {
          throw std::invalid_argument("conflicting parameter names at '" + *stored + "'");
        }
        node = node->rest.get();
        continue;
      }
      if (name.empty() || name.find_first_of("{}/") != std::string_view::npos)
        throw std::invalid_argument("bad parameter in route pattern '" + *stored + "'");
      if (!node->param) {
        node->param = std::make_unique<Node>();
        node->param_name = std::string(name);
      } else if (node->param_name != name) {
        throw std::invalid_argument("conflicting parameter names {" + node->param_name + "} and {" +
                                    std::string(name) + "} in '" + *stored + "'");
      }
      node = node->param.get();
      continue;
    }
    if (seg.find_first_of("{}") != std::string_view::npos)
      throw std::invalid_argument("braces must enclose a whole segment in '" + *stored + "'");
    Node* next = nullptr;
    for (auto& [lit, child] : node->literals)
      if (lit == seg) next = child.get();
    if (!next) {
      node->literals.emplace_back(std::string(seg), std::make_unique<Node>());
      next = node->literals.back().second.get();
    }
    node = next;
  }
  for (const auto& r : node->routes)
    if (r.method == method)
      throw std::invalid_argument(
          "duplicate route " + std::string(boost::beast::http::to_string(method)) + " " + *stored);
  node->routes.push_back({method, stored, std::move(handler)});
}

namespace {
struct Walker {
  Verb method;
  Router::Match& m;
  template <class NodeT>
  bool walk(const NodeT* node, const std::vector<std::string_view>& segs, std::size_t i,
            std::string_view path_rest) {
    if (i == segs.size()) return finish(node);
    const auto seg = segs[i];
    for (const auto& [lit, child] : node->literals) {
      if (lit == seg) {
        if (walk(child.get(), segs, i + 1, next_rest(path_rest, seg))) return true;
        break;
      }
    }
    if (node->param && !seg.empty()) {
      m.params.emplace_back(node->param_name, seg);
      if (walk(node->param.get(), segs, i + 1, next_rest(path_rest, seg))) return true;
      m.params.pop_back();
    }
    if (node->rest) {
      m.params.emplace_back(node->rest_name, path_rest);
      if (finish(node->rest.get())) return true;
      m.params.pop_back();
    }
    return false;
  }
  static std::string_view next_rest(std::string_view rest, std::string_view seg) {
    rest.remove_prefix(std::min(rest.size(), seg.size() + 1));
    return rest;
  }
  template <class NodeT>
  bool finish(const NodeT* node) {
    if (node->routes.empty()) return false;
    const decltype(node->routes.front().handler)* get = nullptr;
    std::string_view get_pattern;
    for (const auto& r : node->routes) {
      if (r.method == method) {
        m.handler = &r.handler;
        m.pattern = *r.pattern;
        m.path_matched = true;
        return true;
      }
      if (r.method == Verb::get) {
        get = &r.handler;
        get_pattern = *r.pattern;
      }
    }
    if (method == Verb::head && get) {
      m.handler = get;
      m.pattern = get_pattern;
      m.path_matched = true;
      return true;
    }
    if (!m.path_matched) {
      m.path_matched = true;
      m.pattern = *node->routes.front().pattern;
      for (const auto& r : node->routes) {
        if (!m.allow.empty()) m.allow += ", ";
        m.allow += boost::beast::http::to_string(r.method);
        if (r.method == Verb::get) m.allow += ", HEAD";
      }
    }
    return false;
  }
};
}  // namespace

Router::Match Router::match(Verb method, std::string_view path) const {
  Match m;
  const auto segs = split(path);
  std::string_view rest = path;
  if (!rest.empty() && rest.front() == '/') rest.remove_prefix(1);
  Walker w{method, m};
  if (!w.walk(root_.get(), segs, 0, rest)) {
    m.handler = nullptr;
    m.params.clear();
  }
  return m;
}

boost::asio::awaitable<void> Router::dispatch(Exchange& ex) const {
  const auto& req = ex.request();
  auto m = match(req.method, req.path());
  if (!m.handler) {
    if (m.path_matched) {
      ex.set_route(m.pattern);
      const Header allow[] = {{"Allow", m.allow}};
      ex.respond_error(405, "method_not_allowed",
                       std::string(req.method_string) + " is not allowed here; allowed: " + m.allow,
                       allow);
    } else {
      ex.respond_error(404, "not_found", "no route for " + std::string(req.path()));
    }
    co_return;
  }
  ex.set_route(m.pattern);
  for (const auto& [k, v] : m.params) ex.add_param(k, v);
  co_await (*m.handler)(ex);
}

Handler Router::into_handler(Router router) {
  auto shared = std::make_shared<const Router>(std::move(router));
  return [shared](Exchange& ex) { return shared->dispatch(ex); };
}

}  // namespace tenx::http
