// AVX-512 GEMM microkernels (this file alone is compiled with the AVX-512 F/VL/DQ/BW flags; the
// dispatch list only hands it work when the CPU and OS support AVX-512).
//
// Register budget, 32 zmm: 14 rows x 2 vectors of accumulators (28), the two vectors of the B row
// for this k step and one broadcast of A (renaming overlaps consecutive rows' broadcasts). With a
// 15th row GCC spills an accumulator to the stack inside the k loop (checked with objdump). Every
// element is one FMA chain over k in order, starting from C or zero, independent of its place in
// the tile.
#include <immintrin.h>

#include "kernels/gemm_two_vector_tile.hpp"
#include "kernels/gemm_ukernels.hpp"

namespace fastconv::gemm {
namespace {

struct F32Zmm {
    using Scalar = float;
    using Vec = __m512;
    static constexpr int lanes = 16;
    static Vec zero() { return _mm512_setzero_ps(); }
    static Vec load(const float* p) { return _mm512_loadu_ps(p); }
    static void store(float* p, Vec v) { _mm512_storeu_ps(p, v); }
    static Vec broadcast(const float* p) { return _mm512_set1_ps(*p); }
    static Vec fma(Vec a, Vec b, Vec c) { return _mm512_fmadd_ps(a, b, c); }
};

struct F64Zmm {
    using Scalar = double;
    using Vec = __m512d;
    static constexpr int lanes = 8;
    static Vec zero() { return _mm512_setzero_pd(); }
    static Vec load(const double* p) { return _mm512_loadu_pd(p); }
    static void store(double* p, Vec v) { _mm512_storeu_pd(p, v); }
    static Vec broadcast(const double* p) { return _mm512_set1_pd(*p); }
    static Vec fma(Vec a, Vec b, Vec c) { return _mm512_fmadd_pd(a, b, c); }
};

static_assert(kF32Avx512Nr == 2 * F32Zmm::lanes && kF64Avx512Nr == 2 * F64Zmm::lanes);

}  // namespace

void f32_gemm_ukernel_14x32__avx512f(int64_t kc, const float* a, const float* b, float* c, int64_t ldc,
                                     bool accumulate) {
    two_vector_tile<F32Zmm, kF32Avx512Mr>(kc, a, b, c, ldc, accumulate);
}

void f64_gemm_ukernel_14x16__avx512f(int64_t kc, const double* a, const double* b, double* c, int64_t ldc,
                                     bool accumulate) {
    two_vector_tile<F64Zmm, kF64Avx512Mr>(kc, a, b, c, ldc, accumulate);
}

}  // namespace fastconv::gemm
