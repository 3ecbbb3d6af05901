// libFuzzer target for the path normaliser (every request path reaches it): it must never
// crash, and what it returns must be normal — rooted, without dot segments or slash runs, and
// a fixed point of itself.
#include "http/path.h"

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  for (const bool merge : {true, false}) {
    const tenx::http::PathRules rules{.merge_slashes = merge, .allow_encoded_slash = merge};
    std::string out;
    const auto st = tenx::http::normalize_path(in, out, rules);
    if (st != tenx::http::PathStatus::normalized) continue;
    if (out.empty() || out.front() != '/') std::abort();
    if (merge && out.find("//") != std::string::npos) std::abort();
    const std::string_view o(out);
    if (o.find("/./") != o.npos || o.find("/../") != o.npos || o.ends_with("/.") ||
        o.ends_with("/.."))
      std::abort();
    std::string again;
    if (tenx::http::normalize_path(out, again, rules) != tenx::http::PathStatus::unchanged)
      std::abort();
  }
  return 0;
}
