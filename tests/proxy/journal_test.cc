// The write-behind journal on both drivers: durable callbacks, group commit, rotation into
// pre-allocated (zero-filled or recycled) segments, the ledger retiring sealed segments,
// recovery (newest version per key, zero and stale tails, torn tail, corruption).
#include "proxy/journal/journal.h"

#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "tests/proxy/test_loop.h"

namespace strata::proxy {
namespace {

using policies::JournalRecord;
using testing::TestLoop;

std::vector<std::string> files_named(const std::string& dir, std::string_view prefix) {
  std::vector<std::string> out;
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d)) {
      if (std::string(e->d_name).starts_with(prefix)) out.push_back(dir + "/" + e->d_name);
    }
    closedir(d);
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> segment_files(const std::string& dir) { return files_named(dir, "seg-"); }

std::string segment_path(const std::string& dir, uint64_t id) {
  char name[64];
  snprintf(name, sizeof name, "/seg-%016llu-w0.log", static_cast<unsigned long long>(id));
  return dir + name;
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
    tw_ = std::make_unique<TestLoop>(GetParam());
    ASSERT_TRUE(tw_->ok()) << tw_->error();
  }
  void TearDown() override {
    journal_.reset();
    ledger_.reset();
    tw_.reset();
    std::system(("rm -rf " + root_).c_str());
  }

  // fdatasync off: growing segments only (no spares), so rotation points are exact.
  void open(uint64_t segment_bytes = 1 << 20, bool fdatasync = true, uint32_t interval_ms = 0) {
    ledger_ = std::make_unique<JournalLedger>(dir_);
    auto rec = recover_journal(ledger_.get());
    ASSERT_TRUE(rec.has_value()) << rec.error();
    policies::JournalConfig c;
    c.dir = dir_;
    c.segment_bytes = segment_bytes;
    c.fdatasync = fdatasync;
    c.fdatasync_interval_ms = interval_ms;
    journal_ = std::make_unique<Journal>(tw_->loop(), ledger_.get(), c);
    std::string err;
    ASSERT_TRUE(journal_->open(&err)) << err;
  }

  // The first write goes to the growing first segment and asks for a spare; once it is ready,
  // the next flush moves later appends into it. Returns the spare's id.
  uint64_t warm_up() {
    int durable = 0;
    append("warm", "up", 1, &durable);
    journal_->flush();
    EXPECT_TRUE(run_until([&] { return durable == 1; }));
    ledger_->settle();
    turn();
    int more = 0;
    const uint64_t seg = append("warm2", "up", 2, &more);
    journal_->flush();
    EXPECT_TRUE(run_until([&] { return more == 1; }));
    return seg;
  }

  // One loop iteration as the worker runs it: events, then the journal's flush.
  void turn() {
    tw_->loop()->driver().run_once();
    journal_->flush();
  }
  bool run_until(const std::function<bool()>& done) {
    return tw_->run_until(done, 5000, [&] { journal_->flush(); });
  }

  // Appends key=value@version; *durable counts completions (1000 per failure).
  uint64_t append(std::string_view key, std::string_view value, uint64_t version, int* durable,
                  JournalRecord::Op op = JournalRecord::kSet) {
    JournalRecord r{op, version, key, value};
    return journal_->append(r, [durable](bool ok) { *durable += ok ? 1 : 1000; });
  }

  // Two durable records in one pre-allocated segment, then the journal closed (as at a crash).
  void write_two_records(std::string* segment, uint64_t* end) {
    open();
    const uint64_t spare = warm_up();
    int durable = 0;
    EXPECT_EQ(append("a", "a1", 3, &durable), spare);
    append("b", "b1", 4, &durable);
    journal_->flush();
    ASSERT_TRUE(run_until([&] { return durable == 2; }));
    journal_.reset();
    ledger_.reset();
    *segment = segment_path(dir_, spare);
    *end = 3 * policies::kJournalHeaderBytes + 7 + 3 + 3;  // warm2, a, b
  }

  std::map<std::string, RecoveredWrite> recover_by_key(JournalRecovery* out = nullptr) {
    JournalLedger ledger(dir_);
    auto rec = recover_journal(&ledger);
    EXPECT_TRUE(rec.has_value()) << rec.error();
    std::map<std::string, RecoveredWrite> by_key;
    if (!rec) return by_key;
    for (auto& w : rec->writes) by_key[w.key] = w;
    if (out != nullptr) *out = std::move(*rec);
    return by_key;
  }

  std::string root_, dir_;
  std::unique_ptr<TestLoop> tw_;
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
  EXPECT_LE(ledger_->segments(), 2u);  // and maybe the spare, if it became ready meanwhile
  const std::string data = slurp(segment_path(dir_, seg));  // the first, growing segment
  EXPECT_EQ(data.size(), journal_->bytes_written());
  JournalRecord r;
  size_t used = 0;
  ASSERT_EQ(policies::decode_journal_record(data, seg, &r, &used),
            policies::JournalDecode::kRecord);
  EXPECT_EQ(r.key, "k1");
  EXPECT_EQ(r.value, "v1");
}

// fdatasync_interval_ms: the OK goes out once the write is in the page cache; the fdatasync
// follows in the background, at most one per interval (a rotated segment's aside), and none
// while nothing new was written.
TEST_P(JournalTest, IntervalModeAcknowledgesFirstAndSyncsInTheBackground) {
  open(1 << 20, /*fdatasync=*/true, /*interval_ms=*/100);
  warm_up();  // into the spare; the first, growing segment is synced at once and closed
  auto idle = [&](int ms) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    run_until([&] { return std::chrono::steady_clock::now() > end; });
  };
  idle(300);
  const uint64_t synced = journal_->background_syncs();
  EXPECT_GE(synced, 1u);

  int durable = 0;
  append("k1", "v1", 1, &durable);
  journal_->flush();
  ASSERT_TRUE(run_until([&] { return durable == 1; }));
  EXPECT_EQ(journal_->background_syncs(), synced);  // acknowledged before its fdatasync
  ASSERT_TRUE(run_until([&] { return journal_->background_syncs() == synced + 1; }));
  const auto t1 = std::chrono::steady_clock::now();

  append("k2", "v2", 2, &durable);
  journal_->flush();
  ASSERT_TRUE(run_until([&] { return durable == 2; }));
  ASSERT_TRUE(run_until([&] { return journal_->background_syncs() == synced + 2; }));
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t1).count();
  EXPECT_GE(ms, 80.0);  // not before the interval since k1's fdatasync started
  idle(300);
  EXPECT_EQ(journal_->background_syncs(), synced + 2);
  EXPECT_EQ(durable, 2);  // no failure reported
  auto by_key = recover_by_key();
  EXPECT_EQ(by_key.count("k1") + by_key.count("k2"), 2u);
}

// Recovery takes a gap followed by records more than kJournalTornWindowBytes further on for
// corruption, so however long the interval, a segment never holds more than that unsynced:
// 3 MiB appended at once go out with syncs in between, long before the minute is up.
TEST_P(JournalTest, IntervalModeSyncsEarlyRatherThanExceedTheTornWindow) {
  open(16 << 20, /*fdatasync=*/true, /*interval_ms=*/60000);
  int durable = 0;
  constexpr int kRecords = 3072;
  const std::string value(1024 - policies::kJournalHeaderBytes - 8, 'v');
  for (int i = 0; i < kRecords; ++i) {
    char key[16];
    snprintf(key, sizeof key, "k%07d", i);
    append(key, value, static_cast<uint64_t>(i) + 1, &durable);
  }
  journal_->flush();
  ASSERT_TRUE(run_until([&] { return durable == kRecords; }));
  EXPECT_GE(journal_->background_syncs(), 1u);
  EXPECT_GE(journal_->group_commits(), 3u);
}

TEST_P(JournalTest, LaterAppendsOverwriteAPreallocatedSegment) {
  constexpr uint64_t kBytes = 64 << 10;
  open(kBytes);
  const uint64_t spare = warm_up();
  EXPECT_EQ(ledger_->segments(), 2u);
  int durable = 0;
  for (int i = 0; i < 50; ++i) {
    EXPECT_EQ(append("k" + std::to_string(i), std::string(300, 'v'), 10 + i, &durable), spare);
    if (i % 7 == 0) turn();
  }
  journal_->flush();
  ASSERT_TRUE(run_until([&] { return durable == 50; }));
  const std::string data = slurp(segment_path(dir_, spare));
  ASSERT_EQ(data.size(), kBytes);  // written in place: the file never grows
  size_t off = 0;
  int records = 0;
  JournalRecord r;
  size_t used = 0;
  while (policies::decode_journal_record(std::string_view(data).substr(off), spare, &r, &used) ==
         policies::JournalDecode::kRecord) {
    off += used;
    ++records;
  }
  EXPECT_EQ(records, 51);  // warm2 and the 50
  EXPECT_EQ(data.find_first_not_of('\0', off), std::string::npos);
  journal_.reset();
  ledger_.reset();
  JournalRecovery rec;
  auto by_key = recover_by_key(&rec);
  EXPECT_EQ(by_key.size(), 52u);
  EXPECT_EQ(rec.torn_bytes, 0u);
  EXPECT_EQ(by_key["k49"].version, 59u);
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
  EXPECT_LE(journal_->group_commits(), 23u);
}

// Several commits in flight at once; their records are acknowledged in append order all the
// same (recovery stops at the first gap, so a later commit may not be acknowledged first).
TEST_P(JournalTest, CommitsOverlapButCompleteInOrder) {
  open();
  std::vector<int> acked;
  constexpr int kRecords = 60;
  for (int i = 0; i < kRecords; ++i) {
    const std::string key = "k" + std::to_string(i);
    const std::string value(100, 'v');
    JournalRecord r{JournalRecord::kSet, static_cast<uint64_t>(i + 1), key, value};
    journal_->append(r, [&acked, i](bool ok) { acked.push_back(ok ? i : -1 - i); });
    journal_->flush();  // no completions are read in between: up to the limit in flight
  }
  ASSERT_TRUE(run_until([&] { return acked.size() == kRecords; }));
  for (int i = 0; i < kRecords; ++i) EXPECT_EQ(acked[static_cast<size_t>(i)], i);
  EXPECT_LT(journal_->group_commits(), static_cast<uint64_t>(kRecords));  // later ones grouped
}

TEST_P(JournalTest, AGroupCommitWritesAtMostMaxGroupBytes) {
  open(16 << 20, /*fdatasync=*/false);
  int durable = 0;
  const std::string value(100 << 10, 'v');
  constexpr int kRecords = 25;  // 2.5 MB appended in one iteration
  for (int i = 0; i < kRecords; ++i) append("k" + std::to_string(i), value, i + 1, &durable);
  journal_->flush();
  ASSERT_TRUE(run_until([&] { return durable == kRecords; }));
  EXPECT_EQ(journal_->group_commits(), 3u);
}

TEST_P(JournalTest, RotationSealsSegmentsAndReleaseRetiresThem) {
  open(/*segment_bytes=*/256);
  int durable = 0;
  std::vector<uint64_t> segs;
  for (int i = 0; i < 40; ++i) {
    segs.push_back(append("key" + std::to_string(i), std::string(40, 'v'), i + 1, &durable));
    if (i % 3 == 0) {
      turn();
      ledger_->settle();
    }
  }
  journal_->flush();
  ASSERT_TRUE(run_until([&] { return durable == 40; }));
  turn();  // retire drained segments
  EXPECT_GT(std::set<uint64_t>(segs.begin(), segs.end()).size(), 5u);
  EXPECT_EQ(ledger_->live_records(), 40u);
  for (const auto& f : segment_files(dir_)) EXPECT_LE(slurp(f).size(), 256u + 80u) << f;
  // Everything flushed to PostgreSQL: every sealed segment goes (the first few are kept for
  // reuse as free-*.log); the open one stays.
  for (uint64_t s : segs) ledger_->release(s);
  ledger_->settle();
  EXPECT_EQ(ledger_->live_records(), 0u);
  EXPECT_EQ(ledger_->segments(), 1u);
  EXPECT_EQ(files_named(dir_, "free-").size(), ledger_->free_segments());
  EXPECT_GE(ledger_->free_segments() + 1, kJournalFreeSegmentsMax);  // one may be a spare now
  EXPECT_LE(segment_files(dir_).size(), 2u);  // the open one, and maybe a spare
}

// Released segments come back as spares (renamed, not zero-filled again); their old records
// stay in the file behind the new ones, and recovery must stop at them.
TEST_P(JournalTest, RecycledSegmentsNeverReplayTheirOldRecords) {
  open(/*segment_bytes=*/4096);
  const uint64_t first_spare = warm_up();  // kept by warm2, never released
  int durable = 0;
  std::vector<uint64_t> segs;
  const std::string value(200, 'o');
  constexpr int kRecords = 150;
  constexpr int kLive = 20;  // the newest: not flushed yet
  for (int i = 0; i < kRecords; ++i) {
    segs.push_back(append("old" + std::to_string(i), value, 10 + i, &durable));
    turn();
    ASSERT_TRUE(run_until([&] { return durable == i + 1; }));
    ledger_->settle();
    if (i >= kLive) ledger_->release(segs[static_cast<size_t>(i - kLive)]);  // flushed meanwhile
  }
  EXPECT_GE(ledger_->recycled_segments(), 3u);
  EXPECT_LE(files_named(dir_, "free-").size(), kJournalFreeSegmentsMax);
  journal_.reset();
  ledger_.reset();
  JournalRecovery rec;
  auto by_key = recover_by_key(&rec);
  EXPECT_EQ(rec.torn_bytes, 0u);
  for (int i = 0; i < kRecords; ++i) {
    const std::string k = "old" + std::to_string(i);
    if (i >= kRecords - kLive) {
      EXPECT_TRUE(by_key.contains(k)) << k;
    } else if (by_key.contains(k)) {
      // Released records come back only while their segment still holds live ones.
      const uint64_t seg = by_key[k].segment;
      EXPECT_TRUE(seg == first_spare || seg >= segs[kRecords - kLive]) << k << " in " << seg;
    }
  }
  for (auto& [k, w] : by_key) EXPECT_EQ(w.value, k.starts_with("old") ? value : "up") << k;
}

TEST_P(JournalTest, RecoveryKeepsTheNewestVersionPerKey) {
  open(/*segment_bytes=*/80, /*fdatasync=*/false);  // two records per segment
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
  ledger_.reset();
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
  // The first segment held only superseded records: retired already (kept for reuse). New
  // ids come after old ones.
  EXPECT_EQ(segment_files(dir_).size(), 2u);
  EXPECT_EQ(files_named(dir_, "free-").size(), 1u);
  EXPECT_EQ(ledger.segments(), 2u);
  std::string path;
  const uint64_t next = ledger.new_segment(0, &path);
  for (auto& w : rec->writes) EXPECT_GT(next, w.segment);
  for (auto& w : rec->writes) ledger.release(w.segment);
  EXPECT_EQ(segment_files(dir_).size(), 0u);
  EXPECT_EQ(files_named(dir_, "free-").size(), 3u);
}

TEST_P(JournalTest, RecoveryIgnoresATornTail) {
  std::string f;
  uint64_t end = 0;
  ASSERT_NO_FATAL_FAILURE(write_two_records(&f, &end));
  const uint64_t id = std::stoull(f.substr(f.rfind("seg-") + 4, 16));
  std::string partial;
  policies::encode_journal_record(JournalRecord{JournalRecord::kSet, 5, "c", "c1"}, id, &partial);
  partial.resize(partial.size() - 3);  // the crash hit mid-write
  int fd = ::open(f.c_str(), O_WRONLY);
  ASSERT_EQ(::pwrite(fd, partial.data(), partial.size(), static_cast<off_t>(end)),
            static_cast<ssize_t>(partial.size()));
  ::close(fd);
  for (int round = 0; round < 2; ++round) {  // the same again: recovery changes nothing
    JournalRecovery rec;
    auto by_key = recover_by_key(&rec);
    EXPECT_EQ(by_key.size(), 4u);  // warm, warm2, a, b
    EXPECT_EQ(by_key["b"].value, "b1");
    EXPECT_FALSE(by_key.contains("c"));
    EXPECT_EQ(rec.torn_bytes, partial.size() + 3);  // the length its header claims
  }
}

// A bad record followed by valid ones of the same segment is corruption only when they lie
// beyond what the commits in flight at a crash can have written; closer ones are theirs.
TEST_P(JournalTest, RecoveryRefusesCorruptionInTheMiddle) {
  open(8 << 20);
  const uint64_t spare = warm_up();
  int durable = 0;
  const std::string value(100 << 10, 'v');
  constexpr int kRecords = 55;  // 5.5 MB in 55 commits, more than kJournalTornWindowBytes
  static_assert(kRecords * (100 << 10) > policies::kJournalTornWindowBytes + (1 << 20));
  for (int i = 0; i < kRecords; ++i) {  // keys k10..k64
    append("k" + std::to_string(10 + i), value, 10 + i, &durable);
    journal_->flush();
    ASSERT_TRUE(run_until([&] { return durable == i + 1; }));
  }
  journal_.reset();
  ledger_.reset();
  const std::string f = segment_path(dir_, spare);
  const size_t rec_bytes = policies::kJournalHeaderBytes + 3 + value.size();
  const size_t first = policies::kJournalHeaderBytes + 5 + 2;  // warm2's record comes first
  // The last record damaged: within one group of the end, read as torn.
  int fd = ::open(f.c_str(), O_WRONLY);
  const off_t last_key =
      static_cast<off_t>(first + (kRecords - 1) * rec_bytes + policies::kJournalHeaderBytes);
  ASSERT_EQ(::pwrite(fd, "Z", 1, last_key), 1);
  {
    JournalRecovery rec;
    auto by_key = recover_by_key(&rec);
    EXPECT_FALSE(by_key.contains("k64"));
    EXPECT_TRUE(by_key.contains("k63"));
    EXPECT_EQ(rec.torn_bytes, rec_bytes);
  }
  ASSERT_EQ(::pwrite(fd, "k", 1, last_key), 1);
  // The first one damaged: valid records follow more than a group's bytes later.
  ASSERT_EQ(::pwrite(fd, "Z", 1, static_cast<off_t>(first + policies::kJournalHeaderBytes)), 1);
  ::close(fd);
  JournalLedger ledger(dir_);
  auto rec = recover_journal(&ledger);
  ASSERT_FALSE(rec.has_value());
  const std::string want = f + ":" + std::to_string(first) + ": corrupt journal record";
  EXPECT_EQ(rec.error().substr(0, want.size()), want) << rec.error();
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
  open(8 << 20);
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
    tw_->loop()->driver().run_once();
  }
  journal_->flush();
  ASSERT_TRUE(run_until([&] { return durable == kRecords; }));
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  std::printf("[ journal  ] %d records (%zu B each) in %.1f ms: %.0f records/s, %llu fdatasyncs\n",
              kRecords, policies::kJournalHeaderBytes + 10 + value.size(), ms,
              kRecords * 1000.0 / ms, static_cast<unsigned long long>(journal_->group_commits()));
  // +1 when the growing first segment gives way to the spare with records pending.
  EXPECT_LT(journal_->group_commits(), static_cast<uint64_t>(kRecords / kPerIteration) + 3);
}

INSTANTIATE_TEST_SUITE_P(Drivers, JournalTest, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "Epoll" : "IoUring"; });

}  // namespace
}  // namespace strata::proxy
