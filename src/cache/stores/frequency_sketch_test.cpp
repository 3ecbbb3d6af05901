// TinyLFU's sketch: the doorkeeper absorbs first sightings, counters saturate, aging halves.
#include "cache/stores/frequency_sketch.h"

#include <gtest/gtest.h>

namespace tenx::cache {
namespace {

std::uint64_t key(std::uint64_t i) { return (i + 1) * 0x9E3779B97F4A7C15ULL; }

TEST(FrequencySketchTest, TheFirstSightingOnlyReachesTheDoorkeeper) {
  FrequencySketch s(1024);
  EXPECT_EQ(s.estimate(key(1)), 0u);
  s.record(key(1));
  EXPECT_EQ(s.estimate(key(1)), 1u) << "the doorkeeper bit";
  s.record(key(1));
  EXPECT_EQ(s.estimate(key(1)), 2u);
  EXPECT_EQ(s.estimate(key(2)), 0u) << "another key is untouched";
}

TEST(FrequencySketchTest, CountersSaturateAtFifteenPlusTheDoorkeeper) {
  FrequencySketch s(1024);
  for (int i = 0; i < 100; ++i) s.record(key(7));
  EXPECT_EQ(s.estimate(key(7)), 16u);
}

TEST(FrequencySketchTest, FrequentKeysOutrankRareOnesAmongMany) {
  FrequencySketch s(4096);
  for (std::uint64_t i = 0; i < 3000; ++i) s.record(key(1000 + i));  // one-hit wonders
  for (int r = 0; r < 8; ++r)
    for (std::uint64_t h = 0; h < 50; ++h) s.record(key(h));
  unsigned rare_max = 0;
  for (std::uint64_t i = 0; i < 3000; ++i) rare_max = std::max(rare_max, s.estimate(key(1000 + i)));
  for (std::uint64_t h = 0; h < 50; ++h) EXPECT_GE(s.estimate(key(h)), 8u);
  EXPECT_LE(rare_max, 3u) << "count-min overestimates a little, not to a hot key's level";
}

TEST(FrequencySketchTest, AgingHalvesCountsAfterTheSample) {
  FrequencySketch s(16);  // sample: 160 records
  for (int i = 0; i < 12; ++i) s.record(key(3));
  EXPECT_EQ(s.estimate(key(3)), 12u);
  for (std::uint64_t i = 0; s.agings() == 0; ++i) s.record(key(100 + i));
  const unsigned after = s.estimate(key(3));
  EXPECT_GE(after, 4u);
  EXPECT_LE(after, 6u) << "11 counted + doorkeeper, halved to 5, doorkeeper cleared";
}

TEST(FrequencySketchTest, ResizeStartsAfresh) {
  FrequencySketch s(16);
  for (int i = 0; i < 5; ++i) s.record(key(1));
  s.resize(10000);
  EXPECT_EQ(s.expected_keys(), 10000u);
  EXPECT_EQ(s.estimate(key(1)), 0u);
}

}  // namespace
}  // namespace tenx::cache
