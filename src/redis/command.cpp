#include "redis/command.h"

namespace tenx::redis {

Command& Command::arg(std::string_view a) {
  body_ += '$';
  body_ += std::to_string(a.size());
  body_ += "\r\n";
  body_ += a;
  body_ += "\r\n";
  ++argc_;
  return *this;
}

void Command::append_to(std::string& out) const {
  out += '*';
  out += std::to_string(argc_);
  out += "\r\n";
  out += body_;
}

}  // namespace tenx::redis
