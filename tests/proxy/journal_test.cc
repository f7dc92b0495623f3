// The write-behind journal on both drivers: durable callbacks, group commit, rotation and the
// ledger unlinking sealed segments, recovery (newest version per key, torn tail, corruption).
#include "proxy/journal.h"

#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "tests/proxy/test_worker.h"

namespace strata::proxy {
namespace {

using policies::JournalRecord;
using testing::TestWorker;

std::vector<std::string> segment_files(const std::string& dir) {
  std::vector<std::string> out;
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d)) {
      if (std::string(e->d_name).starts_with("seg-")) out.push_back(dir + "/" + e->d_name);
    }
    closedir(d);
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string slurp(const std::string& path) {
  std::string out;
  int fd = ::open(path.c_str(), O_RDONLY);
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  ::close(fd);
  return out;
}

class JournalTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/strata_journal_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    dir_ = root_ + "/j";  // recovery creates it
    tw_ = std::make_unique<TestWorker>(GetParam());
    ASSERT_TRUE(tw_->ok()) << tw_->error();
  }
  void TearDown() override {
    journal_.reset();
    tw_.reset();
    std::system(("rm -rf " + root_).c_str());
  }

  void open(uint64_t segment_bytes = 64ull << 20) {
    ledger_ = std::make_unique<JournalLedger>(dir_);
    auto rec = recover_journal(ledger_.get());
    ASSERT_TRUE(rec.has_value()) << rec.error();
    policies::JournalConfig c;
    c.dir = dir_;
    c.segment_bytes = segment_bytes;
    journal_ = std::make_unique<Journal>(tw_->worker(), ledger_.get(), c);
    std::string err;
    ASSERT_TRUE(journal_->open(&err)) << err;
  }

  // One loop iteration as the worker runs it: events, then the journal's flush.
  void turn() {
    tw_->worker()->driver().run_once();
    journal_->flush();
  }
  bool run_until(const std::function<bool()>& done) {
    return tw_->run_until(done, 5000, [&] { journal_->flush(); });
  }

  // Appends key=value@version; *ok set once durable.
  uint64_t append(std::string_view key, std::string_view value, uint64_t version, int* durable,
                  JournalRecord::Op op = JournalRecord::kSet) {
    JournalRecord r{op, version, key, value};
    return journal_->append(r, [durable](bool ok) { *durable += ok ? 1 : 1000; });
  }

  // Two durable records in one segment, then the journal closed (as at a crash).
  void write_two_records(std::string* segment) {
    open();
    int durable = 0;
    append("a", "a1", 1, &durable);
    append("b", "b1", 2, &durable);
    journal_->flush();
    ASSERT_TRUE(run_until([&] { return durable == 2; }));
    journal_.reset();
    *segment = segment_files(dir_).at(0);
  }

  std::string root_, dir_;
  std::unique_ptr<TestWorker> tw_;
  std::unique_ptr<JournalLedger> ledger_;
  std::unique_ptr<Journal> journal_;
};

TEST_P(JournalTest, AppendIsDurableAfterOneGroupCommit) {
  open();
  int durable = 0;
  const uint64_t seg = append("k1", "v1", 1, &durable);
  append("k2", std::string(5000, 'x'), 2, &durable);
  append("k1", "", 3, &durable, JournalRecord::kDel);
  EXPECT_EQ(durable, 0);  // nothing is durable before the flush at the end of the iteration
  journal_->flush();
  ASSERT_TRUE(run_until([&] { return durable == 3; }));
  EXPECT_EQ(journal_->group_commits(), 1u);
  EXPECT_EQ(ledger_->live_records(), 3u);
  EXPECT_EQ(ledger_->segments(), 1u);
  auto files = segment_files(dir_);
  ASSERT_EQ(files.size(), 1u);
  char want[64];
  snprintf(want, sizeof want, "/seg-%016llu-w0.log", static_cast<unsigned long long>(seg));
  EXPECT_EQ(files[0], dir_ + want);
  const std::string data = slurp(files[0]);
  EXPECT_EQ(data.size(), journal_->bytes_written());
  JournalRecord r;
  size_t used = 0;
  ASSERT_EQ(policies::decode_journal_record(data, &r, &used), policies::JournalDecode::kRecord);
  EXPECT_EQ(r.key, "k1");
  EXPECT_EQ(r.value, "v1");
}

TEST_P(JournalTest, RecordsAppendedWhileAWriteIsInFlightShareTheNextCommit) {
  open();
  int durable = 0;
  for (int i = 0; i < 10; ++i) append("a" + std::to_string(i), "v", i + 1, &durable);
  journal_->flush();
  // The first group is in flight; these wait for it, then go out together.
  for (int i = 0; i < 5; ++i) append("b" + std::to_string(i), "v", 100 + i, &durable);
  journal_->flush();
  ASSERT_TRUE(run_until([&] { return durable == 15; }));
  EXPECT_EQ(journal_->group_commits(), 2u);
  // Many small iterations each with one record: one commit per iteration at most.
  for (int i = 0; i < 20; ++i) {
    append("c" + std::to_string(i), "v", 200 + i, &durable);
    turn();
  }
  ASSERT_TRUE(run_until([&] { return durable == 35; }));
  EXPECT_LE(journal_->group_commits(), 22u);
}

TEST_P(JournalTest, RotationSealsSegmentsAndReleaseUnlinksThem) {
  open(/*segment_bytes=*/256);
  int durable = 0;
  std::vector<uint64_t> segs;
  for (int i = 0; i < 40; ++i) {
    segs.push_back(append("key" + std::to_string(i), std::string(40, 'v'), i + 1, &durable));
    if (i % 3 == 0) turn();
  }
  journal_->flush();
  ASSERT_TRUE(run_until([&] { return durable == 40; }));
  turn();  // retire drained segments
  const size_t files = segment_files(dir_).size();
  EXPECT_GT(files, 5u);
  EXPECT_EQ(ledger_->segments(), files);
  EXPECT_EQ(ledger_->live_records(), 40u);
  for (const auto& f : segment_files(dir_)) EXPECT_LE(slurp(f).size(), 256u + 80u) << f;
  // Everything flushed to PostgreSQL: every sealed segment goes; the open one stays.
  for (uint64_t s : segs) ledger_->release(s);
  EXPECT_EQ(ledger_->live_records(), 0u);
  EXPECT_EQ(segment_files(dir_).size(), 1u);
  EXPECT_EQ(ledger_->segments(), 1u);
}

TEST_P(JournalTest, RecoveryKeepsTheNewestVersionPerKey) {
  open(/*segment_bytes=*/60);  // two records per segment
  int durable = 0;
  append("a", "a1", 10, &durable);
  append("b", "b1", 11, &durable);
  turn();
  append("a", "a2", 12, &durable);
  append("c", "c1", 13, &durable);
  append("b", "", 14, &durable, JournalRecord::kDel);
  append("a", "a-old", 9, &durable);  // older version written later (another worker's order)
  journal_->flush();
  ASSERT_TRUE(run_until([&] { return durable == 6; }));
  journal_.reset();
  const size_t before = segment_files(dir_).size();
  ASSERT_EQ(before, 3u);

  JournalLedger ledger(dir_);
  auto rec = recover_journal(&ledger);
  ASSERT_TRUE(rec.has_value()) << rec.error();
  EXPECT_EQ(rec->records, 6u);
  EXPECT_EQ(rec->max_version, 14u);
  EXPECT_EQ(rec->torn_bytes, 0u);
  EXPECT_EQ(rec->segments, before);
  std::map<std::string, RecoveredWrite> by_key;
  for (auto& w : rec->writes) by_key[w.key] = w;
  ASSERT_EQ(by_key.size(), 3u);
  EXPECT_EQ(by_key["a"].value, "a2");
  EXPECT_EQ(by_key["a"].version, 12u);
  EXPECT_EQ(by_key["b"].op, JournalRecord::kDel);
  EXPECT_EQ(by_key["c"].value, "c1");
  EXPECT_EQ(ledger.live_records(), 3u);
  // The first segment held only superseded records: gone already. New ids come after old ones.
  EXPECT_EQ(segment_files(dir_).size(), 2u);
  EXPECT_EQ(ledger.segments(), 2u);
  std::string path;
  const uint64_t next = ledger.new_segment(0, &path);
  for (auto& w : rec->writes) EXPECT_GT(next, w.segment);
  for (auto& w : rec->writes) ledger.release(w.segment);
  EXPECT_EQ(segment_files(dir_).size(), 0u);
}

TEST_P(JournalTest, RecoveryCutsATornTail) {
  std::string f;
  ASSERT_NO_FATAL_FAILURE(write_two_records(&f));
  std::string partial;
  policies::encode_journal_record(JournalRecord{JournalRecord::kSet, 3, "c", "c1"}, &partial);
  partial.resize(partial.size() - 3);  // the crash hit mid-append
  int fd = ::open(f.c_str(), O_WRONLY | O_APPEND);
  ASSERT_EQ(::write(fd, partial.data(), partial.size()), static_cast<ssize_t>(partial.size()));
  ::close(fd);

  JournalLedger ledger(dir_);
  auto rec = recover_journal(&ledger);
  ASSERT_TRUE(rec.has_value()) << rec.error();
  EXPECT_EQ(rec->writes.size(), 2u);
  EXPECT_EQ(rec->torn_bytes, partial.size());
  // Cut: a second recovery reads a clean segment and the same writes.
  JournalLedger again(dir_);
  auto rec2 = recover_journal(&again);
  ASSERT_TRUE(rec2.has_value()) << rec2.error();
  EXPECT_EQ(rec2->torn_bytes, 0u);
  EXPECT_EQ(rec2->writes.size(), 2u);
}

TEST_P(JournalTest, RecoveryRefusesCorruptionInTheMiddle) {
  std::string f;
  ASSERT_NO_FATAL_FAILURE(write_two_records(&f));
  int fd = ::open(f.c_str(), O_WRONLY);
  ASSERT_EQ(::pwrite(fd, "Z", 1, policies::kJournalHeaderBytes), 1);  // first record's key
  ::close(fd);
  JournalLedger ledger(dir_);
  auto rec = recover_journal(&ledger);
  ASSERT_FALSE(rec.has_value());
  EXPECT_EQ(rec.error(), f + ":0: corrupt journal record");
}

TEST_P(JournalTest, RecoveryCreatesTheDirectoryAndSeedsIds) {
  JournalLedger ledger(dir_ + "/deeper");
  auto rec = recover_journal(&ledger);
  ASSERT_TRUE(rec.has_value()) << rec.error();
  EXPECT_EQ(rec->segments, 0u);
  EXPECT_EQ(access((dir_ + "/deeper").c_str(), W_OK), 0);
}

// Not a benchmark, a sanity number: records keep arriving while each fdatasync runs, and go
// out together in the next group.
TEST_P(JournalTest, GroupCommitUnderLoad) {
  open();
  int durable = 0;
  constexpr int kRecords = 20000;
  constexpr int kPerIteration = 200;
  const std::string value(100, 'v');
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < kRecords;) {
    for (int j = 0; j < kPerIteration; ++j, ++i) {
      append("key:" + std::to_string(i), value, static_cast<uint64_t>(i) + 1, &durable);
    }
    journal_->flush();
    tw_->worker()->driver().run_once();
  }
  journal_->flush();
  ASSERT_TRUE(run_until([&] { return durable == kRecords; }));
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  std::printf("[ journal  ] %d records (%zu B each) in %.1f ms: %.0f records/s, %llu fdatasyncs\n",
              kRecords, policies::kJournalHeaderBytes + 10 + value.size(), ms,
              kRecords * 1000.0 / ms, static_cast<unsigned long long>(journal_->group_commits()));
  EXPECT_LT(journal_->group_commits(), static_cast<uint64_t>(kRecords / kPerIteration) + 2);
}

INSTANTIATE_TEST_SUITE_P(Drivers, JournalTest, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "Epoll" : "IoUring"; });

}  // namespace
}  // namespace strata::proxy
