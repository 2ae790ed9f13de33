// Per-thread scratch memory reused across calls, so a convolution does not map and unmap fresh
// pages every time (page-fault storms from large mallocs cost some libraries several times their
// kernel time). Each thread has one growing, 64-byte aligned buffer per slot; a slot is used by one
// piece of code at a time on a thread, which the fixed slot names make easy to see.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>

namespace fastconv {

enum class ScratchSlot {
    gemm_a,
    gemm_b,
    columns,
    accumulators,
    layout_src,  // run_conv's channels-first copies for implementations without channels-last code
    layout_dst,
    packed_weights,  // weights packed for one functional call (plans own theirs)
    pack_tile,       // a few channels of a block's filter rows, gathered while packing
    count
};

// The most memory one array may take: the machine's physical memory, or the cgroup (container)
// limit when that is lower. Read once.
int64_t memory_limit_bytes();

// Throws OutOfMemory naming `what` and both sizes when `bytes` exceeds memory_limit_bytes(), so a
// layer too large for the machine fails with a clear error before anything is allocated.
void check_allocation(int64_t bytes, const std::string& what);

// Returns space for `bytes` bytes in this thread's buffer for `slot`; the contents are undefined
// and the pointer stays valid until the next call for the same slot on this thread. Checks the
// size with check_allocation first.
void* scratch_bytes(ScratchSlot slot, size_t bytes);

template <typename T>
T* scratch(ScratchSlot slot, int64_t count) {
    return static_cast<T*>(scratch_bytes(slot, static_cast<size_t>(count) * sizeof(T)));
}

struct FreeDeleter {
    void operator()(void* p) const { std::free(p); }
};
using OwnedBuffer = std::unique_ptr<void, FreeDeleter>;

// Space for a problem's packed weights: this thread's packed_weights scratch for a functional
// call (`use_scratch`), else a fresh 64-byte aligned buffer that `owned` keeps for a plan.
void* packed_buffer(size_t bytes, bool use_scratch, OwnedBuffer& owned);

}  // namespace fastconv
