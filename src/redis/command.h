#pragma once
// Command: one Redis command encoded as RESP (an array of bulk strings), ready to write.
//
//   Command c("SET", key, value, "PX", 1500);
//   Command m("MGET"); for (auto& k : keys) m.arg(k);
//
// Arguments are binary-safe (any bytes). The name is kept for metrics (the first word).
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>

namespace tenx::redis {

class Command {
 public:
  template <class... Args>
  explicit Command(std::string_view name, const Args&... args) : name_(name) {
    arg(name);
    (arg(args), ...);
  }
  Command& arg(std::string_view a);
  Command& arg(const char* a) { return arg(std::string_view(a)); }
  Command& arg(const std::string& a) { return arg(std::string_view(a)); }
  template <class T>
  requires std::is_integral_v<T> Command& arg(T v) {
    return arg(std::string_view(std::to_string(v)));
  }

  std::string_view name() const { return name_; }
  std::size_t argc() const { return argc_; }
  // Appends the RESP bytes to out.
  void append_to(std::string& out) const;

 private:
  std::string name_;  // for metrics: a command name, short (no allocation)
  std::string body_;  // the bulk strings
  std::size_t argc_ = 0;
};

}  // namespace tenx::redis
