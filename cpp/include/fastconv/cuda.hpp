// The CUDA seam of fastconv: everything the rest of the library and the Python binding may ask of
// the GPU, in plain C++ types (no CUDA header), so it compiles with or without CUDA. With
// FASTCONV_WITH_CUDA the definitions live in cuda/*.cu; without it cpp/src/cuda_stubs.cpp defines
// them: queries answer "no devices" and everything else throws NotCompiled.
//
// Streams are integers in the DLPack / __cuda_array_interface__ convention: 1 is the legacy default
// stream, 2 the per-thread default stream, anything else a cudaStream_t. Device pointers are plain
// void*; `device` is the CUDA ordinal every call runs on (the current device is restored after).
#pragma once

#include <cstddef>
#include <cstdint>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

#include "fastconv/fastconv.hpp"

namespace fastconv::cuda {

using Stream = std::uintptr_t;
inline constexpr Stream kLegacyStream = 1;

// A failed CUDA runtime call; the message carries cudaGetErrorString and the call. The binding maps
// it to RuntimeError.
class Error : public std::runtime_error {
   public:
    using std::runtime_error::runtime_error;
};
// cudaErrorMemoryAllocation; the binding maps it to MemoryError.
class OutOfMemory : public std::bad_alloc {
   public:
    explicit OutOfMemory(std::string message) : message_(std::move(message)) {}
    const char* what() const noexcept override { return message_.c_str(); }

   private:
    std::string message_;
};
// Any call that needs the GPU in a build without CUDA.
class NotCompiled : public std::runtime_error {
   public:
    NotCompiled() : std::runtime_error("fastconv was built without CUDA (FASTCONV_CUDA=OFF or no nvcc)") {}
};

// The explicit im2col path never holds a column buffer larger than this; it tiles over output rows.
inline constexpr std::size_t kWorkspaceCapBytes = std::size_t(64) << 20;

bool compiled();
int device_count();                 // 0 without CUDA, a driver or a device; never throws
std::string device_name(int device);

// Stream-ordered device memory (cudaMallocAsync / cudaFreeAsync). free never throws.
void* allocate(std::size_t bytes, int device, Stream stream);
void release(void* ptr, int device, Stream stream) noexcept;
void copy_to_device(void* dst, const void* src, std::size_t bytes, int device, Stream stream);
void copy_to_host(void* dst, const void* src, std::size_t bytes, int device, Stream stream);  // synchronises
// dst (dense, row-major) = src viewed through `shape` and `strides` (in elements, any sign).
void copy_strided(void* dst, const void* src, std::size_t element_size, const std::vector<int64_t>& shape,
                  const std::vector<int64_t>& strides, int device, Stream stream);
// Fills with 0xFF bytes: NaN in every floating-point format, so tests see any element a kernel
// forgot to write (fastconv._api._POISON_OUTPUT).
void poison(void* ptr, std::size_t bytes, int device, Stream stream);
// `consumer` waits for the work queued so far on `producer` (an event, no host synchronisation).
void stream_wait(Stream consumer, Stream producer, int device);
void synchronize(int device, Stream stream);

struct Options {
    bool allow_tf32 = false;  // float32 GEMM paths may use TF32 tensor cores (10-bit mantissa inputs)
};

// One convolution on the GPU, in the terms of fastconv::run_conv (forward: src = x, dst = y;
// transposed: src = y, dst = x), dense channels-first memory on `device`. Asynchronous on `stream`.
void run_conv(const ConvProblem& problem, Algo algo, const void* src, const void* weight, const void* bias,
              void* dst, int device, Stream stream, const Options& options);
// The GPU implementation run_conv would use.
std::string selected_impl(const ConvProblem& problem, Algo algo, const Options& options);
// (name, algo family) of every GPU implementation, in selection order.
std::vector<std::pair<std::string, std::string>> implementations();

// unfold / fold with the geometry of fastconv::unfold / fastconv::fold.
void unfold(const ConvProblem& problem, const void* x, void* columns, int device, Stream stream);
void fold(const ConvProblem& problem, const void* columns, void* x, int device, Stream stream);

}  // namespace fastconv::cuda
