#pragma once
// Subscriber: a dedicated pub/sub connection (RESP2 puts a subscribed connection in a mode
// where it takes no other command, hence its own), subscribed to a fixed set of channels and
// resubscribed after every reconnect.
//
// What a cache needs from it is not only the messages but knowing when it may have missed
// some: on_lost runs when the connection drops (from then on invalidations may be lost), and
// on_subscribed each time every channel is confirmed again (messages published from then on
// arrive). A node that dropped entries at on_lost or at on_subscribed is coherent again.
//
// Lives on one loop (the Poller's): construct, use and destroy it there. The handlers run on
// that loop.
#include "redis/connection.h"
#include "redis/metrics.h"

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace tenx::redis {

class Subscriber {
 public:
  struct Handlers {
    std::function<void(std::string_view channel, std::string_view message)> on_message;
    std::function<void()> on_subscribed;
    std::function<void()> on_lost;
  };
  Subscriber(core::Poller& poller, Options options, std::vector<std::string> channels,
             Handlers handlers, Metrics& metrics);
  ~Subscriber();
  Subscriber(const Subscriber&) = delete;
  Subscriber& operator=(const Subscriber&) = delete;

  void start() { connection_->start(); }
  void close() { connection_->close(); }
  // Connected and every channel confirmed.
  bool live() const { return live_; }
  std::uint64_t subscriptions() const { return subscriptions_; }  // times it became live
  Connection& connection_for_test() { return *connection_; }

 private:
  void on_ready();

  const std::vector<std::string> channels_;
  Handlers handlers_;
  std::shared_ptr<Connection> connection_;
  bool live_ = false;
  std::uint64_t round_ = 0;  // bumped per connection: late confirmations of an old one are ignored
  std::uint64_t subscriptions_ = 0;
};

}  // namespace tenx::redis
