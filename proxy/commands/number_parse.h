// Number <-> text conversions with Redis 7.0's exact rules (util.c), so replies and errors match
// byte for byte: "-1" parses, " 1", "+1", "01" and "1.0" do not.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace strata::proxy {

// Redis's string2ll: optional '-', no leading zeros (except "0"), no spaces, no '+', no overflow.
bool string2ll(std::string_view s, int64_t* value);

// Redis's string2ld: strtold over the whole text; no leading space, no NaN, no overflow, and not
// longer than kLongDoubleCharsMax.
bool string2ld(std::string_view s, long double* value);

// Redis's MAX_LONG_DOUBLE_CHARS: longest text a long double is printed as or parsed from.
inline constexpr size_t kLongDoubleCharsMax = 5 * 1024;

// Redis's ld2string in LD_STR_HUMAN mode ("%.17Lf" with trailing zeroes trimmed, "-0" -> "0"),
// as INCRBYFLOAT stores its result. Writes into buf (kLongDoubleCharsMax bytes); returns length,
// or 0 if the text does not fit.
size_t ld2string_human(char* buf, size_t len, long double value);

// Decimal text of v into buf (at least 21 bytes); returns length.
size_t ll2string(char* buf, int64_t v);

}  // namespace strata::proxy
