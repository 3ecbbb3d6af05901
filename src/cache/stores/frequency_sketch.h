#pragma once
// FrequencySketch: TinyLFU's popularity estimate (Einziger, Friedman, Manes, "TinyLFU: A Highly
// Efficient Cache Admission Policy"), as MemoryStore's admission filter uses it.
//
//   doorkeeper   a Bloom filter (two bits per key, in the key's block) that absorbs a key's
//                first occurrence, so the many keys seen once never reach the counters
//   count-min    four 4-bit counters per key (saturating at 15), all in one 64-byte block
//                picked by the hash (one cache line per record, as Caffeine's blocked sketch;
//                the block's doorkeeper bits are in the same line); a key's estimate is the
//                minimum of its four, plus one when the doorkeeper has it. Conservative update:
//                only the counters equal to the minimum are incremented.
//   aging        after sample_size records (10 x the expected number of keys), every counter
//                is halved and the doorkeeper cleared, so old popularity fades
//
// Keys arrive already hashed (a 64-bit hash, xxHash in MemoryStore). Not thread-safe: each
// MemoryStore shard owns one, under its lock. Memory: 8 bytes per expected key.
#include <cstddef>
#include <cstdint>
#include <vector>

namespace tenx::cache {

class FrequencySketch {
 public:
  explicit FrequencySketch(std::size_t expected_keys = 16);

  // Records one occurrence of the key.
  void record(std::uint64_t hash);
  // Estimated occurrences since the last aging, 0..16.
  unsigned estimate(std::uint64_t hash) const;
  // Resizes for more keys (clears what was recorded).
  void resize(std::size_t expected_keys);
  std::size_t expected_keys() const { return expected_; }
  std::uint64_t agings() const { return agings_; }

 private:
  struct Slot {
    std::size_t word;
    unsigned shift;
  };
  struct Place {
    std::size_t block = 0;
    unsigned door[2] = {0, 0};
    Slot counters[4];
  };
  Place place(std::uint64_t hash) const;
  unsigned counter(Slot s) const { return static_cast<unsigned>(table_[s.word] >> s.shift) & 15u; }
  bool door_test(const Place& p) const;
  void door_set(const Place& p);
  void age();

  std::size_t expected_ = 0;
  std::vector<std::uint64_t> table_;  // blocks of 8 words: 6 of counters, 2 of doorkeeper
  std::size_t block_mask_ = 0;        // blocks - 1
  std::size_t records_ = 0;
  std::size_t sample_size_ = 0;
  std::uint64_t agings_ = 0;
};

}  // namespace tenx::cache
