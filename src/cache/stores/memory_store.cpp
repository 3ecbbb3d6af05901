#include "cache/stores/memory_store.h"

#include "core/check.h"

#include <xxhash.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <cstddef>
#include <stdexcept>
#include <thread>

namespace tenx::cache {

namespace {

enum class Segment : std::uint8_t { window, probation, protect };

// A hit reads the first cache line only (key, entry, keep_until), and nothing writes it while the
// node is resident: the policy's fields are in the second line, so a drain relinking nodes on
// one core does not evict the line a hit on the other core reads. keep_until is the entry's
// copy: reading it from the Entry would touch the line of the shared_ptr's reference count,
// which every reader's copy writes (on two threads: 17 % of a hit's time, perf).
struct alignas(64) Node {
  std::string key;
  EntryPtr entry;
  TimePoint keep_until;
  std::uint64_t hash = 0;
  // second line: the policy's
  std::uint64_t stamp = 0;  // its list's push count when it was put at the head
  Segment segment = Segment::window;
  std::size_t charge = 0;
  Node* prev = nullptr;  // towards the MRU end
  Node* next = nullptr;  // towards the LRU end
};
static_assert(offsetof(Node, stamp) == 64, "the policy's fields start the second line");

// Intrusive LRU list: head is the most recently used, tail the least.
//
// A hit moves its node to the head only when the node has drifted out of the list's front
// eighth (fewer than size/8 pushes since its own): a hot key read over and over is not relinked
// on every read, which would touch its two neighbours' cache lines each time. The order the tail
// (the eviction end) sees is unchanged: a node is never further back than LRU would have it by
// more than an eighth of the list.
struct List {
  Node* head = nullptr;
  Node* tail = nullptr;
  std::size_t bytes = 0;
  std::size_t size = 0;
  std::uint64_t pushes = 0;

  void push_front(Node* n) {
    n->prev = nullptr;
    n->next = head;
    if (head) head->prev = n;
    head = n;
    if (!tail) tail = n;
    bytes += n->charge;
    ++size;
    n->stamp = ++pushes;
  }
  void unlink(Node* n) {
    if (n->prev)
      n->prev->next = n->next;
    else
      head = n->next;
    if (n->next)
      n->next->prev = n->prev;
    else
      tail = n->prev;
    n->prev = n->next = nullptr;
    bytes -= n->charge;
    --size;
  }
  bool near_head(const Node* n) const { return pushes - n->stamp < size / 8; }
};

// The stripe's index: open addressing with linear probing on the 64-bit hash (one slot of 16
// bytes per probe; the load factor stays at or below one half), backward-shift deletion (no
// tombstones). Owns its nodes.
class NodeTable {
 public:
  NodeTable() : slots_(16) {}
  ~NodeTable() {
    for (auto& s : slots_) delete s.node;
  }
  NodeTable(const NodeTable&) = delete;
  NodeTable& operator=(const NodeTable&) = delete;

  Node* find(std::uint64_t hash) const {
    const std::size_t mask = slots_.size() - 1;
    for (std::size_t i = hash & mask;; i = (i + 1) & mask) {
      const Slot& s = slots_[i];
      if (!s.node) return nullptr;
      if (s.hash == hash) return s.node;
    }
  }
  // The hash must not be present.
  void insert(Node* n) {
    if ((size_ + 1) * 2 > slots_.size()) grow();
    place(n);
    ++size_;
  }
  // Removes and deletes the node under hash.
  void erase(std::uint64_t hash) {
    const std::size_t mask = slots_.size() - 1;
    std::size_t i = hash & mask;
    while (slots_[i].node && slots_[i].hash != hash) i = (i + 1) & mask;
    if (!slots_[i].node) return;
    delete slots_[i].node;
    --size_;
    // Backward shift: pull later entries of the probe run into the hole when their home slot
    // is not between the hole and them.
    for (std::size_t j = (i + 1) & mask; slots_[j].node; j = (j + 1) & mask) {
      const std::size_t home = slots_[j].hash & mask;
      const bool movable = i <= j ? (home <= i || home > j) : (home <= i && home > j);
      if (movable) {
        slots_[i] = slots_[j];
        i = j;
      }
    }
    slots_[i] = Slot{};
  }
  std::size_t size() const { return size_; }

 private:
  struct Slot {
    std::uint64_t hash = 0;
    Node* node = nullptr;
  };
  void place(Node* n) {
    const std::size_t mask = slots_.size() - 1;
    std::size_t i = n->hash & mask;
    while (slots_[i].node) i = (i + 1) & mask;
    slots_[i] = Slot{n->hash, n};
  }
  void grow() {
    std::vector<Slot> old(slots_.size() * 2);
    old.swap(slots_);
    for (const auto& s : old)
      if (s.node) place(s.node);
  }
  std::vector<Slot> slots_;
  std::size_t size_ = 0;
};

std::uint64_t hash_of(std::string_view key) { return XXH3_64bits(key.data(), key.size()); }

// ---- the stripe's locks ----
//
// A hit must not write a cache line the other threads also write: on two threads reading the
// same hot keys, a spin lock taken per hit moved its line (and the stripe's counters, sketch and
// list heads) between the cores on every read and held them to 8.8 M hits/s per thread. So a
// stripe has two locks:
//
//   mu (StripeLock)       the table and the nodes' lives. Shared by readers: a lookup says it
//                         is reading in its thread's own ReaderSlot (a store to a line only it
//                         writes), checks that no writer holds mu, reads the table and the
//                         node's first line (never written while the node is resident), and
//                         appends the lookup's hash (and whether it hit) to its slot's ring
//                         instead of touching the policy. Held alone (the writer flag, then
//                         waiting until no slot is reading) by whatever changes the table:
//                         insert, remove, expiry, tags, clear.
//   policy_mu (SpinLock)  the lists, the sketch, the counters. Held with mu by table changes, and
//                         by a reader replaying its own full ring (sketch.record, then on_hit for
//                         the hits still resident) while it still reads: the other threads go on
//                         reading meanwhile.
//
// A table change (ShardLock) replays every slot's ring first, so inserts and evictions see every
// lookup before them. A full ring whose policy_mu is held by another drain drops its further
// lookups until a drain succeeds (Caffeine's read buffers are lossy the same way, and for the
// same reason: the policy is a heuristic, a read must not wait for it). On one thread nothing is
// lost, so the policy sees exactly what the single-lock design saw.
// The rings hold hashes, not Node pointers: a node can be evicted between the read and the
// drain, and a drain looks its hash up again.
//
// Slots are per thread, process-wide: a thread claims one of kReaderSlots on its first lookup and
// gives it back when it ends. A thread that finds none free (more than kReaderSlots threads reading
// at once, more than this server's workers) takes the exclusive path for its lookups. A slot has
// one owner at a time, so its ring and counters are plain fields: the owner writes them inside
// its read section; the exclusive holder, which has seen the slot not reading (acquire), reads
// and empties them; the owner's next section starts after the holder's release.
constexpr unsigned kReaderSlots = 8;
constexpr unsigned kRing = 32;

struct alignas(64) ReaderSlot {
  std::atomic<bool> reading{false};
  std::uint32_t events = 0;    // hashes in the ring
  std::uint32_t hit_bits = 0;  // bit i: event i was a hit
  std::uint64_t hits = 0, misses = 0;
  std::uint64_t hashes[kRing] = {};
};

std::atomic<std::uint32_t> g_slots_taken{0};

struct SlotClaim {
  int id = -1;
  SlotClaim() {
    std::uint32_t taken = g_slots_taken.load(std::memory_order_relaxed);
    for (;;) {
      const auto free = static_cast<unsigned>(std::countr_one(taken));
      if (free >= kReaderSlots) return;
      if (g_slots_taken.compare_exchange_weak(taken, taken | (1u << free),
                                              std::memory_order_acquire)) {
        id = static_cast<int>(free);
        return;
      }
    }
  }
  ~SlotClaim() {
    if (id >= 0) g_slots_taken.fetch_and(~(1u << id), std::memory_order_release);
  }
  SlotClaim(const SlotClaim&) = delete;
  SlotClaim& operator=(const SlotClaim&) = delete;
};

// This thread's slot, or -1.
int reader_slot() {
  thread_local SlotClaim claim;
  return claim.id;
}

// Spins a short while, then yields: the thread it waits for may have been preempted.
template <class Done>
void spin_until(Done done) {
  for (unsigned spins = 0; !done();) {
    if (++spins < 128)
      __builtin_ia32_pause();
    else
      std::this_thread::yield();
  }
}

class CAPABILITY("mutex") StripeLock {
 public:
  void lock() ACQUIRE() {
    while (writer_.exchange(true, std::memory_order_seq_cst))
      spin_until([&] { return !writer_.load(std::memory_order_relaxed); });
    wait_for_readers();
  }
  bool try_lock() TRY_ACQUIRE(true) {
    if (writer_.exchange(true, std::memory_order_seq_cst)) return false;
    wait_for_readers();
    return true;
  }
  void unlock() RELEASE() { writer_.store(false, std::memory_order_release); }

  // Dekker's handshake with lock(): each side stores its flag, then loads the other's (both
  // sequentially consistent), so they cannot both go in.
  void lock_shared(ReaderSlot& r) ACQUIRE_SHARED() {
    for (;;) {
      r.reading.store(true, std::memory_order_seq_cst);
      if (!writer_.load(std::memory_order_seq_cst)) return;
      r.reading.store(false, std::memory_order_release);
      spin_until([&] { return !writer_.load(std::memory_order_relaxed); });
    }
  }
  void unlock_shared(ReaderSlot& r) RELEASE_SHARED() {
    r.reading.store(false, std::memory_order_release);
  }

  ReaderSlot& slot(int i) { return slots_[static_cast<std::size_t>(i)]; }
  std::array<ReaderSlot, kReaderSlots>& slots() { return slots_; }

 private:
  void wait_for_readers() {
    for (auto& r : slots_) spin_until([&] { return !r.reading.load(std::memory_order_seq_cst); });
  }

  alignas(64) std::atomic<bool> writer_{false};
  std::array<ReaderSlot, kReaderSlots> slots_;
};

// The policy's lock: lists, sketch and counters. Held for a drain or an update, never by a read.
class CAPABILITY("mutex") SpinLock {
 public:
  void lock() ACQUIRE() {
    while (locked_.exchange(true, std::memory_order_acquire))
      spin_until([&] { return !locked_.load(std::memory_order_relaxed); });
  }
  bool try_lock() TRY_ACQUIRE(true) {
    return !locked_.load(std::memory_order_relaxed) &&
           !locked_.exchange(true, std::memory_order_acquire);
  }
  void unlock() RELEASE() { locked_.store(false, std::memory_order_release); }

 private:
  alignas(64) std::atomic<bool> locked_{false};
};

class SCOPED_CAPABILITY SpinGuard {
 public:
  explicit SpinGuard(SpinLock& l) ACQUIRE(l) : l_(l) { l_.lock(); }
  ~SpinGuard() RELEASE() { l_.unlock(); }
  SpinGuard(const SpinGuard&) = delete;
  SpinGuard& operator=(const SpinGuard&) = delete;

 private:
  SpinLock& l_;
};

class SCOPED_CAPABILITY StripeGuard {
 public:
  explicit StripeGuard(StripeLock& l) ACQUIRE(l) : l_(l) { l_.lock(); }
  ~StripeGuard() RELEASE() { l_.unlock(); }
  StripeGuard(const StripeGuard&) = delete;
  StripeGuard& operator=(const StripeGuard&) = delete;

 private:
  StripeLock& l_;
};

class SCOPED_CAPABILITY ReadGuard {
 public:
  ReadGuard(StripeLock& l, ReaderSlot& r) ACQUIRE_SHARED(l) : l_(l), r_(r) { l_.lock_shared(r_); }
  ~ReadGuard() RELEASE() { l_.unlock_shared(r_); }
  ReadGuard(const ReadGuard&) = delete;
  ReadGuard& operator=(const ReadGuard&) = delete;

 private:
  StripeLock& l_;
  ReaderSlot& r_;
};

}  // namespace

std::size_t MemoryStore::charge(std::string_view key, const Entry& e) {
  std::size_t n = kEntryOverhead + key.size() + e.value.size();
  for (const auto& t : e.tags) n += kTagOverhead + t.size();
  return n;
}

// ---- metrics ----

struct MemoryStore::Gauges {
  metrics::Series entries, bytes, evictions, refused, expired, too_large;
  explicit Gauges(const MemoryStoreOptions& o) {
    if (!o.registry) return;
    auto& r = *o.registry;
    entries = r.gauge("cache_store_entries", "Entries resident in a memory store.", {"cache"})
                  .series({o.name});
    bytes = r.gauge("cache_store_bytes", "Bytes charged in a memory store.", {"cache"})
                .series({o.name});
    auto& ev = r.counter("cache_store_evictions_total",
                         "Entries a memory store dropped, by reason.", {"cache", "reason"});
    evictions = ev.series({o.name, "size"});
    expired = ev.series({o.name, "expired"});
    refused =
        r.counter("cache_store_admissions_refused_total",
                  "New entries TinyLFU did not admit (less frequent than the victim).", {"cache"})
            .series({o.name});
    too_large =
        r.counter("cache_store_too_large_total", "Entries refused for their size.", {"cache"})
            .series({o.name});
  }
  static void inc(const metrics::Series& s, double v = 1) {
    if (s.valid()) s.inc(v);
  }
};

// ---- one stripe ----

struct alignas(64) MemoryStore::Shard {
  Shard(std::size_t budget_bytes, const MemoryStoreOptions& o, Gauges& g)
      : budget(budget_bytes),
        window_budget(
            static_cast<std::size_t>(static_cast<double>(budget_bytes) * o.window_fraction)),
        protected_budget(static_cast<std::size_t>(
            static_cast<double>(budget_bytes - window_budget) * o.protected_fraction)),
        gauges(g) {
    StripeGuard lock(mu);
    SpinGuard policy(policy_mu);
    // Sized for entries of about 512 bytes; insert() grows it when they are smaller.
    sketch.resize(budget_bytes / 512);
  }

  ~Shard() {
    StripeGuard lock(mu);
    SpinGuard policy(policy_mu);
    clear_locked();
  }

  const std::size_t budget, window_budget, protected_budget;
  Gauges& gauges;

  // mu: the table and the nodes' lives (readers share it, table changes hold it alone);
  // policy_mu: the lists, the sketch and the counters. Order: mu before policy_mu.
  mutable StripeLock mu;
  mutable SpinLock policy_mu ACQUIRED_AFTER(mu);
  NodeTable table GUARDED_BY(mu);
  std::unordered_map<std::string, std::unordered_set<Node*>> tags GUARDED_BY(mu);
  List window GUARDED_BY(policy_mu);
  List probation GUARDED_BY(policy_mu);
  List protect GUARDED_BY(policy_mu);
  FrequencySketch sketch GUARDED_BY(policy_mu);
  Stats stats GUARDED_BY(policy_mu);

  std::size_t bytes() const REQUIRES(policy_mu) {
    return window.bytes + probation.bytes + protect.bytes;
  }

  List& list(Segment s) REQUIRES(policy_mu) {
    switch (s) {
      case Segment::window:
        return window;
      case Segment::probation:
        return probation;
      case Segment::protect:
        return protect;
    }
    return window;
  }

  void move_to(Node* n, Segment s) REQUIRES(policy_mu) {
    list(n->segment).unlink(n);
    n->segment = s;
    list(s).push_front(n);
  }

  Node* find(std::uint64_t hash, std::string_view key) const REQUIRES_SHARED(mu) {
    Node* n = table.find(hash);
    return n && n->key == key ? n : nullptr;
  }

  // A lookup in a read section (the stripe's locks, above): calls found(node) when the key is
  // resident and not past keep_until; the lookup joins the slot's ring.
  struct Read {
    bool hit = false;
    bool expired = false;  // found past keep_until: the caller removes it, exclusively
  };
  template <class Found>
  Read read(ReaderSlot& r, std::uint64_t hash, std::string_view key, TimePoint now, Found&& found) {
    ReadGuard guard(mu, r);
    Read out;
    const Node* n = find(hash, key);
    const bool hit = n && now < n->keep_until;
    if (hit) {
      found(*n);
      out.hit = true;
      ++r.hits;
    } else {
      out.expired = n != nullptr;
      ++r.misses;
    }
    if (r.events < kRing) {
      if (hit) r.hit_bits |= 1u << r.events;
      r.hashes[r.events++] = hash;
    }
    // A full ring is replayed by its owner, still reading (the nodes stay alive), under the
    // policy's lock only: the other threads go on reading meanwhile. Held by another drain:
    // the next lookups go unrecorded until one succeeds.
    if (r.events == kRing && policy_mu.try_lock()) {
      drain_ring(r);
      policy_mu.unlock();
    }
    return out;
  }

  // Replays one slot's ring into the policy, in order.
  void drain_ring(ReaderSlot& r) REQUIRES_SHARED(mu) REQUIRES(policy_mu) {
    for (std::uint32_t i = 0; i < r.events; ++i) {
      sketch.record(r.hashes[i]);
      if ((r.hit_bits >> i) & 1u)
        if (Node* n = table.find(r.hashes[i])) on_hit(n);
    }
    r.events = 0;
    r.hit_bits = 0;
  }

  // Every slot's ring (no slot is reading: mu is held alone).
  void drain_reads() REQUIRES(mu, policy_mu) {
    for (ReaderSlot& r : mu.slots()) drain_ring(r);
  }

  // A read found the key past keep_until: remove it unless it was replaced since.
  void expire(std::uint64_t hash, std::string_view key, TimePoint now) REQUIRES(mu, policy_mu) {
    Node* n = find(hash, key);
    if (!n || now < n->keep_until) return;
    ++stats.expired;
    Gauges::inc(gauges.expired);
    drop(n);
  }

  EntryPtr lookup(std::uint64_t hash, std::string_view key, TimePoint now) REQUIRES(mu, policy_mu) {
    sketch.record(hash);
    Node* n = find(hash, key);
    if (!n) {
      ++stats.misses;
      return nullptr;
    }
    if (now >= n->keep_until) {
      ++stats.misses;
      ++stats.expired;
      Gauges::inc(gauges.expired);
      drop(n);
      return nullptr;
    }
    ++stats.hits;
    on_hit(n);
    return n->entry;
  }

  void on_hit(Node* n) REQUIRES(policy_mu) {
    switch (n->segment) {
      case Segment::window:
      case Segment::protect:
        if (!list(n->segment).near_head(n)) move_to(n, n->segment);
        return;
      case Segment::probation:
        move_to(n, Segment::protect);
        demote_protected(n);
        return;
    }
  }

  // Protected over its share: its LRU entries go back on probation (Caffeine's demotion), down
  // to `keep`, the entry just promoted.
  //
  // The lists are named here rather than reached through list(segment): GCC 12 at -O2, with
  // on_hit inlined into drain_reads' loop, kept protect.tail in a register across the
  // unlink(list(t->segment)) that rewrote it, and this loop moved the same node forever
  // (MemoryStoreTest.BytesNeverExceedTheBudgetUnderRandomSizes hung in the release build only).
  void demote_protected(const Node* keep) REQUIRES(policy_mu) {
    while (protect.bytes > protected_budget) {
      Node* t = protect.tail;
      if (t == nullptr || t == keep) return;
      protect.unlink(t);
      t->segment = Segment::probation;
      probation.push_front(t);
    }
  }

  bool insert(std::uint64_t hash, std::string_view key, EntryPtr entry, std::size_t cost)
      REQUIRES(mu, policy_mu) {
    ++stats.inserts;
    Node* n = table.find(hash);
    if (n && n->key != key) {  // another key with this hash: it gives way
      drop(n);
      n = nullptr;
    }
    if (n) {
      replace(n, std::move(entry), cost);
    } else {
      n = new Node;
      n->key = std::string(key);
      n->hash = hash;
      n->keep_until = entry->keep_until;
      n->entry = std::move(entry);
      n->charge = cost;
      table.insert(n);
      window.push_front(n);
      index_tags(n);
      Gauges::inc(gauges.entries);
      Gauges::inc(gauges.bytes, static_cast<double>(cost));
      if (table.size() > sketch.expected_keys()) sketch.resize(table.size() * 2);
    }
    // The window's overflow becomes the candidates for the main segment, oldest first.
    std::vector<Node*> candidates;
    while (window.bytes > window_budget && window.tail) {
      Node* c = window.tail;
      move_to(c, Segment::probation);
      candidates.push_back(c);
    }
    evict_to_fit(candidates);
    return find(hash, key) != nullptr;
  }

  void replace(Node* n, EntryPtr entry, std::size_t cost) REQUIRES(mu, policy_mu) {
    unindex_tags(n);
    List& l = list(n->segment);
    l.unlink(n);
    Gauges::inc(gauges.bytes, static_cast<double>(cost) - static_cast<double>(n->charge));
    n->keep_until = entry->keep_until;
    n->entry = std::move(entry);
    n->charge = cost;
    l.push_front(n);
    index_tags(n);
  }

  // TinyLFU: while the stripe is over budget, the oldest candidate meets the victim (the
  // probation LRU, else protected's, else the window's) and the less frequent one is evicted; a
  // tie evicts the candidate, which protects the main segment from one-hit wonders.
  void evict_to_fit(const std::vector<Node*>& candidates) REQUIRES(mu, policy_mu) {
    std::size_t next = 0;
    while (bytes() > budget) {
      Node* victim = probation.tail ? probation.tail : protect.tail ? protect.tail : window.tail;
      TENX_BUG(victim != nullptr, "a stripe over budget has entries");
      if (!victim) return;
      Node* candidate = next < candidates.size() ? candidates[next] : nullptr;
      if (candidate == victim) {
        // The candidate is probation's oldest: meet protected's instead, if any.
        victim = protect.tail;
        if (!victim) {
          evict(candidate);
          ++next;
          continue;
        }
      }
      if (!candidate) {
        evict(victim);
        continue;
      }
      if (sketch.estimate(candidate->hash) > sketch.estimate(victim->hash)) {
        evict(victim);
      } else {
        ++stats.admissions_refused;
        Gauges::inc(gauges.refused);
        evict(candidate);
        ++next;
      }
    }
  }

  void evict(Node* n) REQUIRES(mu, policy_mu) {
    ++stats.evictions;
    Gauges::inc(gauges.evictions);
    drop(n);
  }

  void index_tags(Node* n) REQUIRES(mu) {
    for (const auto& t : n->entry->tags) tags[t].insert(n);
  }
  void unindex_tags(Node* n) REQUIRES(mu) {
    for (const auto& t : n->entry->tags) {
      auto it = tags.find(t);
      if (it == tags.end()) continue;
      it->second.erase(n);
      if (it->second.empty()) tags.erase(it);
    }
  }

  void drop(Node* n) REQUIRES(mu, policy_mu) {
    unindex_tags(n);
    list(n->segment).unlink(n);
    Gauges::inc(gauges.entries, -1);
    Gauges::inc(gauges.bytes, -static_cast<double>(n->charge));
    table.erase(n->hash);  // deletes n
  }

  std::size_t remove_tag(std::string_view tag) REQUIRES(mu, policy_mu) {
    auto it = tags.find(std::string(tag));
    if (it == tags.end()) return 0;
    const std::vector<Node*> nodes(it->second.begin(), it->second.end());
    for (Node* n : nodes) drop(n);
    return nodes.size();
  }

  void clear_locked() REQUIRES(mu, policy_mu) {
    for (List* l : {&window, &probation, &protect})
      while (l->tail) drop(l->tail);
  }
};

// Exclusive access to a stripe, with the readers' rings replayed first (so the operation sees
// the policy as if every lookup before it had taken this lock).
class SCOPED_CAPABILITY MemoryStore::ShardLock {
 public:
  explicit ShardLock(Shard& s) ACQUIRE(s.mu, s.policy_mu) : s_(s) {
    s.mu.lock();
    s.policy_mu.lock();
    s.drain_reads();
  }
  ~ShardLock() RELEASE() {
    s_.policy_mu.unlock();
    s_.mu.unlock();
  }
  ShardLock(const ShardLock&) = delete;
  ShardLock& operator=(const ShardLock&) = delete;

 private:
  Shard& s_;
};

// ---- MemoryStore ----

MemoryStore::MemoryStore(const core::Clock& clock, MemoryStoreOptions options)
    : clock_(clock), options_(std::move(options)), gauges_(std::make_unique<Gauges>(options_)) {
  if (options_.shards == 0 || !std::has_single_bit(options_.shards))
    throw std::invalid_argument("memory store: shards must be a power of two, not " +
                                std::to_string(options_.shards));
  if (options_.capacity_bytes < options_.shards * 1024)
    throw std::invalid_argument("memory store: capacity of " +
                                std::to_string(options_.capacity_bytes) +
                                " bytes is too small for " + std::to_string(options_.shards) +
                                " shards (at least 1 KiB each)");
  if (!(options_.window_fraction > 0 && options_.window_fraction < 1) ||
      !(options_.protected_fraction > 0 && options_.protected_fraction < 1))
    throw std::invalid_argument("memory store: window and protected fractions must be in (0, 1)");
  shard_shift_ = 64 - static_cast<unsigned>(std::countr_zero(options_.shards));
  const std::size_t per_shard = options_.capacity_bytes / options_.shards;
  for (std::size_t i = 0; i < options_.shards; ++i)
    shards_.push_back(std::make_unique<Shard>(per_shard, options_, *gauges_));
}

MemoryStore::~MemoryStore() = default;

MemoryStore::Shard& MemoryStore::shard_of(std::uint64_t hash) const {
  // shard_shift_ is 64 for one shard: shifting by 64 is undefined, so mask instead.
  return *shards_[options_.shards == 1 ? 0 : hash >> shard_shift_];
}

EntryPtr MemoryStore::lookup(std::string_view key) {
  const std::uint64_t h = hash_of(key);
  const TimePoint now = clock_.coarse_now();
  Shard& s = shard_of(h);
  const int slot = reader_slot();
  if (slot < 0) {
    ShardLock lock(s);
    return s.lookup(h, key, now);
  }
  EntryPtr out;
  const Shard::Read r = s.read(s.mu.slot(slot), h, key, now, [&](const Node& n) { out = n.entry; });
  if (r.expired) {
    ShardLock lock(s);
    s.expire(h, key, now);
  }
  return out;
}

bool MemoryStore::read(std::string_view key, core::FunctionRef<void(const Entry&)> fn) {
  const std::uint64_t h = hash_of(key);
  const TimePoint now = clock_.coarse_now();
  Shard& s = shard_of(h);
  const int slot = reader_slot();
  if (slot < 0) {
    ShardLock lock(s);
    const EntryPtr e = s.lookup(h, key, now);
    if (e) fn(*e);
    return e != nullptr;
  }
  const Shard::Read r = s.read(s.mu.slot(slot), h, key, now, [&](const Node& n) { fn(*n.entry); });
  if (r.expired) {
    ShardLock lock(s);
    s.expire(h, key, now);
  }
  return r.hit;
}

bool MemoryStore::insert(std::string_view key, Entry entry) {
  return insert(key, std::make_shared<const Entry>(std::move(entry)));
}

bool MemoryStore::insert(std::string_view key, EntryPtr entry) {
  const std::uint64_t h = hash_of(key);
  const std::size_t cost = charge(key, *entry);
  Shard& s = shard_of(h);
  if (cost > s.budget || key.size() + entry->value.size() > options_.max_entry_bytes) {
    Gauges::inc(gauges_->too_large);
    ShardLock lock(s);
    ++s.stats.too_large;
    // A refused replacement must not leave the old value behind: the caller meant to replace it.
    if (Node* n = s.find(h, key)) s.drop(n);
    return false;
  }
  ShardLock lock(s);
  return s.insert(h, key, std::move(entry), cost);
}

bool MemoryStore::remove(std::string_view key) {
  const std::uint64_t h = hash_of(key);
  Shard& s = shard_of(h);
  ShardLock lock(s);
  Node* n = s.find(h, key);
  if (!n) return false;
  s.drop(n);
  return true;
}

std::size_t MemoryStore::remove_tag(std::string_view tag) {
  std::size_t n = 0;
  for (auto& s : shards_) {
    ShardLock lock(*s);
    n += s->remove_tag(tag);
  }
  return n;
}

void MemoryStore::clear() {
  for (auto& s : shards_) {
    ShardLock lock(*s);
    s->clear_locked();
  }
}

MemoryStore::Stats MemoryStore::stats() const {
  Stats total;
  for (const auto& s : shards_) {
    ShardLock lock(*s);
    Stats st = s->stats;
    for (const ReaderSlot& r : s->mu.slots()) {
      st.hits += r.hits;
      st.misses += r.misses;
    }
    total.entries += s->table.size();
    total.bytes += s->bytes();
    total.hits += st.hits;
    total.misses += st.misses;
    total.inserts += st.inserts;
    total.evictions += st.evictions;
    total.admissions_refused += st.admissions_refused;
    total.too_large += st.too_large;
    total.expired += st.expired;
  }
  return total;
}

// ---- Store ----

boost::asio::awaitable<Result<EntryPtr>> MemoryStore::get(std::string_view key) {
  co_return lookup(key);
}

boost::asio::awaitable<Result<std::vector<EntryPtr>>> MemoryStore::get_many(
    std::span<const std::string> keys) {
  std::vector<EntryPtr> out;
  out.reserve(keys.size());
  for (const auto& k : keys) out.push_back(lookup(k));
  co_return out;
}

boost::asio::awaitable<Result<bool>> MemoryStore::put(std::string_view key, Entry entry) {
  co_return insert(key, std::move(entry));
}

boost::asio::awaitable<Result<bool>> MemoryStore::erase(std::string_view key) {
  co_return remove(key);
}

boost::asio::awaitable<Result<std::size_t>> MemoryStore::erase_tag(std::string_view tag) {
  co_return remove_tag(tag);
}

}  // namespace tenx::cache
