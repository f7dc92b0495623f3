// Helpers shared by tiers.cc and tiers_write.cc.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "proxy/io_driver.h"

namespace strata::proxy {
class ClientConn;
class Worker;
namespace tiers_detail {
bool iequals(std::string_view a, std::string_view b);
uint64_t decode_version(const std::optional<std::string>& field);
}  // namespace tiers_detail
}  // namespace strata::proxy
