// Portable peak loop: what plain C++ reaches at the baseline ISA (mul + add where there is no FMA).
#include "kernels/fma_peak.hpp"

namespace fastconv {

double f32_fma_peak__scalar(int64_t iterations) {
    constexpr int kChains = 8;
    float acc[kChains];
#pragma GCC unroll 16
    for (int i = 0; i < kChains; ++i) acc[i] = 0.001f * static_cast<float>(i);
    const float a = 0.999999f, b = 1e-7f;
    for (int64_t it = 0; it < iterations; ++it) {
#pragma GCC unroll 16
        for (int i = 0; i < kChains; ++i) acc[i] = acc[i] * a + b;
    }
    float sum = 0;
#pragma GCC unroll 16
    for (int i = 0; i < kChains; ++i) sum += acc[i];
    // Keep the chains alive without letting the compiler see through them.
    volatile float sink = sum;
    (void)sink;
    return 2.0 * kChains * static_cast<double>(iterations);
}

}  // namespace fastconv
