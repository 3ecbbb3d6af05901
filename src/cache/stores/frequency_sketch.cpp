#include "cache/stores/frequency_sketch.h"

#include <algorithm>
#include <bit>

namespace tenx::cache {

namespace {
// Independent 64-bit mixes of one hash (splitmix64's finaliser with a seed each).
std::uint64_t mix(std::uint64_t h, unsigned row) {
  static constexpr std::uint64_t kSeeds[2] = {0x9E3779B97F4A7C15ULL, 0xC2B2AE3D27D4EB4FULL};
  h ^= kSeeds[row];
  h = (h ^ (h >> 30)) * 0xBF58476D1CE4E5B9ULL;
  h = (h ^ (h >> 27)) * 0x94D049BB133111EBULL;
  return h ^ (h >> 31);
}
}  // namespace

FrequencySketch::FrequencySketch(std::size_t expected_keys) { resize(expected_keys); }

void FrequencySketch::resize(std::size_t expected_keys) {
  expected_ = std::max<std::size_t>(expected_keys, 16);
  // One block of 8 words (one cache line) per 8 expected keys: words 0-5 hold 4-bit counters
  // (96 per block, 12 per key), words 6-7 the doorkeeper's bits (16 per key). A key's four
  // counters and its two doorkeeper bits are in its block, so a record touches one line.
  const std::size_t blocks = std::bit_ceil(expected_) / 8;
  table_.assign(blocks * 8, 0);
  block_mask_ = blocks - 1;
  records_ = 0;
  sample_size_ = 10 * expected_;
}

FrequencySketch::Place FrequencySketch::place(std::uint64_t hash) const {
  // Two mixes of the hash: the first picks the block (low bits) and the doorkeeper's two bits
  // (top bits); the second gives each row 16 bits: a word of the block's six (8 bits, modulo
  // 6) and a counter in it (4 bits).
  Place p;
  const std::uint64_t b = mix(hash, 0);
  p.block = static_cast<std::size_t>(b & block_mask_) * 8;
  p.door[0] = static_cast<unsigned>((b >> 50) & 127);
  p.door[1] = static_cast<unsigned>((b >> 57) & 127);
  const std::uint64_t h = mix(hash, 1);
  for (unsigned row = 0; row < 4; ++row) {
    const auto bits = static_cast<unsigned>(h >> (16 * row));
    p.counters[row] = {p.block + (bits & 0xFF) % 6, ((bits >> 8) & 15) * 4};
  }
  return p;
}

bool FrequencySketch::door_test(const Place& p) const {
  for (unsigned bit : p.door)
    if (!(table_[p.block + 6 + bit / 64] >> (bit % 64) & 1)) return false;
  return true;
}

void FrequencySketch::door_set(const Place& p) {
  for (unsigned bit : p.door) table_[p.block + 6 + bit / 64] |= 1ULL << (bit % 64);
}

void FrequencySketch::record(std::uint64_t hash) {
  if (++records_ >= sample_size_) age();
  const Place p = place(hash);
  if (!door_test(p)) {
    door_set(p);
    return;
  }
  unsigned least = 15;
  for (const Slot& s : p.counters) least = std::min(least, counter(s));
  if (least == 15) return;
  for (const Slot& s : p.counters) {
    // Two rows may share a counter: increment it once.
    if (counter(s) == least) table_[s.word] += 1ULL << s.shift;
  }
}

unsigned FrequencySketch::estimate(std::uint64_t hash) const {
  const Place p = place(hash);
  unsigned least = 15;
  for (const Slot& s : p.counters) least = std::min(least, counter(s));
  return least + (door_test(p) ? 1u : 0u);
}

void FrequencySketch::age() {
  // Halve every counter (shift each word right by one and drop the bit each counter received
  // from its upper neighbour) and clear the doorkeeper.
  for (std::size_t b = 0; b < table_.size(); b += 8) {
    for (std::size_t w = 0; w < 6; ++w)
      table_[b + w] = (table_[b + w] >> 1) & 0x7777777777777777ULL;
    table_[b + 6] = table_[b + 7] = 0;
  }
  records_ = 0;
  ++agings_;
}

}  // namespace tenx::cache
