// Implementation of the per-thread scratch slots and the memory limit (see workspace.hpp).
#include "runtime/workspace.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <new>

#include "fastconv/errors.hpp"

namespace fastconv {
namespace {

struct AlignedBuffer {
    void* data = nullptr;
    size_t capacity = 0;
    ~AlignedBuffer() { std::free(data); }
};

thread_local AlignedBuffer buffers[static_cast<int>(ScratchSlot::count)];

// A cgroup's memory limit in bytes from its control file (v2 memory.max, v1 limit_in_bytes);
// 0 when absent or unlimited ("max").
int64_t cgroup_limit(const char* path) {
    FILE* file = std::fopen(path, "r");
    if (!file) return 0;
    long long value = 0;
    const bool read = std::fscanf(file, "%lld", &value) == 1;
    std::fclose(file);
    return read && value > 0 ? value : 0;
}

int64_t detect_memory_limit() {
    int64_t limit = INT64_MAX;
    const long pages = sysconf(_SC_PHYS_PAGES), page_size = sysconf(_SC_PAGE_SIZE);
    if (pages > 0 && page_size > 0 && pages <= INT64_MAX / page_size) limit = int64_t(pages) * page_size;
    for (const char* path : {"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"}) {
        const int64_t cgroup = cgroup_limit(path);
        if (cgroup > 0 && cgroup < limit) limit = cgroup;
    }
    return limit;
}

std::string gib(int64_t bytes) {
    char text[32];
    std::snprintf(text, sizeof(text), "%.1f GiB", static_cast<double>(bytes) / (1u << 30));
    return text;
}

// A 64-byte aligned block of at least `bytes` bytes and at least one cache line, its size a whole
// number of lines as aligned_alloc requires: {data, capacity}. Throws std::bad_alloc when there is
// none.
struct Lines {
    void* data;
    size_t capacity;
};
Lines allocate_lines(size_t bytes) {
    const size_t capacity = std::max<size_t>((bytes + 63) / 64 * 64, 64);
    void* data = std::aligned_alloc(64, capacity);
    if (data == nullptr) throw std::bad_alloc();
    return {data, capacity};
}

// Blocks freed by their arrays, oldest first.
struct OutputCache {
    std::mutex mutex;
    std::deque<OutputBlock> blocks;
    size_t bytes = 0;
};

OutputCache& output_cache() {
    static OutputCache* cache = new OutputCache;  // never destroyed: arrays may outlive static destruction
    return *cache;
}

}  // namespace

int64_t memory_limit_bytes() {
    static const int64_t limit = detect_memory_limit();
    return limit;
}

void check_allocation(int64_t bytes, const std::string& what) {
    if (bytes > memory_limit_bytes())
        throw OutOfMemory(what + " would need " + std::to_string(bytes) + " bytes (" + gib(bytes) +
                          "), more than this machine's memory (" + gib(memory_limit_bytes()) + ")");
}

void* scratch_bytes(ScratchSlot slot, size_t bytes) {
    AlignedBuffer& buffer = buffers[static_cast<int>(slot)];
    if (bytes > buffer.capacity || buffer.data == nullptr) {
        check_allocation(static_cast<int64_t>(bytes), "the workspace");
        // Grow by at least half again so a slowly growing sequence of calls reallocates rarely.
        const Lines grown = allocate_lines(std::max(bytes, buffer.capacity + buffer.capacity / 2));
        std::free(buffer.data);
        buffer.data = grown.data;
        buffer.capacity = grown.capacity;
    }
    return buffer.data;
}

OutputBlock acquire_output_block(size_t bytes) {
    if (bytes >= kOutputCacheMinBytes) {
        OutputCache& cache = output_cache();
        std::lock_guard<std::mutex> lock(cache.mutex);
        auto best = cache.blocks.end();
        for (auto it = cache.blocks.begin(); it != cache.blocks.end(); ++it)
            if (it->capacity >= bytes && it->capacity - bytes <= bytes / 4 &&
                (best == cache.blocks.end() || it->capacity < best->capacity))
                best = it;
        if (best != cache.blocks.end()) {
            const OutputBlock block = *best;
            cache.blocks.erase(best);
            cache.bytes -= block.capacity;
            return block;
        }
    }
    const Lines lines = allocate_lines(bytes);
    return {lines.data, lines.capacity};
}

void release_output_block(OutputBlock block) {
    if (block.capacity < kOutputCacheMinBytes || block.capacity > kOutputCacheBytes) {
        std::free(block.data);
        return;
    }
    OutputCache& cache = output_cache();
    std::lock_guard<std::mutex> lock(cache.mutex);
    cache.blocks.push_back(block);
    cache.bytes += block.capacity;
    while (cache.blocks.size() > kOutputCacheBlocks || cache.bytes > kOutputCacheBytes) {
        std::free(cache.blocks.front().data);
        cache.bytes -= cache.blocks.front().capacity;
        cache.blocks.pop_front();
    }
}

std::pair<size_t, size_t> output_cache_usage() {
    OutputCache& cache = output_cache();
    std::lock_guard<std::mutex> lock(cache.mutex);
    return {cache.blocks.size(), cache.bytes};
}

void clear_output_cache() {
    OutputCache& cache = output_cache();
    std::lock_guard<std::mutex> lock(cache.mutex);
    for (const OutputBlock& block : cache.blocks) std::free(block.data);
    cache.blocks.clear();
    cache.bytes = 0;
}

void* packed_buffer(size_t bytes, bool use_scratch, OwnedBuffer& owned) {
    if (use_scratch) return scratch_bytes(ScratchSlot::packed_weights, bytes);
    owned.reset(allocate_lines(bytes).data);
    return owned.get();
}

}  // namespace fastconv
