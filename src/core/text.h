#pragma once
// Protocol-neutral text helpers over std::string_view: they never allocate, and every view
// they hand out points into the caller's text.
//
// trim_ows() strips optional whitespace (spaces and tabs, RFC 9110 §5.6.3 OWS); split_list()
// walks a list such as `a, b,,c` element by element (RFC 9110 §5.6.1). Users: the HTTP parser
// (Transfer-Encoding, Expect) and message helpers (Connection tokens, media types), the
// gateway (forwarding fields, If-None-Match, Connection), the app API (If-None-Match) and the
// bench (scenario headers, --slo lists). Pure functions: any thread.
#include <string_view>
#include <type_traits>
#include <utility>

namespace tenx::core {

// `s` without its leading and trailing spaces and horizontal tabs (RFC 9110 §5.6.3 OWS; other
// whitespace such as CR or LF is not OWS and is kept).
std::string_view trim_ows(std::string_view s) noexcept;

// Takes the first element off `rest` (up to the first `separator`, or all of it) and returns
// it trimmed of OWS; it may be empty. `rest` keeps what follows the separator.
std::string_view take_list_element(std::string_view& rest, char separator) noexcept;

// Calls on_element(std::string_view) for each element of a `separator`-separated list, left
// to right, trimmed of OWS. Empty elements are skipped: RFC 9110 §5.6.1 says a recipient
// "MUST parse and ignore a reasonable number of empty list elements". When on_element returns
// bool, false stops the walk.
template <class OnElement>
void split_list(std::string_view list, char separator, OnElement&& on_element) {
  while (!list.empty()) {
    const std::string_view element = take_list_element(list, separator);
    if (element.empty()) continue;
    if constexpr (std::is_same_v<std::invoke_result_t<OnElement&, std::string_view>, bool>) {
      if (!on_element(element)) return;
    } else {
      on_element(element);
    }
  }
}

// A comma-separated list (RFC 9110 §5.6.1 `#rule`), as above.
template <class OnElement>
void split_list(std::string_view list, OnElement&& on_element) {
  split_list(list, ',', std::forward<OnElement>(on_element));
}

}  // namespace tenx::core
