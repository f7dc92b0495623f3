// Admin commands over RESP for the policy layer (STRATA POLICY LIST|GET|SET, STRATA RELOAD,
// STRATA FLUSH-BEHIND, STRATA DEADLETTER LIST|RETRY|DROP) and INFO's "# Policies" lines.
#pragma once

#include <string>

#include "proxy/commands/command.h"

namespace strata::proxy {

class ClientConn;
class Worker;
struct TierShared;

// True when `args` (STRATA ...) was one of these commands and has been answered.
bool strata_policy_admin(ClientConn* c, Worker* w, Args args);
std::string policies_info(TierShared& ts);

}  // namespace strata::proxy
