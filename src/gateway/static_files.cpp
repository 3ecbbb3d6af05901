#include "gateway/static_files.h"

#include "core/blocking_pool.h"
#include "core/text.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <ctime>
#include <stdexcept>

namespace tenx::gateway {
namespace {

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

// O_NONBLOCK: opening a FIFO (or a device) must not wait for a writer; regular files ignore
// it. cached_only: RESOLVE_CACHED, fail with EAGAIN rather than read a directory from disk.
int open_beneath(int dir, const std::string& rel, bool cached_only) {
  open_how how{};
  how.flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | (cached_only ? RESOLVE_CACHED : 0);
  return static_cast<int>(::syscall(SYS_openat2, dir, rel.c_str(), &how, sizeof how));
}

std::atomic<bool> g_always_block{false};

// File work that would block (a lookup or a read not in the page cache) runs here, never on
// a worker loop. Shared by every static route of the process; threads start on first use.
core::BlockingPool& file_pool() {
  static core::BlockingPool pool(2, 4096);
  return pool;
}

// The file a request names: its descriptor and stat, or why not. would_block: the kernel
// would have had to go to disk (RESOLVE_CACHED), try again off the loop.
struct Opened {
  int fd = -1;
  struct stat st {};
  bool directory = false;  // the path named a directory (then fd is its index.html, if any)
  bool would_block = false;
};

Opened open_path(int root, const std::string& rel, bool cached_only) {
  Opened o;
  if (cached_only && g_always_block.load(std::memory_order_relaxed)) {
    o.would_block = true;
    return o;
  }
  o.fd = open_beneath(root, rel, cached_only);
  if (o.fd < 0) {
    o.would_block = errno == EAGAIN;
    return o;
  }
  if (::fstat(o.fd, &o.st) != 0) o.st = {};
  if (S_ISDIR(o.st.st_mode)) {
    o.directory = true;
    const int dir = o.fd;
    o.fd = open_beneath(dir, "index.html", cached_only);
    o.would_block = o.fd < 0 && errno == EAGAIN;
    ::close(dir);
    o.st = {};
    if (o.fd >= 0 && ::fstat(o.fd, &o.st) != 0) o.st = {};
  }
  return o;
}

// A segment that starts with '.' (".env", ".git/"): not served, as every deployment guide
// tells nginx users to configure; ".well-known/" (RFC 8615) is the exception.
bool hidden(std::string_view rel) {
  while (!rel.empty()) {
    const auto slash = rel.find('/');
    const auto seg = rel.substr(0, slash);
    if (!seg.empty() && seg.front() == '.' && seg != "." && seg != ".well-known") return true;
    if (slash == std::string_view::npos) break;
    rel.remove_prefix(slash + 1);
  }
  return false;
}

std::string_view content_type(std::string_view name) {
  const auto dot = name.rfind('.');
  const auto ext = dot == std::string_view::npos ? std::string_view{} : name.substr(dot + 1);
  struct Entry {
    std::string_view ext, type;
  };
  static constexpr Entry kTypes[] = {
      {"html", "text/html; charset=utf-8"},
      {"htm", "text/html; charset=utf-8"},
      {"css", "text/css; charset=utf-8"},
      {"js", "text/javascript; charset=utf-8"},
      {"mjs", "text/javascript; charset=utf-8"},
      {"json", "application/json"},
      {"txt", "text/plain; charset=utf-8"},
      {"svg", "image/svg+xml"},
      {"png", "image/png"},
      {"jpg", "image/jpeg"},
      {"jpeg", "image/jpeg"},
      {"gif", "image/gif"},
      {"webp", "image/webp"},
      {"ico", "image/x-icon"},
      {"woff", "font/woff"},
      {"woff2", "font/woff2"},
      {"wasm", "application/wasm"},
      {"map", "application/json"},
      {"xml", "application/xml"},
      {"pdf", "application/pdf"},
  };
  for (const auto& e : kTypes)
    if (http::iequals(e.ext, ext)) return e.type;
  return "application/octet-stream";
}

std::string http_date(std::time_t t) {
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[40];
  const auto n = std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return std::string(buf, n);
}

// RFC 9110 §5.6.7 IMF-fixdate only (what every current client sends); nullopt otherwise.
std::optional<std::time_t> parse_http_date(std::string_view v) {
  std::tm tm{};
  const std::string s(v);
  const char* end = ::strptime(s.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (!end || *end != '\0') return std::nullopt;
  return ::timegm(&tm);
}

// Does an If-None-Match / If-Range list name this ETag? (weak comparison for If-None-Match)
bool etag_listed(std::string_view list, std::string_view etag) {
  bool listed = false;
  core::split_list(list, [&](std::string_view tag) {
    const bool any = tag == "*";
    if (tag.substr(0, 2) == "W/") tag.remove_prefix(2);
    listed = any || tag == etag;
    return !listed;  // the first match ends the walk
  });
  return listed;
}

struct Range {
  std::uint64_t first = 0, last = 0;
};
enum class RangeResult { none, single, unsatisfiable };

RangeResult parse_range(std::string_view v, std::uint64_t size, Range& out) {
  if (v.substr(0, 6) != "bytes=") return RangeResult::none;
  v.remove_prefix(6);
  if (v.find(',') != std::string_view::npos) return RangeResult::none;  // whole file
  const auto dash = v.find('-');
  if (dash == std::string_view::npos) return RangeResult::none;
  auto num = [](std::string_view s, std::uint64_t& n) {
    if (s.empty()) return false;
    auto r = std::from_chars(s.data(), s.data() + s.size(), n);
    return r.ec == std::errc() && r.ptr == s.data() + s.size();
  };
  const auto a = v.substr(0, dash), b = v.substr(dash + 1);
  std::uint64_t x = 0, y = 0;
  if (a.empty()) {  // suffix: the last y bytes
    if (!num(b, y)) return RangeResult::none;
    if (y == 0 || size == 0) return RangeResult::unsatisfiable;
    out.first = y >= size ? 0 : size - y;
    out.last = size - 1;
    return RangeResult::single;
  }
  if (!num(a, x)) return RangeResult::none;
  if (!b.empty() && (!num(b, y) || y < x)) return RangeResult::none;
  if (x >= size) return RangeResult::unsatisfiable;
  out.first = x;
  out.last = b.empty() || y >= size ? size - 1 : y;
  return RangeResult::single;
}

}  // namespace

StaticFiles::StaticFiles(const std::string& root, std::string cache_control,
                         std::string route_prefix)
    : cache_control_(std::move(cache_control)), prefix_(std::move(route_prefix)) {
  root_fd_ = ::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (root_fd_ < 0) throw std::runtime_error("static root '" + root + "': " + std::strerror(errno));
}

void StaticFiles::always_block_for_test(bool on) { g_always_block = on; }

StaticFiles::~StaticFiles() {
  if (root_fd_ >= 0) ::close(root_fd_);
}

bool StaticFiles::fingerprinted(std::string_view name) {
  // name.HASH.ext or name-HASH.ext with HASH of 8+ hex digits.
  const auto slash = name.rfind('/');
  if (slash != std::string_view::npos) name.remove_prefix(slash + 1);
  std::size_t run = 0;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    if (hex) {
      ++run;
      continue;
    }
    if (c == '.' && run >= 8 && i >= run + 1 &&
        (name[i - run - 1] == '.' || name[i - run - 1] == '-'))
      return true;
    run = 0;
  }
  return false;
}

// Reads up to `want` bytes at `offset`: inline while the page cache has them (preadv2
// RWF_NOWAIT), the rest on the file pool. Fewer bytes only at the end of the file.
static boost::asio::awaitable<std::size_t> read_at(int fd, char* buf, std::size_t want,
                                                   std::uint64_t offset) {
  std::size_t got = 0;
  while (got < want && !g_always_block.load(std::memory_order_relaxed)) {
    iovec iov{buf + got, want - got};
    const auto n = ::preadv2(fd, &iov, 1, static_cast<off_t>(offset + got), RWF_NOWAIT);
    if (n > 0) {
      got += static_cast<std::size_t>(n);
      continue;
    }
    if (n == 0) co_return got;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EOPNOTSUPP) break;  // not cached (or no RWF_NOWAIT here)
    co_return got;
  }
  if (got == want) co_return got;
  auto job = [fd, buf, want, offset, got]() mutable {
    while (got < want) {
      const auto n = ::pread(fd, buf + got, want - got, static_cast<off_t>(offset + got));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      got += static_cast<std::size_t>(n);
    }
    return got;
  };
  auto r = co_await file_pool().run(std::move(job));
  co_return r ? *r : got;
}

boost::asio::awaitable<void> StaticFiles::handle(http::Exchange& ex) const {
  const auto& req = ex.request();
  if (req.method != http::Verb::get && req.method != http::Verb::head) {
    const http::Header allow[] = {{"Allow", "GET, HEAD"}};
    ex.respond_error(405, "method_not_allowed", "static files answer GET and HEAD only", allow);
    co_return;
  }
  std::string_view path = ex.path();
  if (path.substr(0, prefix_.size()) == prefix_) path.remove_prefix(prefix_.size());
  std::string rel;
  if (!http::percent_decode(path, rel) || rel.find('\0') != std::string::npos) {
    ex.respond_error(400, "bad_path", "malformed percent-encoding in the path");
    co_return;
  }
  while (!rel.empty() && rel.front() == '/') rel.erase(0, 1);
  if (hidden(rel)) {
    ex.respond_error(404, "not_found", "no such file");
    co_return;
  }
  const bool trailing_slash = rel.empty() || rel.back() == '/';
  if (rel.empty()) rel = ".";
  Opened f = open_path(root_fd_, rel, /*cached_only=*/true);
  if (f.would_block) {
    auto job = [root = root_fd_, rel] { return open_path(root, rel, false); };
    auto r = co_await file_pool().run(std::move(job));
    if (!r) {
      const http::Header retry[] = {{"Retry-After", "1"}};
      ex.respond_error(503, "busy", "file reads are queued too deep; try again", retry);
      co_return;
    }
    f = *r;
  }
  Fd owned{f.fd};
  if (f.directory && !trailing_slash) {
    // nginx's answer for a directory named without its slash: relative links in its index
    // would resolve against the parent otherwise.
    std::string location(ex.path());
    location += '/';
    if (req.target.find('?') != std::string_view::npos) {
      location += '?';
      location += req.query();
    }
    const http::Header where[] = {{"Location", location}};
    ex.respond(301, "text/plain", "moved to " + location + "\n", where);
    co_return;
  }
  if (f.directory) rel += "/index.html";
  const struct stat& st = f.st;
  if (f.fd < 0 || !S_ISREG(st.st_mode)) {
    // Missing, outside the root, or not a regular file (a FIFO, a device): all look the same
    // from outside.
    ex.respond_error(404, "not_found", "no such file");
    co_return;
  }
  const auto size = static_cast<std::uint64_t>(st.st_size);
  // Inode, modification time to the nanosecond and size: a file rewritten within the same
  // second, or replaced by another of the same size, gets a new ETag.
  char etag_buf[80];
  const int etag_len =
      std::snprintf(etag_buf, sizeof etag_buf, "\"%llx-%llx.%lx-%llx\"",
                    static_cast<unsigned long long>(st.st_ino),
                    static_cast<unsigned long long>(st.st_mtim.tv_sec),
                    static_cast<long>(st.st_mtim.tv_nsec), static_cast<unsigned long long>(size));
  const std::string_view etag(etag_buf, static_cast<std::size_t>(etag_len));
  const std::string last_modified = http_date(st.st_mtim.tv_sec);
  const std::string_view cache = fingerprinted(rel)
                                     ? std::string_view("public, max-age=31536000, immutable")
                                     : std::string_view(cache_control_);

  // RFC 9110 §13.1.2 / §13.1.3: If-None-Match decides when present.
  bool not_modified = false;
  if (auto inm = req.headers.find(http::Field::if_none_match)) {
    not_modified = etag_listed(*inm, etag);
  } else if (auto ims = req.headers.find(http::Field::if_modified_since)) {
    if (auto t = parse_http_date(*ims)) not_modified = st.st_mtim.tv_sec <= *t;
  }
  std::vector<http::Header> headers = {{"ETag", etag},
                                       {"Last-Modified", last_modified},
                                       {"Cache-Control", cache},
                                       {"Accept-Ranges", "bytes"}};
  if (not_modified) {
    ex.respond(304, {}, {}, headers);
    co_return;
  }

  Range range;
  RangeResult rr = RangeResult::none;
  std::string content_range;
  if (auto r = req.headers.find(http::Field::range)) {
    bool honour = true;
    if (auto ir = req.headers.find(http::Field::if_range)) {
      // A range applies only to the representation the client already has.
      honour = (!ir->empty() && ir->front() == '"') ? *ir == etag : *ir == last_modified;
    }
    if (honour) rr = parse_range(*r, size, range);
  }
  if (rr == RangeResult::unsatisfiable) {
    content_range = "bytes */" + std::to_string(size);
    headers.push_back({"Content-Range", content_range});
    ex.respond_error(416, "range_not_satisfiable", "the range is outside the file", headers);
    co_return;
  }
  std::uint64_t offset = 0, length = size;
  unsigned status = 200;
  if (rr == RangeResult::single) {
    status = 206;
    offset = range.first;
    length = range.last - range.first + 1;
    content_range = "bytes " + std::to_string(range.first) + "-" + std::to_string(range.last) +
                    "/" + std::to_string(size);
    headers.push_back({"Content-Range", content_range});
  }
  headers.push_back({"Content-Type", content_type(rel)});

  // Small files go out with the head in one write; larger ones follow in 64 KiB pieces. A
  // file that shrank underneath sends what there is, then the close shows it.
  constexpr std::size_t kPiece = 64 * 1024;
  std::string buf;
  buf.resize(static_cast<std::size_t>(std::min<std::uint64_t>(length, kPiece)));
  std::uint64_t sent = 0;
  const bool body = req.method != http::Verb::head;
  std::string_view first;
  if (body && length > 0) {
    const auto want = static_cast<std::size_t>(std::min<std::uint64_t>(length, kPiece));
    first = std::string_view(buf.data(), co_await read_at(f.fd, buf.data(), want, offset));
  }
  if (auto ec = co_await ex.start_response(status, headers, length, first)) co_return;
  sent += first.size();
  while (body && sent < length) {
    const auto want = static_cast<std::size_t>(std::min<std::uint64_t>(length - sent, kPiece));
    const auto got = co_await read_at(f.fd, buf.data(), want, offset + sent);
    if (got == 0) break;
    if (auto ec = co_await ex.write_body(std::string_view(buf.data(), got))) co_return;
    sent += got;
  }
  co_await ex.end_response();
}

}  // namespace tenx::gateway
