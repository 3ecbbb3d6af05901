// libFuzzer target: bytes from a Redis server (or whatever answers on its port) through
// ReplyReader, fed in pieces whose sizes the input's first byte picks, with a small reply limit
// so the limit path is reached too. Every reply is walked (debug_string visits all of it) and
// error replies are classified. Crashes, leaks and sanitizer reports are the failures.
#include "redis/reply.h"

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t step = 1 + data[0] % 64;
  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  tenx::redis::ReplyReader reader(4096);
  while (!in.empty()) {
    const auto piece = in.substr(0, step);
    in.remove_prefix(piece.size());
    if (reader.feed(piece)) return 0;
    for (;;) {
      auto next = reader.next();
      if (!next) return 0;
      if (!*next) break;
      const auto& reply = **next;
      (void)reply.debug_string();
      (void)reply.server_error();
    }
  }
  return 0;
}
