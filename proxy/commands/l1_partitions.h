// Text views of the L1 partitions (cache::Store::partition_stats): INFO lines, and the header
// of STRATA HITRATE. A partition is the default L1, or a prefix with l1_bytes in the policy file.
#pragma once

#include <string>
#include <string_view>

#include "cache/store.h"

namespace strata::proxy {

// INFO's Strata section: one "l1_partition:<prefix>,capacity=...,live=...\r\n" per partition,
// nothing when the Store has only the default partition.
std::string partition_info_lines(const cache::Store& store);
// STRATA HITRATE: a table of the partitions (all, or the one whose prefix is `prefix`); "" when
// there is none to show.
std::string partition_report(const cache::Store& store, std::string_view prefix);

}  // namespace strata::proxy
