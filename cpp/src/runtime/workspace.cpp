// Implementation of the per-thread scratch slots (see workspace.hpp).
#include "runtime/workspace.hpp"

#include <cstdlib>
#include <new>

namespace fastconv {
namespace {

struct AlignedBuffer {
    void* data = nullptr;
    size_t capacity = 0;
    ~AlignedBuffer() { std::free(data); }
};

thread_local AlignedBuffer buffers[static_cast<int>(ScratchSlot::count)];

}  // namespace

void* scratch_bytes(ScratchSlot slot, size_t bytes) {
    AlignedBuffer& buffer = buffers[static_cast<int>(slot)];
    if (bytes > buffer.capacity || buffer.data == nullptr) {
        // Grow by at least half again so a slowly growing sequence of calls reallocates rarely.
        size_t capacity = bytes > buffer.capacity + buffer.capacity / 2 ? bytes
                                                                         : buffer.capacity + buffer.capacity / 2;
        capacity = (capacity + 63) / 64 * 64;
        if (capacity == 0) capacity = 64;
        void* data = std::aligned_alloc(64, capacity);
        if (data == nullptr) throw std::bad_alloc();
        std::free(buffer.data);
        buffer.data = data;
        buffer.capacity = capacity;
    }
    return buffer.data;
}

}  // namespace fastconv
