// AVX2 + FMA peak loop: 10 ymm chains cover a 4-5 cycle FMA latency on two FMA ports.
#include <immintrin.h>

#include "kernels/fma_peak.hpp"

namespace fastconv {

double f32_fma_peak__avx2_fma(int64_t iterations) {
    constexpr int kChains = 10;
    __m256 acc[kChains];
#pragma GCC unroll 16
    for (int i = 0; i < kChains; ++i) acc[i] = _mm256_set1_ps(0.001f * static_cast<float>(i));
    const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
    for (int64_t it = 0; it < iterations; ++it) {
#pragma GCC unroll 16
        for (int i = 0; i < kChains; ++i) acc[i] = _mm256_fmadd_ps(acc[i], a, b);
    }
    __m256 sum = acc[0];
#pragma GCC unroll 16
    for (int i = 1; i < kChains; ++i) sum = _mm256_add_ps(sum, acc[i]);
    volatile float sink = _mm256_cvtss_f32(sum);
    (void)sink;
    return 2.0 * 8 * kChains * static_cast<double>(iterations);
}

}  // namespace fastconv
