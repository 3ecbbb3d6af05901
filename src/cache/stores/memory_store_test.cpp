// MemoryStore: the byte bound, W-TinyLFU admission (scan resistance), TTL on a manual clock,
// tags across stripes, refusals, and the bound under concurrent writers.
#include "cache/stores/memory_store.h"

#include "metrics/registry.h"

#include <gtest/gtest.h>

#include <random>
#include <thread>

namespace tenx::cache {
namespace {

using namespace std::chrono_literals;

Entry entry(std::string value, const core::Clock& clock, Duration ttl = 1h,
            std::vector<std::string> tags = {}) {
  Entry e;
  e.value = std::move(value);
  e.fresh_until = clock.now() + ttl;
  e.keep_until = e.fresh_until;
  e.tags = std::move(tags);
  return e;
}

std::string fmt_key(int i) {
  std::string k = std::to_string(i);
  return "k" + std::string(3 - std::min<std::size_t>(3, k.size()), '0') + k;
}

MemoryStoreOptions options(std::size_t bytes, std::size_t shards = 1) {
  MemoryStoreOptions o;
  o.capacity_bytes = bytes;
  o.shards = shards;
  return o;
}

TEST(MemoryStoreTest, ReturnsWhatWasInsertedAndChargesIt) {
  core::ManualClock clock;
  MemoryStore s(clock, options(1 << 20));
  ASSERT_TRUE(s.insert("a", entry("alpha", clock)));
  auto e = s.lookup("a");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->value, "alpha");
  EXPECT_EQ(s.stats().bytes, MemoryStore::charge("a", *e));
  EXPECT_EQ(MemoryStore::charge("a", *e), MemoryStore::kEntryOverhead + 1 + 5);
  EXPECT_FALSE(s.lookup("b"));
  EXPECT_EQ(s.stats().hits, 1u);
  EXPECT_EQ(s.stats().misses, 1u);
}

TEST(MemoryStoreTest, BytesNeverExceedTheBudgetUnderRandomSizes) {
  core::ManualClock clock;
  for (std::size_t shards : {1u, 4u, 16u}) {
    const std::size_t budget = 256 << 10;
    MemoryStore s(clock, options(budget, shards));
    std::mt19937_64 rng(shards);
    std::uniform_int_distribution<std::size_t> size(0, 12 << 10), key(0, 4000);
    std::size_t resident_somewhere = 0;
    for (int i = 0; i < 20000; ++i) {
      const auto k = "k" + std::to_string(key(rng));
      if (rng() % 3 == 0) s.lookup(k);
      s.insert(k, entry(std::string(size(rng), 'x'), clock));
      const auto st = s.stats();
      ASSERT_LE(st.bytes, budget) << "after insert " << i << " with " << shards << " shards";
      resident_somewhere = std::max<std::size_t>(resident_somewhere, st.entries);
    }
    EXPECT_GT(s.stats().evictions, 1000u);
    EXPECT_GT(resident_somewhere, 20u) << "it does hold entries";
  }
}

TEST(MemoryStoreTest, AOnePassScanDoesNotFlushThePopularKeys) {
  core::ManualClock clock;
  // Room for about 100 entries of 1 KiB; 50 hot keys read over and over, then a scan of
  // 10,000 keys read once each.
  MemoryStore s(clock, options(100 * (1024 + MemoryStore::kEntryOverhead + 8)));
  const std::string value(1024, 'v');
  auto get = [&](const std::string& k) {
    if (!s.lookup(k)) s.insert(k, entry(value, clock));
  };
  for (int round = 0; round < 20; ++round)
    for (int h = 0; h < 50; ++h) get("hot" + std::to_string(h));
  for (int i = 0; i < 10000; ++i) {
    get("scan" + std::to_string(i));
    if (i % 100 == 0)
      for (int h = 0; h < 50; ++h) get("hot" + std::to_string(h));
  }
  int hot_resident = 0;
  for (int h = 0; h < 50; ++h) hot_resident += s.lookup("hot" + std::to_string(h)) ? 1 : 0;
  EXPECT_GE(hot_resident, 45) << "a plain LRU of this size keeps none of them";
  EXPECT_GT(s.stats().admissions_refused, 5000u) << "scan keys were refused at the door";
}

TEST(MemoryStoreTest, AKeyAskedForOftenGetsInOverOneHitWonders) {
  core::ManualClock clock;
  MemoryStore s(clock, options(20 * (512 + MemoryStore::kEntryOverhead + 8)));
  const std::string value(512, 'v');
  for (int i = 0; i < 40; ++i) s.insert("filler" + std::to_string(i), entry(value, clock));
  // "wanted" is asked for many times while absent: its misses count.
  for (int i = 0; i < 10; ++i) EXPECT_FALSE(s.lookup("wanted"));
  EXPECT_TRUE(s.insert("wanted", entry(value, clock)));
  EXPECT_TRUE(s.lookup("wanted"));
}

TEST(MemoryStoreTest, EntriesPastKeepUntilAreGoneOnTheManualClock) {
  core::ManualClock clock;
  MemoryStore s(clock, options(1 << 20, 4));
  ASSERT_TRUE(s.insert("short", entry("v", clock, 10s)));
  ASSERT_TRUE(s.insert("long", entry("v", clock, 100s)));
  clock.advance(9s);
  EXPECT_TRUE(s.lookup("short"));
  clock.advance(1s);
  EXPECT_FALSE(s.lookup("short")) << "keep_until reached";
  EXPECT_TRUE(s.lookup("long"));
  EXPECT_EQ(s.stats().expired, 1u);
  EXPECT_EQ(s.stats().entries, 1u) << "the expired entry was removed, not just hidden";
}

// read(): the visitor sees the entry itself (no reference taken), counted as a lookup; an
// absent or expired key calls nothing, and the expired entry is removed as by lookup().
TEST(MemoryStoreTest, ReadVisitsTheEntryWithoutCopyingItsHandle) {
  core::ManualClock clock;
  MemoryStore s(clock, options(1 << 20, 4));
  ASSERT_TRUE(s.insert("a", entry("alpha", clock, 10s)));
  const EntryPtr held = s.lookup("a");
  std::string seen;
  long uses = 0;
  EXPECT_TRUE(s.read("a", [&](const Entry& e) {
    seen = e.value;
    uses = held.use_count();
  }));
  EXPECT_EQ(seen, "alpha");
  EXPECT_EQ(uses, 2) << "the store's and ours: read() took none";
  int calls = 0;
  EXPECT_FALSE(s.read("b", [&](const Entry&) { ++calls; }));
  clock.advance(10s);
  EXPECT_FALSE(s.read("a", [&](const Entry&) { ++calls; }));
  EXPECT_EQ(calls, 0);
  const auto st = s.stats();
  EXPECT_EQ(st.hits, 2u);
  EXPECT_EQ(st.misses, 2u);
  EXPECT_EQ(st.expired, 1u);
  EXPECT_EQ(st.entries, 0u);
}

TEST(MemoryStoreTest, OversizedEntriesAreRefusedAndDoNotLeaveTheOldValue) {
  core::ManualClock clock;
  auto o = options(1 << 20);
  o.max_entry_bytes = 1000;
  MemoryStore s(clock, o);
  ASSERT_TRUE(s.insert("k", entry("small", clock)));
  EXPECT_FALSE(s.insert("k", entry(std::string(2000, 'x'), clock)));
  EXPECT_FALSE(s.lookup("k")) << "the caller meant to replace it";
  EXPECT_EQ(s.stats().too_large, 1u);
  MemoryStore tiny(clock, options(4096));
  EXPECT_FALSE(tiny.insert("big", entry(std::string(5000, 'x'), clock))) << "over the stripe";
  EXPECT_EQ(tiny.stats().bytes, 0u);
}

TEST(MemoryStoreTest, OverwriteReplacesAndRechargesAndRemoveForgets) {
  core::ManualClock clock;
  MemoryStore s(clock, options(1 << 20));
  s.insert("k", entry("one", clock));
  s.insert("k", entry(std::string(100, 'x'), clock));
  EXPECT_EQ(s.lookup("k")->value, std::string(100, 'x'));
  EXPECT_EQ(s.stats().entries, 1u);
  EXPECT_EQ(s.stats().bytes, MemoryStore::kEntryOverhead + 1 + 100);
  EXPECT_TRUE(s.remove("k"));
  EXPECT_FALSE(s.remove("k"));
  EXPECT_EQ(s.stats().bytes, 0u);
}

TEST(MemoryStoreTest, TagsDropEntriesInEveryStripe) {
  core::ManualClock clock;
  MemoryStore s(clock, options(1 << 20, 16));
  for (int i = 0; i < 100; ++i)
    s.insert("post" + std::to_string(i),
             entry("v", clock, 1h, {i % 2 ? "user:1" : "user:2", "all"}));
  EXPECT_EQ(s.remove_tag("user:1"), 50u);
  EXPECT_EQ(s.stats().entries, 50u);
  EXPECT_FALSE(s.lookup("post1"));
  EXPECT_TRUE(s.lookup("post2"));
  EXPECT_EQ(s.remove_tag("nobody"), 0u);
  EXPECT_EQ(s.remove_tag("all"), 50u);
  EXPECT_EQ(s.stats().bytes, 0u);
}

TEST(MemoryStoreTest, GaugesFollowTheEntries) {
  core::ManualClock clock;
  metrics::Registry registry;
  auto o = options(1 << 20, 2);
  o.registry = &registry;
  o.name = "users";
  {
    MemoryStore s(clock, o);
    s.insert("a", entry("1", clock));
    s.insert("b", entry("2", clock));
    s.remove("a");
    const auto text = registry.expose();
    EXPECT_NE(text.find("cache_store_entries{cache=\"users\"} 1"), std::string::npos) << text;
  }
  EXPECT_NE(registry.expose().find("cache_store_entries{cache=\"users\"} 0"), std::string::npos)
      << "destroying the store gives its entries back";
}

TEST(MemoryStoreTest, RefusesBadOptionsWithAReason) {
  core::ManualClock clock;
  auto o = options(1 << 20, 3);
  EXPECT_THROW(MemoryStore(clock, o), std::invalid_argument);
  o = options(100, 1);
  EXPECT_THROW(MemoryStore(clock, o), std::invalid_argument);
  o = options(1 << 20, 1);
  o.window_fraction = 1.5;
  EXPECT_THROW(MemoryStore(clock, o), std::invalid_argument);
}

TEST(MemoryStoreTest, TheBoundHoldsWithConcurrentReadersAndWriters) {
  core::SystemClock& clock = core::SystemClock::instance();
  const std::size_t budget = 512 << 10;
  MemoryStore s(clock, options(budget, 4));
  std::atomic<bool> over{false}, torn{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(t);
      for (int i = 0; i < 20000; ++i) {
        const auto k = "k" + std::to_string(rng() % 2000);
        if (auto e = s.lookup(k)) {
          if (e->value.find_first_not_of('x') != std::string::npos) torn = true;
        } else {
          s.insert(k, entry(std::string(rng() % 4000, 'x'), clock));
        }
        if (i % 500 == 0) s.remove_tag("none");
      }
    });
  }
  threads.emplace_back([&] {
    for (int i = 0; i < 2000; ++i)
      if (s.stats().bytes > budget) over = true;
  });
  for (auto& th : threads) th.join();
  EXPECT_FALSE(over.load()) << "a reader saw more bytes than the budget";
  EXPECT_FALSE(torn.load());
  EXPECT_LE(s.stats().bytes, budget);
}

// More threads than reader slots (8): some read in their own slot, the rest take the exclusive
// path; every lookup is counted once (hits + misses), and each returns its own key's value.
TEST(MemoryStoreTest, EveryLookupIsCountedOnceWithMoreThreadsThanReaderSlots) {
  core::SystemClock& clock = core::SystemClock::instance();
  MemoryStore s(clock, options(4 << 20, 4));
  constexpr int kThreads = 12, kLookups = 20000;
  std::atomic<bool> wrong{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(static_cast<std::uint64_t>(t));
      for (int i = 0; i < kLookups; ++i) {
        const auto k = "k" + std::to_string(rng() % 500);
        if (auto e = s.lookup(k)) {
          if (e->value != k + "=v") wrong = true;
        } else if (i % 4 == 0) {
          s.insert(k, entry(k + "=v", clock));
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  const auto st = s.stats();
  EXPECT_FALSE(wrong.load()) << "a lookup returned another key's value";
  EXPECT_EQ(st.hits + st.misses, std::uint64_t{kThreads} * kLookups);
  EXPECT_GT(st.hits, st.misses) << "500 keys in a 4 MiB store stay resident once inserted";
}

// Hits recorded in a reader's ring reach the policy before the next insert: keys read while on
// probation are protected, so a burst of new keys evicts the unread ones first.
TEST(MemoryStoreTest, HitsFromTheReadPathPromoteBeforeTheNextInsert) {
  core::ManualClock clock;
  const std::size_t per = MemoryStore::charge("k000", entry(std::string(100, 'x'), clock));
  MemoryStore s(clock, options(per * 100, 1));
  for (int i = 0; i < 100; ++i) s.insert(fmt_key(i), entry(std::string(100, 'x'), clock));
  for (int round = 0; round < 3; ++round)
    for (int i = 0; i < 50; ++i) ASSERT_TRUE(s.lookup(fmt_key(i))) << i;
  for (int i = 100; i < 140; ++i) {
    s.lookup(fmt_key(i));  // asked for twice: frequent enough to be admitted over unread keys
    s.lookup(fmt_key(i));
    s.insert(fmt_key(i), entry(std::string(100, 'x'), clock));
  }
  int kept = 0;
  for (int i = 0; i < 50; ++i) kept += s.lookup(fmt_key(i)) ? 1 : 0;
  EXPECT_EQ(kept, 50) << "every key read three times survived the burst";
  EXPECT_GT(s.stats().evictions, 0u);
}

}  // namespace
}  // namespace tenx::cache
