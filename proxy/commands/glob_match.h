// Glob-style matching exactly as Redis 7.0's stringmatchlen (KEYS, SCAN MATCH): '*', '?',
// '[abc]', '[^a]', '[a-z]' (ends in either order), '\' escapes, including its quirks with an
// unterminated '[' or a trailing '\'.
#pragma once

#include <string_view>

namespace strata::proxy {

bool glob_match(std::string_view pattern, std::string_view text, bool nocase = false);

}  // namespace strata::proxy
