// libFuzzer target: GET /api/posts?cursor=... decodes whatever a client sends.
//
// Invariants: no crash or sanitizer report; a cursor that decodes has exactly one spelling
// (encoding the decoded position gives back the input), so no two strings name one position
// and a tampered copy cannot pass as the original.
#include "app/cursor.h"

#include <cstdint>
#include <cstdlib>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const tenx::app::CursorCodec codec("tenx-default-cursor-key");  // the seed decodes
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  if (auto pos = codec.decode(in)) {
    if (codec.encode(*pos) != in) std::abort();
    if (pos->id <= 0 || pos->created_at_us < 0) std::abort();
  }
  return 0;
}
