#include "proxy/commands/number_parse.h"

#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>

#include "protocol/resp_numbers.h"

namespace strata::proxy {
namespace {

// Redis's LONG_STR_SIZE: "-9223372036854775808" plus the terminator.
constexpr size_t kLongStrBytes = 21;

}  // namespace

// The codecs parse lengths and counts by the same rules; one implementation serves both.
bool string2ll(std::string_view s, int64_t* value) {
  return protocol::detail::string_to_ll(s, value);
}

bool string2ld(std::string_view s, long double* value) {
  char buf[kLongDoubleCharsMax];
  if (s.empty() || s.size() >= sizeof(buf)) return false;
  std::memcpy(buf, s.data(), s.size());
  buf[s.size()] = '\0';
  errno = 0;
  char* end = nullptr;
  const long double v = std::strtold(buf, &end);
  const bool range_error =
      errno == ERANGE && (v == HUGE_VALL || v == -HUGE_VALL || std::fpclassify(v) == FP_ZERO);
  // An embedded NUL stops strtold early: Redis rejects that too (eptr is not at the end).
  if (std::isspace(static_cast<unsigned char>(buf[0])) || end != buf + s.size() || range_error ||
      errno == EINVAL || std::isnan(v)) {
    return false;
  }
  *value = v;
  return true;
}

size_t ld2string_human(char* buf, size_t len, long double value) {
  size_t l = 0;
  if (std::isinf(value)) {
    if (len < 5) return 0;
    const std::string_view text = value > 0 ? "inf" : "-inf";
    std::memcpy(buf, text.data(), text.size());
    l = text.size();
  } else {
    const int n = std::snprintf(buf, len, "%.17Lf", value);
    if (n < 0 || static_cast<size_t>(n) + 1 > len) return 0;
    l = static_cast<size_t>(n);
    // Trim trailing zeroes after the point, and the point itself if nothing follows.
    if (std::memchr(buf, '.', l) != nullptr) {
      while (buf[l - 1] == '0') --l;
      if (buf[l - 1] == '.') --l;
    }
    if (l == 2 && buf[0] == '-' && buf[1] == '0') {
      buf[0] = '0';
      l = 1;
    }
  }
  buf[l] = '\0';
  return l;
}

size_t ll2string(char* buf, int64_t v) {
  const auto r = std::to_chars(buf, buf + kLongStrBytes, v);
  return static_cast<size_t>(r.ptr - buf);
}

}  // namespace strata::proxy
