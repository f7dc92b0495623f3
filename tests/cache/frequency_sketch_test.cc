#include "cache/frequency_sketch.h"

#include <gtest/gtest.h>

namespace strata::cache {
namespace {

TEST(FrequencySketch, CountsSaturateAt15) {
  FrequencySketch s(64);
  for (int i = 0; i < 20; ++i) s.increment(42);
  EXPECT_EQ(s.frequency(42), 15u);
  EXPECT_EQ(s.frequency(43), 0u);
}

TEST(FrequencySketch, ResetHalvesAfterTenTimesWidth) {
  FrequencySketch s(16);  // resets after 160 additions
  for (int i = 0; i < 8; ++i) s.increment(7);
  EXPECT_EQ(s.frequency(7), 8u);
  uint64_t k = 1000;
  for (int i = 0; i < 152; ++i) s.increment(k++);  // distinct keys: almost all add
  EXPECT_LE(s.frequency(7), 5u);                   // halved (collisions may add a little)
  EXPECT_GE(s.frequency(7), 4u);
}

TEST(FrequencySketch, GrowingKeepsEstimates) {
  FrequencySketch s(8);
  for (uint64_t k = 0; k < 5; ++k) {
    for (uint64_t i = 0; i <= k; ++i) s.increment(k * 7919);
  }
  uint32_t before[5];
  for (uint64_t k = 0; k < 5; ++k) before[k] = s.frequency(k * 7919);
  s.ensure_width(1024);
  EXPECT_EQ(s.width(), 1024u);
  for (uint64_t k = 0; k < 5; ++k) EXPECT_EQ(s.frequency(k * 7919), before[k]);
}

}  // namespace
}  // namespace strata::cache
