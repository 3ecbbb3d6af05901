#include "cache/stores/memory_store.h"

#include "core/check.h"

#include <xxhash.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <stdexcept>
#include <thread>

namespace tenx::cache {

namespace {

enum class Segment : std::uint8_t { window, probation, protect };

// What a hit reads (key, entry, stamp, segment) is in the first cache line.
struct alignas(64) Node {
  std::string key;
  EntryPtr entry;
  std::uint64_t stamp = 0;  // its list's push count when it was put at the head
  Segment segment = Segment::window;
  std::uint64_t hash = 0;
  std::size_t charge = 0;
  Node* prev = nullptr;  // towards the MRU end
  Node* next = nullptr;  // towards the LRU end
};

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
    (n->prev ? n->prev->next : head) = n->next;
    (n->next ? n->next->prev : tail) = n->prev;
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

// A stripe's lock: a spin lock that yields after a short spin. Its critical sections are tens of
// nanoseconds (a probe, a relink, a sketch increment); a futex-based mutex sent a thread that
// met a held stripe to sleep and wake (a system call each), which on two threads reading the
// same hot keys cost more than the work (cache_bench: 5.3 M hits/s on 2 threads, 13.3 on 1).
class CAPABILITY("mutex") StripeLock {
 public:
  void lock() ACQUIRE() {
    for (unsigned spins = 0;;) {
      if (!locked_.exchange(true, std::memory_order_acquire)) return;
      while (locked_.load(std::memory_order_relaxed)) {
        if (++spins < 128)
          __builtin_ia32_pause();
        else
          std::this_thread::yield();  // the holder may have been preempted: let it run
      }
    }
  }
  void unlock() RELEASE() { locked_.store(false, std::memory_order_release); }

 private:
  std::atomic<bool> locked_{false};
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
    // Sized for entries of about 512 bytes; insert() grows it when they are smaller.
    sketch.resize(budget_bytes / 512);
  }

  ~Shard() {
    StripeGuard lock(mu);
    clear_locked();
  }

  const std::size_t budget, window_budget, protected_budget;
  Gauges& gauges;

  mutable StripeLock mu;
  NodeTable table GUARDED_BY(mu);
  std::unordered_map<std::string, std::unordered_set<Node*>> tags GUARDED_BY(mu);
  List window GUARDED_BY(mu);
  List probation GUARDED_BY(mu);
  List protect GUARDED_BY(mu);
  FrequencySketch sketch GUARDED_BY(mu);
  Stats stats GUARDED_BY(mu);

  std::size_t bytes() const REQUIRES(mu) { return window.bytes + probation.bytes + protect.bytes; }

  List& list(Segment s) REQUIRES(mu) {
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

  void move_to(Node* n, Segment s) REQUIRES(mu) {
    list(n->segment).unlink(n);
    n->segment = s;
    list(s).push_front(n);
  }

  Node* find(std::uint64_t hash, std::string_view key) REQUIRES(mu) {
    Node* n = table.find(hash);
    return n && n->key == key ? n : nullptr;
  }

  EntryPtr lookup(std::uint64_t hash, std::string_view key, TimePoint now) REQUIRES(mu) {
    sketch.record(hash);
    Node* n = find(hash, key);
    if (!n) {
      ++stats.misses;
      return nullptr;
    }
    if (now >= n->entry->keep_until) {
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

  void on_hit(Node* n) REQUIRES(mu) {
    switch (n->segment) {
      case Segment::window:
      case Segment::protect:
        if (!list(n->segment).near_head(n)) move_to(n, n->segment);
        return;
      case Segment::probation:
        move_to(n, Segment::protect);
        // Protected over its share: its LRU goes back on probation (Caffeine's demotion).
        while (protect.bytes > protected_budget && protect.tail != n)
          move_to(protect.tail, Segment::probation);
        return;
    }
  }

  bool insert(std::uint64_t hash, std::string_view key, EntryPtr entry, std::size_t cost)
      REQUIRES(mu) {
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

  void replace(Node* n, EntryPtr entry, std::size_t cost) REQUIRES(mu) {
    unindex_tags(n);
    List& l = list(n->segment);
    l.unlink(n);
    Gauges::inc(gauges.bytes, static_cast<double>(cost) - static_cast<double>(n->charge));
    n->entry = std::move(entry);
    n->charge = cost;
    l.push_front(n);
    index_tags(n);
  }

  // TinyLFU: while the stripe is over budget, the oldest candidate meets the victim (the
  // probation LRU, else protected's, else the window's) and the less frequent one is evicted; a
  // tie evicts the candidate, which protects the main segment from one-hit wonders.
  void evict_to_fit(const std::vector<Node*>& candidates) REQUIRES(mu) {
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

  void evict(Node* n) REQUIRES(mu) {
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

  void drop(Node* n) REQUIRES(mu) {
    unindex_tags(n);
    list(n->segment).unlink(n);
    Gauges::inc(gauges.entries, -1);
    Gauges::inc(gauges.bytes, -static_cast<double>(n->charge));
    table.erase(n->hash);  // deletes n
  }

  std::size_t remove_tag(std::string_view tag) REQUIRES(mu) {
    auto it = tags.find(std::string(tag));
    if (it == tags.end()) return 0;
    const std::vector<Node*> nodes(it->second.begin(), it->second.end());
    for (Node* n : nodes) drop(n);
    return nodes.size();
  }

  void clear_locked() REQUIRES(mu) {
    for (List* l : {&window, &probation, &protect})
      while (l->tail) drop(l->tail);
  }
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
  const TimePoint now = clock_.now();
  Shard& s = shard_of(h);
  StripeGuard lock(s.mu);
  return s.lookup(h, key, now);
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
    StripeGuard lock(s.mu);
    ++s.stats.too_large;
    // A refused replacement must not leave the old value behind: the caller meant to replace it.
    if (Node* n = s.find(h, key)) s.drop(n);
    return false;
  }
  StripeGuard lock(s.mu);
  return s.insert(h, key, std::move(entry), cost);
}

bool MemoryStore::remove(std::string_view key) {
  const std::uint64_t h = hash_of(key);
  Shard& s = shard_of(h);
  StripeGuard lock(s.mu);
  Node* n = s.find(h, key);
  if (!n) return false;
  s.drop(n);
  return true;
}

std::size_t MemoryStore::remove_tag(std::string_view tag) {
  std::size_t n = 0;
  for (auto& s : shards_) {
    StripeGuard lock(s->mu);
    n += s->remove_tag(tag);
  }
  return n;
}

void MemoryStore::clear() {
  for (auto& s : shards_) {
    StripeGuard lock(s->mu);
    s->clear_locked();
  }
}

MemoryStore::Stats MemoryStore::stats() const {
  Stats total;
  for (const auto& s : shards_) {
    StripeGuard lock(s->mu);
    const Stats st = s->stats;
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
