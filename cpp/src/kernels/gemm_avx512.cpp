// AVX-512 GEMM microkernels (this file alone is compiled with the AVX-512 F/VL/DQ/BW flags; the
// dispatch list only hands it work when the CPU and OS support AVX-512).
//
// Register budget, 32 zmm: 14 rows x 2 vectors of accumulators (28), the two vectors of the B row
// for this k step and one broadcast of A (renaming overlaps consecutive rows' broadcasts). With a
// 15th row GCC spills an accumulator to the stack inside the k loop (checked with objdump). The
// narrow tile, for a C at most 16 floats wide, is 28 rows x 1 vector: 28 accumulators, one B
// vector, one broadcast (no spill either). Every element is one FMA chain over k in order,
// starting from C or zero, independent of its place in the tile.
#include <immintrin.h>

#include "kernels/gemm_vector_tile.hpp"
#include "kernels/gemm_ukernels.hpp"
#include "kernels/vec_avx512.hpp"

namespace fastconv::gemm {
namespace {

using simd::F32Zmm;
using simd::F64Zmm;

static_assert(kF32Avx512Nr == 2 * F32Zmm::lanes && kF64Avx512Nr == 2 * F64Zmm::lanes);
static_assert(kF32Avx512NarrowNr == F32Zmm::lanes && kF64Avx512NarrowNr == F64Zmm::lanes);

}  // namespace

void f32_gemm_ukernel_14x32__avx512f(int64_t kc, const float* a, int64_t lda, const float* b, float* c, int64_t ldc,
                                     bool accumulate) {
    vector_tile<F32Zmm, kF32Avx512Mr, 2>(kc, a, lda, b, c, ldc, accumulate);
}

void f64_gemm_ukernel_14x16__avx512f(int64_t kc, const double* a, int64_t lda, const double* b, double* c, int64_t ldc,
                                     bool accumulate) {
    vector_tile<F64Zmm, kF64Avx512Mr, 2>(kc, a, lda, b, c, ldc, accumulate);
}

void f32_gemm_ukernel_28x16__avx512f(int64_t kc, const float* a, int64_t lda, const float* b, float* c, int64_t ldc,
                                     bool accumulate) {
    vector_tile<F32Zmm, kF32Avx512NarrowMr, 1>(kc, a, lda, b, c, ldc, accumulate);
}

void f64_gemm_ukernel_28x8__avx512f(int64_t kc, const double* a, int64_t lda, const double* b, double* c, int64_t ldc,
                                    bool accumulate) {
    vector_tile<F64Zmm, kF64Avx512NarrowMr, 1>(kc, a, lda, b, c, ldc, accumulate);
}

}  // namespace fastconv::gemm
