#include "proxy/resp/tracking_seen.h"

#include <sys/mman.h>

#include <cstdint>
#include <new>

namespace strata::proxy {

TrackingSeen::TrackingSeen() { reset(kBucketsMin); }

namespace {
constexpr size_t kHugePage = size_t{2} << 20;
}  // namespace

void TrackingSeen::Free::operator()(Bucket* b) const {
  if (b != nullptr) munmap(b, bytes);
}

void TrackingSeen::reset(size_t buckets) {
  released_ = 0;  // no way holds a bit any more
  // Every read touches a bucket of the whole table: past 1 MiB, in huge pages where the kernel
  // gives them (one TLB entry, not 256-1024).
  const size_t bytes = buckets * sizeof(Bucket);
  const bool huge = bytes >= kHugePage / 2;
  const size_t map = huge ? (bytes + kHugePage - 1) / kHugePage * kHugePage + kHugePage : bytes;
  void* p = mmap(nullptr, map, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  char* base = static_cast<char*>(p);
  size_t len = map;
  if (huge) {
    // Aligned to 2 MiB: the slack before and after goes back.
    const uintptr_t a = (reinterpret_cast<uintptr_t>(base) + kHugePage - 1) & ~(kHugePage - 1);
    char* aligned = reinterpret_cast<char*>(a);
    len = (bytes + kHugePage - 1) / kHugePage * kHugePage;
    if (aligned > base) munmap(base, aligned - base);
    if (aligned + len < base + map) munmap(aligned + len, base + map - (aligned + len));
    base = aligned;
    madvise(base, len, MADV_HUGEPAGE);
  }
  Bucket* b = reinterpret_cast<Bucket*>(base);
  for (size_t i = 0; i < buckets; ++i) new (b + i) Bucket;
  buckets_ = std::unique_ptr<Bucket[], Free>(b, Free{len});
  mask_ = buckets - 1;
  used_ = 0;
}

void TrackingSeen::note(int client, uint64_t hash, uint64_t version) {
  if (version == 0) return;
  Bucket& b = buckets_[hash & mask_];
  const uint64_t bit = uint64_t{1} << client;
  for (Way& w : b.way) {
    if (w.version == version) {
      w.clients |= bit;
      return;
    }
  }
  // A new version: the oldest way makes room (its readers fall back to their TrackedKeys).
  if (b.way[kWays - 1].version == 0) ++used_;
  for (int i = kWays - 1; i > 0; --i) b.way[i] = b.way[i - 1];
  b.way[0] = Way{version, bit};
  // Past a version per two buckets, about one key in 500 would share its bucket with four
  // others and keep pushing them out: twice the buckets, started over.
  if (used_ * 2 > buckets() && buckets() < kBucketsMax) reset(buckets() * 2);
}

void TrackingSeen::forget(int client, uint64_t hash) {
  const uint64_t keep = ~(uint64_t{1} << client);
  for (Way& w : buckets_[hash & mask_].way) w.clients &= keep;
}

void TrackingSeen::forget_all(int client) {
  const uint64_t keep = ~(uint64_t{1} << client);
  for (size_t i = 0; i <= mask_; ++i) {
    for (Way& w : buckets_[i].way) w.clients &= keep;
  }
}

void TrackingSeen::claim(int client) {
  if ((released_ & (uint64_t{1} << client)) == 0) return;
  const uint64_t keep = ~released_;
  for (size_t i = 0; i <= mask_; ++i) {
    for (Way& w : buckets_[i].way) w.clients &= keep;
  }
  released_ = 0;
}

}  // namespace strata::proxy
