// The GEMM microkernels of every instruction set (one file per ISA: gemm_<isa>.cpp, named after
// XNNPACK's scheme <dtype>_gemm_ukernel_<MR>x<NR>__<isa>) and the cache blocking the packed GEMM
// uses around them. Only gemm.cpp calls the kernels, and only through the dispatch list, so an ISA
// file's code never runs on a CPU that lacks the ISA. The contract of every kernel is UkernelFn's
// in gemm/gemm.hpp.
#pragma once

#include <cstdint>

namespace fastconv::gemm {

// Register tiles. AVX2 has 16 ymm registers: 6 rows x 2 vectors of accumulators, two of B and one
// broadcast of A. AVX-512 has 32 zmm: 14 rows x 2 vectors + 2 of B + 1 broadcast; with a 15th row
// GCC spills accumulators to the stack inside the k loop (checked with objdump).
constexpr int kF32ScalarMr = 4, kF32ScalarNr = 8;
constexpr int kF64ScalarMr = 4, kF64ScalarNr = 4;
constexpr int kF32Avx2Mr = 6, kF32Avx2Nr = 16;
constexpr int kF64Avx2Mr = 6, kF64Avx2Nr = 8;
constexpr int kF32Avx512Mr = 14, kF32Avx512Nr = 32;
constexpr int kF64Avx512Mr = 14, kF64Avx512Nr = 16;
// Narrow tiles, one vector wide, for a C no wider than that (see gemm_vector_tile.hpp): about
// twice the rows in the same registers (AVX-512: 28 accumulators, one B vector, one broadcast).
constexpr int kF32Avx2NarrowMr = 12, kF32Avx2NarrowNr = 8;
constexpr int kF64Avx2NarrowMr = 12, kF64Avx2NarrowNr = 4;
constexpr int kF32Avx512NarrowMr = 28, kF32Avx512NarrowNr = 16;
constexpr int kF64Avx512NarrowMr = 28, kF64Avx512NarrowNr = 8;
// AArch64 NEON has 32 q registers: 8 rows x 2 vectors of accumulators, two of B, one broadcast.
constexpr int kF32NeonMr = 8, kF32NeonNr = 8;
constexpr int kF64NeonMr = 8, kF64NeonNr = 4;

// The largest MR x NR of any kernel: the framework computes edge tiles into a local tile this big.
constexpr int kMaxTileElements = 14 * 32;
// Every NR is a multiple of this, so packing copies B in fixed-size pieces the compiler turns
// into vector moves instead of a scalar loop or a libc call per row of a sliver.
constexpr int kNrGranule = 4;
static_assert(kF32ScalarNr % kNrGranule == 0 && kF64ScalarNr % kNrGranule == 0 && kF32Avx2Nr % kNrGranule == 0 &&
              kF64Avx2Nr % kNrGranule == 0 && kF32Avx512Nr % kNrGranule == 0 && kF64Avx512Nr % kNrGranule == 0);
static_assert(kF32NeonNr % kNrGranule == 0 && kF64NeonNr % kNrGranule == 0 &&
              kF32NeonMr * kF32NeonNr <= kMaxTileElements && kF64NeonMr * kF64NeonNr <= kMaxTileElements);
static_assert(kF32Avx512Mr * kF32Avx512Nr <= kMaxTileElements && kF64Avx512Mr * kF64Avx512Nr <= kMaxTileElements &&
              kF32Avx2Mr * kF32Avx2Nr <= kMaxTileElements && kF64Avx2Mr * kF64Avx2Nr <= kMaxTileElements &&
              kF32ScalarMr * kF32ScalarNr <= kMaxTileElements && kF64ScalarMr * kF64ScalarNr <= kMaxTileElements);
static_assert(kF32Avx512NarrowMr * kF32Avx512NarrowNr <= kMaxTileElements &&
              kF64Avx512NarrowMr * kF64Avx512NarrowNr <= kMaxTileElements &&
              kF32Avx2NarrowMr * kF32Avx2NarrowNr <= kMaxTileElements &&
              kF64Avx2NarrowMr * kF64Avx2NarrowNr <= kMaxTileElements);

void f32_gemm_ukernel_4x8__scalar(int64_t kc, const float* a, int64_t lda, const float* b, float* c, int64_t ldc,
                                  bool accumulate);
void f64_gemm_ukernel_4x4__scalar(int64_t kc, const double* a, int64_t lda, const double* b, double* c, int64_t ldc,
                                  bool accumulate);

void f32_gemm_ukernel_12x8__avx2_fma(int64_t kc, const float* a, int64_t lda, const float* b, float* c, int64_t ldc,
                                     bool accumulate);
void f64_gemm_ukernel_12x4__avx2_fma(int64_t kc, const double* a, int64_t lda, const double* b, double* c, int64_t ldc,
                                     bool accumulate);
void f32_gemm_ukernel_6x16__avx2_fma(int64_t kc, const float* a, int64_t lda, const float* b, float* c, int64_t ldc,
                                     bool accumulate);
void f64_gemm_ukernel_6x8__avx2_fma(int64_t kc, const double* a, int64_t lda, const double* b, double* c, int64_t ldc,
                                    bool accumulate);

void f32_gemm_ukernel_8x8__neon(int64_t kc, const float* a, int64_t lda, const float* b, float* c, int64_t ldc,
                                bool accumulate);
void f64_gemm_ukernel_8x4__neon(int64_t kc, const double* a, int64_t lda, const double* b, double* c, int64_t ldc,
                                bool accumulate);

void f32_gemm_ukernel_28x16__avx512f(int64_t kc, const float* a, int64_t lda, const float* b, float* c, int64_t ldc,
                                     bool accumulate);
void f64_gemm_ukernel_28x8__avx512f(int64_t kc, const double* a, int64_t lda, const double* b, double* c, int64_t ldc,
                                    bool accumulate);
void f32_gemm_ukernel_14x32__avx512f(int64_t kc, const float* a, int64_t lda, const float* b, float* c, int64_t ldc,
                                     bool accumulate);
void f64_gemm_ukernel_14x16__avx512f(int64_t kc, const double* a, int64_t lda, const double* b, double* c, int64_t ldc,
                                     bool accumulate);

// Cache blocking for a kernel with an mr x nr tile over elements of element_bytes bytes, sized for
// a core with about 48 KiB of L1 data cache and 2 MiB of L2. The kernel streams the MR-row slivers
// of the packed A block past one KC x NR sliver of packed B, which stays in L1 (KC = 256: at most
// 32 KiB); the MC x KC block of A (~256 KiB) and the KC x NC panel of B (~1 MiB) stay in L2. A
// sweep of KC 128..512, MC 64..512 and NC 512..4096 on a Sapphire Rapids core moved f32 and f64
// throughput by only a few percent around these values.
struct Blocking {
    int64_t mc;  // rows of A per packed block, a multiple of mr
    int64_t nc;  // columns of B per packed panel, a multiple of nr
    int64_t kc;  // depth of both
};

constexpr Blocking blocking_for(int mr, int nr, int element_bytes) {
    const int64_t kc = 256;
    const int64_t mc_target = (256 * 1024) / (kc * element_bytes);
    const int64_t nc_target = (1024 * 1024) / (kc * element_bytes);
    return {mc_target / mr * mr, nc_target / nr * nr, kc};
}

}  // namespace fastconv::gemm
