#pragma once
// Normalisation of a request path before routing (RFC 3986 §6.2.2), so that `/%61dmin`,
// `//admin`, `/./admin` and `/a/../admin` all meet the route written for `/admin`, and the next
// hop sees the path the route was chosen by:
//   1. percent-encoded unreserved characters (ALPHA DIGIT - . _ ~) are decoded, other escapes
//      keep their encoding with upper-case hex (§6.2.2.1, §6.2.2.2);
//   2. dot segments are removed (§5.2.4; ".." at the root stays at the root);
//   3. runs of '/' become one when merge_slashes is set (nginx's merge_slashes, on by default).
// Refused: an encoded '/' or '\' (%2F, %5C: a separator the router cannot see) unless allowed,
// an encoded NUL (%00) always, and a malformed escape. Pure functions; no allocation when the
// path needs nothing (the common case: one scan).
#include <string>
#include <string_view>

namespace tenx::http {

struct PathRules {
  bool merge_slashes = true;
  bool allow_encoded_slash = false;
};

enum class PathStatus {
  unchanged,      // already normal: `out` untouched
  normalized,     // `out` holds the normal form
  bad_escape,     // '%' not followed by two hex digits
  encoded_slash,  // %2F or %5C, and the rules refuse them
  encoded_nul,    // %00
};

PathStatus normalize_path(std::string_view path, std::string& out, const PathRules& rules = {});
// A message for a refused path ("" for the two good outcomes).
std::string_view path_error_message(PathStatus s);

}  // namespace tenx::http
