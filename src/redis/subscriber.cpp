#include "redis/subscriber.h"

#include "core/log.h"

namespace tenx::redis {

Subscriber::Subscriber(core::Poller& poller, Options options, std::vector<std::string> channels,
                       Handlers handlers, Metrics& metrics)
    : channels_(std::move(channels)), handlers_(std::move(handlers)) {
  options.client_name = options.client_name.empty() ? "" : options.client_name + "-pubsub";
  Connection::Events events;
  events.on_ready = [this] { on_ready(); };
  events.on_lost = [this] {
    ++round_;
    const bool was_live = live_;
    live_ = false;
    if (was_live && handlers_.on_lost) handlers_.on_lost();
  };
  events.on_push = [this](Reply&& r) {
    // ["message", channel, payload] or ["pmessage", pattern, channel, payload]
    const auto& e = r.elements();
    const bool pattern = e[0].text() == "pmessage";
    const std::size_t need = pattern ? 4 : 3;
    if (e.size() != need) return;
    if (handlers_.on_message) handlers_.on_message(e[need - 2].text(), e[need - 1].text());
  };
  connection_ =
      std::make_shared<Connection>(poller, std::move(options), metrics, std::move(events), true);
}

Subscriber::~Subscriber() { connection_.reset(); }

void Subscriber::on_ready() {
  const auto round = ++round_;
  auto left = std::make_shared<std::size_t>(channels_.size());
  if (channels_.empty()) {
    live_ = true;
    ++subscriptions_;
    if (handlers_.on_subscribed) handlers_.on_subscribed();
    return;
  }
  // One SUBSCRIBE per channel: each is confirmed by exactly one reply, which keeps replies and
  // commands in step.
  for (const auto& ch : channels_) {
    connection_->exec(Command("SUBSCRIBE", ch),
                      [this, round, left, ch](const error_code& ec, Reply r) {
                        if (ec || round != round_) return;
                        if (r.is_error()) {
                          TENX_LOG_ERROR("redis: SUBSCRIBE {} refused: {}", ch, r.text());
                          return;
                        }
                        if (--*left == 0) {
                          live_ = true;
                          ++subscriptions_;
                          if (handlers_.on_subscribed) handlers_.on_subscribed();
                        }
                      });
  }
}

}  // namespace tenx::redis
