// Gets per second on hits: MemoryStore (W-TinyLFU, 16 lock stripes) against the plain
// one-mutex LRU (stores/testing/lru_baseline.h) with the same byte budget, on 1 and 2 threads,
// through both ways of reading: Hit = lookup(), which hands out a shared_ptr to the entry (on two
// threads its reference count, written by both for the same hot keys, is most of the cost);
// Read = read(), which copies the value out under the lock (what Cache's hit path does).
// 1,000 / 10,000 / 100,000 resident keys (the argument) of 100-byte values, read in Zipf(0.9)
// order precomputed per thread (so the benchmark measures the store, not the key generator).
// With 100,000 keys the entries (~50 MB with their bookkeeping) outgrow this machine's 32 MiB L3
// and both stores wait on DRAM; with 1,000 they fit in L2 and the policy's own work shows.
//   build/release/src/cache/cache_bench --benchmark_filter=Hit   (bench/cache_memory.sh)
#include "cache/stores/memory_store.h"
#include "cache/stores/testing/lru_baseline.h"

#include <benchmark/benchmark.h>

#include <cmath>
#include <map>
#include <mutex>
#include <random>

namespace {

using tenx::cache::Entry;
using tenx::cache::EntryPtr;
using tenx::cache::MemoryStore;
using tenx::cache::MemoryStoreOptions;

constexpr std::size_t kTrace = 1 << 16;

std::vector<std::string> make_keys(std::size_t n) {
  std::vector<std::string> v;
  for (std::size_t i = 0; i < n; ++i) v.push_back("user:" + std::to_string(i));
  return v;
}

// Indices drawn from Zipf(0.9) over n keys (inverse CDF on a table).
std::vector<std::uint32_t> trace(std::size_t n, std::uint64_t seed) {
  std::vector<double> cdf(n);
  double sum = 0;
  for (std::size_t i = 0; i < n; ++i) cdf[i] = sum += 1.0 / std::pow(double(i + 1), 0.9);
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0, sum);
  std::vector<std::uint32_t> t(kTrace);
  for (auto& x : t)
    x = static_cast<std::uint32_t>(std::lower_bound(cdf.begin(), cdf.end(), u(rng)) - cdf.begin());
  return t;
}

EntryPtr value() {
  static tenx::core::SystemClock& clock = tenx::core::SystemClock::instance();
  Entry e;
  e.value = std::string(100, 'v');
  e.fresh_until = e.keep_until = clock.now() + std::chrono::hours(1);
  return std::make_shared<const Entry>(std::move(e));
}

constexpr std::size_t kBudget = 256 << 20;  // everything resident: hits only

// One loaded store of each kind per key count, built once (benchmarks run the threads of a
// case against the same store).
template <class Store>
struct Loaded {
  std::vector<std::string> keys;
  std::unique_ptr<Store> store;
};

template <class Store, class Make>
Loaded<Store>& loaded(std::size_t n, Make make) {
  static std::map<std::size_t, Loaded<Store>> all;
  static std::mutex mu;
  std::lock_guard lock(mu);
  auto& l = all[n];
  if (!l.store) {
    l.keys = make_keys(n);
    l.store = make();
    for (const auto& k : l.keys) l.store->insert(k, value());
  }
  return l;
}

Loaded<MemoryStore>& memory_store(std::size_t n) {
  return loaded<MemoryStore>(n, [] {
    MemoryStoreOptions o;
    o.capacity_bytes = kBudget;
    return std::make_unique<MemoryStore>(tenx::core::SystemClock::instance(), o);
  });
}

Loaded<tenx::cache::testing::LruBaseline>& lru(std::size_t n) {
  return loaded<tenx::cache::testing::LruBaseline>(
      n, [] { return std::make_unique<tenx::cache::testing::LruBaseline>(kBudget); });
}

// Reads the loaded store in this thread's Zipf order; get(store, key) is one get, true on a hit.
template <class L, class Get>
void run(benchmark::State& state, L& loaded, Get get) {
  const auto t = trace(loaded.keys.size(), static_cast<std::uint64_t>(state.thread_index()) + 1);
  const auto& k = loaded.keys;
  auto& store = *loaded.store;
  std::size_t i = 0, hits = 0;
  for (auto _ : state) hits += get(store, k[t[i++ & (kTrace - 1)]]) ? 1 : 0;
  if (hits != static_cast<std::size_t>(state.iterations())) state.SkipWithError("a lookup missed");
  state.SetItemsProcessed(state.iterations());
}

// Hit: lookup(), a shared_ptr to the entry handed out.
constexpr auto hit = [](auto& store, const std::string& key) {
  EntryPtr e = store.lookup(key);
  benchmark::DoNotOptimize(e);
  return e != nullptr;
};

// Read: read(), the value copied out under the stripe's read lock, no shared_ptr copy (what
// Cache's hit path does).
constexpr auto read = [](auto& store, const std::string& key) {
  thread_local std::string out;
  const bool found = store.read(key, [&](const Entry& e) { out.assign(e.value); });
  benchmark::DoNotOptimize(out.data());
  return found;
};

std::size_t keys_of(const benchmark::State& state) {
  return static_cast<std::size_t>(state.range(0));
}

void BM_MemoryStoreHit(benchmark::State& state) { run(state, memory_store(keys_of(state)), hit); }
void BM_LruBaselineHit(benchmark::State& state) { run(state, lru(keys_of(state)), hit); }
void BM_MemoryStoreRead(benchmark::State& state) { run(state, memory_store(keys_of(state)), read); }
void BM_LruBaselineRead(benchmark::State& state) { run(state, lru(keys_of(state)), read); }

void cases(benchmark::internal::Benchmark* b) {
  b->Arg(1000)->Arg(10000)->Arg(100000)->Threads(1)->Threads(2)->UseRealTime();
}
BENCHMARK(BM_MemoryStoreHit)->Apply(cases);
BENCHMARK(BM_LruBaselineHit)->Apply(cases);
BENCHMARK(BM_MemoryStoreRead)->Apply(cases);
BENCHMARK(BM_LruBaselineRead)->Apply(cases);

}  // namespace

namespace {
// Floors, for reading the figures above: what 2 threads reading the same hot entries pay for
// the shared state alone. Refcount: a copy of the entry's shared_ptr per read (what a store
// handing out EntryPtr must do). Mutex: one lock/unlock of the key's stripe mutex (16 stripes).
void BM_FloorRefcount(benchmark::State& state) {
  static std::vector<EntryPtr> entries = [] {
    std::vector<EntryPtr> v;
    for (int i = 0; i < 1000; ++i) v.push_back(value());
    return v;
  }();
  const auto t = trace(entries.size(), static_cast<std::uint64_t>(state.thread_index()) + 1);
  std::size_t i = 0;
  for (auto _ : state) {
    EntryPtr e = entries[t[i++ & (kTrace - 1)]];
    benchmark::DoNotOptimize(e);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_FloorRefcount)->Threads(1)->Threads(2)->UseRealTime();

void BM_FloorStripeMutex(benchmark::State& state) {
  static std::mutex stripes[16];
  const auto t = trace(1000, static_cast<std::uint64_t>(state.thread_index()) + 1);
  std::size_t i = 0;
  for (auto _ : state) {
    std::lock_guard lock(stripes[(t[i++ & (kTrace - 1)] * 0x9E3779B97F4A7C15ULL) >> 60]);
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_FloorStripeMutex)->Threads(1)->Threads(2)->UseRealTime();
}  // namespace
