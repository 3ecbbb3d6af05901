#pragma once
// Router: method + path pattern -> handler, with path parameters.
//
//   Router r;
//   r.get("/api/posts", list_posts);
//   r.get("/api/posts/{id}", show_post);            // ex.param("id")
//   r.post("/api/posts/{id}/like", like_post);
//   r.get("/files/{*path}", serve_file);             // rest of the path, slashes included
//   server handler = r.handler();
//
// Matching walks a segment trie: a literal segment beats a {param}, which beats a {*rest};
// the first full match in that order wins. A path that matches with no handler for the
// method answers 405 with Allow; no match answers 404; both as JSON errors. HEAD uses the GET
// handler (the server drops the body). The matched pattern becomes the request's route label
// for metrics and logs. Parameters are views into the request target, not percent-decoded.
//
// Build the router at start-up, then share it read-only (handler() keeps it alive); matching
// takes no lock.
#include "http/server.h"

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace tenx::http {

class Router {
 public:
  Router();
  ~Router();
  Router(Router&&) noexcept;
  Router& operator=(Router&&) noexcept;

  // Throws std::invalid_argument for a malformed pattern or a duplicate (method, pattern).
  void add(Verb method, std::string_view pattern, Handler handler);
  void get(std::string_view p, Handler h) { add(Verb::get, p, std::move(h)); }
  void post(std::string_view p, Handler h) { add(Verb::post, p, std::move(h)); }
  void put(std::string_view p, Handler h) { add(Verb::put, p, std::move(h)); }
  void del(std::string_view p, Handler h) { add(Verb::delete_, p, std::move(h)); }

  struct Match {
    const Handler* handler = nullptr;  // null: no route for this method
    std::string_view pattern;          // the route label
    bool path_matched = false;         // true with handler null -> 405
    std::string allow;                 // methods allowed on the path (for 405)
    std::vector<std::pair<std::string_view, std::string_view>> params;
  };
  Match match(Verb method, std::string_view path) const;

  // Dispatches ex (404 / 405 answered here).
  boost::asio::awaitable<void> dispatch(Exchange& ex) const;
  // A server handler that owns this router (moved in).
  static Handler into_handler(Router router);

 private:
  struct Node;
  std::unique_ptr<Node> root_;
  std::vector<std::unique_ptr<std::string>> patterns_;  // stable storage for route labels
};

}  // namespace tenx::http
