// The registry of eviction policies: the one place that maps a name to a constructor.
#include <array>

#include "cache/adaptive_policy.h"
#include "cache/arc_policy.h"
#include "cache/clock_policy.h"
#include "cache/eviction_policy.h"
#include "cache/fifo_policy.h"
#include "cache/lirs_policy.h"
#include "cache/lru_policy.h"
#include "cache/s3fifo_policy.h"
#include "cache/sieve_policy.h"
#include "cache/wtinylfu_policy.h"

namespace strata::cache {
namespace {

template <class Policy>
std::unique_ptr<EvictionPolicy> construct(const PolicyParams& params) {
  return std::make_unique<Policy>(params);
}

struct Entry {
  std::string_view name;
  std::unique_ptr<EvictionPolicy> (*make)(const PolicyParams&);
};

// clang-format off
constexpr std::array kPolicies = {
    Entry{"s3fifo", &construct<S3FifoPolicy>},
    Entry{"lru", &construct<LruPolicy>},
    Entry{"fifo", &construct<FifoPolicy>},
    Entry{"clock", &construct<ClockPolicy>},
    Entry{"sieve", &construct<SievePolicy>},
    Entry{"wtinylfu", &construct<WTinyLfuPolicy>},
    Entry{"arc", &construct<ArcPolicy>},
    Entry{"lirs", &construct<LirsPolicy>},
    Entry{"adaptive", &construct<AdaptivePolicy>},  // shadows of all the above; keep it last
};
// clang-format on

constexpr std::array<std::string_view, kPolicies.size()> kNames = [] {
  std::array<std::string_view, kPolicies.size()> names{};
  for (size_t i = 0; i < kPolicies.size(); ++i) names[i] = kPolicies[i].name;
  return names;
}();

}  // namespace

std::unique_ptr<EvictionPolicy> make_policy(std::string_view name, const PolicyParams& params) {
  for (const Entry& e : kPolicies) {
    if (e.name == name) return e.make(params);
  }
  return nullptr;
}

std::span<const std::string_view> policy_names() { return kNames; }

}  // namespace strata::cache
