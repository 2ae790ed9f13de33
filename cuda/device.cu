// The CUDA runtime seam: devices, errors, stream-ordered memory, copies (including the strided copy
// that makes a non-contiguous DLPack input dense) and stream synchronisation. A wheel built with
// CUDA must still import and run on the CPU on a machine with no GPU or no driver, so the device
// queries answer "no devices" instead of throwing; everything else reports failures as exceptions
// carrying cudaGetErrorString.
#include <cuda_runtime.h>

#include <string>

#include "common.cuh"
#include "fastconv/errors.hpp"

namespace fastconv::cuda {

void throw_cuda_error(cudaError_t status, const char* call, const char* file, int line) {
    cudaGetLastError();
    const std::string message = std::string("CUDA error: ") + cudaGetErrorString(status) + " (" +
                                cudaGetErrorName(status) + ") in " + call + " at " + file + ":" +
                                std::to_string(line);
    if (status == cudaErrorMemoryAllocation) throw OutOfMemory(message);
    throw Error(message);
}

bool compiled() { return true; }

int device_count() {
    int count = 0;
    if (cudaGetDeviceCount(&count) != cudaSuccess) {
        cudaGetLastError();  // clear the "no driver" error so later queries start clean
        return 0;
    }
    return count;
}

std::string device_name(int device) {
    cudaDeviceProp properties{};
    CUDA_CHECK(cudaGetDeviceProperties(&properties, device));
    return properties.name;
}

DeviceGuard::DeviceGuard(int device) {
    CUDA_CHECK(cudaGetDevice(&previous_));
    if (previous_ != device) {
        CUDA_CHECK(cudaSetDevice(device));
        changed_ = true;
    }
}

DeviceGuard::~DeviceGuard() {
    if (changed_) cudaSetDevice(previous_);
}

Workspace::Workspace(std::size_t bytes, cudaStream_t stream) : stream_(stream) {
    if (bytes) CUDA_CHECK(cudaMallocAsync(&ptr_, bytes, stream));
}

Workspace::~Workspace() {
    if (ptr_) cudaFreeAsync(ptr_, stream_);
}

void* allocate(std::size_t bytes, int device, Stream stream) {
    DeviceGuard guard(device);
    void* ptr = nullptr;
    CUDA_CHECK(cudaMallocAsync(&ptr, bytes ? bytes : 1, as_cuda_stream(stream)));
    return ptr;
}

void release(void* ptr, int device, Stream stream) noexcept {
    if (!ptr) return;
    int previous = 0;
    if (cudaGetDevice(&previous) != cudaSuccess) return;
    if (previous != device) cudaSetDevice(device);
    if (cudaFreeAsync(ptr, as_cuda_stream(stream)) != cudaSuccess) cudaGetLastError();
    if (previous != device) cudaSetDevice(previous);
}

void copy_to_device(void* dst, const void* src, std::size_t bytes, int device, Stream stream) {
    DeviceGuard guard(device);
    CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, as_cuda_stream(stream)));
    // The host buffer may be a temporary of the caller: finish reading it before returning.
    CUDA_CHECK(cudaStreamSynchronize(as_cuda_stream(stream)));
}

void copy_to_host(void* dst, const void* src, std::size_t bytes, int device, Stream stream) {
    DeviceGuard guard(device);
    CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, as_cuda_stream(stream)));
    CUDA_CHECK(cudaStreamSynchronize(as_cuda_stream(stream)));
}

namespace {

constexpr int kMaxCopyDims = 8;
struct StridedShape {
    int ndim;
    int64_t extent[kMaxCopyDims];
    int64_t stride[kMaxCopyDims];  // in elements, of the source
};

// One thread per destination element: the row-major index is unravelled against the shape and
// re-ravelled against the source strides. Element sizes are copied as whole words.
template <typename Word>
__global__ void copy_strided_kernel(Word* dst, const Word* src, StridedShape shape, int64_t total) {
    for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
        int64_t rest = i, offset = 0;
        for (int d = shape.ndim - 1; d >= 0; --d) {
            offset += (rest % shape.extent[d]) * shape.stride[d];
            rest /= shape.extent[d];
        }
        dst[i] = src[offset];
    }
}

}  // namespace

void copy_strided(void* dst, const void* src, std::size_t element_size, const std::vector<int64_t>& extents,
                  const std::vector<int64_t>& strides, int device, Stream stream) {
    if (extents.size() > kMaxCopyDims || strides.size() != extents.size())
        throw InvalidArgument("cuda: strided copies support at most 8 dimensions");
    StridedShape shape{};
    shape.ndim = static_cast<int>(extents.size());
    int64_t total = 1;
    for (int d = 0; d < shape.ndim; ++d) {
        shape.extent[d] = extents[d];
        shape.stride[d] = strides[d];
        total *= extents[d];
    }
    if (total == 0) return;
    DeviceGuard guard(device);
    const unsigned blocks = static_cast<unsigned>(std::min<int64_t>(blocks_for(total, 256), 65535));
    cudaStream_t s = as_cuda_stream(stream);
    if (element_size == 8) {
        copy_strided_kernel<<<blocks, 256, 0, s>>>(static_cast<unsigned long long*>(dst),
                                                   static_cast<const unsigned long long*>(src), shape, total);
    } else if (element_size == 4) {
        copy_strided_kernel<<<blocks, 256, 0, s>>>(static_cast<unsigned*>(dst), static_cast<const unsigned*>(src),
                                                   shape, total);
    } else if (element_size == 2) {
        copy_strided_kernel<<<blocks, 256, 0, s>>>(static_cast<unsigned short*>(dst),
                                                   static_cast<const unsigned short*>(src), shape, total);
    } else {
        throw InvalidArgument("cuda: strided copies take 2-, 4- or 8-byte elements");
    }
    CUDA_CHECK_LAUNCH();
}

void poison(void* ptr, std::size_t bytes, int device, Stream stream) {
    DeviceGuard guard(device);
    CUDA_CHECK(cudaMemsetAsync(ptr, 0xFF, bytes, as_cuda_stream(stream)));
}

void stream_wait(Stream consumer, Stream producer, int device) {
    if (consumer == producer) return;
    DeviceGuard guard(device);
    cudaEvent_t event;
    CUDA_CHECK(cudaEventCreateWithFlags(&event, cudaEventDisableTiming));
    const cudaError_t recorded = cudaEventRecord(event, as_cuda_stream(producer));
    const cudaError_t waited = recorded == cudaSuccess ? cudaStreamWaitEvent(as_cuda_stream(consumer), event, 0)
                                                       : recorded;
    cudaEventDestroy(event);  // released once the wait is satisfied
    CUDA_CHECK(waited);
}

void synchronize(int device, Stream stream) {
    DeviceGuard guard(device);
    CUDA_CHECK(cudaStreamSynchronize(as_cuda_stream(stream)));
}

}  // namespace fastconv::cuda
