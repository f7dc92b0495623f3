// What an allocation really costs, as the store charges it. Under mimalloc this is exactly
// malloc_usable_size (its size classes make it a pure function of the request). Under glibc
// malloc_usable_size is not: a chunk carved from a free chunk whose remainder would be too small
// is handed out whole (16-48 bytes more), so charging it would make Store::charged_bytes()
// disagree with what was charged. There we charge glibc's nominal chunk size instead.
#pragma once

#include <cstddef>

namespace strata::cache {

// Charge for a live block that was allocated with `request` bytes.
size_t allocation_bytes_of(const void* block, size_t request);
// Charge a block of `request` bytes would get (may allocate and free one block to ask).
size_t allocation_bytes_for(size_t request);
// True when `block` (allocated with `old_request` bytes) can hold `new_request` bytes and would be
// charged the same as a fresh allocation of that size: then it may be rewritten in place.
bool same_allocation_class(const void* block, size_t old_request, size_t new_request);

}  // namespace strata::cache
