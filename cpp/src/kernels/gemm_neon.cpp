// AArch64 NEON GEMM microkernels (Advanced SIMD is part of every ARMv8-A core, so this file needs
// no flags and the dispatch list names it on every aarch64 build).
//
// Register budget, 32 q registers: an 8 x 2-vector tile of accumulators (16), the two vectors of
// the B row for this k step, and one broadcast of A at a time (ld1r). Every element is one FMA
// chain over k in order, starting from C or zero, independent of its place in the tile.
#include <arm_neon.h>

#include "kernels/gemm_two_vector_tile.hpp"
#include "kernels/gemm_ukernels.hpp"

namespace fastconv::gemm {
namespace {

struct F32Q {
    using Scalar = float;
    using Vec = float32x4_t;
    static constexpr int lanes = 4;
    static Vec zero() { return vdupq_n_f32(0.0f); }
    static Vec load(const float* p) { return vld1q_f32(p); }
    static void store(float* p, Vec v) { vst1q_f32(p, v); }
    static Vec broadcast(const float* p) { return vld1q_dup_f32(p); }
    static Vec fma(Vec a, Vec b, Vec c) { return vfmaq_f32(c, a, b); }
};

struct F64Q {
    using Scalar = double;
    using Vec = float64x2_t;
    static constexpr int lanes = 2;
    static Vec zero() { return vdupq_n_f64(0.0); }
    static Vec load(const double* p) { return vld1q_f64(p); }
    static void store(double* p, Vec v) { vst1q_f64(p, v); }
    static Vec broadcast(const double* p) { return vld1q_dup_f64(p); }
    static Vec fma(Vec a, Vec b, Vec c) { return vfmaq_f64(c, a, b); }
};

static_assert(kF32NeonNr == 2 * F32Q::lanes && kF64NeonNr == 2 * F64Q::lanes);

}  // namespace

void f32_gemm_ukernel_8x8__neon(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, bool accumulate) {
    two_vector_tile<F32Q, kF32NeonMr>(kc, a, b, c, ldc, accumulate);
}

void f64_gemm_ukernel_8x4__neon(int64_t kc, const double* a, const double* b, double* c, int64_t ldc,
                                bool accumulate) {
    two_vector_tile<F64Q, kF64NeonMr>(kc, a, b, c, ldc, accumulate);
}

}  // namespace fastconv::gemm
