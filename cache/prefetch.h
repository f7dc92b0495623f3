// A cache-line prefetch the compiler keeps. GCC 12 deems a function whose only effects are loads
// and __builtin_prefetch "pure" and deletes calls to it whose result is unused, so a prefetch
// helper (or a loop stage factored into one) silently vanishes. The empty volatile asm is an
// effect GCC must keep; it emits no instruction.
#pragma once

namespace strata::cache {

inline void prefetch(const void* p) {
  __builtin_prefetch(p);
  asm volatile("" : : "r"(p));
}

}  // namespace strata::cache
