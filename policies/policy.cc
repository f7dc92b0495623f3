#include "policies/policy.h"

#include <array>
#include <utility>

namespace strata::policies {
namespace {

// The order is the one error messages list ("is not one of ...").
constexpr std::array<std::pair<Strategy, std::string_view>, 5> kStrategyNames = {{
    {Strategy::kWriteThrough, "write-through"},
    {Strategy::kWriteBehind, "write-behind"},
    {Strategy::kWriteAround, "write-around"},
    {Strategy::kRefreshAhead, "refresh-ahead"},
    {Strategy::kCache, "cache"},
}};

}  // namespace

namespace {
constexpr std::pair<SyncMode, std::string_view> kSyncNames[] = {
    {SyncMode::kAuto, "auto"},
    {SyncMode::kOff, "off"},
    {SyncMode::kInvalidate, "invalidate"},
    {SyncMode::kUpdate, "update"},
};
}  // namespace

std::string_view sync_mode_name(SyncMode m) {
  for (const auto& [mode, name] : kSyncNames) {
    if (mode == m) return name;
  }
  return "unknown";
}

bool parse_sync_mode(std::string_view s, SyncMode* out) {
  for (const auto& [mode, name] : kSyncNames) {
    if (name == s) {
      *out = mode;
      return true;
    }
  }
  return false;
}

std::string_view strategy_name(Strategy s) {
  for (const auto& [strategy, name] : kStrategyNames) {
    if (strategy == s) return name;
  }
  return "unknown";
}

bool parse_strategy(std::string_view s, Strategy* out) {
  for (const auto& [strategy, name] : kStrategyNames) {
    if (name == s) {
      *out = strategy;
      return true;
    }
  }
  return false;
}

std::string strategy_names_list() {
  std::string list;
  for (const auto& [strategy, name] : kStrategyNames) {
    if (!list.empty()) list += ", ";
    list += name;
  }
  return list;
}

}  // namespace strata::policies
