// Start-up only (blocking libpq on the main thread, before any worker runs): drops recovered
// journal writes that PostgreSQL already holds at their version or a newer one. A segment can
// outlive the segment of a newer write of the same key; without this, the older record would
// sit in the queue as "pending" (and be read as such) until its flush found it superseded.
#pragma once

#include <string>
#include <vector>

#include "proxy/journal/journal.h"
#include "proxy/tiers/policy_registry.h"

namespace strata::proxy {

struct JournalFilterResult {
  size_t dropped = 0;
  bool checked = false;  // false: PostgreSQL was unreachable, every write was kept
  std::string note;      // why not, for the log
};

JournalFilterResult drop_applied_writes(const policies::PostgresConfig& pg,
                                        const PolicySnapshot& snap,
                                        std::vector<RecoveredWrite>* writes, JournalLedger* ledger);

}  // namespace strata::proxy
