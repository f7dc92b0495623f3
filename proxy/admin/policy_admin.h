// Admin commands over RESP for the policy layer (STRATA POLICY LIST|GET|SET, STRATA RELOAD,
// STRATA FLUSH-BEHIND, STRATA DEADLETTER LIST|RETRY|DROP) and INFO's "# Policies" lines.
#pragma once

#include <string>

#include <cstdint>

#include "proxy/commands/command.h"

namespace strata::proxy {

class ReplySink;
class Tiers;
struct TierShared;

// True when `args` (STRATA ...) was one of these commands and has been answered.
// shared: null when no policies are configured; tiers: null without [postgres].
bool strata_policy_admin(ReplySink* c, TierShared* shared, Tiers* tiers, int64_t now_ms,
                         Args args);
std::string policies_info(TierShared& ts);

}  // namespace strata::proxy
