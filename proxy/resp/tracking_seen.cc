#include "proxy/resp/tracking_seen.h"

#include <bit>

namespace strata::proxy {

TrackingSeen::TrackingSeen() { reset(kBucketsMin); }

void TrackingSeen::reset(size_t buckets) {
  buckets_ = std::make_unique<Bucket[]>(buckets);
  mask_ = buckets - 1;
  used_ = 0;
}

int TrackingSeen::acquire() {
  if (free_ == 0) return -1;
  const int client = std::countr_zero(free_);
  free_ &= ~(uint64_t{1} << client);
  return client;
}

void TrackingSeen::release(int client) {
  forget_all(client);
  free_ |= uint64_t{1} << client;
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
  // A new version: the older way makes room (its readers fall back to their TrackedKeys).
  if (b.way[1].version == 0) ++used_;
  b.way[1] = b.way[0];
  b.way[0] = Way{version, bit};
  // Past a version per two buckets, more than a few in a hundred keys would share a bucket
  // with two others and keep pushing each other out: twice the buckets, started over.
  if (used_ * 2 > buckets() && buckets() < kBucketsMax) reset(buckets() * 2);
}

void TrackingSeen::forget(int client, uint64_t hash) {
  Bucket& b = buckets_[hash & mask_];
  const uint64_t keep = ~(uint64_t{1} << client);
  b.way[0].clients &= keep;
  b.way[1].clients &= keep;
}

void TrackingSeen::forget_all(int client) {
  const uint64_t keep = ~(uint64_t{1} << client);
  for (size_t i = 0; i <= mask_; ++i) {
    buckets_[i].way[0].clients &= keep;
    buckets_[i].way[1].clients &= keep;
  }
}

}  // namespace strata::proxy
