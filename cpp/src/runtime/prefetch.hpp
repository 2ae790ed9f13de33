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

// Whether fetching the next output tile's lines ahead of its stores pays on this CPU (the igemm
// tiles): on AMD Zen 3 fresh output lines made the stores wait for ownership and the prefetch made
// channels-last igemm layers 7-13% faster; on Intel's AVX-512 Xeon VM the same prefetches made them
// 3-7% slower (resnet_1x1_56, fcn_up_3x3, grouped_3x3, the stem; medians, 1 thread), its
// hardware prefetchers already follow the rows. Decided once from cpuid's vendor: Intel, no;
// anything else, as before, yes. Defined in cpu.cpp.
bool output_prefetch_pays();

}  // namespace fastconv
