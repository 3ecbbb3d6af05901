#include "http/message.h"

#include <boost/beast/http/status.hpp>

#include "core/text.h"

namespace tenx::http {

bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    unsigned char x = static_cast<unsigned char>(a[i]);
    unsigned char y = static_cast<unsigned char>(b[i]);
    if (x == y) continue;
    if ((x | 0x20) != (y | 0x20) || (x | 0x20) < 'a' || (x | 0x20) > 'z') return false;
  }
  return true;
}

std::optional<std::string_view> HeaderList::find(Field id) const {
  for (const auto& h : items_)
    if (h.id == id) return h.value;
  return std::nullopt;
}

std::optional<std::string_view> HeaderList::find(std::string_view name) const {
  for (const auto& h : items_)
    if (iequals(h.name, name)) return h.value;
  return std::nullopt;
}

std::size_t HeaderList::count(Field id) const {
  std::size_t n = 0;
  for (const auto& h : items_) n += (h.id == id);
  return n;
}

namespace {
// For "scheme://authority/rest": the authority and the rest ("/rest..."); else nullopt.
std::optional<std::pair<std::string_view, std::string_view>> split_absolute(std::string_view t) {
  if (t.empty() || t.front() == '/') return std::nullopt;
  const auto sep = t.find("://");
  if (sep == std::string_view::npos || sep == 0) return std::nullopt;
  const auto rest = t.substr(sep + 3);
  const auto end = rest.find_first_of("/?");
  const auto authority = rest.substr(0, end);
  return std::pair{authority,
                   end == std::string_view::npos ? std::string_view{} : rest.substr(end)};
}
}  // namespace

std::string_view RequestHead::path() const {
  std::string_view t = target;
  if (auto abs = split_absolute(t)) {
    t = abs->second;
    if (t.empty() || t.front() == '?') return "/";
  }
  auto q = t.find('?');
  return q == std::string_view::npos ? t : t.substr(0, q);
}

bool field_has_token(const HeaderList& headers, Field id, std::string_view token) {
  bool found = false;
  for (const auto& h : headers) {
    if (h.id != id) continue;
    core::split_list(h.value, [&](std::string_view t) {
      found = iequals(t, token);
      return !found;  // the first match ends the walk
    });
    if (found) return true;
  }
  return false;
}

std::string_view RequestHead::authority() const {
  if (auto abs = split_absolute(target)) return abs->first;
  return headers.find(Field::host).value_or(std::string_view{});
}

std::string_view RequestHead::query() const {
  auto q = target.find('?');
  return q == std::string_view::npos ? std::string_view{} : target.substr(q + 1);
}

std::string_view reason_phrase(unsigned status) {
  // Beast answers "<unknown-status>" for codes it does not know.
  const auto s = boost::beast::http::int_to_status(status);
  if (s == Status::unknown) return "Unknown";
  auto r = boost::beast::http::obsolete_reason(s);
  return r.empty() ? std::string_view("Unknown") : std::string_view(r.data(), r.size());
}

int hex_digit_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool percent_decode(std::string_view in, std::string& out, bool plus_as_space) {
  out.clear();
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size()) return false;
      int hi = hex_digit_value(in[i + 1]);
      int lo = hex_digit_value(in[i + 2]);
      if (hi < 0 || lo < 0) return false;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (c == '+' && plus_as_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return true;
}

bool query_param(std::string_view query, std::string_view key, std::string& out) {
  while (!query.empty()) {
    auto amp = query.find('&');
    auto pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    auto eq = pair.find('=');
    auto k = pair.substr(0, eq);
    if (k == key) {
      auto v = eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
      return percent_decode(v, out, true);
    }
  }
  return false;
}

}  // namespace tenx::http
