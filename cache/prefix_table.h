// A table keyed by key prefix: longest prefix wins, with a default for keys no prefix matches.
// The policy table (policies/), the Store's partition routing and the hit-rate monitor's groups
// all pick by it. Decides; never acts (no sockets, no threads).
#pragma once

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

namespace strata::cache {

template <class Policy>
class PrefixTable {
 public:
  explicit PrefixTable(Policy fallback) : default_(std::move(fallback)) {}

  // Adds or replaces the policy for `prefix`.
  void set(std::string prefix, Policy p) {
    for (auto& e : entries_) {
      if (e.prefix == prefix) {
        e.policy = std::move(p);
        return;
      }
    }
    entries_.push_back({std::move(prefix), std::move(p)});
    // Longest first, so the first match is the longest one.
    std::stable_sort(entries_.begin(), entries_.end(), [](const Entry& a, const Entry& b) {
      return a.prefix.size() > b.prefix.size();
    });
  }

  const Policy& match(std::string_view key) const {
    for (const auto& e : entries_) {
      if (key.starts_with(e.prefix)) return e.policy;
    }
    return default_;
  }
  // The prefix that matched `key`, or "" for the default.
  std::string_view match_prefix(std::string_view key) const {
    for (const auto& e : entries_) {
      if (key.starts_with(e.prefix)) return e.prefix;
    }
    return {};
  }
  const Policy& fallback() const { return default_; }
  size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    std::string prefix;
    Policy policy;
  };
  std::vector<Entry> entries_;
  Policy default_;
};

}  // namespace strata::cache
