// AVX2 + FMA GEMM microkernels (this file alone is compiled with -mavx2 -mfma; the dispatch list
// only hands it work when the CPU and OS support AVX2).
//
// Register budget, 16 ymm: a 6 x 2-vector tile of accumulators (12), the two vectors of the B row
// for this k step, and one broadcast of A at a time; the narrow tile, for a C at most one vector
// wide, is 12 rows x 1 vector (12 accumulators, one B vector, one broadcast). Every element is one
// FMA chain over k in order, starting from C or zero, independent of its place in the tile.
#include <immintrin.h>

#include "kernels/gemm_vector_tile.hpp"
#include "kernels/gemm_ukernels.hpp"
#include "kernels/vec_avx2.hpp"

namespace fastconv::gemm {
namespace {

using simd::F32Ymm;
using simd::F64Ymm;

static_assert(kF32Avx2Nr == 2 * F32Ymm::lanes && kF64Avx2Nr == 2 * F64Ymm::lanes);
static_assert(kF32Avx2NarrowNr == F32Ymm::lanes && kF64Avx2NarrowNr == F64Ymm::lanes);

}  // namespace

void f32_gemm_ukernel_6x16__avx2_fma(int64_t kc, const float* a, int64_t lda, const float* b, float* c, int64_t ldc,
                                     bool accumulate) {
    vector_tile<F32Ymm, kF32Avx2Mr, 2>(kc, a, lda, b, c, ldc, accumulate);
}

void f64_gemm_ukernel_6x8__avx2_fma(int64_t kc, const double* a, int64_t lda, const double* b, double* c, int64_t ldc,
                                    bool accumulate) {
    vector_tile<F64Ymm, kF64Avx2Mr, 2>(kc, a, lda, b, c, ldc, accumulate);
}

void f32_gemm_ukernel_12x8__avx2_fma(int64_t kc, const float* a, int64_t lda, const float* b, float* c, int64_t ldc,
                                     bool accumulate) {
    vector_tile<F32Ymm, kF32Avx2NarrowMr, 1>(kc, a, lda, b, c, ldc, accumulate);
}

void f64_gemm_ukernel_12x4__avx2_fma(int64_t kc, const double* a, int64_t lda, const double* b, double* c, int64_t ldc,
                                     bool accumulate) {
    vector_tile<F64Ymm, kF64Avx2NarrowMr, 1>(kc, a, lda, b, c, ldc, accumulate);
}

}  // namespace fastconv::gemm
