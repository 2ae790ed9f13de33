// Portable GEMM microkernels, compiled for the baseline of the target without ISA flags: what runs
// on CPUs without AVX2, on non-x86 targets, and under FASTCONV_MAX_ISA=scalar.
//
// The accumulators are a local MR x NR array with compile-time bounds, which the compiler keeps in
// registers (and vectorises over NR where the baseline has SIMD). Every element is summed over k in
// order starting from C or zero, the same arithmetic wherever the element sits in the tile, so the
// result does not depend on how the framework tiles C.
#include "kernels/gemm_ukernels.hpp"

namespace fastconv::gemm {
namespace {

template <typename T, int MR, int NR>
void scalar_tile(int64_t kc, const T* a, int64_t lda, const T* b, T* c, int64_t ldc, bool accumulate) {
    T acc[MR][NR];
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
        for (int j = 0; j < NR; ++j) acc[i][j] = accumulate ? c[i * ldc + j] : T(0);
    for (int64_t p = 0; p < kc; ++p) {
        // Fully unrolled, or the accumulators would live in memory.
#pragma GCC unroll 8
        for (int i = 0; i < MR; ++i) {
            const T a_ip = a[i];
#pragma GCC unroll 8
            for (int j = 0; j < NR; ++j) acc[i][j] += a_ip * b[j];
        }
        a += lda;
        b += NR;
    }
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
        for (int j = 0; j < NR; ++j) c[i * ldc + j] = acc[i][j];
}

}  // namespace

void f32_gemm_ukernel_4x8__scalar(int64_t kc, const float* a, int64_t lda, const float* b, float* c, int64_t ldc,
                                  bool accumulate) {
    scalar_tile<float, kF32ScalarMr, kF32ScalarNr>(kc, a, lda, b, c, ldc, accumulate);
}

void f64_gemm_ukernel_4x4__scalar(int64_t kc, const double* a, int64_t lda, const double* b, double* c, int64_t ldc,
                                  bool accumulate) {
    scalar_tile<double, kF64ScalarMr, kF64ScalarNr>(kc, a, lda, b, c, ldc, accumulate);
}

}  // namespace fastconv::gemm
