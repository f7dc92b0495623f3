#include "proxy/commands/glob_match.h"

#include <cctype>
#include <cstddef>

namespace strata::proxy {
namespace {

// Redis stops recursing past this depth so "a*a*a*...": patterns cannot exhaust the stack.
constexpr int kNestingMax = 1000;

// A cursor over the pattern that reads '\0' past the end, as Redis does with its
// NUL-terminated sds strings; every quirk of the original depends on that.
struct Pattern {
  const char* p;
  ptrdiff_t len;
  char at(ptrdiff_t i) const { return i < len ? p[i] : '\0'; }
};

int lower(char c) { return std::tolower(static_cast<unsigned char>(c)); }
// Redis compares plain `char` (signed here) in ranges; keep its ordering for bytes >= 0x80.
int as_int(char c) { return static_cast<int>(static_cast<signed char>(c)); }

bool match_class(Pattern& pat, char c, bool nocase) {
  // pat.p points just after '['.
  const bool negate = pat.at(0) == '^';
  if (negate) {
    ++pat.p;
    --pat.len;
  }
  bool match = false;
  while (true) {
    if (pat.at(0) == '\\' && pat.len >= 2) {
      ++pat.p;
      --pat.len;
      if (pat.at(0) == c) match = true;
    } else if (pat.at(0) == ']') {
      break;
    } else if (pat.len == 0) {
      --pat.p;
      ++pat.len;
      break;
    } else if (pat.len >= 3 && pat.at(1) == '-') {
      int start = as_int(pat.at(0));
      int end = as_int(pat.at(2));
      int ch = as_int(c);
      if (start > end) std::swap(start, end);
      if (nocase) {
        start = std::tolower(start);
        end = std::tolower(end);
        ch = std::tolower(ch);
      }
      pat.p += 2;
      pat.len -= 2;
      if (ch >= start && ch <= end) match = true;
    } else if (!nocase ? pat.at(0) == c : lower(pat.at(0)) == lower(c)) {
      match = true;
    }
    ++pat.p;
    --pat.len;
  }
  return negate ? !match : match;
}

bool match_impl(Pattern pat, const char* s, ptrdiff_t slen, bool nocase, bool* skip_longer,
                int nesting) {
  if (nesting > kNestingMax) return false;
  while (pat.len > 0 && slen > 0) {
    switch (pat.at(0)) {
      case '*':
        while (pat.len > 0 && pat.at(1) == '*') {
          ++pat.p;
          --pat.len;
        }
        if (pat.len == 1) return true;
        while (slen > 0) {
          if (match_impl(Pattern{pat.p + 1, pat.len - 1}, s, slen, nocase, skip_longer,
                         nesting + 1)) {
            return true;
          }
          if (*skip_longer) return false;
          ++s;
          --slen;
        }
        // The rest of the pattern matches nowhere in the rest of the string, so no earlier
        // '*' can help by matching longer: give up on the whole match.
        *skip_longer = true;
        return false;
      case '?':
        ++s;
        --slen;
        break;
      case '[':
        ++pat.p;
        --pat.len;
        if (!match_class(pat, s[0], nocase)) return false;
        ++s;
        --slen;
        break;
      case '\\':
        if (pat.len >= 2) {
          ++pat.p;
          --pat.len;
        }
        [[fallthrough]];
      default:
        if (!nocase ? pat.at(0) != s[0] : lower(pat.at(0)) != lower(s[0])) return false;
        ++s;
        --slen;
        break;
    }
    ++pat.p;
    --pat.len;
    if (slen == 0) {
      while (pat.at(0) == '*') {
        ++pat.p;
        --pat.len;
      }
      break;
    }
  }
  return pat.len == 0 && slen == 0;
}

}  // namespace

bool glob_match(std::string_view pattern, std::string_view text, bool nocase) {
  bool skip_longer = false;
  return match_impl(Pattern{pattern.data(), static_cast<ptrdiff_t>(pattern.size())}, text.data(),
                    static_cast<ptrdiff_t>(text.size()), nocase, &skip_longer, 0);
}

}  // namespace strata::proxy
