#include "core/text.h"

namespace tenx::core {

namespace {
bool is_ows(char c) { return c == ' ' || c == '\t'; }
}  // namespace

std::string_view trim_ows(std::string_view s) noexcept {
  while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
  return s;
}

std::string_view take_list_element(std::string_view& rest, char separator) noexcept {
  const auto at = rest.find(separator);
  const std::string_view element = rest.substr(0, at);
  rest = at == std::string_view::npos ? std::string_view{} : rest.substr(at + 1);
  return trim_ows(element);
}

}  // namespace tenx::core
