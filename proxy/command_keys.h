// Which arguments of a command are keys, from the command table's key positions (and numkeys
// for the scripting commands), so forwarded writes can invalidate exactly what they touch.
#pragma once

#include <string_view>
#include <vector>

#include "proxy/command.h"

namespace strata::proxy {

void collect_keys(const CommandSpec& spec, Args args, std::vector<std::string_view>* out);

}  // namespace strata::proxy
