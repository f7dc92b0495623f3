#include "cache/alloc_size.h"

#include <malloc.h>

#include <cstdlib>

// Present only when mimalloc is linked (and then it has replaced malloc).
extern "C" int mi_version(void) __attribute__((weak));
extern "C" size_t mi_good_size(size_t size) __attribute__((weak));

namespace strata::cache {
namespace {

// glibc (64-bit): 8-byte size header, 16-byte alignment, 32-byte minimum chunk; requests from
// M_MMAP_THRESHOLD's default (128 KiB) get their own pages with a 16-byte header.
constexpr size_t kGlibcHeaderBytes = 8;
constexpr size_t kGlibcMinChunkBytes = 32;
constexpr size_t kGlibcMmapThresholdBytes = 128 * 1024;
constexpr size_t kPageBytes = 4096;

size_t glibc_nominal(size_t request) {
  if (request >= kGlibcMmapThresholdBytes) {
    return ((request + 2 * kGlibcHeaderBytes + kPageBytes - 1) & ~(kPageBytes - 1)) -
           2 * kGlibcHeaderBytes;
  }
  size_t chunk = (request + kGlibcHeaderBytes + 15) & ~size_t{15};
  if (chunk < kGlibcMinChunkBytes) chunk = kGlibcMinChunkBytes;
  return chunk - kGlibcHeaderBytes;
}

bool usable_size_is_exact() { return mi_version != nullptr; }

}  // namespace

size_t allocation_bytes_of(const void* block, size_t request) {
  if (usable_size_is_exact()) return malloc_usable_size(const_cast<void*>(block));
  return glibc_nominal(request);
}

size_t allocation_bytes_for(size_t request) {
  if (!usable_size_is_exact()) return glibc_nominal(request);
  void* p = std::malloc(request);
  if (p == nullptr) return request;
  const size_t usable = malloc_usable_size(p);
  std::free(p);
  return usable;
}

bool same_allocation_class(const void* block, size_t old_request, size_t new_request) {
  if (!usable_size_is_exact()) {
    // The real block may be smaller than the nominal chunk (sanitizers return the request).
    return glibc_nominal(old_request) == glibc_nominal(new_request) &&
           new_request <= malloc_usable_size(const_cast<void*>(block));
  }
  // mi_good_size equals the usable size for small and medium blocks; for larger ones it is
  // smaller, the test fails and the caller reallocates, which is merely slower.
  if (mi_good_size == nullptr) return false;
  return mi_good_size(new_request) == malloc_usable_size(const_cast<void*>(block));
}

}  // namespace strata::cache
