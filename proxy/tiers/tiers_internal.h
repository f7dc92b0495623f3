// Helpers shared by tiers.cc and tiers_write.cc.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "proxy/loop/io_driver.h"

namespace strata::proxy {
namespace tiers_detail {
uint64_t decode_version(const std::optional<std::string>& field);
}  // namespace tiers_detail
}  // namespace strata::proxy
