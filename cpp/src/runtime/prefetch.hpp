// Software prefetch of every cache line of a run of elements, for the loops that know where they
// will read or write next better than the hardware prefetchers can guess (strided columns, output
// tiles of a fresh array). Portable: __builtin_prefetch is a hint, never a fault.
#pragma once

#include <cstdint>

namespace fastconv {

inline constexpr int64_t kCacheLineBytes = 64;

// The lines of p[0, count), to be read.
template <typename T>
inline void prefetch_lines(const T* p, int64_t count) {
    for (int64_t i = 0; i < count; i += kCacheLineBytes / int64_t{sizeof(T)}) __builtin_prefetch(p + i);
}

// The lines of p[0, count), to be written: fetched for ownership, so the stores need not wait.
template <typename T>
inline void prefetch_lines_for_write(const T* p, int64_t count) {
    for (int64_t i = 0; i < count; i += kCacheLineBytes / int64_t{sizeof(T)}) __builtin_prefetch(p + i, 1);
}

}  // namespace fastconv
