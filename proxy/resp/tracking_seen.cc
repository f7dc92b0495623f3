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

}  // namespace strata::proxy
