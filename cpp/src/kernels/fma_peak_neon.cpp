// AArch64 NEON peak loop: 16 q-register chains cover a 4-cycle FMA latency on up to four FMA pipes.
#include <arm_neon.h>

#include "kernels/fma_peak.hpp"

namespace fastconv {

double f32_fma_peak__neon(int64_t iterations) {
    constexpr int kChains = 16;
    float32x4_t acc[kChains];
#pragma GCC unroll 16
    for (int i = 0; i < kChains; ++i) acc[i] = vdupq_n_f32(0.001f * static_cast<float>(i));
    const float32x4_t a = vdupq_n_f32(0.999999f), b = vdupq_n_f32(1e-7f);
    for (int64_t it = 0; it < iterations; ++it) {
#pragma GCC unroll 16
        for (int i = 0; i < kChains; ++i) acc[i] = vfmaq_f32(b, acc[i], a);
    }
    float32x4_t sum = acc[0];
#pragma GCC unroll 16
    for (int i = 1; i < kChains; ++i) sum = vaddq_f32(sum, acc[i]);
    volatile float sink = vgetq_lane_f32(sum, 0);
    (void)sink;
    return 2.0 * 4 * kChains * static_cast<double>(iterations);
}

}  // namespace fastconv
