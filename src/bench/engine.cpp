#include "bench/engine.h"

#include "http/io_buffer.h"
#include "http/parser.h"

#include <boost/beast/http/error.hpp>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <random>
#include <thread>

namespace tenx::bench {

namespace {

using Ns = std::uint64_t;
constexpr Ns kSecond = 1'000'000'000;
constexpr Ns kNever = UINT64_MAX;
constexpr std::size_t kMaxResponseHead = 64 * 1024;
constexpr std::size_t kMaxBodyKept = 1 << 20;  // body bytes kept for from_response variables

Ns now_ns() {
  timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<Ns>(ts.tv_sec) * kSecond + static_cast<Ns>(ts.tv_nsec);
}

enum class Fail { connect, read, write, timeout, reset, protocol };

// Shared by the workers and the thread that runs them.
struct Shared {
  Ns start = 0;         // the run's start (warm-up begins)
  Ns window_start = 0;  // warm-up ends, measuring begins
  Ns window_end = kNever;
  std::atomic<bool> stop{false};
  std::atomic<Ns> stopped_at{0};  // when a progress callback ended the run
};

struct InFlight {
  Ns due = 0;   // open loop: when it was scheduled; closed loop: when it was sent
  Ns sent = 0;  // for the timeout
  std::uint32_t request = 0;
};

struct Conn {
  int fd = -1;
  enum class State : std::uint8_t { closed, connecting, open } state = State::closed;
  std::uint32_t index = 0;       // in the worker's connection list
  std::uint32_t generation = 0;  // tells stale epoll events of an earlier socket apart
  bool want_write = false;       // EPOLLOUT registered
  bool parsing = false;          // a response head or body is under way
  bool close_after = false;      // the server said Connection: close
  bool listed_free = false;      // on the open-loop free list
  http::IoBuffer in{8 * 1024};
  http::ResponseParser parser;
  std::vector<InFlight> ring;  // outstanding requests, oldest first (capacity = pipeline)
  std::uint32_t ring_head = 0, ring_count = 0;
  std::string out;  // unsent request bytes
  std::size_t out_off = 0;
  std::string body;  // response body kept for from_response variables
  VarState vars;
  Ns connect_start = 0;
  Ns retry_at = 0;
  unsigned connect_failures = 0;

  InFlight& front() { return ring[ring_head]; }
  void push(const InFlight& f) {
    ring[(ring_head + ring_count) % ring.size()] = f;
    ++ring_count;
  }
  InFlight pop() {
    InFlight f = ring[ring_head];
    ring_head = (ring_head + 1) % static_cast<std::uint32_t>(ring.size());
    --ring_count;
    return f;
  }
};

class Worker {
 public:
  Worker(const Plan& plan, const EngineOptions& opt, Shared& shared, unsigned index,
         unsigned connections, double rate, std::uint64_t quota)
      : plan_(plan),
        renderer_(plan),
        opt_(opt),
        shared_(shared),
        rng_(opt.seed * 0x9E3779B97F4A7C15ull + index),
        open_(rate > 0),
        quota_(quota) {
    conns_.reserve(connections);
    for (unsigned i = 0; i < connections; ++i) {
      auto c = std::make_unique<Conn>();
      c->index = i;
      c->ring.resize(opt.pipeline);
      c->vars = renderer_.new_state();
      conns_.push_back(std::move(c));
    }
    if (open_) {
      interval_ns_ = 1e9 / rate;
      phase_ = static_cast<double>(index) / opt.threads;
    }
    timeout_ns_ = static_cast<Ns>(opt.timeout.count());
    if (shared.window_end != kNever) {
      const auto secs = (shared.window_end - shared.window_start + kSecond - 1) / kSecond;
      stats.per_second.reserve(secs + 1);
      stats.errors_per_second.reserve(secs + 1);
    }
    limits_.max_header_bytes = kMaxResponseHead;
    limits_.max_body_bytes = std::nullopt;
  }

  ~Worker() {
    for (auto& c : conns_)
      if (c->fd >= 0) ::close(c->fd);
    if (ep_ >= 0) ::close(ep_);
  }

  void run() {
    ep_ = ::epoll_create1(EPOLL_CLOEXEC);
    Ns now = now_ns();
    for (auto& c : conns_) connect(*c, now);
    epoll_event events[256];
    Ns next_sweep = now + sweep_interval();
    while (true) {
      now = now_ns();
      if (now >= shared_.window_end || shared_.stop.load(std::memory_order_relaxed)) break;
      if (quota_ && quota_done()) break;
      if (open_) dispatch(now);
      if (now >= next_sweep) {
        sweep(now);
        next_sweep = now + sweep_interval();
      }
      Ns wake = std::min(next_sweep, shared_.window_end);
      if (open_ && !schedule_exhausted()) wake = std::min(wake, due(next_seq_));
      const int n = wait(events, 256, wake > now ? wake - now : 0);
      now = now_ns();
      for (int i = 0; i < n; ++i) {
        const auto key = events[i].data.u64;
        Conn& c = *conns_[key >> 32];
        if (static_cast<std::uint32_t>(key) != c.generation || c.fd < 0) continue;
        handle(c, events[i].events, now);
      }
    }
    finish();
  }

  WorkerStats stats;
  std::atomic<std::uint64_t> live_responses{0};
  std::atomic<std::uint64_t> live_errors{0};
  Ns last_completion = 0;

 private:
  Ns sweep_interval() const { return std::clamp<Ns>(timeout_ns_ / 20, 1'000'000, 10'000'000); }

  Ns due(std::uint64_t seq) const {
    return shared_.start + static_cast<Ns>((static_cast<double>(seq) + phase_) * interval_ns_);
  }
  bool schedule_exhausted() const { return quota_ && next_seq_ >= quota_limit_seq(); }
  // Open loop with a request count: the schedule covers the warm-up plus the quota.
  std::uint64_t quota_limit_seq() const { return warmup_seqs_ + quota_; }
  bool quota_done() const {
    if (open_) return schedule_exhausted() && backlog_begin_ == next_seq_ && outstanding_ == 0;
    return sent_in_window_ >= quota_ && outstanding_ == 0;
  }

  int wait(epoll_event* events, int max, Ns timeout_ns) {
    timespec ts{static_cast<time_t>(timeout_ns / kSecond), static_cast<long>(timeout_ns % kSecond)};
    if (!no_pwait2_) {
      int n = ::epoll_pwait2(ep_, events, max, &ts, nullptr);
      if (n >= 0 || errno != ENOSYS) return std::max(n, 0);
      no_pwait2_ = true;
    }
    const auto ms = static_cast<int>(std::min<Ns>((timeout_ns + 999'999) / 1'000'000, 1000));
    return std::max(::epoll_wait(ep_, events, max, ms), 0);
  }

  static std::uint64_t key(const Conn& c) {
    return (static_cast<std::uint64_t>(c.index) << 32) | c.generation;
  }

  void connect(Conn& c, Ns now) {
    if (shared_.stop.load(std::memory_order_relaxed)) return;
    const int fd = ::socket(plan_.address.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      connect_failed(c, now, errno);
      return;
    }
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c.fd = fd;
    ++c.generation;
    c.connect_start = now;
    c.in.clear();
    c.out.clear();
    c.out_off = 0;
    c.parsing = false;
    c.close_after = false;
    c.ring_head = c.ring_count = 0;
    const int rc =
        ::connect(fd, reinterpret_cast<const sockaddr*>(&plan_.address), plan_.address_len);
    if (rc != 0 && errno != EINPROGRESS) {
      const int err = errno;
      ::close(fd);
      c.fd = -1;
      connect_failed(c, now, err);
      return;
    }
    c.state = Conn::State::connecting;
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT;
    ev.data.u64 = key(c);
    ::epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev);
    c.want_write = true;
  }

  void connect_failed(Conn& c, Ns now, int err) {
    c.state = Conn::State::closed;
    stats.connect_errno = err;
    count_error(Fail::connect, now, 1);
    if (quota_ && !open_) ++sent_in_window_;  // a failed attempt uses up a request of -n
    c.connect_failures = std::min(c.connect_failures + 1, 8u);
    c.retry_at = now + std::min<Ns>(10'000'000ull << (c.connect_failures - 1), kSecond);
  }

  void set_events(Conn& c, bool want_write) {
    if (c.want_write == want_write) return;
    epoll_event ev{};
    ev.events = EPOLLIN | (want_write ? static_cast<std::uint32_t>(EPOLLOUT) : 0u);
    ev.data.u64 = key(c);
    ::epoll_ctl(ep_, EPOLL_CTL_MOD, c.fd, &ev);
    c.want_write = want_write;
  }

  void handle(Conn& c, std::uint32_t ev, Ns now) {
    if (c.state == Conn::State::connecting) {
      int err = 0;
      socklen_t len = sizeof err;
      ::getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0) {
        close(c);
        connect_failed(c, now, err);
        return;
      }
      if (!(ev & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
      c.state = Conn::State::open;
      c.connect_failures = 0;
      set_events(c, false);
      refill(c, now);
      return;
    }
    if ((ev & EPOLLOUT) && !flush(c, now)) return;
    if (ev & (EPOLLIN | EPOLLERR | EPOLLHUP)) read(c, now);
  }

  // Sends more requests on an open connection with room: closed loop, as many as the pipeline
  // allows; open loop, from the backlog, else the connection joins the free list.
  void refill(Conn& c, Ns now) {
    if (c.state != Conn::State::open || c.close_after) return;
    if (open_) {
      while (c.ring_count < opt_.pipeline && backlog_begin_ < next_seq_)
        enqueue(c, due(backlog_begin_++), now);
      if (c.ring_count < opt_.pipeline && !c.listed_free) {
        free_.push_back(&c);
        c.listed_free = true;
      }
    } else {
      if (shared_.stop.load(std::memory_order_relaxed)) return;
      now = now_ns();  // latency runs from the send: read the clock just before it
      while (c.ring_count < opt_.pipeline) {
        if (quota_ && sent_in_window_ >= quota_ && now >= shared_.window_start) break;
        if (now >= shared_.window_start) ++sent_in_window_;
        enqueue(c, now, now);
      }
    }
    if (!c.out.empty()) flush(c, now);
  }

  // Open loop: moves the requests that have fallen due into the backlog, then onto free
  // connections.
  void dispatch(Ns now) {
    while (!schedule_exhausted() && due(next_seq_) <= now) {
      if (due(next_seq_) < shared_.window_start) ++warmup_seqs_;
      ++next_seq_;
    }
    while (backlog_begin_ < next_seq_ && !free_.empty()) {
      Conn* c = free_.back();
      if (c->state != Conn::State::open || c->close_after || c->ring_count >= opt_.pipeline) {
        free_.pop_back();
        c->listed_free = false;
        continue;
      }
      enqueue(*c, due(backlog_begin_++), now);
      if (c->ring_count >= opt_.pipeline) {
        free_.pop_back();
        c->listed_free = false;
      }
      if (!c->out.empty() && !c->want_write) flush(*c, now);
    }
  }

  // Renders one request into the connection's output.
  void enqueue(Conn& c, Ns due_at, Ns now) {
    const auto idx = static_cast<std::uint32_t>(renderer_.pick(rng_));
    if (c.out_off == c.out.size()) {
      c.out.clear();
      c.out_off = 0;
    }
    renderer_.render(idx, c.vars, rng_, c.out);
    c.push({due_at, now, idx});
    ++outstanding_;
  }

  // Writes pending output; false if the connection failed.
  bool flush(Conn& c, Ns now) {
    while (c.out_off < c.out.size()) {
      const auto n = ::send(c.fd, c.out.data() + c.out_off, c.out.size() - c.out_off, MSG_NOSIGNAL);
      if (n > 0) {
        c.out_off += static_cast<std::size_t>(n);
        stats.bytes_out += static_cast<std::uint64_t>(n);
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        set_events(c, true);
        return true;
      }
      if (n < 0 && errno == EINTR) continue;
      fail(c, (errno == ECONNRESET || errno == EPIPE) ? Fail::reset : Fail::write, now);
      return false;
    }
    c.out.clear();
    c.out_off = 0;
    set_events(c, false);
    return true;
  }

  void read(Conn& c, Ns now) {
    if (!c.in.reserve(4096, kMaxResponseHead + 64 * 1024)) {
      fail(c, Fail::protocol, now);
      return;
    }
    const auto n = ::recv(c.fd, c.in.write_ptr(), c.in.writable(), 0);
    if (n > 0) {
      c.in.commit(static_cast<std::size_t>(n));
      stats.bytes_in += static_cast<std::uint64_t>(n);
      // A fresh clock per read: the events of one wakeup are handled one after another, and
      // the batch's start would charge the later ones with the generator's own work.
      parse(c, now_ns());
      return;
    }
    if (n == 0) {
      if (c.parsing && c.parser.header_done() && c.parser.need_eof()) {
        boost::system::error_code ec;
        c.parser.put_eof(ec);
        if (!ec && c.parser.done()) {
          complete(c, now);
          c.close_after = true;
        }
      }
      if (c.ring_count > 0) {
        fail(c, Fail::read, now);
      } else {
        close(c);
        connect(c, now);
      }
      return;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
    fail(c, errno == ECONNRESET ? Fail::reset : Fail::read, now);
  }

  void parse(Conn& c, Ns now) {
    while (c.ring_count > 0 && !c.in.empty()) {
      if (!c.parsing) {
        c.parser.reset(limits_, plan_.request(c.front().request).head);
        c.parsing = true;
        c.body.clear();
      }
      boost::system::error_code ec;
      const auto n = c.parser.put(c.in.readable(), ec);
      if (plan_.parse_response_json && c.body.size() < kMaxBodyKept)
        c.body += c.parser.body_piece();
      c.in.consume(n);
      if (ec == boost::beast::http::error::need_more) break;
      if (ec) {
        fail(c, Fail::protocol, now);
        return;
      }
      if (c.parser.done()) {
        complete(c, now);
        if (c.close_after) break;
      } else if (n == 0) {
        break;
      }
    }
    if (c.ring_count == 0 && !c.in.empty() && !c.parsing) {
      fail(c, Fail::protocol, now);  // bytes nobody asked for
      return;
    }
    if (c.close_after) {
      if (c.ring_count > 0) {
        fail(c, Fail::read, now);  // pipelined requests the server will not answer
      } else {
        close(c);
        connect(c, now);
      }
      return;
    }
    refill(c, now);
  }

  void complete(Conn& c, Ns now) {
    const InFlight f = c.pop();
    --outstanding_;
    c.parsing = false;
    const auto& head = c.parser.head();
    if (!head.keep_alive) c.close_after = true;
    if (plan_.parse_response_json) renderer_.observe_response(f.request, c.body, c.vars);
    const bool counted = open_ ? f.due >= shared_.window_start : now >= shared_.window_start;
    if (!counted) return;
    stats.latency.record(now - f.due);
    ++stats.status[std::min<unsigned>(head.status, 599)];
    ++stats.responses;
    bump(stats.per_second, now);
    live_responses.store(stats.responses, std::memory_order_relaxed);
    last_completion = now;
  }

  void bump(std::vector<std::uint64_t>& v, Ns now, std::uint64_t n = 1) {
    const auto sec = now >= shared_.window_start ? (now - shared_.window_start) / kSecond : 0;
    if (v.size() <= sec) v.resize(sec + 1);
    v[sec] += n;
  }

  void count_error(Fail kind, Ns now, std::uint64_t n) {
    if (now < shared_.window_start || n == 0) return;
    auto& e = stats.errors;
    switch (kind) {
      case Fail::connect:
        e.connect += n;
        break;
      case Fail::read:
        e.read += n;
        break;
      case Fail::write:
        e.write += n;
        break;
      case Fail::timeout:
        e.timeout += n;
        break;
      case Fail::reset:
        e.reset += n;
        break;
      case Fail::protocol:
        e.protocol += n;
        break;
    }
    bump(stats.errors_per_second, now, n);
    live_errors.store(e.total(), std::memory_order_relaxed);
  }

  // Fails every request outstanding on the connection, closes it and reconnects.
  void fail(Conn& c, Fail kind, Ns now) {
    std::uint64_t counted = 0;
    while (c.ring_count > 0) {
      const InFlight f = c.pop();
      --outstanding_;
      if (!open_ || f.due >= shared_.window_start) ++counted;
    }
    count_error(kind, now, counted);
    close(c);
    connect(c, now);
  }

  void close(Conn& c) {
    if (c.fd >= 0) {
      ::epoll_ctl(ep_, EPOLL_CTL_DEL, c.fd, nullptr);
      ::close(c.fd);
    }
    c.fd = -1;
    c.state = Conn::State::closed;
    c.want_write = false;
    c.parsing = false;
    ++c.generation;
  }

  void sweep(Ns now) {
    for (auto& cp : conns_) {
      Conn& c = *cp;
      switch (c.state) {
        case Conn::State::connecting:
          if (now - c.connect_start > timeout_ns_) {
            close(c);
            connect_failed(c, now, ETIMEDOUT);
          }
          break;
        case Conn::State::open:
          if (c.ring_count > 0 && now - c.front().sent > timeout_ns_) fail(c, Fail::timeout, now);
          break;
        case Conn::State::closed:
          if (now >= c.retry_at) connect(c, now);
          break;
      }
    }
  }

  void finish() {
    std::uint64_t unfinished = 0;
    for (auto& c : conns_) {
      for (std::uint32_t i = 0; i < c->ring_count; ++i) {
        const auto& f = c->ring[(c->ring_head + i) % c->ring.size()];
        if (!open_ || f.due >= shared_.window_start) ++unfinished;
      }
      close(*c);
    }
    if (open_) {
      for (auto s = backlog_begin_; s < next_seq_; ++s)
        if (due(s) >= shared_.window_start) ++unfinished;
    }
    // In a closed loop every connection has its last request out when the window closes:
    // that is the loop's shape, not a sign of trouble (timeouts catch a stalled target).
    stats.unfinished = open_ ? unfinished : 0;
  }

  const Plan& plan_;
  Renderer renderer_;
  const EngineOptions& opt_;
  Shared& shared_;
  std::mt19937_64 rng_;
  http::ParserLimits limits_;
  std::vector<std::unique_ptr<Conn>> conns_;
  std::vector<Conn*> free_;  // open loop: connections with room (entries may be stale)
  int ep_ = -1;
  bool no_pwait2_ = false;
  bool open_;
  Ns timeout_ns_ = 0;
  double interval_ns_ = 0;
  double phase_ = 0;
  std::uint64_t quota_;  // requests this worker measures (0: by time)
  std::uint64_t sent_in_window_ = 0;
  std::uint64_t next_seq_ = 0;       // open loop: requests due so far
  std::uint64_t backlog_begin_ = 0;  // open loop: [backlog_begin_, next_seq_) wait for room
  std::uint64_t warmup_seqs_ = 0;
  std::uint64_t outstanding_ = 0;
};

}  // namespace

Results run(const Plan& plan, const EngineOptions& options, const ProgressFn& progress) {
  if (options.threads == 0) throw PlanError("--threads must be at least 1");
  if (options.connections < options.threads)
    throw PlanError("--connections must be at least --threads (each thread needs one)");
  if (options.pipeline == 0) throw PlanError("--pipeline must be at least 1");
  if (options.rate < 0) throw PlanError("--rate must be positive");
  if (options.requests == 0 && options.duration.count() <= 0)
    throw PlanError("give a duration or a request count");
  if (options.timeout.count() <= 0) throw PlanError("--timeout must be positive");

  Shared shared;
  shared.start = now_ns();
  shared.window_start = shared.start + static_cast<Ns>(options.warmup.count());
  if (options.requests == 0)
    shared.window_end = shared.window_start + static_cast<Ns>(options.duration.count());

  std::vector<std::unique_ptr<Worker>> workers;
  for (unsigned i = 0; i < options.threads; ++i) {
    const unsigned conns =
        options.connections / options.threads + (i < options.connections % options.threads);
    std::uint64_t quota = 0;
    if (options.requests)
      quota = options.requests / options.threads + (i < options.requests % options.threads);
    if (options.requests && quota == 0) continue;
    workers.push_back(std::make_unique<Worker>(plan, options, shared, i, conns,
                                               options.rate / options.threads, quota));
  }

  std::mutex mu;
  std::condition_variable cv;
  unsigned running = static_cast<unsigned>(workers.size());
  std::vector<std::thread> threads;
  for (auto& w : workers) {
    threads.emplace_back([&, w = w.get()] {
      w->run();
      std::lock_guard lock(mu);
      --running;
      cv.notify_all();
    });
  }

  // Progress on this thread while the workers run.
  Ns next = shared.start + static_cast<Ns>(options.progress_interval.count());
  std::uint64_t last_requests = 0;
  Ns last_at = shared.start;
  metrics::Histogram merged;
  {
    std::unique_lock lock(mu);
    while (running > 0) {
      const auto wait_for = std::chrono::nanoseconds(next > now_ns() ? next - now_ns() : 0);
      if (cv.wait_for(lock, wait_for, [&] { return running == 0; })) break;
      lock.unlock();
      const Ns now = now_ns();
      next = now + static_cast<Ns>(options.progress_interval.count());
      if (progress) {
        Progress p;
        p.elapsed_s = static_cast<double>(now - shared.start) / 1e9;
        p.warming_up = now < shared.window_start;
        merged.reset();
        for (auto& w : workers) {
          p.requests += w->live_responses.load(std::memory_order_relaxed);
          p.errors += w->live_errors.load(std::memory_order_relaxed);
          w->stats.latency.merge_into(merged);
        }
        p.recent_rate = static_cast<double>(p.requests - last_requests) * 1e9 /
                        static_cast<double>(std::max<Ns>(now - last_at, 1));
        last_requests = p.requests;
        last_at = now;
        p.latency = &merged;
        if (!progress(p)) {
          shared.stopped_at.store(now_ns());
          shared.stop.store(true, std::memory_order_relaxed);
        }
      }
      lock.lock();
    }
  }
  for (auto& t : threads) t.join();

  Results r;
  Ns end = shared.window_end;
  if (const Ns stopped = shared.stopped_at.load(); stopped != 0) {
    end = std::min(end, stopped);
  } else if (end == kNever) {
    // A request count: the window ran until the last response.
    end = shared.window_start;
    for (auto& w : workers) end = std::max(end, w->last_completion);
  }
  r.duration_s =
      static_cast<double>(end > shared.window_start ? end - shared.window_start : 0) / 1e9;
  r.target_rate = options.rate;
  for (auto& w : workers) w->stats.merge_into(r.total);
  return r;
}

}  // namespace tenx::bench
