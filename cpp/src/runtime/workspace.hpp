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
#include <utility>

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

// Memory for the arrays the Python layer returns. A large output freed by its owner goes to a small
// process-wide cache instead of back to malloc, and the next output of about its size reuses it:
// a call in a loop then writes pages that are already mapped. From the heap, each fresh output of a
// few MB landed past the previous one (small allocations made during the call pinned the space
// between), so steady-state calls faulted in thousands of new pages (batch8_up, channels-first:
// 2,048 faults every few calls on Zen 3). The cache holds at most kOutputCacheBlocks blocks and
// kOutputCacheBytes bytes, oldest evicted first; blocks under kOutputCacheMinBytes bypass it.
constexpr size_t kOutputCacheBlocks = 8;
constexpr size_t kOutputCacheBytes = size_t(256) << 20;
constexpr size_t kOutputCacheMinBytes = size_t(256) << 10;

struct OutputBlock {
    void* data;
    size_t capacity;
};

// A 64-byte aligned block of at least `bytes` bytes (a cached one when one fits within a quarter
// more than asked, else fresh); give it back with release_output_block. Thread-safe.
OutputBlock acquire_output_block(size_t bytes);
void release_output_block(OutputBlock block);

// The blocks and bytes the output cache holds now (for tests and `fastconv.info()`).
std::pair<size_t, size_t> output_cache_usage();

// Frees every cached output block.
void clear_output_cache();

// Space for a problem's packed weights: this thread's packed_weights scratch for a functional
// call (`use_scratch`), else a fresh 64-byte aligned buffer that `owned` keeps for a plan.
void* packed_buffer(size_t bytes, bool use_scratch, OwnedBuffer& owned);

}  // namespace fastconv
