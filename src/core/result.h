#pragma once
// Results on the data path: no exceptions. `Result<T>` carries a value or an error_code;
// "try again" (Errc::busy) is distinct from "failed" (everything else), as nginx's NGX_AGAIN.
#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>

namespace tenx {

template <class T>
using Result = boost::system::result<T>;
using boost::system::error_code;

namespace core {
enum class Errc {
  ok = 0,
  busy = 1,            // a bounded queue or pool is full: try again later
  timeout = 2,         // a deadline passed
  closed = 3,          // the peer or the component shut down
  limit_exceeded = 4,  // a configured size or count limit was hit
  bad_input = 5,       // malformed data from outside
  unavailable = 6,     // nothing healthy to serve from
  internal = 7,        // a bug or an unexpected exception (logged)
  conflict = 8,        // the write breaks a uniqueness rule (a duplicate)
  not_found = 9,       // what was asked for does not exist
};
const boost::system::error_category& tenx_category() noexcept;
inline error_code make_error_code(Errc e) noexcept {
  return {static_cast<int>(e), tenx_category()};
}
}  // namespace core
}  // namespace tenx

template <>
struct boost::system::is_error_code_enum<tenx::core::Errc> : std::true_type {};
