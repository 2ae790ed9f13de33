// AArch64 NEON GEMM microkernels (Advanced SIMD is part of every ARMv8-A core, so this file needs
// no flags and the dispatch list names it on every aarch64 build).
//
// Register budget, 32 q registers: an 8 x 2-vector tile of accumulators (16), the two vectors of
// the B row for this k step, and one broadcast of A at a time (ld1r). Every element is one FMA
// chain over k in order, starting from C or zero, independent of its place in the tile.
#include <arm_neon.h>

#include "kernels/gemm_vector_tile.hpp"
#include "kernels/gemm_ukernels.hpp"
#include "kernels/vec_neon.hpp"

namespace fastconv::gemm {
namespace {

using simd::F32Q;
using simd::F64Q;

static_assert(kF32NeonNr == 2 * F32Q::lanes && kF64NeonNr == 2 * F64Q::lanes);

}  // namespace

void f32_gemm_ukernel_8x8__neon(int64_t kc, const float* a, int64_t lda, const float* b, float* c, int64_t ldc,
                                bool accumulate) {
    vector_tile<F32Q, kF32NeonMr, 2>(kc, a, lda, b, c, ldc, accumulate);
}

void f64_gemm_ukernel_8x4__neon(int64_t kc, const double* a, int64_t lda, const double* b, double* c, int64_t ldc,
                                bool accumulate) {
    vector_tile<F64Q, kF64NeonMr, 2>(kc, a, lda, b, c, ldc, accumulate);
}

}  // namespace fastconv::gemm
