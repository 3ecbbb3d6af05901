#pragma once
// Static files: the guide's browser tier (section 4), served by a gateway route.
//
//   [[gateway.routes]]
//   prefix = "/assets/"
//   static_root = "public"                 # the directory served under the prefix
//   cache_control = "public, max-age=300"  # for names that are not fingerprinted
//
// Every file gets a strong ETag (inode, mtime to the nanosecond, size) and Last-Modified;
// If-None-Match / If-Modified-Since answer 304 (RFC 9110 §13.1.2: If-None-Match wins);
// a single `Range: bytes=...` answers 206 with Content-Range (If-Range honoured), an
// unsatisfiable one 416; several ranges get the whole file (allowed by RFC 9110 §14.2).
// Fingerprinted names (a dot-separated hex part of 8+ characters: app.3f2a9c1b.js) are
// immutable: `Cache-Control: public, max-age=31536000, immutable`. A directory serves its
// index.html; named without its trailing slash it is a 301 to the slashed path (nginx).
//
// Containment: the (already normalised) path is percent-decoded, then opened relative to the
// root directory with openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS), so neither `..`, an
// encoded `..`, an absolute path nor a symlink can leave the root; anything that tries is a
// 404, like a missing file. So are dotfiles (`.env`, `.git/`; `.well-known/` is served) and
// anything that is not a regular file (a FIFO is opened O_NONBLOCK and never waited on).
//
// The worker never blocks on the disk: the open asks for a lookup the dentry cache can
// answer (RESOLVE_CACHED) and reads ask for page-cache data (preadv2 RWF_NOWAIT); when the
// kernel says EAGAIN the same call runs on a small process-wide blocking pool (nginx's
// `aio threads`), so a cached asset set costs no thread hop.
//
// Thread-safe after construction (the root directory descriptor is only read).
#include "http/server.h"

#include <boost/asio/awaitable.hpp>

#include <string>

namespace tenx::gateway {

class StaticFiles {
 public:
  // Throws std::runtime_error if `root` is not an openable directory.
  StaticFiles(const std::string& root, std::string cache_control, std::string route_prefix);
  ~StaticFiles();
  StaticFiles(const StaticFiles&) = delete;
  StaticFiles& operator=(const StaticFiles&) = delete;

  boost::asio::awaitable<void> handle(http::Exchange& ex) const;

  // Every open and read takes the blocking-pool path, as when nothing is cached.
  static void always_block_for_test(bool on);

  // Exposed for tests: does this file name carry a content hash?
  static bool fingerprinted(std::string_view name);

 private:
  int root_fd_ = -1;
  std::string cache_control_;
  std::string prefix_;
};

}  // namespace tenx::gateway
