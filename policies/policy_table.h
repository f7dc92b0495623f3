// The per-prefix policy table is cache::PrefixTable<Policy> (longest prefix wins).
#pragma once

#include "cache/prefix_table.h"

namespace strata::policies {

using cache::PrefixTable;

}  // namespace strata::policies
