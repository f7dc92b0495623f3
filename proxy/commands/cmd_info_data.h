// Redis 7.0.15's COMMAND INFO entries (see cmd_info_data.cc), looked up by lowercase name.
#pragma once

#include <string_view>

namespace strata::proxy {

struct CommandInfoBlob {
  std::string_view name;   // lowercase
  std::string_view resp3;  // one RESP3 array: [name, arity, flags, first, last, step, ...]
};

const CommandInfoBlob* find_command_info(std::string_view lower_name);

}  // namespace strata::proxy
