#include "http/path.h"

#include "http/message.h"

#include <vector>

namespace tenx::http {

namespace {

char upper_hex(char c) { return c >= 'a' && c <= 'f' ? static_cast<char>(c - 'a' + 'A') : c; }

bool unreserved(int c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

// True if the path may change: an escape, a dot segment start, or a slash run to merge.
bool needs_work(std::string_view p, bool merge_slashes) {
  for (std::size_t i = 0; i < p.size(); ++i) {
    if (p[i] == '%') return true;
    if (p[i] == '/' && i + 1 < p.size()) {
      const char n = p[i + 1];
      if (n == '.' || (n == '/' && merge_slashes)) return true;
    }
  }
  return false;
}

}  // namespace

PathStatus normalize_path(std::string_view path, std::string& out, const PathRules& rules) {
  if (path.empty() || path.front() != '/' || !needs_work(path, rules.merge_slashes))
    return PathStatus::unchanged;
  // 1. escapes
  std::string decoded;
  decoded.reserve(path.size());
  for (std::size_t i = 0; i < path.size(); ++i) {
    const char c = path[i];
    if (c != '%') {
      decoded += c;
      continue;
    }
    if (i + 2 >= path.size()) return PathStatus::bad_escape;
    const int hi = hex_digit_value(path[i + 1]);
    const int lo = hex_digit_value(path[i + 2]);
    if (hi < 0 || lo < 0) return PathStatus::bad_escape;
    const int v = hi * 16 + lo;
    if (v == 0) return PathStatus::encoded_nul;
    if ((v == '/' || v == '\\') && !rules.allow_encoded_slash) return PathStatus::encoded_slash;
    if (unreserved(v)) {
      decoded += static_cast<char>(v);
    } else {
      decoded += '%';
      decoded += upper_hex(path[i + 1]);
      decoded += upper_hex(path[i + 2]);
    }
    i += 2;
  }
  // 2, 3. segments: dot segments removed, empty ones merged when asked.
  std::vector<std::string_view> kept;
  std::string_view rest(decoded);
  rest.remove_prefix(1);  // the leading '/'
  bool trailing_slash = false;
  for (;;) {
    const auto slash = rest.find('/');
    const auto seg = rest.substr(0, slash);
    const bool last = slash == std::string_view::npos;
    if (seg == ".") {
      trailing_slash = last;
    } else if (seg == "..") {
      if (!kept.empty()) kept.pop_back();
      trailing_slash = last;
    } else if (seg.empty() && (rules.merge_slashes || last)) {
      trailing_slash = last && !kept.empty();
    } else {
      kept.push_back(seg);
      trailing_slash = false;
    }
    if (last) break;
    rest.remove_prefix(slash + 1);
  }
  out.clear();
  for (const auto seg : kept) {
    out += '/';
    out += seg;
  }
  if (out.empty() || trailing_slash) out += '/';
  return out == path ? PathStatus::unchanged : PathStatus::normalized;
}

std::string_view path_error_message(PathStatus s) {
  switch (s) {
    case PathStatus::bad_escape:
      return "malformed percent-encoding in the path";
    case PathStatus::encoded_slash:
      return "an encoded '/' or '\\\\' (%2F, %5C) in the path is refused";
    case PathStatus::encoded_nul:
      return "an encoded NUL (%00) in the path is refused";
    default:
      return "";
  }
}

}  // namespace tenx::http
