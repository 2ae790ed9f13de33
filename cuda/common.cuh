// What every kernel family shares: CUDA_CHECK, the device guard, stream-ordered workspace, the
// storage/compute type helpers, and the entry points of the families that dispatch.cu orders into
// the GPU registry. The problem on the device (ConvGeometry: 32-bit sizes where a launch indexes,
// 64-bit offsets where products can overflow) and the launch planning are host C++ in
// cpp/src/cuda_plan.hpp, tested without a GPU.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <type_traits>

#include "cuda_plan.hpp"
#include "fastconv/cuda.hpp"

namespace fastconv::cuda {

// Throws Error / OutOfMemory for a failed runtime call, after clearing the (non-sticky) error so
// the next call starts clean.
[[noreturn]] void throw_cuda_error(cudaError_t status, const char* call, const char* file, int line);

#define CUDA_CHECK(call)                                                                      \
    do {                                                                                      \
        const cudaError_t status_ = (call);                                                   \
        if (status_ != cudaSuccess) ::fastconv::cuda::throw_cuda_error(status_, #call, __FILE__, __LINE__); \
    } while (0)
// After every <<<...>>>: launch-configuration errors surface here, execution errors at the next
// synchronising call.
#define CUDA_CHECK_LAUNCH() CUDA_CHECK(cudaGetLastError())

inline cudaStream_t as_cuda_stream(Stream stream) { return reinterpret_cast<cudaStream_t>(stream); }

// Makes `device` current for the scope and restores the caller's device afterwards, so a call on
// device 1 never changes what torch or CuPy see as current.
class DeviceGuard {
   public:
    explicit DeviceGuard(int device);
    ~DeviceGuard();
    DeviceGuard(const DeviceGuard&) = delete;
    DeviceGuard& operator=(const DeviceGuard&) = delete;

   private:
    int previous_ = 0;
    bool changed_ = false;
};

// A stream-ordered scratch buffer freed (in stream order) when it goes out of scope.
class Workspace {
   public:
    Workspace(std::size_t bytes, cudaStream_t stream);
    ~Workspace();
    Workspace(const Workspace&) = delete;
    Workspace& operator=(const Workspace&) = delete;
    template <typename T>
    T* as() const { return static_cast<T*>(ptr_); }

   private:
    void* ptr_ = nullptr;
    cudaStream_t stream_;
};

// Storage types S (float, double, __half, __nv_bfloat16) and the type they compute in: double for
// double, float for the rest, so half-precision inputs always accumulate in float32.
template <typename S>
struct ComputeOf {
    using type = float;
};
template <>
struct ComputeOf<double> {
    using type = double;
};
template <typename S>
using compute_t = typename ComputeOf<S>::type;

template <typename S>
__host__ __device__ inline compute_t<S> to_compute(S value) {
    if constexpr (std::is_same_v<S, __half>) return __half2float(value);
    else if constexpr (std::is_same_v<S, __nv_bfloat16>) return __bfloat162float(value);
    else return value;
}
template <typename S>
__host__ __device__ inline S from_compute(compute_t<S> value) {
    if constexpr (std::is_same_v<S, __half>) return __float2half_rn(value);
    else if constexpr (std::is_same_v<S, __nv_bfloat16>) return __float2bfloat16_rn(value);
    else return value;
}
template <typename S>
__device__ inline compute_t<S> load_compute(const S* p) {
    return to_compute<S>(__ldg(p));
}

inline unsigned blocks_for(int64_t work, int per_block) {
    return static_cast<unsigned>((work + per_block - 1) / per_block);
}

// ---- the families (one .cu each); T is float or double, pointers are dense channels-first ----

// reference.cu: one thread per output element, summed in double; the GPU ground truth.
template <typename T>
void reference_conv(const ConvGeometry& g, bool transposed, const T* src, const T* w, const T* bias, T* dst,
                    cudaStream_t stream);

// direct.cu
constexpr int kTiledChannels = 32;  // output channels of one tiled-kernel block (its TK)
std::string direct_depthwise_declines(const ConvProblem& p);
std::string direct_pointwise_declines(const ConvProblem& p);
std::string direct_tiled_declines(const ConvProblem& p);
template <typename T>
void direct_depthwise(const ConvGeometry& g, const T* x, const T* w, const T* bias, T* y, cudaStream_t stream);
template <typename T>
void direct_pointwise(const ConvGeometry& g, const T* x, const T* w, const T* bias, T* y, cudaStream_t stream,
                      bool tf32);
template <typename T>
void direct_tiled(const ConvGeometry& g, const T* x, const T* w, const T* bias, T* y, cudaStream_t stream);

// implicit_gemm.cu: forward, and transposed as prod(stride) sub-problems.
template <typename T>
void implicit_gemm(const ConvGeometry& g, bool transposed, const T* src, const T* w, const T* bias, T* dst,
                   cudaStream_t stream, bool tf32);

// im2col_gemm.cu: forward through a bounded column buffer; unfold.
template <typename T>
void im2col_gemm(const ConvGeometry& g, const T* x, const T* w, const T* bias, T* y, cudaStream_t stream, bool tf32);
template <typename T>
void im2col_batch(const ConvGeometry& g, const T* x, T* columns, cudaStream_t stream);

// transposed.cu: transposed as GEMM into a bounded column buffer + deterministic col2im gather; fold.
template <typename T>
void gemm_col2im(const ConvGeometry& g, const T* y, const T* w, const T* bias, T* x, cudaStream_t stream, bool tf32);
template <typename T>
void col2im_batch(const ConvGeometry& g, const T* columns, T* x, cudaStream_t stream);

}  // namespace fastconv::cuda
