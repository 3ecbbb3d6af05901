#include "core/result.h"

#include <string>

namespace tenx::core {
namespace {
class Category final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "tenx"; }
  std::string message(int ev) const override {
    switch (static_cast<Errc>(ev)) {
      case Errc::ok:
        return "ok";
      case Errc::busy:
        return "busy, try again";
      case Errc::timeout:
        return "timed out";
      case Errc::closed:
        return "closed";
      case Errc::limit_exceeded:
        return "limit exceeded";
      case Errc::bad_input:
        return "bad input";
      case Errc::unavailable:
        return "unavailable";
      case Errc::internal:
        return "internal error";
      case Errc::conflict:
        return "conflict with existing data";
      case Errc::not_found:
        return "not found";
    }
    return "unknown tenx error";
  }
};
}  // namespace

const boost::system::error_category& tenx_category() noexcept {
  static const Category category;
  return category;
}
}  // namespace tenx::core
