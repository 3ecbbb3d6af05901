#pragma once
// MemoryStore: this process's cache memory, bounded in bytes, W-TinyLFU (Einziger, Friedman,
// Manes; Caffeine's policy) — the guide's "TTL + LRU" with an admission filter, so a one-pass
// scan cannot flush the popular keys out (the guide's bottleneck 6: unbounded caches).
//
// Layout: `shards` independent stripes (a power of two; a key's stripe is the top bits of its
// xxHash), each with its own lock, hash table, byte budget (capacity / shards) and policy. A hit
// writes no line another thread writes: it reads the table in a read section announced in the
// thread's own slot and leaves its hash in that slot's ring; the policy replays the rings under
// the stripe's exclusive lock (memory_store.cpp, "the stripe's lock"). In a stripe:
//
//   window      1 % of the budget, LRU: every new entry enters here
//   probation   main segment, LRU: entries that left the window, and protected's demotions
//   protected   80 % of the main segment, LRU: entries hit while on probation
//
//   insert ──▶ window ──(overflow)──▶ candidate ──┐
//                                                ├─ TinyLFU: the more frequent one stays
//                     probation's LRU = victim ──┘  (stripe over budget; a tie evicts the
//                                                    candidate)
//   hit:  window → window MRU, probation → protected MRU (protected's LRU demoted to
//         probation when protected is over its share), protected → protected MRU
//
// Frequencies come from a FrequencySketch per stripe (frequency_sketch.h), recorded on every
// lookup, hit or miss (replayed from the rings; while two threads contend for a stripe, a full
// ring's further lookups go unrecorded until it drains): a key asked for often but not resident
// gains the weight that lets it in later. Its size follows the stripe's number of entries (resized,
// and so reset, when the entries outgrow it).
//
// Bytes: an entry is charged charge(key, entry) = key + value + tags + kEntryOverhead (the
// node, the shared Entry, the hash-table slot), and a stripe's charge never exceeds its budget
// once an operation returns. An entry larger than a stripe's budget, or than max_entry_bytes,
// is refused (insert returns false, counted as too_large).
//
// Time: an entry is returned until its keep_until (store.h) on the injected clock's coarse_now()
// (core/clock.h: the system clock's last tick, so an entry may be returned for up to a tick,
// a few milliseconds, past keep_until; exact on a manual clock); a lookup that finds it past
// that removes it (counted as expired). No background thread.
//
// Hash collisions: the table is keyed by the 64-bit hash; a different key with the same hash
// replaces the resident one (a cache may forget), and lookups compare the key, so a collision
// is a miss, never a wrong value.
//
// The synchronous API (lookup/insert/remove/remove_tag/clear) is what TieredStore and the
// gateway use; the Store methods wrap it. Thread-safe.
#include "cache/store.h"
#include "cache/stores/frequency_sketch.h"
#include "core/clock.h"
#include "core/thread_annotations.h"
#include "metrics/registry.h"

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace tenx::cache {

struct MemoryStoreOptions {
  std::size_t capacity_bytes = 64 << 20;
  std::size_t shards = 16;                // a power of two
  std::size_t max_entry_bytes = 1 << 20;  // larger entries are refused
  double window_fraction = 0.01;
  double protected_fraction = 0.8;  // of the main segment
  // For metrics: cache_store_* {cache=name}. Null registry: no metrics.
  std::string name = "memory";
  metrics::Registry* registry = nullptr;
};

class MemoryStore final : public Store {
 public:
  struct Stats {
    std::uint64_t entries = 0, bytes = 0;
    std::uint64_t hits = 0, misses = 0, inserts = 0;
    std::uint64_t evictions = 0;           // removed to make room
    std::uint64_t admissions_refused = 0;  // a candidate that lost to the victim
    std::uint64_t too_large = 0, expired = 0;
  };

  // Per-entry bookkeeping charged on top of key, value and tags.
  static constexpr std::size_t kEntryOverhead = 160;
  static constexpr std::size_t kTagOverhead = 48;
  static std::size_t charge(std::string_view key, const Entry& e);

  MemoryStore(const core::Clock& clock, MemoryStoreOptions options = {});
  ~MemoryStore() override;
  MemoryStore(const MemoryStore&) = delete;
  MemoryStore& operator=(const MemoryStore&) = delete;

  // The entry, or null (absent, collided, or past keep_until).
  EntryPtr lookup(std::string_view key);
  // Calls fn with the entry inside the stripe's read section, without copying its shared_ptr
  // (on two threads reading one hot key, that copy's reference count is what both write: 7 M
  // against 12 M hits/s per thread, cache_bench): for callers that copy out what they need.
  // fn must not call into this store. False, fn not called: absent or past keep_until.
  bool read(std::string_view key, core::FunctionRef<void(const Entry&)> fn);
  // True when the entry is resident after the call (false: too large, or not admitted).
  bool insert(std::string_view key, Entry entry);
  bool insert(std::string_view key, EntryPtr entry);
  bool remove(std::string_view key);
  std::size_t remove_tag(std::string_view tag);
  void clear();

  Stats stats() const;
  std::size_t capacity_bytes() const { return options_.capacity_bytes; }
  const MemoryStoreOptions& options() const { return options_; }

  std::string_view name() const override { return "memory"; }
  bool read_local(std::string_view key, core::FunctionRef<void(const Entry&)> fn) override {
    return read(key, fn);
  }
  boost::asio::awaitable<Result<EntryPtr>> get(std::string_view key) override;
  boost::asio::awaitable<Result<std::vector<EntryPtr>>> get_many(
      std::span<const std::string> keys) override;
  boost::asio::awaitable<Result<bool>> put(std::string_view key, Entry entry) override;
  boost::asio::awaitable<Result<bool>> erase(std::string_view key) override;
  boost::asio::awaitable<Result<std::size_t>> erase_tag(std::string_view tag) override;

 private:
  struct Shard;
  struct Gauges;
  class ShardLock;
  Shard& shard_of(std::uint64_t hash) const;

  const core::Clock& clock_;
  const MemoryStoreOptions options_;
  unsigned shard_shift_;
  std::unique_ptr<Gauges> gauges_;
  std::vector<std::unique_ptr<Shard>> shards_;
};

}  // namespace tenx::cache
