// AArch64 NEON vector traits for the kernel bodies written once over a traits type
// (gemm_vector_tile.hpp, conv_chw_flat_tile.hpp). Include only from kernels/*_neon.cpp. The
// anonymous namespace keeps each including file's copy, and every template instantiated over it,
// local to that file.
#pragma once

#include <arm_neon.h>

namespace fastconv::simd {
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

}  // namespace
}  // namespace fastconv::simd
