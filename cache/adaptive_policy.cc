#include "cache/adaptive_policy.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

namespace strata::cache {

namespace {

[[noreturn]] void adaptive_fatal(const char* what) {
  std::fprintf(stderr, "adaptive eviction policy: %s\n", what);
  std::abort();
}

}  // namespace

AdaptivePolicy::AdaptivePolicy(const PolicyParams& params, AdaptiveConfig config)
    : params_(params), config_(std::move(config)) {
  if (config_.candidates.empty()) {
    for (std::string_view n : policy_names()) {
      if (n != "adaptive") config_.candidates.emplace_back(n);
    }
  }
  for (size_t i = 0; i < config_.candidates.size(); ++i) {
    if (config_.candidates[i] == config_.initial) live_index_ = i;
  }
  live_ = make_policy(config_.initial, params_);
  if (!live_) adaptive_fatal("unknown initial policy");
  if (config_.sample_shift >= 0) {
    shift_ = std::min<int>(config_.sample_shift, kSampleShiftMax);
    start_shadows();
  }
}

AdaptivePolicy::~AdaptivePolicy() = default;

double AdaptivePolicy::sample_rate() const {
  return shift_ < 0 ? 0 : 1.0 / double(uint64_t{1} << shift_);
}

void AdaptivePolicy::start_shadows() {
  if (shift_ < 0) {
    // Capacity in objects of the mean size seen so far; halve the rate while every shadow still
    // holds kShadowObjectsMin of them.
    const uint64_t mean_size =
        std::max<uint64_t>(1, inserted_bytes_ / std::max<uint64_t>(1, inserts_));
    const uint64_t objects = params_.capacity / mean_size;
    shift_ = 0;
    while (shift_ < int(kSampleShiftMaxAuto) && (objects >> (shift_ + 1)) >= kShadowObjectsMin) {
      ++shift_;
    }
  }
  const uint64_t scaled = std::max<uint64_t>(1, params_.capacity >> shift_);
  for (const auto& name : config_.candidates) {
    auto shadow = std::make_unique<ShadowSim>(name, scaled);
    if (!shadow->valid()) adaptive_fatal("unknown candidate policy");
    shadows_.push_back(std::move(shadow));
  }
  const uint64_t mean_size =
      std::max<uint64_t>(1, inserted_bytes_ / std::max<uint64_t>(1, inserts_));
  epoch_length_ = std::max<uint64_t>(config_.epoch_accesses_min, scaled / mean_size);
}

void AdaptivePolicy::set_slot_info(const SlotInfo* info) {
  if (resident_ != 0) adaptive_fatal("set_slot_info with resident entries");
  info_ = info;
  live_->set_slot_info(info);
  if (info_ != nullptr) std::vector<Meta>().swap(meta_);
}

void AdaptivePolicy::on_insert(SlotId id, uint64_t key_hash, uint64_t size) {
  if (info_ == nullptr) {
    if (id >= meta_.size()) meta_.resize(std::max<size_t>(size_t{id} + 1, meta_.size() * 2));
    meta_[id] = Meta{key_hash, size};
  }
  ++resident_;
  live_->on_insert(id, key_hash, size);
  ++inserts_;
  inserted_bytes_ += size;
  if (shift_ < 0) {
    if (inserts_ >= kRateProbeInserts) start_shadows();
    return;
  }
  count_access();
  if (!sampled_key(key_hash, shift_)) return;
  for (auto& s : shadows_) s->access(key_hash, size);
  if (++epoch_accesses_ >= epoch_length_) end_of_epoch();
}

void AdaptivePolicy::on_hit(SlotId id) {
  live_->on_hit(id);
  if (shift_ < 0) return;
  count_access();
  const uint64_t hash = hash_of(id);
  if (!sampled_key(hash, shift_)) return;
  const uint64_t size = size_of(id);
  for (auto& s : shadows_) s->access(hash, size);
  if (++epoch_accesses_ >= epoch_length_) end_of_epoch();
}

void AdaptivePolicy::on_resize(SlotId id, uint64_t old_size, uint64_t new_size) {
  live_->on_resize(id, old_size, new_size);
  if (info_ == nullptr) meta_[id].size = new_size;
  if (shift_ < 0) return;
  const uint64_t hash = hash_of(id);
  if (!sampled_key(hash, shift_)) return;
  for (auto& s : shadows_) s->write(hash, new_size);
}

void AdaptivePolicy::on_erase(SlotId id) {
  live_->on_erase(id);
  --resident_;
  if (shift_ < 0) return;
  const uint64_t hash = hash_of(id);
  if (!sampled_key(hash, shift_)) return;
  for (auto& s : shadows_) s->erase(hash);
}

SlotId AdaptivePolicy::evict() {
  const SlotId victim = live_->evict();
  if (victim != kNoSlot) --resident_;
  return victim;
}

size_t AdaptivePolicy::metadata_bytes_per_entry() const {
  // The live policy changes; charge the most any candidate would need.
  size_t most = live_->metadata_bytes_per_entry();
  for (const auto& name : config_.candidates) {
    auto p = make_policy(name, params_);
    if (!p) continue;
    p->set_slot_info(info_);  // as it would run here
    most = std::max(most, p->metadata_bytes_per_entry());
  }
  return (info_ == nullptr ? sizeof(Meta) : 0) + most;
}

void AdaptivePolicy::end_of_epoch() {
  epoch_accesses_ = 0;
  if (cooldown_ > 0) --cooldown_;
  // All shadows share the denominator, so the ranking is by sampled misses alone.
  const double expected = window_all_accesses_ * sample_rate();
  auto ratio = [&](size_t i) { return double(shadows_[i]->window().misses) / expected; };
  size_t best = 0;
  for (size_t i = 1; i < shadows_.size(); ++i) {
    if (ratio(i) < ratio(best)) best = i;
  }
  const double best_ratio = ratio(best);
  const double live_ratio = live_index_ < shadows_.size() ? ratio(live_index_) : 2.0;
  const double margin = std::max(kSwitchMarginAbs, kSwitchMarginRel * live_ratio);
  if (best != live_index_ && cooldown_ == 0 && best_ratio < live_ratio - margin) switch_to(best);
  for (auto& s : shadows_) s->decay_window();
  window_all_accesses_ /= 2;
}

void AdaptivePolicy::switch_to(size_t candidate) {
  // Drain the old policy in its eviction order, least valuable first, and replay the residents
  // into the new one in that order so the most valuable end up most recent.
  std::vector<SlotId> order;
  order.reserve(resident_);
  for (SlotId v; order.size() < resident_ && (v = live_->evict()) != kNoSlot;) order.push_back(v);
  if (order.size() != resident_) adaptive_fatal("live policy lost track of resident entries");
  live_ = make_policy(config_.candidates[candidate], params_);
  live_->set_slot_info(info_);
  for (SlotId v : order) live_->on_insert(v, hash_of(v), size_of(v));
  live_index_ = candidate;
  cooldown_ = kCooldownEpochs;
  ++switches_;
}

std::vector<ShadowEstimate> AdaptivePolicy::shadow_estimates() const {
  std::vector<ShadowEstimate> out;
  const double expected = double(all_accesses_) * sample_rate();
  const double window_expected = window_all_accesses_ * sample_rate();
  for (const auto& s : shadows_) {
    out.push_back(ShadowEstimate{
        s->policy_name(), expected > 0 ? std::min(1.0, double(s->total().misses) / expected) : 0,
        window_expected > 0 ? std::min(1.0, double(s->window().misses) / window_expected) : 0,
        s->total().accesses});
  }
  return out;
}

}  // namespace strata::cache
