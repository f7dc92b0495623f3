#include "bench/trace.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>

namespace strata::bench {
namespace {

Trace must_load(const std::string& spec) {
  auto t = load_trace(spec);
  EXPECT_TRUE(t.has_value()) << spec << ": " << (t ? "" : t.error());
  return t ? std::move(*t) : Trace{};
}

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "strata_trace_XXXXXX").string();
    path_ = mkdtemp(tmpl.data());
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

TEST(TraceGen, SameSpecSameTrace) {
  const std::string spec = "zipf:alpha=0.9,objects=5000,requests=20000,seed=7";
  Trace a = must_load(spec), b = must_load(spec);
  EXPECT_EQ(a.ids, b.ids);
  EXPECT_EQ(a.hashes, b.hashes);
  Trace c = must_load("zipf:alpha=0.9,objects=5000,requests=20000,seed=8");
  EXPECT_NE(a.ids, c.ids);
}

TEST(TraceGen, ZipfFrequenciesFollowPowerLaw) {
  Trace t = must_load("zipf:alpha=1.0,objects=1000,requests=400000,seed=3");
  ASSERT_EQ(t.requests(), 400000u);
  ASSERT_EQ(t.objects, 1000u);
  std::vector<double> count(t.objects);
  for (uint32_t id : t.ids) count[id] += 1;
  std::sort(count.rbegin(), count.rend());
  double h = 0;
  for (int i = 1; i <= 1000; ++i) h += 1.0 / i;
  // Rank 1 gets 1/H of the traffic, rank 10 a tenth of that.
  EXPECT_NEAR(count[0] / 400000, 1 / h, 0.01);
  EXPECT_NEAR(count[9] / count[0], 0.1, 0.02);
}

TEST(TraceGen, ZipfHotKeysAreNotNeighbours) {
  Trace t = must_load("zipf:alpha=1.2,objects=100000,requests=100000,seed=1");
  std::vector<uint32_t> count(t.objects);
  for (uint32_t id : t.ids) ++count[id];
  const auto hottest = std::max_element(count.begin(), count.end()) - count.begin();
  EXPECT_NE(hottest, 0);  // rank 1 is mapped through a random permutation
}

TEST(TraceGen, ZipfAlphaZeroIsUniform) {
  Trace t = must_load("zipf:alpha=0,objects=10,requests=100000,seed=1");
  std::vector<int> count(10);
  for (uint32_t id : t.ids) ++count[id];
  for (int c : count) EXPECT_NEAR(c, 10000, 500);
}

TEST(TraceGen, LoopCycles) {
  Trace t = must_load("loop:objects=3,requests=7");
  EXPECT_EQ(t.ids, (std::vector<uint32_t>{0, 1, 2, 0, 1, 2, 0}));
  EXPECT_FALSE(t.sized());
}

TEST(TraceGen, ScanInsertsRunsOfNewKeys) {
  Trace t = must_load("scan:objects=100,requests=1000,scan_every=90,scan_len=10,seed=2");
  ASSERT_EQ(t.requests(), 1000u);
  EXPECT_EQ(t.objects, 100u + 100u);  // 10 scans of 10 new keys
  for (size_t i = 90; i < 100; ++i) EXPECT_EQ(t.ids[i], 100 + (i - 90));
}

TEST(TraceGen, ShiftMovesTheHotSet) {
  Trace t = must_load("shift:objects=10000,requests=20000,hot=100,hot_frac=1,period=10000,seed=4");
  std::map<uint32_t, int> first, second;
  for (size_t i = 0; i < 10000; ++i) ++first[t.ids[i]];
  for (size_t i = 10000; i < 20000; ++i) ++second[t.ids[i]];
  EXPECT_LE(first.size(), 100u);
  EXPECT_LE(second.size(), 100u);
  for (const auto& [id, n] : second) EXPECT_FALSE(first.contains(id));
}

TEST(TraceGen, OneHitWondersAreRequestedOnce) {
  Trace t = must_load("onehit:objects=1000,requests=50000,onehit=0.3,seed=5");
  std::vector<int> count(t.objects);
  for (uint32_t id : t.ids) ++count[id];
  const int singles = static_cast<int>(t.objects) - 1000;
  EXPECT_NEAR(singles, 15000, 600);
  for (uint32_t id = 1000; id < t.objects; ++id) EXPECT_EQ(count[id], 1);
}

TEST(TraceGen, RecencyReusesRecentKeys) {
  Trace t = must_load("recency:requests=100000,new=0.1,window=1000,seed=6");
  EXPECT_NEAR(double(t.objects), 10000, 500);
  std::vector<uint32_t> next = next_accesses(t);
  size_t far = 0;
  for (size_t i = 0; i < next.size(); ++i) far += next[i] != kNoNextAccess && next[i] - i > 1000;
  EXPECT_LT(far, next.size() / 10);  // reuse happens within the window (chains can exceed it)
}

TEST(TraceGen, SizeDistribution) {
  Trace fixed = must_load("uniform:objects=100,requests=1000,size=4096");
  ASSERT_TRUE(fixed.sized());
  for (uint32_t s : fixed.sizes) EXPECT_EQ(s, 4096u);
  Trace ranged = must_load("uniform:objects=100,requests=1000,size=10..1000,seed=2");
  std::map<uint32_t, uint32_t> size_of;
  for (size_t i = 0; i < ranged.requests(); ++i) {
    EXPECT_GE(ranged.sizes[i], 10u);
    EXPECT_LE(ranged.sizes[i], 1000u);
    auto [it, added] = size_of.emplace(ranged.ids[i], ranged.sizes[i]);
    EXPECT_EQ(it->second, ranged.sizes[i]);  // one size per object
  }
}

TEST(TraceGen, BadSpecsSayWhatIsWrong) {
  auto expect_error = [](const std::string& spec, const std::string& part) {
    auto t = load_trace(spec);
    ASSERT_FALSE(t.has_value()) << spec;
    EXPECT_NE(t.error().find(part), std::string::npos) << t.error();
  };
  expect_error("zipfx:objects=1", "unknown trace kind");
  expect_error("zipf:alpha=abc", "not a number");
  expect_error("zipf:objects=0", "outside");
  expect_error("zipf:objecs=10", "unknown parameter 'objecs'");
  expect_error("zipf:objects", "expected key=value");
  expect_error("loop:objects=5,objects=6", "given twice");
  expect_error("uniform:size=0", "size=");
  expect_error("uniform:size=9..3", "size=");
  expect_error("csv:/nonexistent/file", "cannot open");
  expect_error("csv:", "expected csv:FILE");
}

TEST(TraceGen, CountsAcceptSuffixes) {
  Trace t = must_load("loop:objects=1k,requests=2.5k");
  EXPECT_EQ(t.objects, 1000u);
  EXPECT_EQ(t.requests(), 2500u);
}

TEST(TraceFile, CsvKeysSizesOps) {
  TempDir dir;
  const std::string path = dir.file("t.csv");
  std::ofstream(path) << "key,size,op\n# comment\na,10\nb,20,get\na,15,SET\nc\nb,20,del\n\n";
  Trace t = must_load("csv:" + path);
  EXPECT_EQ(t.ids, (std::vector<uint32_t>{0, 1, 0, 2, 1}));
  EXPECT_EQ(t.sizes, (std::vector<uint32_t>{10, 20, 15, 1, 20}));
  ASSERT_EQ(t.ops.size(), 5u);
  EXPECT_EQ(t.ops[2], Op::kSet);
  EXPECT_EQ(t.ops[4], Op::kDel);
  EXPECT_EQ(t.objects, 3u);
  EXPECT_NE(t.hashes[0], t.hashes[1]);
}

TEST(TraceFile, CsvKeysOnlyIsUnitSized) {
  TempDir dir;
  const std::string path = dir.file("k.csv");
  std::ofstream(path) << "x\ny\nx\n";
  Trace t = must_load("csv:" + path);
  EXPECT_FALSE(t.sized());
  EXPECT_TRUE(t.ops.empty());
  EXPECT_EQ(t.ids, (std::vector<uint32_t>{0, 1, 0}));
}

TEST(TraceFile, CsvErrorsNameTheLine) {
  TempDir dir;
  const std::string path = dir.file("bad.csv");
  std::ofstream(path) << "a,1\nb,zz\n";
  auto t = load_trace("csv:" + path);
  ASSERT_FALSE(t.has_value());
  EXPECT_NE(t.error().find(":2: bad size 'zz'"), std::string::npos) << t.error();
  std::ofstream(path) << "a,1,frob\n";
  t = load_trace("csv:" + path);
  ASSERT_FALSE(t.has_value());
  EXPECT_NE(t.error().find("bad op"), std::string::npos) << t.error();
}

void write_oracle(const std::string& path, const std::vector<std::pair<uint64_t, uint32_t>>& reqs,
                  size_t extra_bytes = 0) {
  std::ofstream f(path, std::ios::binary);
  uint32_t ts = 0;
  for (const auto& [obj, size] : reqs) {
    unsigned char rec[24];
    const int64_t next = -1;
    std::memcpy(rec, &ts, 4);
    std::memcpy(rec + 4, &obj, 8);
    std::memcpy(rec + 12, &size, 4);
    std::memcpy(rec + 16, &next, 8);
    f.write(reinterpret_cast<const char*>(rec), 24);
    ++ts;
  }
  for (size_t i = 0; i < extra_bytes; ++i) f.put('\0');
}

TEST(TraceFile, OracleGeneral) {
  TempDir dir;
  const std::string path = dir.file("t.oracleGeneral");
  write_oracle(path, {{1ull << 40, 100}, {7, 200}, {1ull << 40, 100}, {9, 0}});
  Trace t = must_load("oracle:" + path);
  EXPECT_EQ(t.ids, (std::vector<uint32_t>{0, 1, 0, 2}));
  EXPECT_EQ(t.sizes, (std::vector<uint32_t>{100, 200, 100, 1}));  // size 0 counts as 1
  EXPECT_EQ(t.objects, 3u);
}

TEST(TraceFile, OracleManyRecordsAcrossReads) {
  TempDir dir;
  const std::string path = dir.file("big.oracleGeneral");
  std::vector<std::pair<uint64_t, uint32_t>> reqs;
  for (uint64_t i = 0; i < 200000; ++i) reqs.push_back({(i % 70001) * 1000003, 1});
  write_oracle(path, reqs);
  Trace t = must_load("oracle:" + path);
  ASSERT_EQ(t.requests(), 200000u);
  EXPECT_EQ(t.objects, 70001u);
  for (size_t i = 0; i < t.requests(); ++i) ASSERT_EQ(t.ids[i], i % 70001);
}

TEST(TraceFile, OracleTruncatedRecordIsAnError) {
  TempDir dir;
  const std::string path = dir.file("trunc.oracleGeneral");
  write_oracle(path, {{1, 1}, {2, 2}}, 5);
  auto t = load_trace("oracle:" + path);
  ASSERT_FALSE(t.has_value());
  EXPECT_NE(t.error().find("multiple of 24"), std::string::npos) << t.error();
}

TEST(TracePasses, NextAccessesAndWorkingSet) {
  Trace t;
  t.ids = {0, 1, 0, 2, 1, 0};
  t.sizes = {5, 7, 6, 1, 7, 6};
  t.objects = 3;
  EXPECT_EQ(next_accesses(t),
            (std::vector<uint32_t>{2, 4, 5, kNoNextAccess, kNoNextAccess, kNoNextAccess}));
  const WorkingSet ws = working_set(t);
  EXPECT_EQ(ws.objects, 3u);
  EXPECT_EQ(ws.bytes, 6u + 7u + 1u);
}

}  // namespace
}  // namespace strata::bench
