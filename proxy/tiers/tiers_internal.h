// Helpers shared by the files of the tiered path.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "proxy/loop/io_driver.h"

namespace strata::proxy {
namespace tiers_detail {
uint64_t decode_version(const std::optional<std::string>& field);
// Why PostgreSQL could not store `k` as a text key (NUL, bad UTF-8); null when it can.
const char* unstorable_key(std::string_view k);
// `k`'s first 64 bytes for an error message, escaped.
std::string printable(std::string_view k);
// An append's message key is "<stream>:<position>": the position, or 0 when `message_key`
// is not one of `stream`'s.
uint64_t append_position(std::string_view stream, std::string_view message_key);
}  // namespace tiers_detail
}  // namespace strata::proxy
