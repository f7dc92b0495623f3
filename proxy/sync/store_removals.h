// L1's own expiries and evictions, published through the change seam of the worker whose
// operation caused them -- where L1 is the only tier that held the key (standalone strata, or a
// prefix kept out of Redis by its policy), since then the key is gone for everyone.
#pragma once

#include <string_view>

#include "cache/store.h"
#include "proxy/sync/change_seam.h"

namespace strata::proxy {

// Which keys live in L1 alone, when that depends on the key (policies with l2 = false).
class L1OnlyKeys {
 public:
  virtual bool l1_only(std::string_view key) const = 0;

 protected:
  ~L1OnlyKeys() = default;
};

class StoreRemovals final : public cache::RemovalObserver {
 public:
  // only: null when every key lives in L1 alone (no upstream).
  explicit StoreRemovals(const L1OnlyKeys* only) : only_(only) {}

  // Runs under the shard's lock: counts and hands the view to the seam's subscribers, which
  // copy what they keep and never touch the Store.
  void on_removed(std::string_view key, bool evicted) noexcept override {
    ChangeSeam* seam = thread_seam();
    if (seam == nullptr || (only_ != nullptr && !only_->l1_only(key))) return;
    seam->publish(key, evicted ? ChangeOp::kEvict : ChangeOp::kExpire, ChangeSource::kStore);
  }

 private:
  const L1OnlyKeys* only_;
};

}  // namespace strata::proxy
